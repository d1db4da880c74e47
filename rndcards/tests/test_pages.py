"""Site-wide behaviour: one language, Polish error pages, htmx requests after the session ends."""

import pytest
from django.test import Client
from django.urls import reverse


def test_a_browser_asking_for_english_still_gets_one_language(client, owner):
    client.force_login(owner)

    html = client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()

    assert '<html lang="pl">' in html
    assert "Importuj projekty" in html


def test_login_errors_are_polish_for_an_english_browser(client, owner):
    response = client.post(
        reverse("login"), {"username": owner.username, "password": "zle"}, HTTP_ACCEPT_LANGUAGE="en-US"
    )

    assert "Please enter" not in response.content.decode()


def test_unknown_page_is_a_polish_404(client, owner):
    client.force_login(owner)

    response = client.get("/nie-ma-takiej-strony/")

    assert response.status_code == 404
    assert "Nie znaleziono strony" in response.content.decode()


def test_post_without_csrf_token_gets_a_polish_explanation(owner, make_batch):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    batch = make_batch(owner, projects=1)

    response = client.post(reverse("batch_generate", args=[batch.pk]), {"provider": "offline"})

    assert response.status_code == 403
    assert "Formularz wygasł" in response.content.decode()


@pytest.mark.parametrize("method", ["get", "post"])
def test_htmx_request_after_the_session_ended_gets_401_not_the_login_page(client, owner, make_batch, method):
    batch = make_batch(owner, projects=1)
    project = batch.projects.get()
    url = reverse("section_save", args=[project.pk, "cel_projektu"]) if method == "post" else batch.get_absolute_url()

    response = getattr(client, method)(
        url, {"text": "<div>tekst</div>"} if method == "post" else None, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 401
    assert "<html" not in response.content.decode()


def test_plain_request_after_the_session_ended_redirects_to_login(client, make_batch, owner):
    batch = make_batch(owner, projects=1)

    response = client.get(batch.get_absolute_url())

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
