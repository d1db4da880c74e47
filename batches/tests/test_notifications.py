"""The "batch finished" e-mail: once per generate-all run, with counts and a link, never failing the batch."""

import contextlib
import smtplib
import threading

import dramatiq
import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, connections

from batches.models import Batch, Project
from batches.services import batch_finished_message, batch_notify_finished, batch_refresh_status, mail_safe_line
from cards import services
from cards.providers.offline import OfflineProvider
from resilience.failover import FailoverExhausted

SITE = "https://karty.example.pl"


class BrokenBackend(BaseEmailBackend):
    """A mail server that drops the connection (what smtplib raises when SMTP is away)."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture(autouse=True)
def _site(settings):
    settings.RNDCARDS_SITE_URL = SITE


@pytest.fixture
def consultant(owner):
    owner.email = "anna.kowalska@example.pl"
    owner.save(update_fields=["email"])
    return owner


def flush_queue() -> None:
    # Tests that run the service by hand drop the messages batch_generate sent.
    dramatiq.get_broker().flush_all()


def finish_all(batch: Batch) -> None:
    """Run every queued card of the batch now, as the worker would, one after another."""
    for pk in batch.projects.filter(status=Project.Status.QUEUED).values_list("pk", flat=True):
        services.project_generate(project_id=pk)


# --------------------------------------------------------------------------- through the real worker


def test_owner_gets_one_email_with_counts_and_link_when_the_last_card_finishes_on_the_worker(
    consultant, make_batch, worker, monkeypatch
):
    batch = make_batch(consultant, projects=3, name="Klient Łódź — 2024")
    first, second, third = batch.projects.order_by("row_number")
    # An AI card from an earlier run stays as it is (generate all skips finished cards).
    Project.objects.filter(pk=first.pk).update(status=Project.Status.GENERATED, provider="anthropic")
    # The third card's generation breaks in an unexpected way: the worker marks it failed.
    real = OfflineProvider.generate_card

    def breaking(self, card):
        if card.name == third.name:
            raise RuntimeError("awaria testowa")
        return real(self, card)

    monkeypatch.setattr(OfflineProvider, "generate_card", breaking)

    assert services.batch_generate(batch=batch, provider="offline") == 2
    with contextlib.suppress(FailoverExhausted):  # the stub broker re-raises the failed job's error once all are done
        worker.join()

    batch.refresh_from_db()
    assert batch.status == Batch.Status.NEEDS_ATTENTION
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["anna.kowalska@example.pl"]
    assert message.subject == "Generowanie zakończone: „Klient Łódź — 2024” (z błędem: 1)"
    assert "Dzień dobry, Anna," in message.body
    assert "Karty wygenerowane przez AI: 1\n" in message.body
    assert "Szkice offline (bez udziału AI — wymagają uzupełnienia): 1\n" in message.body
    assert "Karty z błędem: 1\n" in message.body
    assert "przyciskiem „Generuj wszystkie”" in message.body
    assert f"Partia: {SITE}/batches/{batch.pk}/\n" in message.body
    assert batch.notified_at is not None and batch.notification_error == ""
    assert batch.notified_run == batch.generation_run == 1


def test_no_email_while_cards_are_still_being_generated(consultant, make_batch, transactional_db):
    batch = make_batch(consultant, projects=3)
    services.batch_generate(batch=batch, provider="offline")
    flush_queue()
    first, second, third = batch.projects.order_by("row_number")
    services.project_generate(project_id=first.pk)
    services.project_generate(project_id=second.pk)
    assert mail.outbox == []
    services.project_generate(project_id=third.pk)
    assert len(mail.outbox) == 1
    assert "Karty wygenerowane przez AI: 0\n" in mail.outbox[0].body
    assert "Szkice offline (bez udziału AI — wymagają uzupełnienia): 3\n" in mail.outbox[0].body
    assert "(z błędem" not in mail.outbox[0].subject


def test_a_job_delivered_twice_makes_one_card_and_one_email(consultant, make_batch, worker):
    batch = make_batch(consultant, projects=2)
    services.batch_generate(batch=batch, provider="offline")
    last = batch.projects.order_by("row_number").last()
    # At-least-once: the broker hands the last card's job out a second time.
    from cards.tasks import enqueue_generation

    enqueue_generation(last.pk)
    worker.join()
    assert batch.projects.filter(status=Project.Status.GENERATED).count() == 2
    assert len(mail.outbox) == 1
    # And the actor run once more by hand, long after: still one e-mail.
    from cards.tasks import generate_project

    generate_project.fn(last.pk)
    batch_refresh_status(batch=batch)
    assert len(mail.outbox) == 1


def test_cards_finishing_at_the_same_moment_send_one_email(consultant, make_batch, transactional_db):
    batch = make_batch(consultant, projects=4)
    services.batch_generate(batch=batch, provider="offline")
    flush_queue()
    ids = list(batch.projects.values_list("pk", flat=True))
    start = threading.Barrier(len(ids))
    errors = []

    def run(project_id: int) -> None:
        try:
            start.wait(timeout=30)
            services.project_generate(project_id=project_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(pk,)) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert batch.projects.filter(status=Project.Status.GENERATED).count() == 4
    assert len(mail.outbox) == 1


def test_many_workers_seeing_the_finished_batch_at_once_claim_one_email(consultant, make_batch, transactional_db):
    # The worst case of the race above: every worker sees all cards final at the same time.
    batch = make_batch(consultant, projects=2)
    services.batch_generate(batch=batch, provider="offline")
    flush_queue()
    Project.objects.filter(batch=batch).update(status=Project.Status.GENERATED, provider="offline")
    start = threading.Barrier(6)

    def refresh() -> None:
        try:
            start.wait(timeout=30)
            batch_refresh_status(batch=batch)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(mail.outbox) == 1


# --------------------------------------------------------------------------- runs


def test_each_generate_all_run_sends_its_own_email_but_a_single_card_regeneration_none(
    consultant, make_batch, transactional_db
):
    batch = make_batch(consultant, projects=2)
    services.batch_generate(batch=batch, provider="offline")
    flush_queue()
    finish_all(batch)
    assert len(mail.outbox) == 1

    # One card again: the consultant is on the page, no e-mail.
    services.project_regenerate(project=batch.projects.first(), provider="offline")
    flush_queue()
    finish_all(batch)
    assert len(mail.outbox) == 1

    # "Generate all" with nothing to do starts no run.
    assert services.batch_generate(batch=batch, provider="offline") == 0
    batch_refresh_status(batch=batch)
    assert len(mail.outbox) == 1

    # A new run (also the finished cards): a new e-mail when it ends.
    services.batch_generate(batch=batch, provider="offline", include_done=True)
    flush_queue()
    finish_all(batch)
    assert len(mail.outbox) == 2


def test_a_batch_that_was_never_generated_sends_nothing(consultant, make_batch, transactional_db):
    batch = make_batch(consultant, projects=2)
    Project.objects.filter(batch=batch).update(status=Project.Status.GENERATED)  # e.g. before the migration
    batch_refresh_status(batch=batch)
    assert mail.outbox == []


def test_cards_that_could_not_be_queued_still_end_the_run_with_an_email(
    consultant, make_batch, transactional_db, monkeypatch
):
    from cards import tasks

    def broker_away(project_ids):
        raise tasks.QueueUnavailable(project_ids)

    monkeypatch.setattr(tasks, "enqueue_generations", broker_away)
    batch = make_batch(consultant, projects=2)
    with pytest.raises(services.CardsNotQueued):
        services.batch_generate(batch=batch, provider="offline")
    assert len(mail.outbox) == 1
    assert "Karty z błędem: 2\n" in mail.outbox[0].body


# --------------------------------------------------------------------------- failures


def test_a_mail_server_that_fails_never_fails_the_batch_and_the_failure_is_logged_and_kept(
    consultant, make_batch, worker, settings, caplog
):
    settings.EMAIL_BACKEND = "batches.tests.test_notifications.BrokenBackend"
    batch = make_batch(consultant, projects=2)
    services.batch_generate(batch=batch, provider="offline")
    worker.join()

    batch.refresh_from_db()
    assert batch.status == Batch.Status.GENERATED
    assert batch.projects.filter(status=Project.Status.GENERATED).count() == 2
    assert mail.outbox == []
    assert batch.notified_at is None
    assert batch.notification_error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert any("could not send the 'batch finished' e-mail" in r.getMessage() and r.exc_info for r in caplog.records)
    # The run is not mailed again on the next status refresh (no retry storm on a broken server).
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    batch_refresh_status(batch=batch)
    assert mail.outbox == []


def test_an_owner_without_an_email_address_gets_nothing_and_nothing_fails(owner, make_batch, transactional_db):
    assert owner.email == ""
    batch = make_batch(owner, projects=1)
    services.batch_generate(batch=batch, provider="offline")
    flush_queue()
    finish_all(batch)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.GENERATED
    assert mail.outbox == []
    assert batch.notification_error == "" and batch.notified_at is None


def test_a_malformed_stored_address_is_recorded_not_raised(owner, make_batch, transactional_db):
    # The admin validates addresses, the database does not: a header-breaking one must not go out.
    owner.email = "anna@example.pl\nBcc: wszyscy@example.pl"
    owner.save(update_fields=["email"])
    batch = make_batch(owner, projects=1)
    services.batch_generate(batch=batch, provider="offline")
    flush_queue()
    finish_all(batch)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.GENERATED
    assert mail.outbox == []
    assert batch.notification_error != ""


# --------------------------------------------------------------------------- hostile batch names


@pytest.mark.parametrize(
    "name",
    [
        "Klient\r\nBcc: wszyscy@example.pl",
        "Klient\nSubject: Faktura do zapłaty",
        "Klient\rX-Priority: 1",
        "Klient\u2028Bcc: a@example.pl\u2029koniec",
        "Klient\x85Bcc: a@example.pl",
        "\u202eKlient fdp.exe",
        "Klient\x07\x1b[31m",  # (NUL never reaches the name: the import strips it)
        "Ż" * 255,
        "<script>alert(1)</script>",
    ],
)
def test_hostile_batch_names_cannot_inject_headers_and_the_email_still_goes_out(
    consultant, make_batch, transactional_db, name
):
    batch = make_batch(consultant, projects=1, name=name)
    services.batch_generate(batch=batch, provider="offline")
    flush_queue()
    finish_all(batch)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    for forbidden in ("\r", "\n", "\u2028", "\u2029", "\x85", "\u202e", "\x07", "\x1b"):
        assert forbidden not in message.subject
    assert len(message.subject) < 140
    assert message.bcc == [] and message.cc == [] and message.to == ["anna.kowalska@example.pl"]
    raw = message.message()  # what goes over the wire: Django raises BadHeaderError on a newline
    assert raw["Bcc"] is None and raw["X-Priority"] is None
    assert raw["Subject"] is not None
    body_lines = message.body.splitlines()
    assert not any(line.startswith(("Bcc:", "Subject:", "X-Priority:")) for line in body_lines)


def test_mail_safe_line_collapses_whitespace_and_shortens():
    assert mail_safe_line("  Klient \t\n  A  ", limit=50) == "Klient A"
    assert mail_safe_line("abcdefghij", limit=5) == "abcd…"
    assert mail_safe_line("", limit=5) == ""


def test_the_message_without_failures_does_not_ask_to_generate_again(consultant, make_batch):
    batch = make_batch(consultant, projects=1, name="Partia")
    subject, body = batch_finished_message(batch=batch, counts={"ai": 5, "offline": 0, "failed": 0}, url="u")
    assert subject == "Generowanie zakończone: „Partia”"
    assert "Karty wygenerowane przez AI: 5\n" in body
    assert "Generuj wszystkie" not in body


def test_notify_for_a_batch_deleted_meanwhile_is_logged_not_raised(transactional_db, caplog):
    assert batch_notify_finished(batch_id=987_654) is False
    assert mail.outbox == []
    assert any("could not send" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- migration


def test_code_that_does_not_know_the_new_columns_can_still_insert_a_batch(owner):
    # Backward-compatible migration: during a rolling deploy the old code inserts batches
    # without these columns; the database defaults fill them in.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO batches_batch (owner_id, name, token, source_file, original_filename, client_name, "
            "status, uploaded_at, updated_at) VALUES (%s, %s, %s, '', '', '', 'imported', %s, %s)",
            [owner.pk, "Stary kod", "old-code-token", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"],
        )
    batch = Batch.objects.get(token="old-code-token")
    assert (batch.generation_run, batch.notified_run, batch.notification_error, batch.notified_at) == (0, 0, "", None)
