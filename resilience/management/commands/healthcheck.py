"""Print the health report; the exit code says how bad it is (for cron, probes, deploy scripts)."""

import json

from django.core.management.base import BaseCommand

from resilience.health import CRITICAL, DEGRADED, health_report

LABELS = {"ok": "OK", "unavailable": "NIEDOSTĘPNE", "not_configured": "nie skonfigurowano"}
OVERALL = {"healthy": "sprawny", "degraded": "ograniczone działanie", "critical": "awaria krytyczna"}


class Command(BaseCommand):
    help = (
        "Sprawdza bazę danych, Redis, magazyn plików, kolejkę zadań i dostawców AI. "
        "Kod wyjścia: 0 sprawny (także ograniczone działanie, z ostrzeżeniem), "
        "1 ograniczone działanie z --strict, 2 awaria krytyczna (baza danych niedostępna)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="raport w JSON (jak /health/detailed)")
        parser.add_argument("--strict", action="store_true", help="kod 1 także przy ograniczonym działaniu")

    def handle(self, *args, json: bool = False, strict: bool = False, **options):
        report = health_report()
        if json:
            self.stdout.write(_dumps(report))
        else:
            self._print(report)
        status = report["status"]
        if status == CRITICAL:
            raise SystemExit(2)
        if status == DEGRADED:
            self.stderr.write("Uwaga: system działa w trybie ograniczonym (szczegóły powyżej).")
            if strict:
                raise SystemExit(1)

    def _print(self, report: dict) -> None:
        self.stdout.write(f"Stan: {OVERALL[report['status']]} ({report['status']})")
        for name, check in report["checks"].items():
            self.stdout.write(f"  {name:<10} {LABELS.get(check['status'], check['status']):<18} {check['detail']}")
            for provider, info in check.get("providers", {}).items():
                breaker = info["breaker"] or "—"
                self.stdout.write(
                    f"    {provider:<10} {LABELS.get(info['status'], info['status']):<18} breaker: {breaker}"
                )
        self.stdout.write("Funkcje:")
        for feature in report["features"]:
            mark = "dostępne" if feature["available"] else f"niedostępne — {feature['reason']}"
            self.stdout.write(f"  {feature['name']}: {mark}")
        for line in report["limitations"]:
            self.stdout.write(f"! {line}")


def _dumps(report: dict) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2)
