"""A local stand-in for the Anthropic Messages and OpenAI Chat Completions HTTP APIs.

Tests and benchmarks point the real SDKs at it (ANTHROPIC_BASE_URL / OPENAI_BASE_URL, or
ANTHROPIC_BEDROCK_BASE_URL for the Bedrock client); the product does not know it is fake. It
answers with a structured card built from the request's data block (or with {"tekst": ...}
when the schema asks for one section), streams when asked to, reports token usage (cached
tokens for a system prompt it has seen before), and can be told to be slow or to fail.

Faults are set per provider, so that one server can keep OpenAI healthy while Anthropic is
overloaded. A fault hits a share of requests (`ratio`, drawn from a seeded random sequence,
so a run can be repeated) or the first N requests after it was set (`fail_first`).

Control over HTTP, for a benchmark or a worker in another process:

    POST /_control  {"anthropic": {"fault": "529", "ratio": 1.0}, "latency": 2}
                    {"fault": "500", "ratio": 0.1, "seed": 7}   (both providers)
                    {"openai": null}  {"reset": true}
    GET  /_control  the current configuration
    GET  /_stats    requests per path and provider, faults served, max_in_flight, tokens
"""

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from cards.sections import SECTION_KEYS

PROVIDERS = ("anthropic", "openai")
# Besides these, any HTTP error status ("400", "401", "503"…) is a fault kind of its own.
FAULT_KINDS = ("429", "529", "500", "hang", "truncated", "invalid_json", "refusal", "stream_error")
REFUSAL = "Nie mogę pomóc w przygotowaniu tej odpowiedzi."
_FAULT_KEYS = {"fault", "ratio", "fail_first", "retry_after"}


@dataclass
class Fault:
    kind: str
    ratio: float = 1.0  # share of requests that fail
    fail_first: int = 0  # when set: exactly the first N requests fail, then all succeed
    retry_after: float | None = None  # seconds, sent as Retry-After (429 sends 1 unless told otherwise)

    def __post_init__(self):
        self.kind = str(self.kind)
        if self.kind not in FAULT_KINDS and not (self.kind.isdigit() and 400 <= int(self.kind) <= 599):
            raise ValueError(f"unknown fault {self.kind!r}: use one of {', '.join(FAULT_KINDS)} or an HTTP status")
        self.ratio = float(self.ratio)
        self.fail_first = int(self.fail_first)
        if not 0 <= self.ratio <= 1 or self.fail_first < 0:
            raise ValueError("ratio must be between 0 and 1 and fail_first not negative")
        if self.retry_after is not None:
            self.retry_after = float(self.retry_after)


@dataclass
class Behaviour:
    latency: float = 0.0  # seconds before answering
    stream_delay: float = 0.0  # seconds between streamed events
    hang_seconds: float = 300.0  # how long "hang" keeps a request open before closing it unanswered
    seed: int = 0
    fault: Fault | None = None  # for both providers…
    faults: dict[str, Fault] = field(default_factory=dict)  # …unless one has its own
    # The original switches, kept for the tests that set them: every request fails with
    # `status` (non-200), or every answer is malformed.
    status: int = 200
    retry_after: float | None = None
    invalid_json: bool = False


@dataclass
class _Draw:
    """Which requests a fault hits: it counts its requests and has its own random sequence."""

    fault: Fault
    rng: random.Random
    count: int = 0

    def hits(self) -> bool:
        self.count += 1
        if self.fault.fail_first:
            return self.count <= self.fault.fail_first
        return self.rng.random() < self.fault.ratio


@dataclass
class Recorder:
    requests: list[dict] = field(default_factory=list)
    seen_system_prompts: set[tuple[str, str]] = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0
    tokens: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.seen_system_prompts.clear()
            self.tokens.clear()
            self.max_in_flight = self.in_flight

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": dict(Counter(request["path"] for request in self.requests)),
                "providers": dict(Counter(request["provider"] for request in self.requests)),
                "faults": dict(Counter(request["fault"] for request in self.requests if request["fault"])),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "tokens": {kind: self.tokens[kind] for kind in ("input", "output", "cached")},
            }


