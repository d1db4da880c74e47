"""The audit log: what each service records, what it never records, and who can read it."""

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import AuditDetailRefused, audit_record
from batches.models import Project
from cards import services
from cards.models import Section
from cards.tests.factories import HX, generate_now

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MARKER = "ZNACZNIK-TAJNY-7f3a9c"


@pytest.fixture
def project(owner, make_batch) -> Project:
    return generate_now(make_batch(owner, projects=2).projects.order_by("row_number").first())


def actions() -> list[str]:
    # force_login sends user_logged_in too: those logins are not what these tests look at.
    return list(AuditEvent.objects.exclude(action="login").order_by("pk").values_list("action", flat=True))


def every_value(event: AuditEvent) -> str:
    """Every column of the row as text, the JSON details included."""
    import json

    return " ".join(
        json.dumps(getattr(event, f.attname), default=str, ensure_ascii=False) for f in AuditEvent._meta.fields
    )


# --------------------------------------------------------------------------- the helper


def test_audit_record_keeps_names_ids_and_the_address(owner, project):
    event = audit_record(actor=owner, action="edit_section", project=project, section_key="cel_projektu", version=3)
    assert event.actor == owner and event.actor_username == "konsultant"
    assert (event.batch_id, event.batch_name, event.project_id) == (project.batch_id, project.batch.name, project.pk)
    assert event.section_key == "cel_projektu" and event.details == {"version": 3}
    assert "edycja sekcji" in str(event)


def test_a_deleted_batch_and_user_leave_their_names_in_the_record(owner, project):
    event = audit_record(actor=owner, action="export_docx", batch=project.batch)
    project.batch.delete()
    owner.delete()
    event.refresh_from_db()
    assert event.actor is None and event.actor_username == "konsultant"
    assert event.batch_name == "Klient Sp. z o.o. — 2024" and event.batch_id is not None


@pytest.mark.parametrize(
    "details",
    [{"text": "x" * 81}, {"sections": {"a": "b"}}, {"hints": ["long text"]}, {"blob": b"bytes"}],
)
def test_details_refuse_anything_that_could_carry_user_text(owner, details):
    with pytest.raises(AuditDetailRefused):
        audit_record(actor=owner, action="review", **details)
    assert not AuditEvent.objects.exists()


def test_an_unknown_action_is_refused(owner):
    with pytest.raises(ValueError):
        audit_record(actor=owner, action="hack")


def test_the_client_address_comes_from_the_request_being_served(client, owner, project):
    client.force_login(owner)
    client.post(
        reverse("section_save", args=[project.pk, "cel_projektu"]),
        {"text": "<p>Nowy cel.</p>", "overwrite": "1"},
        REMOTE_ADDR="203.0.113.7",
        **HX,
    )
    assert AuditEvent.objects.get(action="edit_section").ip_address == "203.0.113.7"


def test_a_service_run_outside_a_request_records_no_address(owner, project):
    services.project_review(project=project, action="submit", user=owner)
    assert AuditEvent.objects.get(action="review").ip_address is None


# --------------------------------------------------------------------------- what is recorded


