"""Recompute the quality score of existing cards (after the rules change, or for cards made before scoring)."""

from django.core.management.base import BaseCommand, CommandError

from batches.models import Batch
from cards.services import projects_rescore


class Command(BaseCommand):
    help = "Ponownie oblicza ocenę jakości i listę kontrolną kart (bez wywołań AI)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, metavar="ID", help="tylko karty tej partii (domyślnie wszystkie)")

    def handle(self, *args, batch: int | None = None, **options):
        target = None
        if batch is not None:
            target = Batch.objects.filter(pk=batch).first()
            if target is None:
                raise CommandError(f"Nie ma partii o identyfikatorze {batch}.")
        count = projects_rescore(batch=target)
        self.stdout.write(f"Ocenione karty: {count}.")
