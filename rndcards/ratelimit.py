"""Request rate limits: 100 requests a minute per user in a true rolling window, and the
stricter login and upload limits.

The general limit (``RateLimitMiddleware``) is a *sliding log*: every admitted request is
an entry with its time, and a request is admitted only while fewer than ``limit`` entries
are younger than ``window`` seconds. So no 60 s interval, wherever it starts, ever holds
more than 100 admitted requests (a fixed window admits up to 2x across its edge, GCRA
with a burst of 100 up to ~2x in the minute after a burst).

Why our own Lua script and not the ``limits`` package's moving window on Redis: there,
``MovingWindowRateLimiter.hit()`` is one EVALSHA that answers only yes/no, and the count
and reset time for the headers need ``get_window_stats()``, a second EVALSHA (and a
second, non-atomic look: other requests may land in between). ``SLIDING_LOG_LUA`` does the
check, the count and the oldest entry's time in one EVALSHA. Without Redis (the embedded
default) each process keeps the log in memory with ``limits``' own MemoryStorage.

Keys: the user id for a logged-in session or a valid ``Authorization: Bearer`` JWT
(simplejwt), otherwise the client address (``client_ip``: X-Forwarded-For only from
trusted proxies, IPv6 by /64).

Redis down means fail-open: requests pass without a limit, one WARNING per minute is
logged, Redis is not tried again for ``RNDCARDS_RATE_LIMIT_BACKOFF`` seconds, and
``limiter_status()`` says "unavailable" (shown by /health/detailed).

``X-RateLimit-Reset`` is a Unix time in whole seconds (UTC): when the oldest request
counted in the window leaves it, i.e. when one more request will be admitted.
``Retry-After`` on a 429 is the number of seconds until then.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

# KEYS[1]: the client's log, a sorted set of admitted requests (score = time in µs).
# ARGV: now (µs), window (µs), limit, a unique member for this request.
# Returns {admitted 0/1, entries in the window after this request, oldest entry's time,
# the time this request was counted at} (times in µs).
# A refused request adds no entry: a client that keeps knocking is admitted again as soon
# as its old requests leave the window, and the log never holds more than `limit` entries.
# Time never runs backwards in one log: a request that took its timestamp before another
# one but reached Redis after it (threads, several servers) counts at the newest entry's
# time. Without that, the later-stamped request would already have dropped entries the
# earlier one's window still holds, and a window could hold more than `limit` (the bench's
# rolling scenario showed 103).
SLIDING_LOG_LUA = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) > now then
  now = tonumber(newest[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  count = count + 1
  admitted = 1
end
local oldest = now
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then
  oldest = tonumber(first[2])
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {admitted, count, oldest, now}
"""
# The timestamps come from the web server's clock (like the `limits` package's own), not
# Redis TIME: the servers are NTP-synchronised, and a skew of a few ms only shifts the
# window by as much. It also lets the tests move time with time-machine.

WARNING_INTERVAL = 60.0  # seconds between two "Redis is down" warnings of one process


@dataclass(frozen=True)
class Decision:
    """What the limiter said about one request."""

    admitted: bool
    limit: int
    remaining: int
    reset_at: float  # Unix time when the oldest counted request leaves the window
    now: float  # the time the request was counted at

    @property
    def retry_after(self) -> int:
        """Whole seconds until one more request will be admitted (at least 1)."""
        return max(1, math.ceil(self.reset_at - self.now))

    @property
    def reset_header(self) -> str:
        return str(math.ceil(self.reset_at))


class LimiterUnavailable(Exception):
    """The shared store could not be asked; the caller lets the request through."""


