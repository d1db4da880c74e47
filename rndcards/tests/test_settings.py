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
