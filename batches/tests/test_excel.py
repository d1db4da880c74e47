"""Tests of the projects workbook parser (batches/excel.py): pure, no database, no Django settings."""

import ast
import datetime
import io
import random
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace
from xml.sax.saxutils import escape as html_escape

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from batches import excel
from batches.excel import (
    MAX_PROJECTS_DEFAULT,
    REQUIRED_COLUMNS,
    Problem,
    ProjectRow,
    WorkbookError,
    clean_text,
    parse_workbook,
    template_workbook,
)

DATA = Path(__file__).parent / "data"
HEADERS = list(REQUIRED_COLUMNS.values())

DESCRIPTION = (
    "Spółka opracowuje nową metodę sterowania procesem suszenia drewna, która na podstawie pomiarów "
    "wilgotności w czasie rzeczywistym dobiera parametry komory i skraca cykl suszenia."
)
GOAL = "Skrócenie cyklu suszenia drewna o 20% przy zachowaniu jakości tarcicy klasy A."


def good_row(**changes):
    row = {
        "name": "Adaptacyjne sterowanie komorą suszarniczą",
        "description": DESCRIPTION,
        "start_date": datetime.date(2024, 1, 15),
        "end_date": datetime.date(2024, 12, 31),
        "goal": GOAL,
        "responsible_person": "Jan Kowalski",
    }
    row.update(changes)
    return [row[field] for field in REQUIRED_COLUMNS]


