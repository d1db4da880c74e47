"""Run the fake model server (for local trials without internet, tests and benchmarks)."""

from django.core.management.base import BaseCommand

from cards.fake_llm import FakeLLMServer


class Command(BaseCommand):
    help = "Uruchamia lokalny serwer udający API Anthropic i OpenAI (do testów i pomiarów)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--latency", type=float, default=0.0, help="sekundy opóźnienia każdej odpowiedzi")

    def handle(self, *args, host: str, port: int, latency: float, **options):
        server = FakeLLMServer(host, port)
        server.behaviour.latency = latency
        self.stdout.write(f"Fake LLM: ANTHROPIC_BASE_URL={server.url} OPENAI_BASE_URL={server.url}/v1")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
