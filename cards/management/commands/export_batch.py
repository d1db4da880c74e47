"""Write a batch's Word document."""

from django.core.management.base import BaseCommand

from cards.services import batch_export_docx
from rndcards import cli


class Command(BaseCommand):
    help = "Zapisuje dokument Word z kartami partii."

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--output", required=True)

    def handle(self, *args, batch_id: int, output: str, **options):
        batch = cli.get_batch(batch_id)
        data = batch_export_docx(batch=batch)
        if data is None:
            raise cli.CommandError(
                f"Partia {batch_id} nie ma jeszcze żadnej karty. Uruchom generate_batch {batch_id} --wait."
            )
        path = cli.write_output(output, data)
        self.stdout.write(f"Zapisano {path} ({path.stat().st_size} B).")
