"""Cold start: `make run` in a fresh clone, on a machine that already has the wheels cached
(pip's cache), until the login page answers; then the same again with the clone's
virtualenv already in place (a restart).

The clone is made with `git clone` of this checkout's HEAD (committed work only) into a
temporary folder; the server is stopped and the folder removed afterwards.

Run: `python bench/run.py --only coldstart` or `python -m bench.bench_coldstart --out /tmp/cold.json`.
"""

import argparse
import shutil
import subprocess
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

from bench.common import ROOT, Child, base_env, exit_on_sigterm, figure, free_port, log, write_result

NAME = "coldstart"
TITLE = "Cold start: `make run` on a fresh clone until the login page answers"
LIMIT_S = 300


def login_answers(url: str) -> bool:
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start(clone: Path, label: str) -> float:
    port = free_port()
    env = base_env(PATH="/usr/local/bin:/usr/bin:/bin")
    env.pop("VIRTUAL_ENV", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    started = time.monotonic()
    child = Child(f"make-run-{label}", ["make", "-C", str(clone), "run", f"PORT={port}"], env=env,
                  log=clone.parent / f"make-run-{label}.log")  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/login/"
        while time.monotonic() - started < LIMIT_S:
            if login_answers(url):
                return time.monotonic() - started
            if not child.alive():
                raise RuntimeError(f"make run exited {child.proc.returncode}:\n{child.output()}")
            time.sleep(0.2)
        raise TimeoutError(f"login page did not answer within {LIMIT_S}s:\n{child.output()}")
    finally:
        child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    exit_on_sigterm()
    figures, notes, errors = [], [], []
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="rndcards-coldstart-"))
    try:
        clone = work / "rndcards"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
        first = start(clone, "first")
        log(f"fresh clone: {first:.1f}s")
        figures.append(figure("first", "fresh clone → login page (venv, install from cache, migrate)", first, "s",
                              digits=1, note="pip installs the pinned wheels from its cache"))  # fmt: skip
        again = start(clone, "again")
        log(f"restart: {again:.1f}s")
        figures.append(figure("again", "second `make run` (venv present) → login page", again, "s", digits=1))
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        traceback.print_exc()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        write_result(
            args.out,
            {
                "bench": NAME,
                "title": TITLE,
                "figures": figures,
                "notes": notes,
                "errors": errors,
                "config": {"clone": "git clone of HEAD into a temporary folder"},
                "duration_s": round(time.monotonic() - started, 1),
            },
        )


if __name__ == "__main__":
    main()
