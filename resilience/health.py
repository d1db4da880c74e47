"""The health report: each dependency checked, bounded in time, and what it means for users.

`health_report()` checks the database, Redis, file storage, the job broker and each AI
provider's circuit breaker at once, each in its own thread, and waits at most
RNDCARDS_HEALTH_TIMEOUT seconds for all of them: a dependency that hangs (a black-holed
host) is reported unavailable instead of holding the page. The report never carries
exception texts (they may name hosts or credentials): details are our own Polish words,
the exception class goes to the log.

Overall status: "critical" when the database is down (nothing works without it),
"degraded" when anything else is down, "healthy" otherwise. `features` follows the
degraded-mode table of DESIGN.md.
"""

import logging
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)

OK = "ok"
UNAVAILABLE = "unavailable"
NOT_CONFIGURED = "not_configured"

HEALTHY = "healthy"
DEGRADED = "degraded"
CRITICAL = "critical"

PROVIDER_NAMES = ("anthropic", "openai")


@dataclass(frozen=True)
class Check:
    status: str
    detail: str
    extra: dict | None = None

    def as_dict(self, latency_ms: int | None = None) -> dict:
        data = {"status": self.status, "detail": self.detail}
        if latency_ms is not None:
            data["latency_ms"] = latency_ms
        data.update(self.extra or {})
        return data


class _Down(Exception):
    """A check found its dependency away; the message is ours (Polish, no hosts)."""


# --- the checks ---------------------------------------------------------------------------


# Set in the liveness probe's own long-lived thread (database_alive), which keeps its
# connection between probes.
_probe_thread = threading.local()


def check_database() -> Check:
    from django.db import connections

    connection = connections["default"]
    keep = getattr(_probe_thread, "keeps_connection", False)
    if keep:
        connection.close_if_unusable_or_obsolete()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        connection.close()
        raise
    finally:
        # A report's checks run in threads of their own: their connection must not outlive them.
        if not keep:
            connection.close()
    return Check(OK, "Baza danych odpowiada.", {"engine": connection.vendor})


_redis_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def _redis(url: str):
    import redis

    with _clients_lock:
        if url not in _redis_clients:
            timeout = min(1.0, float(settings.RNDCARDS_HEALTH_TIMEOUT))
            _redis_clients[url] = redis.Redis.from_url(
                url, socket_connect_timeout=timeout, socket_timeout=timeout, retry_on_timeout=False
            )
        return _redis_clients[url]


def check_redis() -> Check:
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return Check(NOT_CONFIGURED, "Redis nie jest skonfigurowany (pamięć podręczna w procesie).")
    _redis(url).ping()
    return Check(OK, "Redis odpowiada.")


def check_storage() -> Check:
    from django.core.files.storage import default_storage

    bucket = getattr(default_storage, "bucket_name", None)
    if bucket:
        # One HEAD request with the storage's own client (its short timeouts, few retries).
        default_storage.connection.meta.client.head_bucket(Bucket=bucket)
        return Check(OK, "Magazyn plików S3 odpowiada.", {"backend": "s3"})
    location = getattr(default_storage, "location", None)
    if location is None:
        return Check(OK, "Magazyn plików skonfigurowany.", {"backend": type(default_storage).__name__})
    import os

    os.makedirs(location, exist_ok=True)
    # Writable means a file can really be created there, not only that the mode bits say so.
    with tempfile.NamedTemporaryFile(dir=location, prefix=".health-", delete=True) as probe:
        probe.write(b"ok")
        probe.flush()
    return Check(OK, "Katalog plików jest zapisywalny.", {"backend": "local"})


def _amqp_ping(url: str, timeout: float) -> None:
    """Open a TCP connection and read the AMQP server's greeting (Connection.Start)."""
    parts = urlsplit(url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout) as sock:
        if parts.scheme == "amqps":
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        frame = sock.recv(7)
        # A method frame (type 1) on channel 0: the broker speaks AMQP 0-9-1 and is accepting.
        if len(frame) < 7 or frame[0] != 1:
            raise _Down("Broker RabbitMQ nie przedstawił się poprawnie.")


