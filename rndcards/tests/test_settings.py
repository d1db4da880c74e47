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