def make_xlsx(rows, headers=None, *, title_rows=(), epoch=None, sheet_title="Projekty") -> bytes:
    """A workbook built with openpyxl: optional title rows, a header row, then the rows."""
    wb = openpyxl.Workbook()
    if epoch is not None:
        wb.epoch = epoch
    ws = wb.active
    ws.title = sheet_title
    for title in title_rows:
        ws.append(list(title))
    ws.append(list(HEADERS if headers is None else headers))
    for row in rows:
        ws.append(list(row))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def rewrite_part(data: bytes, name: str, change) -> bytes:
    """Copy of the zip with one member's text changed by ``change(text) -> text``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == name:
                content = change(content.decode("utf-8")).encode("utf-8")
            target.writestr(info.filename, content)
    return buffer.getvalue()


def one_cell_rows_xlsx(count: int) -> bytes:
    """The header row, then ``count`` rows holding one number each, written the way scripts and
    exports write big sheets: no <dimension> element (openpyxl then sizes the sheet by parsing it)."""
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(2, count + 2))

    def add_rows(xml):
        xml = re.sub(r"<dimension [^>]*/>", "", xml)
        return xml.replace("</sheetData>", rows + "</sheetData>")

    return rewrite_part(make_xlsx([]), "xl/worksheets/sheet1.xml", add_rows)


def guide_text(data: bytes) -> str:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return " ".join(str(c.value) for row in wb["Instrukcja"].iter_rows() for c in row if c.value)


def problems_of(source, **kwargs) -> list[Problem]:
    with pytest.raises(WorkbookError) as caught:
        parse_workbook(source, **kwargs)
    assert caught.value.problems, "a WorkbookError must carry at least one problem"
    return caught.value.problems


def only_problem(source, **kwargs) -> Problem:
    problems = problems_of(source, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------- the eight case files


def test_demo_file_gives_five_projects_with_real_dates():
    rows = parse_workbook(DATA / "projekty-demo.xlsx")

    assert len(rows) == 5
    assert [r.row_number for r in rows] == [2, 3, 4, 5, 6]
    assert all(isinstance(r, ProjectRow) for r in rows)
    first = rows[0]
    assert first.responsible_person == "Anna Kowalczyk"
    assert first.start_date == datetime.date(2024, 2, 1)
    assert first.end_date == datetime.date(2024, 12, 31)
    assert len(first.description) >= 100 and len(first.goal) >= 50
    assert first.extra == ()


def test_twenty_projects_is_exactly_the_default_maximum_and_valid():
    assert MAX_PROJECTS_DEFAULT == 20
    rows = parse_workbook(DATA / "projekty-20.xlsx")
    assert len(rows) == 20
    assert rows[-1].row_number == 21


def test_twenty_one_projects_rejected_as_a_whole_with_one_polish_problem():
    problem = only_problem(DATA / "projekty-21.xlsx")

    assert problem.row is None and problem.column is None
    assert "20" in problem.message and "21" in problem.message
    assert problem.message == (
        "Plik zawiera 21 projektów, a dopuszczalne jest najwyżej 20 w jednym pliku. Podziel projekty na kilka plików."
    )


def test_validation_errors_file_lists_exactly_three_problems_rows_3_4_5_with_columns():
    problems = problems_of(DATA / "bledy-walidacji.xlsx")

    assert [(p.row, p.column) for p in problems] == [
        (3, "Data zakończenia"),
        (4, "Opis"),
        (5, "Osoba odpowiedzialna"),
    ]
    end_before_start, short_description, no_person = (p.message for p in problems)
    assert "wcześniejsza niż data rozpoczęcia" in end_before_start
    assert "08.01.2024" in end_before_start and "31.10.2024" in end_before_start
    assert "co najmniej 100 znaków" in short_description
    assert "osoby odpowiedzialnej" in no_person


def test_formatted_blank_rows_are_not_projects_and_do_not_count():
    rows = parse_workbook(DATA / "puste-sformatowane-wiersze.xlsx", max_projects=5)
    assert len(rows) == 5
    assert [r.row_number for r in rows] == [2, 3, 4, 5, 6]


def test_dates_as_text_and_serial_numbers_are_read_correctly():
    rows = parse_workbook(DATA / "daty-jako-tekst.xlsx")

    assert len(rows) == 4
    by_row = {r.row_number: (r.start_date, r.end_date) for r in rows}
    assert by_row[2] == (datetime.date(2024, 6, 1), datetime.date(2024, 12, 31))  # "01.06.2024"
    assert by_row[3] == (datetime.date(2023, 7, 1), datetime.date(2025, 6, 30))  # "2023-07-01"
    assert by_row[4] == (datetime.date(2024, 3, 18), datetime.date(2024, 11, 15))  # bare serial 45369
    assert by_row[5] == (datetime.date(2024, 1, 2), datetime.date(2024, 12, 31))  # real date cells


def test_messy_headers_title_row_and_extra_cost_column_are_kept():
    rows = parse_workbook(DATA / "naglowki-inne.xlsx")

    assert len(rows) == 3
    assert [r.row_number for r in rows] == [4, 5, 6]
    assert [r.extra for r in rows] == [
        (("Koszty kwalifikowane (PLN)", "412000"),),
        (("Koszty kwalifikowane (PLN)", "1250000,5"),),
        (("Koszty kwalifikowane (PLN)", "98000"),),
    ]
    assert rows[2].responsible_person == "Łukasz Adamczyk"
    assert rows[0].start_date == datetime.date(2024, 4, 15)


def test_projects_found_on_second_sheet_when_active_sheet_is_instructions():
    rows = parse_workbook(DATA / "arkusz-drugi.xlsx")

    assert len(rows) == 3
    assert rows[0].name == "Chatbot obsługi zgłoszeń serwisowych dla sieci wind"
    assert rows[0].start_date == datetime.date(2024, 7, 1)


# --------------------------------------------------------------------------- sources


def test_accepts_str_path_bytes_and_file_objects_even_when_already_read():
    path = DATA / "projekty-demo.xlsx"
    data = path.read_bytes()
    handle = io.BytesIO(data)
    handle.read(100)  # e.g. an upload whose first bytes were already sniffed

    for source in (str(path), path, data, bytearray(data), handle):
        assert len(parse_workbook(source)) == 5


def test_max_projects_argument_is_respected_and_polish_plural_used():
    problem = only_problem(DATA / "projekty-20.xlsx", max_projects=5)
    assert problem.message.startswith("Plik zawiera 20 projektów, a dopuszczalne jest najwyżej 5 ")

    data = make_xlsx([good_row()] * 22)
    assert only_problem(data).message.startswith("Plik zawiera 22 projekty,")


# --------------------------------------------------------------------------- too many projects


def test_huge_file_is_rejected_without_reading_every_row_and_count_is_capped(tmp_path, monkeypatch):
    path = tmp_path / "50000-wierszy.xlsx"
    path.write_bytes(one_cell_rows_xlsx(50_000))
    built = []
    raw_row = excel._RawRow
    monkeypatch.setattr(excel, "_RawRow", lambda *args: built.append(args[0]) or raw_row(*args))

    problem = only_problem(path)

    assert problem.message == (
        "Plik zawiera ponad 10 000 projektów, a dopuszczalne jest najwyżej 20 w jednym pliku. "
        "Podziel projekty na kilka plików."
    )
    assert built == list(range(2, 22))  # rows past max_projects are only checked for emptiness


def test_project_count_is_exact_up_to_the_count_limit_then_capped(monkeypatch):
    assert only_problem(one_cell_rows_xlsx(2_500)).message.startswith("Plik zawiera 2500 projektów, a dopuszczalne ")

    monkeypatch.setattr(excel, "COUNT_LIMIT", 30)
    assert only_problem(one_cell_rows_xlsx(30)).message.startswith("Plik zawiera 30 projektów, a dopuszczalne ")
    assert only_problem(one_cell_rows_xlsx(31)).message.startswith("Plik zawiera ponad 30 projektów, a ")


def test_rows_past_the_limit_are_counted_by_the_same_blank_row_rule():
    rows = [good_row()] * 21 + [[None] * 6, ["  ", None, "<br>"], [None] * 6 + ["tylko uwaga"], good_row()]
    data = make_xlsx(rows, headers=HEADERS + ["Uwagi"])
    assert only_problem(data).message.startswith("Plik zawiera 22 projekty, a dopuszczalne jest najwyżej 20 ")


def test_rows_with_values_past_the_count_limit_are_not_read_even_when_they_are_no_projects(monkeypatch):
    monkeypatch.setattr(excel, "COUNT_LIMIT", 30)
    headers = HEADERS + ["Uwagi"]
    junk = [["  ", None, "<br>"], [None] * 6 + ["tylko uwaga"]] * 20  # 40 rows with values, none a project
    assert len(parse_workbook(make_xlsx(junk[:28] + [good_row(), good_row()], headers=headers))) == 2

    problem = only_problem(make_xlsx(junk + [good_row()], headers=headers))
    assert problem.message.startswith(
        "Arkusz „Projekty” ma pod nagłówkami ponad 30 wierszy z jakąkolwiek zawartością, a w jednym pliku "
        "może być najwyżej 20 projektów. Zostaw w arkuszu tylko wiersze z projektami"
    )
    # Too many projects before the limit: their number is known only as a lower bound.
    problem = only_problem(make_xlsx([good_row()] * 25 + junk, headers=headers))
    assert problem.message.startswith("Plik zawiera co najmniej 25 projektów, a dopuszczalne jest najwyżej 20 ")


def test_many_rows_holding_only_spaces_are_not_all_read(tmp_path, monkeypatch):
    # 50 000 rows of spaces: not projects, so never counted, yet they must not all be read.
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>  </t></is></c></row>' for r in range(2, 50_002))
    data = rewrite_part(
        make_xlsx([]), "xl/worksheets/sheet1.xml", lambda xml: xml.replace("</sheetData>", rows + "</sheetData>")
    )
    seen = []
    has_project_data = excel._has_project_data
    monkeypatch.setattr(
        excel,
        "_has_project_data",
        lambda cells, required, row, *rest: seen.append(row) or has_project_data(cells, required, row, *rest),
    )

    assert "ponad 10 000 wierszy z jakąkolwiek zawartością" in only_problem(data).message
    assert len(seen) == 10_001


def test_sheets_without_dimension_and_chartsheets_are_read_like_openpyxl_reads_them():
    # parse_workbook opens sheets without sizing them (see _WorkbookReader): check what that touches.
    no_dimension = rewrite_part(
        make_xlsx([good_row()]), "xl/worksheets/sheet1.xml", lambda xml: re.sub(r"<dimension [^>]*/>", "", xml)
    )
    assert "<dimension" not in zipfile.ZipFile(io.BytesIO(no_dimension)).read("xl/worksheets/sheet1.xml").decode()
    assert [r.row_number for r in parse_workbook(no_dimension)] == [2]

    wb = openpyxl.Workbook()
    archive = wb.active
    archive.title = "Archiwum"
    archive.append(HEADERS)
    archive.append(good_row(name="Z archiwum"))
    chart = BarChart()  # openpyxl cannot read back a chart sheet without a chart
    chart.add_data(Reference(archive, min_col=1, min_row=1, max_row=2))
    wb.create_chartsheet("Wykres", 0).add_chart(chart)  # a chart sheet first shifts the active sheet's index
    projects = wb.create_sheet("Projekty")
    projects.append(HEADERS)
    projects.append(good_row(name="Bieżący"))
    wb.active = 2
    buffer = io.BytesIO()
    wb.save(buffer)
    assert [r.name for r in parse_workbook(buffer.getvalue())] == ["Bieżący"]


# --------------------------------------------------------------------------- formulas

FORMULA_MESSAGE = (
    "Komórka zawiera formułę bez zapisanej wartości — otwórz plik w Excelu, zapisz go ponownie i prześlij jeszcze raz."
)


def test_formula_without_cached_value_is_reported_as_such_not_as_a_missing_value():
    # openpyxl, like many scripts and ERP exports, writes formulas with an empty <v>.
    rows = [
        good_row(name='=UPPER("projekt")', start_date="=DATE(2024,1,15)"),
        ['="A"&"B"', "=B2", "=C2", "=D2", "=E2", "=F2"],  # nothing but formulas: not a blank row
    ]
    problems = problems_of(make_xlsx(rows))

    assert [(p.row, p.column) for p in problems] == [(2, "Nazwa projektu"), (2, "Data rozpoczęcia")] + [
        (3, header) for header in HEADERS
    ]
    assert {p.message for p in problems} == {FORMULA_MESSAGE}


def test_formulas_with_cached_values_are_read_and_cached_empty_text_is_empty():
    data = make_xlsx([good_row(name="NAZWA"), good_row(name="NAZWA")])

    def as_excel_saves_formulas(xml):
        xml = xml.replace(
            '<c r="A2" t="inlineStr"><is><t>NAZWA</t></is></c>',
            '<c r="A2" t="str"><f>UPPER("Z formuły")</f><v>Z FORMUŁY</v></c>',
        )
        return xml.replace(  # =IF(…;"";…) evaluated to "": Excel writes an empty cached string
            '<c r="A3" t="inlineStr"><is><t>NAZWA</t></is></c>', '<c r="A3" t="str"><f>IF(1;"";"x")</f><v></v></c>'
        )

    problem = only_problem(rewrite_part(data, "xl/worksheets/sheet1.xml", as_excel_saves_formulas))
    assert (problem.row, problem.column) == (3, "Nazwa projektu")
    assert problem.message.startswith("Brak nazwy projektu.")

    fixed = rewrite_part(
        data, "xl/worksheets/sheet1.xml", lambda xml: as_excel_saves_formulas(xml).replace("<v></v>", "<v>Druga</v>")
    )
    assert [r.name for r in parse_workbook(fixed)] == ["Z FORMUŁY", "Druga"]


EXCEL_ERRORS = [
    "#N/A",
    "#REF!",
    "#VALUE!",
    "#DIV/0!",
    "#NAME?",
    "#NULL!",
    "#NUM!",
    "#SPILL!",
    "#CALC!",
    "#GETTING_DATA",
]


def error_cells_xlsx(rows, headers=None) -> bytes:
    """Like make_xlsx, but a value given as ("e", "#N/A") is written as a cached formula error."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Projekty"
    ws.append(list(HEADERS if headers is None else headers))
    for row_number, row in enumerate(rows, start=2):
        for column, value in enumerate(row, start=1):
            cell = ws.cell(row=row_number, column=column)
            if isinstance(value, tuple):
                cell.value = value[1]
                cell.data_type = "e"  # openpyxl guesses "e" only for the seven classic codes
            else:
                cell.value = value
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def error_message(code):
    return f"Komórka zawiera błąd formuły ({code}) — popraw formułę albo wpisz wartość."


