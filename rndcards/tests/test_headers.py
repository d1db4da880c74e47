"""Security headers on every kind of response, cookies and sessions, HTTPS, CORS, check --deploy."""

import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import SuspiciousOperation
from django.test import Client
from django.urls import include, path, reverse

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Haslo-Testowe-1"

EXPECTED_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def _boom(request):
    raise RuntimeError("a bug")


def _suspicious(request):
    raise SuspiciousOperation("odd request")


# The site's own URLs plus two that fail, for the 500 and 400 pages.
urlpatterns = [path("boom/", _boom), path("suspicious/", _suspicious), path("", include("rndcards.urls"))]


def _csp(response) -> dict[str, list[str]]:
    policy = {}
    for directive in response["Content-Security-Policy"].split(";"):
        name, *values = directive.split()
        policy[name] = values
    return policy


def _style_hashes(html: str) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for block in re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    ]


@pytest.fixture
def pages(client, owner, make_batch, settings):
    """One request of each kind the site answers, by name."""
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    client.raise_request_exception = False
    batch = make_batch(owner, projects=1)
    project = batch.projects.get()
    from cards.tests.factories import generate_now

    generate_now(project)
    logged_in = Client(raise_request_exception=False)
    logged_in.force_login(owner)
    from django.contrib.auth.models import User

    admin = Client()
    admin.force_login(User.objects.create_superuser("szef", password=PASSWORD))

    return {
        "full page": lambda: logged_in.get(reverse("dashboard")),
        "project page": lambda: logged_in.get(project.get_absolute_url()),
        "htmx partial": lambda: logged_in.get(
            reverse("section_edit", args=[project.pk, "cel_projektu"]), HTTP_HX_REQUEST="true"
        ),
        "json health": lambda: client.get("/health"),
        "file download": lambda: logged_in.get(reverse("batch_export", args=[batch.pk])),
        "404": lambda: logged_in.get("/nie-ma-takiej-strony/"),
        "400": lambda: logged_in.get("/suspicious/"),
        "405": lambda: logged_in.get(reverse("logout")),
        "500": lambda: logged_in.get("/boom/"),
        "login": lambda: client.get(reverse("login")),
        "lockout": lambda: [
            client.post(reverse("login"), {"username": owner.username, "password": "zle"}) for _ in range(5)
        ][-1],
        "password reset": lambda: client.get(reverse("password_reset")),
        "admin": lambda: admin.get(reverse("admin:index")),
        "admin login": lambda: Client().get(reverse("admin:login")),
    }


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("full page", 200),
        ("project page", 200),
        ("htmx partial", 200),
        ("json health", 200),
        ("file download", 200),
        ("404", 404),
        ("400", 400),
        ("405", 405),
        ("500", 500),
        ("login", 200),
        ("lockout", 429),
        ("password reset", 200),
        ("admin", 200),
        ("admin login", 200),
    ],
)
def test_every_kind_of_response_carries_the_security_headers(pages, kind, status):
    response = pages[kind]()

    assert response.status_code == status
    policy = _csp(response)
    assert {name: values for name, values in policy.items() if name != "style-src"} == EXPECTED_CSP
    assert policy["style-src"][0] == "'self'"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize("kind", ["400", "500"])
def test_the_self_contained_error_pages_inline_styles_are_allowed_by_their_hash(pages, kind):
    response = pages[kind]()

    hashes = _style_hashes(response.content.decode())
    assert hashes  # the page does carry its styles inline
    assert set(hashes) <= set(_csp(response)["style-src"])


