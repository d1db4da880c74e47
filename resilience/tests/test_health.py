"""The health report, /health, /health/detailed (and /api/…), the banner, the healthcheck command."""

import json
import threading

import pybreaker
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.utils import OperationalError

from cards.providers.base import ProviderError
from resilience import health
from resilience.tests.conftest import free_port

DETAILED_URLS = ["/health/detailed", "/api/health/detailed"]
LIVENESS_URLS = ["/health", "/api/health"]


@pytest.mark.parametrize("url", LIVENESS_URLS)
def test_health_answers_healthy(client, db, url):
    response = client.get(url)

    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


@pytest.mark.parametrize("url", LIVENESS_URLS)
def test_health_reports_an_unreachable_database_as_503(client, db, url, monkeypatch):
    def down():
        raise OperationalError("connection to server at 10.1.2.3 failed: password authentication failed")

    monkeypatch.setattr(health, "check_database", down)

    response = client.get(url)

    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": "unavailable"}


@pytest.mark.parametrize("url", LIVENESS_URLS + DETAILED_URLS + ["/health/banner"])
def test_health_endpoints_refuse_post(client, db, url):
    assert client.post(url).status_code == 405


@pytest.mark.parametrize("url", DETAILED_URLS)
def test_detailed_report_with_everything_up_is_healthy(client, db, url, settings):
    """Both CI runs: the embedded default (no Redis, in-process broker) and the production
    stack (PostgreSQL, Redis cache and broker)."""
    response = client.get(url)

    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "healthy"
    assert set(report["checks"]) == {"database", "redis", "storage", "broker", "ai", "rate_limiting"}
    assert report["checks"]["rate_limiting"]["status"] == "ok"
    assert report["checks"]["database"]["status"] == "ok"
    assert report["checks"]["redis"]["status"] == ("ok" if settings.REDIS_URL else "not_configured")
    assert report["checks"]["storage"] == {**report["checks"]["storage"], "status": "ok", "backend": "local"}
    broker = "in-process" if settings.DRAMATIQ_BROKER_URL == "stub" else "redis"
    assert report["checks"]["broker"] == {**report["checks"]["broker"], "status": "ok", "backend": broker}
    assert report["checks"]["database"]["engine"] == connection.vendor
    assert report["checks"]["ai"]["providers"]["anthropic"] == {
        "configured": False,
        "breaker": None,
        "status": "not_configured",
    }
    features = {feature["key"]: feature for feature in report["features"]}
    assert features["upload"]["available"] and features["export"]["available"]
    assert features["offline_drafts"]["available"]
    assert not features["ai_generation"]["available"]
    assert features["ai_generation"]["reason"] == "Nie skonfigurowano dostawcy AI."
    assert features["rate_limiting"]["available"] is True  # per process without Redis
    assert report["limitations"] == []


def test_detailed_report_shows_each_configured_providers_breaker(client, db, settings):
    from resilience.circuit import get_breaker

    settings.ANTHROPIC_API_KEY = settings.OPENAI_API_KEY = "sk-secret-key-123"
    breaker = get_breaker("openai")
    for _ in range(settings.RNDCARDS_BREAKER_FAIL_MAX):
        with pytest.raises((ProviderError, pybreaker.CircuitBreakerError)):
            breaker.call(_fail)

    report = client.get("/health/detailed").json()

    providers = report["checks"]["ai"]["providers"]
    assert providers["anthropic"] == {"configured": True, "breaker": "closed", "status": "ok"}
    assert providers["openai"] == {"configured": True, "breaker": "open", "status": "unavailable"}
    assert report["status"] == "degraded"
    assert report["limitations"] == ["GPT (OpenAI) chwilowo niedostępny — karty pisze inny dostawca."]
    assert {f["key"]: f["available"] for f in report["features"]}["ai_generation"] is True


def _fail():
    raise ProviderError("boom")


