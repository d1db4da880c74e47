"""deploy/gunicorn.conf.py: the values it gives gunicorn, and a real gunicorn serving /health."""

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "gunicorn.conf.py"
GUNICORN_ENV = (
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_MAX_REQUESTS",
    "LOG_FORMAT",
    "PROMETHEUS_MULTIPROC_DIR",
)


def load(monkeypatch, **env) -> tuple[Config, dict]:
    """The config as gunicorn reads it: run the file, set each known setting (validated)."""
    for name in GUNICORN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace = runpy.run_path(str(CONF))
    cfg = Config()
    for name, value in namespace.items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg, namespace


def test_defaults_are_sync_workers_with_the_designs_30_s_request_limit(monkeypatch):
    cfg, _ = load(monkeypatch)

    assert cfg.worker_class_str == "sync"
    assert cfg.threads == 1
    assert cfg.timeout == 30
    assert cfg.graceful_timeout == 30
    assert cfg.keepalive == 5
    assert cfg.address and cfg.bind == ["0.0.0.0:8000"]
    assert cfg.workers == 2 * os.cpu_count() + 1
    assert cfg.wsgi_app == "rndcards.wsgi:application"
    assert cfg.max_requests == 1000
    assert cfg.logger_class.__name__ == "JsonAccessLogger"
    assert cfg.logconfig_dict["loggers"]["gunicorn.access"]["handlers"] == ["stdout"]


def test_values_come_from_the_environment(monkeypatch):
    cfg, _ = load(
        monkeypatch,
        GUNICORN_BIND="127.0.0.1:9000,unix:/tmp/web.sock",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="4",
        GUNICORN_TIMEOUT="20",
        GUNICORN_GRACEFUL_TIMEOUT="10",
        LOG_FORMAT="plain",
    )

    assert cfg.bind == ["127.0.0.1:9000", "unix:/tmp/web.sock"]
    assert (cfg.workers, cfg.threads, cfg.worker_class_str) == (3, 4, "gthread")
    assert (cfg.timeout, cfg.graceful_timeout) == (20, 10)
    assert cfg.accesslog == "-" and "x-request-id" in cfg.access_log_format
    assert not cfg.logconfig_dict


def test_web_concurrency_is_the_fallback_for_workers(monkeypatch):
    cfg, _ = load(monkeypatch, WEB_CONCURRENCY="6")

    assert cfg.workers == 6


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"GUNICORN_WORKERS": "many"}, "GUNICORN_WORKERS"),
        ({"GUNICORN_WORKERS": "0"}, "GUNICORN_WORKERS"),
        ({"GUNICORN_TIMEOUT": "-5"}, "GUNICORN_TIMEOUT"),
        ({"GUNICORN_THREADS": "1.5"}, "GUNICORN_THREADS"),
        ({"LOG_FORMAT": "yaml"}, "LOG_FORMAT"),
    ],
)
def test_a_malformed_value_names_the_variable(monkeypatch, env, name):
    with pytest.raises(RuntimeError, match=name):
        load(monkeypatch, **env)


def test_child_exit_drops_a_dead_workers_live_gauges_but_keeps_its_counters(monkeypatch, tmp_path):
    _, conf = load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    (tmp_path / "counter_4242.db").write_bytes(b"")
    (tmp_path / "gauge_livesum_4343.db").write_bytes(b"")

    conf["child_exit"](None, SimpleNamespace(pid=4242))

    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db", "gauge_livesum_4343.db"]


def test_on_starting_empties_the_multiprocess_directory(monkeypatch, tmp_path):
    _, conf = load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"stale")

    conf["on_starting"](None)

    assert list((tmp_path / "metrics").iterdir()) == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, **headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def test_gunicorn_serves_health_with_json_access_log_and_adds_up_workers_metrics(tmp_path):
    port = free_port()
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier run")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DRAMATIQ_BROKER_URL", *GUNICORN_ENV}
    }
    env.update(
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        RNDCARDS_EMBEDDED_WORKER="0",
        LOG_FORMAT="json",
        # The test is the proxy in front: its X-Request-ID is believed from loopback.
        RNDCARDS_TRUSTED_PROXIES="127.0.0.1,::1",
    )
    stdout = tmp_path / "stdout.log"
    with stdout.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(CONF)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, body = get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert server.poll() is None, stdout.read_text()
                assert time.monotonic() < deadline, stdout.read_text()
                time.sleep(0.2)
        assert status == 200 and json.loads(body) == {"status": "healthy"}
        for _ in range(5):
            get(f"http://127.0.0.1:{port}/health", **{"X-Request-ID": "probe-request-0001"})
        _, _, metrics = get(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    text = metrics.decode()
    access = [json.loads(line) for line in stdout.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in access if line.get("logger") == "gunicorn.access"]
    served = [line for line in requests if line["path"] == "/health" and line["status"] == 200]
    # Every /health gunicorn answered (at least the six above, whichever of the two workers
    # answered each) is in the sum of both workers' files.
    assert len(served) >= 6 and len({line["pid"] for line in requests}) >= 1
    sample = f'rndcards_http_responses_total{{method="GET",route="/health",status="200"}} {float(len(served))}'
    assert sample in text, text
    assert "counter_999999.db" not in {p.name for p in metrics_dir.iterdir()}
    probe = [line for line in requests if line["request_id"] == "probe-request-0001"]
    assert len(probe) == 5
    assert probe[0]["path"] == "/health" and probe[0]["status"] == 200 and probe[0]["duration_ms"] > 0
    assert headers["X-Request-ID"] in {line["request_id"] for line in requests}
