"""The in-process Dramatiq worker of the embedded default (no Redis, no separate process).

With DRAMATIQ_BROKER_URL unset the broker is Dramatiq's in-memory StubBroker; a real
dramatiq.Worker consumes it from threads of whichever process enqueues work (the dev
server, make_cards). Production runs `manage.py rundramatiq` against Redis or RabbitMQ
instead and this module does nothing.
"""

import atexit
import logging
import os
import sys
import threading

import dramatiq
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_worker: dramatiq.Worker | None = None
PROCESS_STARTED = timezone.now()


class PrefetchPerThread(dramatiq.Middleware):
    """Each worker fetches at most as many messages as it has threads (Dramatiq's default
    is twice as many). A message counts until it is done, so a worker whose threads are
    all busy fetches nothing more, and a freed slot's hand-over goes to a worker that can
    run it now instead of waiting behind a busy one's running jobs."""

    def before_worker_boot(self, broker, worker) -> None:
        worker.queue_prefetch = worker.worker_threads


class PreloadProviders(dramatiq.Middleware):
    """A `rundramatiq` worker process builds its model clients when it boots, not on its
    first card: importing the SDKs and building a client took up to a second of the first
    generation of each process (the bench's "first batch on freshly started workers": 10.35 s
    for 20 cards against 8.4 s once warm; 8.48 s with this). The API-key clients are kept per
    process; for Bedrock, whose client is built per card, this imports the SDK. A provider that
    cannot be set up is only logged here; generation reports it the usual way (failover)."""

    def after_process_boot(self, broker) -> None:
        from cards.providers.base import ProviderError
        from cards.providers.registry import configured_providers, get_provider

        for name in configured_providers():
            try:
                get_provider(name)
            except ProviderError as exc:  # our own message: what is missing, never a secret
                logger.warning("provider %s could not be set up at worker start: %s", name, exc)
            except Exception as exc:  # noqa: BLE001 - a worker must boot whatever the configuration
                logger.warning("provider %s could not be set up at worker start: %s", name, type(exc).__name__)


def is_embedded() -> bool:
    """True when jobs live in this process's memory (no Redis or RabbitMQ broker)."""
    return settings.RNDCARDS_EMBEDDED_WORKER


def ensure_started(*, recover: bool = False) -> None:
    """Start the embedded worker once per process; the server also requeues lost work."""
    global _worker
    if not settings.RNDCARDS_EMBEDDED_WORKER:
        return
    with _lock:
        if _worker is not None:
            return
        _worker = dramatiq.Worker(
            dramatiq.get_broker(), worker_threads=settings.RNDCARDS_WORKER_THREADS, worker_timeout=100
        )
        _worker.start()
        atexit.register(stop)
        logger.info("embedded dramatiq worker started with %d threads", settings.RNDCARDS_WORKER_THREADS)
    if recover:
        recover_lost_jobs()


def stop() -> None:
    global _worker
    with _lock:
        if _worker is not None:
            _worker.stop(timeout=5000)
            _worker = None


def recover_lost_jobs() -> int:
    """The in-memory queue dies with its process: requeue what an earlier process left.

    Only work queued or started before this process began counts as lost; what this
    process queued itself is already in its queue. A second embedded process running at
    the same time may pick up the first one's work too: the claim in project_generate
    keeps that to one card per project.
    """
    from django.db.models import Q

    from batches.models import Project
    from cards.tasks import enqueue_generation

    lost = Project.objects.filter(
        Q(status=Project.Status.QUEUED, queued_at__lt=PROCESS_STARTED)
        | Q(status=Project.Status.GENERATING, started_at__lt=PROCESS_STARTED)
    )
    ids = list(lost.values_list("pk", flat=True))
    Project.objects.filter(pk__in=ids, status=Project.Status.GENERATING).update(status=Project.Status.QUEUED)
    for project_id in ids:
        enqueue_generation(project_id)
    if ids:
        logger.info("requeued %d projects left by an earlier process", len(ids))
    return len(ids)


def start_with_dev_server() -> None:
    """Called from AppConfig.ready(): start with `runserver` (in its serving child process)."""
    if not settings.RNDCARDS_EMBEDDED_WORKER or "runserver" not in sys.argv:
        return
    if os.environ.get("RUN_MAIN") != "true" and "--noreload" not in sys.argv:
        return  # the autoreloader's parent process serves nothing
    # Database access is not allowed during app loading; start right after it.
    threading.Timer(1.0, ensure_started, kwargs={"recover": True}).start()
