"""Deleting a batch: the owner only, after a confirmation, with its cards and source file."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from batches.models import Batch, Project
from batches.services import BatchBusy, batch_delete, batch_import
from cards.models import Section, SectionVersion
from cards.tests.factories import HX

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(owner, case_bytes) -> Batch:
    """A batch made by the real import, so it has a source file in storage."""
    return batch_import(content=case_bytes("projekty-demo.xlsx"), owner=owner, filename="projekty-demo.xlsx")


def test_delete_asks_for_confirmation_first(client, owner, imported):
    client.force_login(owner)
    response = client.get(reverse("batch_delete", args=[imported.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Usunąć partię „projekty-demo”?" in html
    assert f"<strong>{imported.projects.count()}</strong>" in html
    assert "Tej operacji nie można cofnąć" in html
    assert 'method="post"' in html and "Tak, usuń partię" in html
    assert Batch.objects.filter(pk=imported.pk).exists()


@pytest.mark.parametrize("headers", [{}, HX])
def test_owner_deletes_the_batch_its_cards_and_its_source_file(
    client, owner, imported, headers, django_capture_on_commit_callbacks
):
    from cards.tests.factories import generate_now

    generate_now(imported.projects.first())
    name = imported.source_file.name
    assert default_storage.exists(name)
    count = imported.projects.count()
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("batch_delete", args=[imported.pk]), **headers)
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Usunięto partię „projekty-demo” razem z kartami ({count}) i plikiem źródłowym."
    ]
    assert not Batch.objects.exists() and not Project.objects.exists()
    assert not Section.objects.exists() and not SectionVersion.objects.exists()
    assert not default_storage.exists(name)
    event = AuditEvent.objects.get(action="delete")
    assert (event.batch_id, event.batch_name, event.actor) == (imported.pk, "projekty-demo", owner)
    assert event.details["projects"] == count


@pytest.mark.parametrize("headers", [{}, HX])
@pytest.mark.parametrize("user", ["colleague", "outsider", "shared_colleague"])
def test_delete_by_anyone_but_the_owner_is_404_and_deletes_nothing(
    client, imported, request, user, headers, share, django_capture_on_commit_callbacks
):
    if user == "shared_colleague":
        actor = request.getfixturevalue("colleague")
        share(imported, actor)
    else:
        actor = request.getfixturevalue(user)
    client.force_login(actor)
    url = reverse("batch_delete", args=[imported.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(url, **headers).status_code == 404
        assert client.post(url, **headers).status_code == 404
    assert Batch.objects.filter(pk=imported.pk).exists()
    assert default_storage.exists(imported.source_file.name)
    assert not AuditEvent.objects.filter(action="delete").exists()


def test_delete_of_an_unknown_or_non_integer_id_is_404(client, owner, imported):
    client.force_login(owner)
    for url in ("/batches/999999/delete/", "/batches/abc/delete/", "/batches/-1/delete/", "/batches/1.5/delete/"):
        assert client.post(url).status_code == 404, url
    assert Batch.objects.count() == 1


def test_delete_requires_login(client, imported):
    url = reverse("batch_delete", args=[imported.pk])
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.post(url, **HX).status_code == 401
    assert Batch.objects.filter(pk=imported.pk).exists()


@pytest.mark.parametrize("state", ["queued", "generating", "section"])
def test_a_batch_being_generated_is_not_deleted(client, owner, imported, state):
    project = imported.projects.first()
    now = timezone.now()
    if state == "section":
        from cards.tests.factories import generate_now

        generate_now(project)
        Section.objects.filter(project=project, key="cel_projektu").update(
            regen_state=Section.RegenState.QUEUED, regen_requested_at=now
        )
    else:
        Project.objects.filter(pk=project.pk).update(status=state, queued_at=now, started_at=now)
    client.force_login(owner)
    response = client.post(reverse("batch_delete", args=[imported.pk]))
    assert response.status_code == 302 and response["Location"] == imported.get_absolute_url()
    assert "właśnie generowane" in str(list(get_messages(response.wsgi_request))[0])
    assert Batch.objects.filter(pk=imported.pk).exists()


def test_a_batch_stuck_in_generation_long_ago_can_be_deleted(owner, imported):
    long_ago = timezone.now() - datetime.timedelta(hours=2)
    imported.projects.update(status="generating", started_at=long_ago)
    count = imported.projects.count()
    assert batch_delete(batch=imported, actor=owner) == count
    assert not Batch.objects.exists()


def test_the_service_refuses_while_generating_unless_forced(owner, imported):
    imported.projects.update(status="queued", queued_at=timezone.now())
    with pytest.raises(BatchBusy):
        batch_delete(batch=imported, actor=owner)
    assert Batch.objects.exists()
    batch_delete(batch=imported, actor=owner, force=True)
    assert not Batch.objects.exists()
    assert AuditEvent.objects.get(action="delete").details["forced"] is True


def test_storage_that_cannot_delete_the_file_does_not_undo_the_delete(
    owner, imported, monkeypatch, django_capture_on_commit_callbacks
):
    storage = imported.source_file.storage

    def broken(name):
        raise OSError("storage away")

    monkeypatch.setattr(storage, "delete", broken)
    with django_capture_on_commit_callbacks(execute=True):
        batch_delete(batch=imported, actor=owner)
    assert not Batch.objects.exists()


def test_admin_delete_also_removes_the_source_file(client, owner, imported, django_capture_on_commit_callbacks):
    admin = User.objects.create_superuser("admin", password="Haslo-Admina-1")
    client.force_login(admin)
    name = imported.source_file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/batches/batch/{imported.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Batch.objects.exists()
    assert not default_storage.exists(name)
    assert AuditEvent.objects.get(action="delete").actor == admin


def test_admin_bulk_delete_removes_every_source_file(client, owner, case_bytes, django_capture_on_commit_callbacks):
    batches = [
        batch_import(content=case_bytes("projekty-demo.xlsx"), owner=owner, filename=f"p{n}.xlsx") for n in range(2)
    ]
    names = [b.source_file.name for b in batches]
    admin = User.objects.create_superuser("admin", password="Haslo-Admina-1")
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/batches/batch/",
            {"action": "delete_selected", "_selected_action": [b.pk for b in batches], "post": "yes"},
        )
    assert response.status_code == 302
    assert not Batch.objects.exists()
    assert not any(default_storage.exists(n) for n in names)


def test_a_file_left_by_a_rolled_back_delete_stays(owner, imported):
    from django.db import transaction

    name, pk = imported.source_file.name, imported.pk
    with pytest.raises(RuntimeError), transaction.atomic():
        batch_delete(batch=imported, actor=owner)
        raise RuntimeError
    assert Batch.objects.filter(pk=pk).exists()
    assert default_storage.exists(name)
