"""Reading and validating the projects workbook (.xlsx) that tax consultants upload.

Pure module: no Django, no database. ``parse_workbook`` returns every project row of a
valid file or raises ``WorkbookError`` listing every problem at once, each with the
spreadsheet row number as Excel shows it and the column header as written in the file.
All user-facing messages are Polish sentences that say what to do.

Real client files are messy, so the parser tolerates: title rows above the header, headers
in another case / with doubled spaces / without Polish letters, the projects sheet not being
the active one, thousands of rows that hold only formatting, dates typed as text or as bare
Excel serial numbers, HTML and control characters pasted into cells. Anything that is not a
readable .xlsx (old .xls, password-protected, .ods, CSV, corrupted zip, XML bombs) becomes a
``WorkbookError`` with its own message; no openpyxl/zipfile exception escapes.
"""

from __future__ import annotations

import datetime
import html
import io
import logging
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, Union

import olefile
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError
from defusedxml.ElementTree import fromstring as defused_fromstring
from openpyxl import Workbook
from openpyxl.cell.read_only import EMPTY_CELL
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.datetime import WINDOWS_EPOCH, from_excel
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet.datavalidation import DataValidation

logger = logging.getLogger(__name__)

__all__ = [
    "CLIENT_HEADERS",
    "ArchiveLimits",
    "ParsedWorkbook",
    "MAX_PROJECTS_DEFAULT",
    "REQUIRED_COLUMNS",
    "Problem",
    "ProjectRow",
    "WorkbookError",
    "client_name_of",
    "parse_workbook",
    "read_workbook",
    "template_workbook",
]

REQUIRED_COLUMNS: dict[str, str] = {
    "name": "Nazwa projektu",
    "description": "Opis",
    "start_date": "Data rozpoczęcia",
    "end_date": "Data zakończenia",
    "goal": "Cel projektu",
    "responsible_person": "Osoba odpowiedzialna",
}
MAX_PROJECTS_DEFAULT = 20
# At most this many rows holding values under the header are read. Past max_projects they are
# only checked for emptiness and counted, so a file with too many projects is rejected with their
# exact number up to this limit ("ponad 10 000" beyond it). Bounds the work any upload can cause.
COUNT_LIMIT = 10_000
TEMPLATE_FORMATTED_ROWS_MAX = 1000  # the template pre-formats date cells for at most this many rows

# field -> (min, max) characters, measured after cleaning
TEXT_LIMITS: dict[str, tuple[int, int]] = {
    "name": (1, 255),
    "description": (100, 5000),
    "goal": (50, 2000),
    "responsible_person": (1, 255),
}
TEXT_FIELDS = ("name", "description", "goal", "responsible_person")
DATE_FIELDS = ("start_date", "end_date")
MULTILINE_FIELDS = frozenset({"description", "goal"})

HEADER_SCAN_ROWS = 20  # the header row is looked for among the first rows of each sheet
MIN_HEADER_MATCHES = 2  # fewer required headers in a row than this: not a header row at all
# Zip bomb guards, checked on the zip directory before openpyxl opens anything (see ArchiveLimits;
# the Django side passes the RNDCARDS_UPLOAD_* settings). A real projects workbook has ~10 members
# and well under 1 MB of XML; Excel's parts compress 5-20:1.
MAX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024  # all members together, as declared in the zip directory
MAX_ZIP_MEMBERS = 1000
MAX_COMPRESSION_RATIO = 100  # uncompressed : compressed, for members past RATIO_MIN_BYTES
RATIO_MIN_BYTES = 1024 * 1024  # small members may compress better than that (e.g. an empty sheet)
MAX_CONTENT_TYPES_BYTES = 1024 * 1024  # [Content_Types].xml, parsed before openpyxl
MAX_XML_PROLOG_BYTES = 64 * 1024  # an XML part must reach its root element within this many bytes
MIN_YEAR, MAX_YEAR = 1980, 2100  # a date outside is almost surely a typo or a stray number

# Other header spellings seen in real files (compared after normalisation, see _header_key).
_HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("nazwa", "tytul projektu"),
    "description": ("opis projektu",),
    "start_date": ("data rozpoczecia projektu", "data poczatku", "data poczatku projektu"),
    "end_date": ("data zakonczenia projektu", "data konca", "data konca projektu"),
    "goal": ("cel",),
    "responsible_person": ("osoba odpowiedzialna za projekt",),
}

OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Main-part content types ([Content_Types].xml) of the packages openpyxl reads, in the order its
# own _find_workbook_part tries them, and of the look-alikes that get their own message.
WORKBOOK_CONTENT_TYPES = (
    "application/vnd.ms-excel.template.macroEnabled.main+xml",  # .xltm
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",  # .xltx
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",  # .xlsm
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",  # .xlsx
)
MACRO_CONTENT_TYPES = frozenset(WORKBOOK_CONTENT_TYPES[::2])
XLSB_CONTENT_TYPE = "application/vnd.ms-excel.sheet.binary.macroEnabled.main"
VBA_CONTENT_TYPE = "application/vnd.ms-office.vbaProject"

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class ProjectRow:
    row_number: int  # spreadsheet row as Excel shows it (1-based)
    name: str
    description: str
    start_date: datetime.date
    end_date: datetime.date
    goal: str
    responsible_person: str
    # extra columns in sheet order: (header as written, value as clean text); empty cells omitted
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Problem:
    message: str  # Polish, complete sentence, says what to do
    row: int | None = None  # Excel row number, None for whole-file problems
    column: str | None = None  # header as written in the file (canonical name if missing)

    def __str__(self) -> str:
        if self.row is not None and self.column is not None:
            return f"Wiersz {self.row}, kolumna „{self.column}”: {self.message}"
        if self.row is not None:
            return f"Wiersz {self.row}: {self.message}"
        if self.column is not None:
            return f"Kolumna „{self.column}”: {self.message}"
        return self.message


