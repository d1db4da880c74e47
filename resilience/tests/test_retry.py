"""The retry policy: which errors are retried, how long it waits, when it gives up."""

import datetime
import threading
import time

import pybreaker
import pytest

from cards.fake_llm import FakeLLMServer
from cards.providers.anthropic import AnthropicProvider
from cards.providers.base import CardInput, InvalidAnswer, ProviderError
from resilience.retry import call_with_retry

CARD = CardInput(
    name="Robot do paletyzacji",
    description="Opis projektu " * 10,
    goal="Skrócenie czasu paletyzacji o 30%.",
    start_date=datetime.date(2024, 1, 1),
    end_date=datetime.date(2024, 12, 31),
    responsible_person="Zofia Kąkol",
)


class Flaky:
    """A call that raises the given errors in turn, then answers."""

    def __init__(self, *errors: Exception, answer: str = "karta"):
        self.errors = list(errors)
        self.answer = answer
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.answer


@pytest.fixture
def sleeps(monkeypatch, settings):
    """Record the waits instead of sleeping them (backoff sleeps through time.sleep),
    with the production schedule (the suite's conftest shortens it for everyone else)."""
    settings.RNDCARDS_RETRY_DELAYS = (1.0, 4.0)
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def transient(retry_after: float | None = None) -> ProviderError:
    return ProviderError("anthropic: HTTP 529 — overloaded", retry_after=retry_after)


def test_transient_errors_are_tried_three_times_waiting_1_then_4_seconds(sleeps):
    call = Flaky(transient(), transient(), transient())

    with pytest.raises(ProviderError):
        call_with_retry(call)

    assert call.calls == 3
    assert sleeps == [1.0, 4.0]


def test_delays_and_budget_are_read_from_settings_at_call_time(settings, sleeps):
    settings.RNDCARDS_RETRY_DELAYS = (0.5,)
    settings.RNDCARDS_RETRY_MAX_TIME = 10
    call = Flaky(transient(), transient())

    with pytest.raises(ProviderError):
        call_with_retry(call)

    assert call.calls == 2
    assert sleeps == [0.5]


def test_answer_after_a_retry_is_returned(sleeps):
    call = Flaky(transient(), answer="karta")

    assert call_with_retry(call) == "karta"
    assert call.calls == 2
    assert sleeps == [1.0]


def test_retry_after_longer_than_the_delay_is_waited_instead(sleeps):
    call = Flaky(transient(retry_after=7), transient(retry_after=2))

    call_with_retry(call)

    assert sleeps == [7.0, 4.0]


def test_retry_after_beyond_the_budget_gives_up_at_once(sleeps):
    call = Flaky(transient(retry_after=60))

    with pytest.raises(ProviderError) as caught:
        call_with_retry(call, max_time=30)

    assert caught.value.retry_after == 60
    assert call.calls == 1
    assert sleeps == []


def test_time_spent_in_requests_counts_against_the_budget():
    def slow_failure() -> None:
        slow_failure.calls += 1
        time.sleep(0.05)
        raise transient()

    slow_failure.calls = 0

    with pytest.raises(ProviderError):
        call_with_retry(slow_failure, delays=(0.001, 0.001), max_time=0.04)

    assert slow_failure.calls == 1


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("anthropic: HTTP 401 — invalid x-api-key", permanent=True),
        InvalidAnswer("W odpowiedzi modelu brakuje sekcji: koszty."),
        pybreaker.CircuitBreakerError("circuit breaker anthropic is open"),
        ValueError("a bug"),
    ],
    ids=["permanent", "invalid-answer", "breaker-open", "other-exception"],
)
def test_errors_that_a_retry_cannot_fix_are_raised_from_the_first_attempt(sleeps, error):
    call = Flaky(error)

    with pytest.raises(type(error)) as caught:
        call_with_retry(call)

    assert caught.value is error
    assert call.calls == 1
    assert sleeps == []


def test_on_retry_hears_the_error_the_wait_and_the_failed_attempt_number(sleeps):
    first, second = transient(), transient(retry_after=6)
    heard = []

    call_with_retry(Flaky(first, second), on_retry=lambda *args: heard.append(args))

    assert heard == [(first, 1.0, 1), (second, 6.0, 2)]


def test_no_delays_means_a_single_attempt(sleeps):
    call = Flaky(transient())

    with pytest.raises(ProviderError):
        call_with_retry(call, delays=())

    assert call.calls == 1


@pytest.fixture
def fake_llm(settings):
    server = FakeLLMServer()
    # A short poll interval: shutdown() otherwise waits up to 0.5 s.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = server.url
    settings.AI_REQUEST_TIMEOUT = 5
    yield server
    server.shutdown()
    server.server_close()


def test_rate_limited_request_waits_for_the_servers_retry_after(fake_llm):
    fake_llm.behaviour.status = 429
    fake_llm.behaviour.retry_after = 0.05
    waits = []

    def server_recovers(error: ProviderError, wait: float, attempt: int) -> None:
        waits.append(wait)
        fake_llm.behaviour.status = 200

    started = time.monotonic()
    draft = call_with_retry(
        lambda: AnthropicProvider().generate_card(CARD), delays=(0.001, 0.004), on_retry=server_recovers
    )

    assert draft.sections["nazwa_projektu"] == "Robot do paletyzacji"
    assert waits == [0.05]
    assert time.monotonic() - started >= 0.05
    assert len(fake_llm.recorder.requests) == 2
