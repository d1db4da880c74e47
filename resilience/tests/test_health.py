from unittest import mock

from django.db.utils import OperationalError


def test_health_answers_healthy(client, db):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


def test_health_reports_an_unreachable_database_as_503(client, db):
    with mock.patch("resilience.views.connection.cursor", side_effect=OperationalError("down")):
        response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"


def test_health_refuses_post(client, db):
    assert client.post("/health").status_code == 405
