"""Dramatiq actors for cards: thin wrappers that take ids and call services."""

import contextlib
import functools
import logging
import time

import dramatiq
import redis
from django.conf import settings
from django.db.models import Q
from dramatiq.middleware import CurrentMessage, TimeLimitExceeded
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from batches.models import Project
from cards import services

logger = logging.getLogger(__name__)

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


@contextlib.contextmanager
def user_slot(owner_id: int):
    """Hold one of the user's RNDCARDS_USER_CONCURRENCY generation slots; yields False
    when all are taken.

    Each slot is its own Dramatiq mutex (a ConcurrentRateLimiter of limit 1) with its own
    expiry: one counter for all slots would have its expiry renewed by every other job,
    so a slot held by a killed worker would never come back while the user keeps
    working. A dead job's slot returns after SLOT_TTL at the latest.
    """
    backend = _limiter_backend()
    prefix = f"{settings.RNDCARDS_REDIS_PREFIX}:generation-slots:user:{owner_id}"
    ttl_ms = (2 * settings.AI_REQUEST_TIMEOUT + 60) * 1000
    with contextlib.ExitStack() as stack:
        for index in range(settings.RNDCARDS_USER_CONCURRENCY):
            slot = ConcurrentRateLimiter(backend, f"{prefix}:{index}", limit=1, ttl=ttl_ms)
            if stack.enter_context(slot.acquire(raise_on_failure=False)):
                yield True
                return
        yield False


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
    try:
        slot = user_slot(owner_id)
        acquired = slot.__enter__()
    except redis.RedisError:
        # Redis (slots) is away: look again later rather than drop the message.
        logger.warning("generation slots unavailable for project %s; retrying in 5 s", project_id)
        enqueue_generation(project_id, delay_ms=5000)
        return
    try:
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
                message_id=message_id,
            )
        except Exception as exc:
            services.project_mark(
                project_id=project_id,
                status=Project.Status.FAILED,
                message=f"Nieoczekiwany błąd generowania ({type(exc).__name__}). Spróbuj ponownie.",
                message_id=message_id,
            )
            raise
    finally:
        try:
            slot.__exit__(None, None, None)
        except redis.RedisError:
            logger.warning("could not release a generation slot; it expires on its own")
