"""The production path: messages on a real Redis broker, run by `manage.py rundramatiq`
worker processes, against the fake model server."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dramatiq.brokers.redis import RedisBroker

from batches.models import Project
from cards.fake_llm import FakeLLMServer
from cards.models import GenerationAttempt
from cards.tasks import generate_project

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"

pytestmark = pytest.mark.redis


class Workers:
    """Worker processes on a private Redis namespace; messages enqueued from the test."""

    def __init__(self, env: dict[str, str]):
        self.namespace = f"rndcards-test-{uuid.uuid4().hex[:8]}"
        self.broker = RedisBroker(url=REDIS_URL, namespace=self.namespace)
        self.broker.client.ping()  # a missing Redis is a failure here, not a skip
        self.broker.declare_queue("generation")
        self.env = {
            **env,
            "DRAMATIQ_BROKER_URL": REDIS_URL,
            "REDIS_URL": REDIS_URL,
            "DRAMATIQ_NAMESPACE": self.namespace,
            "RNDCARDS_RETRY_DELAYS": "0,0",
            "RNDCARDS_REDIS_PREFIX": self.namespace,
        }
        self.processes: list[subprocess.Popen] = []

    def start(self, threads: int = 4) -> subprocess.Popen:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "rundramatiq",
                "--processes",
                "1",
                "--threads",
                str(threads),
                "--skip-logging",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def enqueue(self, projects) -> None:
        for project in projects:
            Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED)
            self.broker.enqueue(generate_project.message(project.pk))

    def kill(self, process: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        return process.communicate(timeout=30)[0].decode(errors="replace")

    def close(self) -> list[str]:
        outputs = [self.kill(p) for p in self.processes if p.returncode is None]
        self.broker.flush_all()
        for key in self.broker.client.scan_iter(f"{self.namespace}*"):
            self.broker.client.delete(key)
        return outputs


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def workers(manage_env):
    group = Workers(manage_env)
    yield group
    outputs = group.close()
    assert not any("Traceback" in out for out in outputs), outputs


@pytest.fixture
def fake_server(workers):
    server = FakeLLMServer()
    server.start_in_thread()
    workers.env.update(
        ANTHROPIC_API_KEY="test-key",
        OPENAI_API_KEY="test-key",
        ANTHROPIC_BASE_URL=server.url,
        OPENAI_BASE_URL=f"{server.url}/v1",
        AI_REQUEST_TIMEOUT="20",
        AI_IDLE_TIMEOUT="20",
    )
    yield server
    server.shutdown()
    server.server_close()


def test_rundramatiq_worker_generates_cards_from_the_redis_queue(workers, make_batch, owner):
    batch = make_batch(owner, projects=2)
    batch.projects.update(requested_provider="offline")
    workers.start()
    workers.enqueue(batch.projects.all())

    assert wait_until(lambda: not batch.projects.exclude(status=Project.Status.GENERATED).exists(), 60)
    assert all(p.sections.count() == 8 for p in batch.projects.all())


def test_two_worker_processes_hold_one_users_limit_of_five(workers, fake_server, make_batch, owner):
    fake_server.behaviour.latency = 0.5
    batch = make_batch(owner, projects=20)
    batch.projects.update(requested_provider="anthropic")
    workers.start(threads=8)
    workers.start(threads=8)
    workers.enqueue(batch.projects.all())

    assert wait_until(lambda: not batch.projects.exclude(status=Project.Status.GENERATED).exists(), 90)
    assert fake_server.recorder.max_in_flight == 5
    assert set(batch.projects.values_list("provider", flat=True)) == {"anthropic"}


@pytest.mark.parametrize(
    ("failing", "expected_provider"),
    [({"anthropic"}, "openai"), ({"anthropic", "openai"}, "offline")],
    ids=["anthropic-down", "both-down"],
)
def test_a_batch_completes_without_a_consultant_when_providers_fail(
    workers, fake_server, make_batch, owner, failing, expected_provider
):
    real_post = fake_server.RequestHandlerClass.do_POST

    def failing_post(handler):
        provider = "anthropic" if handler.path.endswith("/messages") else "openai"
        fake_server.behaviour.status = 529 if provider in failing else 200
        return real_post(handler)

    fake_server.RequestHandlerClass.do_POST = failing_post
    batch = make_batch(owner, projects=6)
    batch.projects.update(requested_provider="anthropic")
    workers.start(threads=4)
    try:
        workers.enqueue(batch.projects.all())
        assert wait_until(lambda: not batch.projects.exclude(status=Project.Status.GENERATED).exists(), 90)
    finally:
        fake_server.RequestHandlerClass.do_POST = real_post

    assert set(batch.projects.values_list("provider", flat=True)) == {expected_provider}
    # The breaker opened after three failed requests: later cards skipped anthropic at once.
    attempts = GenerationAttempt.objects.filter(project__batch=batch, provider="anthropic")
    assert attempts.filter(outcome="breaker_open").exists()
    assert attempts.exclude(outcome="breaker_open").count() < 6 * 3


def test_a_job_lost_with_a_killed_worker_runs_again_on_another_worker(workers, fake_server, make_batch, owner):
    fake_server.behaviour.latency = 8
    project = make_batch(owner, projects=1).projects.get()
    Project.objects.filter(pk=project.pk).update(requested_provider="anthropic")
    first = workers.start(threads=2)
    workers.enqueue([project])
    assert wait_until(lambda: Project.objects.get(pk=project.pk).status == Project.Status.GENERATING, 30)
    first_start = Project.objects.get(pk=project.pk).started_at

    workers.kill(first, signal.SIGKILL)
    killed_at = time.monotonic()
    fake_server.behaviour.latency = 0
    workers.start(threads=2)
    # The broker gives the dead worker's message to the new one (heartbeat 15 s); the
    # message recognises its own claim and takes the project over.
    done = wait_until(lambda: Project.objects.get(pk=project.pk).status == Project.Status.GENERATED, 45)
    elapsed = time.monotonic() - killed_at

    project.refresh_from_db()
    assert done, f"still {project.status} {elapsed:.0f} s after the kill"
    assert project.started_at != first_start
    assert project.sections.count() == 8
