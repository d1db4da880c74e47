"""Migration safety: the project's migrations pass the linter; a backward-incompatible one fails."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MIGRATIONS = {
    "0001_initial": """
        operations = [
            migrations.CreateModel(
                name="Thing",
                fields=[
                    ("id", models.BigAutoField(primary_key=True, serialize=False)),
                    ("name", models.CharField(max_length=50)),
                    ("size", models.IntegerField(null=True)),
                ],
            ),
        ]
    """,
    "0002_remove_size": 'operations = [migrations.RemoveField(model_name="thing", name="size")]',
    "0003_rename_name": 'operations = [migrations.RenameField(model_name="thing", old_name="name", new_name="title")]',
    "0004_add_not_null": """
        operations = [
            migrations.AddField(model_name="thing", name="code", field=models.CharField(max_length=5, default="x")),
        ]
    """,
    "0005_add_nullable": """
        operations = [migrations.AddField(model_name="thing", name="note", field=models.TextField(null=True))]
    """,
    "0006_add_db_default": """
        operations = [
            migrations.AddField(model_name="thing", name="kind", field=models.CharField(max_length=5, db_default="a")),
        ]
    """,
}


@pytest.fixture(scope="module")
def bad_app(tmp_path_factory) -> Path:
    """A throw-away app `lintprobe` whose migrations include the three kinds the design forbids."""
    root = tmp_path_factory.mktemp("lintprobe")
    app = root / "lintprobe"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    previous = None
    for name, body in MIGRATIONS.items():
        depends = f'[("lintprobe", "{previous}")]' if previous else "[]"
        (app / "migrations" / f"{name}.py").write_text(
            "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
            f"    dependencies = {depends}\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"
        )
        previous = name
    (root / "lint_settings.py").write_text(
        "from rndcards.settings import *  # noqa\nINSTALLED_APPS = [*INSTALLED_APPS, 'lintprobe']\n"
    )
    return root


def run(code: str, *, settings_root: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    if settings_root:
        env["PYTHONPATH"] = f"{settings_root}{os.pathsep}{ROOT}"
        env["DJANGO_SETTINGS_MODULE"] = "lint_settings"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_projects_migrations_are_backward_compatible_or_reviewed():
    result = run("import sys; from rndcards import migration_lint; sys.exit(migration_lint.main([]))")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "(batches, 0001_initial)... OK" in result.stdout
    assert "Erroneous migrations: 0/" in result.stdout


def test_a_dropped_column_a_renamed_column_and_not_null_without_default_fail(bad_app):
    result = run(
        "import sys; from rndcards import migration_lint; sys.exit(migration_lint.main(['lintprobe']))",
        settings_root=bad_app,
    )
    lines = result.stdout

    assert result.returncode == 1, lines + result.stderr
    assert "(lintprobe, 0002_remove_size)... ERR" in lines
    assert "DROPPING columns" in lines
    assert "(lintprobe, 0003_rename_name)... ERR" in lines
    assert "RENAMING columns" in lines
    assert "(lintprobe, 0004_add_not_null)... ERR" in lines
    assert "NOT NULL constraint on columns" in lines
    # The safe ways to add a column pass.
    assert "(lintprobe, 0005_add_nullable)... OK" in lines
    assert "(lintprobe, 0006_add_db_default)... OK" in lines
    assert "REVIEWED in rndcards/migration_lint.py" in result.stderr


def test_a_reviewed_migration_passes_only_with_a_reason_and_only_if_it_exists(bad_app):
    code = textwrap.dedent(
        """
        import json, os, django
        from rndcards.migration_lint import default_database_url, lint
        os.environ["DATABASE_URL"] = default_database_url()
        os.environ.setdefault("DJANGO_SECRET_KEY", "x" * 50)
        django.setup()
        bad = ["0002_remove_size", "0003_rename_name", "0004_add_not_null"]
        reviewed = {("lintprobe", name): "two-step rollout: code stopped using it in the last release" for name in bad}
        results = {
            "reviewed": lint(["lintprobe"], reviewed)[0],
            "no_reason": lint(["lintprobe"], {**reviewed, ("lintprobe", "0002_remove_size"): " "})[0],
            "unknown": lint(["lintprobe"], {**reviewed, ("lintprobe", "0099_gone"): "typo"})[0],
            "partly": lint(["lintprobe"], {("lintprobe", "0002_remove_size"): "reviewed"})[0],
        }
        print(json.dumps(results))
        """
    )
    result = run(code, settings_root=bad_app)

    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results == {
        "reviewed": True,
        "no_reason": False,
        "unknown": False,
        "partly": False,
    }