class WorkbookError(Exception):
    """The file cannot be accepted; ``problems`` lists every reason, in row then column order."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


# --------------------------------------------------------------------------- messages


def _plural(n: int, one: str, few: str, many: str) -> str:
    """Polish plural: 1 projekt, 2 projekty, 5 projektów, 22 projekty, 112 projektów."""
    if n == 1:
        return one
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return few
    return many


def _chars(n: int) -> str:
    return f"{n} {_plural(n, 'znak', 'znaki', 'znaków')}"


def _number(n: int) -> str:
    """Polish style: 2500, but 10 000 and 1 000 000 (numbers of five digits or more are grouped)."""
    return f"{n:,}".replace(",", " ") if n >= 10_000 else str(n)


def _projects(n: int) -> str:
    return f"{_number(n)} {_plural(n, 'projekt', 'projekty', 'projektów')}"


SAVE_AS_XLSX = "zapisz go jako „Skoroszyt programu Excel (*.xlsx)” (Plik → Zapisz jako) i prześlij ponownie"

MSG_EMPTY_FILE = "Plik jest pusty. Wybierz plik .xlsx z projektami i prześlij go ponownie."
MSG_XLS = f"Plik jest w starym formacie Excela (.xls), którego nie obsługujemy. Otwórz go w Excelu, {SAVE_AS_XLSX}."
MSG_ENCRYPTED = (
    "Plik jest chroniony hasłem, więc nie da się go odczytać. Otwórz go w Excelu, usuń hasło "
    "(Plik → Informacje → Chroń skoroszyt → Szyfruj przy użyciu hasła, wyczyść pole hasła), "
    "zapisz jako .xlsx i prześlij ponownie."
)
MSG_ODS = (
    "Plik jest w formacie OpenDocument (.ods, np. z LibreOffice Calc), którego nie obsługujemy. "
    f"Otwórz go w arkuszu kalkulacyjnym i {SAVE_AS_XLSX}."
)
MSG_OPENDOCUMENT_OTHER = (
    "Plik jest dokumentem OpenDocument, a nie skoroszytem Excela. "
    "Prześlij arkusz z projektami zapisany jako „Skoroszyt programu Excel (*.xlsx)”."
)
MSG_DOCX = (
    "Plik jest dokumentem Worda, a nie skoroszytem Excela. Przenieś projekty do arkusza "
    "(najlepiej do pobranego szablonu) i prześlij plik .xlsx."
)
MSG_PPTX = (
    "Plik jest prezentacją PowerPointa, a nie skoroszytem Excela. Przenieś projekty do arkusza "
    "(najlepiej do pobranego szablonu) i prześlij plik .xlsx."
)
MSG_CSV = (
    "Plik nie jest skoroszytem Excela (.xlsx) — wygląda na plik tekstowy (np. CSV). "
    f"Otwórz go w Excelu, {SAVE_AS_XLSX}."
)
MSG_HTML = (
    "Plik nie jest skoroszytem Excela (.xlsx) — to strona HTML (tak eksportują dane niektóre programy, "
    f"nawet gdy nadają plikowi rozszerzenie .xls). Otwórz go w Excelu, {SAVE_AS_XLSX}."
)
MSG_XML_2003 = (
    "Plik jest w formacie „Arkusz XML programu Excel 2003”, którego nie obsługujemy. "
    f"Otwórz go w Excelu, {SAVE_AS_XLSX}."
)
MSG_XLSB = (
    f"Plik jest skoroszytem binarnym Excela (.xlsb), którego nie obsługujemy. Otwórz go w Excelu, {SAVE_AS_XLSX}."
)
MSG_OLD_WORD = (
    "Plik jest dokumentem Worda w starym formacie (.doc), a nie skoroszytem Excela. Przenieś projekty "
    "do arkusza (najlepiej do pobranego szablonu) i prześlij plik .xlsx."
)
MSG_OLD_POWERPOINT = (
    "Plik jest prezentacją PowerPointa w starym formacie (.ppt), a nie skoroszytem Excela. Przenieś projekty "
    "do arkusza (najlepiej do pobranego szablonu) i prześlij plik .xlsx."
)
MSG_OLE_OTHER = (
    "Plik jest dokumentem pakietu Office w starym formacie, ale nie zawiera skoroszytu Excela. "
    "Prześlij arkusz z projektami zapisany jako „Skoroszyt programu Excel (*.xlsx)”."
)
MSG_OLE_CORRUPTED = (
    "Plik wygląda na dokument w starym formacie Excela (.xls), ale jest uszkodzony i nie da się go odczytać. "
    f"Jeśli Excel go otworzy, {SAVE_AS_XLSX}; jeśli nie — poproś klienta o ponowne przesłanie pliku."
)
MSG_ZIP_ENCRYPTED = (
    "Plik jest archiwum ZIP zabezpieczonym hasłem, a nie zwykłym skoroszytem Excela. Prześlij plik .xlsx "
    "bez hasła (Plik → Zapisz jako → „Skoroszyt programu Excel (*.xlsx)”)."
)
MSG_MACROS_NOTE = (
    "Plik zawiera makra (VBA). Makra nie zostały uruchomione — system odczytuje wyłącznie wartości komórek, "
    "więc zaimportowano tylko dane projektów."
)
MSG_PDF = (
    "Plik jest dokumentem PDF, a nie skoroszytem Excela. Przenieś projekty do arkusza "
    "(najlepiej do pobranego szablonu) i prześlij plik .xlsx."
)
MSG_NOT_XLSX = (
    "Plik nie jest skoroszytem Excela (.xlsx) i nie da się go odczytać. "
    "Prześlij plik zapisany jako „Skoroszyt programu Excel (*.xlsx)”, najlepiej na podstawie pobranego szablonu."
)
MSG_ZIP_NOT_WORKBOOK = (
    "Plik jest archiwum ZIP, ale nie zawiera skoroszytu Excela. Rozpakuj go albo "
    "prześlij bezpośrednio plik .xlsx z projektami."
)
MSG_CORRUPTED = (
    "Plik .xlsx jest uszkodzony lub niekompletny i nie da się go odczytać. Otwórz go w Excelu, "
    "zapisz ponownie jako .xlsx i prześlij jeszcze raz (jeśli Excel go nie otworzy, wyślij plik ponownie od klienta)."
)
MSG_FORBIDDEN_XML = (
    "Plik zawiera niedozwolone konstrukcje XML (np. definicje encji) i ze względów bezpieczeństwa "
    f"nie zostanie odczytany. Otwórz go w Excelu, {SAVE_AS_XLSX}."
)
MSG_TOO_LARGE = (
    "Plik po rozpakowaniu jest zbyt duży, by był zwykłą listą projektów. Usuń zbędne arkusze, "
    "obrazy i puste sformatowane wiersze, zapisz plik i prześlij go ponownie."
)


def _msg_too_many_members(count: int, limit: int) -> str:
    return (
        f"Plik składa się z {_number(count)} części (arkuszy, obrazów, wykresów…), a dopuszczalne jest najwyżej "
        f"{_number(limit)}. Skopiuj arkusz z projektami do nowego skoroszytu (najlepiej do pobranego szablonu), "
        "zapisz go jako .xlsx i prześlij ponownie."
    )


def _msg_too_large_unpacked(size: int, limit: int) -> str:
    return (
        f"Plik po rozpakowaniu jest zbyt duży ({_size(size)}, a dopuszczalne jest najwyżej {_size(limit)}), "
        "by był zwykłą listą projektów. Usuń zbędne arkusze, obrazy i puste sformatowane wiersze, "
        "zapisz plik i prześlij go ponownie."
    )


def _msg_suspicious_compression(name: str, ratio: float, limit: int) -> str:
    return (
        f"Część pliku „{name[:80]}” rozpakowuje się {_number(int(ratio))} razy (dopuszczalne {limit} razy) — "
        "tak zachowują się pliki spreparowane, by zablokować serwer (tzw. bomba ZIP), więc plik nie zostanie "
        "odczytany. Jeśli to zwykły skoroszyt, skopiuj arkusz z projektami do nowego pliku .xlsx i prześlij go."
    )


def _size(size: int) -> str:
    """Polish file size: 512 bajtów, 12,5 KB, 100,0 MB."""
    if size < 1024:
        return f"{size} {_plural(size, 'bajt', 'bajty', 'bajtów')}"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB".replace(".", ",")
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


MSG_FORMULA_WITHOUT_VALUE = (
    "Komórka zawiera formułę bez zapisanej wartości — otwórz plik w Excelu, zapisz go ponownie i prześlij jeszcze raz."
)
MSG_NO_SHEETS = (
    "Skoroszyt nie zawiera żadnego arkusza z danymi — plik jest prawdopodobnie uszkodzony. "
    "Otwórz go w Excelu, sprawdź arkusz z projektami, zapisz jako .xlsx i prześlij ponownie."
)


def _msg_no_header() -> str:
    headers = ", ".join(f"„{h}”" for h in REQUIRED_COLUMNS.values())
    return (
        f"Nie znaleziono arkusza z wierszem nagłówków ({headers}) w pierwszych {HEADER_SCAN_ROWS} wierszach. "
        "Wpisz te nagłówki nad projektami (najprościej skorzystać z pobranego szablonu) i prześlij plik ponownie."
    )


# --------------------------------------------------------------------------- text cleaning

_SCRIPT_STYLE = re.compile(r"<\s*(script|style|template|iframe|object)\b[^>]*>.*?<\s*/\s*\1\s*>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|tr|ul|ol|table|h[1-6]|blockquote|pre)\b[^<>]*>",
    re.I,
)
_ANY_TAG = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9:_-]*(?:\s[^<>]*)?/?\s*>")
_EXCEL_ESCAPE = re.compile(r"_x(00[01][0-9A-Fa-f]|007[Ff])_")  # Excel's _x000D_ escapes of control chars
_SPACES = re.compile(r"[ ]{2,}")
_MANY_NEWLINES = re.compile(r"\n{3,}")

_LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_SPACE_CHARS = "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_DROP_CHARS = (
    "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n" + _LINE_BREAKS)
    + "\x7f"
    + "".join(chr(c) for c in range(0x80, 0xA0) if chr(c) != "\x85")
    + "\u00ad\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064"
    + "\ufeff\ufffe\uffff"
)
_TRANSLATE = {ord(c): None for c in _DROP_CHARS}
_TRANSLATE.update({ord(c): "\n" for c in _LINE_BREAKS})
_TRANSLATE.update({ord(c): " " for c in _SPACE_CHARS})
_SURROGATES = re.compile("[\ud800-\udfff]")


def _strip_html(text: str) -> str:
    if "<" not in text:
        return text
    before = text
    text = _SCRIPT_STYLE.sub("", text)
    text = _COMMENT.sub("", text)
    text = _BLOCK_TAG.sub("\n", text)
    text = _ANY_TAG.sub("", text)
    if text != before:
        # Pasted HTML also brings entities (&amp; &nbsp;); decode them, then make sure
        # decoding did not produce new tags (&lt;b&gt;).
        text = html.unescape(text)
        text = _BLOCK_TAG.sub("\n", text)
        text = _ANY_TAG.sub("", text)
    return text


def clean_text(value: str, *, multiline: bool = True) -> str:
    """Plain, trimmed text: no HTML tags, no control/invisible characters, normal spaces.

    Newlines are kept (at most one empty line in a row) when ``multiline``; otherwise the
    text becomes a single line. Polish letters are kept (and composed, NFC).
    """
    if "_x" in value:
        value = _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    value = value.replace("\r\n", "\n")
    value = _strip_html(value)
    value = value.translate(_TRANSLATE)
    value = _SURROGATES.sub("", value)
    value = unicodedata.normalize("NFC", value)
    if not multiline:
        return _SPACES.sub(" ", value.replace("\n", " ")).strip()
    lines = [_SPACES.sub(" ", line).strip() for line in value.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip("\n ")


def _format_number(value: float | int, number_format: str | None = None) -> str:
    if isinstance(value, bool):
        return "PRAWDA" if value else "FAŁSZ"
    if number_format and "%" in number_format and not isinstance(value, bool):
        return _format_number(value * 100) + "%"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    # 15 significant digits is what Excel itself keeps; Polish decimal comma.
    return format(value, ".15g").replace(".", ",")


def _format_date(value: datetime.date) -> str:
    return f"{value.day:02d}.{value.month:02d}.{value.year:04d}"


def _to_text(value: Any, *, multiline: bool = True, number_format: str | None = None) -> str:
    """Any cell value as clean text ('' for empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return clean_text(value, multiline=multiline)
    if isinstance(value, (bool, int, float)):
        return _format_number(value, number_format)
    if isinstance(value, datetime.datetime):
        text = _format_date(value)
        if value.time() != datetime.time(0):
            text += f" {value.hour:02d}:{value.minute:02d}"
        return text
    if isinstance(value, datetime.date):
        return _format_date(value)
    if isinstance(value, datetime.time):
        return f"{value.hour:02d}:{value.minute:02d}"
    return clean_text(str(value), multiline=multiline)


def _header_text(value: Any) -> str:
    return _to_text(value, multiline=False)


def _header_key(text: str, *, drop_suffix: bool = False) -> str:
    """Comparable form of a header: no case, diacritics, punctuation or extra spaces.

    With ``drop_suffix`` a trailing "(…)" is dropped too ("Data rozpoczęcia (DD.MM.RRRR)").
    """
    if drop_suffix:
        text = re.sub(r"\([^()]*\)\s*$", "", text)
    text = text.replace("ł", "l").replace("Ł", "L")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^0-9a-z]+", " ", text.casefold())
    return text.strip()


