"""Import a workbook as a new batch and print its id."""

from pathlib import Path

from django.core.management.base import BaseCommand

from batches.excel import WorkbookError
from batches.services import StorageUnavailable, batch_import
from rndcards import cli


class Command(BaseCommand):
    help = "Importuje plik .xlsx jako nową partię i wypisuje jej numer (kod 2 przy błędach pliku)."

    def add_arguments(self, parser):
        parser.add_argument("input")
        parser.add_argument("--user", required=True)
        parser.add_argument("--name", default="")

    def handle(self, *args, input: str, user: str, name: str, **options):
        owner = cli.get_user(user)
        content = cli.read_input(input)
        try:
            batch = batch_import(content=content, owner=owner, filename=Path(input).name, name=name)
        except WorkbookError as exc:
            raise cli.workbook_error(exc, input) from exc
        except StorageUnavailable as exc:
            raise cli.CommandError(str(exc)) from exc
        cli.print_notes(batch, self.stderr)
        self.stdout.write(str(batch.pk))