def test_detailed_report_holds_no_secrets_or_exception_texts(client, db, settings):
    # Everything pointed at dead ports, with credentials in the URLs.
    dead = free_port()
    settings.REDIS_URL = f"redis://:redis-password-xyz@127.0.0.1:{dead}/0"
    settings.ANTHROPIC_API_KEY = "sk-ant-secret-abc"
    from resilience.tests.conftest import s3_storages

    settings.STORAGES = s3_storages(f"http://127.0.0.1:{dead}", "bucket-name-secret")

    response = client.get("/health/detailed")

    text = response.content.decode()
    assert response.json()["status"] == "degraded"
    for secret in (
        "redis-password-xyz",
        "sk-ant-secret",
        "testing-secret",
        "bucket-name-secret",
        str(dead),
        "127.0.0.1",
    ):
        assert secret not in text
    assert response.json()["checks"]["redis"]["detail"] == "Redis nie odpowiada."


def test_a_check_that_hangs_is_reported_unavailable_within_the_timeout(db, settings, monkeypatch):
    settings.RNDCARDS_HEALTH_TIMEOUT = 1
    release = threading.Event()

    def hangs():
        release.wait(30)
        return health.Check(health.OK, "late")

    monkeypatch.setitem(health.CHECKS, "storage", hangs)
    try:
        report = health.health_report()
    finally:
        release.set()

    assert report["checks"]["storage"]["status"] == "unavailable"
    assert report["checks"]["storage"]["detail"] == "Magazyn plików nie odpowiada. (brak odpowiedzi w 1 s)"
    assert report["checks"]["database"]["status"] == "ok"  # the others still answered
    assert report["status"] == "degraded"


def test_a_dead_database_makes_the_report_critical_and_detailed_503(client, db, monkeypatch):
    def down():
        raise OperationalError("could not connect to server at db.internal:5432")

    monkeypatch.setitem(health.CHECKS, "database", down)

    response = client.get("/health/detailed")

    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "critical"
    assert all(not f["available"] for f in report["features"] if f["key"] != "rate_limiting")
    assert "db.internal" not in response.content.decode()
    assert report["limitations"][0].startswith("System chwilowo niedostępny")


def test_the_report_is_reused_for_a_few_seconds(db, settings, monkeypatch):
    settings.RNDCARDS_HEALTH_CACHE_SECONDS = 60
    calls = []
    original = health.CHECKS["database"]
    monkeypatch.setitem(health.CHECKS, "database", lambda: calls.append(1) or original())

    first = health.cached_health_report()
    second = health.cached_health_report()

    assert first is second
    assert len(calls) == 1
    health.forget_cached_report()
    health.cached_health_report()
    assert len(calls) == 2


# --- the banner --------------------------------------------------------------------------


def test_every_page_has_the_banner_element_polled_every_30_s(client, owner):
    client.force_login(owner)

    page = client.get("/").content.decode()

    assert 'id="degraded-banner"' in page
    assert 'hx-get="/health/banner"' in page
    assert 'hx-trigger="load, every 30s"' in page
    assert "<script>" not in page and " style=" not in page  # CSP: no inline script or style


def test_the_login_page_has_the_banner_too(client, db):
    assert 'hx-get="/health/banner"' in client.get("/login/").content.decode()