def check_broker() -> Check:
    url = settings.DRAMATIQ_BROKER_URL
    if url == "stub":
        return Check(OK, "Kolejka zadań działa w tym procesie (tryb wbudowany).", {"backend": "in-process"})
    if url.startswith(("amqp://", "amqps://")):
        _amqp_ping(url, min(2.0, float(settings.RNDCARDS_HEALTH_TIMEOUT)))
        return Check(OK, "Broker RabbitMQ odpowiada.", {"backend": "rabbitmq"})
    _redis(url).ping()
    return Check(OK, "Broker Redis odpowiada.", {"backend": "redis"})


def check_providers() -> Check:
    """Each AI provider: configured or not, and its breaker's state."""
    from cards.providers.registry import configured_providers
    from resilience.circuit import breaker_states

    configured = [name for name in configured_providers() if name in PROVIDER_NAMES]
    states = breaker_states(configured)
    providers = {}
    for name in PROVIDER_NAMES:
        if name not in configured:
            providers[name] = {"configured": False, "breaker": None, "status": NOT_CONFIGURED}
        else:
            state = states[name]
            providers[name] = {"configured": True, "breaker": state, "status": UNAVAILABLE if state == "open" else OK}
    open_ones = [name for name in configured if providers[name]["status"] == UNAVAILABLE]
    if not configured:
        return Check(
            NOT_CONFIGURED, "Nie skonfigurowano dostawcy AI: powstają szkice offline.", {"providers": providers}
        )
    if len(open_ones) == len(configured):
        return Check(UNAVAILABLE, "Wszyscy dostawcy AI chwilowo niedostępni.", {"providers": providers})
    if open_ones:
        return Check(OK, "Część dostawców AI chwilowo niedostępna; działa przełączanie.", {"providers": providers})
    return Check(OK, "Dostawcy AI dostępni.", {"providers": providers})


def check_rate_limiting() -> Check:
    """The request limiter (rndcards.ratelimit): fail-open while its Redis is away."""
    from rndcards.ratelimit import limiter_status

    state = limiter_status()
    status = {"ok": OK, "unavailable": UNAVAILABLE}.get(state["status"], NOT_CONFIGURED)
    return Check(status, state["detail"])


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "redis": check_redis,
    "storage": check_storage,
    "broker": check_broker,
    "ai": check_providers,
    "rate_limiting": check_rate_limiting,
}

DOWN_DETAILS = {
    "database": "Baza danych nie odpowiada.",
    "redis": "Redis nie odpowiada.",
    "storage": "Magazyn plików nie odpowiada.",
    "broker": "Kolejka zadań (broker) nie odpowiada.",
    "ai": "Nie udało się sprawdzić dostawców AI.",
    "rate_limiting": "Nie udało się sprawdzić limitów zapytań.",
}


def _run_checks(checks: dict[str, Callable[[], Check]], timeout: float) -> dict[str, dict]:
    """Run every check at once in daemon threads; whatever has not answered within
    `timeout` seconds is reported unavailable (its thread is left to finish on its own)."""
    results: dict[str, dict] = {}
    lock = threading.Lock()

    def run(name: str, check: Callable[[], Check]) -> None:
        started = time.monotonic()
        try:
            result = check()
        except Exception as exc:
            # The class only: exception texts can hold hosts, bucket names or credentials.
            logger.warning("health check %s failed: %s", name, type(exc).__name__)
            result = Check(UNAVAILABLE, str(exc) if isinstance(exc, _Down) else DOWN_DETAILS.get(name, "Niedostępne."))
        latency = round((time.monotonic() - started) * 1000)
        with lock:
            results[name] = result.as_dict(latency)

    threads = {
        name: threading.Thread(target=run, args=(name, check), name=f"health-{name}", daemon=True)
        for name, check in checks.items()
    }
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        for name in checks:
            if name not in results:
                logger.warning("health check %s gave no answer within %ss", name, timeout)
                results[name] = Check(
                    UNAVAILABLE, f"{DOWN_DETAILS.get(name, 'Niedostępne.')} (brak odpowiedzi w {timeout:g} s)"
                ).as_dict(round(timeout * 1000))
        return {name: results[name] for name in checks}


