"""Views of batches: dashboard, upload, template download, batch page."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches.models import Batch, Project

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HX = {"HTTP_HX_REQUEST": "true"}


def upload(client, content: bytes, filename: str = "projekty.xlsx", **extra):
    data = {"file": SimpleUploadedFile(filename, content, content_type=XLSX), **extra}
    return client.post(reverse("batch_upload"), data)


def queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def login_url(url: str) -> str:
    return f"{reverse('login')}?next={url}"


# --------------------------------------------------------------------------- dashboard


def test_dashboard_redirects_anonymous_to_login(client):
    url = reverse("dashboard")
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == login_url(url)


def test_dashboard_lists_only_the_users_own_batches(client, owner, outsider, make_batch):
    make_batch(owner, projects=3, name="Partia właściciela")
    make_batch(outsider, projects=1, name="Partia obcego")
    client.force_login(owner)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Partia właściciela" in html
    assert "Partia obcego" not in html
    assert 'lang="pl"' in html
    assert 'accept=".xlsx"' in html
    assert reverse("batch_template") in html
    assert "Pobierz szablon Excel" in html
    assert "X-CSRFToken" in html  # htmx sends the token from <body hx-headers>


def test_dashboard_shows_project_and_generated_counts(client, owner, make_batch):
    batch = make_batch(owner, projects=3)
    Project.objects.filter(pk=batch.projects.first().pk).update(status=Project.Status.GENERATED)
    client.force_login(owner)
    response = client.get(reverse("dashboard"))
    listed = response.context["batches"].get(pk=batch.pk)
    assert (listed.project_count, listed.generated_count) == (3, 1)
    assert "1 / 3" in response.content.decode()


def test_dashboard_query_count_does_not_grow_with_batches(client, owner, make_batch, django_assert_num_queries):
    # The bench's shape (bench/bench_pages.py): 1 batch, then 50 batches of 20 projects.
    client.force_login(owner)
    make_batch(owner, projects=1)
    one = queries(client, reverse("dashboard"))
    for _ in range(49):
        make_batch(owner, projects=20)
    with django_assert_num_queries(one):
        response = client.get(reverse("dashboard"))
    assert response.content.decode().count('class="strong-link"') == 50


# --------------------------------------------------------------------------- template


def test_template_download_is_an_xlsx_attachment(client, owner):
    client.force_login(owner)
    response = client.get(reverse("batch_template"))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert response["Content-Disposition"] == 'attachment; filename="szablon-projektow-B+R.xlsx"'
    assert b"".join(response.streaming_content).startswith(b"PK")


def test_template_download_requires_login(client):
    url = reverse("batch_template")
    assert client.get(url)["Location"] == login_url(url)


# --------------------------------------------------------------------------- upload


@pytest.mark.parametrize(
    ("case", "count"),
    [
        ("projekty-demo.xlsx", 5),
        ("projekty-20.xlsx", 20),
        ("arkusz-drugi.xlsx", 3),
        ("daty-jako-tekst.xlsx", 4),
        ("naglowki-inne.xlsx", 3),
        ("puste-sformatowane-wiersze.xlsx", 5),
    ],
)
def test_upload_of_a_valid_workbook_creates_the_batch_and_redirects(client, owner, case_bytes, case, count):
    client.force_login(owner)
    response = upload(client, case_bytes(case), filename=case)
    batch = Batch.objects.get(owner=owner)
    assert response.status_code == 302
    assert response["Location"] == reverse("batch_detail", args=[batch.pk])
    assert batch.projects.count() == count
    assert batch.original_filename == case


def test_upload_of_demo_workbook_says_how_many_projects_were_imported(client, owner, case_bytes):
    client.force_login(owner)
    response = upload(client, case_bytes("projekty-demo.xlsx"), name="Klient Sp. z o.o. — 2024")
    response = client.get(response["Location"])
    html = response.content.decode()
    assert "Zaimportowano 5 projektów." in html
    assert Batch.objects.get().name == "Klient Sp. z o.o. — 2024"


def test_upload_message_uses_polish_plural_forms():
    from batches.views import _imported_message

    assert _imported_message(1) == "Zaimportowano 1 projekt."
    assert _imported_message(3) == "Zaimportowano 3 projekty."
    assert _imported_message(12) == "Zaimportowano 12 projektów."
    assert _imported_message(22) == "Zaimportowano 22 projekty."


def test_upload_with_validation_errors_lists_rows_3_4_5_and_creates_nothing(client, owner, case_bytes):
    client.force_login(owner)
    response = upload(client, case_bytes("bledy-walidacji.xlsx"), filename="bledy-walidacji.xlsx")
    assert response.status_code == 400
    assert not Batch.objects.exists()
    assert not Project.objects.exists()
    problems = response.context["problems"]
    assert [(p.row, p.column) for p in problems] == [
        (3, "Data zakończenia"),
        (4, "Opis"),
        (5, "Osoba odpowiedzialna"),
    ]
    html = response.content.decode()
    assert "bledy-walidacji.xlsx" in html
    for header in ("Wiersz", "Kolumna", "Problem"):
        assert f">{header}</th>" in html
    for problem in problems:
        assert f'<td class="num">{problem.row}</td>' in html
        assert f"<td>{problem.column}</td>" in html
    assert "jest wcześniejsza niż data rozpoczęcia" in html


def test_upload_with_21_projects_says_the_limit_is_20(client, owner, case_bytes):
    client.force_login(owner)
    response = upload(client, case_bytes("projekty-21.xlsx"), filename="projekty-21.xlsx")
    assert response.status_code == 400
    assert not Batch.objects.exists()
    html = response.content.decode()
    assert "21 projektów" in html
    assert "najwyżej 20" in html
    assert '<td class="num">—</td>' in html  # a whole-file problem has no row


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        (
            "projekty.csv",
            "Nazwa projektu;Data rozpoczęcia\nSystem wizyjny;01.02.2024\n".encode(),
            "wygląda na plik tekstowy (np. CSV)",
        ),
        ("projekty.xlsx", bytes(range(256)) * 8, "nie jest skoroszytem Excela"),
    ],
)
def test_upload_of_a_file_that_is_not_a_workbook_is_refused_in_polish(client, owner, filename, content, message):
    client.force_login(owner)
    response = upload(client, content, filename=filename)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert filename in response.content.decode()
    assert not Batch.objects.exists()


def test_upload_without_a_file_asks_for_one(client, owner):
    client.force_login(owner)
    response = client.post(reverse("batch_upload"), {"name": "Bez pliku"})
    assert response.status_code == 400
    assert "Wybierz plik .xlsx z projektami." in response.content.decode()
    assert not Batch.objects.exists()


def test_upload_of_an_empty_file_is_refused(client, owner):
    client.force_login(owner)
    response = upload(client, b"", filename="pusty.xlsx")
    assert response.status_code == 400
    assert "Wybrany plik jest pusty." in response.content.decode()


def test_upload_larger_than_the_limit_is_413(client, owner, case_bytes, settings):
    settings.RNDCARDS_MAX_UPLOAD_BYTES = 4096
    client.force_login(owner)
    response = upload(client, case_bytes("projekty-demo.xlsx"), filename="duzy.xlsx")
    assert response.status_code == 413
    html = response.content.decode()
    assert "duzy.xlsx" in html
    assert "największy dopuszczalny rozmiar" in html
    assert not Batch.objects.exists()


def test_upload_requires_login_and_a_get_only_goes_back_to_the_dashboard(client, owner, case_bytes):
    response = upload(client, case_bytes("projekty-demo.xlsx"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Batch.objects.exists()
    client.force_login(owner)
    response = client.get(reverse("batch_upload"), {"file": "x"})
    assert (response.status_code, response["Location"]) == (302, reverse("dashboard"))
    assert client.put(reverse("batch_upload")).status_code == 405
    assert not Batch.objects.exists()


# --------------------------------------------------------------------------- batch page


def test_batch_page_shows_projects_and_actions(client, owner, make_batch):
    batch = make_batch(owner, projects=2)
    client.force_login(owner)
    response = client.get(reverse("batch_detail", args=[batch.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert batch.name in html
    for project in batch.projects.all():
        assert reverse("project_detail", args=[project.pk]) in html
    assert "Łukasz Żółkiewski" in html
    assert "01.02.2024 – 30.11.2024" in html
    assert reverse("batch_generate", args=[batch.pk]) in html
    assert reverse("batch_export", args=[batch.pk]) in html
    assert "Generuj wszystkie" in html
    assert "Eksportuj do Word" in html
    # The provider select shows the automatic choice (offline without API keys).
    assert '<option value="offline" selected>Szkic offline (bez AI) — domyślny</option>' in html


def test_batch_page_progress_partial_for_htmx_has_no_layout(client, owner, make_batch):
    batch = make_batch(owner, projects=2)
    client.force_login(owner)
    response = client.get(reverse("batch_detail", args=[batch.pk]), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="batch-progress"')
    assert "System wizyjnej kontroli spoin nr 2" in html


def test_batch_page_polls_while_projects_are_queued_and_stops_after(client, owner, make_batch):
    batch = make_batch(owner, projects=2)
    url = reverse("batch_detail", args=[batch.pk])
    client.force_login(owner)
    Project.objects.filter(batch=batch, row_number=2).update(status=Project.Status.QUEUED)
    html = client.get(url, **HX).content.decode()
    assert 'hx-trigger="every 3s"' in html
    assert f'hx-get="{url}"' in html
    assert "w kolejce" in html
    Project.objects.filter(batch=batch).update(status=Project.Status.GENERATED)
    html = client.get(url, **HX).content.decode()
    assert "hx-trigger" not in html
    assert "hx-get" not in html


@pytest.mark.parametrize(
    ("statuses", "done"),
    [
        (["pending", "pending"], False),  # never generated
        (["generated", "queued"], False),
        (["generated", "generating"], False),
        (["generated", "pending"], False),  # one card still has no text
        (["generated", "generated"], True),
        (["generated", "failed"], True),
        (["generation_timeout", "failed"], True),
    ],
)
def test_batch_page_says_generation_finished_only_when_every_card_is_final(client, owner, make_batch, statuses, done):
    batch = make_batch(owner, projects=2)
    for project, status in zip(batch.projects.order_by("row_number"), statuses, strict=True):
        Project.objects.filter(pk=project.pk).update(status=status)
    client.force_login(owner)
    for headers in ({}, HX):  # the page and the polled progress partial alike
        html = client.get(reverse("batch_detail", args=[batch.pk]), **headers).content.decode()
        assert ("Generowanie zakończone" in html) is done
        assert ('id="generation-done"' in html) is done


def test_generation_finished_note_names_the_failed_cards_and_what_to_do(client, owner, make_batch):
    batch = make_batch(owner, projects=3)
    Project.objects.filter(batch=batch).update(status=Project.Status.GENERATED)
    client.force_login(owner)
    html = client.get(reverse("batch_detail", args=[batch.pk]), **HX).content.decode()
    assert "wszystkie karty są gotowe do przeglądu i eksportu" in html
    assert "alert--success" in html
    Project.objects.filter(batch=batch, row_number=2).update(status=Project.Status.FAILED)
    html = client.get(reverse("batch_detail", args=[batch.pk]), **HX).content.decode()
    assert "karty z błędem: 1. Wygeneruj je ponownie przyciskiem „Generuj wszystkie”." in html
    assert "wszystkie karty są gotowe" not in html


def test_a_batch_without_projects_never_says_generation_finished(client, owner):
    batch = Batch.objects.create(owner=owner, name="Pusta", token="pusta0001")
    client.force_login(owner)
    assert "Generowanie zakończone" not in client.get(reverse("batch_detail", args=[batch.pk])).content.decode()


def test_batch_page_counts_generated_queued_generating_and_failed(client, owner, make_batch):
    batch = make_batch(owner, projects=5)
    statuses = ["generated", "generated", "queued", "generating", "failed"]
    for project, status in zip(batch.projects.order_by("row_number"), statuses, strict=True):
        Project.objects.filter(pk=project.pk).update(
            status=status, error_message="Błąd testowy" if status == "failed" else ""
        )
    client.force_login(owner)
    response = client.get(reverse("batch_detail", args=[batch.pk]))
    counts = {key: response.context[key] for key in ("generated", "total", "queued", "generating", "failed")}
    assert counts == {"generated": 2, "total": 5, "queued": 1, "generating": 1, "failed": 1}
    html = response.content.decode()
    assert '<progress class="progress" value="2" max="5">' in html
    assert "Błąd testowy" in html


def test_batch_page_query_count_does_not_grow_with_projects(client, owner, make_batch, django_assert_num_queries):
    client.force_login(owner)
    small = make_batch(owner, projects=1)
    large = make_batch(owner, projects=20)
    Project.objects.update(status=Project.Status.GENERATED, provider="offline")
    one = queries(client, reverse("batch_detail", args=[small.pk]))
    with django_assert_num_queries(one):
        assert client.get(reverse("batch_detail", args=[large.pk])).status_code == 200


@pytest.mark.parametrize("user", ["colleague", "outsider"])
@pytest.mark.parametrize("headers", [{}, HX])
def test_batch_page_of_another_user_is_404(client, owner, make_batch, request, user, headers):
    batch = make_batch(owner)
    client.force_login(request.getfixturevalue(user))
    assert client.get(reverse("batch_detail", args=[batch.pk]), **headers).status_code == 404


def test_batch_page_requires_login(client, owner, make_batch):
    url = reverse("batch_detail", args=[make_batch(owner).pk])
    assert client.get(url)["Location"] == login_url(url)


# --------------------------------------------------------------------------- login


def test_login_page_is_polish_and_logs_in(client, owner):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert "Zaloguj się" in response.content.decode()
    response = client.post(reverse("login"), {"username": "konsultant", "password": "Haslo-Testowe-1"})
    assert response["Location"] == reverse("dashboard")
    html = client.get(reverse("dashboard")).content.decode()
    assert "Anna" in html
    assert "Wyloguj" in html


def test_batch_page_counts_cards_that_fell_back_to_offline_drafts(client, owner, make_batch):
    batch = make_batch(owner, projects=2)
    batch.projects.update(status="generated", provider="offline", requested_provider="anthropic")
    batch.projects.filter(row_number=2).update(error_message="Dostawca AI nie odpowiedział poprawnie (HTTP 529).")
    client.force_login(owner)

    html = client.get(batch.get_absolute_url()).content.decode()

    assert "szkice offline zamiast AI: <strong>1</strong>" in html


def test_cards_from_the_other_ai_provider_are_not_counted_as_offline_drafts(client, owner, make_batch):
    batch = make_batch(owner, projects=2)
    batch.projects.update(
        status="generated", provider="openai", requested_provider="anthropic", error_message="Claude nie odpowiedział."
    )
    client.force_login(owner)

    html = client.get(batch.get_absolute_url()).content.decode()

    assert "szkice offline zamiast AI" not in html
    assert "od drugiego dostawcy AI: <strong>2</strong>" in html


def test_queued_projects_show_their_place_in_the_users_queue(client, owner, make_batch):
    first = make_batch(owner, projects=2)
    second = make_batch(owner, projects=2)
    for place, project in enumerate([*first.projects.order_by("row_number"), *second.projects.order_by("row_number")]):
        project.status = "queued"
        project.queued_at = datetime.datetime(2026, 1, 1, 12, 0, place, tzinfo=datetime.UTC)
        project.save()
    client.force_login(owner)

    html = client.get(second.get_absolute_url()).content.decode()

    assert "w kolejce (3.)" in html and "w kolejce (4.)" in html


def test_upload_with_a_client_column_files_the_batch_under_that_client(client, owner):
    from batches.tests.test_excel import HEADERS, good_row, make_xlsx

    content = make_xlsx([good_row() + ["<b>Acme</b> Sp. z o.o."]], headers=HEADERS + ["Nazwa klienta"])
    client.force_login(owner)
    response = upload(client, content)
    batch = Batch.objects.get(owner=owner)
    assert response.status_code == 302
    assert batch.client_name == "Acme Sp. z o.o."  # HTML stripped by the parser, like every cell
    html = client.get(reverse("batch_detail", args=[batch.pk])).content.decode()
    assert "Klient" in html and "Acme Sp. z o.o." in html