def test_cached_formula_errors_in_required_columns_are_reported_per_cell_not_imported():
    codes = iter(EXCEL_ERRORS)
    rows = [[("e", next(codes)) for _ in HEADERS[:5]] + ["Jan Kowalski"], good_row()]
    rows[1][5] = ("e", next(codes))
    rows.append(good_row(name=("e", next(codes)), start_date=("e", next(codes))))
    rows.append(good_row(end_date=("e", next(codes)), goal=("e", next(codes))))
    data = error_cells_xlsx(rows)
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    for code in EXCEL_ERRORS:  # the file really holds error cells, not text
        assert f"<v>{code}</v>" in sheet and f't="e"><v>{code}</v>' in sheet

    problems = problems_of(data)

    assert [(p.row, p.column, p.message) for p in problems] == [
        (2, "Nazwa projektu", error_message("#N/A")),
        (2, "Opis", error_message("#REF!")),
        (2, "Data rozpoczęcia", error_message("#VALUE!")),
        (2, "Data zakończenia", error_message("#DIV/0!")),
        (2, "Cel projektu", error_message("#NAME?")),
        (3, "Osoba odpowiedzialna", error_message("#NULL!")),
        (4, "Nazwa projektu", error_message("#NUM!")),
        (4, "Data rozpoczęcia", error_message("#SPILL!")),
        (5, "Data zakończenia", error_message("#CALC!")),
        (5, "Cel projektu", error_message("#GETTING_DATA")),
    ]
    assert str(problems[0]) == f"Wiersz 2, kolumna „Nazwa projektu”: {error_message('#N/A')}"


