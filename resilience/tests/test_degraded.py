"""Degraded mode, every row of DESIGN.md's table, each with the dependency really taken away:
the fake model server failing, a web process on a dead database, S3 on a dead port, the
test's own Redis server killed (and brought back), the job broker killed (and brought back)."""

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.urls import reverse

from batches.models import Batch, Project
from cards.services import QUEUE_DOWN_MESSAGE
from resilience.health import health_report
from resilience.tests import journeys
from resilience.tests.conftest import free_port

# --- AI providers down ------------------------------------------------------------------------


def test_ai_providers_down_upload_view_edit_export_and_offline_drafts_still_work(
    client, owner, case_bytes, fake_llm, worker, settings
):
    # Both providers answer every request with 529 (overloaded): retries, breakers, failover.
    fake_llm.configure({"fault": "529", "ratio": 1.0})
    client.force_login(owner)

    batch = journeys.upload_ok(client, case_bytes("projekty-demo.xlsx"))
    projects = journeys.generate_all(client, batch, worker, provider="anthropic")

    assert {p.status for p in projects} == {Project.Status.GENERATED}
    assert {p.provider for p in projects} == {"offline"}  # honest drafts made without AI
    assert all(p.quality_score is not None for p in projects)  # scoring is rule-based, no AI needed
    journeys.view_and_edit(client, projects[0])
    journeys.export_both(client, batch)
    assert "Generowanie AI chwilowo niedostępne — powstają szkice offline" in journeys.banner(client)
    report = health_report()
    features = {f["key"]: f["available"] for f in report["features"]}
    assert report["status"] == "degraded"
    assert features == {
        "upload": True,
        "view_edit": True,
        "export": True,
        "ai_generation": False,
        "offline_drafts": True,
        # Redis is up in the production-stack run; without it the limiter counts per process.
        "rate_limiting": True,
    }
    assert {name: p["breaker"] for name, p in report["checks"]["ai"]["providers"].items()} == {
        "anthropic": "open",
        "openai": "open",
    }


# --- database down ----------------------------------------------------------------------------

WSGI_SERVER = """
import os, sys
from wsgiref.simple_server import WSGIRequestHandler, make_server
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rndcards.settings")
from rndcards.wsgi import application
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
server = make_server("127.0.0.1", int(sys.argv[1]), application, handler_class=Quiet)
print("ready", flush=True)
server.serve_forever()
"""