def test_banner_is_empty_when_healthy(client, db):
    response = client.get("/health/banner", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response.content.decode().strip() == ""


def test_banner_lists_what_is_limited_in_polish(client, db, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    text = client.get("/health/banner", HTTP_HX_REQUEST="true").content.decode()

    assert "Ograniczone działanie systemu" in text
    assert "Redis niedostępny: brak limitów zapytań" in text
    assert "<script" not in text and "style=" not in text


# --- the healthcheck command ----------------------------------------------------------------


def test_healthcheck_healthy_exits_0(db, capsys):
    call_command("healthcheck")

    out = capsys.readouterr().out
    assert "Stan: sprawny (healthy)" in out
    assert "Przesyłanie arkuszy: dostępne" in out


def test_healthcheck_json_is_the_detailed_report(db, capsys):
    call_command("healthcheck", "--json")

    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "healthy"
    assert set(report) == {"status", "checked_at", "checks", "features", "limitations"}


def test_healthcheck_degraded_warns_exits_0_and_1_with_strict(db, settings, capsys):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    call_command("healthcheck")
    captured = capsys.readouterr()
    assert "ograniczone działanie (degraded)" in captured.out
    assert "redis      NIEDOSTĘPNE" in captured.out
    assert "Uwaga: system działa w trybie ograniczonym" in captured.err

    with pytest.raises(SystemExit) as exit_info:
        call_command("healthcheck", "--strict")
    assert exit_info.value.code == 1


def test_healthcheck_exits_2_when_the_database_is_dead(manage_env, tmp_path):
    """A real process pointed at a database that cannot be opened."""
    import subprocess
    import sys

    env = {**manage_env, "SQLITE_PATH": str(tmp_path / "no-such-dir" / "db.sqlite3")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "healthcheck", "--json"],
        env=env,
        cwd=settings_dir(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "critical"
    assert report["checks"]["database"]["status"] == "unavailable"


def settings_dir():
    from django.conf import settings

    return settings.BASE_DIR


@pytest.mark.parametrize("url", LIVENESS_URLS + DETAILED_URLS)
def test_health_answers_head_for_load_balancers(client, db, url):
    assert client.head(url).status_code == 200


def test_health_ignores_hostile_query_strings(client, db):
    response = client.get("/health/detailed?status=critical&__proto__=x&<script>=1")

    assert response.status_code == 200
    assert "<script>" not in response.content.decode()


# --- liveness: one long-lived probe thread with its own connection ----------------------------


@pytest.fixture
def persistent_connections(monkeypatch):
    """As in production (DATABASE_CONN_MAX_AGE=60); the embedded default's SQLite has 0."""
    from django.db import connections

    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 60)


def test_liveness_probes_reuse_one_database_connection(db, monkeypatch, persistent_connections):
    from django.db.backends.base.base import BaseDatabaseWrapper

    health.stop_liveness_probe()
    connects = []
    original = BaseDatabaseWrapper.connect

    def counting(self):
        connects.append(threading.current_thread().name)
        return original(self)

    monkeypatch.setattr(BaseDatabaseWrapper, "connect", counting)
    for _ in range(5):
        assert health.database_alive(timeout=5)
    assert connects == ["health-liveness"]


def test_a_liveness_probe_that_hangs_is_abandoned_and_the_next_one_starts_afresh(db, monkeypatch):
    health.stop_liveness_probe()
    release = threading.Event()
    real = health.check_database

    def hangs():
        release.wait(10)
        return real()

    monkeypatch.setattr(health, "check_database", hangs)
    assert health.database_alive(timeout=0.2) is False
    monkeypatch.setattr(health, "check_database", real)
    try:
        assert health.database_alive(timeout=5) is True  # a new thread, not queued behind the stuck one
    finally:
        release.set()


def test_an_abandoned_liveness_probe_ends_its_thread_once_its_stuck_check_returns(db, monkeypatch):
    """Each probe that timed out must not leave a thread (and its database connection) for good."""
    health.stop_liveness_probe()
    release = threading.Event()
    real = health.check_database

    def hangs():
        release.wait(10)
        return real()

    monkeypatch.setattr(health, "check_database", hangs)
    assert health.database_alive(timeout=0.2) is False
    abandoned = [t for t in threading.enumerate() if t.name == "health-liveness"]
    assert len(abandoned) == 1
    release.set()
    abandoned[0].join(5)
    assert not abandoned[0].is_alive()


def test_a_liveness_probe_whose_connection_broke_reconnects(db, monkeypatch, persistent_connections):
    from django.db import connections

    health.stop_liveness_probe()
    assert health.database_alive(timeout=5)
    real = health.check_database

    def closed_underneath():
        connections["default"].connection.close()  # as when the database server restarts
        return real()

    monkeypatch.setattr(health, "check_database", closed_underneath)
    # PostgreSQL (CONN_HEALTH_CHECKS) replaces the dead connection before the query and still
    # answers; SQLite's probe fails once. Either way the next probe has a working connection.
    health.database_alive(timeout=5)
    monkeypatch.setattr(health, "check_database", real)
    assert health.database_alive(timeout=5) is True
    assert health.database_alive(timeout=5) is True
