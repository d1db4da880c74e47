"""Migrations against a real PostgreSQL server (a scratch database of their own, dropped after)."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from rndcards.migration_lint import default_database_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scratch_postgres():
    admin = default_database_url()  # the server's maintenance database, as the migration linter uses
    name = f"test_rndcards_migrations_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    yield url
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SECRET_KEY": "migration-test-secret-key-0123456789-abcdefghijklmnop",
        "DJANGO_SETTINGS_MODULE": "rndcards.settings",
    }
    env.pop("REDIS_URL", None)
    env.pop("DRAMATIQ_BROKER_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", "migrate", *args, "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_interrupted_concurrent_index_build_does_not_block_the_next_migrate(scratch_postgres):
    """CREATE INDEX CONCURRENTLY that was cancelled (statement_timeout, a killed migrate) leaves
    an INVALID index behind; running migrate again must replace it, not fail with "already exists"."""
    assert migrate(scratch_postgres, "batches", "0007").returncode == 0
    with psycopg.connect(scratch_postgres, autocommit=True) as conn:
        conn.execute("CREATE INDEX project_batch_counts ON batches_project (batch_id)")
        conn.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'project_batch_counts'::regclass")

    result = migrate(scratch_postgres, "batches")

    assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(scratch_postgres) as conn:
        valid, definition = conn.execute(
            "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'project_batch_counts'"
        ).fetchone()
    assert valid
    assert "INCLUDE (id, status, review_status)" in definition
