"""Circuit breakers per provider: when they open, when they let a trial through, where state lives."""

import datetime
import logging
import os
import threading
import uuid
from unittest import mock

import pybreaker
import pytest
import redis
import time_machine

from cards.fake_llm import FakeLLMServer
from cards.providers.anthropic import AnthropicProvider
from cards.providers.base import CardInput, InvalidAnswer, ProviderError
from resilience.circuit import breaker_states, get_breaker, is_rate_limit, new_breaker, reset_breakers

CARD = CardInput(
    name="Robot do paletyzacji",
    description="Opis projektu " * 10,
    goal="Skrócenie czasu paletyzacji o 30%.",
    start_date=datetime.date(2024, 1, 1),
    end_date=datetime.date(2024, 12, 31),
    responsible_person="Zofia Kąkol",
)
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


@pytest.fixture(autouse=True)
def _breakers_in_memory(settings):
    settings.REDIS_URL = ""
    reset_breakers()
    yield
    reset_breakers()


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


@pytest.fixture
def redis_client(settings):
    settings.RNDCARDS_REDIS_PREFIX = "rndcards"  # the production prefix; names below are unique
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # no Redis is a failure here, not a skip
    names = []
    yield client, names
    for name in names:
        for key in client.scan_iter(f"rndcards:breaker:{name}:*"):
            client.delete(key)
    client.close()


def fail(message: str = "anthropic: HTTP 500 — fake failure", **kwargs) -> None:
    raise ProviderError(message, **kwargs)


def failures(breaker: pybreaker.CircuitBreaker, count: int, error: Exception | None = None) -> None:
    for _ in range(count):
        with pytest.raises((ProviderError, pybreaker.CircuitBreakerError)):
            breaker.call(fail) if error is None else breaker.call(mock.Mock(side_effect=error))


def test_three_failed_requests_open_the_breaker_and_the_fourth_is_not_sent(fake_llm):
    fake_llm.behaviour.status = 500
    breaker = get_breaker("anthropic")

    for _ in range(2):
        with pytest.raises(ProviderError):
            breaker.call(AnthropicProvider().generate_card, CARD)
    with pytest.raises(pybreaker.CircuitBreakerError):  # the third failure trips it
        breaker.call(AnthropicProvider().generate_card, CARD)
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(AnthropicProvider().generate_card, CARD)

    assert len(fake_llm.recorder.requests) == 3
    assert breaker_states(["anthropic"]) == {"anthropic": "open"}


def test_a_success_between_failures_starts_the_count_again():
    breaker = get_breaker("anthropic")

    failures(breaker, 2)
    assert breaker.call(lambda: "karta") == "karta"
    failures(breaker, 2)

    assert breaker.current_state == "closed"


def test_after_the_reset_timeout_a_successful_trial_closes_the_breaker(fake_llm):
    fake_llm.behaviour.status = 503
    breaker = get_breaker("anthropic")
    failures(breaker, 3, ProviderError("anthropic: HTTP 503 — unavailable"))

    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=59)):
        assert breaker_states(["anthropic"]) == {"anthropic": "open"}
        with pytest.raises(pybreaker.CircuitBreakerError):
            breaker.call(AnthropicProvider().generate_card, CARD)
    assert fake_llm.recorder.requests == []

    fake_llm.behaviour.status = 200
    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=61)):
        assert breaker_states(["anthropic"]) == {"anthropic": "half-open"}
        draft = breaker.call(AnthropicProvider().generate_card, CARD)

    assert draft.provider == "anthropic"
    assert breaker.current_state == "closed"


def test_a_failed_trial_opens_the_breaker_for_another_reset_timeout():
    breaker = get_breaker("anthropic")
    failures(breaker, 3)

    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=61)):
        with pytest.raises(pybreaker.CircuitBreakerError):
            breaker.call(fail)
        assert breaker.current_state == "open"
        trial = mock.Mock()
        with pytest.raises(pybreaker.CircuitBreakerError):
            breaker.call(trial)

    trial.assert_not_called()


def test_only_one_trial_call_goes_out_while_half_open():
    breaker = get_breaker("anthropic")
    failures(breaker, 3)
    started, release = threading.Event(), threading.Event()

    def slow_trial() -> str:
        started.set()
        release.wait(5)
        return "karta"

    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=61)):
        trial = threading.Thread(target=breaker.call, args=(slow_trial,))
        trial.start()
        assert started.wait(5)
        second = mock.Mock()
        with pytest.raises(pybreaker.CircuitBreakerError):
            breaker.call(second)
        release.set()
        trial.join(5)

    second.assert_not_called()
    assert breaker.current_state == "closed"


