"""Judge a rollout by the design's rollback thresholds; exit non-zero when one is crossed."""

import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rndcards import deployment

EXIT_THRESHOLD_CROSSED = 1
EXIT_METRICS_UNAVAILABLE = 2
HEALTH_TIMEOUT_S = 5  # the design's limit for /health: a slower answer is a failed check
METRICS_TIMEOUT_S = 10


class Command(BaseCommand):
    help = (
        "Reads the instance's /metrics twice, WINDOW apart, and checks the rollback thresholds: error rate > 1 %, "
        "p99 > 2000 ms, more than 10 5xx in the window, 3 failed /health checks in a row. Exit 0: fine; "
        "1: a threshold crossed (roll back, deploy/README.md); 2: metrics unreadable."
    )

    def add_arguments(self, parser):
        parser.add_argument("--metrics-url", required=True, help="e.g. http://127.0.0.1:8000/metrics")
        parser.add_argument("--window", default="5m", help="time between the two scrapes: 5m, 90s, 2s (default 5m)")
        parser.add_argument("--health-url", help="checked every --health-interval during the window, e.g. …/health")
        parser.add_argument("--health-interval", default="10s", help="default 10s")
        parser.add_argument(
            "--token-file", help="file with the metrics bearer token (default: RNDCARDS_METRICS_TOKEN(_FILE))"
        )
        parser.add_argument("--max-error-rate", type=float, default=1.0, help="percent, default 1")
        parser.add_argument("--max-p99-ms", type=float, default=2000.0, help="default 2000")
        parser.add_argument("--max-5xx", type=int, default=10, help="5xx responses allowed in the window, default 10")
        parser.add_argument(
            "--max-failed-health", type=int, default=3, help="failed checks in a row that fail, default 3"
        )

    def handle(self, *args, **options):
        window = self._duration(options["window"], "--window")
        interval = self._duration(options["health_interval"], "--health-interval")
        token = self._token(options["token_file"])
        url = options["metrics_url"]

        before = self._scrape(url, token)
        started = time.monotonic()
        health = HealthRun(options["health_url"]) if options["health_url"] else None
        while True:
            if health:
                health.check()
            left = window - (time.monotonic() - started)
            if left <= 0:
                break
            time.sleep(min(interval if health else left, left))
        after = self._scrape(url, token)

        figures = deployment.figures(deployment.window_delta(before, after))
        crossed = []
        out = self.stdout.write
        out(f"Okno pomiaru: {window:g} s, dwa odczyty {url}")
        out(f"Żądania w oknie: {figures.requests:.0f}")

        def row(label: str, shown: str, limit: str, bad: bool) -> None:
            out(f"{'PRZEKROCZONY' if bad else 'OK':<12} {label}: {shown} (próg: {limit})")
            if bad:
                crossed.append(label)

        row(
            "odsetek błędów 5xx",
            f"{figures.error_rate_percent:.2f} %",
            f"> {options['max_error_rate']:g} %",
            figures.error_rate_percent > options["max_error_rate"],
        )
        if figures.p99_ms is None:
            row("p99 czasu odpowiedzi", "brak żądań w oknie", f"> {options['max_p99_ms']:g} ms", False)
        else:
            shown = f"{'≥ ' if figures.p99_at_least else ''}{figures.p99_ms:.0f} ms"
            row(
                "p99 czasu odpowiedzi", shown, f"> {options['max_p99_ms']:g} ms", figures.p99_ms > options["max_p99_ms"]
            )
        row(
            "odpowiedzi 5xx w oknie",
            f"{figures.errors_5xx:.0f}",
            f"> {options['max_5xx']}",
            figures.errors_5xx > options["max_5xx"],
        )
        if health:
            row(
                "nieudane sprawdzenia /health z rzędu",
                f"{health.worst_streak} (z {health.checks} sprawdzeń, nieudanych {health.failures})",
                f"{options['max_failed_health']} z rzędu",
                health.worst_streak >= options["max_failed_health"],
            )
            for message in health.messages[:3]:
                out(f"             {message}")
        else:
            out("—            sprawdzenia /health: nie wykonano (podaj --health-url)")
        if crossed:
            self.stderr.write(
                "Wdrożenie przekroczyło progi: " + ", ".join(crossed) + ". Wycofaj je (deploy/README.md, „Wycofanie”)."
            )
            raise SystemExit(EXIT_THRESHOLD_CROSSED)
        out("Wdrożenie w normie: żaden próg nie został przekroczony.")

    def _duration(self, text: str, option: str) -> float:
        try:
            seconds = deployment.parse_duration(text)
        except ValueError:
            raise CommandError(f"{option} „{text}”: podaj czas, np. 5m, 90s, 500ms.") from None
        if seconds <= 0 or seconds > 24 * 3600:
            raise CommandError(f"{option} musi być dłuższe od zera i krótsze niż doba.")
        return seconds

    def _token(self, token_file: str | None) -> str:
        if not token_file:
            return settings.RNDCARDS_METRICS_TOKEN
        try:
            return Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CommandError(f"Nie można odczytać pliku z tokenem {token_file}: {exc.strerror}.") from None

    def _scrape(self, url: str, token: str) -> deployment.Series:
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"--metrics-url „{url}”: podaj adres http:// lub https://.")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=METRICS_TIMEOUT_S) as r:
                text = r.read(20 * 1024 * 1024).decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            hint = " (404: adres spoza RNDCARDS_METRICS_ALLOWED_IPS albo brak tokenu)" if exc.code == 404 else ""
            self._unavailable(f"{url} odpowiedział {exc.code}{hint}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            self._unavailable(f"nie można pobrać {url}: {reason}")
        try:
            return deployment.parse(text)
        except deployment.MetricsError as exc:
            self._unavailable(f"{url}: {exc}")

    def _unavailable(self, message: str):
        self.stderr.write(
            f"Nie można ocenić wdrożenia — {message}. Sprawdź adres i dostęp do /metrics; "
            "bez metryk wdrożenie uznaje się za nieudane."
        )
        raise SystemExit(EXIT_METRICS_UNAVAILABLE)


class HealthRun:
    """Checks of /health during the window; the longest run of consecutive failures counts."""

    def __init__(self, url: str):
        self.url = url
        self.checks = self.failures = self.streak = self.worst_streak = 0
        self.messages: list[str] = []

    def check(self) -> None:
        self.checks += 1
        try:
            with urllib.request.urlopen(self.url, timeout=HEALTH_TIMEOUT_S) as response:
                ok = response.status == 200
                problem = f"status {response.status}"
        except urllib.error.HTTPError as exc:
            ok, problem = False, f"status {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            ok, problem = False, str(getattr(exc, "reason", exc))
        if ok:
            self.streak = 0
            return
        self.failures += 1
        self.streak += 1
        self.worst_streak = max(self.worst_streak, self.streak)
        if len(self.messages) < 3:
            self.messages.append(f"/health nr {self.checks}: {problem}")
