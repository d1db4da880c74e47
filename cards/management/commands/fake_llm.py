"""Run the fake model server (for local trials without internet, tests and benchmarks)."""

from django.core.management.base import BaseCommand, CommandError

from cards.fake_llm import FAULT_KINDS, PROVIDERS, FakeLLMServer


class Command(BaseCommand):
    help = (
        "Uruchamia lokalny serwer udający API Anthropic i OpenAI (do testów i pomiarów). "
        "Działający serwer można przestawić przez POST /_control; liczniki: GET /_stats."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="0: dowolny wolny port")
        parser.add_argument("--latency", type=float, default=0.0, help="sekundy opóźnienia każdej odpowiedzi")
        parser.add_argument("--stream-delay", type=float, default=0.0, help="sekundy między zdarzeniami strumienia")
        parser.add_argument(
            "--fault", help=f"awaria u obu dostawców: {', '.join(FAULT_KINDS)} albo dowolny kod HTTP 4xx/5xx"
        )
        parser.add_argument(
            "--provider-fault",
            action="append",
            default=[],
            metavar="DOSTAWCA=AWARIA",
            help="awaria jednego dostawcy, np. anthropic=529 (można powtarzać; ma pierwszeństwo przed --fault)",
        )
        parser.add_argument("--fault-ratio", type=float, default=1.0, help="odsetek żądań z awarią, od 0 do 1")
        parser.add_argument("--fail-first", type=int, default=0, help="awaria tylko N pierwszych żądań, potem sukces")
        parser.add_argument("--retry-after", type=float, help="sekundy w nagłówku Retry-After (429: domyślnie 1)")
        parser.add_argument("--hang-seconds", type=float, default=300.0, help="jak długo trwa awaria hang")
        parser.add_argument("--seed", type=int, default=0, help="ziarno losowania awarii (powtarzalne przebiegi)")

    def handle(self, *args, host: str, port: int, **options):
        def fault(kind: str) -> dict:
            return {
                "fault": kind,
                "ratio": options["fault_ratio"],
                "fail_first": options["fail_first"],
                "retry_after": options["retry_after"],
            }

        control = {
            "latency": options["latency"],
            "stream_delay": options["stream_delay"],
            "hang_seconds": options["hang_seconds"],
            "seed": options["seed"],
        }
        if options["fault"]:
            control.update(fault(options["fault"]))
        for spec in options["provider_fault"]:
            provider, _, kind = spec.partition("=")
            if provider not in PROVIDERS or not kind:
                raise CommandError(f"--provider-fault {spec!r}: oczekiwano {'|'.join(PROVIDERS)}=AWARIA")
            control[provider] = fault(kind)

        server = FakeLLMServer(host, port)
        try:
            server.configure(control)
        except ValueError as exc:
            server.server_close()
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Fake LLM: ANTHROPIC_BASE_URL={server.url} OPENAI_BASE_URL={server.url}/v1")
        self.stdout.flush()  # a benchmark reads the address from a pipe
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
