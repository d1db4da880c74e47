"""Django admin: firms and memberships are edited there; admin actions need the change permission."""

import pytest
from django.contrib.auth.models import Permission, User

from accounts.models import Firm, Membership
from batches.models import Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", password="Haslo-Admina-1"))
    return client


def test_admin_creates_a_firm_and_adds_a_member(admin_client, outsider):
    response = admin_client.post(
        "/admin/accounts/firm/add/",
        {
            "name": "Nowa Kancelaria",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    firm = Firm.objects.get(name="Nowa Kancelaria")
    membership = Membership.objects.get(user=outsider)
    response = admin_client.post(
        f"/admin/accounts/membership/{membership.pk}/change/", {"user": outsider.pk, "firm": firm.pk}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=outsider).firm == firm


def test_admin_pages_of_firms_memberships_and_shares_open(admin_client, owner, colleague, make_batch, share, firm):
    batch = make_batch(owner, projects=1)
    shared = share(batch, colleague)
    for url in (
        "/admin/accounts/firm/",
        f"/admin/accounts/firm/{firm.pk}/change/",
        "/admin/accounts/membership/",
        f"/admin/accounts/membership/{owner.membership.pk}/change/",
        "/admin/accounts/batchshare/",
        f"/admin/accounts/batchshare/{shared.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_a_user_is_in_one_firm_at_most(owner, other_firm):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=owner, firm=other_firm)


@pytest.mark.parametrize("action", ["requeue", "requeue_stuck"])
def test_staff_who_may_only_view_projects_cannot_run_the_requeue_actions(
    client, owner, make_batch, action, django_capture_on_commit_callbacks
):
    # Without `permissions` on the action, Django offers it to anyone who may view the list:
    # a view-only staff account could start paid AI work for any consultant's cards.
    batch = make_batch(owner, projects=2)
    batch.projects.update(status=Project.Status.FAILED)
    staff = User.objects.create_user("podglad", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_project"))
    client.force_login(staff)
    page = client.get("/admin/batches/project/")
    assert page.status_code == 200
    assert f'value="{action}"' not in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/batches/project/",
            {"action": action, "_selected_action": list(batch.projects.values_list("pk", flat=True))},
        )
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.FAILED}


def test_staff_with_the_change_permission_may_run_the_requeue_action(
    client, owner, make_batch, django_capture_on_commit_callbacks
):
    batch = make_batch(owner, projects=1)
    batch.projects.update(status=Project.Status.FAILED)
    staff = User.objects.create_user("operator-adm", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_project", "change_project"]))
    client.force_login(staff)
    with django_capture_on_commit_callbacks():
        client.post("/admin/batches/project/", {"action": "requeue", "_selected_action": [batch.projects.get().pk]})
    assert batch.projects.get().status == Project.Status.QUEUED
