"""Files on a real S3-compatible server (moto's server mode on loopback), and S3 settings."""

import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage

from batches.models import Batch
from resilience import health
from resilience.tests import journeys


def test_upload_stores_the_workbook_in_the_bucket_under_a_generated_key(client, owner, case_bytes, s3):
    client.force_login(owner)
    content = case_bytes("projekty-demo.xlsx")

    batch = journeys.upload_ok(client, content)

    key = batch.source_file.name
    assert s3.keys() == [key]
    assert key.startswith(f"uploads/{owner.pk}/") and key.endswith(f"/{batch.token}.xlsx")
    assert "projekty-demo" not in key  # the user's file name never reaches the key
    assert s3.client.get_object(Bucket=s3.name, Key=key)["Body"].read() == content
    assert batch.original_filename == "projekty-demo.xlsx"


def test_stored_objects_are_private_and_urls_signed(client, owner, case_bytes, s3):
    client.force_login(owner)
    batch = journeys.upload_ok(client, case_bytes("projekty-demo.xlsx"))

    grants = s3.client.get_object_acl(Bucket=s3.name, Key=batch.source_file.name)["Grants"]
    url = batch.source_file.url

    assert not [g for g in grants if g["Grantee"].get("URI", "").endswith(("AllUsers", "AuthenticatedUsers"))]
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=" in url


def test_a_hostile_file_name_does_not_reach_the_bucket(client, owner, case_bytes, s3):
    client.force_login(owner)
    response = journeys.upload(client, case_bytes("projekty-demo.xlsx"), filename="../../etc/passwd\u202e.xlsx")

    assert response.status_code == 302
    (key,) = s3.keys()
    assert ".." not in key and "passwd" not in key and "\u202e" not in key


def test_generation_viewing_editing_and_export_work_on_s3(client, owner, case_bytes, s3, worker):
    client.force_login(owner)
    batch = journeys.upload_ok(client, case_bytes("projekty-demo.xlsx"))

    projects = journeys.generate_all(client, batch, worker)

    assert {p.status for p in projects} == {"generated"}
    journeys.view_and_edit(client, projects[0])
    journeys.export_both(client, batch)


def test_a_failed_database_write_removes_the_stored_object(client, owner, case_bytes, s3, monkeypatch):
    from django.db.utils import IntegrityError

    from batches.models import Project

    def broken(*args, **kwargs):
        raise IntegrityError("simulated")

    monkeypatch.setattr(Project.objects, "bulk_create", broken)
    client.force_login(owner)

    with pytest.raises(IntegrityError):
        journeys.upload(client, case_bytes("projekty-demo.xlsx"))

    assert s3.keys() == []
    assert not Batch.objects.exists()


def test_health_checks_the_bucket(db, s3):
    check = health.check_storage()

    assert check.status == "ok" and check.extra == {"backend": "s3"}


def test_health_reports_a_missing_bucket_as_unavailable(db, s3, settings):
    from resilience.tests.conftest import s3_storages

    settings.STORAGES = s3_storages(s3.endpoint, "no-such-bucket-here")

    report = health.health_report()

    assert report["checks"]["storage"]["status"] == "unavailable"
    assert report["checks"]["storage"]["detail"] == "Magazyn plików nie odpowiada."
    assert "no-such-bucket" not in str(report)


def test_default_storage_is_s3_while_the_fixture_holds(s3):
    assert default_storage.bucket_name == s3.name


# --- settings -------------------------------------------------------------------------------


def _settings_in_a_new_process(env: dict) -> subprocess.CompletedProcess:
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'rndcards.settings'); django.setup();"
        "from django.conf import settings; from django.core.files.storage import default_storage as s;"
        "o = settings.STORAGES['default'];"
        "c = s.connection.meta.client.meta.config;"
        "print(o['BACKEND'], s.bucket_name, s.endpoint_url, s.region_name, s.access_key, s.default_acl,"
        " s.querystring_auth, c.connect_timeout, c.read_timeout, c.retries, c.s3)"
    )
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bucket_setting_switches_default_storage_to_s3_with_short_timeouts(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    result = _settings_in_a_new_process(
        {
            "AWS_STORAGE_BUCKET_NAME": "karty",
            "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_S3_REGION_NAME": "eu-central-1",
            "AWS_ACCESS_KEY_ID": "AKIATEST",
            "AWS_SECRET_ACCESS_KEY_FILE": str(secret),
            "AWS_S3_ADDRESSING_STYLE": "path",
        }
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:9] == [
        "storages.backends.s3.S3Storage",
        "karty",
        "http://127.0.0.1:9000",
        "eu-central-1",
        "AKIATEST",
        "None",
        "True",
        "3",
        "10",
    ]
    assert "'total_max_attempts': 2" in result.stdout
    assert "'addressing_style': 'path'" in result.stdout


@pytest.mark.parametrize(
    "env, message",
    [
        ({"AWS_S3_ADDRESSING_STYLE": "sideways"}, "AWS_S3_ADDRESSING_STYLE must be auto, virtual or path"),
        ({"AWS_S3_ENDPOINT_URL": "127.0.0.1:9000"}, "AWS_S3_ENDPOINT_URL must be an http(s):// URL"),
        ({"AWS_S3_CONNECT_TIMEOUT": "soon"}, "AWS_S3_CONNECT_TIMEOUT must be an integer"),
        ({"AWS_SECRET_ACCESS_KEY_FILE": "/no/such/file"}, "AWS_SECRET_ACCESS_KEY_FILE='/no/such/file' cannot be read"),
    ],
)
def test_malformed_s3_settings_stop_the_start_up(env, message):
    result = _settings_in_a_new_process({"AWS_STORAGE_BUCKET_NAME": "karty", **env})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
