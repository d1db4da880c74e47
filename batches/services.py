"""Business logic for batches: importing a workbook."""

import io
import logging
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import transaction

from batches import excel
from batches.models import Batch, Project

logger = logging.getLogger(__name__)


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

    Nothing is saved from an invalid file: validation runs before any write, and the
    writes run in one transaction. The stored file is removed again if the database
    writes fail, so no half of an import is left either way.
    """
    rows = excel.parse_workbook(io.BytesIO(content), max_projects=settings.RNDCARDS_MAX_PROJECTS)
    filename = Path(filename or "projekty.xlsx").name[:255]
    name = (name or "").strip()[:255] or Path(filename).stem[:255] or "Partia projektów"
    batch = Batch(
        owner=owner,
        name=name,
        original_filename=filename,
        client_name=excel.client_name_of(rows),
        token=secrets.token_hex(16),
    )
    # The file first, outside the transaction: a slow or dead store must not hold a
    # database transaction open, and a failed store leaves nothing in the database.
    try:
        batch.source_file.save(f"{batch.token}.xlsx", ContentFile(content), save=False)
    except _storage_errors() as exc:
        logger.warning("storing an uploaded workbook failed: %s", type(exc).__name__)
        raise StorageUnavailable() from exc
    try:
        with transaction.atomic():
            _create_batch(batch, rows)
    except BaseException:
        _delete_quietly(batch.source_file.name)
        raise
    return batch


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
        _refresh_status_locked(batch)


def _refresh_status_locked(batch: Batch) -> None:
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
