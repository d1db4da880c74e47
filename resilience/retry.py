"""Retry of one provider call: exponential backoff for transient errors, through `backoff`.

The numbers come from section 15.5 of the original design (1 s, 4 s, 16 s; at most
3 attempts; 30 s total). Attempts win over the delay list: three attempts are the first
call and two retries, so only the 1 s and 4 s waits are ever used; a third wait (16 s)
would need a fourth attempt. The original's own loop (`for attempt in range(3)`) behaved
the same way. With 1 s + 4 s the waits alone stay far below the 30 s budget.

The budget is wall-clock time since the first attempt, requests included, and it decides
whether another attempt may *start*: a retry is scheduled only if now + its wait stays
within it. A request that ran into the 180 s timeout is therefore not repeated, and a
provider costs at most about budget + one request timeout before failover moves on,
which keeps two providers and the offline draft inside the 15 min job limit.
"""

import logging
import time
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

import backoff
from django.conf import settings

from cards.providers.base import InvalidAnswer, ProviderError

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DELAYS = (1.0, 4.0)
DEFAULT_MAX_TIME = 30.0


def is_retryable(exc: BaseException) -> bool:
    """A transient provider error (429, 529, 5xx, connection error, timeout).

    InvalidAnswer is repaired inside the provider; asking the same question again here
    would only double the cost, so it is treated as final like a permanent error.
    """
    return isinstance(exc, ProviderError) and not exc.permanent and not isinstance(exc, InvalidAnswer)


def _waits(*, delays: Sequence[float], budget: float) -> Generator[float | None, ProviderError, None]:
    """A backoff wait generator that reads each failure (backoff send()s it in).

    The wait is the scheduled delay or the server's Retry-After, whichever is longer.
    Returning (StopIteration) makes backoff re-raise the error at once: a wait that
    would overrun the budget gives up, so failover can move on to the next provider.
    """
    # backoff creates the generator right before the first attempt: the budget starts here.
    started = time.monotonic()
    error = yield None
    for delay in delays:
        wait = max(delay, error.retry_after or 0.0)
        if time.monotonic() - started + wait > budget:
            logger.info("a %ss wait would exceed the %ss retry budget; giving up", wait, budget)
            return
        error = yield wait


def call_with_retry(
    fn: Callable[[], T],
    *,
    delays: Sequence[float] | None = None,
    max_time: float | None = None,
    on_retry: Callable[[ProviderError, float, int], None] | None = None,
) -> T:
    """Call `fn`, retrying transient ProviderErrors after each delay in `delays`.

    At most len(delays) + 1 attempts. Anything else (permanent errors, InvalidAnswer,
    an open circuit breaker, bugs) propagates from the first attempt unchanged.
    `on_retry(error, wait_seconds, failed_attempt_number)` runs before each wait.
    Defaults come from settings RNDCARDS_RETRY_DELAYS and RNDCARDS_RETRY_MAX_TIME.
    """
    if delays is None:
        delays = getattr(settings, "RNDCARDS_RETRY_DELAYS", DEFAULT_DELAYS)
    if max_time is None:
        max_time = getattr(settings, "RNDCARDS_RETRY_MAX_TIME", DEFAULT_MAX_TIME)
    delays = tuple(float(delay) for delay in delays)

    def before_wait(details: dict) -> None:
        error, wait, tries = details["exception"], details["wait"], details["tries"]
        logger.warning("attempt %s failed (%s); retrying in %.1fs", tries, error, wait)
        if on_retry is not None:
            on_retry(error, wait, tries)

    retrying = backoff.on_exception(
        _waits,
        ProviderError,
        max_tries=len(delays) + 1,
        giveup=lambda exc: not is_retryable(exc),
        on_backoff=before_wait,
        jitter=None,  # the default full jitter would turn 1 s/4 s into random waits below them
        logger=None,  # logged above, once, with the reason
        # Passed to _waits, not to backoff: backoff's own max_time shortens the last wait
        # (and measures time before the request, not after it) instead of giving up.
        delays=delays,
        budget=float(max_time),
    )(fn)
    return retrying()