def _card_from_prompt(prompt: str) -> dict[str, str]:
    data = _project(prompt)
    name = data.get("nazwa_projektu", "[DO WERYFIKACJI]")
    cards = {key: f"Sekcja {key} projektu „{name}”. Treść przygotowana przez model testowy." for key in SECTION_KEYS}
    cards["nazwa_projektu"] = name
    return cards


def _project(prompt: str) -> dict:
    match = re.search(r"<dane_projektu>\s*(\{.*?\})\s*</dane_projektu>", prompt, re.S)
    return json.loads(match.group(1)) if match else {}


def _answer(schema: dict, prompt: str) -> dict[str, str]:
    if "tekst" in (schema.get("properties") or {}):
        name = _project(prompt).get("nazwa_projektu", "[DO WERYFIKACJI]")
        return {"tekst": f"Nowa treść sekcji projektu „{name}”. Przygotowana przez model testowy."}
    return _card_from_prompt(prompt)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _provider(path: str) -> str | None:
    if path.endswith("/messages") or re.fullmatch(r"/model/[^/]+/invoke", path):
        return "anthropic"
    if path.endswith("/chat/completions"):
        return "openai"
    return None


def _error_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error")


class _Handler(BaseHTTPRequestHandler):
    server: "FakeLLMServer"

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/_stats":
            return self._send(200, self.server.recorder.stats())
        if path == "/_control":
            return self._send(200, self.server.configuration())
        return self._send(404, {"error": {"type": "not_found_error", "message": path}})

    def do_POST(self):
        path = urlsplit(self.path).path
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            return self._send(400, {"error": {"type": "invalid_request_error", "message": "bad json"}})
        if path == "/_control":
            try:
                self.server.configure(body)
            except (TypeError, ValueError) as exc:
                return self._send(400, {"error": {"type": "invalid_request_error", "message": str(exc)}})
            return self._send(200, self.server.configuration())
        provider = _provider(path)
        if provider is None:
            return self._send(404, {"error": {"type": "not_found_error", "message": path}})

        recorder = self.server.recorder
        fault = self.server.draw_fault(provider)
        with recorder.lock:
            recorder.requests.append(
                {
                    "path": path,
                    "provider": provider,
                    "body": body,
                    "headers": {key.lower(): value for key, value in self.headers.items()},
                    "fault": fault.kind if fault else None,
                }
            )
            recorder.in_flight += 1
            recorder.max_in_flight = max(recorder.max_in_flight, recorder.in_flight)
        try:
            self._answer(path, provider, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing left to say
        finally:
            with recorder.lock:
                recorder.in_flight -= 1

    def _answer(self, path: str, provider: str, body: dict, fault: Fault | None):
        behaviour = self.server.behaviour
        kind = fault.kind if fault else None
        streaming = bool(body.get("stream"))
        if path.endswith("/invoke"):
            # Bedrock: the model travels in the path, not in the body.
            body = {**body, "model": unquote(path.split("/")[2])}
        if self.server.pause(behaviour.latency):
            return
        if kind == "stream_error" and not streaming:
            kind = "529" if provider == "anthropic" else "500"
        if kind and kind.isdigit():
            return self._error(provider, int(kind), fault.retry_after)
        if kind == "hang" and not streaming:
            return self._hang()
        if provider == "anthropic":
            return self._anthropic(body, kind, streaming)
        return self._openai(body, kind, streaming)

    def _error(self, provider: str, status: int, retry_after: float | None):
        if retry_after is None and status == 429:
            retry_after = 1.0  # real APIs say when to come back from a rate limit
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        kind = _error_type(status)
        if provider == "anthropic":
            payload = {"type": "error", "error": {"type": kind, "message": "fake failure"}}
        else:
            payload = {"error": {"type": kind, "message": "fake failure", "code": None, "param": None}}
        return self._send(status, payload, headers)

    def _hang(self):
        # Say nothing for longer than any client waits, then hang up without an answer.
        self.server.pause(self.server.behaviour.hang_seconds)
        self.close_connection = True

    def _cached(self, provider: str, system: str) -> int:
        recorder = self.server.recorder
        with recorder.lock:
            hit = (provider, system) in recorder.seen_system_prompts
            recorder.seen_system_prompts.add((provider, system))
        return _tokens(system) if hit else 0

    def _count(self, input_tokens: int, output_tokens: int, cached: int):
        with self.server.recorder.lock:
            self.server.recorder.tokens.update({"input": input_tokens, "output": output_tokens, "cached": cached})

    def _anthropic(self, body: dict, kind: str | None, streaming: bool):
        system = "".join(block.get("text", "") for block in body.get("system", []) if isinstance(block, dict))
        if isinstance(body.get("system"), str):
            system = body["system"]
        prompt = "".join(
            m["content"] if isinstance(m["content"], str) else json.dumps(m["content"], ensure_ascii=False)
            for m in body.get("messages", [])
        )
        tools = body.get("tools") or [{}]
        tool_name = tools[0].get("name", "karta_projektu")
        data = _answer(tools[0].get("input_schema") or {}, prompt)
        text = json.dumps(data, ensure_ascii=False)
        stop_reason = "tool_use"
        if kind == "truncated":
            stop_reason, text = "max_tokens", text[: len(text) // 2]
            data = dict(list(data.items())[: len(data) // 2])
        elif kind == "invalid_json":
            text, data = '{"nazwa_projektu": "x", "cel_projektu": }', {"broken": True}
        elif kind == "refusal":
            stop_reason, text = "refusal", REFUSAL
        cached = self._cached("anthropic", system)
        usage = {
            "input_tokens": _tokens(system + prompt) - cached,
            "output_tokens": _tokens(text),
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0 if cached else _tokens(system),
        }
        self._count(usage["input_tokens"] + cached, usage["output_tokens"], cached)
        block = {"type": "tool_use", "id": "toolu_fake", "name": tool_name, "input": data}
        if kind == "refusal":
            block = {"type": "text", "text": REFUSAL}
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "content": [block],
            "usage": usage,
        }
        if not streaming:
            return self._send(200, message)

        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events = [("message_start", {"type": "message_start", "message": start})]
        if kind == "hang":
            return self._stream(events, hang=True)
        if kind == "stream_error":
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            return self._stream([*events, ("error", error)])
        if kind == "refusal":
            first, delta = {"type": "text", "text": ""}, "text_delta"
        else:
            first, delta = {"type": "tool_use", "id": "toolu_fake", "name": tool_name, "input": {}}, "input_json_delta"
        events.append(("content_block_start", {"type": "content_block_start", "index": 0, "content_block": first}))
        for piece in _pieces(text):
            field_name = "text" if delta == "text_delta" else "partial_json"
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": delta, field_name: piece}},
                )
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return self._stream(events)

    def _openai(self, body: dict, kind: str | None, streaming: bool):
        messages = body.get("messages", [])
        system = "".join(m.get("content", "") for m in messages if m.get("role") == "system")
        prompt = "".join(m.get("content", "") for m in messages if m.get("role") != "system")
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
        content = json.dumps(_answer(schema, prompt), ensure_ascii=False)
        refusal, finish_reason = None, "stop"
        if kind == "truncated":
            content, finish_reason = content[: len(content) // 2], "length"
        elif kind == "invalid_json":
            content = "{not json"
        elif kind == "refusal":
            content, refusal = None, REFUSAL
        cached = self._cached("openai", system)
        prompt_tokens = _tokens(system + prompt)
        completion_tokens = _tokens(content or refusal)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        self._count(prompt_tokens, completion_tokens, cached)
        head = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body.get("model", "fake")}
        if not streaming:
            message = {"role": "assistant", "content": content, "refusal": refusal}
            return self._send(
                200,
                {
                    **head,
                    "object": "chat.completion",
                    "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
                    "usage": usage,
                },
            )

        def chunk(delta: dict, finish: str | None = None) -> tuple[None, dict]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return None, {**head, "object": "chat.completion.chunk", "choices": [choice]}

        events = [chunk({"role": "assistant", "content": ""})]
        if kind == "hang":
            return self._stream(events, hang=True)
        if kind == "stream_error":
            return self._stream([*events, (None, {"error": {"type": "server_error", "message": "Overloaded"}})])
        field_name = "refusal" if refusal else "content"
        events += [chunk({field_name: piece}) for piece in _pieces(refusal or content)]
        events.append(chunk({}, finish_reason))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
        return self._stream(events, done=True)

    def _stream(self, events: list[tuple[str | None, dict]], *, hang: bool = False, done: bool = False):
        """Server-sent events: Anthropic names each event, OpenAI ends with [DONE]."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        for index, (name, data) in enumerate(events):
            if index and self.server.pause(self.server.behaviour.stream_delay):
                return
            prefix = f"event: {name}\n" if name else ""
            self.wfile.write(f"{prefix}data: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
        if hang:
            return self._hang()
        if done:
            self.wfile.write(b"data: [DONE]\n\n")

    def _send(self, status: int, payload: dict, headers: dict | None = None):
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _pieces(text: str, count: int = 6) -> list[str]:
    size = max(1, -(-len(text) // count))
    return [text[start : start + size] for start in range(0, len(text), size)]


def _fault(spec) -> Fault | None:
    if spec is None:
        return None
    if isinstance(spec, str | int):
        return Fault(str(spec))
    if not isinstance(spec, dict):
        raise ValueError(f"a fault is a kind or an object, not {spec!r}")
    unknown = set(spec) - _FAULT_KEYS
    if unknown or "fault" not in spec:
        raise ValueError(f"a fault needs 'fault' and may have ratio, fail_first, retry_after (got {sorted(spec)})")
    if spec["fault"] is None:
        return None
    return Fault(spec["fault"], spec.get("ratio", 1.0), spec.get("fail_first", 0), spec.get("retry_after"))


class FakeLLMServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of connections (25 cards asking at
    # once; every request is a new HTTP/1.0 connection) overflowed it and the dropped ones
    # were retried by the client's TCP a second later. The providers' servers do not drop them.
    request_queue_size = 128

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.behaviour = Behaviour()
        self.recorder = Recorder()
        self.stopping = threading.Event()
        self._draws: dict[str, _Draw] = {}  # per provider

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        self.stopping.set()  # wakes requests that hang or wait, so they end with the server
        super().shutdown()

    def pause(self, seconds: float) -> bool:
        """Wait, unless the server is stopping; True when it is."""
        return self.stopping.wait(seconds) if seconds > 0 else self.stopping.is_set()

    def draw_fault(self, provider: str) -> Fault | None:
        """Whether this request fails, and how. Counts restart whenever the fault is replaced."""
        behaviour = self.behaviour
        fault = behaviour.faults.get(provider) or behaviour.fault
        if fault is not None:
            with self.recorder.lock:
                draw = self._draws.get(provider)
                if draw is None or draw.fault is not fault:
                    draw = self._draws[provider] = _Draw(fault, random.Random(f"{behaviour.seed}:{provider}"))
                hit = draw.hits()
            if hit:
                return fault
        if behaviour.status != 200:
            return Fault(str(behaviour.status), retry_after=behaviour.retry_after)
        if behaviour.invalid_json:
            return Fault("invalid_json")
        return None

    def configure(self, options: dict) -> None:
        """Apply a control message (see the module docstring); invalid ones change nothing."""
        if not isinstance(options, dict):
            raise ValueError("the control message is a JSON object")
        options = dict(options)
        behaviour = Behaviour() if options.pop("reset", False) else self.behaviour
        changes: dict = {}
        for name in ("latency", "stream_delay", "hang_seconds"):
            if name in options:
                changes[name] = float(options.pop(name))
                if changes[name] < 0:
                    raise ValueError(f"{name} must not be negative")
        if "seed" in options:
            changes["seed"] = int(options.pop("seed"))
        if "fault" in options:
            changes["fault"] = _fault({key: options.pop(key) for key in list(options) if key in _FAULT_KEYS})
        elif set(options) & _FAULT_KEYS:
            raise ValueError("ratio, fail_first and retry_after need a fault")
        faults = dict(behaviour.faults)
        for provider in PROVIDERS:
            if provider in options:
                faults[provider] = _fault(options.pop(provider))
        if options:
            raise ValueError(f"unknown control options: {', '.join(sorted(options))}")
        changes["faults"] = {provider: fault for provider, fault in faults.items() if fault is not None}
        if behaviour is not self.behaviour:
            self.recorder.clear()
        for name, value in changes.items():
            setattr(behaviour, name, value)
        if "seed" in changes:
            self._draws.clear()  # a new seed starts new random sequences
        self.behaviour = behaviour

    def configuration(self) -> dict:
        return asdict(self.behaviour)
