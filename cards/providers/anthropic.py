"""Claude through the official anthropic SDK: one tool-use call returns the whole card."""

import anthropic
from django.conf import settings

from cards import prompts
from cards.providers.base import CardDraft, CardInput, InvalidAnswer, Provider, validate_sections
from cards.providers.errors import from_sdk_error


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(self) -> None:
        self.model = settings.ANTHROPIC_MODEL
        # Retries belong to our own policy (resilience), not hidden in the SDK.
        self.client = anthropic.Anthropic(
            api_key=settings.ANTHROPIC_API_KEY,
            base_url=settings.ANTHROPIC_BASE_URL,
            timeout=settings.AI_REQUEST_TIMEOUT,
            max_retries=0,
        )

    def generate_card(self, card: CardInput) -> CardDraft:
        try:
            response = self.client.messages.create(
                model=self.model,
                max_tokens=settings.AI_MAX_OUTPUT_TOKENS,
                system=[{"type": "text", "text": prompts.system_prompt(), "cache_control": {"type": "ephemeral"}}],
                tools=[
                    {
                        "name": prompts.TOOL_NAME,
                        "description": "Zapisuje osiem sekcji karty projektu B+R.",
                        "input_schema": prompts.card_schema(),
                    }
                ],
                tool_choice={"type": "tool", "name": prompts.TOOL_NAME},
                messages=[{"role": "user", "content": prompts.card_user_message(card)}],
            )
        except anthropic.APIError as exc:
            raise from_sdk_error(exc, provider=self.name) from exc
        if response.stop_reason == "max_tokens":
            raise InvalidAnswer("Odpowiedź modelu została ucięta (limit tokenów).")
        tool_inputs = [block.input for block in response.content if getattr(block, "type", "") == "tool_use"]
        if not tool_inputs:
            raise InvalidAnswer("Model nie zwrócił karty w wymaganej strukturze.")
        usage = response.usage
        return CardDraft(
            sections=validate_sections(tool_inputs[0]),
            provider=self.name,
            model=response.model or self.model,
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cached_tokens=getattr(usage, "cache_read_input_tokens", 0) or 0,
        )
