"""Failover anthropic → openai → offline, through the real SDKs against fake servers."""

import datetime
import functools
import threading

import pytest

from cards.fake_llm import FakeLLMServer
from cards.providers.base import CardDraft, CardInput, Provider, ProviderError
from cards.providers.registry import get_provider
from cards.sections import SECTION_KEYS
from resilience.circuit import get_breaker, reset_breakers
from resilience.failover import (
    Attempt,
    DeadlinePassed,
    FailoverExhausted,
    Outcome,
    failover_chain,
    generate_with_failover,
)
from resilience.retry import call_with_retry

CARD = CardInput(
    name="Robot do paletyzacji",
    description="Opis projektu " * 10,
    goal="Skrócenie czasu paletyzacji o 30%.",
    start_date=datetime.date(2024, 1, 1),
    end_date=datetime.date(2024, 12, 31),
    responsible_person="Zofia Kąkol",
)
CHAIN = ["anthropic", "openai", "offline"]


@pytest.fixture(autouse=True)
def _fast_retries_and_breakers_in_memory(settings):
    settings.RNDCARDS_RETRY_DELAYS = (0.001, 0.004)
    settings.REDIS_URL = ""
    reset_breakers()
    yield
    reset_breakers()


def _serve() -> FakeLLMServer:
    server = FakeLLMServer()
    # A short poll interval: shutdown() otherwise waits up to 0.5 s per server.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    return server


@pytest.fixture
def servers(settings):
    """One fake server per provider, so that each can fail on its own."""
    anthropic, openai = _serve(), _serve()
    settings.ANTHROPIC_API_KEY = settings.OPENAI_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = anthropic.url
    settings.OPENAI_BASE_URL = f"{openai.url}/v1"
    settings.AI_REQUEST_TIMEOUT = 5
    yield {"anthropic": anthropic, "openai": openai}
    for server in (anthropic, openai):
        server.shutdown()
        server.server_close()


def outcomes(attempts: list[Attempt]) -> list[tuple[str, str]]:
    return [(attempt.provider, attempt.outcome) for attempt in attempts]


def test_chosen_provider_answers_and_its_usage_is_recorded(servers):
    result = generate_with_failover(CARD, chain=CHAIN, get_provider=get_provider)

    assert result.draft.provider == "anthropic"
    assert list(result.draft.sections) == list(SECTION_KEYS)
    assert result.fell_back_from == [] and not result.degraded
    [attempt] = result.attempts
    assert attempt.outcome == Outcome.SUCCESS == "success"
    assert attempt.model == result.draft.model
    assert attempt.input_tokens == result.draft.input_tokens > 0
    assert attempt.output_tokens == result.draft.output_tokens > 0
    assert attempt.latency_ms >= 0 and attempt.started.tzinfo is not None
    assert len(servers["openai"].recorder.requests) == 0


def test_anthropic_failing_every_time_falls_back_to_openai(servers):
    servers["anthropic"].behaviour.status = 529

    result = generate_with_failover(CARD, chain=CHAIN, get_provider=get_provider)

    assert result.draft.provider == "openai"
    assert result.fell_back_from == ["anthropic"] and result.degraded
    assert outcomes(result.attempts) == [
        ("anthropic", "retryable_error"),
        ("anthropic", "retryable_error"),
        ("anthropic", "retryable_error"),
        ("openai", "success"),
    ]
    assert result.attempts[0].error_class == "ProviderError"
    assert "HTTP 529" in result.attempts[0].error_message
    assert len(servers["anthropic"].recorder.requests) == 3
    assert get_breaker("anthropic").current_state == "open"


def test_both_providers_failing_give_an_honest_offline_draft(servers):
    servers["anthropic"].behaviour.status = 500
    servers["openai"].behaviour.status = 503

    result = generate_with_failover(CARD, chain=CHAIN, get_provider=get_provider)

    assert result.draft.provider == "offline"
    assert result.fell_back_from == ["anthropic", "openai"]
    assert outcomes(result.attempts) == [("anthropic", "retryable_error")] * 3 + [("openai", "retryable_error")] * 3 + [
        ("offline", "success")
    ]


def test_an_open_breaker_skips_the_provider_without_a_request_or_a_wait(servers, settings):
    servers["anthropic"].behaviour.status = 500
    generate_with_failover(CARD, chain=CHAIN, get_provider=get_provider)  # opens anthropic's breaker
    waits = []

    result = generate_with_failover(
        CARD,
        chain=CHAIN,
        get_provider=get_provider,
        call=functools.partial(call_with_retry, on_retry=lambda error, wait, attempt: waits.append(wait)),
    )

    assert result.draft.provider == "openai"
    assert result.fell_back_from == ["anthropic"]
    skipped, answered = result.attempts
    assert (skipped.provider, skipped.outcome, skipped.latency_ms) == ("anthropic", "breaker_open", 0)
    assert skipped.error_class == "CircuitBreakerError"
    assert skipped.model == settings.ANTHROPIC_MODEL
    assert answered.outcome == "success"
    assert len(servers["anthropic"].recorder.requests) == 3
    assert waits == []


def test_a_permanent_error_moves_on_without_a_retry(servers):
    servers["anthropic"].behaviour.status = 401

    result = generate_with_failover(CARD, chain=CHAIN, get_provider=get_provider)

    assert outcomes(result.attempts) == [("anthropic", "permanent_error"), ("openai", "success")]
    assert get_breaker("anthropic").current_state == "closed"  # one failure of three


