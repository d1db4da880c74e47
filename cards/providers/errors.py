"""Translate the SDKs' exceptions into ProviderError, saying whether a retry may help."""

from cards.providers.base import ProviderError

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


def from_sdk_error(exc: Exception, *, provider: str) -> ProviderError:
    """Both official SDKs share the same exception shapes (APIStatusError, APIConnectionError…)."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        retry_after = None
        response = getattr(exc, "response", None)
        if response is not None:
            raw = response.headers.get("retry-after")
            try:
                retry_after = float(raw) if raw is not None else None
            except ValueError:
                retry_after = None
        permanent = status not in RETRYABLE_STATUS
        return ProviderError(
            f"{provider}: HTTP {status} — {exc}", permanent=permanent, retry_after=retry_after, status=status
        )
    # Connection errors and timeouts have no status: transient by nature.
    return ProviderError(f"{provider}: {type(exc).__name__} — {exc}", permanent=False)
