"""The interface every model provider implements, and the errors it may raise."""

import datetime
from dataclasses import dataclass

from cards.sections import SECTION_KEYS


@dataclass(frozen=True)
class CardInput:
    """What a provider knows about a project: the spreadsheet row, cleaned."""

    name: str
    description: str
    goal: str
    start_date: datetime.date
    end_date: datetime.date
    responsible_person: str
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CardDraft:
    """A provider's answer: plain text for each of the eight sections."""

    sections: dict[str, str]
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


class ProviderError(Exception):
    """A provider could not produce a card. `permanent` errors are not worth retrying."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status  # the HTTP status, when there was one (429 is back-pressure, not an outage)


class InvalidAnswer(ProviderError):
    """The model answered, but not with eight usable sections."""


class Provider:
    name: str = ""
    model: str = ""

    def generate_card(self, card: CardInput) -> CardDraft:
        raise NotImplementedError


def validate_sections(data: object) -> dict[str, str]:
    """Check a model's structured answer: a dict with eight non-empty string sections."""
    if not isinstance(data, dict):
        raise InvalidAnswer("Odpowiedź modelu nie jest obiektem JSON z sekcjami karty.")
    missing = [key for key in SECTION_KEYS if not isinstance(data.get(key), str) or not data[key].strip()]
    if missing:
        raise InvalidAnswer(f"W odpowiedzi modelu brakuje sekcji: {', '.join(missing)}.")
    return {key: data[key].strip() for key in SECTION_KEYS}
