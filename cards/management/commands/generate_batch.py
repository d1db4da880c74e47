"""Queue the generation of every card of a batch, optionally waiting for it."""

from django.core.management.base import BaseCommand

from cards.services import batch_generate
from rndcards import cli


class Command(BaseCommand):
    help = "Dodaje do kolejki generowanie kart partii; z --wait czeka na koniec."

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--wait", action="store_true")
        parser.add_argument("--provider", choices=["offline", "anthropic", "openai"], default="")
        parser.add_argument("--timeout", type=float, default=3600, help="sekundy czekania z --wait")

    def handle(self, *args, batch_id: int, wait: bool, provider: str, timeout: float, **options):
        batch = cli.get_batch(batch_id)
        queued = batch_generate(batch=batch, provider=provider)
        self.stdout.write(f"Dodano do kolejki: {queued} z {batch.projects.count()} projektów.")
        if wait:
            progress = cli.wait_for_batch(batch, self.stdout, timeout=timeout)
            self.stdout.write(
                f"Gotowe karty: {progress['generated']}/{progress['total']}, błędy: {progress['failed'] + progress['generation_timeout']}."
            )