def test_cached_formula_error_is_reported_under_the_header_as_written():
    headers = ["  NAZWA projektu ", *HEADERS[1:]]
    problem = only_problem(error_cells_xlsx([good_row(name=("e", "#REF!"))], headers))
    assert (problem.row, problem.column, problem.message) == (2, "NAZWA projektu", error_message("#REF!"))


def test_cached_formula_error_in_an_extra_column_is_reported_not_kept_as_data():
    headers = [*HEADERS, "Koszty kwalifikowane (PLN)", "Klient"]
    data = error_cells_xlsx([good_row() + [("e", "#DIV/0!"), "ACME"], good_row() + [412000, ("e", "#N/A")]], headers)

    problems = problems_of(data)

    assert [(p.row, p.column, p.message) for p in problems] == [
        (2, "Koszty kwalifikowane (PLN)", error_message("#DIV/0!")),
        (3, "Klient", error_message("#N/A")),
    ]


def test_text_that_only_looks_like_an_error_code_is_kept_as_text():
    # A value typed as text (Excel: '#N/A) is not a formula error; only t="e" cells are.
    data = make_xlsx([good_row(responsible_person="#N/A")])
    data = rewrite_part(
        data,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace('t="e"><v>#N/A</v>', 't="inlineStr"><is><t>#N/A</t></is>'),
    )
    assert parse_workbook(data)[0].responsible_person == "#N/A"


def test_hostile_error_cell_text_is_cleaned_and_cut_in_the_message():
    data = make_xlsx([good_row(name="#N/A")])
    hostile = "#<b>X</b>" + "Y" * 500
    data = rewrite_part(
        data, "xl/worksheets/sheet1.xml", lambda xml: xml.replace("<v>#N/A</v>", f"<v>{html_escape(hostile)}</v>")
    )
    problem = only_problem(data)
    assert problem.column == "Nazwa projektu"
    assert problem.message == error_message("#X" + "Y" * 18)


# --------------------------------------------------------------------------- broken and hostile files


def test_empty_file_is_rejected():
    assert "pusty" in only_problem(b"").message


def test_csv_text_is_rejected_with_save_as_xlsx_advice():
    csv = "Nazwa projektu;Opis;Data rozpoczęcia\nProjekt;Opis projektu;01.02.2024\n".encode()
    message = only_problem(csv).message
    assert "CSV" in message and "Skoroszyt programu Excel" in message


def test_utf16_text_export_is_treated_as_text():
    data = "\ufeffNazwa projektu\tOpis\r\n".encode("utf-16-le")
    assert "CSV" in only_problem(data).message