# normalised header -> (field, rank); rank 0 = canonical name, 1 = known alias
_HEADER_LOOKUP: dict[str, tuple[str, int]] = {}
for _field, _canonical in REQUIRED_COLUMNS.items():
    _HEADER_LOOKUP[_header_key(_canonical)] = (_field, 0)
    for _alias in _HEADER_ALIASES.get(_field, ()):
        _HEADER_LOOKUP[_header_key(_alias)] = (_field, 1)


def _match_header(text: str) -> tuple[str, int] | None:
    """(field, rank) for a header cell; rank 2 = matched only after dropping a "(…)" suffix."""
    found = _HEADER_LOOKUP.get(_header_key(text))
    if found:
        return found
    loose = _HEADER_LOOKUP.get(_header_key(text, drop_suffix=True))
    return (loose[0], 2) if loose else None


# --------------------------------------------------------------------------- dates

_DMY = re.compile(r"^(\d{1,2})\s*[.\-/]\s*(\d{1,2})\s*[.\-/]\s*(\d{4})$")
_YMD = re.compile(r"^(\d{4})\s*[.\-/]\s*(\d{1,2})\s*[.\-/]\s*(\d{1,2})$")
_TIME_SUFFIX = re.compile(r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)$")
_YEAR_SUFFIX = re.compile(r"\s*(?:r\.?|rok)$", re.I)
_SERIAL = re.compile(r"^\d{1,7}(?:[.,]\d+)?$")
_SHORT_YEAR = re.compile(r"^\d{1,2}[.\-/]\d{1,2}[.\-/]\d{2}$")


class _DateProblem(Exception):
    pass


def _date_hint() -> str:
    return "Wpisz datę w formacie DD.MM.RRRR, np. 01.03.2024."


def _serial_to_date(value: float, epoch: datetime.datetime) -> datetime.date:
    try:
        converted = from_excel(value, epoch)
    except (OverflowError, ValueError, TypeError):
        raise _DateProblem(f"Liczba {_format_number(value)} nie jest poprawną datą. {_date_hint()}") from None
    if not isinstance(converted, datetime.datetime):  # a fraction of a day: a time, not a date
        raise _DateProblem(f"Liczba {_format_number(value)} nie jest poprawną datą. {_date_hint()}")
    return converted.date()


def _check_range(value: datetime.date) -> datetime.date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise _DateProblem(f"Data {_format_date(value)} wygląda na błędną (rok {value.year}). {_date_hint()}")
    return value


def _parse_date(value: Any, epoch: datetime.datetime) -> datetime.date:
    """A date from a date cell, text 'DD.MM.RRRR' / 'RRRR-MM-DD', or an Excel serial number."""
    if isinstance(value, datetime.datetime):
        return _check_range(value.date())
    if isinstance(value, datetime.date):
        return _check_range(value)
    if isinstance(value, datetime.time):
        raise _DateProblem(f"Komórka zawiera godzinę, a nie datę. {_date_hint()}")
    if isinstance(value, bool):
        raise _DateProblem(f"Komórka zawiera wartość logiczną zamiast daty. {_date_hint()}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise _DateProblem(f"Komórka nie zawiera daty. {_date_hint()}")
        return _check_range(_serial_to_date(value, epoch))

    text = _to_text(value, multiline=False)
    shown = text if len(text) <= 40 else text[:40] + "…"
    candidate = _YEAR_SUFFIX.sub("", text).strip()
    candidate = _TIME_SUFFIX.sub("", candidate).strip()
    match = _DMY.match(candidate)
    if match:
        day, month, year = (int(g) for g in match.groups())
    else:
        match = _YMD.match(candidate)
        if match:
            year, month, day = (int(g) for g in match.groups())
    if match:
        try:
            return _check_range(datetime.date(year, month, day))
        except ValueError:
            raise _DateProblem(
                f"Data „{shown}” nie istnieje w kalendarzu. Sprawdź dzień i miesiąc. {_date_hint()}"
            ) from None
    if _SERIAL.match(candidate):
        return _check_range(_serial_to_date(float(candidate.replace(",", ".")), epoch))
    if _SHORT_YEAR.match(candidate):
        raise _DateProblem(f"W dacie „{shown}” rok ma tylko dwie cyfry. Wpisz pełny rok, w formacie DD.MM.RRRR.")
    raise _DateProblem(f"Nie rozpoznano daty „{shown}”. {_date_hint()}")


# --------------------------------------------------------------------------- file sniffing


def _read_source(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as handle:
                return handle.read()
        except OSError:
            logger.warning("Cannot read workbook file %r", source, exc_info=True)
            raise WorkbookError([Problem("Nie udało się otworzyć pliku. Prześlij go ponownie.")]) from None
    if hasattr(source, "read"):
        try:
            if hasattr(source, "seek"):
                source.seek(0)
        except (OSError, ValueError):
            pass
        data = source.read()
        if isinstance(data, str):  # opened in text mode: there is nothing sensible to do with it
            data = data.encode("utf-8", "surrogateescape")
        return bytes(data or b"")
    raise TypeError(f"parse_workbook() needs a path, bytes or a binary file object, not {type(source).__name__}")


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "cp1250"):
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError:
            continue
        printable = sum(1 for c in text if c.isprintable() or c in "\r\n\t")
        return printable >= 0.95 * max(len(text), 1)
    return False


def _sniff_ole2(data: bytes) -> Problem:
    """Which kind of OLE2 (Compound File) document this is: old .xls, a password-protected
    .xlsx/.xlsm (Excel encrypts the whole package into an OLE2 file holding the streams
    "EncryptionInfo" and "EncryptedPackage"), an old Word/PowerPoint file, or a broken one."""
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            if ole.exists("EncryptedPackage") or ole.exists("EncryptionInfo"):
                return Problem(MSG_ENCRYPTED)
            if ole.exists("Workbook") or ole.exists("Book"):
                return Problem(MSG_XLS)
            if ole.exists("WordDocument"):
                return Problem(MSG_OLD_WORD)
            if ole.exists("PowerPoint Document"):
                return Problem(MSG_OLD_POWERPOINT)
            return Problem(MSG_OLE_OTHER)
    except Exception:  # noqa: BLE001 - olefile raises OSError and others on broken directories
        logger.info("OLE2 upload whose directory cannot be read", exc_info=True)
    # The directory is damaged: judge by the stream names still visible in the bytes (directory
    # entry names are UTF-16LE), so the user at least gets the likely cause.
    if "EncryptedPackage".encode("utf-16-le") in data:
        return Problem(MSG_ENCRYPTED)
    if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        return Problem(MSG_XLS)
    return Problem(MSG_OLE_CORRUPTED)


def _sniff_non_zip(data: bytes) -> Problem:
    if data.startswith(OLE2_SIGNATURE):
        return _sniff_ole2(data)
    head = data[:4096]
    if head.startswith(b"%PDF"):
        return Problem(MSG_PDF)
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"urn:schemas-microsoft-com:office:spreadsheet" in data[:65536].lower():
        return Problem(MSG_XML_2003)
    if lowered.startswith((b"<!doctype html", b"<html", b"<table", b"<meta")) or b"<html" in lowered:
        return Problem(MSG_HTML)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_like_text(head):  # incl. UTF-16 "Unicode text"
        return Problem(MSG_CSV)
    return Problem(MSG_NOT_XLSX)


@dataclass(frozen=True)
class ArchiveLimits:
    """Zip-bomb limits checked on the zip directory before anything is decompressed.

    Declared sizes are only a first filter: zipfile never returns more than the declared size
    of a member (and fails on the CRC when the data is longer), so they also bound reading.
    """

    max_members: int = MAX_ZIP_MEMBERS
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES
    max_compression_ratio: int = MAX_COMPRESSION_RATIO
    ratio_min_bytes: int = RATIO_MIN_BYTES


def _inspect_archive(archive: zipfile.ZipFile, limits: ArchiveLimits) -> Problem | None:
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        return Problem(_msg_too_many_members(len(infos), limits.max_members))
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):  # which copy a reader takes differs between programs
        return Problem(MSG_CORRUPTED)
    if any(info.flag_bits & 0x1 for info in infos):
        return Problem(MSG_ZIP_ENCRYPTED)
    total = sum(info.file_size for info in infos)
    if total > limits.max_uncompressed_bytes:
        return Problem(_msg_too_large_unpacked(total, limits.max_uncompressed_bytes))
    for info in infos:
        if info.file_size > limits.ratio_min_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_compression_ratio:
                return Problem(_msg_suspicious_compression(info.filename, ratio, limits.max_compression_ratio))
    return None


