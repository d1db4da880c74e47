"""Backward-compatibility check of the migrations (django-migration-linter, test-only dependency).

A rollout migrates the database before the new code starts (deploy/README.md), so the old
code runs for a while on the new schema: a dropped or renamed column, or a NOT NULL column
without a database default, breaks it. The linter reads the SQL of every migration
(``sqlmigrate``) and refuses those. ``make test`` runs this (rndcards/tests/test_migration_lint.py);
by hand::

    python -m rndcards.migration_lint [APP_LABEL ...]

The SQL must be PostgreSQL's (production's; SQLite rebuilds tables for most changes and
everything would look like a drop): it is generated against MIGRATION_LINT_DATABASE_URL,
else DATABASE_URL when it is PostgreSQL, else postgres://postgres@127.0.0.1:5432/postgres.
Nothing is written there; the database only has to accept a connection.

**Allowing a migration the linter refuses**: after review, add it to REVIEWED below with
why it is safe (or how the rollout handles it, e.g. "deployed in two steps: code stopped
using the column in release N, the column dropped in N+1"). The reason is required; an
entry for a migration that does not exist fails the check. (The linter's other ignore
mechanism, an ``IgnoreMigration()`` operation in the migration, would make production's
``migrate`` import this test-only package, so it is not used.)
"""

import io
import os
import sys
from contextlib import redirect_stdout

# (app label, migration name) → why it is allowed. Reviewed 2026-12-04 (issue 6, ops).
REVIEWED: dict[tuple[str, str], str] = {
    # Shipped before the production stack existed: no older release ever ran against the
    # schema they change, so there is no old code to break. Each adds a NOT NULL column
    # with a Django-side default only (ADD COLUMN … DEFAULT x NOT NULL; DROP DEFAULT).
    # New NOT NULL columns use `db_default=` instead, which keeps the default in the database.
    ("batches", "0002_project_claim_token"): "shipped before production; NOT NULL claim_token, no old release",
    ("batches", "0003_generation_attempts"): "shipped before production; NOT NULL column, no old release",
    ("batches", "0004_claim_token_message_id"): "shipped before production; claim_token widened (varchar 32 → 64)",
    ("batches", "0005_review_and_quality"): "shipped before production; NOT NULL review_status, no old release",
    ("batches", "0006_batch_client_name"): "shipped before production; NOT NULL client_name, no old release",
}


def default_database_url() -> str:
    explicit = os.environ.get("MIGRATION_LINT_DATABASE_URL")
    if explicit:
        return explicit
    current = os.environ.get("DATABASE_URL", "")
    if current.startswith(("postgres://", "postgresql://")):
        # The same server, its maintenance database: the linter needs the dialect only, and
        # the application's own database need not exist (CI's tests use test_<name>).
        from urllib.parse import urlsplit, urlunsplit

        return urlunsplit(urlsplit(current)._replace(path="/postgres"))
    return "postgres://postgres@127.0.0.1:5432/postgres"


def project_apps() -> list[str]:
    """The apps of this repository (not Django's own or installed packages)."""
    from django.apps import apps
    from django.conf import settings

    base = str(settings.BASE_DIR)
    return [
        app.label
        for app in apps.get_app_configs()
        if app.path.startswith(base) and "site-packages" not in app.path and ".venv" not in app.path
    ]


def lint(app_labels: list[str] | None = None, reviewed: dict[tuple[str, str], str] | None = None) -> tuple[bool, str]:
    """Lint every migration of the given apps (default: the project's); (passed, report).
    Django must be set up."""
    from django_migration_linter import MigrationLinter

    reviewed = REVIEWED if reviewed is None else reviewed
    problems = [f"REVIEWED[{key}] has no reason" for key, reason in reviewed.items() if not str(reason).strip()]

    class Linter(MigrationLinter):
        # Reviewed per (app, migration): the linter's own ignore_name matches the name only.
        def should_ignore_migration(self, app_label, migration_name, operations=(), is_initial=False):
            if (app_label, migration_name) in reviewed:
                return True
            return super().should_ignore_migration(app_label, migration_name, operations, is_initial)

    linter = Linter(no_cache=True, include_apps=app_labels or project_apps(), analyser_string="postgresql")
    known = {(m.app_label, m.name) for m in linter.migration_loader.disk_migrations.values()}
    problems += [f"REVIEWED lists {key}, which is not a migration" for key in reviewed if key not in known]
    output = io.StringIO()
    with redirect_stdout(output):
        linter.lint_all_migrations()
        linter.print_summary()
    report = output.getvalue() + "".join(f"{p}\n" for p in problems)
    return not linter.has_errors and not problems, report


def main(argv: list[str]) -> int:
    os.environ["DATABASE_URL"] = default_database_url()
    os.environ.setdefault("DJANGO_SECRET_KEY", "migration-lint-only-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rndcards.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    passed, report = lint(argv or None)
    print(report)
    if not passed:
        print(
            "A migration is not backward compatible (see above): the previous release would break while it "
            "runs on the new schema. Split it (add nullable or with db_default first; drop in a later release) "
            "or, after review, add it with its reason to REVIEWED in rndcards/migration_lint.py.",
            file=sys.stderr,
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
