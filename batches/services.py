"""Business logic for batches: importing a workbook, the batch status, the "finished" e-mail, deleting a batch."""

import datetime
import functools
import io
import logging
import secrets
import unicodedata
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from batches import excel
from batches.models import Batch, Project

logger = logging.getLogger(__name__)


def upload_limits() -> excel.ArchiveLimits:
    """The zip-bomb limits of the settings, for excel.read_workbook."""
    return excel.ArchiveLimits(
        max_members=settings.RNDCARDS_UPLOAD_MAX_ZIP_MEMBERS,
        max_uncompressed_bytes=settings.RNDCARDS_UPLOAD_MAX_UNCOMPRESSED_BYTES,
        max_compression_ratio=settings.RNDCARDS_UPLOAD_MAX_COMPRESSION_RATIO,
    )


def clean_filename(filename: str) -> str:
    """The user's file name fit to be shown and kept in the database (never used as a path).

    Only the last path component (either slash), without control and invisible characters
    (NUL, which PostgreSQL refuses, bidi overrides such as U+202E that make "xslx.exe" look
    like "exe.xlsx"), NFC, at most 255 characters with the extension kept.
    """
    text = unicodedata.normalize("NFC", str(filename or ""))
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")  # Cc, Cf, Cs, Co, Cn
    text = PurePosixPath(text.replace("\\", "/")).name.strip(" .")
    if len(text) > 255:
        stem, dot, suffix = text.rpartition(".")
        if dot and 0 < len(suffix) <= 10:
            text = stem[: 254 - len(suffix)] + "." + suffix
        else:
            text = text[:255]
    return text or "projekty.xlsx"


STORAGE_DOWN_MESSAGE = (
    "Nie możemy teraz zapisać pliku: magazyn plików jest chwilowo niedostępny. "
    "Nic nie zostało zapisane — prześlij ten sam plik ponownie za kilka minut. "
    "Istniejące partie możesz w tym czasie przeglądać, edytować i eksportować."
)


class StorageUnavailable(Exception):
    """The file store (local folder or S3) refused the upload; nothing was saved."""

    def __init__(self, message: str = STORAGE_DOWN_MESSAGE):
        super().__init__(message)


def _storage_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError,)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is in requirements.txt
        return errors
    return (*errors, BotoCoreError, ClientError)


def batch_import(*, content: bytes, owner: User, filename: str, name: str = "") -> Batch:
    """Validate a workbook and create its batch and projects, or raise excel.WorkbookError
    (invalid file) or StorageUnavailable (the file store is down).

    Nothing is saved from an invalid file: validation runs before any write, the writes run in
    one transaction, and the stored copy is removed again if that transaction fails. The copy
    is stored under a generated name (batch_upload_path), never the user's.
    The returned batch has ``import_notes``: Polish remarks about the accepted file (macros).
    """
    parsed = excel.read_workbook(
        io.BytesIO(content), max_projects=settings.RNDCARDS_MAX_PROJECTS, limits=upload_limits()
    )
    rows = parsed.projects
    filename = clean_filename(filename)
    name = (name or "").strip()[:255] or PurePosixPath(filename).stem[:255] or "Partia projektów"
    batch = Batch(
        owner=owner,
        name=name,
        original_filename=filename,
        client_name=excel.client_name_of(rows),
        token=secrets.token_hex(16),
    )
    # The file first, outside the transaction: a slow or dead store must not hold a
    # database transaction open, and a failed store leaves nothing in the database.
    # .xlsm for a workbook with macros, so the stored copy says what it is (never run).
    suffix = ".xlsm" if parsed.has_macros else ".xlsx"
    try:
        batch.source_file.save(f"{batch.token}{suffix}", ContentFile(content), save=False)
    except _storage_errors() as exc:
        logger.warning("storing an uploaded workbook failed: %s", type(exc).__name__)
        raise StorageUnavailable() from exc
    try:
        with transaction.atomic():
            _create_batch(batch, rows)
            audit_record(actor=owner, action=AuditEvent.Action.UPLOAD, batch=batch, projects=len(rows))
    except BaseException:
        _delete_quietly(batch.source_file.name)
        raise
    batch.import_notes = list(parsed.notes)
    return batch


