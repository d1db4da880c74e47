"""Card generation on the production path: PostgreSQL, the Redis broker, `manage.py
rundramatiq` worker processes, and the fake model server (`manage.py fake_llm`) standing in
for Anthropic/OpenAI through the real SDKs.

Scenarios (one run each):
  throughput  1 user x 20 projects, latency 2 s, per-user limit 5, 2 worker processes
  users       5 users x 20 projects at once, same workers
  tokens      input / output / cached tokens per card (from the throughput run's attempts)
  faults      10 % 5xx + 5 % 429 injected (seeded), attempts per card and per provider call
  recovery    a worker killed with SIGKILL mid-generation: when is the project claimed again?

Run through the driver (`make bench`, or `python bench/run.py --only generation`), or alone:
`python -m bench.bench_generation --out /tmp/x.json`.
"""

import argparse
import http.client
import math
import os
import random
import secrets
import threading
import time
import traceback
import uuid
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import (
    MANAGE,
    REDIS_URL,
    RESULTS,
    Child,
    base_env,
    exit_on_sigterm,
    figure,
    free_port,
    group_cpu_seconds,
    http_json,
    log,
    machine_cpu,
    pg_drop,
    pg_recreate,
    run_manage,
    stats,
    wait_for,
    write_result,
)

NAME = "generation"
TITLE = "Card generation: PostgreSQL + Redis broker + 2 rundramatiq workers + fake model server"

DB_NAME = "rndcards_bench"
USER_LIMIT = 5  # RNDCARDS_USER_CONCURRENCY
WORKERS = 2  # worker processes (`rundramatiq --processes 1` each)
# Threads per worker process: 2 x 13 = 26 >= 5 users x 5 slots, so the 5-user run is bound
# by the per-user limit, not by the threads.
THREADS = int(os.environ.get("BENCH_WORKER_THREADS", "13"))
LATENCY = 2.0  # fake model latency for the throughput runs (s)
PROJECTS_PER_USER = 20
USERS = 5
THROUGHPUT_FACTOR = 1.10
USERS_FACTOR = 1.15
CACHED_SHARE_TARGET = 100.0  # % of the shared prefix read from cache on cards 2..N: every one of them

FAULT_USERS = 10  # 10 x 20 = 200 cards for the fault run
FAULT_LATENCY = 0.2
FAULT_5XX = 0.10
FAULT_429 = 0.05
FAULT_SEED = 7
RETRY_DELAYS = "0.1,0.4"  # RNDCARDS_RETRY_DELAYS for the fault run only (production: 1,4)

RECOVERY_LATENCY = 20.0
RECOVERY_TARGET_S = 30.0
RECOVERY_WAIT_S = 60.0
RECOVERY_TRIALS = int(os.environ.get("BENCH_RECOVERY_TRIALS", "3"))  # the redelivery time is random

LOGS = RESULTS / "logs.tmp"
# What-if runs only (not `make bench`): extra environment for every worker, "K=V,K=V",
# e.g. BENCH_WORKER_ENV=dramatiq_worker_timeout=100 to try a proposed setting.
WORKER_ENV = dict(item.split("=", 1) for item in os.environ.get("BENCH_WORKER_ENV", "").split(",") if "=" in item)


# --- a fault mixer in front of the fake -------------------------------------------------------
class FaultMixProxy(ThreadingHTTPServer):
    """The fake serves one fault kind per provider; the fault run needs two (5xx and 429).

    This proxy (127.0.0.1 only) sends a seeded share of the provider requests to a second
    fake server that answers every request with 429, and the rest to the main fake, whose
    own seeded `ratio` fault gives the 5xx. Both answers are the fake's own, unchanged.
    """

    request_queue_size = 128  # as cards.fake_llm.FakeLLMServer: a burst of cards must not overflow the backlog

    daemon_threads = True

    def __init__(self, main_url: str, rate_limit_url: str, share_429: float, seed: int):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.targets = {"main": _host_port(main_url), "429": _host_port(rate_limit_url)}
        self.share_429 = share_429
        self.rng = random.Random(f"{seed}:mix")
        self.lock = threading.Lock()
        self.routed = {"main": 0, "429": 0}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def route(self) -> str:
        with self.lock:
            target = "429" if self.rng.random() < self.share_429 else "main"
            self.routed[target] += 1
            return target


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    assert host == "127.0.0.1", url
    return host, int(port)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: FaultMixProxy

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        host, port = self.server.targets[self.server.route()]
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection", "content-length"}}
        conn = http.client.HTTPConnection(host, port, timeout=60)
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in {"content-length", "transfer-encoding", "connection", "date", "server"}:
                    self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            conn.close()


