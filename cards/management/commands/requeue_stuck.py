"""Requeue projects stuck in queued/generating (a worker died, a message was lost)."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from cards.services import projects_requeue_stuck


class Command(BaseCommand):
    help = "Ponownie dodaje do kolejki projekty, które zbyt długo czekają lub się generują."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=float, default=16, metavar="MIN", help="minuty bez postępu (domyślnie 16)"
        )

    def handle(self, *args, older_than: float, **options):
        if older_than < 0:
            raise CommandError("--older-than nie może być ujemne.")
        count = projects_requeue_stuck(older_than=datetime.timedelta(minutes=older_than))
        self.stdout.write(f"Ponownie w kolejce: {count}.")