def _dead_database_env(kind: str, tmp_path) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "AWS_"))}
    env.update(
        {
            "RNDCARDS_EMBEDDED_WORKER": "0",
            "DJANGO_DEBUG": "0",
            "DRAMATIQ_BROKER_URL": "stub",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    if kind == "postgresql":
        # Nothing listens on this port: the connection is refused at once.
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{free_port()}/rndcards"
        env["DJANGO_SECRET_KEY"] = "ci-only-secret-key-not-for-production-use-0123456789"
        # Production settings redirect plain HTTP to HTTPS; this test speaks plain HTTP.
        env["DJANGO_SECURE_SSL_REDIRECT"] = "0"
    else:
        env["SQLITE_PATH"] = str(tmp_path / "no-such-directory" / "db.sqlite3")
    return env


def _get(url: str, cookie: str = "") -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_web_process_on_a_dead_database_shows_system_unavailable_and_health_503(tmp_path, kind):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", WSGI_SERVER, str(port)],
        env=_dead_database_env(kind, tmp_path),
        cwd=django_settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        base = f"http://127.0.0.1:{port}"

        status, _, body = _get(f"{base}/health")
        assert (status, json.loads(body)) == (503, {"status": "unhealthy", "database": "unavailable"})

        status, _, body = _get(f"{base}/api/health/detailed")
        assert status == 503 and json.loads(body)["status"] == "critical"

        # A logged-in consultant (a session cookie) opening the dashboard: the session
        # lookup needs the database.
        status, headers, body = _get(f"{base}/", cookie="sessionid=abcdefghijklmnopqrstuvwxyz012345")
        assert status == 503
        assert headers["Retry-After"] == "60"
        assert "System chwilowo niedostępny" in body
        assert "Twoje partie, karty i zapisane zmiany są bezpieczne" in body
        assert "<script" not in body and "<style" not in body and "style=" not in body
        assert "Traceback" not in body and "OperationalError" not in body

        status, _, body = _get(f"{base}/health/banner")
        assert status == 200 and "System chwilowo niedostępny" in body
    finally:
        process.kill()
        process.wait(timeout=10)


def test_database_errors_inside_a_request_get_the_503_page_not_a_500(client, owner, monkeypatch):
    """The same page through the test client: a query failing mid-request with the
    database gone (the test database itself is left alone)."""
    from django.db.utils import OperationalError

    client.raise_request_exception = False
    client.force_login(owner)

    def gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Batch.objects, "filter", gone)

    response = client.get("/")

    assert response.status_code == 503
    assert "System chwilowo niedostępny" in response.content.decode()


def test_other_errors_still_get_the_500_page(client, owner, monkeypatch):
    client.raise_request_exception = False
    client.force_login(owner)
    monkeypatch.setattr(Batch.objects, "filter", lambda *a, **k: 1 / 0)

    response = client.get("/")

    assert response.status_code == 500
    assert "Coś poszło nie tak" in response.content.decode()


# --- file storage down --------------------------------------------------------------------------


def test_storage_down_generation_viewing_editing_export_work_upload_says_so_and_saves_nothing(
    client, owner, case_bytes, s3, worker
):
    client.force_login(owner)
    batch = journeys.upload_ok(client, case_bytes("projekty-demo.xlsx"))
    keys_before = s3.keys()

    s3.point_at(f"http://127.0.0.1:{free_port()}")  # the store's endpoint: nothing listens there

    response = journeys.upload(client, case_bytes("projekty-demo.xlsx"), name="Partia w czasie awarii")
    page = response.content.decode()
    assert response.status_code == 503
    assert "Nie możemy teraz zapisać pliku: magazyn plików jest chwilowo niedostępny" in page
    assert "Nic nie zostało zapisane — prześlij ten sam plik ponownie za kilka minut" in page
    assert 'value="Partia w czasie awarii"' in page  # what the user typed is kept in the form
    assert Batch.objects.count() == 1 and Project.objects.count() == 5  # nothing half-created

    projects = journeys.generate_all(client, batch, worker)
    assert {p.status for p in projects} == {Project.Status.GENERATED}
    journeys.view_and_edit(client, projects[0])
    journeys.export_both(client, batch)
    assert "Pliki chwilowo niedostępne: przesyłanie arkuszy wstrzymane" in journeys.banner(client)
    features = {f["key"]: f["available"] for f in health_report()["features"]}
    assert features["upload"] is False and features["export"] is True and features["view_edit"] is True

    s3.point_at(s3.endpoint)  # the store is back
    assert journeys.banner(client).strip() == ""
    journeys.upload_ok(client, case_bytes("projekty-demo.xlsx"))
    assert s3.keys() != keys_before and len(s3.keys()) == 2  # and nothing from the failed upload


def test_local_media_folder_not_writable_upload_says_so(client, owner, case_bytes, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.MEDIA_ROOT = blocker / "media"  # works even for root, unlike chmod
    client.force_login(owner)

    response = journeys.upload(client, case_bytes("projekty-demo.xlsx"))

    assert response.status_code == 503
    assert "magazyn plików jest chwilowo niedostępny" in response.content.decode()
    assert not Batch.objects.exists()
    assert "Pliki chwilowo niedostępne" in journeys.banner(client)


def test_import_command_says_in_polish_that_storage_is_down(owner, case_bytes, settings, tmp_path):
    from django.core.management.base import CommandError

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    settings.MEDIA_ROOT = blocker / "media"
    path = tmp_path / "projekty.xlsx"
    path.write_bytes(case_bytes("projekty-demo.xlsx"))

    with pytest.raises(CommandError, match="magazyn plików jest chwilowo niedostępny"):
        call_command("import_batch", str(path), "--user", owner.username)
    assert not Batch.objects.exists()


# --- Redis down ----------------------------------------------------------------------------------


def test_redis_down_core_features_work_banner_says_so_and_clears_when_back(
    client, owner, case_bytes, redis_settings, make_batch
):
    from cards.tests.factories import generate_now

    client.force_login(owner)
    existing = make_batch(owner, projects=2)
    for project in existing.projects.all():
        generate_now(project)
    assert journeys.banner(client).strip() == ""

    redis_settings.stop()

    batch = journeys.upload_ok(client, case_bytes("projekty-demo.xlsx"))
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.get(reverse("batch_detail", args=[batch.pk])).status_code == 200
    journeys.view_and_edit(client, existing.projects.first())
    journeys.export_both(client, existing)
    text = journeys.banner(client)
    assert "Redis niedostępny: brak limitów zapytań" in text
    report = health_report()
    assert report["status"] == "degraded" and report["checks"]["redis"]["status"] == "unavailable"
    assert {f["key"]: f["available"] for f in report["features"]}["rate_limiting"] is False

    redis_settings.start()

    assert journeys.banner(client).strip() == ""
    assert health_report()["checks"]["redis"]["status"] == "ok"


def test_cards_queued_while_redis_is_down_are_generated_when_it_is_back(
    client, owner, redis_settings, make_batch, worker, monkeypatch
):
    """The per-user generation slots live in Redis: without it a job waits (it looks
    again every 5 s) instead of failing, and the card is written once Redis is back."""
    import threading

    from cards import tasks

    waited = threading.Event()
    send = tasks.enqueue_generation

    def spy(project_id, *, delay_ms=None, kicked=False):
        if delay_ms == 5000:  # the "Redis is away, look again in 5 s" path
            waited.set()
        send(project_id, delay_ms=delay_ms, kicked=kicked)

    monkeypatch.setattr(tasks, "enqueue_generation", spy)
    client.force_login(owner)
    batch = make_batch(owner, projects=2)
    redis_settings.stop()

    response = client.post(reverse("batch_generate", args=[batch.pk]), {"provider": "offline"})

    assert response.status_code == 302
    assert waited.wait(30), "the worker never met the missing Redis"
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.QUEUED}

    redis_settings.start()
    worker.join()

    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.GENERATED}


