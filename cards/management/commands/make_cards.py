"""The whole main job in one command: import, generate every card, export to Word."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from batches.excel import WorkbookError
from batches.services import StorageUnavailable, batch_import
from cards.providers.registry import ProviderNotConfigured, require_configured
from cards.services import CardsNotQueued, batch_export_docx, batch_generate, fallback_counts
from rndcards import cli


class Command(BaseCommand):
    help = "Importuje plik .xlsx, generuje wszystkie karty i zapisuje dokument Word (kod 2 przy błędach pliku)."

    def add_arguments(self, parser):
        parser.add_argument("input")
        parser.add_argument("--output", required=True)
        parser.add_argument(
            "--user",
            default=None,
            help=f"właściciel partii: istniejący użytkownik (bez --user: konto „{cli.OPERATOR_USERNAME}”, "
            "tworzone, jeśli go nie ma)",
        )
        parser.add_argument("--name", default="")
        parser.add_argument("--provider", choices=["offline", "anthropic", "openai"], default="")
        parser.add_argument("--timeout", type=float, default=3600, help="sekundy czekania na karty")

    def handle(
        self, *args, input: str, output: str, user: str | None, name: str, provider: str, timeout: float, **options
    ):
        started = time.monotonic()
        # Everything that can be checked is checked before anything is created.
        content = cli.read_input(input)
        cli.check_output(output)
        if provider:
            try:
                require_configured(provider)
            except ProviderNotConfigured as exc:
                raise cli.CommandError(str(exc)) from exc
        # Only the default operator account is created on the fly: another name that does not
        # exist is a typo, and must fail here, before anything is created.
        username = cli.OPERATOR_USERNAME if user is None else user
        is_operator = username == cli.OPERATOR_USERNAME
        owner = None if is_operator else cli.get_user(username)
        try:
            with transaction.atomic():  # a rejected file leaves no new operator account behind either
                if owner is None:
                    owner = cli.get_user(username, create=True)
                batch = batch_import(content=content, owner=owner, filename=Path(input).name, name=name)
        except WorkbookError as exc:
            raise cli.workbook_error(exc, input) from exc
        except StorageUnavailable as exc:
            raise cli.CommandError(str(exc)) from exc
        cli.print_notes(batch, self.stdout)
        try:
            batch_generate(batch=batch, provider=provider)
        except CardsNotQueued as exc:
            raise cli.CommandError(f"{exc} Partia {batch.pk} została zaimportowana.") from exc
        progress = cli.wait_for_batch(batch, self.stdout, timeout=timeout)
        data = batch_export_docx(batch=batch)
        if data is None:
            raise cli.CommandError(f"Nie powstała żadna karta — zobacz partię {batch.pk} w panelu administracyjnym.")
        path = cli.write_output(output, data)
        failed = progress["failed"] + progress["generation_timeout"]
        fallbacks = fallback_counts(batch.projects.all())
        providers = (
            ", ".join(sorted(set(batch.projects.exclude(provider="").values_list("provider", flat=True)))) or "—"
        )
        self.stdout.write(
            f"Partia {batch.pk}: {progress['generated']}/{progress['total']} kart, błędy: {failed}, "
            f"szkice offline zamiast AI: {fallbacks['offline']}, "
            f"od drugiego dostawcy: {fallbacks['other_provider']}, dostawca: {providers}, plik: {path}, "
            f"czas: {time.monotonic() - started:.1f} s"
        )
        if failed:
            raise cli.CommandError(f"{failed} kart nie wygenerowano — zobacz partię {batch.pk} w panelu.")
