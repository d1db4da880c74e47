"""Sharing a batch with colleagues of the same firm: who sees what, the share panel, refusals."""

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import BatchShare, Firm, Membership
from accounts.services import ShareRefused, batch_share, batch_unshare
from batches import selectors
from batches.models import Batch
from cards.models import Section
from cards.tests.factories import HX

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def share_post(client, batch, user_id, action="share", **headers):
    return client.post(reverse("batch_share", args=[batch.pk]), {"user": user_id, "action": action}, **headers)


# --------------------------------------------------------------------------- selectors


def test_owner_and_shared_colleague_get_the_batch_others_404(batch, owner, colleague, outsider, share):
    from django.http import Http404

    assert selectors.batch_for_user(user=owner, pk=batch.pk) == batch
    for user in (colleague, outsider):
        with pytest.raises(Http404):
            selectors.batch_for_user(user=user, pk=batch.pk)
    share(batch, colleague)
    assert selectors.batch_for_user(user=colleague, pk=batch.pk) == batch
    project = batch.projects.first()
    assert selectors.project_for_user(user=colleague, pk=project.pk) == project
    with pytest.raises(Http404):
        selectors.project_for_user(user=outsider, pk=project.pk)


def test_owner_only_getter_refuses_a_shared_colleague(batch, owner, colleague, shared):
    from django.http import Http404

    assert selectors.batch_for_owner(user=owner, pk=batch.pk) == batch
    with pytest.raises(Http404):
        selectors.batch_for_owner(user=colleague, pk=batch.pk)


def test_a_batch_shared_with_many_is_one_row_for_its_owner(batch, owner, firm, share):
    for n in range(3):
        user = User.objects.create_user(f"wspolpracownik{n}")
        Membership.objects.create(user=user, firm=firm)
        share(batch, user)
    assert list(selectors.batches_for_user(user=owner)) == [batch]
    assert selectors.batch_for_user(user=owner, pk=batch.pk) == batch


def test_a_share_lapses_when_the_colleague_leaves_the_firm(batch, colleague, shared):
    from django.http import Http404

    Membership.objects.filter(user=colleague).delete()
    with pytest.raises(Http404):
        selectors.batch_for_user(user=colleague, pk=batch.pk)
    assert list(selectors.batch_shared_users(batch=batch)) == []


def test_a_share_lapses_when_the_colleague_moves_to_another_firm(batch, colleague, other_firm, shared):
    from django.http import Http404

    Membership.objects.filter(user=colleague).update(firm=other_firm)
    with pytest.raises(Http404):
        selectors.batch_for_user(user=colleague, pk=batch.pk)


def test_a_share_lapses_when_the_owner_leaves_the_firm(batch, owner, colleague, shared):
    from django.http import Http404

    Membership.objects.filter(user=owner).delete()
    with pytest.raises(Http404):
        selectors.batch_for_user(user=colleague, pk=batch.pk)


def test_a_share_row_to_someone_of_another_firm_gives_no_access(batch, outsider, share):
    # E.g. made by hand in the admin: the selector still checks the firm.
    from django.http import Http404

    share(batch, outsider)
    with pytest.raises(Http404):
        selectors.batch_for_user(user=outsider, pk=batch.pk)


# --------------------------------------------------------------------------- services


def test_share_and_unshare_a_colleague(batch, owner, colleague):
    share = batch_share(batch=batch, owner=owner, user_id=colleague.pk)
    assert (share.user, share.shared_by) == (colleague, owner)
    batch_unshare(batch=batch, owner=owner, user_id=colleague.pk)
    assert not BatchShare.objects.exists()


@pytest.mark.parametrize(
    "who, message",
    [
        ("outsider", "Tej osoby nie ma w Twojej firmie"),
        ("owner", "To Twoja partia"),
        ("nobody", "Tej osoby nie ma w Twojej firmie"),
        ("firmless", "Tej osoby nie ma w Twojej firmie"),
        ("inactive", "Tej osoby nie ma w Twojej firmie"),
    ],
)
def test_share_is_refused_outside_the_firm_with_oneself_and_for_unknown_ids(batch, owner, firm, request, who, message):
    if who == "nobody":
        user_id = 999_999
    elif who == "firmless":
        user_id = User.objects.create_user("bez-firmy").pk
    elif who == "inactive":
        user = User.objects.create_user("byly-pracownik", is_active=False)
        Membership.objects.create(user=user, firm=firm)
        user_id = user.pk
    else:
        user_id = request.getfixturevalue(who).pk
    with pytest.raises(ShareRefused, match=message):
        batch_share(batch=batch, owner=owner, user_id=user_id)
    assert not BatchShare.objects.exists()


