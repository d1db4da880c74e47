"""Shared fixtures: a fixed cast of users and a Dramatiq worker the test drives."""

import datetime
import uuid
from pathlib import Path

import dramatiq
import pytest
from django.contrib.auth.models import User

CASES = Path(__file__).resolve().parent / "batches" / "tests" / "data"


@pytest.fixture(scope="session", autouse=True)
def _collected_static(tmp_path_factory):
    """Production settings serve hashed static files from a manifest: build it once, as a
    deployment would (collectstatic), so pages render exactly as they do there."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    if "Manifest" not in settings.STORAGES["staticfiles"]["BACKEND"]:
        yield
        return
    with override_settings(STATIC_ROOT=str(tmp_path_factory.mktemp("static"))):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield


@pytest.fixture(autouse=True)
def _no_embedded_worker(settings, tmp_path):
    # Tests drive workers themselves, and never write into the developer's media folder.
    settings.RNDCARDS_EMBEDDED_WORKER = False
    settings.MEDIA_ROOT = tmp_path / "media"
    # Password hashing is deliberately slow; tests log in often.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Retries wait for real seconds in production; breakers are per process.
    settings.RNDCARDS_RETRY_DELAYS = (0.0, 0.0)
    from resilience.circuit import reset_breakers

    reset_breakers()
    # Redis state (breakers, user slots) of this test only: a prefix no one else uses.
    settings.RNDCARDS_REDIS_PREFIX = f"rndcards-test-{uuid.uuid4().hex[:10]}"
    # The cache of this test only (the Redis one outlives the test database; ids repeat).
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": settings.RNDCARDS_REDIS_PREFIX} for name, config in settings.CACHES.items()
    }


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's test database; the liveness probe's thread keeps a connection to it
    (resilience.health), which must be closed before the database is dropped."""
    yield
    from resilience.health import stop_liveness_probe

    stop_liveness_probe()


@pytest.fixture(scope="session", autouse=True)
def _plain_http(django_test_environment):
    """accounts: production redirects plain HTTP to HTTPS; the test client and the live
    server speak plain HTTP (rndcards/tests/test_headers.py tests the redirect itself).
    For the whole session: the live server reads the setting once, when it starts."""
    from django.test import override_settings

    with override_settings(SECURE_SSL_REDIRECT=False):
        yield


# ---- firms: the cast belongs to firms. owner and colleague work in one firm (colleague sees
# nothing of owner's until a batch is shared with them: `share`); outsider in another firm.


@pytest.fixture
def firm(db):
    from accounts.models import Firm

    return Firm.objects.create(name="Doradztwo B+R Sp. z o.o.")


@pytest.fixture
def other_firm(db):
    from accounts.models import Firm

    return Firm.objects.create(name="Konkurencja Podatkowa S.A.")


@pytest.fixture
def owner(db, firm) -> User:
    from accounts.models import Membership

    user = User.objects.create_user("konsultant", password="Haslo-Testowe-1", first_name="Anna")
    Membership.objects.create(user=user, firm=firm)
    return user


@pytest.fixture
def colleague(db, firm) -> User:
    from accounts.models import Membership

    user = User.objects.create_user("kolega", password="Haslo-Testowe-1", first_name="Piotr", last_name="Kowalski")
    Membership.objects.create(user=user, firm=firm)
    return user


@pytest.fixture
def outsider(db, other_firm) -> User:
    from accounts.models import Membership

    user = User.objects.create_user("obcy", password="Haslo-Testowe-1")
    Membership.objects.create(user=user, firm=other_firm)
    return user


@pytest.fixture
def share(db):
    """share(batch, user): the batch's owner shares it with `user` (a BatchShare row, no checks)."""
    from accounts.models import BatchShare

    def make(batch, user):
        return BatchShare.objects.create(batch=batch, user=user, shared_by=batch.owner)

    return make


@pytest.fixture
def case_bytes():
    def read(name: str) -> bytes:
        return (CASES / name).read_bytes()

    return read


@pytest.fixture
def worker(transactional_db):
    """A real dramatiq.Worker on the configured broker; call .join() to run queued jobs."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()

    class Runner:
        def join(self) -> None:
            broker.join("generation", timeout=60_000)
            worker.join()

    yield Runner()
    worker.stop()
    broker.flush_all()


@pytest.fixture
def make_batch(db):
    """Create a batch with N projects directly (the import path has its own tests)."""
    from batches.models import Batch, Project

    counter = iter(range(1, 10_000))

    def make(owner: User, projects: int = 2, name: str = "Klient Sp. z o.o. — 2024") -> Batch:
        batch = Batch.objects.create(owner=owner, name=name, token=f"tok{next(counter):06d}{owner.pk}")
        for row in range(2, projects + 2):
            Project.objects.create(
                batch=batch,
                row_number=row,
                name=f"System wizyjnej kontroli spoin nr {row}",
                description="Opracowanie metody automatycznej oceny jakości spoin na podstawie obrazu z kamer. " * 3,
                goal="Zmniejszenie odsetka wadliwych spoin niewykrytych w kontroli końcowej do poniżej 1%.",
                start_date=datetime.date(2024, 2, 1),
                end_date=datetime.date(2024, 11, 30),
                responsible_person="Łukasz Żółkiewski",
                extra=[["Koszty wynagrodzeń (PLN)", "150000"]],
            )
        return batch

    return make


@pytest.fixture
def manage_env(transactional_db, settings):
    """Environment for a `manage.py` subprocess that sees this test's database."""
    import os

    from django.db import connection

    env = {**os.environ, "RNDCARDS_EMBEDDED_WORKER": "0", "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["SQLITE_PATH"] = db["NAME"]
        env.pop("DATABASE_URL", None)
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return env


@pytest.fixture
def fake_llm(settings):
    """A fake Anthropic + OpenAI server on a free port, with both SDKs pointed at it."""
    import threading

    from cards.fake_llm import FakeLLMServer

    server = FakeLLMServer()
    # A short poll interval: shutdown() otherwise waits up to 0.5 s.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    settings.ANTHROPIC_API_KEY = settings.OPENAI_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = server.url
    settings.OPENAI_BASE_URL = f"{server.url}/v1"
    settings.AI_REQUEST_TIMEOUT = 5
    settings.AI_IDLE_TIMEOUT = 5
    settings.RNDCARDS_ANTHROPIC_BEDROCK = False  # whatever the developer's environment says
    yield server
    server.shutdown()
    server.server_close()
