"""The benchmark driver behind `make bench`.

Runs every bench/bench_*.py module (or those named with --only) in a process of its own,
`python -m bench.bench_NAME --out FILE`, each under a time limit, then merges their
figures into bench/results/latest.json and writes bench/results/latest.md (target vs
measured, met/missed). Benches not run this time keep their previous entries.

Benchmarks are not tests: a missed target is reported, not failed. The exit status is
non-zero only when a bench could not run (crashed, timed out, wrote no result).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, format_met, format_target, format_value, kill_group  # noqa: E402

LATEST_JSON = RESULTS / "latest.json"
LATEST_MD = RESULTS / "latest.md"
DEFAULT_TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "540"))


def discover() -> list[str]:
    return sorted(path.stem.removeprefix("bench_") for path in (ROOT / "bench").glob("bench_*.py"))


def run_bench(name: str, timeout: float) -> dict:
    """Run one bench module; whatever happens, stop every process group it registered."""
    out = RESULTS / f"{name}.result.tmp"
    pidfile = RESULTS / f"{name}.pids.tmp"
    for path in (out, pidfile):
        path.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_PIDFILE": str(pidfile), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", f"bench.bench_{name}", "--out", str(out)]
    print(f"\n=== bench {name}: {' '.join(cmd[1:])} (limit {timeout:g}s)", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    problem = ""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        problem = f"timed out after {timeout:g}s"
        proc.send_signal(signal.SIGTERM)  # the bench cleans up in its finally blocks
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait(timeout=10)
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=45)
        finally:
            _kill_registered(pidfile)
        raise
    finally:
        kill_group(proc.pid)  # its own group, in case it left anything behind
        _kill_registered(pidfile)
    elapsed = round(time.monotonic() - started, 1)
    if proc.returncode and not problem:
        problem = f"exited with status {proc.returncode}"
    try:
        result = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        result = {"bench": name, "title": name, "figures": [], "notes": [], "errors": [f"no result ({exc})"]}
    if problem:
        result.setdefault("errors", []).append(problem)
    result["ran_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["wall_s"] = elapsed
    out.unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)
    return result


def _kill_registered(pidfile: Path) -> None:
    try:
        pgids = {int(line) for line in pidfile.read_text().split() if line.strip()}
    except OSError:
        return
    for pgid in pgids:
        kill_group(pgid)


def merge(results: list[dict]) -> dict:
    try:
        merged = json.loads(LATEST_JSON.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        merged = {}
    benches = merged.get("benches", {})
    for result in results:
        benches[result["bench"]] = result
    merged = {
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "benches": dict(sorted(benches.items())),
    }
    return merged


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def table_rows(result: dict) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for fig in result.get("figures", []):
        rows.append(
            (
                fig["label"],
                format_target(fig),
                format_value(fig.get("measured"), fig.get("unit", "")),
                format_met(fig),
                fig.get("note", ""),
            )
        )
    return rows


def markdown(merged: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (bench/run.py), updated {merged['updated_at']} "
        f"(Python {merged['python']}, {merged['cpus']} CPUs). Full figures and timelines: `latest.json`.",
        "",
    ]
    for name, result in merged["benches"].items():
        figures = result.get("figures", [])
        met = sum(1 for f in figures if f.get("met") is True)
        targets = sum(1 for f in figures if f.get("met") is not None)
        lines += [
            f"## {name}: {result.get('title', name)}",
            "",
            f"Run {result.get('ran_at', '?')}, {result.get('wall_s', '?')} s; targets met: {met}/{targets}.",
            "",
            "| figure | target | measured | result | note |",
            "|---|---|---|---|---|",
        ]
        for row in table_rows(result):
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        config = result.get("config") or {}
        if config:
            lines += ["", "Configuration:", ""]
            lines += [
                f"- {key}: {json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value}"
                for key, value in config.items()
            ]
        for title, items in (("Notes", result.get("notes")), ("Errors", result.get("errors"))):
            if items:
                lines += ["", f"{title}:", ""] + [f"- {item}" for item in items]
        lines.append("")
    return "\n".join(lines)


def print_table(results: list[dict]) -> None:
    for result in results:
        rows = [("figure", "target", "measured", "result")] + [row[:4] for row in table_rows(result)]
        widths = [min(70, max(len(row[i]) for row in rows)) for i in range(4)]
        print(f"\n{result['bench']}: {result.get('title', '')}  ({result.get('wall_s', '?')} s)")
        for index, row in enumerate(rows):
            print("  " + "  ".join(cell[: widths[i]].ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if index == 0:
                print("  " + "  ".join("-" * w for w in widths))
        for error in result.get("errors", []):
            print(f"  ERROR: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help=f"benches to run (default all: {', '.join(discover())})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per bench")
    args = parser.parse_args()
    names = discover()
    wanted = args.only or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"unknown bench(es) {', '.join(unknown)}; available: {', '.join(names)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = [run_bench(name, args.timeout) for name in wanted]
    merged = merge(results)
    write_atomic(LATEST_JSON, json.dumps(merged, ensure_ascii=False, indent=2, default=str) + "\n")
    write_atomic(LATEST_MD, markdown(merged))
    print_table(results)
    print(
        f"\nWrote {LATEST_JSON.relative_to(ROOT)} and {LATEST_MD.relative_to(ROOT)} in {time.monotonic() - started:.0f}s."
    )
    return 1 if any(result.get("errors") for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
