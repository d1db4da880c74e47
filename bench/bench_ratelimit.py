"""The request limiter (rndcards/ratelimit.py) on a Redis server of its own on 127.0.0.1.

Figures:
  latency      added time per request of RateLimitMiddleware (p50, p99) over a trivial view,
               Redis on loopback, 1000 users x 5 requests (all admitted)
  round trips  Redis round trips per request, counted at the client (responses read by
               redis-py) and at the server (INFO commandstats: EVALSHA calls)
  parallel     50 threads x 3 requests of one user at once, 10 rounds: most admitted in a round
  rolling      50 threads sending one user's requests over 5 simulated minutes (timestamps
               given to the limiter): most admitted in any 60 s interval
  minute       150 requests spread over one minute (simulated): admitted; and 150 sent as fast
               as possible (real time, well within a minute): admitted

The Redis server is started by the bench (a free port, no persistence), so the server-wide
command statistics count this bench's commands only.

Run through the driver (`make bench`, or `python bench/run.py --only ratelimit`), or alone:
`python -m bench.bench_ratelimit --out /tmp/x.json`.
"""

import argparse
import bisect
import itertools
import os
import shutil
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from bench.common import RESULTS, Child, base_env, exit_on_sigterm, figure, free_port, log, wait_for, write_result

NAME = "ratelimit"
TITLE = "Request limiter: sliding log in Redis (one EVALSHA per request), 100 per 60 s per user"