class RedisSlidingLog:
    """The sliding log in Redis: one EVALSHA per request."""

    shared = True

    def __init__(self, url: str, *, timeout: float, backoff: float):
        # A short timeout and no retries: redis-py's default retries a dead server three
        # times with back-off, which would add seconds to every request.
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        self.script = self.client.register_script(SLIDING_LOG_LUA)
        self.backoff = backoff
        self._lock = threading.Lock()
        self._down_until = 0.0  # time.monotonic() before which Redis is not tried
        self._last_warning = -math.inf
        self._passed_unlimited = 0
        self.last_error = ""

    # -- availability ------------------------------------------------------------------
    def in_backoff(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            was_up = not self.last_error
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._down_until = now + self.backoff
            self._passed_unlimited += 1
            if was_up or now - self._last_warning >= WARNING_INTERVAL:
                self._last_warning = now
                passed, self._passed_unlimited = self._passed_unlimited, 0
                logger.warning(
                    "Rate limiter: Redis unavailable (%s); requests pass without a limit "
                    "(%d since the last warning), next try in %gs",
                    self.last_error,
                    passed,
                    self.backoff,
                )

    def _recovered(self) -> None:
        if self.last_error:
            with self._lock:
                # A request that was already on its way answered after another one failed
                # (a slow moment, not a dead server): no need to wait out the back-off.
                self._down_until = 0.0
                if self.last_error:
                    logger.warning("Rate limiter: Redis reachable again, limits apply")
                    self.last_error = ""

    def skipped(self) -> None:
        """A request passed unlimited during the back-off (counted for the next warning)."""
        with self._lock:
            self._passed_unlimited += 1

    def ping(self) -> bool:
        if self.in_backoff():
            return False
        try:
            self.client.ping()
        except redis.RedisError as exc:
            self._failed(exc)
            return False
        self._recovered()
        return True

    # -- the limit -----------------------------------------------------------------------
    def hit(self, key: str, *, limit: int, window: int, now: float) -> Decision:
        if self.in_backoff():
            self.skipped()
            raise LimiterUnavailable
        now_us = int(now * 1_000_000)
        member = f"{now_us}:{uuid.uuid4().hex[:12]}"
        try:
            admitted, count, oldest_us, counted_us = self.script(
                keys=[key], args=[now_us, window * 1_000_000, limit, member]
            )
        except redis.RedisError as exc:
            self._failed(exc)
            raise LimiterUnavailable from exc
        self._recovered()
        return Decision(
            admitted=bool(admitted),
            limit=limit,
            remaining=max(0, limit - int(count)),
            reset_at=int(oldest_us) / 1_000_000 + window,
            now=int(counted_us) / 1_000_000,
        )


class MemorySlidingLog:
    """The sliding log in this process's memory (embedded default, no Redis).

    ``limits``' moving window: the admission is atomic (a lock per key); the count for the
    headers is a second look and may already include a concurrent request of the same key.
    """

    shared = False

    def __init__(self):
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def in_backoff(self) -> bool:
        return False

    def ping(self) -> bool:
        return True

    def hit(self, key: str, *, limit: int, window: int, now: float) -> Decision:
        item = RateLimitItemPerSecond(limit, window)
        admitted = self.limiter.hit(item, key)
        oldest, count = self.limiter.storage.get_moving_window(item.key_for(key), limit, window)
        return Decision(
            admitted=admitted,
            limit=limit,
            remaining=max(0, limit - count),
            reset_at=(oldest if count else now) + window,
            now=now,
        )


_backends: dict[tuple, RedisSlidingLog | MemorySlidingLog] = {}
_backends_lock = threading.Lock()


def _backend() -> RedisSlidingLog | MemorySlidingLog:
    url = settings.RNDCARDS_RATE_LIMIT_REDIS_URL
    config = (url, settings.RNDCARDS_RATE_LIMIT_REDIS_TIMEOUT_MS, settings.RNDCARDS_RATE_LIMIT_BACKOFF)
    backend = _backends.get(config)
    if backend is None:
        with _backends_lock:
            backend = _backends.get(config)
            if backend is None:
                if url:
                    backend = RedisSlidingLog(
                        url,
                        timeout=settings.RNDCARDS_RATE_LIMIT_REDIS_TIMEOUT_MS / 1000,
                        backoff=settings.RNDCARDS_RATE_LIMIT_BACKOFF,
                    )
                else:
                    backend = MemorySlidingLog()
                _backends[config] = backend
    return backend


def shared_redis_down() -> bool:
    """True while the limiter found the shared Redis down (within its back-off). Other users
    of that Redis (the stricter limits, the similar-cards cache) then skip it at once instead
    of waiting out their own timeouts (2 s for the cache) on every request."""
    backend = _backend()
    return backend.shared and backend.in_backoff()


def reset_backends() -> None:
    """Forget this process's limiter stores and their Redis state (tests)."""
    with _backends_lock:
        _backends.clear()


def limiter_status() -> dict:
    """The limiter's state for /health/detailed: ok, unavailable (Redis down) or disabled."""
    limit, window = settings.RNDCARDS_RATE_LIMIT, settings.RNDCARDS_RATE_LIMIT_WINDOW
    if not limit:
        return {
            "status": "disabled",
            "detail": _("Limit żądań jest wyłączony (RNDCARDS_RATE_LIMIT=0)."),
        }
    backend = _backend()
    if not backend.shared:
        return {
            "status": "ok",
            "detail": _("Limit %(limit)d żądań na %(window)d s liczony osobno w każdym procesie serwera (bez Redis).")
            % {"limit": limit, "window": window},
        }
    if backend.ping():
        return {
            "status": "ok",
            "detail": _(
                "Limit %(limit)d żądań na %(window)d s na użytkownika, wspólny dla wszystkich serwerów (Redis)."
            )
            % {"limit": limit, "window": window},
        }
    return {
        "status": "unavailable",
        "detail": _(
            "Redis jest niedostępny: limit żądań nie działa i żądania przechodzą bez ograniczeń. "
            "Sprawdź serwer Redis — limit wróci sam, gdy Redis znów odpowie."
        ),
    }


# --- who is asking --------------------------------------------------------------------------
def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:51234"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple) -> tuple:
    return tuple(ipaddress.ip_network(str(p), strict=False) for p in proxies)


def from_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the request came through a proxy of ``RNDCARDS_TRUSTED_PROXIES`` (with a number of
    hops: any request, since the proxies in front are then the only way in)."""
    trusted = settings.RNDCARDS_TRUSTED_PROXIES
    if isinstance(trusted, int):
        return trusted > 0
    remote = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    return remote is not None and any(remote in network for network in _networks(tuple(trusted)))


def client_address(request: HttpRequest) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For as far as trusted proxies wrote it.

    ``RNDCARDS_TRUSTED_PROXIES`` is either a number of proxy hops in front of the app (the
    client is that many entries from the right of X-Forwarded-For; whatever a client put
    further left is ignored), or proxy addresses/networks: X-Forwarded-For is read only when
    the request comes from one of them, right to left, up to the first address that is not a
    trusted proxy. Without the setting X-Forwarded-For is never read.
    """
    remote = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    trusted = settings.RNDCARDS_TRUSTED_PROXIES
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    address = remote
    if isinstance(trusted, int):
        if trusted and forwarded:
            chain = forwarded[-trusted:] if len(forwarded) >= trusted else forwarded
            address = _parse_ip(chain[0]) or remote
    elif trusted:
        networks = _networks(tuple(trusted))
        for hop in reversed(forwarded):
            if address is None or not any(address in network for network in networks):
                break
            hop_address = _parse_ip(hop)
            if hop_address is None:  # garbage: keep the last proxy that we trust
                break
            address = hop_address
    return address


def client_ip(request: HttpRequest) -> str:
    """The client as the limiter counts it: its address (``client_address``), an IPv6 one as its /64."""
    address = client_address(request)
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        # One IPv6 subscriber usually holds a whole /64: limit the network, not each address.
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _jwt_user_id(request: HttpRequest) -> str | None:
    """The user id of a valid `Authorization: Bearer <JWT>`, or None (absent or invalid).

    The middleware runs before DRF authenticates, so it validates the token itself with
    simplejwt's JWTAuthentication (signature, expiry, token type) and takes the user id
    claim, without loading the user: the API view does that, and refuses unknown users.
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header[:7].lower() == "bearer ":
        return None
    try:
        from rest_framework_simplejwt.authentication import JWTAuthentication
        from rest_framework_simplejwt.settings import api_settings

        auth = JWTAuthentication()
        raw = auth.get_raw_token(auth.get_header(request))
        if raw is None:
            return None
        token = auth.get_validated_token(raw)
        user_id = token[api_settings.USER_ID_CLAIM]
    except Exception:  # noqa: BLE001 - any broken token (bad header, signature, claims) means "not a user"
        return None
    return str(user_id) if user_id is not None and str(user_id) else None


def client_key(request: HttpRequest) -> str:
    """``user:<id>`` for a logged-in session or a valid JWT, else ``ip:<client address>``."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    jwt_user = _jwt_user_id(request)
    if jwt_user is not None:
        return f"user:{jwt_user}"
    return f"ip:{client_ip(request)}"


def _redis_key(key: str) -> str:
    return f"{settings.RNDCARDS_REDIS_PREFIX}:ratelimit:{key}"


def is_exempt(path: str) -> bool:
    return path.startswith(tuple(settings.RNDCARDS_RATE_LIMIT_EXEMPT))


def check_request(request: HttpRequest, *, now: float | None = None) -> Decision | None:
    """Count this request against its client's limit; None when no limit applies to it."""
    limit = settings.RNDCARDS_RATE_LIMIT
    if not limit or is_exempt(request.path_info):
        return None
    try:
        return _backend().hit(
            _redis_key(client_key(request)),
            limit=limit,
            window=settings.RNDCARDS_RATE_LIMIT_WINDOW,
            now=time.time() if now is None else now,
        )
    except LimiterUnavailable:
        return None


# --- the 429 answer -------------------------------------------------------------------------
def too_many_requests(request: HttpRequest, *, retry_after: int, message: str) -> HttpResponse:
    """429 in the form the client reads: JSON for /api/, plain text for htmx, else a page."""
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"error": {"code": "rate_limited", "message": message}}, status=429)
    elif request.headers.get("HX-Request") == "true":
        # static/js/app.js shows this in the page's error box; nothing is swapped, so the
        # editor keeps what was typed.
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    else:
        response = TemplateResponse(
            request, "429.html", {"message": message, "retry_after": retry_after}, status=429
        ).render()
    response["Retry-After"] = str(retry_after)
    return response


