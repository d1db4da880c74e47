"""Schemathesis against the running app: generated requests (valid, boundary and hostile) for every
operation of /api/schema/, as a user with a batch. No 500, and every response matches the schema."""

import subprocess
import sys
from pathlib import Path

from batches.services import batch_import
from cards.tests.factories import generate_now

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_server, owner, case_bytes, client, tmp_path):
    batch = batch_import(content=case_bytes("projekty-demo.xlsx"), owner=owner, filename="demo.xlsx")
    project = generate_now(batch.projects.order_by("row_number").first())
    response = client.post(
        "/api/auth/token/", {"username": owner.username, "password": "Haslo-Testowe-1"}, content_type="application/json"
    )
    access = response.json()["access"]
    # Path ids: the user's real batch and project most of the time (to reach the views' logic), random
    # ones (someone else's or none: 404) otherwise.
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"""
[dictionaries.ids]
values = [{batch.pk}, {project.pk}]
[dictionaries.keys]
values = ["cel_projektu", "harmonogram"]
[parameters]
"path.id" = {{ dictionary = "ids", probability = 0.7 }}
"path.key" = {{ dictionary = "keys", probability = 0.7 }}
""",
        encoding="utf-8",
    )
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{live_server.url}/api/schema/",
            "--header",
            f"Authorization: Bearer {access}",
            "--checks",
            CHECKS,
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            "10",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    assert "13 passed" in result.stdout
