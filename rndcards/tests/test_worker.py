"""The embedded worker: work lost with an earlier process is requeued, nothing else."""

import datetime

from batches.models import Project
from rndcards import worker


def test_recovery_requeues_only_work_from_before_this_process(make_batch, owner, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr("cards.tasks.enqueue_generation", lambda pk: sent.append(pk))
    batch = make_batch(owner, projects=4)
    before = worker.PROCESS_STARTED - datetime.timedelta(minutes=5)
    after = worker.PROCESS_STARTED + datetime.timedelta(seconds=1)
    rows = list(batch.projects.order_by("row_number"))
    Project.objects.filter(pk=rows[0].pk).update(status=Project.Status.QUEUED, queued_at=before)
    Project.objects.filter(pk=rows[1].pk).update(status=Project.Status.GENERATING, queued_at=before, started_at=before)
    Project.objects.filter(pk=rows[2].pk).update(status=Project.Status.QUEUED, queued_at=after)  # ours
    Project.objects.filter(pk=rows[3].pk).update(status=Project.Status.GENERATED, queued_at=before)

    assert worker.recover_lost_jobs() == 2

    assert sorted(sent) == sorted([rows[0].pk, rows[1].pk])
    assert Project.objects.get(pk=rows[1].pk).status == Project.Status.QUEUED


def test_embedded_worker_does_not_start_when_disabled(settings):
    settings.RNDCARDS_EMBEDDED_WORKER = False
    worker.ensure_started()
    assert worker._worker is None


def test_workers_prefetch_no_more_messages_than_they_have_threads(transactional_db):
    import dramatiq

    started = dramatiq.Worker(dramatiq.get_broker(), worker_threads=3, worker_timeout=50)
    started.start()
    try:
        assert started.queue_prefetch == 3
        assert {
            consumer.consumer.prefetch
            for consumer in started.consumers.values()
            if not consumer.queue_name.endswith(".DQ")
        } == {3}
    finally:
        started.stop()


def test_a_worker_process_builds_its_model_clients_at_boot(settings):
    from cards.providers import anthropic as anthropic_provider
    from cards.providers import openai as openai_provider

    settings.ANTHROPIC_API_KEY = "boot-test-anthropic-key"
    settings.OPENAI_API_KEY = "boot-test-openai-key"
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9/boot-test"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/boot-test"
    anthropic_provider._api_client.cache_clear()
    openai_provider._client.cache_clear()

    worker.PreloadProviders().after_process_boot(broker=None)

    assert anthropic_provider._api_client.cache_info().currsize == 1
    assert openai_provider._client.cache_info().currsize == 1
    # The middleware is on the broker of every `rundramatiq` process.
    assert "rndcards.worker.PreloadProviders" in settings.DRAMATIQ_BROKER["MIDDLEWARE"]


def test_a_provider_that_cannot_be_set_up_does_not_stop_the_worker_booting(settings, monkeypatch, caplog):
    settings.ANTHROPIC_API_KEY = "boot-test-anthropic-key"

    from cards.providers.base import ProviderError

    def broken(name):
        raise ProviderError("anthropic (Bedrock): brak regionu AWS", permanent=True)

    monkeypatch.setattr("cards.providers.registry.get_provider", broken)
    worker.PreloadProviders().after_process_boot(broker=None)
    assert "could not be set up at worker start: anthropic (Bedrock): brak regionu AWS" in caplog.text

    def crashing(name):
        raise RuntimeError("secret-looking SDK text")

    monkeypatch.setattr("cards.providers.registry.get_provider", crashing)
    worker.PreloadProviders().after_process_boot(broker=None)
    assert "RuntimeError" in caplog.text
    assert "secret-looking SDK text" not in caplog.text
