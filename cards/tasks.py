"""Dramatiq actors for cards: thin wrappers that take ids and call services."""

import contextlib
import functools
import logging
import time

import dramatiq
import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from dramatiq.middleware import CurrentMessage, TimeLimitExceeded
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from batches.models import Project
from cards import services

logger = logging.getLogger(__name__)

# The actor's default ceiling; each message carries its own (see enqueue_generation).
GENERATION_TIME_LIMIT_MS = 16 * 60 * 1000
# How soon a job that found its user's slots full looks again. A freed slot is normally
# handed over at once (kick_next_waiting); this poll only covers a hand-over that was lost
# (a worker killed between releasing and kicking, Redis away), so it can be slow and cheap.
SLOT_RETRY_DELAY_MS = 3000
# What the consultant reads after a bug; the traceback is in the worker's log (Dramatiq
# logs the exception re-raised below), not on the page.
UNEXPECTED_MESSAGE = "Nieoczekiwany błąd generowania. Spróbuj ponownie — jeśli się powtórzy, zgłoś to administratorowi."
UNEXPECTED_SECTION_MESSAGE = (
    "Nieoczekiwany błąd generowania sekcji. Treść pozostała bez zmian — spróbuj ponownie, "
    "a jeśli się powtórzy, zgłoś to administratorowi."
)
# How long a project picked for a hand-over is not picked again (its kick is on its way).
KICK_TTL_S = 2


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
    working. A dead job's slot returns after the job time limit + 90 s at the latest.
    """
    backend = _limiter_backend()
    prefix = f"{settings.RNDCARDS_REDIS_PREFIX}:generation-slots:user:{owner_id}"
    # A slot outlives the longest job (its deadline, then Dramatiq's backstop a minute
    # later): one that expired mid-job would let a sixth generation start.
    ttl_ms = (settings.RNDCARDS_JOB_TIME_LIMIT + 90) * 1000
    with contextlib.ExitStack() as stack:
        for index in range(settings.RNDCARDS_USER_CONCURRENCY):
            slot = ConcurrentRateLimiter(backend, f"{prefix}:{index}", limit=1, ttl=ttl_ms)
            if stack.enter_context(slot.acquire(raise_on_failure=False)):
                yield True
                return
        yield False


def kick_next_waiting(owner_id: int) -> int | None:
    """A slot of this user was freed: start their oldest waiting card now rather than at its
    next poll. Several jobs ending at once each pick a different card (cache.add), so a
    wave of freed slots starts a wave of cards."""
    waiting = (
        Project.objects.filter(batch__owner_id=owner_id, status=Project.Status.QUEUED)
        .order_by("queued_at", "pk")
        .values_list("pk", flat=True)[: 2 * settings.RNDCARDS_USER_CONCURRENCY]
    )
    for project_id in waiting:
        if cache.add(_kick_key(project_id), 1, timeout=KICK_TTL_S):
            enqueue_generation(project_id, kicked=True)
            return project_id
    return None


class QueueUnavailable(Exception):
    """The broker (Redis or RabbitMQ) refused a message; `unsent` lists what was not sent."""

    def __init__(self, unsent: list[int]):
        super().__init__(f"{len(unsent)} message(s) not sent")
        self.unsent = unsent


def enqueue_generations(project_ids: list[int]) -> None:
    """Queue one user's cards: as many as may run at once are sent now; the rest start when
    a slot is handed over (kick_next_waiting), their delayed messages being the fallback.
    Sending all at once would only have the surplus bounce off the full slots, delaying
    other users' cards queued behind them."""
    for index, project_id in enumerate(project_ids):
        try:
            enqueue_generation(
                project_id, delay_ms=None if index < settings.RNDCARDS_USER_CONCURRENCY else SLOT_RETRY_DELAY_MS
            )
        except Exception as exc:  # whatever the broker's client raises when it is away
            logger.exception("could not queue the generation of project %s", project_id)
            raise QueueUnavailable(project_ids[index:]) from exc


@contextlib.contextmanager
def generation_slot(owner_id: int):
    """Hold one of the user's slots for the block (yields whether one was free); on the way
    out the slot is released and handed to the user's next waiting card. Raises
    redis.RedisError on entry when the slots cannot be reached at all."""
    slot = user_slot(owner_id)
    acquired = slot.__enter__()
    try:
        yield acquired
    finally:
        try:
            slot.__exit__(None, None, None)
        except redis.RedisError:
            logger.warning("could not release a generation slot; it expires on its own")
        if acquired:
            try:
                kick_next_waiting(owner_id)
            except Exception:  # the waiting cards' own polls take over
                logger.warning("could not hand the freed slot of user %s over", owner_id, exc_info=True)


