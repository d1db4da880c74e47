"""Django admin: every model's list and change pages open, with a bounded number of queries."""

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batches.models import Project
from cards import services


@pytest.fixture
def admin_client(client, db):
    admin = User.objects.create_superuser("admin", password="Haslo-Admina-1")
    client.force_login(admin)
    return client


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_admin_lists_do_not_grow_queries_with_rows(admin_client, make_batch, owner):
    make_batch(owner, projects=1)
    small = {
        url: _queries(admin_client, url)
        for url in ("/admin/batches/batch/", "/admin/batches/project/", "/admin/cards/section/")
    }
    for _ in range(5):
        make_batch(owner, projects=4)
    for project in Project.objects.all():
        Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED, requested_provider="offline")
        services.project_generate(project_id=project.pk)

    for url, count in small.items():
        assert _queries(admin_client, url) == count, url


def test_admin_change_pages_open(admin_client, make_batch, owner):
    batch = make_batch(owner, projects=1)
    project = batch.projects.get()
    Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED, requested_provider="offline")
    services.project_generate(project_id=project.pk)

    assert admin_client.get(f"/admin/batches/batch/{batch.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/batches/project/{project.pk}/change/").status_code == 200
    section = project.sections.first()
    assert admin_client.get(f"/admin/cards/section/{section.pk}/change/").status_code == 200


def test_admin_requeue_action_queues_failed_projects(
    admin_client, make_batch, owner, django_capture_on_commit_callbacks
):
    batch = make_batch(owner, projects=2)
    Project.objects.filter(batch=batch).update(status=Project.Status.FAILED)

    with django_capture_on_commit_callbacks():
        response = admin_client.post(
            "/admin/batches/project/",
            {"action": "requeue", "_selected_action": list(batch.projects.values_list("pk", flat=True))},
        )

    assert response.status_code == 302
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.QUEUED}


def test_admin_can_requeue_a_stuck_project_but_not_one_still_running(
    admin_client, make_batch, owner, django_capture_on_commit_callbacks
):
    import datetime

    from django.utils import timezone

    batch = make_batch(owner, projects=2)
    stuck, running = batch.projects.order_by("row_number")
    Project.objects.filter(pk=stuck.pk).update(
        status=Project.Status.GENERATING, started_at=timezone.now() - datetime.timedelta(hours=1)
    )
    Project.objects.filter(pk=running.pk).update(status=Project.Status.GENERATING, started_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/batches/project/",
            {"action": "requeue_stuck", "_selected_action": [stuck.pk, running.pk]},
            follow=True,
        )

    assert "Ponownie w kolejce: 1." in response.content.decode()
    assert Project.objects.get(pk=stuck.pk).status == Project.Status.QUEUED
    assert Project.objects.get(pk=running.pk).status == Project.Status.GENERATING


def test_admin_is_closed_to_consultants(client, owner):
    client.force_login(owner)

    assert client.get("/admin/batches/batch/").status_code == 302


def test_admin_edit_of_a_section_is_sanitized_and_recorded_as_manual(admin_client, make_batch, owner):
    project = make_batch(owner, projects=1).projects.get()
    Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED, requested_provider="offline")
    services.project_generate(project_id=project.pk)
    section = project.sections.get(key="opis_projektu")

    response = admin_client.post(
        f"/admin/cards/section/{section.pk}/change/",
        {"text": "<div>Opis<script>alert(1)</script><img src=x onerror=y></div>"},
    )

    assert response.status_code == 302
    section.refresh_from_db()
    assert section.text == "<div>Opis</div>"
    assert section.origin == "manual"


def test_admin_edits_the_batch_client_name(admin_client, make_batch, owner):
    batch = make_batch(owner, projects=1)
    page = admin_client.get(f"/admin/batches/batch/{batch.pk}/change/").content.decode()
    assert 'name="client_name"' in page
    response = admin_client.post(
        f"/admin/batches/batch/{batch.pk}/change/",
        {
            "owner": owner.pk,
            "name": batch.name,
            "original_filename": "",
            "client_name": "Acme Sp. z o.o.",
            "status": batch.status,
            "projects-TOTAL_FORMS": "1",
            "projects-INITIAL_FORMS": "1",
            "projects-MIN_NUM_FORMS": "0",
            "projects-MAX_NUM_FORMS": "1000",
            "projects-0-id": batch.projects.get().pk,
            "projects-0-batch": batch.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    batch.refresh_from_db()
    assert batch.client_name == "Acme Sp. z o.o."


def test_admin_edit_of_a_section_rescores_the_card(admin_client, make_batch, owner):
    project = make_batch(owner, projects=1).projects.get()
    Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED, requested_provider="offline")
    services.project_generate(project_id=project.pk)
    section = project.sections.get(key="cel_projektu")
    admin_client.post(
        f"/admin/cards/section/{section.pk}/change/",
        {"text": "<div>W dzisiejszym dynamicznym świecie celem jest rewolucyjny system.</div>"},
    )
    project.refresh_from_db()
    assert any(c["rule"] == "L4" and c["section"] == "cel_projektu" for c in project.quality_checks)
