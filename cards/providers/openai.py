"""GPT through the official openai SDK (OpenAI, Azure, or any compatible server via
OPENAI_BASE_URL): one call with a strict JSON schema returns the whole card.

The answer is streamed, so a stalled connection is noticed after AI_IDLE_TIMEOUT rather than
after the whole AI_REQUEST_TIMEOUT.
"""

import functools
import json
import time
from dataclasses import dataclass

import openai
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


@dataclass
class _Answer:
    """A streamed completion, put back together."""

    model: str
    content: str = ""
    refusal: str = ""
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@functools.lru_cache(maxsize=8)
def _client(api_key: str, base_url: str | None, timeouts: tuple) -> openai.OpenAI:
    # One client per process and configuration (see anthropic._api_client).
    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=openai.Timeout(**dict(timeouts)), max_retries=0)


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self) -> None:
        self.model = settings.OPENAI_MODEL
        self.client = _client(
            settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, tuple(sdk_timeouts(streaming=True).items())
        )

    def generate_card(self, card: CardInput) -> CardDraft:
        sections, usage = self._structured(
            prompts.card_user_message(card),
            name=prompts.TOOL_NAME,
            schema=prompts.card_schema(),
            validate=validate_sections,
            whole=WHOLE_CARD,
        )
        return CardDraft(sections=sections, provider=self.name, **usage)

    def generate_section(self, card: CardInput, *, key: str, sections: dict[str, str], hints: str = "") -> SectionDraft:
        text, usage = self._structured(
            section_user_message(card, key=key, sections=sections, hints=hints),
            name=SECTION_TOOL_NAME,
            schema=section_schema(key),
            validate=validate_section_text,
            whole=WHOLE_SECTION,
        )
        return SectionDraft(text=text, provider=self.name, **usage)

    def _structured(self, user_message: str, *, name: str, schema: dict, validate, whole: str):
        """One call for a structured answer, and one more with a repair instruction if it was unusable."""
        answers: list[_Answer] = []

        def ask(repair: str | None) -> object:
            # The system prompt comes first and never changes: a stable prefix for caching.
            messages = [
                {"role": "system", "content": prompts.system_prompt()},
                {"role": "user", "content": user_message},
            ]
            if repair:
                messages.append({"role": "user", "content": repair})
            answer = self._stream(messages, name=name, schema=schema)
            answers.append(answer)
            return _parse(answer)

        result = answer_with_repair(ask, validate, answer_name=name, whole=whole)
        # Both calls are paid for, so a repaired answer reports the tokens of both.
        return result, {
            "model": answers[-1].model,
            "input_tokens": sum(answer.input_tokens for answer in answers),
            "output_tokens": sum(answer.output_tokens for answer in answers),
            "cached_tokens": sum(answer.cached_tokens for answer in answers),
        }

    def _stream(self, messages: list[dict], *, name: str, schema: dict) -> _Answer:
        deadline = time.monotonic() + settings.AI_REQUEST_TIMEOUT
        answer = _Answer(model=self.model)
        content, refusal = [], []
        try:
            stream = self.client.chat.completions.create(
                model=self.model,
                max_completion_tokens=settings.AI_MAX_OUTPUT_TOKENS,
                messages=messages,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": name, "strict": True, "schema": schema},
                },
                stream=True,
                stream_options={"include_usage": True},
            )
            with stream:
                for chunk in stream:
                    if time.monotonic() > deadline:
                        raise too_slow(self.name)
                    answer.model = chunk.model or answer.model
                    if chunk.usage is not None:  # the last chunk, with no choices
                        details = getattr(chunk.usage, "prompt_tokens_details", None)
                        answer.cached_tokens = (getattr(details, "cached_tokens", 0) or 0) if details else 0
                        # OpenAI's prompt_tokens include the cached ones: keep input_tokens to the
                        # tokens billed at the full rate, as for Anthropic.
                        answer.input_tokens = max(0, (chunk.usage.prompt_tokens or 0) - answer.cached_tokens)
                        answer.output_tokens = chunk.usage.completion_tokens or 0
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        content.append(choice.delta.content or "")
                        refusal.append(getattr(choice.delta, "refusal", None) or "")
                        answer.finish_reason = choice.finish_reason or answer.finish_reason
        except openai.APIError as exc:
            raise from_sdk_error(exc, provider=self.name) from exc
        answer.content, answer.refusal = "".join(content), "".join(refusal)
        return answer


def _parse(answer: _Answer) -> object:
    if answer.refusal:
        raise RefusedAnswer(f"Model odmówił przygotowania odpowiedzi: {answer.refusal}")
    if answer.finish_reason == "content_filter":
        raise RefusedAnswer("Odpowiedź modelu zatrzymał filtr treści dostawcy.")
    if answer.finish_reason == "length":
        raise TruncatedAnswer("Odpowiedź modelu została ucięta (limit tokenów).")
    if answer.finish_reason is None:
        raise ProviderError("openai: odpowiedź urwała się przed końcem.", permanent=False)
    try:
        return json.loads(answer.content)
    except json.JSONDecodeError as exc:
        raise InvalidAnswer("Odpowiedź modelu nie jest poprawnym JSON-em.") from exc
