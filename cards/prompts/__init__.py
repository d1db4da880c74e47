"""Prompts for card generation. The system prompt is a file, identical on every call,
so that providers' prompt caching applies; user data travels only in delimited blocks."""

import json
from functools import cache
from pathlib import Path

from cards.providers.base import CardInput, card_data
from cards.sections import SECTION_HEADINGS, SECTION_KEYS

# Bump when system.md or the message layout changes (generation records will carry it).
PROMPT_VERSION = "2026-12-03.2"
TOOL_NAME = "karta_projektu"


@cache
def system_prompt() -> str:
    return (Path(__file__).with_name("system.md")).read_text(encoding="utf-8")


def card_schema() -> dict:
    """JSON schema of the structured answer: the eight sections as strings."""
    return {
        "type": "object",
        "properties": {key: {"type": "string", "description": SECTION_HEADINGS[key]} for key in SECTION_KEYS},
        "required": list(SECTION_KEYS),
        "additionalProperties": False,
    }


def _data_block(tag: str, data: dict) -> str:
    # JSON-escaping keeps quotes and newlines inside values; escaping "<" as \u003c
    # means no value can close the block and pose as instructions.
    payload = json.dumps(data, ensure_ascii=False, indent=2).replace("<", "\\u003c").replace(">", "\\u003e")
    return f"<{tag}>\n{payload}\n</{tag}>"


def card_user_message(card: CardInput) -> str:
    data = card_data(card)
    return "Przygotuj kartę projektu B+R dla projektu opisanego w bloku danych.\n\n" + _data_block(
        "dane_projektu", data
    )
