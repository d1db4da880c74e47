"""Hostile and look-alike uploads: each through the pure parser, the upload view and the commands.

Every rejection must carry its own Polish message and leave nothing behind (no Batch, no file
in storage, no temporary upload file). The crafted files are built here (batches/tests/hostile.py):
the zip bombs are a few hundred KB on disk and hundreds of MB when inflated.
"""

import io
import tracemalloc
import zipfile

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.urls import reverse

from batches import excel
from batches.excel import ArchiveLimits, WorkbookError, parse_workbook, read_workbook
from batches.models import Batch, Project
from batches.services import batch_import, clean_filename
from batches.tests import hostile
from batches.uploadhandlers import SizeLimitUploadHandler, UploadTooLarge, content_length_problem

MB = hostile.MB
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

FORBIDDEN_XML = "niedozwolone konstrukcje XML"
CORRUPTED = "jest uszkodzony lub niekompletny"

# name -> (builder, a phrase of its own message)
HOSTILE = {
    "empty": (lambda: b"", "pusty"),
    "whitespace-only": (lambda: b" \r\n\t \x00", "pusty"),
    "random-bytes": (lambda: bytes((i * 7919 + 13) % 251 for i in range(8192)), "nie jest skoroszytem Excela"),
    "csv": (lambda: "Nazwa projektu;Opis;Data rozpoczęcia\nSystem;Opis;01.02.2024\n".encode("cp1250"), "CSV"),
    "text": (lambda: b"To jest zwykly plik tekstowy, a nie arkusz.\n" * 20, "plik tekstowy"),
    "html": (lambda: b"<html><body><table><tr><td>Nazwa projektu</td></tr></table></body></html>", "strona HTML"),
    "pdf": (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
    "docx-renamed": (hostile.docx, "dokumentem Worda"),
    "pptx-renamed": (hostile.pptx, "prezentacją PowerPointa"),
    "xlsb": (hostile.xlsb, "(.xlsb)"),
    "ods": (hostile.ods, "(.ods"),
    "xls": (hostile.xls, "starym formacie Excela (.xls)"),
    "xls-with-encryption-words": (hostile.xls_mentioning_encryption, "starym formacie Excela (.xls)"),
    "encrypted": (hostile.encrypted_xlsx, "chroniony hasłem"),
    "old-word-doc": (hostile.old_word, "(.doc)"),
    "broken-ole2": (hostile.broken_ole, "uszkodzony"),
    "truncated-zip": (lambda: hostile.case()[: len(hostile.case()) * 2 // 3], CORRUPTED),
    "zip-without-workbook": (lambda: hostile.zip_of({"projekty.txt": "Nazwa projektu;Opis"}), "archiwum ZIP"),
    "visio-renamed": (
        lambda: hostile.zip_of(
            {
                "[Content_Types].xml": hostile.content_types(
                    "application/vnd.ms-visio.drawing.main+xml", "visio/document.xml"
                ),
                "visio/document.xml": "<VisioDocument/>",
            }
        ),
        "archiwum ZIP",
    ),
    "zip-without-content-types": (
        lambda: hostile.zip_of({"xl/workbook.xml": hostile.case_member("xl/workbook.xml")}),
        CORRUPTED,
    ),
    "content-types-naming-a-missing-part": (
        lambda: hostile.rewrite_part(
            hostile.case(), "[Content_Types].xml", lambda x: x.replace(b"/xl/workbook.xml", b"/xl/brak.xml")
        ),
        CORRUPTED,
    ),
    "zip-bomb-declared-200MB": (lambda: hostile.zip_bomb(200 * MB), "zbyt duży"),
    "zip-bomb-ratio-1000": (lambda: hostile.zip_bomb(8 * MB), "bomba ZIP"),
    "zip-bomb-lying-directory": (lambda: hostile.lying_zip_bomb(64 * MB), CORRUPTED),
    "zip-2000-members": (lambda: hostile.many_members(2000), "części"),
    "billion-laughs-in-sheet1": (
        lambda: hostile.with_dtd(hostile.case(), "xl/worksheets/sheet1.xml", hostile.BILLION_LAUGHS, "&lol9;"),
        FORBIDDEN_XML,
    ),
    "billion-laughs-in-sharedStrings": (
        lambda: hostile.with_dtd(hostile.case(), "xl/sharedStrings.xml", hostile.BILLION_LAUGHS, "&lol9;"),
        FORBIDDEN_XML,
    ),
    "billion-laughs-in-workbook": (
        lambda: hostile.with_dtd(hostile.case(), "xl/workbook.xml", hostile.BILLION_LAUGHS, "&lol9;"),
        FORBIDDEN_XML,
    ),
    "xxe-in-sharedStrings": (
        lambda: hostile.with_dtd(hostile.case(), "xl/sharedStrings.xml", hostile.XXE, "&xxe;"),
        FORBIDDEN_XML,
    ),
    "xxe-in-workbook": (
        lambda: hostile.with_dtd(hostile.case(), "xl/workbook.xml", hostile.XXE, "&xxe;"),
        FORBIDDEN_XML,
    ),
    "macro-xlsm-with-xxe": (
        lambda: hostile.with_dtd(hostile.xlsm(), "xl/sharedStrings.xml", hostile.XXE, "&xxe;"),
        FORBIDDEN_XML,
    ),
    "xml-part-without-root": (
        lambda: hostile.rewrite_part(hostile.case(), "xl/styles.xml", lambda x: b"<!-- " + b"x" * 100_000 + b" -->"),
        CORRUPTED,
    ),
}


def problem_of(data: bytes, **kwargs) -> str:
    with pytest.raises(WorkbookError) as caught:
        parse_workbook(data, **kwargs)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0].message


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --------------------------------------------------------------------------- the pure parser


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_file_gets_its_own_polish_message_from_the_parser(kind):
    build, phrase = HOSTILE[kind]
    message = problem_of(build())
    assert phrase in message
    assert message.endswith(".") and ("prześlij" in message.lower() or "wybierz" in message.lower())


def test_each_kind_of_file_gets_a_message_of_its_own():
    kinds = ["csv", "html", "docx-renamed", "pptx-renamed", "xlsb", "ods", "xls", "encrypted", "truncated-zip"]
    messages = {problem_of(HOSTILE[kind][0]()) for kind in kinds}
    assert len(messages) == len(kinds)


@pytest.mark.parametrize("name", sorted(p.name for p in hostile.DATA.glob("*.xlsx")))
def test_case_workbooks_pass_the_package_checks_with_the_default_limits(name):
    with zipfile.ZipFile(hostile.DATA / name) as archive:
        assert excel._inspect_package(archive, ArchiveLimits()) == excel._Package("xl/workbook.xml", False)


@pytest.mark.parametrize(
    "part",
    ["xl/workbook.xml", "[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels", "xl/styles.xml",
     "docProps/core.xml", "xl/theme/theme1.xml", "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"],
)  # fmt: skip
@pytest.mark.parametrize("dtd", hostile.DTDS)
def test_a_dtd_in_any_xml_part_is_refused_before_openpyxl_reads_it(part, dtd):
    declaration, reference = hostile.DTDS[dtd]
    assert FORBIDDEN_XML in problem_of(hostile.with_dtd(hostile.case(), part, declaration, reference))


def test_a_dtd_in_a_utf16_encoded_part_is_refused_too():
    data = hostile.with_dtd(hostile.case(), "xl/workbook.xml", hostile.XXE, "&xxe;", encoding="utf-16")
    assert FORBIDDEN_XML in problem_of(data)


def test_a_dtd_in_a_part_with_an_odd_name_is_refused_too():
    # openpyxl follows the relationships, whatever the part is called: the content decides
    data = hostile.add_members(hostile.case(), {"xl/custom/data.bin": (hostile.XXE + "<x>&xxe;</x>").encode()})
    assert FORBIDDEN_XML in problem_of(data)


def test_openpyxl_alone_would_read_a_workbook_with_a_dtd_in_its_styles():
    """Why the pre-scan exists: with lxml installed openpyxl parses most parts with lxml
    (openpyxl.LXML; defusedxml guards only its iterparse of sheets and shared strings)."""
    assert openpyxl.LXML and openpyxl.DEFUSEDXML
    data = hostile.with_dtd(hostile.case(), "xl/styles.xml", hostile.XXE)
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    assert wb.sheetnames == ["Projekty"]
    wb.close()
    assert FORBIDDEN_XML in problem_of(data)


def test_zip_bomb_limits_come_from_the_arguments():
    data = hostile.case()
    assert "części" in problem_of(data, limits=ArchiveLimits(max_members=5))
    assert "zbyt duży" in problem_of(data, limits=ArchiveLimits(max_uncompressed_bytes=10_000))
    ratio = ArchiveLimits(max_compression_ratio=3, ratio_min_bytes=1000)
    assert "bomba ZIP" in problem_of(data, limits=ratio)
    assert len(parse_workbook(data, limits=ArchiveLimits())) == 5


def test_a_member_inflating_past_its_declared_size_is_cut_there_with_bounded_memory():
    data = hostile.lying_zip_bomb(64 * MB)
    assert len(data) < 200_000
    tracemalloc.start()
    try:
        message = problem_of(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert CORRUPTED in message
    assert peak < 16 * MB  # the member's 64 MB were never inflated


def test_zip_bomb_is_refused_from_the_directory_without_inflating_it():
    data = hostile.zip_bomb(200 * MB)
    tracemalloc.start()
    try:
        message = problem_of(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "200,0 MB" in message and "100,0 MB" in message
    assert peak < 8 * MB


def test_encrypted_zip_members_are_refused():
    data = bytearray(hostile.case())
    # set the "encrypted" flag bit in every central directory record
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) != -1:
        data[start + 8] |= 0x1
        start += 4
    assert "zabezpieczonym hasłem" in problem_of(bytes(data))


def test_duplicate_member_names_are_refused():
    buffer = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(hostile.case()))
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
        with pytest.warns(UserWarning):
            target.writestr("xl/workbook.xml", b"<workbook/>")
    assert CORRUPTED in problem_of(buffer.getvalue())


def test_macro_workbook_is_read_for_its_data_and_says_the_macros_were_not_run():
    parsed = read_workbook(hostile.xlsm())
    assert len(parsed.projects) == 5
    assert parsed.has_macros
    assert parsed.notes == (excel.MSG_MACROS_NOTE,)
    assert "nie zostały uruchomione" in parsed.notes[0]
    assert read_workbook(hostile.case()).notes == ()


# --------------------------------------------------------------------------- the upload view


def upload(client, content: bytes, filename: str = "projekty.xlsx", **extra):
    data = {"file": SimpleUploadedFile(filename, content, content_type=XLSX), **extra}
    return client.post(reverse("batch_upload"), data)


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_upload_is_refused_in_polish_and_leaves_nothing(client, owner, settings, tmp_path, kind):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # bigger uploads go through temporary files
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    build, phrase = HOSTILE[kind]
    client.force_login(owner)
    response = upload(client, build(), filename=f"{kind}.xlsx")
    html = response.content.decode()
    assert response.status_code == 400
    assert phrase.replace("„", "&bdquo;") in html or phrase in html
    assert f"{kind}.xlsx" in html
    assert not Batch.objects.exists() and not Project.objects.exists()
    assert stored_files(settings) == []
    assert list(tmp_path.iterdir()) == []  # no temporary upload file left either


def test_upload_over_the_limit_by_content_length_is_refused_before_the_body_is_parsed(
    client, owner, settings, monkeypatch
):
    settings.RNDCARDS_MAX_UPLOAD_BYTES = 100 * 1024
    client.force_login(owner)

    def never(self):
        raise AssertionError("the body must not be parsed")

    monkeypatch.setattr("django.http.multipartparser.MultiPartParser.parse", never)
    response = upload(client, b"PK" + b"\0" * (300 * 1024), filename="duzy.xlsx")
    assert response.status_code == 413
    html = response.content.decode()
    assert "Przesłany plik ma około 300" in html
    assert "największy dopuszczalny rozmiar to 100,0" in html
    assert not Batch.objects.exists() and stored_files(settings) == []


def test_upload_handler_stops_a_file_that_passes_the_limit_while_it_arrives(client, owner, settings, tmp_path):
    # Content-Length within the allowance for the other fields, the file itself over the limit
    settings.RNDCARDS_MAX_UPLOAD_BYTES = 8 * 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    client.force_login(owner)
    response = upload(client, hostile.case("projekty-20.xlsx"), filename="ciut-za-duzy.xlsx")  # 11.5 KB
    assert response.status_code == 413
    html = response.content.decode()
    assert "ciut-za-duzy.xlsx" in html and "ma ponad 8,0" in html
    assert not Batch.objects.exists() and stored_files(settings) == []
    assert list(tmp_path.iterdir()) == []


def test_upload_view_still_checks_csrf(client, owner, case_bytes):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(owner)
    data = {"file": SimpleUploadedFile("projekty.xlsx", case_bytes("projekty-demo.xlsx"), content_type=XLSX)}
    assert csrf_client.post(reverse("batch_upload"), data).status_code == 403
    assert not Batch.objects.exists()


def test_size_limit_handler_counts_every_chunk(owner):
    request = RequestFactory().post("/")
    handler = SizeLimitUploadHandler(request, limit=10)
    handler.new_file("file", "a.xlsx", XLSX, None)
    assert handler.receive_data_chunk(b"12345", 0) == b"12345"
    assert handler.receive_data_chunk(b"67890", 5) == b"67890"
    from django.core.files.uploadhandler import StopUpload

    with pytest.raises(StopUpload):
        handler.receive_data_chunk(b"x", 10)
    assert request.upload_too_large == UploadTooLarge(limit=10, filename="a.xlsx")


def test_content_length_check_ignores_a_malformed_header():
    request = RequestFactory().post("/", CONTENT_LENGTH="dużo")
    assert content_length_problem(request, 1024) is None


def test_macro_upload_is_imported_with_a_note_and_stored_as_xlsm(client, owner, settings):
    client.force_login(owner)
    response = upload(client, hostile.xlsm(), filename="z-makrami.xlsm", name="Makra")
    batch = Batch.objects.get(owner=owner)
    assert response.status_code == 302
    assert batch.projects.count() == 5
    assert batch.source_file.name.endswith(f"/{batch.token}.xlsm")
    html = client.get(response["Location"]).content.decode()
    assert "Plik zawiera makra (VBA). Makra nie zostały uruchomione" in html


HOSTILE_NAMES = [
    "../../etc/passwd.xlsx",
    "..\\..\\windows\\win.ini.xlsx",
    "projekt\x00.exe.xlsx",
    "x" * 300 + ".xlsx",
    "\u202eslx.exe",
    "Zażółć gęślą jaźń — projekty 2024.xlsx",
    "<script>alert(1)</script>.xlsx",
]


@pytest.mark.parametrize("filename", HOSTILE_NAMES)
def test_upload_is_stored_under_a_generated_name_never_the_users(client, owner, settings, case_bytes, filename):
    client.force_login(owner)
    response = upload(client, case_bytes("projekty-demo.xlsx"), filename=filename)
    assert response.status_code == 302
    batch = Batch.objects.get(owner=owner)
    parts = batch.source_file.name.split("/")
    assert parts[0:2] == ["uploads", str(owner.pk)] and parts[-1] == f"{batch.token}.xlsx"
    assert len(batch.token) == 32 and set(batch.token) <= set("0123456789abcdef")
    [stored] = stored_files(settings)
    assert stored.resolve().is_relative_to(settings.MEDIA_ROOT.resolve())
    assert stored.read_bytes() == case_bytes("projekty-demo.xlsx")
    assert "\x00" not in batch.original_filename and "\u202e" not in batch.original_filename
    assert "/" not in batch.original_filename and "\\" not in batch.original_filename
    assert 0 < len(batch.original_filename) <= 255


@pytest.mark.parametrize("filename", HOSTILE_NAMES)
def test_batch_import_keeps_only_a_clean_display_name(owner, settings, case_bytes, filename):
    # the service is called by the commands and (later) the API with names no browser sanitized
    batch = batch_import(content=case_bytes("projekty-demo.xlsx"), owner=owner, filename=filename)
    batch.refresh_from_db()
    assert batch.source_file.name.endswith(f"/{batch.token}.xlsx")
    assert batch.original_filename == clean_filename(filename)


def test_clean_filename_examples():
    assert clean_filename("../../etc/passwd.xlsx") == "passwd.xlsx"
    assert clean_filename("..\\..\\win.ini.xlsx") == "win.ini.xlsx"
    assert clean_filename("projekt\x00.exe.xlsx") == "projekt.exe.xlsx"
    assert clean_filename("\u202eslx.exe") == "slx.exe"
    assert clean_filename("Zażółć gęślą jaźń.xlsx") == "Zażółć gęślą jaźń.xlsx"
    long = clean_filename("x" * 300 + ".xlsx")
    assert len(long) == 255 and long.endswith(".xlsx")
    assert clean_filename("") == clean_filename("\x00\u202e") == clean_filename("../..") == "projekty.xlsx"


def test_a_failed_import_transaction_leaves_no_file_in_storage(owner, settings, case_bytes, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Project.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        batch_import(content=case_bytes("projekty-demo.xlsx"), owner=owner, filename="projekty.xlsx")
    assert not Batch.objects.exists()
    assert stored_files(settings) == []


# --------------------------------------------------------------------------- the commands


@pytest.mark.parametrize(
    "kind", ["csv", "xls", "encrypted", "ods", "docx-renamed", "zip-bomb-ratio-1000", "billion-laughs-in-workbook"]
)
@pytest.mark.parametrize("command", ["import_batch", "make_cards"])
def test_commands_refuse_hostile_files_with_exit_2_and_create_nothing(owner, settings, tmp_path, kind, command):
    build, phrase = HOSTILE[kind]
    path = tmp_path / f"{kind}.xlsx"
    path.write_bytes(build())
    args = ["--user", owner.username]
    if command == "make_cards":
        args += ["--output", str(tmp_path / "karty.docx")]
    with pytest.raises(CommandError) as caught:
        call_command(command, str(path), *args)
    assert caught.value.returncode == 2
    assert phrase in str(caught.value) and "nic nie utworzono" in str(caught.value)
    assert not Batch.objects.exists() and stored_files(settings) == []


@pytest.mark.parametrize("command", ["import_batch", "make_cards"])
def test_commands_refuse_a_file_over_the_size_limit_unread(owner, settings, tmp_path, command, case_bytes):
    settings.RNDCARDS_MAX_UPLOAD_BYTES = 4096
    path = tmp_path / "duzy.xlsx"
    path.write_bytes(case_bytes("projekty-20.xlsx"))
    args = ["--user", owner.username] + (["--output", str(tmp_path / "k.docx")] if command == "make_cards" else [])
    with pytest.raises(CommandError) as caught:
        call_command(command, str(path), *args)
    assert caught.value.returncode == 2
    assert "największy dopuszczalny rozmiar to 4,0\xa0KB" in str(caught.value)  # filesizeformat: NBSP
    assert not Batch.objects.exists()


def test_import_batch_prints_the_macro_note(owner, tmp_path, capsys):
    path = tmp_path / "makra.xlsm"
    path.write_bytes(hostile.xlsm())
    call_command("import_batch", str(path), "--user", owner.username)
    out, err = capsys.readouterr()
    assert out.strip() == str(Batch.objects.get().pk)  # stdout stays just the id, for scripts
    assert "makra (VBA)" in err


# --------------------------------------------------------------------------- huge files, counted fast


def _good_row():
    import datetime

    return [
        "Adaptacyjne sterowanie komorą suszarniczą",
        "Opis projektu " * 10,
        datetime.date(2024, 1, 15),
        datetime.date(2024, 12, 31),
        "Cel projektu, który ma co najmniej pięćdziesiąt znaków długości.",
        "Jan Kowalski",
    ]


def _mixed_rows_workbook() -> bytes:
    """21 projects, then rows of every kind the blank-row rule must tell apart: shared strings
    (written by openpyxl like Excel: spaces, HTML debris, text), then raw XML rows (rich inline
    text, numbers, errors, formulas with and without results, a cell without a reference)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Projekty"
    ws.append(list(excel.REQUIRED_COLUMNS.values()) + ["Uwagi"])
    for _ in range(21):
        ws.append(_good_row())
    ws.append(["   ", None, None, None, "<br>"])  # not a project
    ws.append([None, "<p> </p>", None, None, None, None, "tylko uwaga"])  # not a project
    ws.append(["x"])  # a project
    buffer = io.BytesIO()
    wb.save(buffer)
    raw = [
        '<c r="A{r}" t="inlineStr"><is><r><t> </t></r><r><t>A</t></r></is></c>',  # project
        '<c r="A{r}" t="inlineStr"><is><t>  </t></is></c>',  # blank
        '<c r="C{r}"><v>45000</v></c>',  # project (a date serial)
        '<c r="F{r}" t="e"><v>#N/A</v></c>',  # project (an error code)
        '<c r="E{r}"><f>A1*2</f></c>',  # project (formula without a saved result)
        '<c r="B{r}" t="str"><f>""</f><v></v></c>',  # blank (an honest empty result)
        '<c r="G{r}"><v>7</v></c>',  # blank (only an extra column)
        '<c r="A{r}" t="inlineStr"><is><t> </t></is></c><c t="inlineStr"><is><t>opis</t></is></c>',  # project (B)
    ]
    start = 26

    def add(xml: bytes) -> bytes:
        rows = "".join(
            f'<row r="{start + i}">{cells.format(r=start + i)}</row>' for i, cells in enumerate(raw)
        ).encode()
        return xml.replace(b"</sheetData>", rows + b"</sheetData>")

    return hostile.rewrite_part(buffer.getvalue(), "xl/worksheets/sheet1.xml", add)


def test_projects_past_the_limit_are_counted_by_the_fast_pass_with_the_blank_row_rule(monkeypatch):
    data = _mixed_rows_workbook()
    fast = problem_of(data)
    assert fast.startswith("Plik zawiera 27 projektów, a dopuszczalne jest najwyżej 20 ")  # 21 + 1 + 5
    # the same file with the lxml count turned off: openpyxl reads and counts every row itself
    prescan = excel._prescan
    monkeypatch.setattr(excel, "_prescan", lambda ws, **kwargs: prescan(ws, **{**kwargs, "has_text": None}))
    assert problem_of(data) == fast


def test_a_huge_workbook_is_rejected_after_reading_only_the_rows_over_the_limit(monkeypatch):
    data = hostile.rewrite_part(
        hostile.case("projekty-20.xlsx"),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(
            b"</sheetData>",
            "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(22, 5022)).encode()
            + b"</sheetData>",
        ),
    )
    seen = []
    has_project_data = excel._has_project_data
    monkeypatch.setattr(
        excel,
        "_has_project_data",
        lambda cells, req, row, *rest: seen.append(row) or has_project_data(cells, req, row, *rest),
    )
    assert problem_of(data).startswith("Plik zawiera 5020 projektów, a dopuszczalne jest najwyżej 20 ")
    assert len(seen) == 21  # openpyxl stopped at the 21st project; lxml counted the other 4999


@pytest.mark.parametrize(
    "value",
    ["", " ", "\t\n\r ", "\u00a0\u2003", "\u200b\u200e\u202e", "\x00\x07", "\ufeff x", "a", " ą ", "-", "\ud800",
     "\ud800 \udfff", "\x85\u2028", "\u0301", "x\u0000", "1", "\u3000\u3000"],
)  # fmt: skip
def test_fast_blank_check_agrees_with_clean_text(value):
    assert excel.has_plain_text(value) is bool(excel.clean_text(value, multiline=False))


def test_lazy_shared_strings_read_what_openpyxl_reads():
    from openpyxl.reader.strings import read_string_table

    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    sst = (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{ns}" count="6" uniqueCount="6">'
        "<si><t>Nazwa projektu</t></si>"
        '<si><t xml:space="preserve">  spacje  </t></si>'
        "<si><r><rPr><b/></rPr><t>pogrubione</t></r><r><t> i zwykłe</t></r></si>"
        '<si><t>漢字</t><rPh sb="0" eb="1"><t>かんじ</t></rPh></si>'
        "<si><t>a_x005F_x000D_b</t></si>"
        "<si><t/></si>"
        "</sst>"
    ).encode()
    data = hostile.rewrite_part(hostile.case(), "xl/sharedStrings.xml", lambda _: sst)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        expected = read_string_table(archive.open("xl/sharedStrings.xml"))
        lazy = excel._LazySharedStrings(archive, "xl/sharedStrings.xml")
        assert [lazy[i] for i in range(len(expected))] == expected
        assert len(lazy) == 6
        with pytest.raises(IndexError):
            lazy[6]
        with pytest.raises(IndexError):
            lazy[-1]


def test_a_cell_pointing_past_the_shared_strings_is_a_corrupted_file():
    data = hostile.rewrite_part(
        hostile.case(), "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b"<v>0</v>", b"<v>99999</v>", 1)
    )
    assert b"<v>99999</v>" in hostile.case_member("xl/worksheets/sheet1.xml", data)
    assert CORRUPTED in problem_of(data)