def test_requests_through_one_breaker_run_in_parallel():
    # pybreaker's own call() holds a lock for the whole request: both would have to wait.
    breaker = get_breaker("anthropic")
    both_inside = threading.Barrier(2, timeout=5)
    results = []

    def request() -> None:
        both_inside.wait()
        results.append("karta")

    threads = [threading.Thread(target=breaker.call, args=(request,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results == ["karta", "karta"]


@pytest.mark.parametrize(
    "behaviour",
    [{"status": 429, "retry_after": 3}, {"invalid_json": True}],
    ids=["rate-limited", "invalid-answer"],
)
def test_rate_limits_and_invalid_answers_do_not_open_the_breaker(fake_llm, behaviour):
    for key, value in behaviour.items():
        setattr(fake_llm.behaviour, key, value)
    breaker = get_breaker("anthropic")

    for _ in range(5):
        with pytest.raises(ProviderError):
            breaker.call(AnthropicProvider().generate_card, CARD)

    # An invalid answer is asked for once more inside the provider (the repair call).
    per_card = 2 if behaviour.get("invalid_json") else 1
    assert len(fake_llm.recorder.requests) == 5 * per_card
    assert breaker.current_state == "closed"


def test_permanent_errors_count_as_failures():
    breaker = get_breaker("anthropic")

    failures(breaker, 3, ProviderError("anthropic: HTTP 401 — invalid x-api-key", permanent=True))

    assert breaker.current_state == "open"


def test_rate_limit_is_told_by_the_http_status():
    assert is_rate_limit(ProviderError("openai: slow down", status=429, retry_after=2))
    assert not is_rate_limit(ProviderError("openai: HTTP 429 in the text only"))
    assert not is_rate_limit(ProviderError("anthropic: overloaded", status=529))
    assert not is_rate_limit(InvalidAnswer("brak sekcji"))


def test_one_breaker_per_provider_configured_from_settings(settings):
    settings.RNDCARDS_BREAKER_FAIL_MAX = 5
    settings.RNDCARDS_BREAKER_RESET_TIMEOUT = 10

    anthropic = get_breaker("anthropic")

    assert get_breaker("anthropic") is anthropic
    assert get_breaker("openai") is not anthropic
    assert (anthropic.fail_max, anthropic.reset_timeout) == (5, 10)
    failures(anthropic, 4)
    assert breaker_states(["anthropic", "openai"]) == {"anthropic": "closed", "openai": "closed"}


def test_breaker_states_default_to_the_configured_ai_providers(settings):
    settings.ANTHROPIC_API_KEY, settings.OPENAI_API_KEY = "key", ""
    failures(get_breaker("anthropic"), 3)

    assert breaker_states() == {"anthropic": "open"}


@pytest.mark.redis
def test_breaker_state_is_shared_through_redis_between_processes(redis_client):
    client, names = redis_client
    name = f"test-{uuid.uuid4().hex}"
    names.append(name)
    # Two breakers with their own connections stand for two worker processes.
    first = new_breaker(name, redis_client=client)
    other_process = redis.Redis.from_url(REDIS_URL)
    second = new_breaker(name, redis_client=other_process)

    failures(first, 2)
    failures(second, 1)
    request = mock.Mock()
    with pytest.raises(pybreaker.CircuitBreakerError):
        first.call(request)

    request.assert_not_called()
    assert second.current_state == "open"
    assert client.get(f"rndcards:breaker:{name}:pybreaker:state") == b"open"

    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=62)):
        assert second.call(lambda: "karta") == "karta"
    assert first.current_state == "closed"
    other_process.close()


@pytest.mark.redis
def test_get_breaker_keeps_state_in_redis_when_redis_url_is_set(settings, redis_client):
    client, names = redis_client
    settings.REDIS_URL = REDIS_URL
    name = f"test-{uuid.uuid4().hex}"
    names.append(name)

    failures(get_breaker(name), 3)

    assert client.get(f"rndcards:breaker:{name}:pybreaker:state") == b"open"
    reset_breakers()  # a fresh process
    assert breaker_states([name]) == {name: "open"}


def test_unreachable_redis_leaves_breakers_working_in_memory(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"

    with caplog.at_level(logging.WARNING, logger="resilience.circuit"):
        breaker = get_breaker("anthropic")

    assert "Redis unreachable" in caplog.text
    assert breaker.call(lambda: "karta") == "karta"
    failures(breaker, 3)
    assert get_breaker("anthropic").current_state == "open"


@pytest.mark.redis
def test_redis_going_down_later_falls_back_to_a_closed_breaker(settings, redis_client, caplog):
    client, names = redis_client
    settings.REDIS_URL = REDIS_URL
    name = f"test-{uuid.uuid4().hex}"
    names.append(name)
    breaker = get_breaker(name)
    failures(breaker, 3)

    down = redis.ConnectionError("Connection refused")
    with (
        mock.patch.object(redis.Redis, "execute_command", side_effect=down),
        mock.patch.object(redis.Redis, "transaction", side_effect=down),
        caplog.at_level(logging.ERROR),
    ):
        assert breaker.call(lambda: "karta") == "karta"
        assert breaker_states([name]) == {name: "closed"}

    assert "RedisError" in caplog.text
