"""Dramatiq actors for cards: thin wrappers that take ids and call services."""

import functools
import time

import dramatiq
from django.conf import settings
from django.db.models import Q
from dramatiq.middleware import CurrentMessage, TimeLimitExceeded
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from batches.models import Project
from cards import services

# The actor's default ceiling; each message carries its own (see enqueue_generation).
GENERATION_TIME_LIMIT_MS = 16 * 60 * 1000
# How soon a job that found its user's slots full looks again.
SLOT_RETRY_DELAY_MS = 200


@functools.cache
def _limiter_backend():
    # Shared by all workers through Redis in production; in-process otherwise (the
    # embedded default has one process, so one process's count is the whole count).
    if settings.REDIS_URL:
        return RedisBackend(url=settings.REDIS_URL)
    return StubBackend()


def user_slots(owner_id: int) -> ConcurrentRateLimiter:
    """At most RNDCARDS_USER_CONCURRENCY generations of one user at once. A slot held by a
    worker that died expires with the job's time limit instead of leaking."""
    return ConcurrentRateLimiter(
        _limiter_backend(),
        f"rndcards:generation-slots:user:{owner_id}",
        limit=settings.RNDCARDS_USER_CONCURRENCY,
        ttl=settings.RNDCARDS_JOB_TIME_LIMIT * 1000 + 60_000,
    )


def enqueue_generation(project_id: int, *, delay_ms: int | None = None) -> None:
    # Dramatiq's time limit is only the backstop: it interrupts the thread wherever it is
    # (inside the SDK's HTTP code the interruption can surface as an unrelated error), so
    # the service keeps its own deadline and this limit sits a minute behind it.
    generate_project.send_with_options(
        args=(project_id,), delay=delay_ms, time_limit=(settings.RNDCARDS_JOB_TIME_LIMIT + 60) * 1000
    )


@dramatiq.actor(queue_name="generation", max_retries=0, time_limit=GENERATION_TIME_LIMIT_MS)
def generate_project(project_id: int) -> None:
    """Generate the card of one project, within its owner's concurrency limit."""
    message = CurrentMessage.get_current_message()
    message_id = message.message_id if message is not None else ""
    waiting = Q(status=Project.Status.QUEUED)
    if message_id:
        # This message redelivered after its worker died: the project is still
        # "generating" under this message's claim (see services.project_generate).
        mine = Q(status=Project.Status.GENERATING, claim_token__startswith=f"{message_id}:")
        waiting |= mine
    owner_id = Project.objects.filter(waiting, pk=project_id).values_list("batch__owner_id", flat=True).first()
    if owner_id is None:
        return  # already taken by another delivery, or no longer queued
    with user_slots(owner_id).acquire(raise_on_failure=False) as acquired:
        if not acquired:
            if message_id:  # the retry is a new message: hand it a claimable project
                Project.objects.filter(mine, pk=project_id).update(status=Project.Status.QUEUED)
            enqueue_generation(project_id, delay_ms=SLOT_RETRY_DELAY_MS)
            return
        deadline = time.monotonic() + settings.RNDCARDS_JOB_TIME_LIMIT
        try:
            services.project_generate(project_id=project_id, deadline=deadline, message_id=message_id)
        except TimeLimitExceeded:
            services.project_mark(
                project_id=project_id,
                status=Project.Status.GENERATION_TIMEOUT,
                message=services.TIMEOUT_MESSAGE,
            )
        except Exception as exc:
            services.project_mark(
                project_id=project_id,
                status=Project.Status.FAILED,
                message=f"Nieoczekiwany błąd generowania ({type(exc).__name__}). Spróbuj ponownie.",
            )
            raise