# --- the bench -------------------------------------------------------------------------------
class GenerationBench:
    def __init__(self) -> None:
        self.namespace = f"rndcards-bench-{uuid.uuid4().hex[:8]}"
        self.children: list[Child] = []
        self.figures: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.details: dict[str, Any] = {}
        self.proxy: FaultMixProxy | None = None
        self.env: dict[str, str] = {}
        self.fake_url = ""
        self.redis = None
        self.driver_broker_id = ""
        self.counter = 0
        self.throughput_ids: list[int] = []

    # -- services ------------------------------------------------------------------------------
    def setup(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        log(f"database {DB_NAME}: drop and create")
        db_url = pg_recreate(DB_NAME)
        self.env = base_env(
            DATABASE_URL=db_url,
            DJANGO_SECRET_KEY="bench-only-secret-key-" + secrets.token_hex(16),
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            REDIS_URL=REDIS_URL,
            DRAMATIQ_BROKER_URL=REDIS_URL,
            DRAMATIQ_NAMESPACE=self.namespace,
            RNDCARDS_EMBEDDED_WORKER="0",
            RNDCARDS_USER_CONCURRENCY=str(USER_LIMIT),
            # Prefix of the app's own Redis keys (slots, breakers), where the code has one.
            RNDCARDS_REDIS_PREFIX=self.namespace,
            RNDCARDS_DEFAULT_PROVIDER="anthropic",
            ANTHROPIC_API_KEY="bench-dummy-anthropic-key",
            OPENAI_API_KEY="bench-dummy-openai-key",
            MEDIA_ROOT=str(RESULTS / "media.tmp"),
        )
        self.fake_url = self.start_fake("fake-llm")
        self.env["ANTHROPIC_BASE_URL"] = self.fake_url
        self.env["OPENAI_BASE_URL"] = f"{self.fake_url}/v1"
        log("migrate")
        run_manage(["migrate", "--noinput"], env=self.env, timeout=240)

        os.environ.update(self.env)
        import django

        django.setup()
        import dramatiq
        import redis

        self.redis = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
        self.redis.ping()
        self.driver_broker_id = dramatiq.get_broker().broker_id
        self.clear_app_keys()

    def start_fake(self, name: str, *extra: str) -> str:
        port = free_port()
        child = Child(name, [*MANAGE, "fake_llm", "--port", str(port), *extra], env=self.env, log=LOGS / f"{name}.log")
        self.children.append(child)

        def address() -> str | None:
            if not child.alive():
                raise RuntimeError(f"{name} exited:\n{child.output()}")
            for line in child.output().splitlines():
                if line.startswith("Fake LLM: ANTHROPIC_BASE_URL="):
                    return line.split("=", 1)[1].split()[0]
            return None

        url = wait_for(address, timeout=60, interval=0.1, what=f"{name} to listen")
        http_json("GET", f"{url}/_stats")
        return url

    def control(self, body: dict, url: str | None = None) -> dict:
        return http_json("POST", f"{url or self.fake_url}/_control", body)

    def fake_stats(self, url: str | None = None) -> dict:
        return http_json("GET", f"{url or self.fake_url}/_stats")

    def clear_app_keys(self) -> None:
        """Per-user slot counters and breaker state live outside the broker namespace."""
        for prefix in self.key_prefixes():
            for pattern in (f"{prefix}:generation-slots:*", f"{prefix}:breaker:*"):
                for key in self.redis.scan_iter(pattern):
                    self.redis.delete(key)
        from resilience.circuit import reset_breakers

        reset_breakers()

    def key_prefixes(self) -> list[str]:
        """Where the app keeps its slot and breaker keys: RNDCARDS_REDIS_PREFIX, or the
        fixed "rndcards" of older code."""
        return [self.namespace, "rndcards"]

    def user_slots_held(self, owner_id: int) -> tuple[int, int]:
        """(slots held, longest remaining TTL in ms) of a user, whichever key layout the
        limiter uses (one counter, or one mutex per slot)."""
        held, ttl = 0, -2
        for prefix in self.key_prefixes():
            base = f"{prefix}:generation-slots:user:{owner_id}"
            for key in [base.encode(), *self.redis.scan_iter(f"{base}:*")]:
                value = self.redis.get(key)
                if value is not None:
                    held += int(value)
                    ttl = max(ttl, self.redis.pttl(key))
        return held, ttl

    def heartbeat_ids(self) -> set[str]:
        return {m.decode() for m in self.redis.zrange(f"{self.namespace}:__heartbeats__", 0, -1)}

    def start_workers(self, count: int, threads: int, tag: str, **extra_env: str) -> list[Child]:
        env = {**self.env, **WORKER_ENV, **extra_env}
        before = self.heartbeat_ids() | {self.driver_broker_id}
        started = []
        for index in range(1, count + 1):
            name = f"worker-{tag}-{index}"
            args = [
                *MANAGE,
                "rundramatiq",
                "--processes",
                "1",
                "--threads",
                str(threads),
                "--worker-shutdown-timeout",
                "5000",
            ]
            child = Child(name, args, env=env, log=LOGS / f"{name}.log")
            self.children.append(child)
            started.append(child)

        def ready() -> bool:
            for child in started:
                if not child.alive():
                    raise RuntimeError(f"{child.name} exited:\n{child.output()}")
            return len(self.heartbeat_ids() - before) >= count

        wait_for(ready, timeout=90, interval=0.2, what=f"{count} worker(s) to fetch from Redis")
        return started

    def stop(self, children: list[Child]) -> None:
        for child in children:
            child.stop(timeout=15)

    # -- data -------------------------------------------------------------------------------------
    def make_user(self, label: str):
        from django.contrib.auth.models import User

        self.counter += 1
        user = User(username=f"bench-{label}-{self.counter}")
        user.set_unusable_password()
        user.save()
        return user

    def make_batch(self, owner, projects: int):
        from batches.models import Batch, Project

        batch = Batch.objects.create(owner=owner, name=f"Bench {owner.username}", token=secrets.token_hex(12))
        Project.objects.bulk_create(
            Project(
                batch=batch,
                row_number=row,
                name=f"System wizyjnej kontroli spoin nr {row} ({owner.username})",
                description="Opracowanie metody automatycznej oceny jakości spoin na podstawie obrazu z kamer. " * 3,
                goal="Zmniejszenie odsetka wadliwych spoin niewykrytych w kontroli końcowej do poniżej 1%.",
                start_date=date(2024, 2, 1),
                end_date=date(2024, 11, 30),
                responsible_person="Łukasz Żółkiewski",
                extra=[["Koszty wynagrodzeń (PLN)", "150000"]],
            )
            for row in range(2, projects + 2)
        )
        return batch

    def generate(self, batches: list, *, timeout: float) -> dict[str, Any]:
        """Enqueue the batches through the service, poll the DB until no project is in progress."""
        from django.utils import timezone

        from batches.models import Project
        from cards.models import GenerationAttempt
        from cards.services import batch_generate

        ids = list(Project.objects.filter(batch__in=batches).values_list("pk", flat=True))
        workers = [c for c in self.children if c.name.startswith("worker-") and c.alive()]
        cpu_before = {c.name: group_cpu_seconds(c.pgid) for c in workers}
        machine_before = machine_cpu()
        t0 = timezone.now()
        clock = time.monotonic()
        for batch in batches:
            batch_generate(batch=batch)
        enqueued = time.monotonic() - clock
        in_progress = Project.objects.filter(pk__in=ids, status__in=Project.IN_PROGRESS)
        try:
            wait_for(lambda: not in_progress.exists(), timeout=timeout, interval=0.05, what="the cards")
        except TimeoutError:
            self.notes.append(f"{len(ids)} cards not all finished within {timeout:g}s")
        polled = time.monotonic() - clock
        machine_after = machine_cpu()
        worker_cpu = sum(group_cpu_seconds(c.pgid) - cpu_before[c.name] for c in workers)
        busy = machine_after[0] - machine_before[0]
        elapsed = machine_after[1] - machine_before[1]
        rows = list(
            Project.objects.filter(pk__in=ids).values("pk", "status", "started_at", "generated_at", "batch__owner_id")
        )
        requests: dict[int, list] = {}
        for project_id, started, latency_ms in GenerationAttempt.objects.filter(project_id__in=ids).values_list(
            "project_id", "started_at", "latency_ms"
        ):
            requests.setdefault(project_id, []).append((started, started + timedelta(milliseconds=latency_ms)))
        for row in rows:
            spans = requests.get(row["pk"], [])
            row["first_request"] = min((a for a, _ in spans), default=None)
            row["last_answer"] = max((b for _, b in spans), default=None)
        done = [row["generated_at"] for row in rows if row["status"] == Project.Status.GENERATED]
        return {
            "t0": t0,
            "ids": ids,
            "rows": rows,
            "generated": len(done),
            "total": len(ids),
            "wall": (max(done) - t0).total_seconds() if len(done) == len(ids) else None,
            "polled": polled,
            "enqueue_s": enqueued,
            "statuses": sorted({row["status"] for row in rows}),
            "worker_cpu_s": worker_cpu,
            "worker_cpu_per_card_ms": 1000 * worker_cpu / len(ids) if ids else None,
            # Share of all CPUs busy (any process) while the cards were generated.
            "machine_busy_pct": 100 * busy / elapsed if elapsed else None,
        }

    def warm_up(self, workers: list[Child]) -> int:
        """Small batches until every worker process has sent a model request: the SDK is
        imported lazily by the first generation of each process (see the report), DB and
        Redis connections are opened. Returns the rounds it took."""

        def cold() -> list[Child]:
            # cards.services logs "project N generated by PROVIDER" at INFO for each stored card
            # (the SDK's own request lines are silenced in settings.LOGGING).
            return [w for w in workers if " generated by anthropic" not in w.log.read_text(errors="replace")]

        for round_ in range(1, 6):
            if not cold():
                return round_ - 1
            self.control({"reset": True, "latency": 0.3})
            batches = [self.make_batch(self.make_user("warmup"), 10) for _ in range(3)]
            run = self.generate(batches, timeout=60)
            if run["generated"] != run["total"]:
                raise RuntimeError(f"warm-up failed: {run['statuses']}")
        if cold():
            self.notes.append(f"warm-up: {', '.join(w.name for w in cold())} sent no request in 5 rounds")
        return 5

    # -- scenarios ------------------------------------------------------------------------------
    def throughput_run(self, label: str) -> tuple[dict, dict, dict]:
        self.clear_app_keys()
        self.control({"reset": True, "latency": LATENCY})
        log(f"throughput ({label}): 1 user x {PROJECTS_PER_USER} projects, latency {LATENCY:g}s, limit {USER_LIMIT}")
        run = self.generate([self.make_batch(self.make_user(f"throughput-{label}"), PROJECTS_PER_USER)], timeout=120)
        fake = self.fake_stats()
        timeline = _timeline(run, USER_LIMIT)
        log(f"throughput ({label}): wall {_fmt(run['wall'])}s, max_in_flight {fake['max_in_flight']}")
        return run, fake, timeline

    def scenario_throughput(self, workers: list[Child]) -> None:
        waves = math.ceil(PROJECTS_PER_USER / USER_LIMIT)
        ideal = waves * LATENCY
        # Freshly started workers first: what the first batch after a deployment sees.
        cold_run, _, cold_timeline = self.throughput_run("cold workers")
        rounds = self.warm_up(workers)
        run, fake, timeline = self.throughput_run("warm workers")
        self.details["throughput"] = {
            "timeline": timeline,
            "fake_stats": fake,
            "enqueue_s": run["enqueue_s"],
            "cold_timeline": cold_timeline,
            "warm_up_rounds": rounds,
        }
        self.throughput_ids = run["ids"]
        wall = run["wall"]
        self.figures += [
            figure(
                "throughput.wall_s",
                f"1 user x {PROJECTS_PER_USER} cards: enqueue → last card generated",
                wall,
                "s",
                target=THROUGHPUT_FACTOR * ideal,
                op="<=",
                note=f"ideal {ideal:g} s = {waves} waves x {LATENCY:g} s; target {THROUGHPUT_FACTOR:.2f} x ideal; "
                "workers warmed up",
            ),
            figure("throughput.vs_ideal", "1 user: measured / ideal", wall / ideal if wall else None, "x"),
            figure(
                "throughput.overhead_per_wave_s",
                "1 user: time per wave beyond the model's latency",
                (wall - ideal) / waves if wall else None,
                "s",
                note="= hand-over + claim → request + answer → stored (rows below)",
            ),
            figure(
                "throughput.handoff_mean_s",
                "1 user: slot freed → next card claimed (mean)",
                timeline["handoff"]["mean"],
                "s",
                note=f"max {_fmt(timeline['handoff']['max'])} s; the per-user limit's hand-over",
            ),
            figure(
                "throughput.claim_to_request_s",
                "1 user: card claimed → request sent (mean)",
                timeline["claim_to_request"]["mean"],
                "s",
                note=f"max {_fmt(timeline['claim_to_request']['max'])} s",
            ),
            figure(
                "throughput.request_s",
                "1 user: request sent → answer received (mean)",
                timeline["request"]["mean"],
                "s",
                note=f"fake latency {LATENCY:g} s",
            ),
            figure(
                "throughput.answer_to_stored_s",
                "1 user: answer received → card stored (mean)",
                timeline["answer_to_stored"]["mean"],
                "s",
                note=f"max {_fmt(timeline['answer_to_stored']['max'])} s",
            ),
            figure(
                "throughput.max_in_flight",
                "1 user: max concurrent requests seen by the fake",
                fake["max_in_flight"],
                target=USER_LIMIT,
                op="==",
            ),
            figure("throughput.generated", "1 user: cards generated", run["generated"], target=run["total"], op="=="),
            *_cpu_figures("throughput", run),
            figure(
                "throughput.cold_wall_s",
                "1 user, first batch on freshly started workers",
                cold_run["wall"],
                "s",
                note=f"claim → request max {_fmt(cold_timeline['claim_to_request']['max'])} s "
                "(workers build their model clients at boot: rndcards.worker.PreloadProviders)",
            ),
        ]

    def scenario_users(self) -> None:
        total = USERS * PROJECTS_PER_USER
        slots = min(WORKERS * THREADS, USERS * USER_LIMIT)
        ideal = math.ceil(total / slots) * LATENCY
        self.clear_app_keys()
        self.control({"reset": True, "latency": LATENCY})
        batches = [self.make_batch(self.make_user(f"users{i}"), PROJECTS_PER_USER) for i in range(USERS)]
        log(f"users: {USERS} users x {PROJECTS_PER_USER} projects at once, {WORKERS * THREADS} threads")
        run = self.generate(batches, timeout=180)
        fake = self.fake_stats()
        per_user = {}
        for owner in {row["batch__owner_id"] for row in run["rows"]}:
            rows = [row for row in run["rows"] if row["batch__owner_id"] == owner]
            per_user[owner] = _timeline({**run, "rows": rows}, USER_LIMIT)
        handoffs = [gap for t in per_user.values() for gap in t["handoff_gaps"]]
        pre = [g for t in per_user.values() for g in t["claim_to_request_s"]]
        post = [g for t in per_user.values() for g in t["answer_to_stored_s"]]
        max_overlap = max((t["max_overlap"] for t in per_user.values()), default=None)
        self.details["users"] = {"per_user": per_user, "fake_stats": fake, "enqueue_s": run["enqueue_s"]}
        wall = run["wall"]
        self.figures += [
            figure(
                "users.wall_s",
                f"{USERS} users x {PROJECTS_PER_USER} cards at once: enqueue → last card",
                wall,
                "s",
                target=USERS_FACTOR * ideal,
                op="<=",
                note=f"ideal {ideal:g} s = ceil({total} / min({WORKERS * THREADS} threads, {USERS} x {USER_LIMIT})) "
                f"x {LATENCY:g} s; target {USERS_FACTOR:.2f} x ideal",
            ),
            figure("users.vs_ideal", f"{USERS} users: measured / ideal", wall / ideal if wall else None, "x"),
            figure(
                "users.max_in_flight",
                f"{USERS} users: max concurrent requests seen by the fake",
                fake["max_in_flight"],
                note=f"at most {slots}",
            ),
            figure(
                "users.max_per_user",
                f"{USERS} users: most generations of one user at once (DB)",
                max_overlap,
                target=USER_LIMIT,
                op="<=",
            ),
            figure("users.generated", f"{USERS} users: cards generated", run["generated"], target=total, op="=="),
            figure(
                "users.overhead_per_wave_s",
                f"{USERS} users: time per wave beyond the model's latency",
                (wall - ideal) / math.ceil(total / slots) if wall else None,
                "s",
            ),
            figure(
                "users.first_wave_spread_s",
                f"{USERS} users: enqueue → first card of each user claimed (max)",
                max(t["first_start_s"] for t in per_user.values()),
                "s",
                note=f"enqueueing the {USERS} batches took {run['enqueue_s']:.2f} s",
            ),
            figure(
                "users.handoff_mean_s",
                f"{USERS} users: slot freed → next card claimed (mean)",
                stats(handoffs)["mean"],
                "s",
                note=f"max {_fmt(stats(handoffs)['max'])} s",
            ),
            figure(
                "users.claim_to_request_s",
                f"{USERS} users: card claimed → request sent (mean)",
                stats(pre)["mean"],
                "s",
                note=f"max {_fmt(stats(pre)['max'])} s",
            ),
            figure(
                "users.answer_to_stored_s",
                f"{USERS} users: answer received → card stored (mean)",
                stats(post)["mean"],
                "s",
                note=f"max {_fmt(stats(post)['max'])} s",
            ),
            *_cpu_figures("users", run),
        ]
        log(f"users: wall {wall}s (ideal {ideal:g}s), max_in_flight {fake['max_in_flight']}")

    def scenario_tokens(self) -> None:
        """Tokens per card of the throughput run (cold cache: the fake was reset before it)."""
        from cards.models import GenerationAttempt
        from cards.prompts import system_prompt

        ids = self.throughput_ids
        if not ids:
            raise RuntimeError("needs the throughput run")
        prefix = max(1, len(system_prompt()) // 4)  # the fake's token count of the system prompt
        attempts = list(
            GenerationAttempt.objects.filter(project_id__in=ids, outcome="success")
            .order_by("started_at", "pk")
            .values("project_id", "started_at", "latency_ms", "input_tokens", "cached_tokens", "output_tokens")
        )
        if len(attempts) != len(ids):
            self.notes.append(f"tokens: {len(attempts)} successful attempts for {len(ids)} cards")
        first, rest = attempts[0], attempts[1:]
        # Which card reaches the server first (and writes the cache entry) is not always the one
        # whose attempt started first here: count misses over all cards, in the server's order.
        misses = sum(1 for a in attempts if a["cached_tokens"] < prefix)
        aggregate = 100.0 * sum(a["cached_tokens"] for a in attempts) / (prefix * len(rest)) if rest else None
        # The real APIs write a cache entry only once the first request is answered; requests
        # sent before that miss it. The fake counts them as hits, so this is the cold-start view.
        first_answer = first["started_at"].timestamp() + first["latency_ms"] / 1000
        early = [a for a in rest if a["started_at"].timestamp() < first_answer]
        cold_share = 100.0 * (len(rest) - len(early)) / len(rest) if rest else None
        mean = lambda key: sum(a[key] for a in attempts) / len(attempts)  # noqa: E731
        self.details["tokens"] = {"prefix_tokens": prefix, "per_card": attempts}
        self.figures += [
            figure(
                "tokens.input_per_card", "input tokens per card (not from cache)", mean("input_tokens"), "tok", digits=1
            ),
            figure("tokens.cached_per_card", "cached input tokens per card", mean("cached_tokens"), "tok", digits=1),
            figure("tokens.output_per_card", "output tokens per card", mean("output_tokens"), "tok", digits=1),
            figure("tokens.prefix", "shared prefix (system prompt), fake's count", prefix, "tok"),
            figure(
                "tokens.cache_misses",
                f"cards whose system prompt was not read from cache (of {len(attempts)})",
                misses,
                target=1,
                op="==",
                note="the first request to reach the model server writes the cache entry; every later one reads it",
            ),
            figure(
                "tokens.cached_share",
                f"cached share of the shared prefix, cards 2…{len(attempts)}",
                aggregate,
                "%",
                target=CACHED_SHARE_TARGET,
                op=">=",
                digits=1,
                note="cached tokens of all cards / (prefix x every card but the first)",
            ),
            figure(
                "tokens.cached_share_cold",
                "same, if requests sent before card 1 was answered miss the cache (as on the real APIs)",
                cold_share,
                "%",
                digits=1,
                note=f"{len(early)} of {len(rest)} requests went out before the first answer; the fake counts them as hits",
            ),
        ]
        log(f"tokens: cached share {aggregate:.1f}% (cold-start view {cold_share:.1f}%)")

    def scenario_faults(self) -> None:
        from django.db.models import Count

        from cards.models import GenerationAttempt

        self.clear_app_keys()
        share_5xx = FAULT_5XX / (1 - FAULT_429)  # of the requests the main fake receives
        self.control({"reset": True, "latency": FAULT_LATENCY, "seed": FAULT_SEED, "fault": "500", "ratio": share_5xx})
        limiter_url = self.start_fake("fake-llm-429")
        self.control({"reset": True, "latency": 0.02, "fault": "429"}, url=limiter_url)
        self.proxy = FaultMixProxy(self.fake_url, limiter_url, FAULT_429, FAULT_SEED)
        threading.Thread(target=self.proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        workers = self.start_workers(
            WORKERS,
            THREADS,
            "faults",
            RNDCARDS_RETRY_DELAYS=RETRY_DELAYS,
            ANTHROPIC_BASE_URL=self.proxy.url,
            OPENAI_BASE_URL=f"{self.proxy.url}/v1",
        )
        try:
            batches = [self.make_batch(self.make_user(f"faults{i}"), PROJECTS_PER_USER) for i in range(FAULT_USERS)]
            log(
                f"faults: {len(batches) * PROJECTS_PER_USER} cards, {FAULT_5XX:.0%} 5xx + {FAULT_429:.0%} 429, "
                f"latency {FAULT_LATENCY:g}s, RNDCARDS_RETRY_DELAYS={RETRY_DELAYS}"
            )
            run = self.generate(batches, timeout=180)
        finally:
            self.stop(workers)
        main, limited = self.fake_stats(), self.fake_stats(limiter_url)
        ids = run["ids"]
        per_card = dict(
            GenerationAttempt.objects.filter(project_id__in=ids)
            .values("project_id")
            .annotate(n=Count("pk"))
            .values_list("project_id", "n")
        )
        per_call = list(
            GenerationAttempt.objects.filter(project_id__in=ids)
            .values("project_id", "provider")
            .annotate(n=Count("pk"))
            .values_list("n", flat=True)
        )
        outcomes = dict(
            GenerationAttempt.objects.filter(project_id__in=ids)
            .values("outcome")
            .annotate(n=Count("pk"))
            .values_list("outcome", "n")
        )
        providers = dict(
            GenerationAttempt.objects.filter(project_id__in=ids, outcome="success")
            .values("provider")
            .annotate(n=Count("pk"))
            .values_list("provider", "n")
        )
        counts = [per_card.get(pk, 0) for pk in ids]
        requests = sum(main["providers"].values()) + sum(limited["providers"].values())
        faults_5xx = sum(main["faults"].values())
        faults_429 = sum(limited["faults"].values())
        p = (faults_5xx + faults_429) / requests if requests else 0
        self.details["faults"] = {
            "fake_main": main,
            "fake_429": limited,
            "routed": self.proxy.routed,
            "outcomes": outcomes,
            "providers": providers,
            "attempts_histogram": {str(n): counts.count(n) for n in sorted(set(counts))},
        }
        card_stats, call_stats = stats(counts), stats(per_call)
        self.figures += [
            figure(
                "faults.attempts_mean",
                "attempts per card (mean)",
                card_stats["mean"],
                target=1.15,
                op="<=",
                digits=3,
                note=f"{len(ids)} cards; RNDCARDS_RETRY_DELAYS={RETRY_DELAYS} for this run",
            ),
            figure("faults.attempts_max", "attempts per card (max)", card_stats["max"], target=3, op="<="),
            figure(
                "faults.attempts_per_call_mean",
                "attempts per provider call (mean; a card that fails over makes two calls)",
                call_stats["mean"],
                digits=3,
            ),
            figure("faults.attempts_per_call_max", "attempts per provider call (max)", call_stats["max"]),
            figure(
                "faults.fault_share",
                "requests answered with a fault",
                100 * p,
                "%",
                digits=1,
                note=f"{faults_5xx} x 5xx + {faults_429} x 429 of {requests}; "
                f"expected attempts/card for independent faults at this rate: {1 + p + p * p:.3f}",
            ),
            figure(
                "faults.generated",
                "cards generated",
                run["generated"],
                target=run["total"],
                op="==",
                note=f"by provider: {providers}; breaker_open attempts: {outcomes.get('breaker_open', 0)}",
            ),
            figure("faults.wall_s", "fault run wall time", run["wall"], "s"),
        ]
        log(f"faults: attempts/card mean {card_stats['mean']:.3f} max {card_stats['max']}, outcomes {outcomes}")

    def recovery_trial(self, trial: int) -> dict[str, Any]:
        """One worker runs one card; SIGKILL it mid-request, start another, watch."""
        from batches.models import Project
        from cards.services import batch_generate

        self.clear_app_keys()
        self.control({"reset": True, "latency": RECOVERY_LATENCY})
        first = self.start_workers(1, 2, f"recovery{trial}-a")
        user = self.make_user(f"recovery{trial}")
        batch = self.make_batch(user, 1)
        project = batch.projects.get()
        batch_generate(batch=batch)

        def generating() -> bool:
            row = Project.objects.filter(pk=project.pk).values("status").get()
            return row["status"] == Project.Status.GENERATING and self.fake_stats()["in_flight"] >= 1

        wait_for(generating, timeout=60, interval=0.1, what="the project to be generating")
        started_before = Project.objects.get(pk=project.pk).started_at
        acks = [k.decode() for k in self.redis.scan_iter(f"{self.namespace}:__acks__.*") if self.redis.scard(k)]
        killed = time.monotonic()
        for child in first:
            child.kill9()
        self.children = [c for c in self.children if c not in first]
        # The killed request keeps the fake busy for the rest of its 20 s; a new one is quick.
        self.control({"latency": 0.5})
        second = self.start_workers(1, 2, f"recovery{trial}-b")
        try:
            marks: dict[str, float] = {"new_worker_fetching": time.monotonic() - killed}
            while time.monotonic() < killed + RECOVERY_WAIT_S:
                now = time.monotonic() - killed
                if "redelivered" not in marks and acks and not any(self.redis.exists(k) for k in acks):
                    marks["redelivered"] = now
                if "second_request" not in marks and sum(self.fake_stats()["providers"].values()) >= 2:
                    marks["second_request"] = now
                if Project.objects.get(pk=project.pk).started_at != started_before:
                    marks["reclaimed"] = now
                    break
                time.sleep(0.2)
            status_after_wait = Project.objects.get(pk=project.pk).status
            requeue: dict[str, Any] = {}
            if "reclaimed" not in marks:
                log(f"recovery {trial}: not reclaimed; running `manage.py requeue_stuck --older-than 0`")
                clock = time.monotonic()
                requeue["output"] = run_manage(["requeue_stuck", "--older-than", "0"], env=self.env, timeout=60)
                try:
                    wait_for(
                        lambda: Project.objects.get(pk=project.pk).started_at != started_before,
                        timeout=30,
                        interval=0.1,
                        what="the requeued project to be claimed",
                    )
                    requeue["claimed_s"] = time.monotonic() - clock
                except TimeoutError:
                    requeue["claimed_s"] = None
            try:
                wait_for(
                    lambda: Project.objects.get(pk=project.pk).status not in Project.IN_PROGRESS,
                    timeout=30,
                    interval=0.1,
                    what="the recovered card",
                )
            except TimeoutError:
                pass
        finally:
            self.stop(second)
        held, ttl = self.user_slots_held(user.pk)
        result = {
            "marks_s": {k: round(v, 2) for k, v in marks.items()},
            "status_after_wait": status_after_wait,
            "final_status": Project.objects.get(pk=project.pk).status,
            "requeue_stuck": requeue,
            "slots_held_after": held,
            "slot_ttl_ms": ttl,
        }
        log(f"recovery {trial}: {result['marks_s']}, final {result['final_status']}, slots held {held}")
        return result

    def scenario_recovery(self) -> None:
        log(
            f"recovery: {RECOVERY_TRIALS} trials; 1 card at latency {RECOVERY_LATENCY:g}s, SIGKILL its worker "
            "while it is generating, start a new worker"
        )
        trials = [self.recovery_trial(trial) for trial in range(1, RECOVERY_TRIALS + 1)]
        self.details["recovery"] = trials
        redelivered = [t["marks_s"].get("redelivered") for t in trials]
        reclaimed = [t["marks_s"].get("reclaimed") for t in trials]
        worst = None if None in reclaimed else max(reclaimed)
        listing = ", ".join("—" if v is None else f"{v:.1f}" for v in reclaimed)
        stuck = [t for t in trials if "reclaimed" not in t["marks_s"]]
        self.figures += [
            figure(
                "recovery.redelivered_s",
                "SIGKILL → broker gives the message back (mean of trials)",
                stats([v for v in redelivered if v is not None])["mean"] if any(redelivered) else None,
                "s",
                note=f"per trial: {', '.join('—' if v is None else f'{v:.1f}' for v in redelivered)} s; heartbeat "
                f"timeout {self.env.get('DRAMATIQ_HEARTBEAT_TIMEOUT_MS', '15000')} ms, then maintenance on "
                "5 % of a live worker's fetches",
            ),
            figure(
                "recovery.reclaimed_s",
                f"SIGKILL → project claimed again, worst of {len(trials)} trials",
                worst,
                "s",
                target=RECOVERY_TARGET_S,
                op="<=",
                note=f"per trial: {listing} s"
                + (
                    f"; {len(stuck)} not within {RECOVERY_WAIT_S:g} s (left '{stuck[0]['status_after_wait']}')"
                    if stuck
                    else ""
                ),
            ),
        ]
        if stuck:
            claimed = [t["requeue_stuck"].get("claimed_s") for t in stuck]
            self.figures.append(
                figure(
                    "recovery.requeue_stuck_claimed_s",
                    "`manage.py requeue_stuck --older-than 0` → project claimed again",
                    None if None in claimed else max(claimed),
                    "s",
                    note="the default threshold is 16 min",
                )
            )
        last = trials[-1]
        self.figures.append(
            figure(
                "recovery.slots_held_after",
                f"user slots (of {USER_LIMIT}) still held once the recovered card is stored",
                last["slots_held_after"],
                note=f"the killed job's slot; its key expires in {last['slot_ttl_ms'] / 1000:.0f} s"
                if last["slots_held_after"]
                else "",
            )
        )

    # -- teardown ----------------------------------------------------------------------------------
    def cleanup(self) -> None:
        for child in reversed(self.children):
            try:
                child.stop(timeout=10)
            except Exception as exc:  # keep stopping the others
                log(f"stopping {child.name}: {exc}")
        if self.proxy is not None:
            self.proxy.shutdown()
            self.proxy.server_close()
        if self.redis is not None:
            try:
                patterns = [f"{self.namespace}:*", "rndcards:generation-slots:*", "rndcards:breaker:*"]
                for pattern in patterns:
                    for key in self.redis.scan_iter(pattern):
                        self.redis.delete(key)
            except Exception as exc:
                log(f"redis cleanup: {exc}")
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if os.environ.get("BENCH_KEEP_DB") != "1":
            try:
                pg_drop(DB_NAME)
            except Exception as exc:
                log(f"dropping {DB_NAME}: {exc}")


def _timeline(run: dict[str, Any], limit: int) -> dict[str, Any]:
    """Claim and finish times of one user's cards relative to the enqueue, and the hand-over
    gaps: card k+limit can only be claimed once card k has freed its slot."""
    t0: datetime = run["t0"]
    rows = [row for row in run["rows"] if row["started_at"] and row["generated_at"]]
    starts = sorted((row["started_at"] - t0).total_seconds() for row in rows)
    ends = sorted((row["generated_at"] - t0).total_seconds() for row in rows)
    gaps = [starts[k] - ends[k - limit] for k in range(limit, len(starts))]
    # Claimed (started_at) → its first request to the model left the worker.
    pre_request = [(row["first_request"] - row["started_at"]).total_seconds() for row in rows if row["first_request"]]
    # The model's answer arrived → the card is stored (sections, status, batch status).
    post_answer = [(row["generated_at"] - row["last_answer"]).total_seconds() for row in rows if row["last_answer"]]
    request = [(row["last_answer"] - row["first_request"]).total_seconds() for row in rows if row["last_answer"]]
    events = sorted([(s, 1) for s in starts] + [(e, -1) for e in ends], key=lambda e: (e[0], e[1]))
    running = overlap = 0
    for _, delta in events:
        running += delta
        overlap = max(overlap, running)
    return {
        "first_start_s": starts[0] if starts else None,
        "starts_s": [round(s, 3) for s in starts],
        "ends_s": [round(e, 3) for e in ends],
        "handoff_gaps": [round(g, 3) for g in gaps],
        "handoff": stats(gaps),
        "claim_to_request": stats(pre_request),
        "claim_to_request_s": [round(g, 3) for g in pre_request],
        "request": stats(request),
        "answer_to_stored": stats(post_answer),
        "answer_to_stored_s": [round(g, 3) for g in post_answer],
        "max_overlap": overlap,
    }


def _cpu_figures(prefix: str, run: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        figure(
            f"{prefix}.worker_cpu_per_card_ms",
            f"{prefix}: worker CPU per card (all worker processes)",
            run["worker_cpu_per_card_ms"],
            "ms",
            digits=0,
            note="includes the slot retries of waiting cards",
        ),
        figure(
            f"{prefix}.machine_busy_pct",
            f"{prefix}: machine CPU busy during the run ({os.cpu_count()} CPUs)",
            run["machine_busy_pct"],
            "%",
            digits=0,
            note="workers, PostgreSQL, Redis, fake server and this driver together",
        ),
    ]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


SCENARIOS = ("throughput", "users", "tokens", "faults", "recovery")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}")
    args = parser.parse_args()
    exit_on_sigterm()
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    bench = GenerationBench()
    started = time.monotonic()
    errors = []
    try:
        bench.setup()
        if {"throughput", "users", "tokens"} & set(wanted):
            workers = bench.start_workers(WORKERS, THREADS, "main")
            try:
                if "throughput" in wanted:
                    _run_scenario(bench, "throughput", errors, workers)
                else:
                    bench.warm_up(workers)
                for name in ("users", "tokens"):
                    if name in wanted:
                        _run_scenario(bench, name, errors)
            finally:
                bench.stop(workers)
        for name in ("faults", "recovery"):
            if name in wanted:
                _run_scenario(bench, name, errors)
    except BaseException as exc:
        errors.append(f"setup: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        if not isinstance(exc, Exception):
            raise
    finally:
        bench.cleanup()
        tracebacks = 0
        for path in sorted(LOGS.glob("worker-*.log")):
            tracebacks += path.read_text(errors="replace").count("Traceback")
        bench.figures.append(figure("workers.tracebacks", "tracebacks in the worker logs", tracebacks))
        write_result(
            args.out,
            {
                "bench": NAME,
                "title": TITLE,
                "figures": bench.figures,
                "notes": bench.notes,
                "errors": errors,
                "config": {
                    "database": f"PostgreSQL {DB_NAME} (dropped and created)",
                    "broker": f"{REDIS_URL} namespace {bench.namespace}",
                    "workers": f"{WORKERS} x `manage.py rundramatiq --processes 1 --threads {THREADS}`",
                    "RNDCARDS_USER_CONCURRENCY": USER_LIMIT,
                    **({"what_if_worker_env": WORKER_ENV} if WORKER_ENV else {}),
                    "fake_latency_s": {
                        "throughput/users": LATENCY,
                        "faults": FAULT_LATENCY,
                        "recovery": RECOVERY_LATENCY,
                    },
                    "faults": f"{FAULT_5XX:.0%} 500 + {FAULT_429:.0%} 429 (seed {FAULT_SEED}), "
                    f"RNDCARDS_RETRY_DELAYS={RETRY_DELAYS} in that run only",
                },
                "details": bench.details,
                "duration_s": round(time.monotonic() - started, 1),
            },
        )


def _run_scenario(bench: GenerationBench, name: str, errors: list[str], *args: Any) -> None:
    try:
        getattr(bench, f"scenario_{name}")(*args)
    except Exception as exc:
        errors.append(f"{name}: {type(exc).__name__}: {exc}")
        log(f"{name} failed: {exc}")
        traceback.print_exc()


if __name__ == "__main__":
    main()
