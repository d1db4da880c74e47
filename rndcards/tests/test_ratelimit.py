"""The request limiter (rndcards/ratelimit.py): 100 requests in any 60 s per user, on real
Redis and on the per-process memory store, its headers and 429 answers, who is counted
(session user, JWT user, client address behind trusted proxies), Redis down, and the
stricter login and upload limits.

Redis tests use REDIS_URL (default redis://127.0.0.1:6379/15; RNDCARDS_TEST_REDIS_URL wins)
with the per-test key prefix that the root conftest sets, so tests never share counts.
"""

import logging
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from rndcards import ratelimit

REDIS_URL = os.environ.get("RNDCARDS_TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
# A whole second near the real time (sessions made by force_login must stay valid).
T0 = float(int(time.time()))


@pytest.fixture(autouse=True)
def _fresh_limiter_stores():
    # No back-off left over from an earlier test's Redis hiccup (or a killed test server).
    ratelimit.reset_backends()
    yield
    ratelimit.reset_backends()


def _use_real_redis(settings) -> None:
    settings.RNDCARDS_RATE_LIMIT_REDIS_URL = REDIS_URL
    # A loaded CI machine (2 cores, 50 threads in one test) can be slower than production's
    # 500 ms; these tests are about counting, not about timing out.
    settings.RNDCARDS_RATE_LIMIT_REDIS_TIMEOUT_MS = 5000


@pytest.fixture(params=["redis", "memory"])
def store(request, settings):
    """Each limiter test runs on real Redis and on the embedded per-process store."""
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        _use_real_redis(settings)
    else:
        settings.RNDCARDS_RATE_LIMIT_REDIS_URL = ""
    return request.param


@pytest.fixture
def on_redis(settings):
    _use_real_redis(settings)
    return redis.Redis.from_url(REDIS_URL)


def anonymous_request(path="/login/", *, ip="198.51.100.7", **extra):
    request = RequestFactory().get(path, REMOTE_ADDR=ip, **extra)
    request.user = AnonymousUser()
    return request


def admitted(responses) -> int:
    return sum(1 for r in responses if r.status_code != 429)


# --- the rolling window ------------------------------------------------------------------
def test_the_101st_request_within_a_minute_is_refused_and_the_100th_is_not(client, owner, store):
    client.force_login(owner)
    with time_machine.travel(T0, tick=False) as traveller:
        responses = []
        for _ in range(100):
            responses.append(client.get("/login/"))
            traveller.shift(0.5)  # 100 requests over 50 s
        assert admitted(responses) == 100
        assert responses[-1]["X-RateLimit-Remaining"] == "0"
        traveller.move_to(T0 + 59.99)
        refused = client.get("/login/")

    assert refused.status_code == 429


def test_window_slides_instead_of_resetting(client, owner, store):
    """100 at t=0..1 s; at 59 s refused; at 60.5 s exactly those older than 60 s are replaced."""
    client.force_login(owner)
    with time_machine.travel(T0, tick=False) as traveller:
        for i in range(100):
            traveller.move_to(T0 + i * 0.01)  # t = 0.00 … 0.99 s
            assert client.get("/login/").status_code == 302
        traveller.move_to(T0 + 59)
        assert client.get("/login/").status_code == 429

        # At 60.505 s the requests of t = 0.00 … 0.50 (51 of them) have left the window.
        traveller.move_to(T0 + 60.505)
        burst = [client.get("/login/") for _ in range(60)]
        assert admitted(burst) == 51
        # At 61 s the other 49 (t = 0.51 … 0.99) have left too; the 51 of t=60.505 still count.
        traveller.move_to(T0 + 61)
        burst = [client.get("/login/") for _ in range(60)]
        assert admitted(burst) == 49


def test_150_requests_in_one_minute_admit_exactly_100(client, owner, store):
    client.force_login(owner)
    with time_machine.travel(T0, tick=False) as traveller:
        responses = []
        for _ in range(150):
            responses.append(client.get("/login/"))
            traveller.shift(0.4)  # 150 requests over 60 s

    assert admitted(responses) == 100
    assert all(r.status_code == 429 for r in responses[100:])


def test_headers_say_limit_remaining_and_reset_as_unix_time(client, owner, store):
    client.force_login(owner)
    with time_machine.travel(T0 + 0.2, tick=False) as traveller:
        first = client.get("/login/")
        traveller.shift(10)
        second = client.get("/login/")

    assert first["X-RateLimit-Limit"] == "100"
    assert first["X-RateLimit-Remaining"] == "99"
    # Reset: when the oldest request counted (t = 0.2 s) leaves the window, rounded up.
    assert first["X-RateLimit-Reset"] == str(math.ceil(T0 + 0.2 + 60))
    assert second["X-RateLimit-Remaining"] == "98"
    assert second["X-RateLimit-Reset"] == first["X-RateLimit-Reset"]


def test_retry_after_counts_the_seconds_until_the_oldest_request_leaves(client, owner, store, settings):
    settings.RNDCARDS_RATE_LIMIT = 3
    client.force_login(owner)
    with time_machine.travel(T0, tick=False) as traveller:
        for _ in range(3):
            client.get("/login/")
            traveller.shift(1)
        traveller.move_to(T0 + 20.5)
        refused = client.get("/login/")

    assert refused.status_code == 429
    assert refused["Retry-After"] == "40"  # the request of t=0 leaves at t=60
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused["X-RateLimit-Reset"] == str(int(T0 + 60))


def test_each_user_has_a_limit_of_their_own(client, owner, colleague, store, settings):
    settings.RNDCARDS_RATE_LIMIT = 2
    client.force_login(owner)
    assert [client.get("/login/").status_code for _ in range(3)] == [302, 302, 429]
    client.force_login(colleague)
    assert client.get("/login/").status_code == 302


@pytest.mark.redis
def test_50_parallel_clients_x_3_requests_never_admit_more_than_100(on_redis, settings):
    results = []
    barrier = threading.Barrier(50)

    def client():
        barrier.wait()
        return [ratelimit.check_request(anonymous_request()) for _ in range(3)]

    with ThreadPoolExecutor(50) as pool:
        for decisions in pool.map(lambda _: client(), range(50)):
            results.extend(decisions)

    assert sum(d.admitted for d in results) == 100
    assert len(results) == 150
    key = f"{settings.RNDCARDS_REDIS_PREFIX}:ratelimit:ip:198.51.100.7"
    assert on_redis.zcard(key) == 100


@pytest.mark.redis
def test_a_request_stamped_early_but_arriving_late_still_counts_in_a_full_window(on_redis, settings):
    """Threads or servers: one request takes its time, another overtakes it to Redis."""
    key = f"{settings.RNDCARDS_REDIS_PREFIX}:ratelimit:late"
    backend = ratelimit.RedisSlidingLog(REDIS_URL, timeout=5, backoff=1)
    counted = []
    for stamp in (0, 0.2, 60.5, 59.9):  # the last was stamped before the third, arrived after it
        decision = backend.hit(key, limit=2, window=60, now=T0 + stamp)
        if decision.admitted:
            counted.append(decision.now - T0)

    # Counted at the newest entry's time (60.5), not at 59.9 — where (−0.1, 59.9] would hold 3.
    assert max(sum(1 for t in counted if end - 60 < t <= end) for end in counted) <= 2


def test_memory_store_admits_at_most_100_under_50_threads(settings):
    settings.RNDCARDS_RATE_LIMIT_REDIS_URL = ""
    with ThreadPoolExecutor(50) as pool:
        decisions = list(pool.map(lambda _: ratelimit.check_request(anonymous_request()), range(150)))

    assert sum(d.admitted for d in decisions) == 100


@pytest.mark.redis
def test_one_evalsha_per_request_and_the_log_expires(on_redis, settings):
    ratelimit.check_request(anonymous_request())  # loads the script if this Redis lacks it
    before = _commandstats(on_redis)
    for _ in range(20):
        ratelimit.check_request(anonymous_request())
    after = _commandstats(on_redis)

    # Other processes may use the same Redis server, so only a lower bound holds for the
    # server-wide counters: at least 20 EVALSHA, no EVAL (the script is cached).
    assert after.get("evalsha", 0) - before.get("evalsha", 0) >= 20
    key = f"{settings.RNDCARDS_REDIS_PREFIX}:ratelimit:ip:198.51.100.7"
    assert 0 < on_redis.pttl(key) <= 60_000


def _commandstats(client) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in client.info("commandstats").items()}


