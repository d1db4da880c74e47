"""One circuit breaker per model provider (pybreaker), shared between processes via Redis.

3 consecutive failed requests open a provider's breaker; for the next 60 s calls to it
fail at once with pybreaker.CircuitBreakerError. Then one trial call is let through:
success closes the breaker, failure opens it for another 60 s. Rate limits (429) and
invalid answers are not failures: the provider is up and answering.

With REDIS_URL set, state lives under "rndcards:breaker:<provider>" so every web and
worker process sees the same breaker. Redis being down must not stop generation: the
breaker then works as if closed (pybreaker's fallback) or in memory, and says so in the log.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker
import redis
from django.conf import settings

from cards.providers.base import InvalidAnswer

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_FAIL_MAX = 3
DEFAULT_RESET_TIMEOUT = 60.0
# Redis calls sit on the path of every provider request: a dead Redis must cost little.
REDIS_TIMEOUT = 1.0


def is_rate_limit(exc: BaseException) -> bool:
    """An HTTP 429: the provider is up, it only asks us to slow down."""
    return getattr(exc, "status", None) == 429


class ProviderBreaker(pybreaker.CircuitBreaker):
    """pybreaker's breaker without its lock around the guarded call.

    pybreaker holds one lock for the whole call (danielfm/pybreaker#3), which would let a
    worker process send only one request at a time to each provider. Here the lock covers
    the state decision only; the request runs unlocked and reports back through
    pybreaker's state objects. In half-open, this process lets through one trial call
    and turns the others away; processes sharing Redis may each send one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trial_running = False

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        trial = False
        with self._lock:
            state = self.state
            if state.name == pybreaker.STATE_OPEN:
                if not self.reset_timeout_elapsed():
                    raise pybreaker.CircuitBreakerError(f"circuit breaker {self.name} is open")
                self.half_open()
                state = self.state
            if state.name == pybreaker.STATE_HALF_OPEN:
                if self._trial_running:
                    raise pybreaker.CircuitBreakerError(f"circuit breaker {self.name}: trial call in progress")
                self._trial_running = trial = True
        try:
            return state.call(func, *args, **kwargs)
        finally:
            if trial:
                with self._lock:
                    self._trial_running = False

    def reset_timeout_elapsed(self) -> bool:
        opened_at = self._state_storage.opened_at
        # No timestamp (lost from Redis): let a trial call find out rather than stay open forever.
        return opened_at is None or datetime.now(UTC) >= opened_at + timedelta(seconds=self.reset_timeout)


def new_breaker(
    name: str,
    *,
    fail_max: int = DEFAULT_FAIL_MAX,
    reset_timeout: float = DEFAULT_RESET_TIMEOUT,
    redis_client: redis.Redis | None = None,
) -> ProviderBreaker:
    """A breaker for provider `name`, in memory or in Redis. Raises RedisError if Redis
    cannot be reached while its state is set up."""
    storage: pybreaker.CircuitBreakerStorage
    if redis_client is not None:
        storage = pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED,
            redis_client,
            namespace=f"{getattr(settings, 'RNDCARDS_REDIS_PREFIX', 'rndcards')}:breaker:{name}",
        )
    else:
        storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
    return ProviderBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        exclude=[InvalidAnswer, is_rate_limit],
        state_storage=storage,
        name=name,
    )


_lock = threading.Lock()
_breakers: dict[str, ProviderBreaker] = {}
# Providers whose breaker fell back to memory because Redis was down, and when to try Redis again.
_redis_retry_at: dict[str, float] = {}
_redis_clients: dict[str, redis.Redis] = {}


def _redis_client(url: str) -> redis.Redis:
    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
        )
    return _redis_clients[url]


def get_breaker(name: str) -> ProviderBreaker:
    """This process's breaker for provider `name`, configured from settings on first use."""
    with _lock:
        breaker = _breakers.get(name)
        retry_at = _redis_retry_at.get(name)
        if breaker is not None and (retry_at is None or time.monotonic() < retry_at):
            return breaker
        fail_max = getattr(settings, "RNDCARDS_BREAKER_FAIL_MAX", DEFAULT_FAIL_MAX)
        reset_timeout = getattr(settings, "RNDCARDS_BREAKER_RESET_TIMEOUT", DEFAULT_RESET_TIMEOUT)
        url = getattr(settings, "REDIS_URL", "")
        breaker = None
        if url:
            try:
                breaker = new_breaker(
                    name, fail_max=fail_max, reset_timeout=reset_timeout, redis_client=_redis_client(url)
                )
                _redis_retry_at.pop(name, None)
            except redis.RedisError as exc:
                logger.warning("Redis unreachable (%s): breaker %s kept in this process's memory", exc, name)
                _redis_retry_at[name] = time.monotonic() + reset_timeout
                breaker = _breakers.get(name)  # keep what the earlier fallback learned
        if breaker is None:
            breaker = new_breaker(name, fail_max=fail_max, reset_timeout=reset_timeout)
        _breakers[name] = breaker
        return breaker


def breaker_states(names: Iterable[str] | None = None) -> dict[str, str]:
    """ "closed", "open" or "half-open" per provider (default: the configured AI providers).

    An open breaker whose reset timeout has passed is reported as half-open: pybreaker
    only moves it on the next call, and the health page must not show a provider as down
    for longer than the breaker would turn it away.
    """
    if names is None:
        from cards.providers.registry import configured_providers

        names = [name for name in configured_providers() if name != "offline"]
    states = {}
    for name in names:
        breaker = get_breaker(name)
        state = breaker.current_state
        if state == pybreaker.STATE_OPEN and breaker.reset_timeout_elapsed():
            state = pybreaker.STATE_HALF_OPEN
        states[name] = state
    return states


def reset_breakers() -> None:
    """Forget this process's breakers (for tests). State kept in Redis is left alone."""
    with _lock:
        _breakers.clear()
        _redis_retry_at.clear()
        for client in _redis_clients.values():
            client.close()
        _redis_clients.clear()