class BatchBusy(Exception):
    """The batch has cards being generated: deleting it now would pull rows from under the workers."""


def batch_delete(*, batch: Batch, actor: User | None, force: bool = False) -> int:
    """Delete the batch, its projects, cards and history, and its source file in storage;
    returns the number of projects deleted. Refused (BatchBusy) while cards are generated,
    unless `force` (Django admin: the operator decides)."""
    from cards.models import Section

    # Work older than a job may run is stuck (a dead worker, a lost message): it does not
    # hold the batch hostage (the same cut-off as requeue_stuck).
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.RNDCARDS_JOB_TIME_LIMIT + 60)
    with transaction.atomic():
        Batch.objects.select_for_update().filter(pk=batch.pk).first()
        running = Q(status=Project.Status.QUEUED, queued_at__gte=cutoff) | Q(
            status=Project.Status.GENERATING, started_at__gte=cutoff
        )
        busy = Project.objects.filter(running, batch_id=batch.pk).exists() or (
            Section.objects.filter(
                project__batch_id=batch.pk, regen_state__in=Section.REGEN_ACTIVE, regen_requested_at__gte=cutoff
            ).exists()
        )
        if busy and not force:
            raise BatchBusy(
                "Karty tej partii są właśnie generowane — poczekaj, aż generowanie się skończy, "
                "i usuń partię ponownie. Nic nie zostało usunięte."
            )
        projects = Project.objects.filter(batch_id=batch.pk).count()
        audit_record(
            actor=actor,
            action=AuditEvent.Action.DELETE,
            batch=batch,
            projects=projects,
            had_file=bool(batch.source_file.name),
            forced=bool(busy and force),
        )
        file_name = batch.source_file.name
        storage = batch.source_file.storage
        batch.delete()
        if file_name:
            transaction.on_commit(lambda: _delete_file(storage, file_name))
    return projects


def _delete_file(storage, name: str) -> None:
    # After the commit: a rolled-back delete must keep its file. Storage that is away
    # leaves an orphaned file (logged for the operator), not a batch that cannot be deleted.
    try:
        storage.delete(name)
    except Exception:
        logger.warning("source file %s of a deleted batch could not be removed", name, exc_info=True)


def _delete_quietly(name: str) -> None:
    from django.core.files.storage import default_storage

    try:
        default_storage.delete(name)
    except Exception:  # the store went away too; the object is orphaned, not half-imported data
        logger.warning("could not remove the stored workbook %s after a failed import", name, exc_info=True)


def _create_batch(batch: Batch, rows) -> None:
    batch.save()
    Project.objects.bulk_create(
        Project(
            batch=batch,
            row_number=row.row_number,
            name=row.name,
            description=row.description,
            start_date=row.start_date,
            end_date=row.end_date,
            goal=row.goal,
            responsible_person=row.responsible_person,
            extra=[list(pair) for pair in row.extra],
        )
        for row in rows
    )


def batch_refresh_status(*, batch: Batch) -> None:
    """Derive the batch status from its projects' statuses."""
    # Workers finishing together must not write a status read before the other's
    # change: lock the batch row, then read.
    with transaction.atomic():
        Batch.objects.select_for_update().filter(pk=batch.pk).first()
        status = _refresh_status_locked(batch)
        # The last card of a run is final: whoever claims the run (a conditional update,
        # so one of several workers finishing together, and never a redelivered job a
        # second time) sends the e-mail once the card's result is committed.
        if status != Batch.Status.GENERATING and _claim_notification(batch_id=batch.pk):
            transaction.on_commit(functools.partial(batch_notify_finished, batch_id=batch.pk), robust=True)


def _claim_notification(*, batch_id: int) -> bool:
    return bool(
        Batch.objects.filter(pk=batch_id, notified_run__lt=F("generation_run")).update(notified_run=F("generation_run"))
    )