def _general_message(decision: Decision) -> str:
    return _(
        "Zbyt wiele żądań w krótkim czasie (limit: %(limit)d na %(window)d s). "
        "Spróbuj ponownie za %(seconds)d s — tego żądania nie wykonano, nic nie zostało zapisane."
    ) % {"limit": decision.limit, "window": settings.RNDCARDS_RATE_LIMIT_WINDOW, "seconds": decision.retry_after}


class RateLimitMiddleware:
    """100 requests a minute per user (or client address); goes after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        decision = check_request(request)
        if decision is None:
            return self.get_response(request)
        if decision.admitted:
            response = self.get_response(request)
        else:
            response = too_many_requests(request, retry_after=decision.retry_after, message=_general_message(decision))
        response["X-RateLimit-Limit"] = str(decision.limit)
        response["X-RateLimit-Remaining"] = str(decision.remaining)
        response["X-RateLimit-Reset"] = decision.reset_header
        return response


# --- stricter limits: login and upload (django-ratelimit) -------------------------------------
@dataclass(frozen=True)
class Refusal:
    retry_after: int


def _strict_limit(request: HttpRequest, *, scope: str, rate: str, keys: dict[str, str]) -> Refusal | None:
    """Count this request under each of `keys` (a fixed window of `rate`); a Refusal if any is over."""
    from django_ratelimit.core import get_usage

    if shared_redis_down():
        # Redis is down: fail open at once instead of waiting for the cache's own timeouts.
        return None
    refusal = None
    for name, value in keys.items():
        usage = get_usage(
            request,
            # The prefix keeps test runs and installations sharing one cache apart.
            group=f"{settings.RNDCARDS_REDIS_PREFIX}:{scope}:{name}",
            key=lambda group, request, value=value: value,
            rate=rate,
            method="POST",
            increment=True,
        )
        if usage and usage["should_limit"]:
            retry_after = max(1, int(usage["time_left"]))
            refusal = Refusal(max(retry_after, refusal.retry_after if refusal else 0))
    return refusal


def _posted_username(request: HttpRequest) -> str:
    """The user name of a login POST: the form's field, or a JSON body's (the API's token
    endpoint), so the per-username limit holds whichever way the guesses come."""
    if request.content_type == "application/json":
        import json

        if len(request.body) > 65_536:  # no login is that long; the view refuses the rest
            return ""
        try:
            data = json.loads(request.body)
        except ValueError:
            return ""
        value = data.get("username", "") if isinstance(data, dict) else ""
        return value[:150] if isinstance(value, str) else ""
    return request.POST.get("username", "")[:150]


def login_rate_limited(view):
    """Wrap the login view: at most RNDCARDS_LOGIN_RATE POSTs per client address and per username."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            username = _posted_username(request)
            keys = {"ip": client_ip(request)}
            if username.strip():
                keys["username"] = username.strip().casefold()
            refusal = _strict_limit(request, scope="login", rate=settings.RNDCARDS_LOGIN_RATE, keys=keys)
            if refusal is not None:
                message = _(
                    "Zbyt wiele prób logowania w krótkim czasie. Odczekaj %(seconds)d s i zaloguj się ponownie."
                ) % {"seconds": refusal.retry_after}
                if request.path_info.startswith("/api/") or request.headers.get("HX-Request") == "true":
                    return too_many_requests(request, retry_after=refusal.retry_after, message=message)
                # The login page again, with the username kept (never the password).
                form = AuthenticationForm(request, initial={"username": username})
                response = TemplateResponse(
                    request,
                    "registration/login.html",
                    {"form": form, "next": request.POST.get("next", ""), "rate_limit_message": message},
                    status=429,
                ).render()
                response["Retry-After"] = str(refusal.retry_after)
                return response
        return view(request, *args, **kwargs)

    return wrapped


def upload_refusal(request: HttpRequest) -> tuple[Refusal, str] | None:
    """Count an upload POST of this user; (refusal, Polish message) when over RNDCARDS_UPLOAD_RATE."""
    refusal = _strict_limit(
        request, scope="upload", rate=settings.RNDCARDS_UPLOAD_RATE, keys={"user": str(request.user.pk)}
    )
    if refusal is None:
        return None
    message = _(
        "Przesłano zbyt wiele plików w krótkim czasie. Plik nie został zaimportowany — "
        "wybierz go ponownie i prześlij za %(seconds)d s."
    ) % {"seconds": refusal.retry_after}
    return refusal, message
