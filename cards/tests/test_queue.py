"""Queue discipline on a real worker: per-user concurrency, duplicates, time limit, stuck work."""

import contextlib
import datetime

import dramatiq
import pytest
from django.core.management import call_command

from batches.models import Project
from cards import services
from cards.fake_llm import FakeLLMServer
from cards.tasks import enqueue_generation


@pytest.fixture
def fake_server(settings):
    server = FakeLLMServer()
    server.start_in_thread()
    settings.ANTHROPIC_API_KEY = settings.OPENAI_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = server.url
    settings.OPENAI_BASE_URL = f"{server.url}/v1"
    settings.AI_REQUEST_TIMEOUT = 10
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def wide_worker(transactional_db):
    """A worker with more threads than the per-user limit, so only the limit can hold it."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=10, worker_timeout=50)
    worker.start()
    yield lambda: (broker.join("generation", timeout=60_000), worker.join())
    worker.stop()
    broker.flush_all()


def test_at_most_five_generations_of_one_user_run_at_once(fake_server, wide_worker, make_batch, owner, colleague):
    fake_server.behaviour.latency = 0.4
    mine = make_batch(owner, projects=12)

    services.batch_generate(batch=mine, provider="anthropic")
    wide_worker()

    assert set(mine.projects.values_list("status", flat=True)) == {Project.Status.GENERATED}
    assert fake_server.recorder.max_in_flight == 5
    assert len(fake_server.recorder.requests) == 12


def test_another_users_cards_do_not_wait_for_the_first_users_limit(
    fake_server, wide_worker, make_batch, owner, colleague
):
    fake_server.behaviour.latency = 0.4
    services.batch_generate(batch=make_batch(owner, projects=8), provider="anthropic")
    services.batch_generate(batch=make_batch(colleague, projects=3), provider="anthropic")
    wide_worker()

    assert fake_server.recorder.max_in_flight == 8
    assert not Project.objects.exclude(status=Project.Status.GENERATED).exists()


def test_a_message_delivered_twice_makes_one_card(fake_server, wide_worker, make_batch, owner):
    project = make_batch(owner, projects=1).projects.get()
    Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED, requested_provider="anthropic")

    enqueue_generation(project.pk)
    enqueue_generation(project.pk)
    wide_worker()

    project.refresh_from_db()
    assert project.status == Project.Status.GENERATED
    assert project.sections.count() == 8
    assert project.attempts.count() == 1 and len(fake_server.recorder.requests) == 1


def test_a_job_past_its_time_limit_leaves_the_project_retryable(fake_server, wide_worker, make_batch, owner, settings):
    settings.RNDCARDS_JOB_TIME_LIMIT = 1
    fake_server.configure({"latency": 1.5, "anthropic": {"fault": "529"}})
    project = make_batch(owner, projects=1).projects.get()

    services.project_regenerate(project=project, provider="anthropic")
    wide_worker()

    project.refresh_from_db()
    assert project.status == Project.Status.GENERATION_TIMEOUT
    assert "zbyt długo" in project.error_message
    assert project.status in Project.STARTABLE
    # Once the time was up nothing more was asked: no retry, no other provider.
    assert len(fake_server.recorder.requests) == 1
    assert list(project.attempts.values_list("provider", "outcome")) == [("anthropic", "retryable_error")]


def test_an_answer_that_arrives_just_past_the_time_limit_is_kept(fake_server, wide_worker, make_batch, owner, settings):
    # The request started in time and was paid for: throwing the card away would waste it.
    settings.RNDCARDS_JOB_TIME_LIMIT = 1
    fake_server.behaviour.latency = 1.5
    project = make_batch(owner, projects=1).projects.get()

    services.project_regenerate(project=project, provider="anthropic")
    wide_worker()

    project.refresh_from_db()
    assert project.status == Project.Status.GENERATED and project.provider == "anthropic"


def test_requeue_stuck_requeues_only_old_queued_or_generating_work(
    make_batch, owner, django_capture_on_commit_callbacks, capsys
):
    batch = make_batch(owner, projects=4)
    old = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    rows = list(batch.projects.order_by("row_number"))
    Project.objects.filter(pk=rows[0].pk).update(status=Project.Status.QUEUED, queued_at=old)
    Project.objects.filter(pk=rows[1].pk).update(status=Project.Status.GENERATING, started_at=old, claim_token="x")
    Project.objects.filter(pk=rows[2].pk).update(
        status=Project.Status.GENERATING, started_at=datetime.datetime.now(datetime.UTC)
    )
    Project.objects.filter(pk=rows[3].pk).update(status=Project.Status.GENERATED, queued_at=old)

    with django_capture_on_commit_callbacks() as callbacks:
        call_command("requeue_stuck", "--older-than", "30")

    assert "Ponownie w kolejce: 2." in capsys.readouterr().out
    assert len(callbacks) == 1  # one send of both messages, after the commit
    statuses = dict(batch.projects.values_list("pk", "status"))
    assert statuses[rows[0].pk] == statuses[rows[1].pk] == Project.Status.QUEUED
    assert statuses[rows[2].pk] == Project.Status.GENERATING
    assert statuses[rows[3].pk] == Project.Status.GENERATED


def test_requeue_stuck_in_the_embedded_mode_runs_the_jobs_before_it_exits(
    make_batch, owner, settings, capsys, transactional_db
):
    # Without a broker the queue lives in the command's own process: exiting at once
    # would lose the requeued jobs.
    from rndcards import worker

    settings.RNDCARDS_EMBEDDED_WORKER = True
    batch = make_batch(owner, projects=2)
    old = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    batch.projects.update(status=Project.Status.GENERATING, started_at=old, requested_provider="offline")
    try:
        call_command("requeue_stuck", "--older-than", "30", "--timeout", "60")
    finally:
        worker.stop()

    assert "czekam na koniec" in capsys.readouterr().out
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.GENERATED}


def test_user_slots_are_separate_mutexes_up_to_the_limit(settings, owner):
    from contextlib import ExitStack

    from cards.tasks import user_slot

    settings.RNDCARDS_USER_CONCURRENCY = 3
    with ExitStack() as held:
        assert [held.enter_context(user_slot(owner.pk)) for _ in range(3)] == [True, True, True]
        with user_slot(owner.pk) as fourth:
            assert fourth is False
        with user_slot(owner.pk + 1) as other_user:
            assert other_user is True
    with user_slot(owner.pk) as again:
        assert again is True


def test_a_stale_job_cannot_mark_a_project_that_was_claimed_again(make_batch, owner):
    project = make_batch(owner, projects=1).projects.get()
    Project.objects.filter(pk=project.pk).update(status=Project.Status.GENERATING, claim_token="new-message:abc")

    services.project_mark(
        project_id=project.pk, status=Project.Status.GENERATION_TIMEOUT, message="x", message_id="old-message"
    )

    assert Project.objects.get(pk=project.pk).status == Project.Status.GENERATING


def test_a_freed_slot_starts_the_next_waiting_card_without_waiting_for_its_poll(
    fake_server, wide_worker, make_batch, owner, monkeypatch
):
    from cards import tasks

    # Delayed messages (the waiting cards' polls) are dropped: only the hand-over of a freed
    # slot can start cards 6 and 7.
    send = tasks.enqueue_generation
    dropped = []

    def without_polls(project_id, *, delay_ms=None, kicked=False):
        if delay_ms is None:
            send(project_id, kicked=kicked)
        else:
            dropped.append(project_id)

    monkeypatch.setattr(tasks, "enqueue_generation", without_polls)
    fake_server.behaviour.latency = 0.3
    batch = make_batch(owner, projects=7)

    services.batch_generate(batch=batch, provider="anthropic")
    wide_worker()

    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.GENERATED}
    assert fake_server.recorder.max_in_flight == 5
    assert len(fake_server.recorder.requests) == 7
    assert len(dropped) >= 2  # cards 6 and 7 were sent delayed, and those messages never came


def test_a_kick_that_loses_the_slot_race_leaves_the_project_to_its_own_poll(make_batch, owner, monkeypatch):
    from cards import tasks

    project = make_batch(owner, projects=1).projects.get()
    Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED)
    sent = []
    monkeypatch.setattr(tasks, "enqueue_generation", lambda pid, **kw: sent.append((pid, kw)))
    monkeypatch.setattr(tasks, "user_slot", lambda owner_id: contextlib.nullcontext(False))

    assert tasks.kick_next_waiting(owner.pk) == project.pk
    tasks.generate_project.fn(project.pk, kicked=True)
    assert sent == [(project.pk, {"kicked": True})]  # the kick, but no second poll chain
    # ... and the project can be handed the next freed slot.
    assert tasks.kick_next_waiting(owner.pk) == project.pk
    sent.clear()

    tasks.generate_project.fn(project.pk)
    assert sent == [(project.pk, {"delay_ms": tasks.SLOT_RETRY_DELAY_MS})]


def test_jobs_ending_together_hand_their_slots_to_different_cards(make_batch, owner, monkeypatch):
    from cards import tasks

    batch = make_batch(owner, projects=4)
    batch.projects.update(status=Project.Status.QUEUED)
    sent = []
    monkeypatch.setattr(tasks, "enqueue_generation", lambda pid, **kw: sent.append(pid))

    picked = [tasks.kick_next_waiting(owner.pk) for _ in range(5)]

    rows = list(batch.projects.order_by("row_number").values_list("pk", flat=True))
    assert picked == [*rows, None] and sent == rows


def test_a_kick_for_a_card_already_taken_passes_the_slot_to_the_next_card(make_batch, owner, monkeypatch):
    from cards import tasks

    taken, waiting = make_batch(owner, projects=2).projects.order_by("row_number")
    Project.objects.filter(pk=taken.pk).update(status=Project.Status.GENERATING)
    Project.objects.filter(pk=waiting.pk).update(status=Project.Status.QUEUED)
    sent = []
    monkeypatch.setattr(tasks, "enqueue_generation", lambda pid, **kw: sent.append((pid, kw)))

    tasks.generate_project.fn(taken.pk, kicked=True)

    assert sent == [(waiting.pk, {"kicked": True})]


def test_only_as_many_cards_as_may_run_are_sent_at_once(make_batch, owner, monkeypatch, settings):
    from cards import tasks

    settings.RNDCARDS_USER_CONCURRENCY = 2
    sent = []
    monkeypatch.setattr(tasks, "enqueue_generation", lambda pid, **kw: sent.append((pid, kw)))

    tasks.enqueue_generations([11, 12, 13, 14])

    later = {"delay_ms": tasks.SLOT_RETRY_DELAY_MS}
    assert sent == [(11, {"delay_ms": None}), (12, {"delay_ms": None}), (13, later), (14, later)]
