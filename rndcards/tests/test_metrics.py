"""/metrics: what it shows, and to whom."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cards.models import GenerationAttempt

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _loopback_proxy(settings):
    # As deploy/compose.yaml runs it: a proxy on the same machine, X-Request-ID and
    # X-Forwarded-For believed from loopback only.
    settings.RNDCARDS_TRUSTED_PROXIES = ("127.0.0.1", "::1")


def scrape(client, **extra) -> dict:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def samples(family, name: str, **labels) -> list:
    return [s for s in family.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def value(families, family: str, sample: str, **labels) -> float:
    if family not in families:
        return 0.0
    return sum(s.value for s in samples(families[family], sample, **labels))


def test_latency_histogram_and_status_counts_are_labelled_by_route_not_path(client, owner, make_batch):
    batch = make_batch(owner, projects=1)
    project = batch.projects.get()
    client.force_login(owner)
    before = scrape(client)

    client.get(f"/batches/{batch.pk}/")
    client.get(f"/projects/{project.pk}/")
    client.get(f"/projects/{project.pk + 999}/")  # someone else's or missing: 404
    client.get("/health")
    client.get("/no/such/page/")
    after = scrape(client)

    def delta(sample, **labels):
        return value(after, *sample, **labels) - value(before, *sample, **labels)

    latency = ("rndcards_http_request_duration_seconds", "rndcards_http_request_duration_seconds_count")
    responses = ("rndcards_http_responses", "rndcards_http_responses_total")
    assert delta(latency, route="/batches/<int:pk>/", method="GET") == 1
    assert delta(latency, route="/projects/<int:pk>/", method="GET") == 2
    assert delta(responses, route="/projects/<int:pk>/", status="200") == 1
    assert delta(responses, route="/projects/<int:pk>/", status="404") == 1
    assert delta(responses, route="/health", status="200") == 1
    assert delta(responses, route="<unmatched>", status="404") == 1
    # Buckets up to +Inf, with the route as a label; no raw path (with its id) anywhere.
    buckets = samples(
        after["rndcards_http_request_duration_seconds"],
        "rndcards_http_request_duration_seconds_bucket",
        route="/batches/<int:pk>/",
    )
    assert {s.labels["le"] for s in buckets} >= {"0.5", "2.0", "+Inf"}
    routes = {s.labels.get("route") for family in after.values() for s in family.samples}
    assert not any(str(batch.pk) in (route or "") for route in routes)
    # Scrapes themselves are not counted as traffic.
    assert "/metrics" not in routes


def test_generation_attempts_are_counted_by_provider_and_outcome(owner, make_batch, worker, client):
    from cards import services

    before = scrape(client)
    services.batch_generate(batch=make_batch(owner, projects=2), provider="offline")
    worker.join()
    after = scrape(client)

    assert GenerationAttempt.objects.filter(provider="offline", outcome="success").count() == 2
    name = ("rndcards_generation_attempts", "rndcards_generation_attempts_total")
    assert (
        value(after, *name, provider="offline", outcome="success")
        - value(before, *name, provider="offline", outcome="success")
        == 2
    )
    duration = ("rndcards_generation_attempt_duration_seconds", "rndcards_generation_attempt_duration_seconds_count")
    assert value(after, *duration, provider="offline") - value(before, *duration, provider="offline") == 2


def test_queue_depth_is_read_from_the_broker_at_scrape_time(owner, make_batch, transactional_db, client):
    import dramatiq

    from cards import services

    broker = dramatiq.get_broker()
    broker.flush_all()
    try:
        services.batch_generate(batch=make_batch(owner, projects=3), provider="offline")  # no worker runs them
        families = scrape(client)
    finally:
        broker.flush_all()

    assert value(families, "rndcards_queue_depth", "rndcards_queue_depth", queue="generation") == 3
    assert value(families, "rndcards_queue_depth_up", "rndcards_queue_depth_up") == 1


def test_a_broker_that_is_away_gives_queue_depth_up_0_not_an_error(client, db, monkeypatch):
    def away():
        raise ConnectionError("broker away")

    monkeypatch.setattr("rndcards.metrics.queue_depths", away)
    families = scrape(client)

    assert value(families, "rndcards_queue_depth_up", "rndcards_queue_depth_up") == 0
    assert "rndcards_http_request_duration_seconds" in families


@pytest.mark.parametrize("remote", ["203.0.113.7", "10.0.0.5", "::ffff:8.8.8.8", "not-an-ip", ""])
def test_metrics_are_404_for_an_address_not_allowed(client, db, remote):
    response = client.get("/metrics", REMOTE_ADDR=remote)

    assert response.status_code == 404
    assert b"rndcards_" not in response.content


def test_a_public_client_behind_a_trusted_proxy_gets_404(client, db):
    # The proxy is on loopback, which is allowed: the forwarded client decides.
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")

    assert response.status_code == 404


def test_a_forged_forwarded_for_from_an_untrusted_client_does_not_open_metrics(client, db):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="127.0.0.1")

    assert response.status_code == 404


def test_a_configured_network_is_allowed(client, db, settings):
    import ipaddress

    settings.RNDCARDS_METRICS_ALLOWED_IPS = [ipaddress.ip_network("10.0.0.0/8")]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_the_bearer_token_opens_metrics_from_anywhere(client, db, settings):
    settings.RNDCARDS_METRICS_TOKEN = TOKEN

    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wrong-token-wrong-token-0000",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer ",
        "Bearer zażółć",
        "",
    ],
)
def test_a_wrong_token_is_404(client, db, settings, header):
    settings.RNDCARDS_METRICS_TOKEN = TOKEN

    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION=header).status_code == 404


def test_without_a_configured_token_no_bearer_opens_metrics(client, db, settings):
    settings.RNDCARDS_METRICS_TOKEN = ""

    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_refuse_post(client, db):
    # An allowed address learns the method is wrong; anyone else sees no page at all.
    assert client.post("/metrics").status_code == 405
    assert client.post("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404


def test_the_token_can_come_from_a_file(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", "import rndcards.settings as s; print(s.RNDCARDS_METRICS_TOKEN)"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "RNDCARDS_METRICS_TOKEN_FILE": str(secret)},
        capture_output=True,
        text=True,
    )

    assert result.stdout.strip() == TOKEN, result.stderr
