"""Excel (.xlsx) export of a batch's cards: one row per project, one column per section.

Pure: no Django, no settings, no database. Takes the same :class:`BatchDoc` the Word export
takes and returns ``.xlsx`` bytes from :func:`render_batch`.

Spreadsheet programs run formulas, so no text from a user or a model may become one: every
text cell is written as a string, and one that starts like a formula (``=``, ``+``, ``-``,
``@``; tabs and carriage returns are normalised away first) also gets Excel's quote prefix, the same mark a leading
apostrophe leaves, so it stays text when someone edits the cell. The text itself is kept
unchanged (no visible apostrophe).
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from cards.export.docx import BatchDoc, CardDoc, safe_text
from cards.sanitize import html_to_text
from cards.sections import SECTION_HEADINGS, SECTION_KEYS

__all__ = ["FORMULA_PREFIXES", "MAX_CELL_CHARS", "render_batch"]

SHEET_TITLE = "Karty projektów B+R"
INPUT_COLUMNS = (
    ("Wiersz w arkuszu", 10),
    ("Nazwa projektu", 40),
    ("Data rozpoczęcia", 14),
    ("Data zakończenia", 14),
    ("Osoba odpowiedzialna", 24),
)
SECTION_WIDTH = 60
DATE_FORMAT = "DD.MM.YYYY"
FORMULA_PREFIXES = ("=", "+", "-", "@")
# Excel's limit is 32,767 characters (UTF-16 code units) per cell; longer text makes it
# "repair" the file. The Word export always has the full text.
MAX_CELL_CHARS = 32_767
TRUNCATED = " […] (tekst skrócony — pełna treść w eksporcie do Word)"

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="F2F2F2")
_WRAP = Alignment(wrap_text=True, vertical="top")


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str) -> str:
    """The text cut to what one Excel cell holds, marked when it had to be cut."""
    if _utf16_length(text) <= MAX_CELL_CHARS:
        return text
    room = MAX_CELL_CHARS - len(TRUNCATED)
    text = text[:room]
    while _utf16_length(text) > room:  # characters outside the BMP take two units
        text = text[: -max(1, (_utf16_length(text) - room) // 2)]
    return text + TRUNCATED


def _text_cell(sheet, value: object, *, style: dict | None = None) -> WriteOnlyCell:
    text = _fit(safe_text(value).replace("\t", " ").strip("\n"))
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # never "f", whatever the text starts with
    if text.startswith(FORMULA_PREFIXES):
        cell.quotePrefix = True
    for name, attr in (style or {}).items():
        setattr(cell, name, attr)
    return cell


def _section_columns(cards: tuple[CardDoc, ...]) -> list[tuple[str, str]]:
    """(key, heading) per column: the eight fixed sections, then any other heading seen."""
    columns = [(key, SECTION_HEADINGS[key]) for key in SECTION_KEYS]
    known = {heading for _key, heading in columns}
    for card in cards:
        for section in card.sections:
            key = section[2] if len(section) > 2 else ""
            heading = safe_text(section[0], single_line=True)
            if key not in SECTION_HEADINGS and heading not in known:
                known.add(heading)
                columns.append(("", heading))
    return columns


def _section_texts(card: CardDoc) -> dict[str, str]:
    """Plain text per column heading (sections without a key are matched by heading)."""
    texts = {}
    for section in card.sections:
        key = section[2] if len(section) > 2 else ""
        heading = SECTION_HEADINGS.get(key) or safe_text(section[0], single_line=True)
        texts[heading] = html_to_text(safe_text(section[1] or ""))
    return texts


def render_batch(doc: BatchDoc) -> bytes:
    """The batch as .xlsx: a frozen Polish header row, then a row per project."""
    workbook = Workbook(write_only=True)
    workbook.properties.title = safe_text(doc.name, single_line=True)[:255]
    workbook.properties.creator = "RnD Cards"
    workbook.properties.language = "pl-PL"
    sheet = workbook.create_sheet(SHEET_TITLE)

    columns = _section_columns(doc.cards)
    widths = [width for _label, width in INPUT_COLUMNS] + [SECTION_WIDTH] * len(columns)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "C2"  # the header row and the row number + name stay in view
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(widths))}{len(doc.cards) + 1}"

    header_style = {"font": _HEADER_FONT, "fill": _HEADER_FILL, "alignment": _WRAP}
    labels = [label for label, _width in INPUT_COLUMNS] + [heading for _key, heading in columns]
    sheet.append([_text_cell(sheet, label, style=header_style) for label in labels])

    for card in doc.cards:
        texts = _section_texts(card)
        row = [
            WriteOnlyCell(sheet, value=card.row_number),
            _text_cell(sheet, safe_text(card.title, single_line=True), style={"alignment": _WRAP}),
        ]
        for value in (card.start_date, card.end_date):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = DATE_FORMAT
            cell.alignment = _WRAP
            row.append(cell)
        row.append(_text_cell(sheet, safe_text(card.responsible_person, single_line=True), style={"alignment": _WRAP}))
        row += [_text_cell(sheet, texts.get(heading, ""), style={"alignment": _WRAP}) for _key, heading in columns]
        sheet.append(row)

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
