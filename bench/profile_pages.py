"""Profile the pages of bench_pages on its data, without the load: where a page's time goes.

    python -m bench.profile_pages                 # seed (≈20 s), time every page, keep the database
    python -m bench.profile_pages dashboard --sql # the page's SQL statements with their times
    python -m bench.profile_pages batch --profile # a pyinstrument profile of 40 requests
    python -m bench.profile_pages --drop          # drop the database when done

The database (`rndcards_bench_profile`) holds bench_pages' seed: 21 users x 50 batches x 20
offline cards. It is made on the first run and reused; `--reseed` makes it anew (after a
migration, say). Requests go through Django's test client with the whole middleware stack and
production settings (PostgreSQL, Redis on 127.0.0.1), so the figures are a page's own cost,
without gunicorn, the network and the other requests of a load run. Needs `make bench`'s
packages (pyinstrument from requirements-bench.txt for --profile).
"""

import argparse
import itertools
import json
import os
import shutil
import statistics
import sys
import time

from bench.bench_pages import app_env, page_paths, save_text
from bench.common import ROOT, pg_drop, pg_recreate, run_manage

DB_NAME = "rndcards_bench_profile"
STATE = ROOT / "bench" / "results" / "profile-seed.json"
STATIC_ROOT = ROOT / "bench" / "results" / "profile-static.tmp"
SAVES = itertools.count(1)


def environment(url: str) -> dict[str, str]:
    return app_env(url, prefix="bench-profile", static_root=STATIC_ROOT)


def ensure_seeded(reseed: bool) -> dict:
    import subprocess

    if STATE.exists() and STATIC_ROOT.exists() and not reseed:
        return json.loads(STATE.read_text(encoding="utf-8"))
    url = pg_recreate(DB_NAME)
    env = environment(url)
    run_manage(["migrate", "--noinput"], env=env, timeout=180)
    run_manage(["collectstatic", "--noinput"], env=env, timeout=180)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_pages", "--seed"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"seeding failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    seed = json.loads(proc.stdout.split("SEED ", 1)[1].splitlines()[0])
    print(f"seeded {DB_NAME} in {time.monotonic() - started:.1f}s")
    state = {"url": url, "seed": seed}
    STATE.write_text(json.dumps(state), encoding="utf-8")
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="*", help="dashboard, batch, project, section_save, health (default: all)")
    parser.add_argument("--sql", action="store_true", help="print each page's SQL with its time")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of each page")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page (default 40)")
    parser.add_argument("--reseed", action="store_true", help="make the database anew")
    parser.add_argument("--drop", action="store_true", help="drop the database and stop")
    args = parser.parse_args()
    if args.drop:
        pg_drop(DB_NAME)
        STATE.unlink(missing_ok=True)
        shutil.rmtree(STATIC_ROOT, ignore_errors=True)
        print(f"dropped {DB_NAME}")
        return
    state = ensure_seeded(args.reseed)
    os.environ.update(environment(state["url"]))
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    seed = state["seed"]
    pages = page_paths(seed)
    unknown = set(args.pages) - set(pages)
    if unknown:
        parser.error(f"unknown page(s): {', '.join(sorted(unknown))}")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="bench00"))

    def hit(name: str) -> None:
        method, path = pages[name]
        if method == "POST":
            data = {"text": save_text(next(SAVES)), "overwrite": "1"}
            response = client.post(path, data, HTTP_HX_REQUEST="true")
        else:
            response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{name}: HTTP {response.status_code}")

    for name in args.pages or pages:
        for _ in range(5):  # warm: imports, templates, per-process caches
            hit(name)
        wall, cpu = [], []
        for _ in range(args.requests):
            started, cpu_started = time.perf_counter(), time.process_time()
            hit(name)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        with CaptureQueriesContext(connection) as ctx:
            hit(name)
        sql_ms = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
        print(
            f"{name:13s} median {statistics.median(wall):6.1f} ms (max {max(wall):6.1f}), "
            f"CPU in this process {statistics.median(cpu):6.1f} ms, {len(ctx.captured_queries)} queries "
            f"{sql_ms:5.1f} ms"
        )
        if args.sql:
            for query in ctx.captured_queries:
                print(f"  {float(query['time']) * 1000:7.2f} ms  {query['sql'][:400]}")
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
            for _ in range(args.requests):
                hit(name)
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
