"""Claude through the official anthropic SDK: one tool-use call returns the whole card.

The answer is streamed, so a stalled connection is noticed after AI_IDLE_TIMEOUT rather than
after the whole AI_REQUEST_TIMEOUT. With RNDCARDS_ANTHROPIC_BEDROCK the same requests go to
AWS Bedrock through the SDK's Bedrock client; there the call blocks, because Bedrock streams in
AWS's binary event format, which the SDK decodes only with botocore (not a dependency here).
"""

import functools
import importlib.util
import time

import anthropic

# The SDK's HTTP layer: anthropic does not wrap a timeout or disconnect in the middle of a
# stream into its own exceptions, so those arrive as httpx2 errors.
import httpx2
from django.conf import settings

from cards import prompts
from cards.providers.base import (
    SECTION_TOOL_NAME,
    WHOLE_CARD,
    WHOLE_SECTION,
    CardDraft,
    CardInput,
    InvalidAnswer,
    Provider,
    ProviderError,
    RefusedAnswer,
    SectionDraft,
    TruncatedAnswer,
    answer_with_repair,
    sdk_timeouts,
    section_schema,
    section_user_message,
    too_slow,
    validate_section_text,
    validate_sections,
)
from cards.providers.errors import from_sdk_error


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(self) -> None:
        self.model = settings.ANTHROPIC_MODEL
        self.bedrock = bool(getattr(settings, "RNDCARDS_ANTHROPIC_BEDROCK", False))
        # Retries belong to our own policy (resilience), not hidden in the SDK.
        if self.bedrock:
            self.client = _bedrock_client()
        else:
            self.client = _api_client(
                settings.ANTHROPIC_API_KEY, settings.ANTHROPIC_BASE_URL, tuple(sdk_timeouts(streaming=True).items())
            )

    def generate_card(self, card: CardInput) -> CardDraft:
        tool = {
            "name": prompts.TOOL_NAME,
            "description": "Zapisuje osiem sekcji karty projektu B+R.",
            "input_schema": prompts.card_schema(),
        }
        sections, usage = self._structured(
            prompts.card_user_message(card), tool=tool, validate=validate_sections, whole=WHOLE_CARD
        )
        return CardDraft(sections=sections, provider=self.name, **usage)

    def generate_section(self, card: CardInput, *, key: str, sections: dict[str, str], hints: str = "") -> SectionDraft:
        tool = {
            "name": SECTION_TOOL_NAME,
            "description": "Zapisuje nową treść jednej sekcji karty projektu B+R.",
            "input_schema": section_schema(key),
        }
        message = section_user_message(card, key=key, sections=sections, hints=hints)
        text, usage = self._structured(message, tool=tool, validate=validate_section_text, whole=WHOLE_SECTION)
        return SectionDraft(text=text, provider=self.name, **usage)

    def _structured(self, user_message: str, *, tool: dict, validate, whole: str):
        """One call for a structured answer, and one more with a repair instruction if it was unusable."""
        responses = []

        def ask(repair: str | None) -> object:
            messages = [{"role": "user", "content": user_message}]
            if repair:
                messages.append({"role": "user", "content": repair})
            response = self._create(messages, tool)
            responses.append(response)
            return _tool_input(response, tool["name"])

        result = answer_with_repair(ask, validate, answer_name=tool["name"], whole=whole)
        usages = [response.usage for response in responses]
        # Both calls are paid for, so a repaired answer reports the tokens of both.
        return result, {
            "model": responses[-1].model or self.model,
            # Input billed at the full rate: fresh input plus cache writes (the first call
            # stores the system prompt); cache reads are counted apart as cached_tokens.
            "input_tokens": sum(
                (usage.input_tokens or 0) + (getattr(usage, "cache_creation_input_tokens", 0) or 0) for usage in usages
            ),
            "output_tokens": sum(usage.output_tokens or 0 for usage in usages),
            "cached_tokens": sum(getattr(usage, "cache_read_input_tokens", 0) or 0 for usage in usages),
        }

    def _create(self, messages: list[dict], tool: dict):
        request = {
            "model": self.model,
            "max_tokens": settings.AI_MAX_OUTPUT_TOKENS,
            # Identical on every call, card or section, first or repair: one cached prefix.
            "system": [{"type": "text", "text": prompts.system_prompt(), "cache_control": {"type": "ephemeral"}}],
            "tools": [tool],
            "tool_choice": {"type": "tool", "name": tool["name"]},
            "messages": messages,
        }
        try:
            if self.bedrock:
                return self.client.messages.create(**request)
            return self._stream(request)
        except anthropic.APIStatusError as exc:
            if exc.status_code < 400:
                # An error event inside a stream that began with 200 (e.g. overloaded mid-answer).
                raise ProviderError(f"{self.name}: błąd w trakcie odpowiedzi — {exc}", permanent=False) from exc
            raise from_sdk_error(exc, provider=self.name) from exc
        except (anthropic.APIError, httpx2.TransportError) as exc:
            raise from_sdk_error(exc, provider=self.name) from exc

    def _stream(self, request: dict):
        deadline = time.monotonic() + settings.AI_REQUEST_TIMEOUT
        with self.client.messages.stream(**request) as stream:
            try:
                for _event in stream:
                    if time.monotonic() > deadline:
                        raise too_slow(self.name)
            except ValueError as exc:
                # The SDK could not parse the streamed tool input. The stream is abandoned before
                # its usage arrives, so the tokens of this answer are not counted.
                raise InvalidAnswer("Odpowiedź modelu nie jest poprawnym JSON-em.") from exc
            return stream.get_final_message()


