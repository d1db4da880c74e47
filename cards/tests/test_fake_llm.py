"""The fake model server: each fault through the real SDK providers, the one repair retry,
timeouts, and control over HTTP and from the command line."""

import contextlib
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cards.fake_llm import FakeLLMServer
from cards.providers.anthropic import AnthropicProvider
from cards.providers.base import CardInput, InvalidAnswer, ProviderError, RefusedAnswer, TruncatedAnswer
from cards.providers.openai import OpenAIProvider
from cards.sections import SECTION_KEYS

CARD = CardInput(
    name="Robot do paletyzacji",
    description="Opis projektu " * 10,
    goal="Skrócenie czasu paletyzacji o 30%.",
    start_date=datetime.date(2024, 1, 1),
    end_date=datetime.date(2024, 12, 31),
    responsible_person="Zofia Kąkol",
)
PROVIDERS = [AnthropicProvider, OpenAIProvider]
ROOT = Path(__file__).resolve().parents[2]


def call(url: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
    """A plain HTTP request to the fake server (GET without a payload, POST with one)."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def statuses(url: str, path: str, count: int) -> list[int]:
    return [call(url, path, {"model": "m", "messages": []})[0] for _ in range(count)]


def last_user_turn(request: dict) -> str:
    return [m["content"] for m in request["body"]["messages"] if m["role"] == "user"][-1]


# (error class, permanent, status, retry_after, requests sent)
FAULTS = {
    "429": (ProviderError, False, 429, 1.0, 1),
    "529": (ProviderError, False, 529, None, 1),
    "500": (ProviderError, False, 500, None, 1),
    "hang": (ProviderError, False, None, None, 1),
    "stream_error": (ProviderError, False, None, None, 1),
    "truncated": (TruncatedAnswer, False, None, None, 2),
    "invalid_json": (InvalidAnswer, False, None, None, 2),
    "refusal": (RefusedAnswer, False, None, None, 1),
}


@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_each_fault_ends_in_the_error_that_tells_the_caller_what_to_do(fake_llm, settings, provider_class, kind):
    error, permanent, status, retry_after, requests = FAULTS[kind]
    settings.AI_IDLE_TIMEOUT = 0.1  # "hang" outlasts it
    fake_llm.configure({provider_class.name: kind})

    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        provider_class().generate_card(CARD)

    assert type(caught.value) is error
    assert (caught.value.permanent, caught.value.status, caught.value.retry_after) == (permanent, status, retry_after)
    assert len(fake_llm.recorder.requests) == requests
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_a_hang_is_a_retryable_timeout_noticed_after_the_idle_timeout(fake_llm, settings, provider_class):
    settings.AI_IDLE_TIMEOUT = 0.1
    fake_llm.configure({"fault": "hang"})

    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        provider_class().generate_card(CARD)

    assert caught.value.permanent is False and "Timeout" in str(caught.value)
    assert 0.1 <= time.monotonic() - started < 1


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_a_stream_that_outlasts_the_request_timeout_is_cut_off(fake_llm, settings, provider_class):
    # Each event arrives well within the idle timeout, but the whole answer takes too long.
    settings.AI_REQUEST_TIMEOUT = 0.1
    fake_llm.configure({"stream_delay": 0.03})

    with pytest.raises(ProviderError) as caught:
        provider_class().generate_card(CARD)

    assert caught.value.permanent is False and "AI_REQUEST_TIMEOUT" in str(caught.value)


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_a_refusal_is_not_retried_and_says_so_in_polish(fake_llm, provider_class):
    fake_llm.configure({"fault": "refusal"})

    with pytest.raises(InvalidAnswer) as caught:
        provider_class().generate_card(CARD)

    assert "Model odmówił przygotowania odpowiedzi" in str(caught.value)
    assert len(fake_llm.recorder.requests) == 1


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_an_invalid_first_answer_is_repaired_by_exactly_one_more_call(fake_llm, provider_class):
    fake_llm.configure({"fault": "invalid_json", "fail_first": 1})

    draft = provider_class().generate_card(CARD)

    assert list(draft.sections) == list(SECTION_KEYS)
    first, second = fake_llm.recorder.requests
    assert [first["fault"], second["fault"]] == ["invalid_json", None]
    # Same system prompt and same first turn (the cache prefix); the repair turn comes after them.
    body_without_repair = {**second["body"], "messages": second["body"]["messages"][:-1]}
    assert body_without_repair == first["body"]
    repair = last_user_turn(second)
    assert repair.startswith("Poprzednia odpowiedź nie nadaje się do użycia:") and "JSON" in repair
    assert "wszystkie osiem sekcji" in repair


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_a_truncated_first_answer_is_asked_for_again_more_briefly(fake_llm, provider_class):
    fake_llm.configure({"fault": "truncated", "fail_first": 1})

    draft = provider_class().generate_card(CARD)

    repair = last_user_turn(fake_llm.recorder.requests[1])
    assert "ucięta" in repair and "zwięźlej" in repair
    # Both calls were paid for, so the draft reports the tokens of both.
    assert draft.output_tokens == fake_llm.recorder.tokens["output"]


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_section_regeneration_gets_one_repair_attempt_too(fake_llm, provider_class):
    sections = {key: f"Treść {key}." for key in SECTION_KEYS}
    fake_llm.configure({"fault": "invalid_json", "fail_first": 1})
    assert provider_class().generate_section(CARD, key="harmonogram", sections=sections).text
    assert "pełna treść sekcji w polu „tekst”" in last_user_turn(fake_llm.recorder.requests[1])

    fake_llm.configure({"fault": "invalid_json"})
    with pytest.raises(InvalidAnswer):
        provider_class().generate_section(CARD, key="harmonogram", sections=sections)
    assert len(fake_llm.recorder.requests) == 4


def test_control_endpoint_fails_one_provider_while_the_other_answers(fake_llm):
    status, config = call(fake_llm.url, "/_control", {"anthropic": {"fault": "529", "ratio": 1.0}, "latency": 0.01})
    assert status == 200 and config["faults"]["anthropic"]["kind"] == "529" and config["latency"] == 0.01

    with pytest.raises(ProviderError) as caught:
        AnthropicProvider().generate_card(CARD)
    draft = OpenAIProvider().generate_card(CARD)

    assert caught.value.status == 529 and draft.sections
    status, stats = call(fake_llm.url, "/_stats")
    assert status == 200
    assert stats["requests"] == {"/v1/messages": 1, "/v1/chat/completions": 1}
    assert stats["providers"] == {"anthropic": 1, "openai": 1}
    assert stats["faults"] == {"529": 1}
    assert stats["max_in_flight"] == 1 and stats["in_flight"] == 0
    assert stats["tokens"]["input"] > 0 and stats["tokens"]["output"] == draft.output_tokens

    assert call(fake_llm.url, "/_control", {"anthropic": None})[1]["faults"] == {}
    assert AnthropicProvider().generate_card(CARD).sections


def test_control_endpoint_rejects_a_bad_message_and_changes_nothing(fake_llm):
    call(fake_llm.url, "/_control", {"fault": "500", "latency": 0})

    for bad in ({"fault": "slow"}, {"ratio": 0.5}, {"openai": {"fault": "529", "ratio": 2}}, {"colour": "red"}):
        status, body = call(fake_llm.url, "/_control", bad)
        assert status == 400, bad
        assert body["error"]["message"]

    assert fake_llm.behaviour.fault.kind == "500" and fake_llm.behaviour.faults == {}


def test_control_reset_clears_faults_and_counts(fake_llm):
    call(fake_llm.url, "/_control", {"fault": "500", "openai": "529"})
    statuses(fake_llm.url, "/v1/messages", 2)

    call(fake_llm.url, "/_control", {"reset": True})

    assert statuses(fake_llm.url, "/v1/messages", 1) == [200]
    assert call(fake_llm.url, "/_stats")[1]["requests"] == {"/v1/messages": 1}


def test_fail_ratio_is_reproducible_for_a_seed(fake_llm):
    fake_llm.configure({"fault": "500", "ratio": 0.3, "seed": 7})
    first = statuses(fake_llm.url, "/v1/messages", 40)
    fake_llm.configure({"fault": "500", "ratio": 0.3, "seed": 7})
    again = statuses(fake_llm.url, "/v1/messages", 40)
    fake_llm.configure({"fault": "500", "ratio": 0.3, "seed": 8})
    other_seed = statuses(fake_llm.url, "/v1/messages", 40)

    assert first == again != other_seed
    assert 4 <= first.count(500) <= 20 and set(first) == {200, 500}


def test_fail_first_fails_that_many_requests_then_succeeds(fake_llm):
    fake_llm.configure({"openai": {"fault": "500", "fail_first": 2}})

    assert statuses(fake_llm.url, "/v1/chat/completions", 4) == [500, 500, 200, 200]
    assert statuses(fake_llm.url, "/v1/messages", 1) == [200]


def test_max_in_flight_counts_concurrent_requests(fake_llm):
    fake_llm.configure({"latency": 0.1})
    threads = [threading.Thread(target=statuses, args=(fake_llm.url, "/v1/messages", 1)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert call(fake_llm.url, "/_stats")[1]["max_in_flight"] == 3


def test_shutdown_ends_a_hanging_request_at_once():
    server = FakeLLMServer()
    server.start_in_thread()
    server.configure({"fault": "hang"})

    def hanging_request():
        with contextlib.suppress(OSError):  # the server hangs up without an answer
            statuses(server.url, "/v1/messages", 1)

    thread = threading.Thread(target=hanging_request)
    thread.start()
    while not server.recorder.requests:
        time.sleep(0.01)

    server.shutdown()
    server.server_close()
    thread.join(2)

    assert not thread.is_alive()


def test_management_command_serves_with_the_faults_it_was_given():
    env = {**os.environ, "RNDCARDS_EMBEDDED_WORKER": "0"}
    command = [sys.executable, "manage.py", "fake_llm", "--port", "0", "--fault", "500", "--fault-ratio", "1"]
    command += ["--provider-fault", "anthropic=529", "--latency", "0.01", "--seed", "3"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("Fake LLM: ANTHROPIC_BASE_URL="), process.stderr.read() if not line else line
        url = line.split("=")[1].split()[0]

        config = call(url, "/_control")[1]
        assert (config["latency"], config["seed"], config["fault"]["kind"]) == (0.01, 3, "500")
        assert statuses(url, "/v1/messages", 1) == [529]
        assert statuses(url, "/v1/chat/completions", 1) == [500]
    finally:
        process.terminate()
        process.wait(5)
        process.stdout.close()
        process.stderr.close()


def test_management_command_rejects_an_unknown_provider():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError):
        call_command("fake_llm", "--port", "0", "--provider-fault", "gemini=500")


def test_a_burst_of_connections_waits_in_the_backlog_instead_of_being_dropped():
    """25 cards of 5 users ask at the same instant. With socketserver's default backlog of 5,
    the connections past it were dropped and the client's SYN was resent a second later: one
    request in each wave of the generation bench took 3 s instead of 2. Nothing accepts here,
    so every connection must find room in the listen queue."""
    import socket

    server = FakeLLMServer()  # not serving: connections stay in the kernel's accept queue
    sockets = []
    try:
        for _ in range(40):
            sock = socket.create_connection(server.server_address[:2], timeout=0.5)
            sockets.append(sock)
    finally:
        for sock in sockets:
            sock.close()
        server.server_close()
    assert len(sockets) == 40