def test_upload_generate_edit_regenerate_revert_review_export_are_recorded(
    client, owner, case_bytes, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    upload = SimpleUploadedFile("projekty-demo.xlsx", case_bytes("projekty-demo.xlsx"), content_type=XLSX)
    client.post(reverse("batch_upload"), {"file": upload})
    batch = owner.batches.get()
    with django_capture_on_commit_callbacks():
        client.post(reverse("batch_generate", args=[batch.pk]), {"provider": "offline"})
    project = batch.projects.order_by("row_number").first()
    for p in batch.projects.all():
        services.project_generate(project_id=p.pk)
    section_url = reverse("section_save", args=[project.pk, "cel_projektu"])
    client.post(section_url, {"text": "<p>Cel po edycji.</p>", "overwrite": "1"}, **HX)
    section = Section.objects.get(project=project, key="cel_projektu")
    first = section.versions.get(number=1)
    client.post(reverse("section_revert", args=[project.pk, "cel_projektu", first.pk]), **HX)
    with django_capture_on_commit_callbacks():
        client.post(
            reverse("section_regenerate", args=[project.pk, "koszty"]), {"hints": "Dodaj kwoty", "model": "offline"}
        )
    costs = Section.objects.get(project=project, key="koszty")
    assert services.section_regenerate_run(section_id=costs.pk, token=costs.regen_token)
    client.post(reverse("project_review", args=[project.pk]), {"action": "submit"})
    client.get(reverse("batch_export", args=[batch.pk]))
    client.get(reverse("batch_export_xlsx", args=[batch.pk]))
    client.get(reverse("project_export", args=[project.pk]))

    assert actions() == [
        "upload",
        "generate",
        "edit_section",
        "revert_section",
        "regenerate_section",
        "review",
        "export_docx",
        "export_xlsx",
        "export_docx",
    ]
    events = {e.action: e for e in AuditEvent.objects.all()}
    assert events["upload"].details == {"projects": batch.projects.count()}
    assert events["generate"].details["queued"] == batch.projects.count()
    assert events["generate"].details["provider"] == "offline"
    assert events["edit_section"].section_key == "cel_projektu"
    assert events["revert_section"].details == {"reverted_to": 1, "version": 3}
    assert events["regenerate_section"].details == {"model": "offline", "hints_chars": 11, "queued": True}
    assert events["review"].details == {"review_action": "submit", "review_status": "in_review"}
    assert all(e.actor == owner and e.batch_id == batch.pk for e in AuditEvent.objects.exclude(action="login"))
    assert AuditEvent.objects.filter(action="export_docx", project_id=project.pk).count() == 1


def test_project_generate_by_a_shared_colleague_is_recorded_as_theirs(
    client, colleague, project, share, django_capture_on_commit_callbacks
):
    share(project.batch, colleague)
    client.force_login(colleague)
    with django_capture_on_commit_callbacks():
        client.post(reverse("project_generate", args=[project.pk]), {"provider": "offline"})
    event = AuditEvent.objects.get(action="generate")
    assert (event.actor, event.project_id, event.details["queued"]) == (colleague, project.pk, 1)


def test_a_refused_edit_or_an_unchanged_save_records_nothing(client, owner, project):
    client.force_login(owner)
    url = reverse("section_save", args=[project.pk, "cel_projektu"])
    client.post(url, {"text": "<p>Raz.</p>", "overwrite": "1"}, **HX)
    client.post(url, {"text": "<p>Raz.</p>", "overwrite": "1"}, **HX)  # the same text: no new version
    client.post(url, {"text": "<p>Dwa.</p>", "base_version": 1}, **HX)  # conflict: refused
    assert actions() == ["edit_section"]


def test_share_and_unshare_are_recorded(client, owner, colleague, project):
    client.force_login(owner)
    url = reverse("batch_share", args=[project.batch_id])
    client.post(url, {"user": colleague.pk, "action": "share"})
    client.post(url, {"user": colleague.pk, "action": "unshare"})
    client.post(url, {"user": colleague.pk, "action": "unshare"})  # refused: not recorded
    assert actions() == ["share", "unshare"]
    assert AuditEvent.objects.first().details == {"user_id": colleague.pk}


def test_a_generation_the_queue_refused_is_recorded_with_what_was_queued(
    owner, make_batch, monkeypatch, transactional_db
):
    import redis

    from cards import tasks

    def broker_away(project_id, **kwargs):
        raise redis.ConnectionError("Connection refused.")

    monkeypatch.setattr(tasks, "enqueue_generation", broker_away)
    batch = make_batch(owner, projects=2)
    with pytest.raises(services.CardsNotQueued):
        services.batch_generate(batch=batch, provider="offline", actor=owner)
    event = AuditEvent.objects.get(action="generate")
    assert event.details["queue_down"] is True and event.details["queued"] == 0


def test_no_audit_row_ever_holds_section_text_hints_or_file_contents(
    client, owner, make_batch, case_bytes, django_capture_on_commit_callbacks
):
    project = generate_now(make_batch(owner, projects=1).projects.get())
    client.force_login(owner)
    # An edit, a regeneration with hints, a revert, all carrying the marker.
    url = reverse("section_save", args=[project.pk, "cel_projektu"])
    client.post(url, {"text": f"<p>Cel {MARKER} projektu.</p>", "overwrite": "1"}, **HX)
    with django_capture_on_commit_callbacks():
        response = client.post(
            reverse("section_regenerate", args=[project.pk, "koszty"]),
            {"hints": f"Uwzględnij {MARKER} w kosztach", "model": "offline"},
            **HX,
        )
    assert response.status_code == 200
    section = Section.objects.get(project=project, key="koszty")
    assert services.section_regenerate_run(section_id=section.pk, token=section.regen_token)
    assert MARKER in Section.objects.get(pk=section.pk).versions.get(number=2).hints
    version = Section.objects.get(project=project, key="cel_projektu").versions.get(number=2)
    client.post(reverse("section_revert", args=[project.pk, "cel_projektu", version.pk]), **HX)
    # An upload and an export in between (they record counts only).
    upload = SimpleUploadedFile("projekty-demo.xlsx", case_bytes("projekty-demo.xlsx"), content_type=XLSX)
    client.post(reverse("batch_upload"), {"file": upload})
    client.get(reverse("project_export", args=[project.pk]))
    # A failed login whose password is the marker.
    client.logout()
    client.post(reverse("login"), {"username": "konsultant", "password": MARKER})

    assert set(actions()) >= {"edit_section", "regenerate_section", "revert_section", "upload", "login_failed"}
    for event in AuditEvent.objects.all():
        assert MARKER not in every_value(event), event.action


# --------------------------------------------------------------------------- logins


def test_login_logout_and_failed_login_are_recorded_with_the_address(client, owner):
    client.post(reverse("login"), {"username": "konsultant", "password": "zle-haslo"}, REMOTE_ADDR="198.51.100.4")
    client.post(reverse("login"), {"username": "konsultant", "password": "Haslo-Testowe-1"}, REMOTE_ADDR="198.51.100.4")
    client.post(reverse("logout"), REMOTE_ADDR="198.51.100.4")
    events = list(AuditEvent.objects.order_by("pk"))
    assert [e.action for e in events] == ["login_failed", "login", "logout"]
    assert events[0].actor is None and events[0].actor_username == "konsultant"
    assert events[1].actor == owner and events[2].actor == owner
    assert {e.ip_address for e in events} == {"198.51.100.4"}


def test_a_failed_login_with_an_absurd_username_is_cut_to_size(client, db):
    client.post(reverse("login"), {"username": "x" * 500, "password": "y"})
    # The login form refuses more than 150 characters before authenticating: nothing to record,
    # or a record cut to size — never an error.
    for event in AuditEvent.objects.all():
        assert len(event.actor_username) <= 150


# --------------------------------------------------------------------------- admin


@pytest.fixture
def event(owner, project):
    return audit_record(actor=owner, action="review", project=project, review_action="submit")


def test_superuser_reads_the_log_and_can_filter_and_search_it(client, event):
    admin = User.objects.create_superuser("admin", password="Haslo-Admina-1")
    client.force_login(admin)
    response = client.get("/admin/audit/auditevent/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "konsultant" in html and "przegląd karty" in html
    assert "/admin/audit/auditevent/add/" not in html
    assert client.get("/admin/audit/auditevent/?action__exact=review").status_code == 200
    assert client.get(f"/admin/audit/auditevent/?actor__id__exact={event.actor_id}").status_code == 200
    assert client.get("/admin/audit/auditevent/?q=Klient").context["cl"].result_count == 1
    assert client.get("/admin/audit/auditevent/?q=konsultant").context["cl"].result_count == 1
    assert client.get("/admin/audit/auditevent/?q=nie-ma-takiej").context["cl"].result_count == 0
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200


def test_nobody_adds_changes_or_deletes_audit_events_in_the_admin(client, event):
    admin = User.objects.create_superuser("admin", password="Haslo-Admina-1")
    client.force_login(admin)
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    response = client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "delete"})
    assert response.status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(
        "/admin/audit/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    event.refresh_from_db()
    assert event.action == "review"


def test_staff_without_the_permission_cannot_see_the_log(client, event):
    staff = User.objects.create_user("pracownik", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/audit/auditevent/").status_code == 403
    assert "auditevent" not in client.get("/admin/").content.decode()


def test_consultants_cannot_see_the_log(client, owner, event):
    client.force_login(owner)
    assert client.get("/admin/audit/auditevent/").status_code == 302


def test_a_failed_login_with_a_nul_in_the_name_is_recorded_without_it(rf, db):
    # The API's token view hands authenticate() whatever JSON it got (the form refuses NUL first).
    from django.contrib.auth import authenticate

    assert authenticate(rf.post("/api/auth/token/"), username="konsultant\x00", password="zle") is None
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert event.actor_username == "konsultant\ufffd"