@pytest.mark.redis
def test_each_request_costs_exactly_one_round_trip_to_redis(on_redis, monkeypatch):
    ratelimit.check_request(anonymous_request())
    backend = ratelimit._backend()
    calls = []
    original = backend.client.execute_command
    monkeypatch.setattr(backend.client, "execute_command", lambda *a, **k: calls.append(a[0]) or original(*a, **k))

    for _ in range(10):
        ratelimit.check_request(anonymous_request())

    assert calls == ["EVALSHA"] * 10


# --- exemptions and who is counted ----------------------------------------------------------
def test_health_static_and_metrics_are_never_limited(client, settings, store):
    settings.RNDCARDS_RATE_LIMIT = 1
    for path in ("/health", "/health/detailed", "/static/css/app.css", "/metrics", "/api/health"):
        for _ in range(3):
            response = client.get(path)
            assert response.status_code != 429, path
            assert "X-RateLimit-Limit" not in response


def test_anonymous_clients_are_counted_by_address(client, settings, store):
    settings.RNDCARDS_RATE_LIMIT = 2
    assert [client.get("/login/", REMOTE_ADDR="203.0.113.1").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/login/", REMOTE_ADDR="203.0.113.2").status_code == 200


def test_spoofed_forwarded_for_from_an_untrusted_client_does_not_escape_the_limit(client, settings, store):
    settings.RNDCARDS_RATE_LIMIT = 3
    statuses = [
        client.get("/login/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code
        for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        # No trusted proxies: X-Forwarded-For is never read.
        (0, "203.0.113.9", "1.2.3.4", "203.0.113.9"),
        # One hop (the load balancer appends the address it saw): a client's own prefix is ignored.
        (1, "10.0.0.2", "1.2.3.4, 198.51.100.20", "198.51.100.20"),
        (1, "10.0.0.2", "198.51.100.20", "198.51.100.20"),
        (2, "10.0.0.2", "6.6.6.6, 198.51.100.20, 10.0.0.5", "198.51.100.20"),
        (1, "10.0.0.2", "", "10.0.0.2"),
        (1, "10.0.0.2", "nie-adres", "10.0.0.2"),
        # Proxy addresses: read only when the request comes from one of them.
        (("10.0.0.0/8",), "203.0.113.9", "1.2.3.4", "203.0.113.9"),
        (("10.0.0.0/8",), "10.0.0.2", "1.2.3.4, 198.51.100.20", "198.51.100.20"),
        (("10.0.0.0/8", "192.0.2.1"), "10.0.0.2", "1.2.3.4, 198.51.100.20, 192.0.2.1", "198.51.100.20"),
        (("10.0.0.0/8",), "10.0.0.2", "1.2.3.4, <script>", "10.0.0.2"),
        (("10.0.0.0/8",), "10.0.0.2", "198.51.100.20:51234", "198.51.100.20"),
        (("10.0.0.0/8",), "10.0.0.2", "10.0.0.3, 10.0.0.4", "10.0.0.3"),
        # IPv6: one subscriber's /64 is one client; IPv4-mapped addresses are IPv4.
        (0, "2001:db8:1:2:3:4:5:6", "", "2001:db8:1:2::/64"),
        (("::1",), "::1", "[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"),
        (0, "::ffff:203.0.113.9", "", "203.0.113.9"),
        (0, "", "", "unknown"),
    ],
)
def test_client_address_behind_trusted_proxies(settings, trusted, remote, forwarded, expected):
    settings.RNDCARDS_TRUSTED_PROXIES = trusted
    request = anonymous_request(ip=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert ratelimit.client_ip(request) == expected


def test_behind_a_trusted_proxy_clients_are_told_apart(client, settings, store):
    settings.RNDCARDS_RATE_LIMIT = 2
    settings.RNDCARDS_TRUSTED_PROXIES = 1
    lb = {"REMOTE_ADDR": "10.0.0.2"}
    one = [client.get("/login/", HTTP_X_FORWARDED_FOR=f"9.9.9.{i}, 198.51.100.1", **lb).status_code for i in range(3)]
    other = client.get("/login/", HTTP_X_FORWARDED_FOR="198.51.100.2", **lb).status_code

    assert one == [200, 200, 429]
    assert other == 200


def _jwt(user_id=None, **claims):
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = str(user_id)
    for name, value in claims.items():
        token[name] = value
    return str(token)


def test_a_jwt_user_is_counted_as_the_user_whatever_the_address(owner, settings):
    token = _jwt(owner.pk)
    request = anonymous_request("/api/batches/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert ratelimit.client_key(request) == f"user:{owner.pk}"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-token",
        "Bearer",
        "Bearer a b",
        "Basic dXNlcjpwYXNz",
        "Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoiMSJ9.",  # alg=none
        "Bearer " + "A" * 10_000,
    ],
)
def test_an_invalid_or_foreign_authorization_header_is_counted_by_address(header, settings):
    request = anonymous_request("/api/batches/", HTTP_AUTHORIZATION=header)
    assert ratelimit.client_key(request) == "ip:198.51.100.7"


def test_an_expired_or_forged_jwt_is_counted_by_address(owner, settings):
    # Older than the access token's lifetime (24 h by default).
    with time_machine.travel(time.time() - 2 * 86400, tick=False):
        expired = _jwt(owner.pk)
    header, payload, _signature = _jwt(owner.pk).split(".")
    forged = f"{header}.{payload}.{'x' * 43}"
    for token in (expired, forged):
        request = anonymous_request("/api/batches/", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert ratelimit.client_key(request) == "ip:198.51.100.7"


def test_jwt_requests_from_many_addresses_share_the_users_limit(client, owner, settings, store):
    settings.RNDCARDS_RATE_LIMIT = 3
    token = _jwt(owner.pk)
    statuses = [
        client.get("/api/batches/", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=f"198.51.100.{i}").status_code
        for i in range(4)
    ]
    assert statuses[-1] == 429 and 429 not in statuses[:3]


# --- the 429 answers ----------------------------------------------------------------------
@pytest.fixture
def exhausted(client, owner, settings, store):
    settings.RNDCARDS_RATE_LIMIT = 1
    client.force_login(owner)
    client.get("/login/")
    return client


def test_browser_gets_a_polish_page_without_inline_script_or_style(exhausted):
    response = exhausted.get("/")

    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "Zbyt wiele żądań" in html and "Spróbuj ponownie za" in html
    assert "<script>" not in html and "<style" not in html and " style=" not in html and " on" + "click" not in html
    assert int(response["Retry-After"]) >= 1


def test_api_gets_the_agreed_json_error(exhausted):
    response = exhausted.get("/api/batches/")

    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert "Zbyt wiele żądań" in error["message"]
    assert set(response.json()) == {"error"} and "fields" not in error
    assert int(response["Retry-After"]) >= 1


def test_htmx_gets_a_short_polish_text_for_the_error_box(exhausted):
    response = exhausted.post("/projects/1/sections/cel/", HTTP_HX_REQUEST="true")

    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert text.startswith("Zbyt wiele żądań") and "<" not in text
    assert int(response["Retry-After"]) >= 1


def test_app_js_shows_the_wait_from_retry_after_and_keeps_the_editor():
    script = (Path(__file__).resolve().parents[2] / "static" / "js" / "app.js").read_text(encoding="utf-8")
    assert 'getResponseHeader("Retry-After")' in script
    assert "status === 429" in script


# --- status and Redis down ----------------------------------------------------------------
def test_status_without_redis_says_ok_per_process(settings):
    settings.RNDCARDS_RATE_LIMIT_REDIS_URL = ""
    status = ratelimit.limiter_status()
    assert status["status"] == "ok" and "w każdym procesie" in status["detail"]


@pytest.mark.redis
def test_status_with_redis_says_ok_shared(on_redis):
    status = ratelimit.limiter_status()
    assert status["status"] == "ok" and "Redis" in status["detail"]


def test_limit_zero_turns_it_off_and_says_so(client, settings):
    settings.RNDCARDS_RATE_LIMIT = 0
    assert "X-RateLimit-Limit" not in client.get("/login/")
    assert ratelimit.limiter_status()["status"] == "disabled"


class RedisServer:
    """A redis-server of this test's own on a free port, to kill and bring back."""

    def __init__(self, tmp_path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.dir = tmp_path
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def own_redis(tmp_path, settings):
    server = RedisServer(tmp_path)
    server.start()
    settings.RNDCARDS_RATE_LIMIT_REDIS_URL = server.url
    settings.RNDCARDS_RATE_LIMIT_REDIS_TIMEOUT_MS = 100
    yield server
    if server.proc and server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)
    server.kill()


@pytest.mark.redis
def test_redis_down_lets_requests_through_says_unavailable_and_recovers(client, owner, own_redis, settings, caplog):
    settings.RNDCARDS_RATE_LIMIT_BACKOFF = 0  # try Redis again on the very next request
    client.force_login(owner)
    assert client.get("/login/")["X-RateLimit-Remaining"] == "99"

    own_redis.kill()
    with caplog.at_level(logging.WARNING, logger="rndcards.ratelimit"):
        down = [client.get("/login/") for _ in range(20)]
    assert all(r.status_code == 302 and "X-RateLimit-Limit" not in r for r in down)
    status = ratelimit.limiter_status()
    assert status["status"] == "unavailable" and "Redis jest niedostępny" in status["detail"]
    # One warning, not one per request.
    assert len([r for r in caplog.records if "Redis unavailable" in r.getMessage()]) == 1

    own_redis.start()  # a fresh, empty Redis on the same port
    assert ratelimit.limiter_status()["status"] == "ok"
    assert client.get("/login/")["X-RateLimit-Remaining"] == "99"


@pytest.mark.redis
def test_a_dead_redis_is_not_asked_again_during_the_back_off(client, owner, own_redis, settings, monkeypatch):
    settings.RNDCARDS_RATE_LIMIT_BACKOFF = 300
    client.force_login(owner)
    client.get("/login/")
    backend = ratelimit._backend()
    own_redis.kill()
    assert client.get("/login/").status_code == 302  # this one finds Redis dead

    asked = []
    monkeypatch.setattr(backend.client, "execute_command", lambda *a, **k: asked.append(a))
    for _ in range(10):
        assert client.get("/login/").status_code == 302
    assert ratelimit.limiter_status()["status"] == "unavailable"
    assert asked == []


def test_an_answer_arriving_after_a_failure_ends_the_back_off(caplog):
    """One slow reply under load (another thread's request answers just after) is not a dead Redis."""
    backend = ratelimit.RedisSlidingLog("redis://127.0.0.1:1/0", timeout=0.1, backoff=300)
    with caplog.at_level(logging.WARNING, logger="rndcards.ratelimit"):
        backend._failed(redis.TimeoutError("Timeout reading from socket"))
        assert backend.in_backoff()
        backend._recovered()  # what a concurrent request that got its answer does
    assert not backend.in_backoff()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "Rate limiter: Redis unavailable",
        "Rate limiter: Redis reachable again, limits apply",
    ]


@pytest.mark.redis
def test_a_hung_redis_times_out_and_requests_pass(client, owner, own_redis, settings):
    settings.RNDCARDS_RATE_LIMIT_BACKOFF = 0
    client.force_login(owner)
    os.kill(own_redis.proc.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        response = client.get("/login/")
        assert response.status_code == 302 and "X-RateLimit-Limit" not in response
        assert ratelimit.limiter_status()["status"] == "unavailable"
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
    assert client.get("/login/")["X-RateLimit-Limit"] == "100"


# --- stricter limits: login and upload ---------------------------------------------------------
@pytest.fixture
def no_lockout(settings):
    # django-axes locks a user name + address after 5 failures; these tests count the
    # limiter's 10 a minute, so the lockout must not answer first.
    settings.AXES_FAILURE_LIMIT = 1000


def _login(client, username="konsultant", password="zle-haslo", ip="203.0.113.50"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_eleventh_login_attempt_in_a_minute_gets_a_polish_429_with_the_username_kept(
    client, owner, settings, no_lockout
):
    with time_machine.travel(T0 + 1, tick=False):
        statuses = [_login(client).status_code for _ in range(10)]
        refused = _login(client)

    assert statuses == [200] * 10  # wrong password: the form again
    assert refused.status_code == 429
    html = refused.content.decode()
    assert "Zbyt wiele prób logowania" in html
    assert 'value="konsultant"' in html and "zle-haslo" not in html
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_login_limit_counts_a_username_across_addresses(client, owner, settings):
    for i in range(10):
        _login(client, ip=f"198.51.100.{i}")
    assert _login(client, ip="198.51.100.200").status_code == 429
    # Another username from a fresh address is not affected.
    assert _login(client, username="kolega", ip="198.51.100.201").status_code == 200


def test_login_limit_counts_an_address_across_usernames(client, db, settings):
    for i in range(10):
        _login(client, username=f"u{i}")
    assert _login(client, username="u-nowy").status_code == 429
    assert _login(client, username="u-nowy", ip="198.51.100.99").status_code == 200


def test_login_limit_refuses_even_the_right_password_and_lets_it_in_after_the_window(
    client, owner, settings, no_lockout
):
    with time_machine.travel(T0 + 1, tick=False) as traveller:
        for _ in range(10):
            _login(client)
        assert _login(client, password="Haslo-Testowe-1").status_code == 429
        traveller.shift(61)
        assert _login(client, password="Haslo-Testowe-1").status_code == 302


@pytest.mark.parametrize("username", ["Ż" * 5000, "konsultant\x00", "' OR 1=1 --", "KONSULTANT "])
def test_hostile_usernames_are_counted_not_crashing(client, db, settings, username):
    settings.RNDCARDS_LOGIN_RATE = "2/m"
    statuses = [_login(client, username=username, ip=f"198.51.100.{i}").status_code for i in range(3)]
    assert statuses[:2] == [200, 200] and statuses[2] == 429


def test_login_page_get_is_not_counted_by_the_login_limit(client, settings):
    settings.RNDCARDS_LOGIN_RATE = "1/m"
    assert [client.get("/login/").status_code for _ in range(3)] == [200, 200, 200]


def test_eleventh_upload_in_a_minute_is_refused_in_polish_and_keeps_the_batch_name(client, owner, colleague):
    import datetime

    import time_machine

    client.force_login(owner)
    # One instant for all eleven: the upload limit is a fixed window whose edge falls at a
    # different second for each key, and eleven posts crossing it were not refused (a CI flake).
    with time_machine.travel(datetime.datetime(2026, 3, 2, 10, 0, 30, tzinfo=datetime.UTC), tick=False):
        for _ in range(10):
            assert client.post("/batches/upload/", {"name": "Partia X"}).status_code == 400  # no file
        refused = client.post("/batches/upload/", {"name": "Partia X"})

    assert refused.status_code == 429
    html = refused.content.decode()
    assert "Przesłano zbyt wiele plików" in html and 'value="Partia X"' in html
    assert int(refused["Retry-After"]) >= 1
    client.force_login(colleague)
    assert client.post("/batches/upload/", {"name": "Partia Y"}).status_code == 400


@pytest.mark.redis
def test_stricter_limits_pass_while_redis_is_down(client, owner, own_redis, settings):
    settings.RNDCARDS_RATE_LIMIT_BACKOFF = 300
    settings.RNDCARDS_LOGIN_RATE = "1/m"
    own_redis.kill()
    client.get("/login/")  # the general limiter finds Redis dead
    assert [_login(client).status_code for _ in range(3)] == [200, 200, 200]


# --- in the browser ---------------------------------------------------------------------
from rndcards.tests.test_browser import browser, log_in, page  # noqa: E402, F401 - the Playwright fixtures


@pytest.mark.browser
def test_a_save_refused_by_the_limit_says_how_long_to_wait_and_keeps_the_text(
    page,  # noqa: F811 - the fixture imported above
    owner,
    make_batch,
    transactional_db,
    settings,
):
    from cards import services

    project = make_batch(owner, projects=1).projects.get()
    type(project).objects.filter(pk=project.pk).update(status="queued", requested_provider="offline")
    services.project_generate(project_id=project.pk)
    log_in(page, owner)
    page.goto(project.get_absolute_url())
    page.locator("#section-rezultaty").get_by_role("link", name="Edytuj").click()
    page.locator("#section-rezultaty trix-editor").click()
    page.keyboard.type("Tekst, którego nie wolno zgubić")

    # This user's last minute is full: the save is the request over the limit.
    backend = ratelimit._backend()
    key = f"{settings.RNDCARDS_REDIS_PREFIX}:ratelimit:user:{owner.pk}"
    while backend.hit(key, limit=settings.RNDCARDS_RATE_LIMIT, window=60, now=time.time()).admitted:
        pass
    page.expects_429 = True
    page.locator("#section-rezultaty").get_by_role("button", name="Zapisz").click()

    box = page.locator("#client-error")
    box.get_by_text("Zbyt wiele żądań").wait_for()
    assert re.search(r"Odczekaj \d+ s", box.inner_text())
    assert "Tekst, którego nie wolno zgubić" in page.locator("#section-rezultaty trix-editor").inner_text()
    assert "Tekst, którego nie wolno zgubić" not in project.sections.get(key="rezultaty").text


def test_the_api_token_endpoint_shares_the_strict_login_limit_and_answers_json(client, owner, settings):
    settings.RNDCARDS_LOGIN_RATE = "3/m"
    url = "/api/auth/token/"
    body = {"username": "konsultant", "password": "zle-haslo"}
    statuses = [
        client.post(url, body, content_type="application/json", REMOTE_ADDR="203.0.113.77").status_code
        for _ in range(3)
    ]
    refused = client.post(url, body, content_type="application/json", REMOTE_ADDR="203.0.113.77")

    assert statuses == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