def _refresh_status_locked(batch: Batch) -> str:
    statuses = set(Project.objects.filter(batch_id=batch.pk).values_list("status", flat=True))
    if statuses & {Project.Status.QUEUED, Project.Status.GENERATING}:
        status = Batch.Status.GENERATING
    elif statuses & {Project.Status.FAILED, Project.Status.GENERATION_TIMEOUT}:
        status = Batch.Status.NEEDS_ATTENTION
    elif statuses == {Project.Status.GENERATED}:
        status = Batch.Status.GENERATED
    else:
        status = Batch.Status.IMPORTED
    Batch.objects.filter(pk=batch.pk).exclude(status=status).update(status=status)
    return status


# --------------------------------------------------------------------------- "batch finished" e-mail

SUBJECT_NAME_CHARS = 80


def mail_safe_line(text: str, *, limit: int) -> str:
    """One line of user text fit for an e-mail header: no line breaks or other control and
    format characters (header injection, bidi spoofing), whitespace collapsed, shortened."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    line = " ".join(kept.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def batch_outcome_counts(*, batch: Batch) -> dict[str, int]:
    """The batch's cards by outcome: made by AI, offline drafts (no AI), failed."""
    counts = {"ai": 0, "offline": 0, "failed": 0}
    for status, provider in Project.objects.filter(batch_id=batch.pk).values_list("status", "provider"):
        if status == Project.Status.GENERATED:
            counts["offline" if provider == "offline" else "ai"] += 1
        elif status in (Project.Status.FAILED, Project.Status.GENERATION_TIMEOUT):
            counts["failed"] += 1
    return counts


def batch_finished_message(*, batch: Batch, counts: dict[str, int], url: str) -> tuple[str, str]:
    """Subject and plain-text body (Polish) of the e-mail sent when a batch's cards are done."""
    name = mail_safe_line(batch.name, limit=SUBJECT_NAME_CHARS)
    subject = f"Generowanie zakończone: „{name}”"
    if counts["failed"]:
        subject += f" (z błędem: {counts['failed']})"
    greeting = mail_safe_line(batch.owner.first_name, limit=60)
    lines = [
        f"Dzień dobry{', ' + greeting if greeting else ''},",
        "",
        f"generowanie kart partii „{mail_safe_line(batch.name, limit=255)}” zakończyło się.",
        "",
        f"Karty wygenerowane przez AI: {counts['ai']}",
        f"Szkice offline (bez udziału AI — wymagają uzupełnienia): {counts['offline']}",
        f"Karty z błędem: {counts['failed']}",
        "",
    ]
    if counts["failed"]:
        lines += ["Karty z błędem wygenerujesz ponownie przyciskiem „Generuj wszystkie” na stronie partii.", ""]
    lines += [f"Partia: {url}", "", "— RnD Cards (wiadomość wysłana automatycznie)"]
    return subject, "\n".join(lines) + "\n"


def batch_notify_finished(*, batch_id: int) -> bool:
    """E-mail the batch's owner that its cards are done (counts, link); True when sent.

    Never raises: a mail server that is down must not fail the batch. The failure is
    logged and kept in notification_error; an owner without an address gets nothing.
    """
    try:
        batch = Batch.objects.select_related("owner").get(pk=batch_id)
        address = (batch.owner.email or "").strip()
        if not address:
            return False
        url = f"{settings.RNDCARDS_SITE_URL}{batch.get_absolute_url()}"
        subject, body = batch_finished_message(batch=batch, counts=batch_outcome_counts(batch=batch), url=url)
        send_mail(subject, body, None, [address], fail_silently=False)
    except Exception as exc:
        logger.exception("could not send the 'batch finished' e-mail of batch %s", batch_id)
        Batch.objects.filter(pk=batch_id).update(notification_error=f"{type(exc).__name__}: {exc}"[:2000])
        return False
    Batch.objects.filter(pk=batch_id).update(notified_at=timezone.now(), notification_error="")
    return True
