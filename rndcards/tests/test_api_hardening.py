"""Holes a break-it review found in the API after the merge, each closed: tokens outliving a
password change, the upload limit and the per-username login limit on the API, the database
outage under /api/, the lockout answer of the token endpoint, the limiter's feature line."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test import Client

from rndcards.tests.test_api import PASSWORD, error_of, token_pair

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_a_password_change_ends_the_access_and_refresh_tokens_issued_before_it(client, owner):
    pair = token_pair(client, owner)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {pair['access']}"}
    assert client.get("/api/batches/", **auth).status_code == 200

    owner.set_password("Nowe-Haslo-2026")
    owner.save()

    error_of(client.get("/api/batches/", **auth), 401, "token_not_valid")
    refreshed = client.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, content_type="application/json")
    error_of(refreshed, 401, "token_not_valid")
    # A token issued under the new password works.
    fresh = client.post(
        "/api/auth/token/", {"username": owner.username, "password": "Nowe-Haslo-2026"}, content_type="application/json"
    ).json()
    assert client.get("/api/batches/", HTTP_AUTHORIZATION=f"Bearer {fresh['access']}").status_code == 200


def test_rotation_keeps_the_password_binding(client, owner):
    pair = token_pair(client, owner)
    rotated = client.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, content_type="application/json")
    assert rotated.status_code == 200
    owner.set_password("Nowe-Haslo-2026")
    owner.save()
    again = client.post(
        "/api/auth/token/refresh/", {"refresh": rotated.json()["refresh"]}, content_type="application/json"
    )
    error_of(again, 401, "token_not_valid")


def test_api_uploads_share_the_strict_upload_limit(client, owner, settings):
    settings.RNDCARDS_UPLOAD_RATE = "2/m"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_pair(client, owner)['access']}"}

    def upload():
        data = {"file": SimpleUploadedFile("p.xlsx", b"not a workbook", content_type=XLSX), "name": "Partia"}
        return client.post("/api/batches/upload/", data, **auth)

    assert [upload().status_code for _ in range(2)] == [400, 400]
    refused = upload()
    error_of(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) >= 1


def test_json_logins_to_the_token_endpoint_count_per_username_across_addresses(db, owner, settings):
    settings.RNDCARDS_LOGIN_RATE = "3/m"
    settings.RNDCARDS_TRUSTED_PROXIES = 1
    settings.AXES_FAILURE_LIMIT = 1000  # the limiter, not the lockout, answers here
    client = Client()
    body = {"username": owner.username, "password": "zle-haslo"}
    statuses = [
        client.post(
            "/api/auth/token/", body, content_type="application/json", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}"
        ).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


@pytest.mark.parametrize("path", ["/api/batches/", "/api/auth/token/"])
def test_a_database_outage_under_the_api_is_a_json_503_with_retry_after(client, owner, monkeypatch, path):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_pair(client, owner)['access']}"}

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("django.db.models.query.QuerySet._fetch_all", refuse)
    if path == "/api/auth/token/":
        response = client.post(
            path, {"username": owner.username, "password": PASSWORD}, content_type="application/json"
        )
    else:
        response = client.get(path, **auth)
    error = error_of(response, 503, "service_unavailable")
    assert "niedostępny" in error["message"]
    assert response["Retry-After"] == "60"


def test_a_locked_out_account_gets_the_lockout_answer_from_the_token_endpoint(client, owner, settings):
    settings.RNDCARDS_LOGIN_RATE = "100/m"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/api/auth/token/", {"username": owner.username, "password": "zle"}, content_type="application/json"
        )
    right = client.post(
        "/api/auth/token/", {"username": owner.username, "password": PASSWORD}, content_type="application/json"
    )
    error_of(right, 429, "login_locked")
    assert int(right["Retry-After"]) > 0


def test_without_redis_the_per_process_limiter_counts_as_available(client, db, settings):
    settings.RNDCARDS_RATE_LIMIT_REDIS_URL = ""
    from resilience import health

    report = health.health_report()
    feature = {f["key"]: f for f in report["features"]}["rate_limiting"]
    assert feature["available"] is True
