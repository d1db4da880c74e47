"""The production path: a message on a real Redis broker, run by `manage.py rundramatiq`."""

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
from cards.tasks import generate_project

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


@pytest.mark.redis
def test_rundramatiq_worker_generates_a_card_from_the_redis_queue(manage_env, make_batch, owner):
    batch = make_batch(owner, projects=2)
    Project.objects.filter(batch=batch).update(status=Project.Status.QUEUED, requested_provider="offline")
    namespace = f"rndcards-test-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(url=REDIS_URL, namespace=namespace)
    broker.client.ping()  # a missing Redis is a failure here, not a skip
    broker.declare_queue("generation")
    for project in batch.projects.all():
        broker.enqueue(generate_project.message(project.pk))

    env = {**manage_env, "DRAMATIQ_BROKER_URL": REDIS_URL, "DRAMATIQ_NAMESPACE": namespace}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2", "--skip-logging"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if not batch.projects.exclude(status=Project.Status.GENERATED).exists():
                break
            time.sleep(0.3)
        statuses = set(batch.projects.values_list("status", flat=True))
        assert statuses == {Project.Status.GENERATED}, (statuses, worker.poll())
        assert all(p.sections.count() == 8 for p in batch.projects.all())
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
        broker.flush_all()
        for key in broker.client.scan_iter(f"{namespace}*"):
            broker.client.delete(key)
    assert "Traceback" not in output, output