def test_random_bytes_are_rejected():
    data = random.Random(20240101).randbytes(4096)
    assert not data.startswith((b"PK", b"\xd0\xcf"))
    assert "nie jest skoroszytem Excela" in only_problem(data).message


def test_old_binary_xls_is_rejected_with_save_as_advice():
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "Workbook".encode("utf-16-le") + b"\x00" * 512
    message = only_problem(ole2).message
    assert ".xls" in message and "Skoroszyt programu Excel" in message


def test_password_protected_xlsx_is_recognised_by_encrypted_package_stream():
    ole2 = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 504
        + "EncryptionInfo".encode("utf-16-le")
        + b"\x00" * 50
        + "EncryptedPackage".encode("utf-16-le")
        + b"\x00" * 512
    )
    assert "hasłem" in only_problem(ole2).message


def test_ods_spreadsheet_is_rejected_with_its_own_message():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    assert ".ods" in only_problem(buffer.getvalue()).message


def test_zip_that_is_not_a_workbook_is_rejected():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("projekty.txt", "Nazwa projektu;Opis")
    assert "ZIP" in only_problem(buffer.getvalue()).message


def test_word_document_is_named_as_such():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    assert "Worda" in only_problem(buffer.getvalue()).message


def test_truncated_xlsx_is_reported_as_corrupted():
    data = template_workbook()
    assert "uszkodzony" in only_problem(data[: len(data) // 2]).message


def test_xlsx_with_damaged_sheet_data_is_reported_as_corrupted():
    data = make_xlsx([good_row()])
    broken = rewrite_part(data, "xl/worksheets/sheet1.xml", lambda xml: xml[: len(xml) // 2])
    assert "uszkodzony" in only_problem(broken).message


def test_zip_with_missing_parts_is_reported_as_corrupted():
    data = make_xlsx([good_row()])
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                target.writestr(info.filename, source.read(info.filename))
    assert "uszkodzony" in only_problem(buffer.getvalue()).message  # openpyxl itself just skips the sheet


def test_zip_bomb_is_rejected_by_declared_uncompressed_size(monkeypatch):
    monkeypatch.setattr(excel, "MAX_UNCOMPRESSED_BYTES", 10_000)
    assert "zbyt duży" in only_problem(template_workbook()).message


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n"
)


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"])
def test_xml_entity_expansion_is_rejected_not_expanded(part, monkeypatch):
    assert openpyxl.DEFUSEDXML, "openpyxl must run with defusedxml"
    data = (DATA / "projekty-demo.xlsx").read_bytes()  # written like Excel: shared strings, declarations

    def add_bomb(xml):
        body = re.sub(r"^<\?xml[^>]*\?>\s*", "", xml)  # the DTD must come first
        body = body.replace("Anna Kowalczyk", "&lol9;").replace("<v>45323</v>", "<v>&lol9;</v>")
        assert body.count("&lol9;") == 1
        return BILLION_LAUGHS + body

    opened = []
    reader = excel._workbook_reader
    monkeypatch.setattr(excel, "_workbook_reader", lambda data: opened.append(1) or reader(data))
    problem = only_problem(rewrite_part(data, part, add_bomb))
    assert "niedozwolone konstrukcje XML" in problem.message
    assert opened == []  # refused by the DTD pre-scan: openpyxl never parsed (or expanded) anything


def test_workbook_without_header_row_is_rejected():
    data = make_xlsx([["Faktura 1", 1200], ["Faktura 2", 800]], headers=["Dokument", "Kwota"])
    message = only_problem(data).message
    assert "Nazwa projektu" in message and "nagłówków" in message


def test_missing_columns_get_one_problem_each_naming_the_column():
    headers = ["Nazwa projektu", "Opis", "Data rozpoczęcia", "Data zakończenia"]
    data = make_xlsx([good_row()[:4]], headers=headers)

    problems = problems_of(data)
    assert [(p.row, p.column) for p in problems] == [(None, "Cel projektu"), (None, "Osoba odpowiedzialna")]
    assert all("Brakuje kolumny" in p.message for p in problems)


def test_header_variants_with_suffix_or_alias_do_not_clash_with_the_exact_header():
    headers = HEADERS + ["Opis (EN)", "Nazwa"]
    rows = parse_workbook(make_xlsx([good_row() + ["Description in English", "Skrót"]], headers=headers))
    assert rows[0].description == DESCRIPTION
    assert rows[0].extra == (("Opis (EN)", "Description in English"), ("Nazwa", "Skrót"))

    suffixed = ["Nazwa projektu", "Opis (min. 100 znaków)", "Data rozpoczęcia (DD.MM.RRRR)"] + HEADERS[3:]
    assert parse_workbook(make_xlsx([good_row()], headers=suffixed))[0].description == DESCRIPTION


def test_duplicated_required_column_is_reported():
    data = make_xlsx([good_row() + ["drugi opis"]], headers=HEADERS + ["Opis"])
    problem = only_problem(data)
    assert problem.row == 1 and problem.column == "Opis"
    assert "kilka razy" in problem.message


def test_header_only_file_has_no_projects_problem():
    assert "nie zawiera żadnego projektu" in only_problem(make_xlsx([])).message


def test_huge_dimension_and_thousands_of_formatted_rows_stay_fast(monkeypatch):
    data = make_xlsx([good_row(), good_row(name="Drugi projekt")])

    def add_formatted_rows(xml):
        rows = "".join(
            f'<row r="{r}">' + "".join(f'<c r="{c}{r}" s="0"/>' for c in "ABCDEF") + "</row>" for r in range(10, 5010)
        )
        xml = xml.replace("</sheetData>", rows + '<row r="1048576" s="0" customFormat="1"/></sheetData>')
        return xml.replace('<dimension ref="A1:F3"/>', '<dimension ref="A1:XFD1048576"/>')

    hostile = rewrite_part(data, "xl/worksheets/sheet1.xml", add_formatted_rows)
    seen = []
    has_project_data = excel._has_project_data
    monkeypatch.setattr(
        excel,
        "_has_project_data",
        lambda cells, req, row, *rest: seen.append(row) or has_project_data(cells, req, row, *rest),
    )
    rows = parse_workbook(hostile)

    assert [r.row_number for r in rows] == [2, 3]
    # openpyxl reads no row past the last one with a value (the lxml pre-scan's bound), rather
    # than 5000 formatted rows padded to 16 384 columns (several seconds); no timing in tests.
    assert seen == [2, 3]


# --------------------------------------------------------------------------- cleaning and validation


def test_html_nul_and_control_characters_are_stripped_polish_letters_kept():
    description = (
        "<p>Zakład <b>opracowuje</b>_x0000_ nową\u00a0metodę\x9f spawania\u200b</p><p>cienkich blach"
        "_x0007_ &amp; profili – żółć, źdźbło, ŁÓDŹ.</p>  " + "Szczegóły badań obejmują próby w skali półtechnicznej."
    )
    data = make_xlsx([good_row(name="  <i>Spawanie</i>\t laserowe\r\n ", description=description)])

    row = parse_workbook(data)[0]
    assert row.name == "Spawanie laserowe"
    assert row.description.startswith("Zakład opracowuje nową metodę spawania\n\ncienkich blach & profili")
    assert "żółć, źdźbło, ŁÓDŹ." in row.description
    for bad in ("<", ">", "\x00", "\x07", "\x9f", "\u00a0", "\u200b", "_x0000_", "\r", "\t"):
        assert bad not in row.description and bad not in row.name


def test_clean_text_handles_raw_control_characters_and_whitespace():
    assert clean_text("a\x00b\x01c\x1fd") == "abcd"
    assert clean_text("  Jan\u00a0\u00a0Kowalski \r\n") == "Jan Kowalski"
    assert clean_text("akapit 1\r\n\r\n\r\n\r\nakapit 2\rlinia") == "akapit 1\n\nakapit 2\nlinia"
    assert clean_text("linia 1\nlinia 2", multiline=False) == "linia 1 linia 2"
    assert clean_text("x < 5 i y > 3") == "x < 5 i y > 3"  # not tags
    assert clean_text("<script>alert(1)</script>tekst") == "tekst"
    assert clean_text("Ze\u0301rań") == "Zérań"  # composed (NFC)


def test_description_too_short_after_stripping_html_is_reported():
    padded = (
        "<div style='font-family: Calibri; color: #333333'><span class=\"x\">" + "Krótki opis." + "</span></div>" * 8
    )
    assert len(padded) > 100
    data = make_xlsx([good_row(description=padded)])

    problem = only_problem(data)
    assert (problem.row, problem.column) == (2, "Opis")
    assert "12 znaków" in problem.message and "po usunięciu znaczników HTML" in problem.message


def test_name_of_256_characters_is_too_long_255_is_fine():
    assert parse_workbook(make_xlsx([good_row(name="N" * 255)]))[0].name == "N" * 255

    problem = only_problem(make_xlsx([good_row(name="N" * 256)]))
    assert (problem.row, problem.column) == (2, "Nazwa projektu")
    assert "256 znaków" in problem.message and "najwyżej 255" in problem.message


def test_text_limits_for_description_goal_and_person():
    rows = [
        good_row(description="D" * 5001),
        good_row(goal="Za krótki cel."),
        good_row(responsible_person="   "),
        good_row(description="D" * 100, goal="G" * 50),  # exactly at the minimum: fine
    ]
    problems = problems_of(make_xlsx(rows))
    assert [(p.row, p.column) for p in problems] == [
        (2, "Opis"),
        (3, "Cel projektu"),
        (4, "Osoba odpowiedzialna"),
    ]
    assert "5001 znaków" in problems[0].message and "najwyżej 5000" in problems[0].message
    assert "co najmniej 50 znaków" in problems[1].message


def test_numbers_in_text_columns_become_text():
    data = make_xlsx([good_row(name=12.0, responsible_person=2024)])
    row = parse_workbook(data)[0]
    assert (row.name, row.responsible_person) == ("12", "2024")


def test_garbage_dates_are_reported_each_in_its_own_column():
    rows = [
        good_row(start_date="wkrótce", end_date="31.02.2024"),
        good_row(start_date="01.06.24", end_date=None),
        good_row(start_date=12, end_date=True),
    ]
    problems = problems_of(make_xlsx(rows))

    assert [(p.row, p.column) for p in problems] == [
        (2, "Data rozpoczęcia"),
        (2, "Data zakończenia"),
        (3, "Data rozpoczęcia"),
        (3, "Data zakończenia"),
        (4, "Data rozpoczęcia"),
        (4, "Data zakończenia"),
    ]
    messages = [p.message for p in problems]
    assert "Nie rozpoznano daty „wkrótce”" in messages[0]
    assert "nie istnieje" in messages[1]
    assert "dwie cyfry" in messages[2]
    assert "Brak daty zakończenia" in messages[3]
    assert "wygląda na błędną" in messages[4]  # serial 12 = 12.01.1900
    assert all("DD.MM.RRRR" in m for m in messages)


def test_date_text_variants_and_serial_text_are_accepted():
    rows = [
        good_row(start_date="1.2.2024 r.", end_date="2024/12/31"),
        good_row(start_date="45369", end_date="2024-11-15 00:00:00"),
        good_row(start_date=datetime.datetime(2024, 3, 18, 14, 30), end_date=45611.0),
    ]
    parsed = [(r.start_date, r.end_date) for r in parse_workbook(make_xlsx(rows))]
    assert parsed == [
        (datetime.date(2024, 2, 1), datetime.date(2024, 12, 31)),
        (datetime.date(2024, 3, 18), datetime.date(2024, 11, 15)),
        (datetime.date(2024, 3, 18), datetime.date(2024, 11, 15)),
    ]


def test_serial_numbers_respect_the_1904_workbook_epoch():
    # 2024-03-18 is 45369 in the 1900 system and 43907 in the 1904 (old Mac) system.
    data = make_xlsx([good_row(start_date=43907, end_date=datetime.date(2024, 11, 15))], epoch=CALENDAR_MAC_1904)
    row = parse_workbook(data)[0]
    assert (row.start_date, row.end_date) == (datetime.date(2024, 3, 18), datetime.date(2024, 11, 15))


def test_every_problem_is_reported_in_row_then_column_order_and_str_is_readable():
    rows = [
        good_row(name="", goal="krótko", start_date="2024-05-01", end_date="2024-04-01"),
        good_row(),
        good_row(description="krótki", responsible_person=""),
    ]
    with pytest.raises(WorkbookError) as caught:
        parse_workbook(make_xlsx(rows))
    problems = caught.value.problems

    assert [(p.row, p.column) for p in problems] == [
        (2, "Nazwa projektu"),
        (2, "Data zakończenia"),
        (2, "Cel projektu"),
        (4, "Opis"),
        (4, "Osoba odpowiedzialna"),
    ]
    text = str(caught.value).splitlines()
    assert len(text) == 5
    assert text[1].startswith("Wiersz 2, kolumna „Data zakończenia”: Data zakończenia (01.04.2024)")


def test_blank_rows_between_projects_are_skipped_and_row_numbers_kept():
    rows = [good_row(), [None] * 6, ["   ", "", None, None, "<br>", None], good_row(name="Trzeci")]
    parsed = parse_workbook(make_xlsx(rows))
    assert [(r.row_number, r.name) for r in parsed] == [(2, good_row()[0]), (5, "Trzeci")]


def test_header_matching_ignores_case_spaces_and_diacritics_and_title_rows():
    headers = [
        "  NAZWA  PROJEKTU",
        "opis",
        "Data rozpoczecia",
        "DATA ZAKONCZENIA ",
        "Cel projektu*",
        "OSOBA  ODPOWIEDZIALNA ",
    ]
    data = make_xlsx([good_row()], headers=headers, title_rows=[["Zestawienie projektów B+R 2024"], []])

    row = parse_workbook(data)[0]
    assert row.row_number == 4

    problem = only_problem(make_xlsx([good_row(responsible_person="")], headers=headers))
    assert problem.column == "OSOBA ODPOWIEDZIALNA"  # as written in the file, whitespace-normalised


def test_extra_columns_kept_as_text_in_sheet_order_empty_cells_and_headerless_columns_ignored():
    headers = HEADERS + ["Koszty (PLN)", None, "Data umowy", "Uwagi", "Udział"]
    extra_values = [150000.0, "bez nagłówka", datetime.datetime(2024, 2, 3), None, 0.25]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(headers)
    ws.append(good_row() + extra_values)
    ws.append(good_row(name="Drugi") + ["150 000,50", None, None, " <b>pilne</b> ", None])
    ws["K2"].number_format = "0%"
    buffer = io.BytesIO()
    wb.save(buffer)

    first, second = parse_workbook(buffer.getvalue())
    assert first.extra == (("Koszty (PLN)", "150000"), ("Data umowy", "03.02.2024"), ("Udział", "25%"))
    assert second.extra == (("Koszty (PLN)", "150 000,50"), ("Uwagi", "pilne"))


def test_projects_sheet_preferred_over_other_sheet_and_active_sheet_preferred_when_both_have_headers():
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Notatki"
    notes.append(["Nazwa projektu", "Opis"])  # partial header: not the projects sheet
    other = wb.create_sheet("Archiwum")
    other.append(HEADERS)
    other.append(good_row(name="Z archiwum"))
    chosen = wb.create_sheet("Projekty")
    chosen.append(HEADERS)
    chosen.append(good_row(name="Bieżący"))

    wb.active = 1  # "Archiwum" is active and has the header
    buffer = io.BytesIO()
    wb.save(buffer)
    assert [r.name for r in parse_workbook(buffer.getvalue())] == ["Z archiwum"]

    wb.active = 0  # "Notatki" is active but lacks the header: the first full sheet wins
    buffer = io.BytesIO()
    wb.save(buffer)
    assert [r.name for r in parse_workbook(buffer.getvalue())] == ["Z archiwum"]


def test_problem_and_error_are_plain_frozen_values():
    problem = Problem("Wpisz nazwę.", row=3, column="Nazwa projektu")
    assert str(problem) == "Wiersz 3, kolumna „Nazwa projektu”: Wpisz nazwę."
    assert str(Problem("Plik jest pusty.")) == "Plik jest pusty."
    with pytest.raises(AttributeError):
        problem.row = 4  # type: ignore[misc]
    error = WorkbookError([problem, Problem("Brakuje kolumny.", column="Opis")])
    assert str(error) == "Wiersz 3, kolumna „Nazwa projektu”: Wpisz nazwę.\nKolumna „Opis”: Brakuje kolumny."


def test_module_is_pure_no_django_imports():
    tree = ast.parse(Path(excel.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "django" for name in imported), imported


# --------------------------------------------------------------------------- template


def test_template_round_trip_gives_one_valid_example_row():
    data = template_workbook()

    rows = parse_workbook(data)
    assert len(rows) == 1
    assert rows[0].row_number == 2
    assert rows[0].end_date >= rows[0].start_date


def test_template_layout_headers_formats_and_instruction_sheet():
    wb = openpyxl.load_workbook(io.BytesIO(template_workbook()))

    assert wb.sheetnames == ["Projekty", "Instrukcja"]
    assert wb.active.title == "Projekty"
    ws = wb["Projekty"]
    assert [c.value for c in ws[1]] == HEADERS
    assert all(c.font.bold for c in ws[1])
    assert all(ws.column_dimensions[letter].width >= 14 for letter in "ABCDEF")
    assert ws["C2"].number_format == "DD.MM.YYYY" and ws["D2"].number_format == "DD.MM.YYYY"
    assert ws["C10"].number_format == "DD.MM.YYYY"
    text = guide_text(template_workbook())
    for header in HEADERS:
        assert header in text
    assert "DD.MM.RRRR" in text and "najwyżej 20 projektów" in text


def test_template_instructions_state_the_given_maximum():
    assert "najwyżej 20 projektów" in guide_text(template_workbook())

    text = guide_text(template_workbook(max_projects=7))
    assert "najwyżej 7 projektów" in text and "najwyżej 20" not in text
    assert "najwyżej 22 projekty" in guide_text(template_workbook(max_projects=22))
    with pytest.raises(ValueError):
        template_workbook(max_projects=0)


def test_template_download_view_uses_the_configured_maximum(settings, rf):
    from batches.views import batch_template  # the one Django piece here: no database needed

    settings.RNDCARDS_MAX_PROJECTS = 7
    request = rf.get("/")
    request.user = SimpleNamespace(is_authenticated=True)

    response = batch_template(request)
    text = guide_text(b"".join(response.streaming_content))
    assert "najwyżej 7 projektów" in text and "najwyżej 20" not in text


@pytest.mark.parametrize("header", ["Klient", "Nazwa klienta", "  NAZWA KLIENTA ", "Klient (nazwa)"])
def test_client_column_gives_the_batch_client_name(header):
    data = make_xlsx(
        [
            good_row() + ["Acme Sp. z o.o."],
            good_row(name="Drugi") + ["Acme  Sp. z o.o."],
            good_row(name="Trzeci") + [""],
        ],
        headers=HEADERS + [header],
    )
    rows = parse_workbook(data)
    assert excel.client_name_of(rows) == "Acme Sp. z o.o."


@pytest.mark.parametrize(
    "values",
    [[], ["", ""], ["   "]],
)
def test_no_or_empty_client_column_gives_no_client_name(values):
    rows = parse_workbook(
        make_xlsx([good_row(name=f"P{i}") + [v] for i, v in enumerate(values or [""])], headers=HEADERS + ["Klient"])
    )
    assert excel.client_name_of(rows) == ""
    assert excel.client_name_of(parse_workbook(make_xlsx([good_row()]))) == ""


def test_client_name_is_the_value_most_rows_give_and_is_bounded():
    rows = parse_workbook(
        make_xlsx(
            [good_row(name="A") + ["Beta"], good_row(name="B") + ["Alfa"], good_row(name="C") + ["Alfa"]],
            headers=HEADERS + ["Nazwa klienta"],
        )
    )
    assert excel.client_name_of(rows) == "Alfa"
    long = parse_workbook(make_xlsx([good_row() + ["X" * 400]], headers=HEADERS + ["Klient"]))
    assert len(excel.client_name_of(long)) == 255


def test_a_column_merely_mentioning_a_client_is_not_the_client():
    rows = parse_workbook(make_xlsx([good_row() + ["tak"]], headers=HEADERS + ["Czy klient zatwierdził"]))
    assert excel.client_name_of(rows) == ""