# --- what the results mean for users ----------------------------------------------------


def _down(checks: dict, name: str) -> bool:
    return checks.get(name, {}).get("status") == UNAVAILABLE


def _features(checks: dict) -> list[dict]:
    """The degraded-mode table: each feature available or not, and why, in Polish."""
    db = not _down(checks, "database")
    storage = not _down(checks, "storage")
    broker = not _down(checks, "broker")
    ai = checks.get("ai", {}).get("status") == OK
    limiter = checks.get("rate_limiting", {}).get("status")

    def feature(key: str, name: str, available: bool, reason: str = "") -> dict:
        return {"key": key, "name": name, "available": available, "reason": "" if available else reason}

    no_db = "Baza danych niedostępna."
    return [
        feature("upload", "Przesyłanie arkuszy", db and storage, no_db if not db else "Magazyn plików niedostępny."),
        feature("view_edit", "Przeglądanie i edycja kart", db, no_db),
        # Exports are built on the fly from the database; they never touch file storage.
        feature("export", "Eksport do Worda i Excela", db, no_db),
        feature(
            "ai_generation",
            "Generowanie AI",
            db and broker and ai,
            no_db
            if not db
            else "Kolejka zadań niedostępna."
            if not broker
            else "Nie skonfigurowano dostawcy AI."
            if checks.get("ai", {}).get("status") == NOT_CONFIGURED
            else "Dostawcy AI chwilowo niedostępni.",
        ),
        feature(
            "offline_drafts",
            "Szkice offline",
            db and broker,
            no_db if not db else "Kolejka zadań niedostępna.",
        ),
        feature(
            "rate_limiting",
            "Limity zapytań",
            # Without Redis the limiter counts in each process's memory: limited all the same.
            # With Redis, it is off while the cache's Redis is away (they share one server).
            limiter == OK and not _down(checks, "redis"),
            "Redis niedostępny."
            if limiter == UNAVAILABLE or _down(checks, "redis")
            else "Limity zapytań wyłączone (RNDCARDS_RATE_LIMIT=0).",
        ),
    ]


def _overall(checks: dict) -> str:
    if _down(checks, "database"):
        return CRITICAL
    if any(result.get("status") == UNAVAILABLE for result in checks.values()):
        return DEGRADED
    providers = checks.get("ai", {}).get("providers", {})
    if any(p.get("status") == UNAVAILABLE for p in providers.values()):
        return DEGRADED  # one provider down: failover works, but something is down
    return HEALTHY


def _limitations(checks: dict) -> list[str]:
    """The banner's lines: what users cannot do now, in Polish (empty when healthy)."""
    lines = []
    if _down(checks, "database"):
        return ["System chwilowo niedostępny: baza danych nie odpowiada. Spróbuj ponownie za kilka minut."]
    if _down(checks, "ai"):
        lines.append("Generowanie AI chwilowo niedostępne — powstają szkice offline (do uzupełnienia).")
    else:
        providers = checks.get("ai", {}).get("providers", {})
        from cards.providers.registry import PROVIDER_LABELS

        for name, info in providers.items():
            if info.get("status") == UNAVAILABLE:
                lines.append(f"{PROVIDER_LABELS[name]} chwilowo niedostępny — karty pisze inny dostawca.")
    if _down(checks, "storage"):
        lines.append(
            "Pliki chwilowo niedostępne: przesyłanie arkuszy wstrzymane. Przeglądanie, edycja i eksport działają."
        )
    if _down(checks, "broker"):
        lines.append(
            "Kolejka zadań niedostępna: nowe karty nie są teraz generowane. "
            "Zlecone karty wrócą do kolejki, gdy ją przywrócimy — nic nie zostanie utracone."
        )
    if _down(checks, "redis") or checks.get("rate_limiting", {}).get("status") == UNAVAILABLE:
        lines.append("Redis niedostępny: brak limitów zapytań, a podgląd kolejki na żywo może się opóźniać.")
    return lines


