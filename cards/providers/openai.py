"""GPT through the official openai SDK (OpenAI, Azure, or any compatible server via
OPENAI_BASE_URL): one call with a strict JSON schema returns the whole card."""

import json

import openai
from django.conf import settings

from cards import prompts
from cards.providers.base import CardDraft, CardInput, InvalidAnswer, Provider, validate_sections
from cards.providers.errors import from_sdk_error


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self) -> None:
        self.model = settings.OPENAI_MODEL
        self.client = openai.OpenAI(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL,
            timeout=settings.AI_REQUEST_TIMEOUT,
            max_retries=0,
        )

    def generate_card(self, card: CardInput) -> CardDraft:
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                max_completion_tokens=settings.AI_MAX_OUTPUT_TOKENS,
                # The system prompt comes first and never changes: a stable prefix for caching.
                messages=[
                    {"role": "system", "content": prompts.system_prompt()},
                    {"role": "user", "content": prompts.card_user_message(card)},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": prompts.TOOL_NAME, "strict": True, "schema": prompts.card_schema()},
                },
            )
        except openai.APIError as exc:
            raise from_sdk_error(exc, provider=self.name) from exc
        if not response.choices:
            raise InvalidAnswer("Model nie zwrócił żadnej odpowiedzi.")
        choice = response.choices[0]
        if choice.finish_reason == "length":
            raise InvalidAnswer("Odpowiedź modelu została ucięta (limit tokenów).")
        if getattr(choice.message, "refusal", None):
            raise InvalidAnswer(f"Model odmówił odpowiedzi: {choice.message.refusal}")
        try:
            data = json.loads(choice.message.content or "")
        except json.JSONDecodeError as exc:
            raise InvalidAnswer("Odpowiedź modelu nie jest poprawnym JSON-em.") from exc
        usage = response.usage
        cached = 0
        if usage is not None and getattr(usage, "prompt_tokens_details", None) is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
        return CardDraft(
            sections=validate_sections(data),
            provider=self.name,
            model=response.model or self.model,
            input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            output_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cached_tokens=cached,
        )