@functools.lru_cache(maxsize=8)
def _api_client(api_key: str, base_url: str | None, timeouts: tuple) -> anthropic.Anthropic:
    # One client per process and configuration: building one (TLS context, connection pool)
    # costs ~30 ms of CPU per card, and a shared client keeps its connections alive.
    # The SDK's clients are thread-safe.
    return anthropic.Anthropic(
        api_key=api_key, base_url=base_url, timeout=anthropic.Timeout(**dict(timeouts)), max_retries=0
    )


def _tool_input(response, tool_name: str) -> object:
    if response.stop_reason == "refusal":
        raise RefusedAnswer("Model odmówił przygotowania odpowiedzi.")
    if response.stop_reason == "max_tokens":
        raise TruncatedAnswer("Odpowiedź modelu została ucięta (limit tokenów).")
    if response.stop_reason is None:
        raise ProviderError("anthropic: odpowiedź urwała się przed końcem.", permanent=False)
    inputs = [block.input for block in response.content if getattr(block, "type", "") == "tool_use"]
    if not inputs:
        raise InvalidAnswer(f"Model nie odpowiedział w wymaganej strukturze („{tool_name}”).")
    return inputs[0]


def _bedrock_client() -> anthropic.AnthropicBedrock:
    # Authentication: a Bedrock API key (bearer token) if one is set, else the AWS credential
    # chain, which the SDK reads through boto3.
    try:
        client = anthropic.AnthropicBedrock(
            aws_region=getattr(settings, "AWS_REGION", "") or None,
            api_key=getattr(settings, "AWS_BEARER_TOKEN_BEDROCK", "") or None,
            base_url=getattr(settings, "ANTHROPIC_BEDROCK_BASE_URL", "") or None,
            timeout=anthropic.Timeout(**sdk_timeouts(streaming=False)),
            max_retries=0,
        )
    except ValueError as exc:  # no AWS region anywhere
        raise ProviderError(f"anthropic (Bedrock): {exc}", permanent=True) from exc
    if client.api_key is None and importlib.util.find_spec("boto3") is None:
        # Otherwise every request would fail with an ImportError deep inside the SDK.
        raise ProviderError(
            "anthropic (Bedrock): brak AWS_BEARER_TOKEN_BEDROCK, a podpisywanie kluczami AWS wymaga pakietu boto3.",
            permanent=True,
        )
    return client
