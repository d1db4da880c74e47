"""Helpers shared by the bench modules: figures, child processes, services on 127.0.0.1.

A bench module (bench/bench_NAME.py) is run by bench/run.py as `python -m bench.bench_NAME
--out FILE` in its own process (each one configures Django from its own environment) and
writes one JSON document to FILE:

    {"bench": NAME, "title": ..., "figures": [figure(...), ...], "notes": [...], "config": {...}}

Everything a bench starts is started through `Child` (its own process group, registered in
the driver's pid file), so that it is stopped on the way out even if the bench itself is
killed for running past its time limit.
"""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MANAGE = [sys.executable, str(ROOT / "manage.py")]
PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_URL_TEMPLATE = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/{name}")
# A Redis database of its own: the limiter's and breakers' keys are not namespaced by the
# broker namespace, and the test suite uses /15.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PIDFILE_ENV = "BENCH_PIDFILE"
_OPS = {"<": lambda m, t: m < t, "<=": lambda m, t: m <= t, ">=": lambda m, t: m >= t, "==": lambda m, t: m == t}


# --- figures -------------------------------------------------------------------------------
def figure(
    key: str,
    label: str,
    measured: float | int | None,
    unit: str = "",
    *,
    target: float | int | None = None,
    op: str | None = None,
    note: str = "",
    digits: int = 2,
) -> dict[str, Any]:
    """One measured figure; with a target (`op` one of <=, >=, ==) it is met or missed."""
    if isinstance(measured, float):
        measured = round(measured, digits)
    if isinstance(target, float):
        target = round(target, digits)
    met = None
    if target is not None and op is not None:
        met = measured is not None and _OPS[op](measured, target)
    return {
        "key": key,
        "label": label,
        "measured": measured,
        "unit": unit,
        "target": target,
        "op": op,
        "met": met,
        "note": note,
    }


def format_value(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:.2f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip() if unit and unit != "%" else f"{text}{unit}"


def format_target(fig: dict[str, Any]) -> str:
    if fig.get("target") is None:
        return ""
    op = {"<": "<", "<=": "≤", ">=": "≥", "==": "="}.get(fig["op"], fig["op"])
    return f"{op} {format_value(fig['target'], fig.get('unit', ''))}"


def format_met(fig: dict[str, Any]) -> str:
    return {True: "met", False: "MISSED", None: ""}[fig.get("met")]


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "mean": math.nan, "min": math.nan, "max": math.nan}
    return {"n": len(values), "mean": sum(values) / len(values), "min": min(values), "max": max(values)}


# --- waiting ---------------------------------------------------------------------------------
def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "") -> Any:
    """Poll until predicate() is truthy (returned) or `timeout` seconds pass (TimeoutError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what or predicate}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HTTP to 127.0.0.1 only, never through a proxy -------------------------------------------
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_json(method: str, url: str, body: dict | None = None, *, timeout: float = 10) -> dict:
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"bench traffic stays on 127.0.0.1, not {url}")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with _opener.open(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


# --- environment ----------------------------------------------------------------------------
_DROPPED = {
    # Whatever the developer's shell says, the bench configures these itself.
    "DATABASE_URL",
    "REDIS_URL",
    "DRAMATIQ_BROKER_URL",
    "DRAMATIQ_NAMESPACE",
    "ANTHROPIC_API_KEY_FILE",
    "OPENAI_API_KEY_FILE",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_BEARER_TOKEN_BEDROCK_FILE",
    "ANTHROPIC_BEDROCK_BASE_URL",
    "DJANGO_SECRET_KEY_FILE",
}


def base_env(**overrides: str) -> dict[str, str]:
    """os.environ without proxies or the developer's service settings, plus `overrides`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED
        and not key.startswith("RNDCARDS_")
        and key.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["DJANGO_SETTINGS_MODULE"] = "rndcards.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


# --- child processes ------------------------------------------------------------------------
def _register(pgid: int) -> None:
    pidfile = os.environ.get(PIDFILE_ENV)
    if pidfile:
        with open(pidfile, "a", encoding="utf-8") as f:
            f.write(f"{pgid}\n")


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class Child:
    """A child process in a process group of its own, output to a log file."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pgid = self.proc.pid  # start_new_session: the child leads its group
        _register(self.pgid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole group, as a crash or the OOM killer would."""
        kill_group(self.pgid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the group, then SIGKILL what is left after `timeout` seconds."""
        if self.alive():
            kill_group(self.pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # Children (dramatiq's worker processes) may outlive a leader that has exited.
        kill_group(self.pgid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if not self._log_file.closed:
            self._log_file.close()

    def output(self, tail: int = 4000) -> str:
        try:
            return self.log.read_bytes()[-tail:].decode(errors="replace")
        except OSError:
            return ""


def run_manage(args: list[str], *, env: dict[str, str], timeout: float = 120) -> str:
    """Run `manage.py ARGS` to completion (its own process group; killed on timeout)."""
    proc = subprocess.Popen(
        [*MANAGE, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _register(proc.pid)
    try:
        output = proc.communicate(timeout=timeout)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.communicate()
        raise
    if proc.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} exited {proc.returncode}:\n{output[-3000:]}")
    return output


# --- PostgreSQL -----------------------------------------------------------------------------
def pg_recreate(name: str) -> str:
    """Drop and create database `name`; return its DATABASE_URL."""
    import psycopg

    _check_db_name(name)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_URL_TEMPLATE.format(name=name)


def pg_drop(name: str) -> None:
    import psycopg

    _check_db_name(name)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _check_db_name(name: str) -> None:
    # Only ever a bench database.
    if not name.startswith("rndcards_bench") or not name.replace("_", "").isalnum():
        raise ValueError(f"refusing to touch database {name!r}")


# --- a bench module's process ---------------------------------------------------------------
def exit_on_sigterm() -> None:
    """Turn SIGTERM (the driver's time limit) into SystemExit, so `finally` blocks clean up."""

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(f"bench stopped by signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def write_result(path: str | Path, result: dict[str, Any]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".partial.tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress on stdout, stamped with seconds since the bench started."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


# --- CPU accounting (Linux /proc) -------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds used by process group `pgid`: its live processes and the
    children they have reaped (a gunicorn worker replaced after max_requests is gone from
    /proc, but its time is in the arbiter's cutime/cstime; without them the difference of two
    readings could even come out negative)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3); pgrp is field 5, utime/stime/cutime/cstime fields 14-17.
        if int(fields[2]) == pgid:
            total += sum(int(value) for value in fields[11:15])
    return total / _TICK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / _TICK, total / _TICK
