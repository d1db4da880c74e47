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


# --------------------------------------------------------------------------- 400, 405, 500


@pytest.mark.parametrize("headers", [{}, {"HTTP_HX_REQUEST": "true"}])
def test_reloading_the_upload_address_after_a_rejected_upload_lands_on_the_upload_form(client, owner, headers):
    client.force_login(owner)

    response = client.get(reverse("batch_upload"), **headers)

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert "Importuj projekty" in client.get(response["Location"]).content.decode()


def test_upload_address_opened_by_an_anonymous_user_asks_to_log_in(client):
    response = client.get(reverse("batch_upload"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("logged_in", [True, False])
@pytest.mark.parametrize("url_name", ["logout", "batch_generate"])
def test_get_of_a_post_only_address_is_a_polish_405_page_keeping_the_allow_header(
    client, owner, make_batch, url_name, logged_in
):
    batch = make_batch(owner, projects=1)
    if logged_in:
        client.force_login(owner)
    url = reverse(url_name, args=[batch.pk] if url_name == "batch_generate" else [])

    response = client.get(url)

    assert response.status_code == 405
    assert "POST" in response["Allow"]
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert "Tego adresu nie da się otworzyć bezpośrednio" in html
    assert '<html lang="pl">' in html


def test_a_405_that_already_has_a_body_is_left_as_it_is(rf):
    from django.http import HttpResponseNotAllowed

    from rndcards.middleware import MethodNotAllowedPageMiddleware

    own = HttpResponseNotAllowed(["POST"], content=b'{"error": "POST only"}', content_type="application/json")
    response = MethodNotAllowedPageMiddleware(lambda request: own)(rf.get("/"))

    assert response.content == b'{"error": "POST only"}'
    assert response["Content-Type"] == "application/json"


def test_a_request_django_refuses_as_suspicious_gets_a_polish_400_page(client, owner, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    client.force_login(owner)

    response = client.post(reverse("batch_upload"), {f"pole{i}": "x" for i in range(20)})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Bad Request" not in html
    assert "Nie udało się przyjąć tego żądania" in html
    assert '<html lang="pl">' in html


def _error_page(status):
    from django.test import RequestFactory
    from django.views import defaults

    request = RequestFactory().get("/")
    if status == 400:
        return defaults.bad_request(request, exception=None)
    return defaults.server_error(request)


@pytest.mark.parametrize(("status", "heading"), [(400, "Nie udało się przyjąć"), (500, "Coś poszło nie tak")])
@pytest.mark.parametrize("manifest", ["missing", "empty"])
def test_400_and_500_pages_render_in_polish_with_production_static_storage_and_a_broken_manifest(
    settings, tmp_path, status, heading, manifest
):
    settings.DEBUG = False
    settings.STATIC_ROOT = str(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    if manifest == "empty":
        (tmp_path / "staticfiles.json").write_text('{"paths": {}, "version": "1.1", "hash": ""}')

    response = _error_page(status)

    assert response.status_code == status
    html = response.content.decode()
    assert heading in html
    assert '<html lang="pl">' in html
    assert "{%" not in html and "{{" not in html