def test_an_invalid_answer_moves_on_without_a_retry_and_leaves_the_breaker_closed(servers):
    servers["anthropic"].behaviour.invalid_json = True

    for _ in range(3):
        result = generate_with_failover(CARD, chain=CHAIN, get_provider=get_provider)
        assert outcomes(result.attempts) == [("anthropic", "invalid_answer"), ("openai", "success")]

    assert result.attempts[0].error_class == "InvalidAnswer"
    assert get_breaker("anthropic").current_state == "closed"


def test_a_rate_limit_beyond_the_retry_budget_fails_over_at_once(servers):
    servers["anthropic"].behaviour.status = 429
    servers["anthropic"].behaviour.retry_after = 60

    result = generate_with_failover(CARD, chain=CHAIN, get_provider=get_provider)

    assert outcomes(result.attempts) == [("anthropic", "rate_limited"), ("openai", "success")]
    assert get_breaker("anthropic").current_state == "closed"


def test_a_short_rate_limit_is_waited_out_and_retried(servers):
    servers["anthropic"].behaviour.status = 429
    servers["anthropic"].behaviour.retry_after = 0.01

    def recover(error: ProviderError, wait: float, attempt: int) -> None:
        servers["anthropic"].behaviour.status = 200

    result = generate_with_failover(
        CARD, chain=CHAIN, get_provider=get_provider, call=functools.partial(call_with_retry, on_retry=recover)
    )

    assert outcomes(result.attempts) == [("anthropic", "rate_limited"), ("anthropic", "success")]
    assert result.fell_back_from == []


def test_each_attempt_is_reported_as_soon_as_it_ends(servers):
    servers["anthropic"].behaviour.status = 500
    reported: list[Attempt] = []
    seen_before_each_wait: list[int] = []

    def before_wait(error: ProviderError, wait: float, attempt: int) -> None:
        seen_before_each_wait.append(len(reported))

    result = generate_with_failover(
        CARD,
        chain=CHAIN,
        get_provider=get_provider,
        call=functools.partial(call_with_retry, on_retry=before_wait),
        on_attempt=reported.append,
    )

    assert reported == result.attempts
    assert seen_before_each_wait == [1, 2]


class Broken(Provider):
    name, model = "broken", "broken-1"

    def __init__(self, error: Exception):
        self.error = error

    def generate_card(self, card: CardInput) -> CardDraft:
        raise self.error


def test_an_unexpected_provider_exception_still_ends_in_a_draft():
    providers = {"broken": Broken(KeyError("usage")), "offline": get_provider("offline")}

    result = generate_with_failover(CARD, chain=["broken", "offline"], get_provider=providers.__getitem__)

    assert result.draft.provider == "offline"
    assert [(a.provider, a.outcome, a.error_class) for a in result.attempts] == [
        ("broken", "permanent_error", "KeyError"),
        ("offline", "success", ""),
    ]


def test_a_chain_without_offline_that_fails_raises_with_its_attempts():
    providers = {"broken": Broken(ProviderError("broken: HTTP 400 — bad request", permanent=True))}

    with pytest.raises(FailoverExhausted) as caught:
        generate_with_failover(CARD, chain=["broken"], get_provider=providers.__getitem__)

    assert [a.outcome for a in caught.value.attempts] == ["permanent_error"]
    assert isinstance(caught.value, ProviderError)


@pytest.mark.parametrize(
    ("chosen", "available", "chain"),
    [
        ("anthropic", ["anthropic", "openai", "offline"], ["anthropic", "openai", "offline"]),
        ("openai", ["anthropic", "openai", "offline"], ["openai", "anthropic", "offline"]),
        ("openai", ["openai", "offline"], ["openai", "offline"]),
        ("offline", ["anthropic", "openai", "offline"], ["offline"]),
        # Asked for a provider whose key was removed since: it is not called at all.
        ("anthropic", ["openai", "offline"], ["openai", "offline"]),
        ("anthropic", ["offline"], ["offline"]),
    ],
)
def test_failover_chain_puts_the_chosen_provider_first_and_offline_last(chosen, available, chain):
    assert failover_chain(chosen, available) == chain


def test_a_provider_that_cannot_be_set_up_is_recorded_and_skipped(servers):
    seen = []

    def broken_anthropic(name):
        if name == "anthropic":
            raise ProviderError("anthropic (Bedrock): brak regionu AWS", permanent=True)
        return get_provider(name)

    result = generate_with_failover(
        CARD, chain=["anthropic", "openai", "offline"], get_provider=broken_anthropic, on_attempt=seen.append
    )

    assert result.draft.provider == "openai"
    assert result.fell_back_from == ["anthropic"]
    assert [(a.provider, a.outcome) for a in seen] == [("anthropic", "permanent_error"), ("openai", "success")]
    assert "regionu AWS" in seen[0].error_message


def test_no_provider_or_retry_starts_after_the_deadline(servers, monkeypatch):
    clock = {"now": 0.0}
    calls = []

    class Slow:
        name, model = "anthropic", "m"

        def generate_card(self, card):
            calls.append("anthropic")
            clock["now"] = 100.0  # the request took the job's remaining time
            raise ProviderError("HTTP 529", status=529)

    monkeypatch.setattr("resilience.failover.monotonic", lambda: clock["now"])
    with pytest.raises(DeadlinePassed):
        generate_with_failover(
            CARD,
            chain=["anthropic", "openai", "offline"],
            get_provider=lambda name: Slow() if name == "anthropic" else get_provider(name),
            deadline=50.0,
        )
    assert calls == ["anthropic"]  # no retry of anthropic, no openai, no offline draft