LIMIT = 100
WINDOW = 60
LATENCY_USERS = 1000
LATENCY_REQUESTS_PER_USER = 5
WARM_UP = 300
PARALLEL_THREADS = 50
PARALLEL_PER_THREAD = 3
PARALLEL_ROUNDS = 10
ROLLING_SECONDS = 300
ROLLING_RATE = 10  # requests per simulated second (3000 in all), from 50 threads
LOGS = RESULTS / "logs.tmp"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of `times` inside any half-open interval (t - window, t]."""
    ordered = sorted(times)
    best = 0
    for index, t in enumerate(ordered):
        start = bisect.bisect_right(ordered, t - window)
        best = max(best, index - start + 1)
    return best


class RateLimitBench:
    def __init__(self):
        self.figures: list[dict] = []
        self.notes: list[str] = []
        self.details: dict = {}
        self.redis_child: Child | None = None
        self.port = free_port()

    # -- set-up -------------------------------------------------------------------------------
    def setup(self) -> None:
        server = shutil.which("redis-server") or "redis-server"
        self.redis_child = Child(
            "redis",
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            env=base_env(),
            log=LOGS / "ratelimit-redis.log",
        )
        import redis

        self.redis = redis.Redis(port=self.port)
        wait_for(self._ping, timeout=10, what="redis-server")
        # This process is the web server: embedded settings, the limiter on our Redis.
        for name in ("DATABASE_URL", "REDIS_URL", "DRAMATIQ_BROKER_URL"):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "rndcards.settings",
                "RNDCARDS_RATE_LIMIT": str(LIMIT),
                "RNDCARDS_RATE_LIMIT_WINDOW": str(WINDOW),
                "RNDCARDS_RATE_LIMIT_REDIS_URL": f"redis://127.0.0.1:{self.port}/0",
                "RNDCARDS_REDIS_PREFIX": "bench-ratelimit",
                "RNDCARDS_EMBEDDED_WORKER": "0",
            }
        )
        import django

        django.setup()

    def _ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def cleanup(self) -> None:
        if self.redis_child is not None:
            self.redis_child.stop()

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def request(user_id: int):
        from django.test import RequestFactory

        class User:
            is_authenticated = True

            def __init__(self, pk):
                self.pk = pk

        request = RequestFactory().get("/batches/1/")
        request.user = User(user_id)
        return request

    def commandstats(self) -> dict[str, int]:
        return {k.removeprefix("cmdstat_"): v["calls"] for k, v in self.redis.info("commandstats").items()}

    # -- scenarios ----------------------------------------------------------------------------
    def latency(self) -> None:
        import redis.connection as redis_connection
        from django.http import HttpResponse

        from rndcards.ratelimit import RateLimitMiddleware

        def view(request):
            return HttpResponse("ok")

        middleware = RateLimitMiddleware(view)
        requests = [self.request(10_000 + i % LATENCY_USERS) for i in range(LATENCY_USERS * LATENCY_REQUESTS_PER_USER)]
        warm = [self.request(90_000 + i) for i in range(WARM_UP)]
        for request in warm:
            middleware(request)

        baseline = []
        for request in requests[:2000]:
            started = time.perf_counter()
            view(request)
            baseline.append(time.perf_counter() - started)
        base = percentile(baseline, 0.5)

        reads = [0]
        original = redis_connection.AbstractConnection.read_response

        def counting(self, *args, **kwargs):
            reads[0] += 1
            return original(self, *args, **kwargs)

        # The floor under the same conditions: one bare round trip to this Redis (PING).
        pings = []
        for _ in range(2000):
            started = time.perf_counter()
            self.redis.ping()
            pings.append(time.perf_counter() - started)

        redis_connection.AbstractConnection.read_response = counting
        before = self.commandstats()
        timings = []
        statuses = []
        cpu_started = time.process_time()
        try:
            for request in requests:
                started = time.perf_counter()
                response = middleware(request)
                timings.append(time.perf_counter() - started - base)
                statuses.append(response.status_code)
        finally:
            redis_connection.AbstractConnection.read_response = original
        cpu_per_request = (time.process_time() - cpu_started) / len(requests)
        after = self.commandstats()
        load = os.getloadavg()[0]
        n = len(requests)
        evalsha = after.get("evalsha", 0) - before.get("evalsha", 0)
        inner = {"zremrangebyscore", "zcard", "zadd", "zrange", "pexpire"}
        # Top-level commands other than the script: anything else this client sent.
        others = sum(after[k] - before.get(k, 0) for k in after if k not in inner | {"evalsha", "info"})
        p50, p99 = percentile(timings, 0.5) * 1000, percentile(timings, 0.99) * 1000
        self.figures += [
            figure(
                "latency.p99_ms",
                "added latency per request, p99 (Redis on loopback)",
                p99,
                "ms",
                target=0.5,
                op="<=",
                digits=3,
                note=f"p50 {p50:.3f} ms, {n} requests of {LATENCY_USERS} users",
            ),
            figure("latency.p50_ms", "added latency per request, p50", p50, "ms", digits=3),
            figure(
                "latency.ping_p99_ms",
                "one bare Redis round trip (PING), p99, same conditions",
                percentile(pings, 0.99) * 1000,
                "ms",
                digits=3,
                note=f"p50 {percentile(pings, 0.5) * 1000:.3f} ms; load average {load:.1f} on {os.cpu_count()} CPUs",
            ),
            figure(
                "latency.cpu_us",
                "limiter CPU time per request in the web process (client side, incl. redis-py)",
                cpu_per_request * 1e6,
                "µs",
                digits=1,
            ),
            figure(
                "roundtrips.client",
                "Redis round trips per request (responses read by redis-py)",
                reads[0] / n,
                target=1,
                op="==",
                digits=3,
            ),
            figure(
                "roundtrips.server_evalsha",
                "EVALSHA per request (INFO commandstats delta)",
                evalsha / n,
                target=1,
                op="==",
                digits=3,
                note=f"other top-level commands: {others}",
            ),
        ]
        self.details["latency"] = {
            "admitted": statuses.count(200),
            "refused": statuses.count(429),
            "baseline_view_us": round(base * 1e6, 2),
            "max_ms": round(max(timings) * 1000, 3),
        }
        log(f"latency p50 {p50:.3f} ms p99 {p99:.3f} ms; round trips {reads[0] / n:.3f}; evalsha {evalsha / n:.3f}")

    def parallel(self) -> None:
        from rndcards.ratelimit import check_request

        worst = 0
        per_round = []
        for round_no in range(PARALLEL_ROUNDS):
            user = 500_000 + round_no
            barrier = threading.Barrier(PARALLEL_THREADS)

            def client(_, user=user, barrier=barrier):
                barrier.wait()
                return sum(check_request(self.request(user)).admitted for _ in range(PARALLEL_PER_THREAD))

            with ThreadPoolExecutor(PARALLEL_THREADS) as pool:
                admitted = sum(pool.map(client, range(PARALLEL_THREADS)))
            per_round.append(admitted)
            worst = max(worst, admitted)
        self.figures.append(
            figure(
                "parallel.max_admitted",
                f"{PARALLEL_THREADS} parallel clients x {PARALLEL_PER_THREAD} requests: most admitted",
                worst,
                target=LIMIT,
                op="<=",
                note=f"{PARALLEL_ROUNDS} rounds, admitted per round {sorted(set(per_round))}",
            )
        )
        log(f"parallel: admitted per round {per_round}")

    def rolling(self) -> None:
        from rndcards.ratelimit import check_request

        start = time.time() + 3600  # a user of its own, timestamps of the simulated run
        total = ROLLING_SECONDS * ROLLING_RATE
        ticks = itertools.count()
        lock = threading.Lock()
        admitted_at: list[float] = []

        def client(_):
            while True:
                with lock:
                    i = next(ticks)
                if i >= total:
                    return
                now = start + i / ROLLING_RATE
                decision = check_request(self.request(700_000), now=now)
                if decision.admitted:
                    with lock:
                        # The time the limiter counted it at: never earlier than the log's
                        # newest entry (a thread that stamped its request early but reached
                        # Redis late counts at arrival).
                        admitted_at.append(decision.now)

        with ThreadPoolExecutor(PARALLEL_THREADS) as pool:
            list(pool.map(client, range(PARALLEL_THREADS)))
        most = most_in_any_window(admitted_at, WINDOW)
        self.figures.append(
            figure(
                "rolling.max_in_any_window",
                f"most admitted in any {WINDOW} s ({PARALLEL_THREADS} threads, {total} requests over "
                f"{ROLLING_SECONDS} simulated s)",
                most,
                target=LIMIT,
                op="<=",
                note=f"admitted {len(admitted_at)} of {total} (a fixed window would allow up to {2 * LIMIT} "
                "across an edge)",
            )
        )
        log(f"rolling: {len(admitted_at)} admitted, most in any window {most}")

    def minute(self) -> None:
        from rndcards.ratelimit import check_request

        start = time.time() + 7200
        spread = sum(check_request(self.request(800_000), now=start + i * 0.4).admitted for i in range(150))
        started = time.monotonic()
        burst = sum(check_request(self.request(800_001)).admitted for _ in range(150))
        burst_s = time.monotonic() - started
        self.figures += [
            figure(
                "minute.spread",
                "150 requests spread over one minute (simulated): admitted",
                spread,
                target=LIMIT,
                op="==",
            ),
            figure(
                "minute.burst",
                "150 requests in real time: admitted",
                burst,
                target=LIMIT,
                op="==",
                note=f"sent in {burst_s:.2f} s",
            ),
        ]
        log(f"minute: spread {spread}, burst {burst} in {burst_s:.2f}s")


SCENARIOS = ("latency", "parallel", "rolling", "minute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    exit_on_sigterm()
    bench = RateLimitBench()
    started = time.monotonic()
    errors = []
    try:
        bench.setup()
        for name in SCENARIOS:
            try:
                getattr(bench, name)()
            except Exception as exc:  # noqa: BLE001 - one scenario's failure is reported, the rest run
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                traceback.print_exc()
    except BaseException as exc:
        errors.append(f"setup: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        if not isinstance(exc, Exception):
            raise
    finally:
        bench.cleanup()
        write_result(
            args.out,
            {
                "bench": NAME,
                "title": TITLE,
                "figures": bench.figures,
                "notes": bench.notes,
                "errors": errors,
                "config": {
                    "redis": f"redis-server of its own on 127.0.0.1:{bench.port} (no persistence)",
                    "RNDCARDS_RATE_LIMIT": LIMIT,
                    "RNDCARDS_RATE_LIMIT_WINDOW": WINDOW,
                    "python": sys.version.split()[0],
                },
                "details": bench.details,
                "duration_s": round(time.monotonic() - started, 1),
            },
        )


if __name__ == "__main__":
    main()
