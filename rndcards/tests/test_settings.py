"""Malformed configuration stops the start-up with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RNDCARDS_RETRY_DELAYS": "nan,inf"}, "RNDCARDS_RETRY_DELAYS"),
        ({"RNDCARDS_RETRY_DELAYS": "1,4,16"}, "RNDCARDS_RETRY_DELAYS"),
        ({"AI_IDLE_TIMEOUT": "300"}, "AI_IDLE_TIMEOUT"),
        ({"AI_REQUEST_TIMEOUT": "99999"}, "AI_REQUEST_TIMEOUT"),
        ({"RNDCARDS_MAX_PROJECTS": "dwadzieścia"}, "RNDCARDS_MAX_PROJECTS"),
        ({"RNDCARDS_DEFAULT_PROVIDER": "gemini"}, "RNDCARDS_DEFAULT_PROVIDER"),
        ({"DRAMATIQ_BROKER_URL": "kafka://x"}, "DRAMATIQ_BROKER_URL"),
        ({"DATABASE_URL": "postgres://x@127.0.0.1/x", "DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"OPENAI_PRICES": "1,2"}, "OPENAI_PRICES"),
        # Per-user limits and breakers would silently become per process.
        ({"DRAMATIQ_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/", "REDIS_URL": ""}, "REDIS_URL"),
        # Links in e-mails: a scheme-less, script or header-breaking address is refused.
        ({"RNDCARDS_SITE_URL": "karty.example.pl"}, "RNDCARDS_SITE_URL"),
        ({"RNDCARDS_SITE_URL": "javascript:alert(1)//"}, "RNDCARDS_SITE_URL"),
        ({"RNDCARDS_SITE_URL": "https://karty.example.pl\nBcc: x@evil.example"}, "RNDCARDS_SITE_URL"),
        # Logs, request ids, metrics.
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"RNDCARDS_TRUSTED_PROXIES": "10.0.0.0/33"}, "RNDCARDS_TRUSTED_PROXIES"),
        ({"RNDCARDS_METRICS_ALLOWED_IPS": "localhost"}, "RNDCARDS_METRICS_ALLOWED_IPS"),
        ({"RNDCARDS_METRICS_TOKEN": "short"}, "RNDCARDS_METRICS_TOKEN"),
        # Request limits.
        ({"RNDCARDS_RATE_LIMIT": "sto"}, "RNDCARDS_RATE_LIMIT"),
        ({"RNDCARDS_RATE_LIMIT_WINDOW": "0"}, "RNDCARDS_RATE_LIMIT_WINDOW"),
        ({"RNDCARDS_TRUSTED_PROXIES": "10.0.0.1,proxy.local"}, "RNDCARDS_TRUSTED_PROXIES"),
        ({"RNDCARDS_LOGIN_RATE": "10 na minutę"}, "RNDCARDS_LOGIN_RATE"),
        ({"RNDCARDS_UPLOAD_RATE": "0/m"}, "RNDCARDS_UPLOAD_RATE"),
        # Accounts, e-mail, security headers.
        ({"EMAIL_BACKEND": "sendmail"}, "EMAIL_BACKEND"),
        ({"EMAIL_BACKEND": "smtp"}, "EMAIL_HOST"),
        ({"EMAIL_BACKEND": "smtp", "EMAIL_HOST": "smtp.example", "EMAIL_PORT": "dwadzieścia pięć"}, "EMAIL_PORT"),
        ({"EMAIL_BACKEND": "smtp", "EMAIL_HOST": "smtp.example", "EMAIL_PORT": "70000"}, "EMAIL_PORT"),
        ({"EMAIL_BACKEND": "smtp", "EMAIL_HOST": "smtp.example", "EMAIL_USE_TLS": "może"}, "EMAIL_USE_TLS"),
        ({"EMAIL_BACKEND": "smtp", "EMAIL_HOST": "smtp.example", "EMAIL_USE_SSL": "1"}, "EMAIL_USE_SSL"),
        (
            {"EMAIL_BACKEND": "smtp", "EMAIL_HOST": "x", "EMAIL_HOST_PASSWORD_FILE": "/nie/ma/pliku"},
            "EMAIL_HOST_PASSWORD",
        ),
        ({"EMAIL_BACKEND": "ses", "AWS_REGION": "", "AWS_SES_REGION_NAME": ""}, "AWS_SES_REGION_NAME"),
        ({"DEFAULT_FROM_EMAIL": "nikt"}, "DEFAULT_FROM_EMAIL"),
        ({"DEFAULT_FROM_EMAIL": "a@b.example\nBcc: c@d.example"}, "DEFAULT_FROM_EMAIL"),
        ({"RNDCARDS_CORS_ALLOWED_ORIGINS": "*"}, "RNDCARDS_CORS_ALLOWED_ORIGINS"),
        ({"RNDCARDS_CORS_ALLOWED_ORIGINS": "https://app.example/sciezka"}, "RNDCARDS_CORS_ALLOWED_ORIGINS"),
        ({"RNDCARDS_CORS_ALLOWED_ORIGINS": "app.example"}, "RNDCARDS_CORS_ALLOWED_ORIGINS"),
        ({"DJANGO_SECURE_PROXY_SSL_HEADER": "X Forwarded Proto"}, "DJANGO_SECURE_PROXY_SSL_HEADER"),
        ({"DJANGO_SECURE_HSTS_SECONDS": "-1"}, "DJANGO_SECURE_HSTS_SECONDS"),
        ({"RNDCARDS_LOGIN_FAILURE_LIMIT": "0"}, "RNDCARDS_LOGIN_FAILURE_LIMIT"),
        ({"RNDCARDS_LOGIN_LOCKOUT_MINUTES": "kwadrans"}, "RNDCARDS_LOGIN_LOCKOUT_MINUTES"),
        ({"SESSION_COOKIE_AGE": "10"}, "SESSION_COOKIE_AGE"),
        ({"RNDCARDS_PASSWORD_MIN_LENGTH": "4"}, "RNDCARDS_PASSWORD_MIN_LENGTH"),
    ],
)
def test_malformed_setting_is_refused_at_start_up(env, message):
    result = subprocess.run(
        [sys.executable, "-c", "import rndcards.settings"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_a_short_request_timeout_alone_lowers_the_idle_timeout_with_it():
    result = subprocess.run(
        [sys.executable, "-c", "import rndcards.settings as s; print(s.AI_REQUEST_TIMEOUT, s.AI_IDLE_TIMEOUT)"],
        cwd=ROOT,
        env={**os.environ, "AI_REQUEST_TIMEOUT": "5"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["5", "5"]
