"""Provider failover: the chosen provider, then the other one, then the offline draft.

Each provider is called as retry(breaker(request)): the breaker sees every request,
retries included, so three failed requests open it; and an open breaker raises
CircuitBreakerError, which the retry does not retry, so a provider whose breaker is open
(or opens during the call) is left at once, without a request or a wait.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from time import monotonic

import pybreaker

from cards.providers.base import CardDraft, CardInput, InvalidAnswer, Provider, ProviderError, SectionDraft
from resilience.circuit import get_breaker, is_rate_limit
from resilience.retry import call_with_retry

logger = logging.getLogger(__name__)

OFFLINE = "offline"


class Outcome(StrEnum):
    SUCCESS = "success"
    RETRYABLE_ERROR = "retryable_error"
    PERMANENT_ERROR = "permanent_error"
    INVALID_ANSWER = "invalid_answer"
    BREAKER_OPEN = "breaker_open"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Attempt:
    """One request to a provider (retries are attempts too), or one skipped by an open breaker."""

    provider: str
    model: str
    started: datetime
    latency_ms: int
    outcome: Outcome
    error_class: str = ""
    error_message: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass
class FailoverResult:
    draft: CardDraft | SectionDraft
    attempts: list[Attempt]
    # Providers given up on before the one that wrote the draft, in chain order.
    fell_back_from: list[str] = field(default_factory=list)

    @property
    def degraded(self) -> bool:
        return bool(self.fell_back_from)


class DeadlinePassed(ProviderError):
    """The job's time is up: no further provider or retry is started."""

    def __init__(self, message: str, *, attempts: list[Attempt]):
        super().__init__(message, permanent=True)
        self.attempts = attempts


class FailoverExhausted(ProviderError):
    """Every provider in the chain failed (only possible when the chain does not end offline)."""

    def __init__(self, message: str, *, attempts: list[Attempt]):
        super().__init__(message)
        self.attempts = attempts


def failover_chain(chosen: str, available: Sequence[str]) -> list[str]:
    """The chosen provider, then the other available ones in their order, then offline.
    A chosen provider that is not available (its key was removed since the card was
    queued) is left out rather than called without credentials."""
    if chosen == OFFLINE:  # asked for a draft without AI: no model is called
        return [OFFLINE]
    chain = ([chosen] if chosen in available else []) + [name for name in available if name != chosen]
    return [name for name in chain if name != OFFLINE] + [OFFLINE]


def _outcome(exc: BaseException) -> Outcome:
    if isinstance(exc, InvalidAnswer):
        return Outcome.INVALID_ANSWER
    if is_rate_limit(exc):
        return Outcome.RATE_LIMITED
    if isinstance(exc, ProviderError) and not exc.permanent:
        return Outcome.RETRYABLE_ERROR
    return Outcome.PERMANENT_ERROR


