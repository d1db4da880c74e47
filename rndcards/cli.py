"""Small helpers shared by the operators' management commands."""

import sys
import time
from pathlib import Path

from django.contrib.auth.models import User
from django.core.management.base import CommandError, OutputWrapper

from batches.excel import WorkbookError
from batches.models import Batch

EXIT_INVALID_INPUT = 2


def get_user(username: str, *, create: bool = False) -> User:
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    if not create:
        raise CommandError(f"Nie ma użytkownika „{username}”. Utwórz go (np. create_demo_user) albo podaj inny --user.")
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
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"Nie ma pliku {path}.", returncode=EXIT_INVALID_INPUT)
    return file.read_bytes()


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


def write_output(path: str, data: bytes) -> Path:
    file = Path(path)
    if not file.parent.is_dir():
        raise CommandError(f"Katalog {file.parent} nie istnieje.")
    file.write_bytes(data)
    return file


def wait_for_batch(batch: Batch, stdout: OutputWrapper, *, timeout: float, interval: float = 0.5) -> dict[str, int]:
    """Poll the batch until nothing is queued or generating; draw a bar on a terminal."""
    from cards.services import batch_progress

    deadline = time.monotonic() + timeout
    tty = stdout.isatty() if hasattr(stdout, "isatty") else sys.stdout.isatty()
    last = None
    while True:
        progress = batch_progress(batch=batch)
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