def test_sharing_twice_is_refused_and_keeps_one_share(batch, owner, colleague):
    batch_share(batch=batch, owner=owner, user_id=colleague.pk)
    with pytest.raises(ShareRefused, match="już udostępniona"):
        batch_share(batch=batch, owner=owner, user_id=colleague.pk)
    assert BatchShare.objects.count() == 1


def test_an_owner_without_a_firm_cannot_share(batch, owner, colleague):
    Membership.objects.filter(user=owner).delete()
    with pytest.raises(ShareRefused, match="Nie należysz do żadnej firmy"):
        batch_share(batch=batch, owner=owner, user_id=colleague.pk)


def test_only_the_owner_may_share_even_when_calling_the_service(batch, colleague, shared, firm):
    third = User.objects.create_user("trzeci")
    Membership.objects.create(user=third, firm=firm)
    with pytest.raises(ShareRefused, match="Tylko właściciel"):
        batch_share(batch=batch, owner=colleague, user_id=third.pk)
    with pytest.raises(ShareRefused, match="Tylko właściciel"):
        batch_unshare(batch=batch, owner=colleague, user_id=colleague.pk)


def test_unsharing_someone_without_a_share_is_refused(batch, owner, colleague):
    with pytest.raises(ShareRefused, match="nie ma dostępu"):
        batch_unshare(batch=batch, owner=owner, user_id=colleague.pk)
    with pytest.raises(ShareRefused, match="sobie"):
        batch_unshare(batch=batch, owner=owner, user_id=owner.pk)


# --------------------------------------------------------------------------- dashboard


def test_dashboard_lists_own_batches_and_those_shared_with_me_with_the_owners_name(
    client, owner, colleague, make_batch, share
):
    mine = make_batch(colleague, projects=1, name="Moja partia kolegi")
    theirs = make_batch(owner, projects=2, name="Partia Anny")
    make_batch(owner, projects=1, name="Nieudostępniona partia")
    share(theirs, colleague)
    client.force_login(colleague)
    response = client.get(reverse("dashboard"))
    html = response.content.decode()
    own_part, shared_part = html.split("Udostępnione mi")
    assert "Moje partie" in own_part and "Moja partia kolegi" in own_part
    assert "Partia Anny" in shared_part and '<td class="shared-owner">Anna</td>' in shared_part
    assert "Nieudostępniona partia" not in html
    assert [b.pk for b in response.context["batches"]] == [mine.pk]
    assert [b.pk for b in response.context["shared_batches"]] == [theirs.pk]
    assert response.context["shared_batches"][0].project_count == 2


def test_dashboard_without_shares_has_no_shared_section(client, owner, batch):
    client.force_login(owner)
    assert "Udostępnione mi" not in client.get(reverse("dashboard")).content.decode()


def test_dashboard_query_count_does_not_grow_with_shared_batches(client, owner, colleague, make_batch, share):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(colleague)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("dashboard")).status_code == 200
        return len(ctx.captured_queries)

    share(make_batch(owner, projects=1), colleague)
    one = count()
    for _ in range(10):
        share(make_batch(owner, projects=2), colleague)
    assert count() == one


# --------------------------------------------------------------------------- batch page


def test_owner_sees_the_share_panel_with_colleagues_of_the_firm_only(client, owner, colleague, outsider, batch):
    client.force_login(owner)
    html = client.get(batch.get_absolute_url()).content.decode()
    panel = html.split('id="share-panel"')[1].split("</section>")[0]
    assert "Piotr Kowalski" in panel
    assert "obcy" not in panel
    assert "konsultant" not in panel and "Anna" not in panel
    assert ">Udostępnij</button>" in panel
    assert reverse("batch_delete", args=[batch.pk]) in html
    assert "Udostępniona przez" not in html


