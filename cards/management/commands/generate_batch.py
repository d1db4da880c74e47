"""Queue the generation of every card of a batch, optionally waiting for it."""

from django.core.management.base import BaseCommand

from cards.providers.registry import ProviderNotConfigured
from cards.services import CardsNotQueued, batch_generate
from rndcards import cli, worker


class Command(BaseCommand):
    help = "Dodaje do kolejki generowanie kart partii; z --wait czeka na koniec."

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--wait", action="store_true")
        parser.add_argument(
            "--all", action="store_true", dest="include_done", help="także gotowe karty (zastępuje teksty AI)"
        )
        parser.add_argument("--provider", choices=["offline", "anthropic", "openai"], default="")
        parser.add_argument("--timeout", type=float, default=3600, help="sekundy czekania z --wait")

    def handle(self, *args, batch_id: int, wait: bool, provider: str, timeout: float, include_done: bool, **options):
        batch = cli.get_batch(batch_id)
        try:
            queued = batch_generate(batch=batch, provider=provider, include_done=include_done)
        except (ProviderNotConfigured, CardsNotQueued) as exc:
            raise cli.CommandError(str(exc)) from exc
        self.stdout.write(f"Dodano do kolejki: {queued} z {batch.projects.count()} projektów.")
        if not wait and worker.is_embedded() and queued:
            # Without a broker the queue lives in this process: leaving now would lose it.
            self.stdout.write("Tryb wbudowany (bez Redisa): kolejka działa w tym procesie, więc czekam na koniec.")
            wait = True
        if wait:
            progress = cli.wait_for_batch(batch, self.stdout, timeout=timeout)
            self.stdout.write(
                f"Gotowe karty: {progress['generated']}/{progress['total']}, "
                f"błędy: {progress['failed'] + progress['generation_timeout']}."
            )
