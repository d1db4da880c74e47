"""Business logic for batches: importing a workbook."""

import io
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import transaction

from batches import excel
from batches.models import Batch, Project


def batch_import(*, content: bytes, owner: User, filename: str, name: str = "") -> Batch:
    """Validate a workbook and create its batch and projects, or raise excel.WorkbookError.

    Nothing is saved from an invalid file: validation runs before any write, and the
    writes run in one transaction.
    """
    rows = excel.parse_workbook(io.BytesIO(content), max_projects=settings.RNDCARDS_MAX_PROJECTS)
    filename = Path(filename or "projekty.xlsx").name[:255]
    name = (name or "").strip()[:255] or Path(filename).stem[:255] or "Partia projektów"
    with transaction.atomic():
        batch = Batch(
            owner=owner,
            name=name,
            original_filename=filename,
            client_name=excel.client_name_of(rows),
            token=secrets.token_hex(16),
        )
        batch.source_file.save(f"{batch.token}.xlsx", ContentFile(content), save=False)
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
    return batch


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
