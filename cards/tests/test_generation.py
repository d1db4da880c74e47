"""Generation: the offline draft, the idempotent service, and the actor on a real worker."""

import datetime

import pytest

from batches.models import Batch, Project
from cards import services
from cards.models import Section
from cards.providers.base import CardInput
from cards.providers.offline import OfflineProvider, schedule
from cards.sections import SECTION_KEYS

CARD = CardInput(
    name="System wizyjnej kontroli spoin",
    description="Opis " * 30,
    goal="Zmniejszenie liczby wad o połowę w ciągu roku.",
    start_date=datetime.date(2024, 2, 1),
    end_date=datetime.date(2024, 11, 30),
    responsible_person="Łukasz Żółkiewski",
    extra=(("Koszty wynagrodzeń (PLN)", "150000"), ("Dział", "R&D")),
)


def test_offline_draft_has_eight_sections_built_from_the_input():
    draft = OfflineProvider().generate_card(CARD)

    assert list(draft.sections) == list(SECTION_KEYS)
    assert all(text.strip() for text in draft.sections.values())
    assert draft.sections["nazwa_projektu"] == CARD.name
    assert CARD.goal in draft.sections["cel_projektu"]
    assert "Łukasz Żółkiewski" in draft.sections["opis_projektu"]
    assert "150000" in draft.sections["koszty"]
    assert "[DO WERYFIKACJI]" in draft.sections["nowatorstwo"]
    assert draft.provider == "offline"


def test_offline_draft_without_costs_names_no_amount():
    card = CardInput(**{**CARD.__dict__, "extra": ()})
    costs = OfflineProvider().generate_card(card).sections["koszty"]

    assert "nie zawiera kwot" in costs
    assert not any(ch.isdigit() for ch in costs.replace("18d", ""))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime.date(2024, 2, 1), datetime.date(2024, 11, 30)),
        (datetime.date(2024, 1, 1), datetime.date(2024, 1, 1)),
        (datetime.date(2024, 1, 1), datetime.date(2024, 1, 3)),
        (datetime.date(2023, 5, 17), datetime.date(2026, 2, 28)),
    ],
)
def test_schedule_stages_cover_the_period_in_order(start, end):
    stages = schedule(start, end)

    assert stages[0][1] == start
    assert stages[-1][2] == end
    for (_, first, last), (_, next_first, _) in zip(stages, stages[1:], strict=False):
        assert first <= last < next_first
        assert (next_first - last).days == 1


def _queue(project: Project, provider: str = "offline") -> None:
    Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED, requested_provider=provider)


def test_generating_twice_produces_one_card(make_batch, owner):
    project = make_batch(owner, projects=1).projects.get()
    _queue(project)

    assert services.project_generate(project_id=project.pk) is True
    assert services.project_generate(project_id=project.pk) is False

    project.refresh_from_db()
    assert project.status == Project.Status.GENERATED
    assert project.provider == "offline"
    assert list(project.sections.values_list("key", flat=True)) == list(SECTION_KEYS)
    assert set(project.sections.values_list("origin", flat=True)) == {Section.Origin.OFFLINE}


def test_regeneration_keeps_a_consultants_manual_edit(make_batch, owner):
    project = make_batch(owner, projects=1).projects.get()
    _queue(project)
    services.project_generate(project_id=project.pk)
    goal = project.sections.get(key="cel_projektu")
    services.section_update(section=goal, text="<div>Moja <strong>wersja</strong></div>", author=owner)

    _queue(project)
    services.project_generate(project_id=project.pk)

    goal.refresh_from_db()
    assert goal.text == "<div>Moja <strong>wersja</strong></div>"
    assert goal.origin == Section.Origin.MANUAL
    assert project.sections.count() == 8


def test_section_update_sanitizes_html(make_batch, owner):
    project = make_batch(owner, projects=1).projects.get()
    _queue(project)
    services.project_generate(project_id=project.pk)
    section = project.sections.get(key="opis_projektu")

    services.section_update(
        section=section,
        text='<div onclick="x()">Tekst<script>alert(1)</script><img src=x onerror=y></div>',
        author=owner,
    )

    section.refresh_from_db()
    assert section.text == "<div>Tekst</div>"


def test_provider_failure_leaves_an_offline_draft_with_the_reason_and_every_attempt(make_batch, owner, settings):
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # nothing listens: connection refused
    settings.OPENAI_API_KEY = ""
    project = make_batch(owner, projects=1).projects.get()
    _queue(project, provider="anthropic")

    services.project_generate(project_id=project.pk)

    project.refresh_from_db()
    assert project.status == Project.Status.GENERATED
    assert project.provider == "offline"
    assert "AI niedostępne" in project.error_message and "szkic offline" in project.error_message
    attempts = list(project.attempts.order_by("started_at", "pk").values_list("provider", "outcome"))
    assert attempts == [("anthropic", "retryable_error")] * 3 + [("offline", "success")]
    assert project.prompt_version