def generate_with_failover(
    card: CardInput,
    *,
    chain: Sequence[str],
    get_provider: Callable[[str], Provider],
    call: Callable[[Callable[[], CardDraft]], CardDraft] = call_with_retry,
    breaker_for: Callable[[str], pybreaker.CircuitBreaker] = get_breaker,
    on_attempt: Callable[[Attempt], None] | None = None,
    ask: Callable[[Provider], CardDraft | SectionDraft] | None = None,
    deadline: float | None = None,
) -> FailoverResult:
    """Draft `card` with the first provider in `chain` that succeeds.

    `call` is the retry policy (call_with_retry with settings' delays by default),
    `breaker_for` gives a provider's circuit breaker. `on_attempt` sees each Attempt as
    soon as it ends, before any retry wait, so the caller can store it even if the job
    is stopped later; its own errors propagate. `ask(provider)` is the request made of each
    provider (default: the whole card; a section regeneration asks for one section).
    Past `deadline` (a time.monotonic() value) no provider and no retry is started, and
    DeadlinePassed is raised: the job's time limit is spent on requests, not thrown away
    after a paid answer arrives.
    """
    if not chain:
        raise ValueError("The failover chain is empty.")
    attempts: list[Attempt] = []
    failed: list[str] = []

    def out_of_time() -> bool:
        return deadline is not None and monotonic() > deadline

    for name in chain:
        if out_of_time():
            raise DeadlinePassed("Czas zadania minął przed uzyskaniem odpowiedzi.", attempts=attempts)
        try:
            provider = get_provider(name)
        except Exception as exc:
            # A provider that cannot even be set up (e.g. Bedrock without a region) is a
            # failed provider like any other: recorded, and the chain moves on.
            if not isinstance(exc, ProviderError):
                logger.exception("provider %s could not be set up", name)
            attempt = Attempt(
                provider=name,
                model="",
                started=datetime.now(UTC),
                latency_ms=0,
                outcome=Outcome.PERMANENT_ERROR,
                error_class=type(exc).__name__,
                error_message=str(exc),
            )
            attempts.append(attempt)
            if on_attempt is not None:
                on_attempt(attempt)
            failed.append(name)
            continue
        breaker = breaker_for(name)

        def request(provider: Provider = provider) -> CardDraft:
            started, clock = datetime.now(UTC), monotonic()
            try:
                draft = ask(provider) if ask is not None else provider.generate_card(card)
            except Exception as exc:
                attempts.append(
                    Attempt(
                        provider=provider.name,
                        model=provider.model,
                        started=started,
                        latency_ms=round((monotonic() - clock) * 1000),
                        outcome=_outcome(exc),
                        error_class=type(exc).__name__,
                        error_message=str(exc),
                    )
                )
                if isinstance(exc, ProviderError):
                    raise
                # A provider bug must not cost the consultant the draft: the next provider
                # (at worst offline) still writes one; the traceback goes to the log.
                logger.exception("provider %s raised an unexpected error", provider.name)
                raise ProviderError(f"{provider.name}: {type(exc).__name__} — {exc}", permanent=True) from exc
            attempts.append(
                Attempt(
                    provider=provider.name,
                    model=draft.model,
                    started=started,
                    latency_ms=round((monotonic() - clock) * 1000),
                    outcome=Outcome.SUCCESS,
                    input_tokens=draft.input_tokens,
                    output_tokens=draft.output_tokens,
                    cached_tokens=draft.cached_tokens,
                )
            )
            return draft

        def guarded(provider: Provider = provider, breaker: pybreaker.CircuitBreaker = breaker) -> CardDraft:
            # on_attempt runs here, outside the breaker: a failing callback must not count
            # as a provider failure.
            if out_of_time():  # checked before each retry too; not a provider failure
                raise DeadlinePassed("Czas zadania minął przed uzyskaniem odpowiedzi.", attempts=attempts)
            before = len(attempts)
            try:
                return breaker.call(request)
            except pybreaker.CircuitBreakerError as exc:
                if len(attempts) == before:  # turned away without a request
                    attempts.append(
                        Attempt(
                            provider=provider.name,
                            model=provider.model,
                            started=datetime.now(UTC),
                            latency_ms=0,
                            outcome=Outcome.BREAKER_OPEN,
                            error_class=type(exc).__name__,
                            error_message=str(exc),
                        )
                    )
                raise
            finally:
                if on_attempt is not None:
                    for attempt in attempts[before:]:
                        on_attempt(attempt)

        try:
            draft = call(guarded)
        except DeadlinePassed:
            raise
        except (ProviderError, pybreaker.CircuitBreakerError) as exc:
            logger.warning("provider %s gave no card (%s); falling back", name, exc)
            failed.append(name)
            continue
        return FailoverResult(draft=draft, attempts=attempts, fell_back_from=failed)

    raise FailoverExhausted(
        f"Żaden dostawca nie przygotował karty ({', '.join(failed)}).",
        attempts=attempts,
    )
