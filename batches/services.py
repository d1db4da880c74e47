"""Business logic for batches: importing a workbook."""

import io
import secrets
import unicodedata
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import transaction

from batches import excel
from batches.models import Batch, Project


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


def batch_import(*, content: bytes, owner: User, filename: str, name: str = "") -> Batch:
    """Validate a workbook and create its batch and projects, or raise excel.WorkbookError.

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
    try:
        with transaction.atomic():
            # .xlsm for a workbook with macros, so the stored copy says what it is (never run)
            suffix = ".xlsm" if parsed.has_macros else ".xlsx"
            batch.source_file.save(f"{batch.token}{suffix}", ContentFile(content), save=False)
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
    except BaseException:
        if batch.source_file.name:
            batch.source_file.storage.delete(batch.source_file.name)
        raise
    batch.import_notes = list(parsed.notes)
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
