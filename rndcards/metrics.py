"""Prometheus metrics (prometheus_client) and the protected /metrics view.

Request metrics are labelled by the matched URL route (``/batches/<int:pk>/``), never the
raw path, so ids do not multiply the series. Generation attempts are counted where
cards.services records a GenerationAttempt. Queue depth is read from the broker when
Prometheus scrapes.

Several gunicorn workers: set PROMETHEUS_MULTIPROC_DIR (before the process starts) to a
directory the workers share; each writes its samples there and /metrics adds them up
(deploy/gunicorn.conf.py empties it at start and forgets dead workers' live gauges).
"""

import hmac
import logging
import os
import time

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from rndcards.logs import client_ip, ip_in

logger = logging.getLogger(__name__)

# Seconds; the 2 s bucket edge is the rollback threshold of check_deployment (p99 > 2000 ms),
# the 30 s one gunicorn's request limit.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
GENERATION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180, 300)
UNMATCHED_ROUTE = "<unmatched>"

REQUEST_LATENCY = Histogram(
    "rndcards_http_request_duration_seconds",
    "Time to answer a request, by URL route (the pattern, not the path).",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
RESPONSES = Counter(
    "rndcards_http_responses_total",
    "Responses by URL route and status code.",
    ["method", "route", "status"],
)
IN_PROGRESS = Gauge(
    "rndcards_http_requests_in_progress",
    "Requests being answered now (all workers).",
    multiprocess_mode="livesum",
)
GENERATION_ATTEMPTS = Counter(
    "rndcards_generation_attempts_total",
    "Model provider requests (retries and skipped providers too) by provider and outcome.",
    ["provider", "outcome"],
)
GENERATION_DURATION = Histogram(
    "rndcards_generation_attempt_duration_seconds",
    "Duration of one model provider request, by provider and outcome.",
    ["provider", "outcome"],
    buckets=GENERATION_BUCKETS,
)
# Only the methods Django's views answer; anything else shares one label.
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED_ROUTE
    return "/" + (match.route or "")


class MetricsMiddleware:
    """Time every request and count its status, by route (outermost but for the request id)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        IN_PROGRESS.inc()
        try:
            response = self.get_response(request)
        finally:
            IN_PROGRESS.dec()
        route = route_of(request)
        if route == "/metrics":
            return response  # scrapes are not traffic: they would dilute the error rate
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        REQUEST_LATENCY.labels(method, route).observe(time.perf_counter() - started)
        RESPONSES.labels(method, route, str(response.status_code)).inc()
        return response


def generation_attempt_observe(*, provider: str, outcome: str, latency_ms: int) -> None:
    """Count one provider request; called where the GenerationAttempt is stored."""
    GENERATION_ATTEMPTS.labels(provider, outcome).inc()
    GENERATION_DURATION.labels(provider, outcome).observe(max(latency_ms, 0) / 1000)


class QueueDepthCollector:
    """Messages waiting in each Dramatiq queue, read from the broker at scrape time.

    Redis broker: the length of the queue's list (ready messages) and of its delay queue
    (messages sent with a delay, e.g. waiting for a user's free slot). RabbitMQ: the
    queue's message count. The in-process stub broker: its in-memory queue sizes.
    """

    def collect(self):
        family = GaugeMetricFamily(
            "rndcards_queue_depth", "Messages waiting in a Dramatiq queue (computed at scrape).", labels=["queue"]
        )
        up = GaugeMetricFamily("rndcards_queue_depth_up", "1 when the broker answered the queue-depth query.")
        try:
            for queue, depth in queue_depths().items():
                family.add_metric([queue], depth)
            up.add_metric([], 1)
        except Exception as exc:  # a broker that is away must not break the scrape
            logger.warning("queue depth unavailable: %s", exc)
            up.add_metric([], 0)
        yield family
        yield up

    def describe(self):
        return []


def queue_depths() -> dict[str, int]:
    """Waiting messages per queue name (delay queues end in ``.DQ``)."""
    import dramatiq
    from dramatiq.brokers.stub import StubBroker

    broker = dramatiq.get_broker()
    queues = sorted(broker.get_declared_queues())
    names = sorted([*queues, *(f"{name}.DQ" for name in queues)])
    if isinstance(broker, StubBroker):
        return {name: broker.queues[name].qsize() for name in names if name in broker.queues}
    if type(broker).__name__ == "RedisBroker":
        # The broker keeps each queue as a list of message ids under "<namespace>:<queue>".
        pipe = broker.client.pipeline()
        for name in names:
            pipe.llen(f"{broker.namespace}:{name}")
        return dict(zip(names, (int(n) for n in pipe.execute()), strict=True))
    if type(broker).__name__ == "RabbitmqBroker":
        depths = {}
        for name in queues:
            ready, delayed, _dead = broker.get_queue_message_counts(name)
            depths[name], depths[f"{name}.DQ"] = int(ready), int(delayed)
        return depths
    return {}


_queue_registry = CollectorRegistry(auto_describe=False)
_queue_registry.register(QueueDepthCollector())


def _token_ok(request: HttpRequest) -> bool:
    expected = settings.RNDCARDS_METRICS_TOKEN
    if not expected:
        return False
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), expected.encode())


def metrics_allowed(request: HttpRequest) -> bool:
    """From a configured address (after trusted proxies), or with the bearer token."""
    return ip_in(client_ip(request), settings.RNDCARDS_METRICS_ALLOWED_IPS) or _token_ok(request)


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition; 404 for anyone neither allowed by address nor by token."""
    if not metrics_allowed(request):
        # The public does not learn that the page exists.
        raise Http404
    if request.method not in {"GET", "HEAD"}:
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry) + generate_latest(_queue_registry)
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
