"""Requeue projects stuck in queued/generating (a worker died, a message was lost)."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from batches.models import Project
from cards.services import projects_requeue_stuck, projects_requeue_unsent
from rndcards import cli, worker


class Command(BaseCommand):
    help = "Ponownie dodaje do kolejki projekty, które zbyt długo czekają lub się generują."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=float, default=16, metavar="MIN", help="minuty bez postępu (domyślnie 16)"
        )
        parser.add_argument("--timeout", type=float, default=3600, help="sekundy czekania w trybie wbudowanym")

    def handle(self, *args, older_than: float, timeout: float, **options):
        if older_than < 0:
            raise CommandError("--older-than nie może być ujemne.")
        ids = projects_requeue_stuck(older_than=datetime.timedelta(minutes=older_than))
        self.stdout.write(f"Ponownie w kolejce: {len(ids)}.")
        # Cards the broker refused while it was away: back in the queue now that it answers.
        resumed, unsent = projects_requeue_unsent()
        if resumed or unsent:
            self.stdout.write(f"Wznowione po awarii kolejki: {len(resumed)}.")
        if unsent:
            self.stderr.write(f"Kolejka zadań nadal niedostępna: czeka kart: {unsent} (spróbuj później).")
        ids = [*ids, *resumed]
        if ids and worker.is_embedded():
            # Without a broker the queue lives in this process: leaving now would lose the
            # jobs (the web server does not see this process's queue), so run them here.
            self.stdout.write("Tryb wbudowany (bez Redisa): kolejka działa w tym procesie, więc czekam na koniec.")
            cli.wait_for_projects(Project.objects.filter(pk__in=ids), self.stdout, timeout=timeout)