def test_batch_generate_queues_each_startable_project_once(make_batch, owner, django_capture_on_commit_callbacks):
    batch = make_batch(owner, projects=3)
    Project.objects.filter(batch=batch, row_number=2).update(status=Project.Status.GENERATING)

    with django_capture_on_commit_callbacks() as callbacks:
        first = services.batch_generate(batch=batch, provider="offline")
        second = services.batch_generate(batch=batch, provider="offline")

    assert (first, second) == (2, 0)
    assert len(callbacks) == 2
    batch.refresh_from_db()
    assert batch.status == Batch.Status.GENERATING


def test_generate_all_runs_on_a_real_worker(make_batch, owner, worker):
    batch = make_batch(owner, projects=4)

    services.batch_generate(batch=batch, provider="offline")
    worker.join()

    batch.refresh_from_db()
    assert batch.status == Batch.Status.GENERATED
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.GENERATED}
    assert Section.objects.filter(project__batch=batch).count() == 4 * 8


def test_a_late_result_does_not_overwrite_work_after_its_claim_was_taken_over(make_batch, owner, monkeypatch):
    project = make_batch(owner, projects=1).projects.get()
    _queue(project)
    real_generate = OfflineProvider.generate_card

    def slow_generate(self, card):
        # While this job "waits for the model", the project is requeued and regenerated.
        Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED)
        monkeypatch.setattr(OfflineProvider, "generate_card", real_generate)
        assert services.project_generate(project_id=project.pk) is True
        goal = project.sections.get(key="cel_projektu")
        services.section_update(section=goal, text="<div>Poprawione ręcznie</div>", author=owner)
        Section.objects.filter(project=project).exclude(key="cel_projektu").update(text="<div>nowsze</div>")
        return real_generate(self, card)

    monkeypatch.setattr(OfflineProvider, "generate_card", slow_generate)

    assert services.project_generate(project_id=project.pk) is False

    assert set(Section.objects.filter(project=project).exclude(key="cel_projektu").values_list("text", flat=True)) == {
        "<div>nowsze</div>"
    }
    assert project.sections.get(key="cel_projektu").text == "<div>Poprawione ręcznie</div>"


def test_queueing_a_provider_without_a_key_is_refused(make_batch, owner, settings):
    from cards.providers.registry import ProviderNotConfigured

    settings.OPENAI_API_KEY = ""
    batch = make_batch(owner, projects=1)

    with pytest.raises(ProviderNotConfigured, match="OPENAI_API_KEY"):
        services.batch_generate(batch=batch, provider="openai")
    assert batch.projects.get().status == Project.Status.PENDING


def test_offline_section_regeneration_returns_that_sections_draft():
    section = OfflineProvider().generate_section(CARD, key="harmonogram", sections={}, hints="krócej")

    assert section.provider == "offline"
    assert section.text == OfflineProvider().generate_card(CARD).sections["harmonogram"]


def test_cards_are_not_left_queued_when_the_broker_is_away(make_batch, owner, monkeypatch, transactional_db):
    import redis

    from cards import tasks

    batch = make_batch(owner, projects=3)
    sent = []

    def broker_goes_away(project_id, **kwargs):
        if sent:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
        sent.append(project_id)

    monkeypatch.setattr(tasks, "enqueue_generation", broker_goes_away)

    with pytest.raises(services.CardsNotQueued) as caught:
        services.batch_generate(batch=batch, provider="offline")

    assert caught.value.queued == 1
    statuses = dict(batch.projects.values_list("pk", "status"))
    assert statuses[sent[0]] == Project.Status.QUEUED
    failed = batch.projects.exclude(pk=sent[0])
    assert set(failed.values_list("status", flat=True)) == {Project.Status.FAILED}
    assert all("Kolejka zadań jest chwilowo niedostępna" in p.error_message for p in failed)
    # Failed is retryable: once the broker is back, "generate all" takes them.
    monkeypatch.setattr(tasks, "enqueue_generation", lambda project_id, **kwargs: sent.append(project_id))
    assert services.batch_generate(batch=batch, provider="offline") == 2


def test_generate_all_leaves_finished_cards_alone_unless_asked(make_batch, owner, django_capture_on_commit_callbacks):
    batch = make_batch(owner, projects=3)
    done, failed, pending = batch.projects.order_by("row_number")
    Project.objects.filter(pk=done.pk).update(status=Project.Status.GENERATED, provider="anthropic")
    Project.objects.filter(pk=failed.pk).update(status=Project.Status.FAILED)

    with django_capture_on_commit_callbacks():
        assert services.batch_generate(batch=batch, provider="offline") == 2
    assert Project.objects.get(pk=done.pk).status == Project.Status.GENERATED

    Project.objects.filter(pk__in=[failed.pk, pending.pk]).update(status=Project.Status.GENERATED)
    with django_capture_on_commit_callbacks():
        assert services.batch_generate(batch=batch, provider="offline", include_done=True) == 3