class _RootReached(Exception):
    pass


class _PrologTarget:
    """ElementTree parser target that stops at the root element: the prolog is all we check."""

    def start(self, tag, attrib):
        raise _RootReached

    def end(self, tag):
        pass

    def data(self, data):
        pass

    def close(self):
        return None


def _looks_like_xml(head: bytes) -> bool:
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
        return True
    stripped = head.lstrip(b" \t\r\n")
    return not stripped or stripped.startswith(b"<")


def _xml_prolog_problem(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Problem | None:
    """Refuse a DTD (and with it any entity: billion laughs, external entities/XXE) in a part.

    OOXML parts never carry a DTD (ECMA-376 part 2 forbids them), and a DTD can only come
    before the root element, so defusedxml parses each part up to its root element and no
    further: constant work per part, whatever its size.
    """
    parser = DefusedXMLParser(target=_PrologTarget(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    fed = 0
    with archive.open(info) as member:
        head = member.read(512)
        if not _looks_like_xml(head):
            return None  # an image, vbaProject.bin, printer settings…: never parsed as XML
        chunk = head
        try:
            while chunk:
                parser.feed(chunk)
                fed += len(chunk)
                if fed > MAX_XML_PROLOG_BYTES:
                    logger.warning("XML part %s has no root element in its first %d bytes", info.filename, fed)
                    return Problem(MSG_CORRUPTED)
                chunk = member.read(16 * 1024)
            parser.close()
        except _RootReached:
            return None
        except DefusedXmlException as exc:
            logger.warning("Rejected workbook part %s with forbidden XML constructs: %r", info.filename, exc)
            return Problem(MSG_FORBIDDEN_XML)
        except ParseError:
            return Problem(MSG_CORRUPTED)
    return Problem(MSG_CORRUPTED)  # an empty part or one without a root element


@dataclass(frozen=True)
class _Package:
    workbook_part: str  # zip member name of the workbook part
    has_macros: bool


def _content_types(archive: zipfile.ZipFile) -> tuple[dict[str, str], set[str]] | None:
    """([Content_Types].xml overrides: part name (no leading /) -> content type, default types)."""
    try:
        info = archive.getinfo("[Content_Types].xml")
    except KeyError:
        return None
    if info.file_size > MAX_CONTENT_TYPES_BYTES:
        return None
    with archive.open(info) as member:
        root = defused_fromstring(member.read(MAX_CONTENT_TYPES_BYTES + 1), forbid_dtd=True)
    overrides: dict[str, str] = {}
    defaults: set[str] = set()
    for node in root:
        tag = node.tag.rsplit("}", 1)[-1]
        content_type = (node.get("ContentType") or "").strip()
        if tag == "Override" and node.get("PartName"):
            overrides[node.get("PartName").lstrip("/")] = content_type
        elif tag == "Default":
            defaults.add(content_type)
    return overrides, defaults


def _sniff_zip(archive: zipfile.ZipFile) -> Problem | _Package:
    """The workbook part of an OOXML spreadsheet package, or the problem with the file.

    The package is judged by its content, as openpyxl will read it: [Content_Types].xml must
    name a workbook part (.xlsx/.xlsm/.xltx/.xltm) and that part must be in the zip.
    """
    names = set(archive.namelist())
    if "mimetype" in names:
        try:
            with archive.open("mimetype") as member:
                mimetype = member.read(200)
        except Exception:  # noqa: BLE001 - any failure means a broken archive
            return Problem(MSG_CORRUPTED)
        if b"opendocument.spreadsheet" in mimetype:
            return Problem(MSG_ODS)
        if b"opendocument" in mimetype:
            return Problem(MSG_OPENDOCUMENT_OTHER)
    try:
        types = _content_types(archive)
    except DefusedXmlException:
        return Problem(MSG_FORBIDDEN_XML)
    except Exception:  # noqa: BLE001 - malformed XML, bad member data
        logger.info("Unreadable [Content_Types].xml", exc_info=True)
        return Problem(MSG_CORRUPTED)
    overrides, defaults = types if types is not None else ({}, set())
    found = set(overrides.values()) | defaults
    if XLSB_CONTENT_TYPE in found or "xl/workbook.bin" in names:
        return Problem(MSG_XLSB)
    workbook_part = next(
        (part for content_type in WORKBOOK_CONTENT_TYPES for part, ct in overrides.items() if ct == content_type),
        None,
    )
    workbook_type = overrides.get(workbook_part or "")
    if workbook_part is None and defaults & set(WORKBOOK_CONTENT_TYPES):  # openpyxl's fallback too
        workbook_part = "xl/workbook.xml"
        workbook_type = next(ct for ct in WORKBOOK_CONTENT_TYPES if ct in defaults)
    if workbook_part is None:
        if any("wordprocessingml" in ct or "ms-word" in ct for ct in found) or "word/document.xml" in names:
            return Problem(MSG_DOCX)
        if any("presentationml" in ct or "ms-powerpoint" in ct for ct in found) or "ppt/presentation.xml" in names:
            return Problem(MSG_PPTX)
        if not any(n.startswith("xl/") for n in names):
            return Problem(MSG_ZIP_NOT_WORKBOOK)  # e.g. a zipped folder, a Visio or 3D-print file
        return Problem(MSG_CORRUPTED)  # a workbook's pieces, but not a readable package
    if workbook_part not in names:
        return Problem(MSG_CORRUPTED)
    has_macros = (
        workbook_type in MACRO_CONTENT_TYPES
        or VBA_CONTENT_TYPE in found
        or any(name.lower().endswith("vbaproject.bin") for name in names)
    )
    return _Package(workbook_part=workbook_part, has_macros=has_macros)


def _inspect_package(archive: zipfile.ZipFile, limits: ArchiveLimits) -> Problem | _Package:
    problem = _inspect_archive(archive, limits)
    if problem is not None:
        return problem
    package = _sniff_zip(archive)
    if isinstance(package, Problem):
        return package
    for info in archive.infolist():
        if info.is_dir() or info.file_size == 0 and info.filename != package.workbook_part:
            continue
        problem = _xml_prolog_problem(archive, info)
        if problem is not None:
            return problem
    return package


# --------------------------------------------------------------------------- sheet reading


@dataclass
class _Header:
    row: int
    # field -> list of (column index 1-based, header as written)
    required: dict[str, list[tuple[int, str]]]
    # every non-empty header cell: column index -> header as written
    cells: dict[int, str]

    @property
    def score(self) -> int:
        return len(self.required)


def _iter_rows(ws, *, min_row: int = 1, max_row: int | None = None, max_col: int | None = None):
    """(row number, cells) for each row; rows are counted because openpyxl fills gaps with ()."""
    row_number = min_row - 1
    for cells in ws.iter_rows(min_row=min_row, max_row=max_row, max_col=max_col):
        row_number += 1
        yield row_number, cells


def _find_header(ws) -> _Header | None:
    best: _Header | None = None
    for row_number, cells in _iter_rows(ws, max_row=HEADER_SCAN_ROWS):
        # field -> (best rank, occurrences at that rank). A better-ranked match wins, so
        # "Opis" + "Opis (EN)" or "Nazwa projektu" + "Nazwa" are one required column plus an
        # extra one, while two equally good matches are reported as a duplicated column.
        matches: dict[str, tuple[int, list[tuple[int, str]]]] = {}
        written: dict[int, str] = {}
        for index, cell in enumerate(cells, start=1):
            value = cell.value
            if value is None:
                continue
            text = _header_text(value)
            if not text:
                continue
            written[index] = text
            match = _match_header(text)
            if match is None:
                continue
            field, rank = match
            current = matches.get(field)
            if current is None or rank < current[0]:
                matches[field] = (rank, [(index, text)])
            elif rank == current[0]:
                current[1].append((index, text))
        required = {field: occurrences for field, (_, occurrences) in matches.items()}
        if len(required) >= MIN_HEADER_MATCHES and (best is None or len(required) > best.score):
            best = _Header(row_number, required, written)
            if best.score == len(REQUIRED_COLUMNS):
                break
    return best


def _ordered_sheets(wb) -> list:
    sheets = list(wb.worksheets)
    try:
        active = wb.active
    except Exception:  # noqa: BLE001 - a broken activeTab index must not stop us
        active = None
    ordered = [active] if active in sheets else []
    ordered += [ws for ws in sheets if ws is not active and getattr(ws, "sheet_state", "visible") == "visible"]
    ordered += [ws for ws in sheets if ws not in ordered]
    return ordered


def _choose_sheet(wb) -> tuple[Any, _Header | None]:
    best_ws, best = None, None
    for ws in _ordered_sheets(wb):
        # Dimensions written in the file may be huge (A1:XFD1048576) or wrong; openpyxl would
        # then pad every row to that width and emit empty rows up to it. Ignore them.
        ws.reset_dimensions()
        header = _find_header(ws)
        if header is None:
            continue
        if best is None or header.score > best.score:
            best_ws, best = ws, header
            if header.score == len(REQUIRED_COLUMNS):
                break
    return best_ws, best


def _header_problems(header: _Header) -> list[Problem]:
    problems: list[Problem] = []
    for field, canonical in REQUIRED_COLUMNS.items():
        if field not in header.required:
            problems.append(
                Problem(
                    f"Brakuje kolumny „{canonical}”. Dodaj ją w wierszu nagłówków (wiersz {header.row}) "
                    "i uzupełnij dla każdego projektu.",
                    column=canonical,
                )
            )
    duplicates: list[Problem] = []
    for field, occurrences in header.required.items():
        if len(occurrences) > 1:
            letters = ", ".join(get_column_letter(index) for index, _ in occurrences)
            duplicates.append(
                Problem(
                    f"Kolumna „{REQUIRED_COLUMNS[field]}” występuje kilka razy (kolumny {letters}). "
                    "Zostaw tylko jedną i prześlij plik ponownie.",
                    row=header.row,
                    column=occurrences[1][1],
                )
            )
    duplicates.sort(key=lambda p: p.column or "")
    return problems + duplicates


@dataclass
class _RawRow:
    row: int
    values: dict[int, Any]  # column index -> value (only non-empty)
    formats: dict[int, str]


class _FormulaWithoutValue:
    """Value of a required cell that holds a formula but no result saved with it.

    Scripts and ERP exports write formulas without computing them; openpyxl then reads the
    cell as empty. Only Excel (or another spreadsheet program) can compute and save the value.
    """

    def __repr__(self) -> str:
        return "<formula without a cached value>"


FORMULA_WITHOUT_VALUE = _FormulaWithoutValue()

MAX_ERROR_CODE_SHOWN = 20  # longest error code quoted back: Excel's own are at most 13 (#GETTING_DATA)


@dataclass(frozen=True)
class _CellError:
    """Value of a cell whose saved formula result is an error (``<c t="e"><v>#N/A</v></c>``).

    openpyxl reads it as the plain string "#N/A"; taken as text it would become a project
    named "#REF!" or a responsible person "#N/A".
    """

    code: str  # as saved in the file, cleaned and cut to MAX_ERROR_CODE_SHOWN characters


def _msg_cell_error(code: str) -> str:
    shown = f" ({code})" if code else ""
    return f"Komórka zawiera błąd formuły{shown} — popraw formułę albo wpisz wartość."


@dataclass
class _PreScan:
    # last row to read: the last one holding any cell value; None: no bound (the pre-scan failed)
    last_row: int | None
    # (row, column) of cells in the watched columns holding a formula without a saved result
    formulas: set[tuple[int, int]]
    # the pre-scan stopped at its limit: rows after last_row hold values too
    truncated: bool = False
    # rows under the header (up to last_row) that hold a project by _has_project_data's rule;
    # None when not counted (no required columns given)
    projects: int | None = None


_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?[0-9]+$")


def _formulas_without_value(row, row_number: int, columns: set[int], found: set[tuple[int, int]]) -> None:
    """Add the cells of a parsed <row> that hold a formula (<f>) with no cached result (<v>).

    Excel writes a formula's result next to it; an empty string result is written as an empty
    <v> of a t="str" cell, which is an honest empty value. Column numbers follow openpyxl's rule
    (the ``r`` reference, else previous + 1).
    """
    column = 0
    for cell in row:
        if not isinstance(cell.tag, str) or cell.tag.rsplit("}", 1)[-1] != "c":
            continue
        ref = cell.get("r")
        if ref is None:
            column += 1
        else:
            match = _CELL_REF.match(ref)
            if match is None:
                return  # openpyxl would fail on this row anyway; nothing to add
            column = column_index_from_string(match.group(1).upper())
        if column not in columns or cell.find("{*}f") is None:
            continue
        value = cell.find("{*}v")
        if value is None or (not value.text and cell.get("t") != "str"):
            found.add((row_number, column))


def _lxml_row_is_project(row, required: set[int], shared_strings, has_text: _HasText) -> bool:
    """_has_project_data's rule on a parsed <row>: a required column holds a value that cleans to
    some text (numbers, dates, booleans and error codes always do), or a formula without a value.
    Columns follow openpyxl's rule (the ``r`` reference, else previous + 1)."""
    column = 0
    for cell in row:
        if not isinstance(cell.tag, str) or cell.tag.rsplit("}", 1)[-1] != "c":
            continue
        ref = cell.get("r")
        if ref is None:
            column += 1
        else:
            match = _CELL_REF.match(ref)
            if match is None:
                return True  # let openpyxl decide (it fails on such a row)
            column = column_index_from_string(match.group(1).upper())
        if column not in required:
            continue
        kind = cell.get("t", "n")
        value = cell.find("{*}v")
        if kind == "inlineStr":
            inline = cell.find("{*}is")
            if inline is not None:
                text = "".join(
                    t.text or "" for t in inline.iter("{*}t") if t.getparent().tag.rsplit("}", 1)[-1] != "rPh"
                )
                if has_text(text):
                    return True
        elif value is not None and value.text is not None:
            if kind == "s":
                try:
                    text = shared_strings[int(value.text)]
                except (TypeError, ValueError, IndexError):
                    return True  # openpyxl decides
                if has_text(text):
                    return True
            elif kind == "str":
                if has_text(value.text):
                    return True
            else:
                return True
        if cell.find("{*}f") is not None and (value is None or (not value.text and kind != "str")):
            return True  # a formula without a saved result
    return False


def _prescan(
    ws,
    *,
    after_row: int,
    limit: int,
    formula_columns: Iterable[int],
    has_text: _HasText | None = None,
) -> _PreScan:
    """A fast lxml pass over the sheet XML: where the data ends, and formulas without values.

    Files often carry thousands of rows that hold only formatting (their <c> elements have
    a style but no <v>); openpyxl would parse each of them cell by cell. Knowing where the
    data ends lets openpyxl stop there. Row numbers follow openpyxl's own rule (the ``r``
    attribute, else previous + 1). Any doubt gives no bound: no harm, just slower.

    The pass stops at the first row past ``limit`` rows below ``after_row`` that hold values,
    and gives that row as the bound (``truncated``): nothing after it is read.
    """
    formulas: set[tuple[int, int]] = set()
    try:
        from lxml import etree
    except ImportError:  # pragma: no cover - lxml comes with python-docx
        return _PreScan(None, formulas)
    get_source = getattr(ws, "_get_source", None)
    if get_source is None:
        return _PreScan(None, formulas)
    watched = set(formula_columns)
    shared_strings = getattr(ws, "_shared_strings", None)  # openpyxl ReadOnlyWorksheet
    count_projects = has_text is not None and bool(watched) and shared_strings is not None
    projects = 0
    last = 0
    counter = 0
    rows_with_values = 0
    try:
        with get_source() as source:
            # One event per row, at its end (its cells are parsed by then); whether it holds
            # values is looked up by lxml in C, so rows of formatting only cost no Python work.
            events = etree.iterparse(
                source,
                events=("end",),
                tag=("{*}row", "{*}sheetData"),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
            )
            for _, element in events:
                if element.tag.rpartition("}")[2] != "row":
                    break  # the end of sheetData
                r = element.get("r")
                if r is None:
                    counter += 1
                else:
                    number = float(r)
                    if not number.is_integer():
                        return _PreScan(None, formulas)
                    counter = int(number)
                if next(element.iterdescendants("{*}v", "{*}is", "{*}f"), None) is not None:
                    last = max(last, counter)
                    if counter > after_row:
                        if watched and next(element.iterdescendants("{*}f"), None) is not None:
                            _formulas_without_value(element, counter, watched, formulas)
                        rows_with_values += 1
                        # counted up to and including last_row, the rows openpyxl would read
                        if count_projects and _lxml_row_is_project(element, watched, shared_strings, has_text):
                            projects += 1
                        if rows_with_values > limit:
                            return _PreScan(
                                counter, formulas, truncated=True, projects=projects if count_projects else None
                            )
                element.clear()
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
    except Exception:  # noqa: BLE001 - openpyxl's own (defused) parse will report real damage
        logger.info("Pre-scan of sheet %r failed; reading it without a row bound", ws.title, exc_info=True)
        return _PreScan(None, set())
    return _PreScan(last, formulas, projects=projects if count_projects else None)


class _HasText:
    """Whether a cell value cleans to some text, remembering the answer for each distinct string.

    A sheet can repeat one long shared string (say 32 000 characters of HTML) in every row;
    cleaning it again for each row would make the work depend on the number of rows. Keys are
    (length, hash) so that the cache holds no strings (inline strings are new objects per row).
    """

    def __init__(self) -> None:
        self._known: dict[tuple[int, int], bool] = {}

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, str):
            return bool(_to_text(value, multiline=False))
        if "<" not in value and "_x" not in value:
            # No HTML and no Excel escapes: clean_text would only drop control/invisible
            # characters and trim spaces, so this is its answer without the rest of its work.
            return has_plain_text(value)
        key = (len(value), hash(value))
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = bool(clean_text(value, multiline=False))
        return known


def has_plain_text(value: str) -> bool:
    """``bool(clean_text(value))`` for a string without "<" and "_x" (no tags, no escapes)."""
    text = value.translate(_TRANSLATE)
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("", text)
    return bool(text.strip())


def _has_project_data(
    cells, required: list[int], row_number: int, formulas: set[tuple[int, int]], has_text: _HasText
) -> bool:
    """Whether a row counts as a project: a required column holds something (not only spaces,
    HTML debris or control characters, which clean to nothing)."""
    for index in required:  # ascending
        if index > len(cells):
            break
        value = cells[index - 1].value
        if value is None:
            if (row_number, index) in formulas:
                return True
        elif has_text(value):
            return True
    return False


def _raw_row(cells, wanted: list[int], row_number: int, formulas: set[tuple[int, int]]) -> _RawRow:
    values: dict[int, Any] = {}
    formats: dict[int, str] = {}
    for index in wanted:  # ascending
        if index > len(cells):
            break
        cell = cells[index - 1]
        value = cell.value
        if value is None:
            if (row_number, index) in formulas:
                values[index] = FORMULA_WITHOUT_VALUE
            continue
        if getattr(cell, "data_type", None) == "e":
            code = clean_text(str(value), multiline=False)[:MAX_ERROR_CODE_SHOWN]
            values[index] = _CellError(code)
            continue
        if isinstance(value, str) and not value.strip():
            continue
        values[index] = value
        number_format = getattr(cell, "number_format", None)
        if number_format:
            formats[index] = number_format
    return _RawRow(row_number, values, formats)


def _collect_rows(
    ws,
    header: _Header,
    wanted: Iterable[int],
    required_columns: Iterable[int],
    *,
    max_projects: int,
    count_limit: int,
) -> tuple[list[_RawRow], int, bool]:
    """Non-blank rows under the header, read without ever holding more than ``max_projects``.

    Returns ``(rows, found, exact)``: the first ``max_projects`` non-blank rows, the number of
    non-blank rows found, and whether that is all of them. Past ``max_projects`` the file will
    be rejected, so rows are only checked for emptiness, with the same rule, and counted. At
    most ``count_limit`` rows holding values are read (``exact`` is then False; ``found`` is
    ``count_limit + 1`` when every one was a project): work and memory depend on the limits,
    not on the file.
    """
    wanted = sorted(set(wanted))
    required = sorted(set(required_columns))
    max_col = wanted[-1]
    rows: list[_RawRow] = []
    found = 0
    has_text = _HasText()
    scan = _prescan(ws, after_row=header.row, limit=count_limit, formula_columns=required, has_text=has_text)
    if scan.last_row is not None and scan.last_row <= header.row:
        return rows, found, True
    formulas = scan.formulas
    filler = None  # openpyxl yields one shared tuple of EMPTY_CELLs for each row absent from the file
    for row_number, cells in _iter_rows(ws, min_row=header.row + 1, max_row=scan.last_row, max_col=max_col):
        if not cells or cells is filler:
            continue
        if filler is None and all(cell is EMPTY_CELL for cell in cells):
            filler = cells
            continue
        if not _has_project_data(cells, required, row_number, formulas, has_text):
            continue  # only formatting, spaces, stray extras or HTML debris: not a project
        found += 1
        if found > count_limit:  # only reached when the pre-scan gave no bound
            return rows, found, False
        if found <= max_projects:
            rows.append(_raw_row(cells, wanted, row_number, formulas))
        elif scan.projects is not None:
            # The file is rejected; the pre-scan (lxml, C speed) has counted the projects by the
            # same rule, so openpyxl need not read the rest (100 000 rows: ~0.3 s instead of ~10 s).
            return rows, max(found, scan.projects), not scan.truncated
    return rows, found, not scan.truncated


def _validate_row(
    raw: _RawRow, columns: dict[str, tuple[int, str]], extras: list[tuple[int, str]], epoch: datetime.datetime
) -> tuple[ProjectRow | None, list[tuple[int, Problem]]]:
    problems: list[tuple[int, Problem]] = []  # (column index, problem) for sorting
    data: dict[str, Any] = {}

    for field in TEXT_FIELDS:
        index, header = columns[field]
        value = raw.values.get(index)
        if value is FORMULA_WITHOUT_VALUE:
            problems.append((index, Problem(MSG_FORMULA_WITHOUT_VALUE, raw.row, header)))
            continue
        if isinstance(value, _CellError):
            problems.append((index, Problem(_msg_cell_error(value.code), raw.row, header)))
            continue
        multiline = field in MULTILINE_FIELDS
        text = _to_text(value, multiline=multiline, number_format=raw.formats.get(index))
        data[field] = text
        low, high = TEXT_LIMITS[field]
        message = None
        if not text:
            message = _EMPTY_MESSAGES[field]
        elif len(text) < low:
            cleaned_away = isinstance(value, str) and len(value.strip()) > len(text) + 5
            message = _too_short(field, len(text), low, cleaned_away)
        elif len(text) > high:
            message = _too_long(field, len(text), high)
        if message:
            problems.append((index, Problem(message, raw.row, header)))

    dates: dict[str, datetime.date | None] = {}
    for field in DATE_FIELDS:
        index, header = columns[field]
        value = raw.values.get(index)
        dates[field] = None
        if value is FORMULA_WITHOUT_VALUE:
            problems.append((index, Problem(MSG_FORMULA_WITHOUT_VALUE, raw.row, header)))
            continue
        if isinstance(value, _CellError):
            problems.append((index, Problem(_msg_cell_error(value.code), raw.row, header)))
            continue
        if value is None or (isinstance(value, str) and not _to_text(value, multiline=False)):
            problems.append((index, Problem(_EMPTY_MESSAGES[field], raw.row, header)))
            continue
        try:
            dates[field] = _parse_date(value, epoch)
        except _DateProblem as exc:
            problems.append((index, Problem(str(exc), raw.row, header)))
    start, end = dates["start_date"], dates["end_date"]
    if start is not None and end is not None and end < start:
        index, header = columns["end_date"]
        problems.append(
            (
                index,
                Problem(
                    f"Data zakończenia ({_format_date(end)}) jest wcześniejsza niż data rozpoczęcia "
                    f"({_format_date(start)}). Popraw jedną z dat.",
                    raw.row,
                    header,
                ),
            )
        )

    # An error in an extra column is reported, not dropped: extra columns (costs, client) reach the
    # card and the prompt, and a consultant who sees no problem assumes the value was imported.
    for index, header in extras:
        value = raw.values.get(index)
        if isinstance(value, _CellError):
            problems.append((index, Problem(_msg_cell_error(value.code), raw.row, header)))

    if problems:
        return None, problems

    extra: list[tuple[str, str]] = []
    for index, header in extras:
        value = raw.values.get(index)
        if value is None:
            continue
        text = _to_text(value, multiline=False, number_format=raw.formats.get(index))
        if text:
            extra.append((header, text))

    return (
        ProjectRow(
            row_number=raw.row,
            name=data["name"],
            description=data["description"],
            start_date=start,  # type: ignore[arg-type]
            end_date=end,  # type: ignore[arg-type]
            goal=data["goal"],
            responsible_person=data["responsible_person"],
            extra=tuple(extra),
        ),
        [],
    )


_EMPTY_MESSAGES = {
    "name": "Brak nazwy projektu. Wpisz nazwę projektu.",
    "description": "Brak opisu projektu. Wpisz opis projektu (co najmniej 100 znaków).",
    "goal": "Brak celu projektu. Wpisz cel projektu (co najmniej 50 znaków).",
    "responsible_person": "Brak osoby odpowiedzialnej. Wpisz imię i nazwisko osoby odpowiedzialnej za projekt.",
    "start_date": "Brak daty rozpoczęcia. Wpisz datę w formacie DD.MM.RRRR.",
    "end_date": "Brak daty zakończenia. Wpisz datę w formacie DD.MM.RRRR.",
}

_FIELD_NOUNS = {  # (subject, "shorten it" pronoun form, "expand it" advice)
    "name": ("Nazwa projektu", "ją", "Uzupełnij nazwę."),
    "description": (
        "Opis",
        "go",
        "Rozwiń opis: czego dotyczy projekt, jaki problem rozwiązuje i na czym polega nowość.",
    ),
    "goal": ("Cel projektu", "go", "Rozwiń cel: co konkretnie projekt ma osiągnąć."),
    "responsible_person": ("Osoba odpowiedzialna", "ją", "Uzupełnij imię i nazwisko."),
}


def _too_short(field: str, length: int, low: int, cleaned_away: bool = False) -> str:
    subject, _, advice = _FIELD_NOUNS[field]
    note = " (po usunięciu znaczników HTML, znaków sterujących i zbędnych spacji)" if cleaned_away else ""
    return f"{subject} ma {_chars(length)}{note}, a musi mieć co najmniej {_chars(low)}. {advice}"


def _too_long(field: str, length: int, high: int) -> str:
    subject, pronoun, _ = _FIELD_NOUNS[field]
    return f"{subject} ma {_chars(length)}, a może mieć najwyżej {_chars(high)}. Skróć {pronoun}."


def _read_projects(wb, max_projects: int) -> list[ProjectRow]:
    if not wb.worksheets:  # Excel always writes one; openpyxl skips sheets whose part is missing
        raise WorkbookError([Problem(MSG_NO_SHEETS)])
    ws, header = _choose_sheet(wb)
    if header is None:
        raise WorkbookError([Problem(_msg_no_header())])

    header_problems = _header_problems(header)
    if header_problems:
        raise WorkbookError(header_problems)

    columns = {field: occurrences[0] for field, occurrences in header.required.items()}
    required_indexes = {index for index, _ in columns.values()}
    extras = [(index, text) for index, text in sorted(header.cells.items()) if index not in required_indexes]

    count_limit = max(COUNT_LIMIT, max_projects + 1)
    raw_rows, found, exact = _collect_rows(
        ws, header, list(header.cells), required_indexes, max_projects=max_projects, count_limit=count_limit
    )

    if not exact and found <= max_projects:
        raise WorkbookError(
            [
                Problem(
                    f"Arkusz „{ws.title}” ma pod nagłówkami ponad {_number(count_limit)} wierszy z jakąkolwiek "
                    f"zawartością, a w jednym pliku może być najwyżej {_projects(max_projects)}. Zostaw w arkuszu "
                    "tylko wiersze z projektami (listy pomocnicze przenieś do innego arkusza, usuń wiersze "
                    "ze spacjami lub samymi znacznikami HTML), zapisz plik i prześlij go ponownie."
                )
            ]
        )
    if not raw_rows:
        raise WorkbookError(
            [
                Problem(
                    f"Arkusz „{ws.title}” nie zawiera żadnego projektu. Wpisz projekty w wierszach pod "
                    f"nagłówkami (od wiersza {header.row + 1}) i prześlij plik ponownie."
                )
            ]
        )
    if found > max_projects:
        if exact:
            amount = _projects(found)
        elif found > count_limit:
            amount = f"ponad {_projects(count_limit)}"
        else:  # rows past the limit were not read; some may be projects too
            amount = f"co najmniej {_projects(found)}"
        raise WorkbookError(
            [
                Problem(
                    f"Plik zawiera {amount}, a dopuszczalne jest najwyżej {max_projects} "
                    "w jednym pliku. Podziel projekty na kilka plików."
                )
            ]
        )

    epoch = getattr(wb, "epoch", WINDOWS_EPOCH)
    projects: list[ProjectRow] = []
    problems: list[Problem] = []
    for raw in raw_rows:
        project, row_problems = _validate_row(raw, columns, extras, epoch)
        if project is not None:
            projects.append(project)
        # stable sort: problems of one column keep their order (e.g. empty before range)
        problems.extend(p for _, p in sorted(row_problems, key=lambda item: item[0]))
    if problems:
        raise WorkbookError(problems)
    return projects


# --------------------------------------------------------------------------- public API


def _caused_by(exc: BaseException, kind) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if kind and isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class _UnsizedReadOnlyWorksheet(ReadOnlyWorksheet):
    """A read-only sheet that does not look for its size when opened.

    openpyxl reads the <dimension> element when it opens a sheet; when the element is missing
    (scripts and exports often leave it out) it parses the whole sheet to the end to find out,
    which for a sheet of a million rows takes longer than everything else. The size is not
    needed: ``_choose_sheet`` discards it anyway (``reset_dimensions``).
    """

    def _get_size(self) -> None:
        pass


_SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


class _LazySharedStrings:
    """The shared strings table, parsed (with lxml) only as far as the cells read need it.

    openpyxl reads the whole table before the first cell, with the pure-Python parser: for a
    workbook of 100 000 rows (400 000 strings, ~30 MB of XML) that alone takes ~30 s. Excel
    writes the strings in the order the cells first use them, so the header and the first rows
    need only the start of the table. Strings are what openpyxl's read_string_table gives
    (plain text of <t> and of the runs' <t>, phonetic <rPh> left out, "x005F_" removed). Safe
    to parse with lxml: the part's prolog was checked for a DTD (no entities can be declared),
    and entities are not resolved, nor anything fetched, in any case.
    """

    def __init__(self, archive: zipfile.ZipFile, part: str):
        from lxml import etree

        self._source = archive.open(part)
        self._events = etree.iterparse(
            self._source,
            events=("end",),
            tag=("{*}si",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        )
        self._strings: list[str] = []
        self._done = False

    def _advance(self) -> None:
        try:
            _, node = next(self._events)
        except StopIteration:
            self.close()
            return
        if len(node) == 1 and isinstance(node[0].tag, str) and node[0].tag.rpartition("}")[2] == "t":
            text = node[0].text or ""  # the usual case: plain text, no runs
            self._strings.append(text.replace("x005F_", "") if "x005F_" in text else text)
            node.clear()
            while node.getprevious() is not None:
                del node.getparent()[0]
            return
        parts = []
        for child in node:
            tag = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
            if tag == "t":
                parts.append(child.text or "")
            elif tag == "r":
                for run_child in child:
                    if isinstance(run_child.tag, str) and run_child.tag.rsplit("}", 1)[-1] == "t":
                        parts.append(run_child.text or "")
        self._strings.append("".join(parts).replace("x005F_", ""))
        node.clear()
        while node.getprevious() is not None:
            del node.getparent()[0]

    def __getitem__(self, index: int) -> str:
        if index < 0:
            raise IndexError(index)
        while index >= len(self._strings) and not self._done:
            self._advance()
        return self._strings[index]

    def __len__(self) -> int:
        while not self._done:
            self._advance()
        return len(self._strings)

    def close(self) -> None:
        self._done = True
        self._source.close()


class _WorkbookReader(ExcelReader):
    def read_strings(self) -> None:
        part = self.package.find(_SHARED_STRINGS_TYPE)
        if part is not None:
            self.shared_strings = _LazySharedStrings(self.archive, part.PartName[1:])

    def read_worksheets(self) -> None:
        # openpyxl's ExcelReader.read_worksheets for read-only mode, with the sheet class above.
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files:
                continue
            if "chartsheet" in rel.Type:
                self.read_chartsheet(sheet, rel)  # kept so that the active sheet index stays right
                continue
            ws = _UnsizedReadOnlyWorksheet(self.wb, sheet.name, rel.target, self.shared_strings)
            ws.sheet_state = sheet.state
            self.wb._sheets.append(ws)


def _workbook_reader(data: bytes) -> _WorkbookReader:
    """openpyxl's reader for ``load_workbook(read_only=True, data_only=True)``, without the sheet
    sizing and with the shared strings read lazily; call ``.read()``, then use ``.wb``."""
    return _WorkbookReader(
        io.BytesIO(data), read_only=True, keep_vba=False, data_only=True, keep_links=False, rich_text=False
    )


@dataclass(frozen=True)
class ParsedWorkbook:
    projects: list[ProjectRow]
    # Polish remarks about an accepted file the user should see (e.g. its macros were not run)
    notes: tuple[str, ...] = ()
    has_macros: bool = False


def read_workbook(
    source: Source, *, max_projects: int = MAX_PROJECTS_DEFAULT, limits: ArchiveLimits | None = None
) -> ParsedWorkbook:
    """Read the projects from an .xlsx workbook, with the remarks about the file.

    ``source`` is a path (str/Path), bytes, or a binary file-like object (e.g. an uploaded
    file). The content decides what the file is, never its name: the zip directory is checked
    against ``limits`` (zip bombs), the package must name a workbook part, and every XML part
    must be free of DTDs before openpyxl opens the file. Raises ``WorkbookError`` listing every
    problem found (nothing partial is returned).
    """
    if max_projects < 1:
        raise ValueError("max_projects must be at least 1")
    if limits is None:  # module constants read at call time (tests patch them)
        limits = ArchiveLimits(MAX_ZIP_MEMBERS, MAX_UNCOMPRESSED_BYTES, MAX_COMPRESSION_RATIO, RATIO_MIN_BYTES)
    data = _read_source(source)
    if not data or not data.strip(b"\x00 \t\r\n"):
        raise WorkbookError([Problem(MSG_EMPTY_FILE)])
    if not data.startswith(b"PK"):
        raise WorkbookError([_sniff_non_zip(data)])

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise WorkbookError([Problem(MSG_CORRUPTED)]) from None
    except Exception:  # noqa: BLE001 - zipfile raises odd things on hostile input
        logger.warning("Unexpected error opening upload as zip", exc_info=True)
        raise WorkbookError([Problem(MSG_CORRUPTED)]) from None
    try:
        with archive:
            package = _inspect_package(archive, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError):
        # a damaged member, an unsupported compression method, a CRC that does not match
        raise WorkbookError([Problem(MSG_CORRUPTED)]) from None
    except Exception:  # noqa: BLE001
        logger.warning("Unexpected error inspecting upload", exc_info=True)
        raise WorkbookError([Problem(MSG_CORRUPTED)]) from None
    if isinstance(package, Problem):
        raise WorkbookError([package])

    wb = reader = None
    try:
        reader = _workbook_reader(data)
        reader.read()
        wb = reader.wb
        projects = _read_projects(wb, max_projects)
    except WorkbookError:
        raise
    except MemoryError:
        raise WorkbookError([Problem(MSG_TOO_LARGE)]) from None
    except Exception as exc:  # noqa: BLE001 - never let openpyxl/zipfile/XML errors escape
        if _caused_by(exc, DefusedXmlException):  # openpyxl wraps it in a ValueError
            logger.warning("Rejected workbook with forbidden XML constructs: %s", exc)
            raise WorkbookError([Problem(MSG_FORBIDDEN_XML)]) from None
        logger.warning("Could not read workbook", exc_info=True)
        raise WorkbookError([Problem(MSG_CORRUPTED)]) from None
    finally:
        if wb is not None:
            try:
                wb.close()
            except Exception:  # noqa: BLE001
                pass
        strings = getattr(reader, "shared_strings", None)
        if isinstance(strings, _LazySharedStrings):
            strings.close()
    notes = (MSG_MACROS_NOTE,) if package.has_macros else ()
    return ParsedWorkbook(projects=projects, notes=notes, has_macros=package.has_macros)


def parse_workbook(
    source: Source, *, max_projects: int = MAX_PROJECTS_DEFAULT, limits: ArchiveLimits | None = None
) -> list[ProjectRow]:
    """The projects of an .xlsx workbook (see ``read_workbook``), or ``WorkbookError``."""
    return read_workbook(source, max_projects=max_projects, limits=limits).projects


# --------------------------------------------------------------------------- template

_EXAMPLE = {
    "name": "System predykcji awarii linii produkcyjnej z wykorzystaniem uczenia maszynowego",
    "description": (
        "Zakład eksploatuje trzy linie rozlewnicze, na których nieplanowane postoje powodują straty "
        "rzędu kilkuset tysięcy złotych rocznie. Dostępne na rynku systemy monitoringu wykrywają awarię "
        "dopiero w chwili jej wystąpienia. W projekcie zespół zbiera dane z czujników drgań, temperatury "
        "i poboru prądu, opracowuje i porównuje modele uczenia maszynowego przewidujące awarie "
        "z wyprzedzeniem oraz weryfikuje je w warunkach produkcyjnych."
    ),
    "start_date": datetime.date(2024, 2, 1),
    "end_date": datetime.date(2024, 12, 31),
    "goal": (
        "Opracowanie modelu przewidującego awarie kluczowych podzespołów linii z wyprzedzeniem co najmniej "
        "48 godzin i skutecznością powyżej 80%."
    ),
    "responsible_person": "Anna Kowalczyk",
}

_INSTRUCTIONS: list[tuple[str, str]] = [
    ("Nazwa projektu", "Krótka, opisowa nazwa projektu B+R. Wymagana, 1–255 znaków."),
    (
        "Opis",
        "Czego dotyczy projekt, jaki problem rozwiązuje, na czym polega nowość i jakie prace wykonano. "
        "Wymagany, 100–5000 znaków.",
    ),
    ("Data rozpoczęcia", "Data rozpoczęcia prac w formacie DD.MM.RRRR (np. 01.02.2024). Wymagana."),
    (
        "Data zakończenia",
        "Data zakończenia prac (planowana lub rzeczywista) w formacie DD.MM.RRRR. Wymagana; "
        "nie może być wcześniejsza niż data rozpoczęcia.",
    ),
    ("Cel projektu", "Co konkretnie projekt ma osiągnąć, najlepiej mierzalnie. Wymagany, 50–2000 znaków."),
    ("Osoba odpowiedzialna", "Imię i nazwisko osoby odpowiedzialnej za projekt. Wymagana, 1–255 znaków."),
]


def _rules(max_projects: int) -> list[str]:
    return [
        "Jeden wiersz arkusza „Projekty” to jeden projekt. Nie zmieniaj nazw nagłówków w pierwszym wierszu.",
        f"W jednym pliku może być najwyżej {_projects(max_projects)}; większą liczbę podziel na kilka plików.",
        "Przykładowy projekt w wierszu 2 zastąp własnymi danymi albo usuń cały wiersz.",
        "Możesz dodać własne kolumny (np. „Koszty kwalifikowane (PLN)”) — zostaną dołączone do danych projektu.",
        "Puste wiersze są pomijane. Tekst wklejony z innych programów zostanie oczyszczony z formatowania.",
        "Przy błędach system pokaże wszystkie problemy naraz, z numerem wiersza i nazwą kolumny.",
        "Zapisz plik jako „Skoroszyt programu Excel (*.xlsx)” — bez hasła.",
    ]


def template_workbook(*, max_projects: int = MAX_PROJECTS_DEFAULT) -> bytes:
    """The downloadable .xlsx template: sheet "Projekty" (active) and sheet "Instrukcja".

    ``max_projects`` is the limit stated in the instructions (pass the one ``parse_workbook`` gets).
    """
    if max_projects < 1:
        raise ValueError("max_projects must be at least 1")
    wb = Workbook()
    ws = wb.active
    ws.title = "Projekty"

    header_font = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="FFDDEBF7")
    widths = {"name": 40, "description": 80, "start_date": 16, "end_date": 16, "goal": 60, "responsible_person": 26}
    fields = list(REQUIRED_COLUMNS)
    for index, field in enumerate(fields, start=1):
        cell = ws.cell(row=1, column=index, value=REQUIRED_COLUMNS[field])
        cell.font = header_font
        cell.fill = header_fill
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(index)].width = widths[field]

    wrap = Alignment(vertical="top", wrap_text=True)
    for index, field in enumerate(fields, start=1):
        cell = ws.cell(row=2, column=index, value=_EXAMPLE[field])
        cell.alignment = wrap
        if field in DATE_FIELDS:
            cell.number_format = "DD.MM.YYYY"

    # Date format on the rows people will fill in, so typed dates display as DD.MM.RRRR.
    last_row = min(max_projects, TEMPLATE_FORMATTED_ROWS_MAX) + 1
    for field in DATE_FIELDS:
        column = get_column_letter(fields.index(field) + 1)
        for row in range(3, last_row + 1):
            ws[f"{column}{row}"].number_format = "DD.MM.YYYY"
        validation = DataValidation(
            type="date",
            operator="between",
            formula1="DATE(1980,1,1)",
            formula2="DATE(2100,12,31)",
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="Niepoprawna data",
            error="Wpisz datę w formacie DD.MM.RRRR, np. 01.03.2024.",
        )
        validation.add(f"{column}2:{column}{last_row}")
        ws.add_data_validation(validation)
    ws.freeze_panes = "A2"

    guide = wb.create_sheet("Instrukcja")
    guide.column_dimensions["A"].width = 26
    guide.column_dimensions["B"].width = 100
    guide["A1"] = "Jak wypełnić arkusz „Projekty”"
    guide["A1"].font = Font(bold=True, size=13)
    guide["A3"], guide["B3"] = "Kolumna", "Co wpisać"
    guide["A3"].font = guide["B3"].font = header_font
    row = 4
    for column_name, explanation in _INSTRUCTIONS:
        guide.cell(row=row, column=1, value=column_name).font = header_font
        guide.cell(row=row, column=2, value=explanation).alignment = wrap
        row += 1
    row += 1
    guide.cell(row=row, column=1, value="Zasady").font = header_font
    row += 1
    for rule in _rules(max_projects):
        guide.cell(row=row, column=2, value=f"• {rule}").alignment = wrap
        row += 1

    wb.active = 0
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- client

CLIENT_HEADERS = frozenset({"klient", "nazwa klienta", "klient nazwa", "client", "client name", "nazwa firmy klienta"})


def client_name_of(rows: list[ProjectRow]) -> str:
    """The client a workbook is about, from an extra column named like "Klient" or "Nazwa
    klienta": the value most rows give (ties: the first seen), or "" without such a column."""
    counts: dict[str, int] = {}
    for row in rows:
        for header, value in row.extra:
            if _header_key(header, drop_suffix=True) in CLIENT_HEADERS and value.strip():
                name = " ".join(value.split())[:255]
                counts[name] = counts.get(name, 0) + 1
                break
    return max(counts, key=counts.get) if counts else ""
