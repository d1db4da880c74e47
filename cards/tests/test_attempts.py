"""Every model call is recorded; the batch shows its tokens and estimated cost."""

import pytest

from batches.models import Project
from cards import services
from cards.fake_llm import FakeLLMServer


@pytest.fixture
def fake_server(settings):
    server = FakeLLMServer()
    server.start_in_thread()
    settings.ANTHROPIC_API_KEY = settings.OPENAI_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = server.url
    settings.OPENAI_BASE_URL = f"{server.url}/v1"
    settings.AI_REQUEST_TIMEOUT = 5
    settings.AI_PRICES = {"anthropic": (3.0, 0.3, 15.0), "openai": (1.0, 0.1, 10.0), "offline": (0.0, 0.0, 0.0)}
    yield server
    server.shutdown()
    server.server_close()


def _generate(project, provider):
    Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED, requested_provider=provider)
    services.project_generate(project_id=project.pk)


def test_each_call_is_recorded_with_tokens_and_the_batch_shows_its_cost(fake_server, make_batch, owner, client):
    batch = make_batch(owner, projects=2)
    first, second = batch.projects.order_by("row_number")

    _generate(first, "anthropic")
    _generate(second, "anthropic")

    attempts = list(batch.projects.model.objects.get(pk=second.pk).attempts.all())
    assert [(a.provider, a.outcome) for a in attempts] == [("anthropic", "success")]
    assert attempts[0].cached_tokens > 0  # the system prompt was served from the cache
    assert attempts[0].prompt_version and attempts[0].latency_ms >= 0
    usage = services.batch_usage(batch=batch)
    expected = (usage["input_tokens"] * 3.0 + usage["cached_tokens"] * 0.3 + usage["output_tokens"] * 15.0) / 1e6
    assert usage["input_tokens"] > 0 and usage["cost_usd"] == pytest.approx(expected)

    client.force_login(owner)
    html = client.get(batch.get_absolute_url()).content.decode()
    assert "szacowany koszt" in html


def test_anthropic_failing_every_time_the_card_comes_from_openai_and_says_so(fake_server, make_batch, owner):
    project = make_batch(owner, projects=1).projects.get()
    fake_server.behaviour.status = 529
    real_anthropic_only = fake_server.RequestHandlerClass.do_POST

    def fail_only_anthropic(handler):
        fake_server.behaviour.status = 529 if handler.path.endswith("/messages") else 200
        return real_anthropic_only(handler)

    fake_server.RequestHandlerClass.do_POST = fail_only_anthropic
    try:
        _generate(project, "anthropic")
    finally:
        fake_server.RequestHandlerClass.do_POST = real_anthropic_only

    project.refresh_from_db()
    assert project.provider == "openai"
    assert "Claude (Anthropic) nie odpowiedział poprawnie" in project.error_message
    outcomes = list(project.attempts.order_by("started_at", "pk").values_list("provider", "outcome"))
    assert outcomes == [("anthropic", "retryable_error")] * 3 + [("openai", "success")]


def test_admin_lists_attempts_read_only(admin_client, make_batch, owner, fake_server):
    project = make_batch(owner, projects=1).projects.get()
    _generate(project, "openai")
    attempt = project.attempts.get()

    assert admin_client.get("/admin/cards/generationattempt/").status_code == 200
    assert admin_client.get("/admin/cards/generationattempt/add/").status_code == 403
    assert "szacowany koszt" in admin_client.get(f"/admin/batches/batch/{project.batch_id}/change/").content.decode()
    assert admin_client.post(f"/admin/cards/generationattempt/{attempt.pk}/change/", {}).status_code == 403