def _kick_key(project_id: int) -> str:
    return f"{settings.RNDCARDS_REDIS_PREFIX}:generation-kick:{project_id}"


def enqueue_generation(project_id: int, *, delay_ms: int | None = None, kicked: bool = False) -> None:
    # Dramatiq's time limit is only the backstop: it interrupts the thread wherever it is
    # (inside the SDK's HTTP code the interruption can surface as an unrelated error), so
    # the service keeps its own deadline and this limit sits a minute behind it.
    generate_project.send_with_options(
        args=(project_id,),
        kwargs={"kicked": True} if kicked else None,
        delay=delay_ms,
        time_limit=(settings.RNDCARDS_JOB_TIME_LIMIT + 60) * 1000,
    )


@dramatiq.actor(queue_name="generation", max_retries=0, time_limit=GENERATION_TIME_LIMIT_MS)
def generate_project(project_id: int, kicked: bool = False) -> None:
    """Generate the card of one project, within its owner's concurrency limit.

    `kicked` marks a hand-over sent when a slot was freed: if another card took the slot
    first it just ends, since the project's own message keeps polling."""
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
        # Already taken by another delivery, or no longer queued. A hand-over that came too
        # late passes the freed slot on, so it does not sit idle until the next poll.
        if kicked:
            owner = Project.objects.filter(pk=project_id).values_list("batch__owner_id", flat=True).first()
            if owner is not None:
                kick_next_waiting(owner)
        return
    with contextlib.ExitStack() as stack:
        try:
            acquired = stack.enter_context(generation_slot(owner_id))
        except redis.RedisError:
            # Redis (slots) is away: look again later rather than drop the message.
            logger.warning("generation slots unavailable for project %s; retrying in 5 s", project_id)
            enqueue_generation(project_id, delay_ms=5000)
            return
        if not acquired:
            # A redelivered message that still holds the claim hands the retry (a new
            # message) a claimable project; it must retry even if it was a kick, since
            # the project's own poll ended when this message claimed it.
            took_over = bool(message_id) and Project.objects.filter(mine, pk=project_id).update(
                status=Project.Status.QUEUED
            )
            if kicked and not took_over:
                # Another card took the slot first. The project may be handed the next
                # freed slot again: a mark left behind would skip it at that hand-over.
                cache.delete(_kick_key(project_id))
                return
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
        except Exception:
            services.project_mark(
                project_id=project_id,
                status=Project.Status.FAILED,
                message=UNEXPECTED_MESSAGE,
                message_id=message_id,
            )
            raise


def enqueue_section_regeneration(section_id: int, token: str, *, delay_ms: int | None = None) -> None:
    regenerate_section.send_with_options(
        args=(section_id, token), delay=delay_ms, time_limit=(settings.RNDCARDS_JOB_TIME_LIMIT + 60) * 1000
    )


@dramatiq.actor(queue_name="generation", max_retries=0, time_limit=GENERATION_TIME_LIMIT_MS)
def regenerate_section(section_id: int, token: str) -> None:
    """Regenerate one section with the consultant's hints, within its owner's concurrency limit."""
    from cards.models import Section

    owner_id = (
        Section.objects.filter(pk=section_id, regen_token=token, regen_state=Section.RegenState.QUEUED)
        .values_list("project__batch__owner_id", flat=True)
        .first()
    )
    if owner_id is None:
        return  # already run by another delivery, or replaced by a newer request
    with contextlib.ExitStack() as stack:
        try:
            acquired = stack.enter_context(generation_slot(owner_id))
        except redis.RedisError:
            logger.warning("generation slots unavailable for section %s; retrying in 5 s", section_id)
            enqueue_section_regeneration(section_id, token, delay_ms=5000)
            return
        if not acquired:
            enqueue_section_regeneration(section_id, token, delay_ms=SLOT_RETRY_DELAY_MS)
            return
        deadline = time.monotonic() + settings.RNDCARDS_JOB_TIME_LIMIT
        try:
            services.section_regenerate_run(section_id=section_id, token=token, deadline=deadline)
        except TimeLimitExceeded:
            services.section_regenerate_mark(
                section_id=section_id, token=token, message=services.SECTION_TIMEOUT_MESSAGE
            )
        except Exception:
            services.section_regenerate_mark(section_id=section_id, token=token, message=UNEXPECTED_SECTION_MESSAGE)
            raise
