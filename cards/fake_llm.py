"""A local stand-in for the Anthropic Messages and OpenAI Chat Completions HTTP APIs.

Tests and benchmarks point the real SDKs at it (ANTHROPIC_BASE_URL / OPENAI_BASE_URL);
the product does not know it is fake. It answers with a structured card built from the
request's data block, reports token usage (cached tokens for a repeated system prompt),
and can be told to be slow or to fail.
"""

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cards.sections import SECTION_KEYS


@dataclass
class Behaviour:
    latency: float = 0.0  # seconds before answering
    status: int = 200  # non-200: answer with an API error of that status
    retry_after: float | None = None
    invalid_json: bool = False


@dataclass
class Recorder:
    requests: list[dict] = field(default_factory=list)
    seen_system_prompts: set[str] = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _card_from_prompt(prompt: str) -> dict[str, str]:
    match = re.search(r"<dane_projektu>\s*(\{.*\})\s*</dane_projektu>", prompt, re.S)
    data = json.loads(match.group(1)) if match else {}
    name = data.get("nazwa_projektu", "[DO WERYFIKACJI]")
    cards = {key: f"Sekcja {key} projektu „{name}”. Treść przygotowana przez model testowy." for key in SECTION_KEYS}
    cards["nazwa_projektu"] = name
    return cards


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class _Handler(BaseHTTPRequestHandler):
    server: "FakeLLMServer"

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            return self._send(400, {"error": {"type": "invalid_request_error", "message": "bad json"}})
        recorder = self.server.recorder
        with recorder.lock:
            recorder.requests.append({"path": self.path, "body": body})
            recorder.in_flight += 1
            recorder.max_in_flight = max(recorder.max_in_flight, recorder.in_flight)
        try:
            behaviour = self.server.behaviour
            if behaviour.latency:
                time.sleep(behaviour.latency)
            if behaviour.status != 200:
                headers = {"retry-after": str(behaviour.retry_after)} if behaviour.retry_after is not None else {}
                kind = "overloaded_error" if behaviour.status == 529 else "api_error"
                return self._send(
                    behaviour.status, {"type": "error", "error": {"type": kind, "message": "fake failure"}}, headers
                )
            if self.path.rstrip("/").endswith("/messages"):
                return self._anthropic(body)
            if self.path.rstrip("/").endswith("/chat/completions"):
                return self._openai(body)
            return self._send(404, {"error": {"type": "not_found_error", "message": self.path}})
        finally:
            with recorder.lock:
                recorder.in_flight -= 1

    def _cached(self, system: str) -> int:
        recorder = self.server.recorder
        with recorder.lock:
            hit = system in recorder.seen_system_prompts
            recorder.seen_system_prompts.add(system)
        return _tokens(system) if hit else 0

    def _anthropic(self, body: dict):
        system = "".join(block.get("text", "") for block in body.get("system", []) if isinstance(block, dict))
        prompt = "".join(
            m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
            for m in body.get("messages", [])
        )
        card = _card_from_prompt(prompt)
        cached = self._cached(system)
        content_input = {"broken": True} if self.server.behaviour.invalid_json else card
        return self._send(
            200,
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "fake"),
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "content": [{"type": "tool_use", "id": "toolu_fake", "name": "karta_projektu", "input": content_input}],
                "usage": {
                    "input_tokens": _tokens(system + prompt) - cached,
                    "output_tokens": _tokens(json.dumps(card, ensure_ascii=False)),
                    "cache_read_input_tokens": cached,
                    "cache_creation_input_tokens": 0 if cached else _tokens(system),
                },
            },
        )

    def _openai(self, body: dict):
        messages = body.get("messages", [])
        system = "".join(m.get("content", "") for m in messages if m.get("role") == "system")
        prompt = "".join(m.get("content", "") for m in messages if m.get("role") != "system")
        card = _card_from_prompt(prompt)
        cached = self._cached(system)
        content = "{not json" if self.server.behaviour.invalid_json else json.dumps(card, ensure_ascii=False)
        prompt_tokens = _tokens(system + prompt)
        return self._send(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content, "refusal": None},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": _tokens(content),
                    "total_tokens": prompt_tokens + _tokens(content),
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            },
        )

    def _send(self, status: int, payload: dict, headers: dict | None = None):
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class FakeLLMServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.behaviour = Behaviour()
        self.recorder = Recorder()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread
