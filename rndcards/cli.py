"""Small helpers shared by the operators' management commands."""

import os
import sys
import time
from pathlib import Path

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, OutputWrapper

from batches.excel import WorkbookError
from batches.models import Batch

EXIT_INVALID_INPUT = 2


OPERATOR_USERNAME = "operator"  # make_cards' default owner, the only account a command creates


def _check_username(username: str) -> None:
    try:
        User.username_validator(username)
        if not username or len(username) > 150:
            raise ValidationError("length")
    except ValidationError:
        raise CommandError(
            f"„{username}” nie może być nazwą użytkownika: 1–150 znaków, litery, cyfry i @ . + - _."
        ) from None


def get_user(username: str, *, create: bool = False) -> User:
    """The user named ``username``; with ``create`` a login-less account is made if missing.

    Only make_cards' default operator account is created on the fly: an explicitly named user
    that does not exist is almost always a typo, and a new account would hide the batch from
    the consultant who meant to receive it.
    """
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    _check_username(username)
    if not create:
        raise CommandError(
            f"Nie ma użytkownika „{username}”. Sprawdź pisownię albo najpierw utwórz konto:\n"
            f"  - manage.py create_demo_user --username {username}  (konsultant z hasłem do logowania),\n"
            "  - manage.py createsuperuser  (administrator),\n"
            "  - albo w panelu administracyjnym /admin/ → Użytkownicy → Dodaj."
        )
    user = User(username=username)
    user.set_unusable_password()  # an operator's account: batches only, no browser login
    user.save()
    return user


def get_batch(batch_id: int) -> Batch:
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None:
        raise CommandError(f"Nie ma partii o numerze {batch_id}.")
    return batch


def read_input(path: str) -> bytes:
    """The workbook at ``path``; over RNDCARDS_MAX_UPLOAD_BYTES it is refused unread (exit 2)."""
    from django.conf import settings
    from django.template.defaultfilters import filesizeformat

    file = Path(path)
    if not file.is_file():
        raise CommandError(f"Nie ma pliku {path}.", returncode=EXIT_INVALID_INPUT)
    limit = settings.RNDCARDS_MAX_UPLOAD_BYTES
    try:
        size = file.stat().st_size
        if size > limit:
            raise CommandError(
                f"Plik {path} nie został zaimportowany — nic nie utworzono. Ma {filesizeformat(size)}, "
                f"a największy dopuszczalny rozmiar to {filesizeformat(limit)} (RNDCARDS_MAX_UPLOAD_BYTES). "
                "Usuń zbędne arkusze, obrazy i puste sformatowane wiersze albo podziel projekty na kilka plików.",
                returncode=EXIT_INVALID_INPUT,
            )
        with file.open("rb") as handle:
            content = handle.read(limit + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise CommandError(
            f"Nie udało się odczytać pliku {path}: {exc.strerror or exc}.", returncode=EXIT_INVALID_INPUT
        ) from exc
    if len(content) > limit:
        raise CommandError(
            f"Plik {path} nie został zaimportowany — nic nie utworzono. Jest większy niż "
            f"{filesizeformat(limit)} (RNDCARDS_MAX_UPLOAD_BYTES).",
            returncode=EXIT_INVALID_INPUT,
        )
    return content


def print_notes(batch: Batch, stdout: OutputWrapper) -> None:
    """The Polish remarks about an accepted workbook (e.g. its macros were not run)."""
    for note in getattr(batch, "import_notes", ()):
        stdout.write(f"Uwaga: {note}")


def workbook_error(exc: WorkbookError, path: str) -> CommandError:
    lines = [f"Plik {path} nie został zaimportowany — nic nie utworzono. Problemy:"]
    for problem in exc.problems:
        where = []
        if problem.row is not None:
            where.append(f"wiersz {problem.row}")
        if problem.column:
            where.append(f"kolumna „{problem.column}”")
        prefix = (", ".join(where) + ": ") if where else ""
        lines.append(f"  - {prefix}{problem.message}")
    return CommandError("\n".join(lines), returncode=EXIT_INVALID_INPUT)


def check_output(path: str) -> Path:
    """Refuse an output path that cannot be written, before any work is done."""
    file = Path(path)
    if file.is_dir():
        raise CommandError(f"{path} jest katalogiem — podaj nazwę pliku, np. {file / 'karty.docx'}.")
    if not file.parent.is_dir():
        raise CommandError(f"Katalog {file.parent} nie istnieje.")
    if not os.access(file.parent, os.W_OK) or (file.exists() and not os.access(file, os.W_OK)):
        raise CommandError(f"Brak uprawnień do zapisu {path}.")
    return file


def write_output(path: str, data: bytes) -> Path:
    file = check_output(path)
    try:
        file.write_bytes(data)
    except OSError as exc:
        raise CommandError(f"Nie udało się zapisać {path}: {exc.strerror or exc}.") from exc
    return file


def wait_for_batch(batch: Batch, stdout: OutputWrapper, *, timeout: float, interval: float = 0.5) -> dict[str, int]:
    """Poll the batch until nothing is queued or generating; draw a bar on a terminal."""
    return wait_for_projects(batch.projects.all(), stdout, timeout=timeout, interval=interval)


def wait_for_projects(projects, stdout: OutputWrapper, *, timeout: float, interval: float = 0.5) -> dict[str, int]:
    """Poll these projects (a queryset) until none is queued or generating."""
    from cards.services import projects_progress

    deadline = time.monotonic() + timeout
    tty = stdout.isatty() if hasattr(stdout, "isatty") else sys.stdout.isatty()
    last = None
    while True:
        progress = projects_progress(projects=projects)
        busy = progress["queued"] + progress["generating"]
        shown = (progress["done"], progress["total"])
        if tty and shown != last:
            width = 30
            filled = width * shown[0] // max(shown[1], 1)
            stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {shown[0]}/{shown[1]} kart", ending="")
            stdout.flush()
            last = shown
        if not busy:
            if tty:
                stdout.write("")
            return progress
        if time.monotonic() > deadline:
            if tty:
                stdout.write("")
            raise CommandError(
                f"Po {timeout:.0f} s wciąż {busy} kart czeka lub się generuje. Sprawdź, czy działa worker "
                "(manage.py rundramatiq), i uruchom generate_batch --wait ponownie."
            )
        time.sleep(interval)