def test_shared_colleague_sees_who_shared_it_and_no_share_panel_or_delete(client, colleague, batch, shared):
    client.force_login(colleague)
    html = client.get(batch.get_absolute_url()).content.decode()
    assert "Udostępniona przez Anna" in html
    assert 'id="share-panel"' not in html
    assert reverse("batch_delete", args=[batch.pk]) not in html
    assert reverse("batch_generate", args=[batch.pk]) in html


def test_owner_without_a_firm_is_told_why_sharing_is_unavailable(client, owner, batch):
    Membership.objects.filter(user=owner).delete()
    client.force_login(owner)
    html = client.get(batch.get_absolute_url()).content.decode()
    assert "Nie należysz do żadnej firmy" in html


def test_share_for_htmx_swaps_the_panel_and_shows_the_colleague_has_access(client, owner, colleague, batch):
    client.force_login(owner)
    response = share_post(client, batch, colleague.pk, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="share-panel"')
    assert "<html" not in html
    assert "Udostępniono partię: Piotr Kowalski." in html
    assert "ma dostęp" in html and "Cofnij udostępnienie" in html
    assert BatchShare.objects.filter(batch=batch, user=colleague, shared_by=owner).exists()

    response = share_post(client, batch, colleague.pk, "unshare", **HX)
    assert response.status_code == 200
    assert "Cofnięto udostępnienie partii." in response.content.decode()
    assert not BatchShare.objects.exists()


def test_share_without_htmx_redirects_to_the_batch_with_a_message(client, owner, colleague, batch):
    client.force_login(owner)
    response = share_post(client, batch, colleague.pk)
    assert response.status_code == 302 and response["Location"] == batch.get_absolute_url()
    assert messages_of(response) == ["Udostępniono partię: Piotr Kowalski."]
    assert BatchShare.objects.filter(batch=batch, user=colleague).exists()


@pytest.mark.parametrize("headers", [{}, HX])
@pytest.mark.parametrize(
    "data, message",
    [
        ({"user": "abc", "action": "share"}, "Nie rozpoznano osoby"),
        ({"user": "", "action": "share"}, "Nie rozpoznano osoby"),
        ({"user": "-3", "action": "share"}, "Nie rozpoznano osoby"),
        ({"user": "99999999999999999999", "action": "share"}, "Nie rozpoznano osoby"),
        ({"user": "1", "action": "delete"}, "Nie rozpoznano osoby"),
        ({"action": "share"}, "Nie rozpoznano osoby"),
        ({"user": "999999", "action": "share"}, "Tej osoby nie ma w Twojej firmie"),
    ],
)
def test_broken_share_forms_are_refused_in_polish(client, owner, batch, data, message, headers):
    client.force_login(owner)
    response = client.post(reverse("batch_share", args=[batch.pk]), data, **headers)
    if headers:
        assert response.status_code == 422
        assert message in response.content.decode()
    else:
        assert response.status_code == 302
        assert message in messages_of(response)[0]
    assert not BatchShare.objects.exists()


@pytest.mark.parametrize("headers", [{}, HX])
def test_sharing_with_someone_of_another_firm_is_refused(client, owner, outsider, batch, headers):
    client.force_login(owner)
    response = share_post(client, batch, outsider.pk, **headers)
    assert response.status_code == (422 if headers else 302)
    text = response.content.decode() if headers else messages_of(response)[0]
    assert "Tej osoby nie ma w Twojej firmie" in text
    assert not BatchShare.objects.exists()


@pytest.mark.parametrize("headers", [{}, HX])
def test_sharing_with_oneself_and_unsharing_a_non_shared_user_are_refused(client, owner, colleague, batch, headers):
    client.force_login(owner)
    for user_id, action, message in (
        (owner.pk, "share", "To Twoja partia"),
        (colleague.pk, "unshare", "nie ma dostępu"),
    ):
        response = share_post(client, batch, user_id, action, **headers)
        text = response.content.decode() if headers else messages_of(response)[-1]
        assert message in text
    assert not BatchShare.objects.exists()


@pytest.mark.parametrize("headers", [{}, HX])
@pytest.mark.parametrize("user", ["colleague", "outsider"])
def test_share_by_anyone_but_the_owner_is_404_even_when_shared(client, batch, request, user, headers, share, firm):
    actor = request.getfixturevalue(user)
    share(batch, request.getfixturevalue("colleague"))
    third = User.objects.create_user("trzeci")
    Membership.objects.create(user=third, firm=firm)
    client.force_login(actor)
    for user_id, action in ((third.pk, "share"), (request.getfixturevalue("colleague").pk, "unshare")):
        assert share_post(client, batch, user_id, action, **headers).status_code == 404
    assert list(BatchShare.objects.values_list("user__username", flat=True)) == ["kolega"]


def test_share_of_a_batch_that_does_not_exist_is_404(client, owner, colleague):
    client.force_login(owner)
    assert client.post("/batches/999999/share/", {"user": colleague.pk, "action": "share"}).status_code == 404
    assert client.post("/batches/abc/share/", {"user": colleague.pk, "action": "share"}).status_code == 404


def test_share_needs_post(client, owner, batch):
    client.force_login(owner)
    assert client.get(reverse("batch_share", args=[batch.pk])).status_code == 405


# --------------------------------------------------------------------------- collaborating


def test_shared_colleague_can_edit_generate_review_and_export(client, colleague, project, shared, settings):
    client.force_login(colleague)
    url = reverse("section_save", args=[project.pk, "cel_projektu"])
    response = client.post(url, {"text": "<p>Tekst kolegi z firmy.</p>", "base_version": 1}, **HX)
    assert response.status_code == 200
    section = Section.objects.get(project=project, key="cel_projektu")
    assert section.text == "<p>Tekst kolegi z firmy.</p>" and section.updated_by == colleague

    assert client.post(reverse("project_review", args=[project.pk]), {"action": "submit"}).status_code == 302
    project.refresh_from_db()
    assert project.review_status == "in_review"
    assert client.get(reverse("batch_export", args=[project.batch_id])).status_code == 200
    assert client.get(reverse("batch_export_xlsx", args=[project.batch_id])).status_code == 200
    assert client.get(reverse("project_export", args=[project.pk])).status_code == 200
    assert client.get(reverse("section_history", args=[project.pk, "cel_projektu"]), **HX).status_code == 200
    page = client.get(project.get_absolute_url()).content.decode()
    assert "Udostępniona przez Anna" in page
    client.force_login(project.batch.owner)
    assert "Udostępniona przez" not in client.get(project.get_absolute_url()).content.decode()


def test_shared_colleagues_generation_queues_under_the_owner(
    client, owner, colleague, batch, shared, django_capture_on_commit_callbacks
):
    from batches.models import Project

    client.force_login(colleague)
    with django_capture_on_commit_callbacks():
        response = client.post(reverse("batch_generate", args=[batch.pk]), {"provider": "offline"})
    assert response.status_code == 302
    assert set(batch.projects.values_list("status", flat=True)) <= {Project.Status.QUEUED, Project.Status.GENERATED}
    html = client.get(batch.get_absolute_url()).content.decode()
    assert "Udostępniona przez" in html


def test_a_colleague_does_not_learn_the_names_of_the_owners_unshared_batches_from_similar_cards(
    client, owner, colleague, share
):
    from cards.tests.test_similarity import GOOD_SECTIONS, REWORDED, project_with_card

    hidden = Batch.objects.create(owner=owner, name="Tajna partia 2023", token="t1", client_name="Klient X")
    project_with_card(hidden, 2, GOOD_SECTIONS)
    visible = Batch.objects.create(owner=owner, name="Partia 2024", token="t2", client_name="Klient X")
    copy = project_with_card(visible, 2, REWORDED)
    share(visible, colleague)

    client.force_login(owner)
    html = client.get(reverse("project_detail", args=[copy.pk])).content.decode()
    assert "Tajna partia 2023" in html  # the owner sees their own finding in full

    client.force_login(colleague)
    for url in (reverse("project_detail", args=[copy.pk]), visible.get_absolute_url()):
        html = client.get(url).content.decode()
        assert "Tajna partia 2023" not in html
        assert GOOD_SECTIONS["nazwa_projektu"] not in html
        assert "której Ci nie udostępniono" in html  # the finding itself is still shown


def test_firm_names_are_unique(db):
    from django.db import IntegrityError, transaction

    Firm.objects.create(name="Jedna")
    with pytest.raises(IntegrityError), transaction.atomic():
        Firm.objects.create(name="Jedna")
