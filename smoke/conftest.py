"""Where the smoke tests point their browser.

SMOKE_BASE_URL set (`make smoke BASE_URL=https://…`): a deployment. The tests then only
use the browser and HTTP — no test database — and log in as SMOKE_USER / SMOKE_PASSWORD,
an account that must exist there (`manage.py create_demo_user --username smoke`).

SMOKE_BASE_URL unset (`make test`): pytest-django's live server in this process, a real
Dramatiq worker on the configured broker (in-memory, or Redis on the production stack)
consuming the jobs the pages queue, and a consultant created for the run.
"""

import dataclasses
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rndcards.tests.chromium import chromium

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "reports" / "smoke"
LOCAL_PASSWORD = "Smoke-Haslo-2024"


@dataclasses.dataclass(frozen=True)
class Target:
    url: str
    username: str
    password: str
    local: bool  # our own live server: the test may also look at the database and the outbox
    provider: str  # which model "Generuj wszystkie" uses; offline costs nothing
    generation_timeout_ms: int


def _timeout_ms() -> int:
    raw = os.environ.get("SMOKE_GENERATION_TIMEOUT", "120")
    try:
        return int(float(raw) * 1000)
    except ValueError:
        pytest.fail(f"SMOKE_GENERATION_TIMEOUT must be seconds, got {raw!r}")


def deployment_url() -> str:
    return os.environ.get("SMOKE_BASE_URL", "").strip().rstrip("/")


def pytest_collection_modifyitems(config, items):
    # Our own server needs a (transactional: the server thread must see it) test database;
    # a deployment needs none, and pytest-django creates none for tests without the mark.
    if deployment_url():
        return
    for item in items:
        if item.get_closest_marker("smoke"):
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(scope="session")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def target(request) -> Target:
    provider = os.environ.get("SMOKE_PROVIDER", "offline")
    base_url = deployment_url()
    if base_url:
        username, password = os.environ.get("SMOKE_USER", ""), os.environ.get("SMOKE_PASSWORD", "")
        if not base_url.startswith(("http://", "https://")) or not username or not password:
            pytest.fail(
                "Against a deployment the smoke tests need BASE_URL=http(s)://…, SMOKE_USER and SMOKE_PASSWORD "
                "(an existing account: manage.py create_demo_user --username smoke on that deployment)."
            )
        return Target(base_url, username, password, False, provider, _timeout_ms())
    # Our own server: live_server (+ a fresh database per test) and a real worker.
    request.getfixturevalue("worker")
    live_server = request.getfixturevalue("live_server")
    settings = request.getfixturevalue("settings")
    # The live server answers /static/ through the staticfiles finders, which know files
    # by their source names, not the hashed names of the production manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.RNDCARDS_SITE_URL = live_server.url
    # The live server adds its host to ALLOWED_HOSTS once per session; the per-test
    # settings overrides undo that after the first test (production settings allow none).
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, urlsplit(live_server.url).hostname]
    from django.contrib.auth.models import User

    User.objects.create_user("smoke", password=LOCAL_PASSWORD, email="smoke@example.pl", first_name="Smoke")
    return Target(live_server.url, "smoke", LOCAL_PASSWORD, True, provider, _timeout_ms())


@pytest.fixture
def context(browser, target):
    context = browser.new_context(base_url=target.url, accept_downloads=True, locale="pl-PL")
    context.errors = []  # every response >= 400 the pages got: a smoke test wants none
    context.on("response", lambda r: context.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    yield context
    context.close()


@pytest.fixture
def shot():
    """shot(page, "01-login") saves a full-page screenshot to reports/smoke/01-login.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
