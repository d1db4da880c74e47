"""Structured logs and the request id: from the proxy's header to the worker's log line."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.urls import path

from batches.models import Project
from rndcards.logs import JsonLogFormatter, RequestIdFilter, request_id_var

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _loopback_proxy(settings):
    # As deploy/compose.yaml runs it: a proxy on the same machine, X-Request-ID and
    # X-Forwarded-For believed from loopback only.
    settings.RNDCARDS_TRUSTED_PROXIES = ("127.0.0.1", "::1")


@pytest.fixture
def json_lines():
    """Records of the `cards` and `rndcards` loggers as the production handler writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RequestIdFilter())
    loggers = [logging.getLogger(name) for name in ("cards", "rndcards", "probe")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield read
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def test_json_formatter_writes_one_object_with_time_level_logger_message_and_request_id(json_lines):
    token = request_id_var.set("abcdef0123456789")
    try:
        logging.getLogger("probe").warning('quote " and newline\n and ł', extra={"project_id": 7})
    finally:
        request_id_var.reset(token)

    (line,) = json_lines()
    assert line["level"] == "WARNING"
    assert line["logger"] == "probe"
    assert line["message"] == 'quote " and newline\n and ł'
    assert line["request_id"] == "abcdef0123456789"
    assert line["project_id"] == 7
    assert "time" in line


def test_a_record_outside_any_request_says_dash(json_lines):
    logging.getLogger("probe").info("no request")

    assert json_lines()[0]["request_id"] == "-"


def test_response_carries_a_generated_request_id(client, db):
    first = client.get("/health")["X-Request-ID"]
    second = client.get("/health")["X-Request-ID"]

    assert len(first) == 32 and first != second


def test_a_trusted_proxys_sane_request_id_is_kept(client, db):
    response = client.get("/health", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001", REMOTE_ADDR="127.0.0.1")

    assert response["X-Request-ID"] == "lb-7f3a9c2e-0001"


@pytest.mark.parametrize(
    "offered",
    [
        "short",  # too short to be an id
        "x" * 200,  # too long
        "abc def ghi jkl",  # spaces
        'abcdefgh"}, "level": "CRITICAL',  # JSON injection into log lines
        "abcdefgh\r\nSet-Cookie: x=1",  # header splitting
        "../../etc/passwd",
        "zażółć-gęślą-jaźń",  # not ASCII
    ],
)
def test_an_insane_request_id_is_replaced(client, db, offered):
    response = client.get("/health", HTTP_X_REQUEST_ID=offered, REMOTE_ADDR="127.0.0.1")

    assert response["X-Request-ID"] != offered
    assert len(response["X-Request-ID"]) == 32


def test_a_request_id_from_an_untrusted_client_is_replaced(client, db):
    response = client.get("/health", HTTP_X_REQUEST_ID="spoofed-id-000001", REMOTE_ADDR="203.0.113.9")

    assert response["X-Request-ID"] != "spoofed-id-000001"


def _logging_view(request):
    logging.getLogger("probe").info("inside the view")
    return HttpResponse("ok")


urlpatterns = [path("probe/", _logging_view)]


@pytest.mark.urls(__name__)
def test_log_lines_written_during_a_request_carry_its_id(client, db, json_lines):
    response = client.get("/probe/", HTTP_X_REQUEST_ID="req-from-lb-000042")

    assert response["X-Request-ID"] == "req-from-lb-000042"
    assert [(line["message"], line["request_id"]) for line in json_lines()] == [
        ("inside the view", "req-from-lb-000042")
    ]


def test_a_job_logs_with_the_id_of_the_request_that_queued_it(client, owner, make_batch, worker, json_lines):
    batch = make_batch(owner, projects=2)
    client.force_login(owner)

    response = client.post(
        f"/batches/{batch.pk}/generate/", {"provider": "offline"}, HTTP_X_REQUEST_ID="lb-request-0000abcd"
    )
    worker.join()

    assert response.status_code == 302
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.GENERATED}
    generated = [line for line in json_lines() if line["message"].startswith("project ")]
    assert len(generated) == 2
    assert {line["request_id"] for line in generated} == {"lb-request-0000abcd"}
    assert {line["logger"] for line in generated} == {"cards.services"}


def test_a_job_queued_outside_a_request_logs_without_an_id(owner, make_batch, worker, json_lines):
    from cards import services

    services.batch_generate(batch=make_batch(owner, projects=1), provider="offline")
    worker.join()

    generated = [line for line in json_lines() if line["message"].startswith("project ")]
    assert [line["request_id"] for line in generated] == ["-"]


def test_a_forged_request_id_in_a_message_is_not_restored():
    import dramatiq

    from rndcards.logs import RequestIdDramatiqMiddleware

    middleware = RequestIdDramatiqMiddleware()
    message = dramatiq.Message(
        queue_name="generation", actor_name="x", args=(), kwargs={}, options={"request_id": "bad id\n{}"}
    )
    middleware.before_process_message(None, message)
    try:
        assert request_id_var.get() == ""
    finally:
        middleware.after_process_message(None, message)


def test_logs_are_json_in_production_and_plain_in_the_embedded_default():
    code = "import rndcards.settings as s; print(s.LOG_FORMAT, s.LOGGING['handlers']['console']['formatter'])"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LOG_FORMAT"}}
    embedded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    production = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DATABASE_URL": "postgres://x@127.0.0.1/x", "DJANGO_SECRET_KEY": "k" * 50},
        capture_output=True,
        text=True,
    )

    assert embedded.stdout.split() == ["plain", "plain"], embedded.stderr
    assert production.stdout.split() == ["json", "json"], production.stderr