def test_a_nonce_is_in_the_policy_only_where_trix_is_handed_one(pages):
    project_page = pages["project page"]()
    nonce = re.search(r'<meta name="trix-csp-nonce" content="([^"]+)">', project_page.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in _csp(project_page)["style-src"]

    dashboard = pages["full page"]()
    assert not [v for v in _csp(dashboard)["style-src"] if v.startswith("'nonce-")]


def test_templates_have_no_inline_scripts_handlers_or_style_attributes():
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{template.name}: inline script")
        if re.search(r"\sstyle\s*=", text):
            offenders.append(f"{template.name}: style attribute")
        if "<style" in text and template.name not in {"400.html", "500.html"}:
            offenders.append(f"{template.name}: <style> block")
    assert offenders == []


# --------------------------------------------------------------------------- cookies, sessions


def test_session_and_csrf_cookies_are_http_only_lax_and_secure_in_production(client, owner, settings):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client.get(reverse("login"))

    client.post(reverse("login"), {"username": owner.username, "password": PASSWORD})

    session = client.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert session["secure"] is True
    assert session["max-age"] == 24 * 3600
    csrf = client.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax" and csrf["secure"] is True


def test_a_session_ends_24_hours_after_login(client, owner):
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        client.post(reverse("login"), {"username": owner.username, "password": PASSWORD})
        traveller.shift(datetime.timedelta(hours=23, minutes=59))
        assert client.get(reverse("dashboard")).status_code == 200
        traveller.shift(datetime.timedelta(minutes=2))

        response = client.get(reverse("dashboard"))

        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --------------------------------------------------------------------------- HTTPS


def test_plain_http_is_redirected_to_https_except_the_health_check(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get(reverse("login"))
    assert response.status_code == 301 and response["Location"] == "https://testserver/login/"
    assert client.get("/health").status_code == 200
    assert client.get("/healthy-looking/").status_code == 301  # only /health itself is exempt


def test_behind_a_tls_proxy_the_forwarded_protocol_counts_and_hsts_is_sent(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31_536_000

    response = client.get(reverse("login"), HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert client.get(reverse("login"), HTTP_X_FORWARDED_PROTO="http").status_code == 301


# --------------------------------------------------------------------------- CORS

ORIGIN = "https://app.kancelaria.example"


@pytest.mark.parametrize(
    ("origin", "url", "allowed"),
    [
        (ORIGIN, "/api/batches/", True),
        ("https://evil.example", "/api/batches/", False),
        ("https://app.kancelaria.example.evil.example", "/api/batches/", False),
        ("null", "/api/batches/", False),
        (ORIGIN, "/login/", False),  # the HTML site is never cross-origin
    ],
)
def test_cors_answers_only_the_configured_origin_and_only_on_the_api(client, settings, origin, url, allowed):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]

    preflight = client.options(
        url,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    plain = client.get(url, HTTP_ORIGIN=origin)

    for response in (preflight, plain):
        assert response.get("Access-Control-Allow-Origin") == (origin if allowed else None)
        assert "Access-Control-Allow-Credentials" not in response
    if allowed:
        assert "authorization" in preflight["Access-Control-Allow-Headers"]


def test_no_origin_is_allowed_by_default(client):
    response = client.get("/api/batches/", HTTP_ORIGIN=ORIGIN)

    assert "Access-Control-Allow-Origin" not in response


# --------------------------------------------------------------------------- settings, check --deploy


def _production_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "EMAIL_", "RNDCARDS_", "SESSION_", "AWS_"))
    }
    env.update(
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rndcards_check_deploy"),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="karty.kancelaria.example",
        **extra,
    )
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_reports_nothing_with_the_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env())

    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_check_deploy_does_complain_when_production_turns_https_off():
    env = _production_env(DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_SECURE_HSTS_SECONDS="0")

    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


