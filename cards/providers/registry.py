"""Which providers exist here and which one a generation uses."""

from django.conf import settings

from cards.providers.base import Provider

PROVIDER_LABELS = {
    "anthropic": "Claude (Anthropic)",
    "openai": "GPT (OpenAI)",
    "offline": "Szkic offline (bez AI)",
}
# The consultant's model choice in the UI, mapped to a provider.
MODEL_CHOICES = {"claude": "anthropic", "gpt4": "openai"}


def configured_providers() -> list[str]:
    """Providers usable now: those with credentials, and always the offline one."""
    names = []
    if settings.ANTHROPIC_API_KEY or settings.RNDCARDS_ANTHROPIC_BEDROCK:
        names.append("anthropic")
    if settings.OPENAI_API_KEY:
        names.append("openai")
    names.append("offline")
    return names


def default_provider_name() -> str:
    """The configured default, else the first provider that has a key, else offline."""
    if settings.RNDCARDS_DEFAULT_PROVIDER in configured_providers():
        return settings.RNDCARDS_DEFAULT_PROVIDER
    return configured_providers()[0]


class ProviderNotConfigured(ValueError):
    """A provider was asked for by name but has no credentials here."""


_KEY_SETTING = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def require_configured(name: str) -> None:
    if name not in PROVIDER_LABELS:
        raise ProviderNotConfigured(f"Nieznany dostawca „{name}”. Dostępni: {', '.join(configured_providers())}.")
    if name not in configured_providers():
        raise ProviderNotConfigured(
            f"Dostawca {PROVIDER_LABELS[name]} nie jest skonfigurowany: ustaw {_KEY_SETTING[name]} "
            f"albo wybierz innego dostawcę ({', '.join(configured_providers())})."
        )


def get_provider(name: str) -> Provider:
    if name == "anthropic":
        from cards.providers.anthropic import AnthropicProvider

        return AnthropicProvider()
    if name == "openai":
        from cards.providers.openai import OpenAIProvider

        return OpenAIProvider()
    if name == "offline":
        from cards.providers.offline import OfflineProvider

        return OfflineProvider()
    raise ValueError(f"Unknown provider {name!r}")