def health_report(*, timeout: float | None = None) -> dict:
    """Check every dependency at once (bounded by RNDCARDS_HEALTH_TIMEOUT) and say what it means."""
    if timeout is None:
        timeout = float(settings.RNDCARDS_HEALTH_TIMEOUT)
    checks = _run_checks(CHECKS, timeout)
    return {
        "status": _overall(checks),
        "checked_at": timezone.now().isoformat(),
        "checks": checks,
        "features": _features(checks),
        "limitations": _limitations(checks),
    }


class _LivenessProbe:
    """One daemon thread that runs the database check on request and keeps its connection
    (a stuck one must not hold up the process's exit, hence not a ThreadPoolExecutor)."""

    def __init__(self) -> None:
        self.requests: queue.SimpleQueue[Future | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name="health-liveness", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        _probe_thread.keeps_connection = True
        while True:
            future = self.requests.get()
            if future is None:
                from django.db import connections

                connections["default"].close()
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(check_database())
            except Exception as exc:
                future.set_exception(exc)

    def ask(self) -> Future:
        future: Future = Future()
        self.requests.put(future)
        return future


_probe_lock = threading.Lock()
_probe: _LivenessProbe | None = None


def database_alive(*, timeout: float | None = None) -> bool:
    """Liveness: does the database answer SELECT 1 within the timeout.

    Asked by load balancers and probes every few seconds, so it runs in one long-lived
    thread per process that keeps its connection (DATABASE_CONN_MAX_AGE, checked before each
    probe). A thread and a connection per probe cost a PostgreSQL backend start each time:
    10 ms of a 14 ms answer under load (bench/bench_pages.py). A probe that does not answer
    in time is abandoned with its thread, and the next probe starts a fresh one.
    """
    global _probe
    if timeout is None:
        timeout = float(settings.RNDCARDS_HEALTH_TIMEOUT)
    with _probe_lock:
        if _probe is None:
            _probe = _LivenessProbe()
        probe = _probe
    future = probe.ask()
    try:
        return future.result(timeout=timeout).status == OK
    except FutureTimeout:
        logger.warning("health check database gave no answer within %ss", timeout)
        future.cancel()
        with _probe_lock:
            if _probe is probe:
                _probe = None
        # Its thread ends (closing its connection) as soon as the stuck check returns.
        probe.requests.put(None)
        return False
    except Exception as exc:
        logger.warning("health check database failed: %s", type(exc).__name__)
        return False


def stop_liveness_probe(timeout: float = 5.0) -> None:
    """End the probe's thread and close its connection (tests, before the test database is dropped)."""
    global _probe
    with _probe_lock:
        probe, _probe = _probe, None
    if probe is not None:
        probe.requests.put(None)
        probe.thread.join(timeout)


_cached: tuple[float, dict] | None = None
_cache_lock = threading.Lock()


def cached_health_report() -> dict:
    """The report, reused for RNDCARDS_HEALTH_CACHE_SECONDS in this process (the banner
    of every open page asks every 30 s; the checks must not run for each of them)."""
    global _cached
    ttl = settings.RNDCARDS_HEALTH_CACHE_SECONDS
    with _cache_lock:
        if _cached is not None and time.monotonic() - _cached[0] < ttl:
            return _cached[1]
        report = health_report()
        _cached = (time.monotonic(), report)
        return report


def forget_cached_report() -> None:
    """Drop the reused report (tests; after an operator fixed something)."""
    global _cached
    with _cache_lock:
        _cached = None