def test_production_settings_values():
    code = (
        "import json, rndcards.settings as s; print(json.dumps({k: getattr(s, k) for k in ["
        "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', "
        "'SESSION_COOKIE_AGE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
        "'SECURE_HSTS_PRELOAD', 'SECURE_REDIRECT_EXEMPT', 'CORS_ALLOWED_ORIGINS', 'EMAIL_BACKEND', "
        "'AXES_FAILURE_LIMIT']} | {'cooloff': s.AXES_COOLOFF_TIME.total_seconds(), "
        "'proxy': getattr(s, 'SECURE_PROXY_SSL_HEADER', None)}))"
    )

    default = json.loads(_run(["-c", code], _production_env()).stdout)
    tuned = json.loads(
        _run(
            ["-c", code],
            _production_env(
                DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
                DJANGO_SECURE_HSTS_PRELOAD="0",
                RNDCARDS_CORS_ALLOWED_ORIGINS=f"{ORIGIN}, https://inna.example:8443",
                RNDCARDS_LOGIN_FAILURE_LIMIT="3",
                RNDCARDS_LOGIN_LOCKOUT_MINUTES="60",
                EMAIL_BACKEND="smtp",
                EMAIL_HOST="smtp.kancelaria.example",
            ),
        ).stdout
    )

    assert default == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_AGE": 86400,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_REDIRECT_EXEMPT": ["^(api/)?health(/|$)"],
        "CORS_ALLOWED_ORIGINS": [],
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "AXES_FAILURE_LIMIT": 5,
        "cooloff": 900.0,
        "proxy": None,
    }
    assert tuned["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert tuned["SECURE_HSTS_PRELOAD"] is False
    assert tuned["CORS_ALLOWED_ORIGINS"] == [ORIGIN, "https://inna.example:8443"]
    assert tuned["AXES_FAILURE_LIMIT"] == 3 and tuned["cooloff"] == 3600.0
    assert tuned["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"


def test_smtp_and_ses_backends_are_built_from_the_environment(tmp_path):
    code = (
        "import django, json; django.setup(); from django.core.mail import get_connection; c = get_connection(); "
        "print(json.dumps({'cls': type(c).__module__ + '.' + type(c).__name__, "
        "'host': getattr(c, 'host', None), 'port': getattr(c, 'port', None), 'tls': getattr(c, 'use_tls', None), "
        "'user': getattr(c, 'username', None), 'password': getattr(c, 'password', None), "
        "'region': getattr(c, '_region_name', None), 'v2': getattr(c, '_use_ses_v2', None)}))"
    )
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "rndcards.settings"}
    secret = tmp_path / "smtp-password"
    secret.write_text("tajne-haslo\n", encoding="utf-8")
    smtp = json.loads(
        _run(
            ["-c", code],
            {
                **base,
                "EMAIL_BACKEND": "smtp",
                "EMAIL_HOST": "smtp.kancelaria.example",
                "EMAIL_PORT": "2525",
                "EMAIL_HOST_USER": "karty",
                "EMAIL_HOST_PASSWORD_FILE": str(secret),
            },
        ).stdout
    )
    ses = json.loads(_run(["-c", code], {**base, "EMAIL_BACKEND": "SES", "AWS_REGION": "eu-central-1"}).stdout)

    assert smtp == {
        "cls": "django.core.mail.backends.smtp.EmailBackend",
        "host": "smtp.kancelaria.example",
        "port": 2525,
        "tls": True,
        "user": "karty",
        "password": "tajne-haslo",
        "region": None,
        "v2": None,
    }
    assert ses["cls"] == "django_ses.SESBackend" and ses["region"] == "eu-central-1" and ses["v2"] is True


def test_the_ses_backend_hands_the_message_to_the_ses_api(settings):
    from botocore.stub import ANY, Stubber
    from django.core.mail import EmailMessage, get_connection

    settings.USE_SES_V2 = True
    settings.AWS_SES_REGION_NAME = "eu-central-1"
    connection = get_connection("django_ses.SESBackend", aws_access_key="test", aws_secret_key="test")
    connection.open()
    with Stubber(connection.connection) as stub:
        # django-ses paces itself by the account's send rate (AWS_SES_AUTO_THROTTLE).
        stub.add_response("get_account", {"SendQuota": {"MaxSendRate": 14.0, "Max24HourSend": 200.0}})
        stub.add_response(
            "send_email",
            {"MessageId": "0100-test", "ResponseMetadata": {"RequestId": "req-1"}},
            {"FromEmailAddress": "karty@kancelaria.example", "Destination": ANY, "Content": ANY},
        )
        message = EmailMessage(
            "Ustawienie nowego hasła",
            "Treść",
            "karty@kancelaria.example",
            ["anna@kancelaria.example"],
            connection=connection,
        )
        sent = message.send()
        stub.assert_no_pending_responses()

    assert sent == 1
    assert message.extra_headers["message_id"] == "0100-test"