# --- the job broker down, and the cards it refused resumed ------------------------------------------


@pytest.fixture
def own_broker(redis_settings, settings, monkeypatch):
    """A Dramatiq Redis broker on the test's Redis server, carrying the generation messages."""
    import dramatiq
    from django.utils.module_loading import import_string
    from dramatiq.brokers.redis import RedisBroker

    from cards import tasks

    middleware = [import_string(path)() for path in django_settings.DRAMATIQ_BROKER["MIDDLEWARE"]]
    broker = RedisBroker(
        url=redis_settings.url,
        namespace=f"{settings.RNDCARDS_REDIS_PREFIX}-broker",
        middleware=middleware,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )
    broker.declare_actor(tasks.generate_project)
    monkeypatch.setattr(tasks.generate_project, "broker", broker)
    settings.DRAMATIQ_BROKER_URL = redis_settings.url  # what the health report checks
    broker.flush_all()

    class Own:
        server = redis_settings

        def run_jobs(self) -> None:
            worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
            worker.start()
            try:
                broker.join("generation", timeout=60_000)
                worker.join()
            finally:
                worker.stop()

    yield Own()
    if redis_settings.process is not None:
        broker.flush_all()
    broker.close()


def test_cards_refused_by_a_dead_broker_resume_with_requeue_stuck_when_it_is_back(
    transactional_db, client, owner, make_batch, own_broker, capsys
):
    client.force_login(owner)
    batch = make_batch(owner, projects=3)
    own_broker.server.stop()

    response = client.post(reverse("batch_generate", args=[batch.pk]), {"provider": "offline"}, follow=True)

    assert "Kolejka zadań jest chwilowo niedostępna" in response.content.decode()
    assert set(batch.projects.values_list("status", "error_message")) == {(Project.Status.FAILED, QUEUE_DOWN_MESSAGE)}
    assert "Kolejka zadań niedostępna" in journeys.banner(client)
    call_command("requeue_stuck")  # still down: they stay failed and retryable
    assert "Kolejka zadań nadal niedostępna: czeka kart: 3" in capsys.readouterr().err
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.FAILED}

    own_broker.server.start()
    call_command("requeue_stuck")

    assert "Wznowione po awarii kolejki: 3." in capsys.readouterr().out
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.QUEUED}
    own_broker.run_jobs()
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.GENERATED}
    assert journeys.banner(client).strip() == ""


def test_requeue_leaves_other_failures_and_approved_cards_alone(owner, make_batch):
    from cards.services import projects_requeue_unsent

    batch = make_batch(owner, projects=3)
    first, second, third = batch.projects.order_by("row_number")
    Project.objects.filter(pk=first.pk).update(status=Project.Status.FAILED, error_message="Dostawca odmówił.")
    Project.objects.filter(pk=second.pk).update(
        status=Project.Status.FAILED, error_message=QUEUE_DOWN_MESSAGE, review_status=Project.Review.APPROVED
    )
    Project.objects.filter(pk=third.pk).update(status=Project.Status.FAILED, error_message=QUEUE_DOWN_MESSAGE)

    resumed, unsent = projects_requeue_unsent()

    assert (resumed, unsent) == ([third.pk], 0)
    assert dict(batch.projects.values_list("pk", "status")) == {
        first.pk: Project.Status.FAILED,
        second.pk: Project.Status.FAILED,
        third.pk: Project.Status.QUEUED,
    }
