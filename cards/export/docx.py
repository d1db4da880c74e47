"""Word (.docx) export of karty projektów B+R.

Pure: no Django, no settings, no database. Callers build :class:`CardDoc` /
:class:`BatchDoc` values and get ``.docx`` bytes back from :func:`render_batch`
or :func:`render_card`.

Section bodies are the editor's (Trix) sanitized HTML, converted to Word
paragraphs and runs with :mod:`html.parser` (never regex). Plain text without
any tags is accepted too. Every string that reaches the document goes through
:func:`safe_text`, so control characters from Excel or a model can never make
python-docx/lxml raise ``ValueError`` or produce an invalid file.
"""

from __future__ import annotations

import copy
import datetime
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT, WD_TAB_LEADER
from docx.oxml import OxmlElement
from docx.oxml.ns import nsmap, qn
from docx.oxml.parser import oxml_parser as _PARSER
from docx.shared import Cm, Pt, RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run

__all__ = ["BatchDoc", "CardDoc", "render_batch", "render_card", "safe_text"]


@dataclass(frozen=True)
class CardDoc:
    title: str  # project name
    start_date: datetime.date
    end_date: datetime.date
    responsible_person: str
    # (Polish heading, sanitized HTML body[, section key]), in order. The key only matters for
    # the schedule ("harmonogram"), whose dated stages become a table.
    sections: tuple[tuple[str, str] | tuple[str, str, str], ...]
    note: str = ""  # shown under the title in italics when non-empty
    row_number: int | None = None  # spreadsheet row, "Wiersz w arkuszu" when given


@dataclass(frozen=True)
class BatchDoc:
    name: str
    created: datetime.date
    cards: tuple[CardDoc, ...]
    client: str = ""  # the client's name, on the title page when known


# --------------------------------------------------------------------------- text

FONT = "Calibri"
MONO_FONT = "Courier New"
LANGUAGE = "pl-PL"
SUBTITLE = "Karty projektów B+R"
EMPTY_BODY = "(brak treści)"
TOC_HEADING = "Spis treści"
SCHEDULE_KEY = "harmonogram"
SCHEDULE_COLUMNS = ("Etap", "Od", "Do")
LABEL_FILL = "F2F2F2"
TEXT_WIDTH = Cm(16.0)  # A4 width minus 2 × 2.5 cm margins

_TRANSLATION: dict[int, str | None] = {}
# C0 controls (except \t \n), DEL, C1 controls: not text, and C0 is illegal in XML 1.0.
for _cp in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]:
    _TRANSLATION[_cp] = None
_TRANSLATION.update({0x09: "\t", 0x0A: "\n", 0x0B: "\n", 0x0C: "\n", 0x0D: "\n", 0x85: "\n"})
for _cp in range(0xD800, 0xE000):  # lone surrogates cannot be encoded as UTF-8
    _TRANSLATION[_cp] = None
_TRANSLATION.update({0xFFFE: None, 0xFFFF: None})
# Zero-width characters and the BOM: invisible, only confuse search and spell-check.
_TRANSLATION.update({0x200B: None, 0x2060: None, 0xFEFF: None})
# Unicode line/paragraph separators.
_TRANSLATION.update({0x2028: "\n", 0x2029: "\n\n"})
# Odd spaces become a plain space.
for _cp in [0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000]:
    _TRANSLATION[_cp] = " "
del _cp

_SPACES = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def safe_text(value: object, *, single_line: bool = False) -> str:
    """Text that is always legal in a .docx and free of odd whitespace.

    Removes XML-illegal characters (C0/C1 controls except tab and newline, DEL,
    lone surrogates, U+FFFE/U+FFFF) and zero-width spaces; turns ``\\r\\n``, ``\\r``,
    U+2028/U+2029 into newlines and non-breaking/odd spaces into plain spaces.
    With ``single_line`` all whitespace (newlines, tabs) collapses to single
    spaces and the result is stripped — for titles, headings and metadata.
    ``None`` gives ``""``; other non-strings are converted with ``str``.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    value = value.replace("\r\n", "\n").translate(_TRANSLATION)
    if single_line:
        value = _SPACES.sub(" ", value).strip()
    return value


def format_date(value: datetime.date | None) -> str:
    """DD.MM.RRRR, or an em dash when there is no date."""
    if value is None:
        return "—"
    return f"{value.day:02d}.{value.month:02d}.{value.year:04d}"


# --------------------------------------------------------------------------- HTML

_BLOCK_TAGS = frozenset(
    {
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "li", "ul", "ol",
        "table", "thead", "tbody", "tr", "td", "th", "section", "article", "header", "footer",
        "main", "nav", "aside", "figure", "figcaption", "address", "dl", "dt", "dd", "hr",
    }
)  # fmt: skip
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LIST_TAGS = frozenset({"ul", "ol"})
_SKIP_TAGS = frozenset({"script", "style", "template", "head", "title", "noscript"})
_VOID_TAGS = frozenset(
    {"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area", "base", "embed", "source", "track", "param"}
)
_INLINE_FORMATS = {
    "strong": "bold", "b": "bold",
    "em": "italic", "i": "italic", "cite": "italic",
    "u": "underline", "ins": "underline",
    "del": "strike", "s": "strike", "strike": "strike",
    "code": "mono", "tt": "mono", "kbd": "mono", "samp": "mono",
}  # fmt: skip

_BR = None  # marker for a line break in a paragraph buffer


class _EventParser(HTMLParser):
    """Flattens HTML into ("start", tag, attrs) / ("end", tag) / ("data", text) events."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []
        self.has_tags = False

    def handle_starttag(self, tag, attrs):
        self.has_tags = True
        self.events.append(("start", tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        self.has_tags = True
        self.events.append(("end", tag))

    def handle_data(self, data):
        self.events.append(("data", data))


class _Block:
    __slots__ = ("tag", "num_id", "emitted")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.num_id: int | None = None  # <ol>: its own w:num so numbering restarts at 1
        self.emitted = False  # <li>: first paragraph is the item, later ones continue it


class _Builder:
    """Fast paragraph creation for one document; styles are looked up once by name."""

    def __init__(self, document) -> None:
        self._document = document
        self._cache: dict[str, object] = {}
        self._abstract_ids: dict[str, str | None] = {}
        self._body = document._body
        self._sect_pr = document.element.body.sectPr

    def __getitem__(self, name: str):
        style = self._cache.get(name)
        if style is None:
            style = self._cache[name] = self._document.styles[name]
        return style

    def paragraph(self, name: str | None = None, num_id: int | None = None) -> Paragraph:
        """A new body paragraph (before the final sectPr) in the named style (None: Normal).

        Built directly: python-docx's ``Paragraph.style`` setter searches all styles for
        the default one on every call and ``add_paragraph`` scans the whole body for the
        sectPr, which together made a 20-card batch take seconds. ``num_id`` puts the
        paragraph in that numbering instance (level 0).
        """
        p = _element("p")
        if name is not None:
            ppr = _element("pPr")
            style = _element("pStyle")
            style.set(_W_VAL, self[name].style_id)
            ppr.append(style)
            if num_id is not None:  # pPr order: pStyle, ..., numPr
                num_pr = _element("numPr")
                for tag, value in (("ilvl", 0), ("numId", num_id)):
                    child = _element(tag)
                    child.set(_W_VAL, str(value))
                    num_pr.append(child)
                ppr.append(num_pr)
            p.append(ppr)
        if self._sect_pr is not None:
            self._sect_pr.addprevious(p)
        else:
            self._body._element.append(p)
        return Paragraph(p, self._body)

    def restarted_num_id(self, style_name: str) -> int | None:
        """A new w:num for the list style's numbering, starting again at 1."""
        if style_name not in self._abstract_ids:
            self._abstract_ids[style_name] = None
            style_num = self[style_name].element.xpath("./w:pPr/w:numPr/w:numId/@w:val")
            if style_num:
                numbering = self._document.part.numbering_part.element
                abstract = numbering.xpath(f'./w:num[@w:numId="{style_num[0]}"]/w:abstractNumId/@w:val')
                if abstract:
                    self._abstract_ids[style_name] = abstract[0]
        abstract_id = self._abstract_ids[style_name]
        if abstract_id is None:
            return None
        num = self._document.part.numbering_part.element.add_num(int(abstract_id))
        num.add_lvlOverride(ilvl=0).add_startOverride(1)
        return num.numId


_NO_FORMAT: frozenset[str] = frozenset()
_TAB_OR_NEWLINE = re.compile(r"(\t|\n)")
_XML_SPACE = qn("xml:space")
_W_VAL = qn("w:val")
_RFONT_ATTRS = tuple(qn(f"w:{a}") for a in ("ascii", "hAnsi", "eastAsia", "cs"))


def _element(tag: str):
    """A bare w: element; python-docx's OxmlElement resolves the namespace map on every call."""
    return _PARSER.makeelement(_CLARK[tag], nsmap=_W_NSMAP)


_CLARK = {tag: qn(f"w:{tag}") for tag in "p pPr pStyle numPr ilvl numId r t tab br rPr rFonts b i strike u".split()}
_W_NSMAP = {"w": nsmap["w"]}


def _add_run(paragraph: Paragraph, text: str, fmt: frozenset[str] = _NO_FORMAT) -> Run:
    """Append a run with cleaned text (tabs and newlines as w:tab / w:br) and formatting.

    Builds the w:r directly: python-docx's ``Run.text`` setter works character by
    character and its ``bold``/``italic`` setters search ~30 sibling tags for the
    insertion point, which together made a 20-card batch several times slower.
    """
    r = _element("r")
    if fmt:
        # Children in the schema's order: rFonts, b, i, strike, u.
        rpr = _element("rPr")
        if "mono" in fmt:
            rfonts = _element("rFonts")
            for attr in _RFONT_ATTRS:
                rfonts.set(attr, MONO_FONT)
            rpr.append(rfonts)
        for key, tag in (("bold", "b"), ("italic", "i"), ("strike", "strike"), ("underline", "u")):
            if key in fmt:
                child = _element(tag)
                if tag == "u":
                    child.set(_W_VAL, "single")
                rpr.append(child)
        r.append(rpr)
    for part in _TAB_OR_NEWLINE.split(safe_text(text)):
        if part == "\t":
            r.append(_element("tab"))
        elif part == "\n":
            r.append(_element("br"))
        elif part:
            t = _element("t")
            t.text = part
            if part[0] == " " or part[-1] == " ":
                t.set(_XML_SPACE, "preserve")
            r.append(t)
    paragraph._p.append(r)
    return Run(r, paragraph)


class _BodyWriter:
    """Writes one section body (sanitized HTML or plain text) as paragraphs."""

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.stack: list[_Block] = []
        self.formats: dict[str, int] = {}
        self.links: list[tuple[str, list[str]]] = []
        self.skip_depth = 0
        self.buffer: list[tuple[str, frozenset[str]] | None] = []
        self.at_line_start = True
        self.paragraphs = 0

    # -- entry points
    def write(self, body: str) -> int:
        """Write the body; returns the number of paragraphs added."""
        text = safe_text(body)
        parser = _EventParser()
        parser.feed(text)
        parser.close()
        if not parser.has_tags:
            self._write_plain("".join(e[1] for e in parser.events if e[0] == "data"))
        else:
            for event in parser.events:
                if event[0] == "data":
                    self._data(event[1])
                elif event[0] == "start":
                    self._start(event[1], event[2])
                else:
                    self._end(event[1])
            self._flush()
        return self.paragraphs

    def _write_plain(self, text: str) -> None:
        """Plain text: blank lines separate paragraphs, single newlines are line breaks."""
        for block in _BLANK_LINE.split(safe_text(text)):
            lines = [line.strip() for line in block.split("\n")]
            lines = [line for line in lines if line]
            if not lines:
                continue
            _add_run(self.builder.paragraph(), "\n".join(lines))
            self.paragraphs += 1

    # -- events
    def _start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
            return
        if tag == "br":
            self._line_break()
            return
        if tag in _INLINE_FORMATS:
            key = _INLINE_FORMATS[tag]
            self.formats[key] = self.formats.get(key, 0) + 1
            return
        if tag == "a":
            href = next((v for k, v in attrs if k == "href" and v), "")
            self.links.append((safe_text(href, single_line=True), []))
            return
        if tag not in _BLOCK_TAGS:
            return  # unknown inline tag: ignored, its text is kept
        self._flush()
        if tag == "hr":
            return
        if tag == "li":
            # An unclosed <li> ends where the next one starts.
            list_index = self._innermost(_LIST_TAGS)
            if list_index is not None:
                del self.stack[list_index + 1 :]
        elif tag == "p" and self.stack and self.stack[-1].tag == "p":
            self.stack.pop()
        self.stack.append(_Block(tag))

    def _end(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag in _INLINE_FORMATS:
            key = _INLINE_FORMATS[tag]
            if self.formats.get(key):
                self.formats[key] -= 1
            return
        if tag == "a":
            if self.links:
                href, texts = self.links.pop()
                label = " ".join("".join(texts).split())
                if href and not href.startswith("#") and href not in (label, f"mailto:{label}"):
                    self._data(f" ({href})" if label else href)
            return
        if tag not in _BLOCK_TAGS:
            return
        self._flush()
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                break

    def _data(self, text: str) -> None:
        if self.skip_depth or not text:
            return
        for _href, texts in self.links:
            texts.append(text)
        fmt = frozenset(k for k, v in self.formats.items() if v)
        if self._innermost({"pre"}) is not None:
            lines = text.split("\n")
            for i, line in enumerate(lines):
                if i:
                    self._line_break()
                if line:
                    self.buffer.append((line, fmt))
                    self.at_line_start = False
            return
        text = _SPACES.sub(" ", text)
        if self.at_line_start:
            text = text.lstrip()
        if not text:
            return
        self.buffer.append((text, fmt))
        self.at_line_start = text.endswith(" ")

    def _line_break(self) -> None:
        if self.skip_depth:
            return
        self._rstrip_buffer()
        self.buffer.append(_BR)
        self.at_line_start = True

    # -- output
    def _innermost(self, tags: Iterable[str]) -> int | None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index].tag in tags:
                return index
        return None

    def _rstrip_buffer(self) -> None:
        while self.buffer and self.buffer[-1] is not _BR:
            text, fmt = self.buffer[-1]
            if self._innermost({"pre"}) is None:
                text = text.rstrip(" ")
            if text:
                self.buffer[-1] = (text, fmt)
                return
            self.buffer.pop()

    def _flush(self) -> None:
        self._rstrip_buffer()
        items, self.buffer, self.at_line_start = self.buffer, [], True
        # One <br> is a line break; two or more in a row (Trix's empty line) end the paragraph.
        segments: list[list] = [[]]
        breaks = 0
        for item in items:
            if item is _BR:
                breaks += 1
                continue
            if breaks and segments[-1]:
                if breaks >= 2:
                    segments.append([])
                else:
                    segments[-1].append(_BR)
            breaks = 0
            segments[-1].append(item)
        for segment in segments:
            if segment:
                self._emit(segment)

    def _paragraph_style(self):
        """(style name or None, numId or None) for the current block context."""
        li_index = self._innermost({"li"})
        if li_index is not None:
            lists = [b for b in self.stack[:li_index] if b.tag in _LIST_TAGS]
            level = min(max(len(lists), 1), 3)
            suffix = "" if level == 1 else f" {level}"
            li = self.stack[li_index]
            if li.emitted:
                return "List Continue" + suffix, None
            li.emitted = True
            list_block = lists[-1] if lists else None
            if list_block is not None and list_block.tag == "ol":
                name = "List Number" + suffix
                if list_block.num_id is None:
                    list_block.num_id = self.builder.restarted_num_id(name)
                return name, list_block.num_id
            return "List Bullet" + suffix, None
        if self._innermost({"blockquote"}) is not None:
            return "Quote", None
        return None, None

    def _emit(self, segment: list) -> None:
        style, num_id = self._paragraph_style()
        extra = set()
        if self._innermost(_HEADING_TAGS) is not None:
            extra.add("bold")  # h1 in a body: bold paragraph, not a document heading
        if self._innermost({"pre"}) is not None:
            extra.add("mono")
        paragraph = self.builder.paragraph(style, num_id)
        run = None
        for item in segment:
            if item is _BR:
                (run or _add_run(paragraph, "")).add_break()
                continue
            text, fmt = item
            run = _add_run(paragraph, text, fmt | extra if extra else fmt)
        self.paragraphs += 1


# --------------------------------------------------------------------------- schedule

# A date as models and consultants write it: 01.02.2024, 1.2.2024 r., 2024-02-01, or a month
# (02.2024, 2024-02). Full dates are tried first so "2024-02-01" is not read as "2024-02".
_DATE = (
    r"(?:(?P<{p}d>\d{{1,2}})\.(?P<{p}m>\d{{1,2}})\.(?P<{p}y>\d{{4}})"
    r"|(?P<{p}iy>\d{{4}})-(?P<{p}im>\d{{1,2}})-(?P<{p}id>\d{{1,2}})"
    r"|(?P<{p}mm>\d{{1,2}})[./](?P<{p}my>\d{{4}})"
    r"|(?P<{p}iym>\d{{4}})-(?P<{p}imm>\d{{1,2}}))(?!\d)(?:\s*r\.)?"
)
_RANGE = re.compile(
    r"(?<![\d.\-])(?:od\s+)?" + _DATE.format(p="a") + r"\s*(?:–|—|−|-|do|\.\.\.?|…)\s*" + _DATE.format(p="b"),
    re.IGNORECASE,
)
_BULLET_PREFIX = re.compile(r"^\s*[-–—•*·]\s+")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
_EDGE_PUNCTUATION = " \t:;,–—-"


def _range_date(match: re.Match, p: str) -> str | None:
    """The match's date (prefix ``p``) as DD.MM.RRRR or MM.RRRR; None when it is not a real date."""
    group = match.groupdict()
    if group[f"{p}d"] is not None:
        day, month, year = group[f"{p}d"], group[f"{p}m"], group[f"{p}y"]
    elif group[f"{p}iy"] is not None:
        day, month, year = group[f"{p}id"], group[f"{p}im"], group[f"{p}iy"]
    else:
        day = None
        month = group[f"{p}mm"] or group[f"{p}imm"]
        year = group[f"{p}my"] or group[f"{p}iym"]
    try:
        value = datetime.date(int(year), int(month), int(day or 1))
    except ValueError:
        return None
    if day is None:
        return f"{value.month:02d}.{value.year:04d}"
    return format_date(value)


def _schedule_stage(line: str) -> tuple[str, str, str] | None:
    """(stage, from, to) when the line names a stage with a date range, else None."""
    match = _RANGE.search(line)
    if match is None:
        return None
    start, end = _range_date(match, "a"), _range_date(match, "b")
    if start is None or end is None:
        return None
    name = line[: match.start()] + " " + line[match.end() :]
    name = _BULLET_PREFIX.sub("", _EMPTY_BRACKETS.sub(" ", name))
    name = " ".join(name.split()).strip(_EDGE_PUNCTUATION)
    return name, start, end


def _plain_lines(body: str) -> list[str]:
    """The body's text, one entry per line (block elements and <br> end a line)."""
    parser = _EventParser()
    parser.feed(safe_text(body))
    parser.close()
    if not parser.has_tags:
        return [" ".join(line.split()) for line in safe_text(body).split("\n") if line.strip()]
    lines: list[str] = []
    current: list[str] = []
    skip = 0

    def end_line() -> None:
        text = " ".join("".join(current).split())
        if text:
            lines.append(text)
        current.clear()

    for event in parser.events:
        kind, tag = event[0], event[1]
        if kind == "data":
            if not skip:
                current.append(tag)
        elif tag in _SKIP_TAGS:
            skip = skip + 1 if kind == "start" else max(0, skip - 1)
        elif tag == "br" or tag in _BLOCK_TAGS:
            end_line()
    end_line()
    return lines


def schedule_rows(body: str) -> tuple[list[str], list[tuple[str, str, str, list[str]]], list[str]] | None:
    """The schedule split into (lines before, stages, lines after), or None without dated stages.

    A stage is a line with a date range; lines between two stages describe the stage
    above them (kept in its cell). Fewer than two stages is not a schedule worth a table.
    """
    lines = _plain_lines(body)
    before: list[str] = []
    stages: list[tuple[str, str, str, list[str]]] = []
    pending: list[str] = []  # lines after the latest stage: its description or the closing text
    for line in lines:
        stage = _schedule_stage(line)
        if stage is None:
            (pending if stages else before).append(line)
            continue
        if stages:
            stages[-1][3].extend(pending)
            pending = []
        stages.append((*stage, []))
    if len(stages) < 2:
        return None
    return before, stages, pending


def _shade(cell) -> None:
    """A light grey background for a label or header cell."""
    shd = OxmlElement("w:shd")
    shd.set(_W_VAL, "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), LABEL_FILL)
    cell._tc.get_or_add_tcPr().append(shd)


def _write_schedule(document, builder: _Builder, body: str) -> bool:
    """The schedule as a table "Etap | Od | Do"; False (nothing written) when it has no dated stages."""
    parsed = schedule_rows(body)
    if parsed is None:
        return False
    before, stages, after = parsed
    for line in before:
        _add_run(builder.paragraph(), line)
    widths = (Cm(10.0), Cm(3.0), Cm(3.0))
    table = document.add_table(rows=1, cols=3)
    table.style = builder["Table Grid"]
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    header = table.rows[0]
    # Repeated at the top of each page when a long schedule breaks across pages.
    header._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    for cell, label, width in zip(header.cells, SCHEDULE_COLUMNS, widths, strict=True):
        cell.width = width
        _shade(cell)
        _add_run(cell.paragraphs[0], label, frozenset({"bold"}))
    for number, (name, start, end, notes) in enumerate(stages, start=1):
        cells = table.add_row().cells
        for cell, value, width in zip(cells, (name or f"Etap {number}", start, end), widths, strict=True):
            cell.width = width
            _add_run(cell.paragraphs[0], value)
        for note in notes:
            _add_run(cells[0].add_paragraph(), note)
    for line in after:
        _add_run(builder.paragraph(), line)
    return True


# --------------------------------------------------------------------------- document


def _set_fonts(rpr, name: str) -> None:
    """All four rFonts slots (python-docx sets only ascii/hAnsi); theme fonts removed."""
    rfonts = rpr.get_or_add_rFonts()
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        rfonts.set(qn(attr), name)


def _set_language(rpr, language: str) -> None:
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.insert_element_before(lang, "w:eastAsianLayout", "w:specVanish", "w:oMath")
    lang.set(qn("w:val"), language)


def _setup_document(header_text: str, title: str, created: datetime.date | None, *, title_page: bool):
    document = Document()

    # Fonts and language: Calibri carries all Polish letters; pl-PL for spell-check.
    styles_element = document.styles.element
    default_rpr = styles_element.find(qn("w:docDefaults") + "/" + qn("w:rPrDefault") + "/" + qn("w:rPr"))
    if default_rpr is not None:
        _set_fonts(default_rpr, FONT)
        _set_language(default_rpr, LANGUAGE)
    for name in ("Normal", "Heading 1", "Heading 2", "Title", "Subtitle", "Quote", "Header", "Footer"):
        rpr = document.styles[name].element.get_or_add_rPr()
        _set_fonts(rpr, FONT)
        if name == "Normal":
            _set_language(rpr, LANGUAGE)
    document.styles["Normal"].font.size = Pt(11)

    # A4 with 2.5 cm margins.
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.top_margin = section.bottom_margin = Cm(2.5)
    section.left_margin = section.right_margin = Cm(2.5)
    section.header_distance = section.footer_distance = Cm(1.25)
    if title_page:  # the title page gets an empty header and footer of its own
        section.different_first_page_header_footer = True
        section.first_page_header.is_linked_to_previous = False
        section.first_page_footer.is_linked_to_previous = False

    header = section.header.paragraphs[0]
    header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    run = _add_run(header, safe_text(header_text, single_line=True))
    run.font.size = Pt(9)
    run.font.color.rgb = RGBColor(0x59, 0x59, 0x59)

    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for part in ("Strona ", "PAGE", " z ", "NUMPAGES"):
        if part.isupper():
            _add_field(footer, part)
        else:
            footer.add_run(part)
    for run in footer.runs:
        run.font.size = Pt(9)

    props = document.core_properties
    props.title = safe_text(title, single_line=True)[:255]
    props.subject = SUBTITLE
    props.author = "RnD Cards"
    props.last_modified_by = "RnD Cards"
    props.comments = ""
    props.keywords = "B+R"
    props.language = LANGUAGE
    props.revision = 1
    stamp = (
        datetime.datetime.combine(created, datetime.time())
        if created is not None
        else datetime.datetime.now(datetime.UTC).replace(microsecond=0, tzinfo=None)
    )
    props.created = props.modified = stamp
    return document


def _field(parent, instruction: str, result: str = "1", *, rpr=None) -> None:
    """Append a complex field (PAGE, NUMPAGES, PAGEREF, TOC...) to a w:p or w:hyperlink.

    ``result`` is the cached value shown until Word or LibreOffice updates the field
    (None: begin/instruction/separate only — the caller writes the result and the end).
    ``rpr`` (a w:rPr) is copied into every run so the field looks like its text.
    """

    def run(child) -> None:
        r = _element("r")
        if rpr is not None:
            r.append(copy.deepcopy(rpr))
        r.append(child)
        parent.append(r)

    def char(kind: str) -> None:
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        run(element)

    char("begin")
    instr = OxmlElement("w:instrText")
    instr.set(_XML_SPACE, "preserve")
    instr.text = f" {instruction} "
    run(instr)
    char("separate")
    if result is None:
        return
    if result:
        t = _element("t")
        t.text = result
        run(t)
    char("end")


def _field_end(parent) -> None:
    r = _element("r")
    element = OxmlElement("w:fldChar")
    element.set(qn("w:fldCharType"), "end")
    r.append(element)
    parent.append(r)


def _add_field(paragraph, instruction: str) -> None:
    """A complex field (PAGE, NUMPAGES) Word and LibreOffice update on render."""
    _field(paragraph._p, instruction)


def _bookmark(paragraph: Paragraph, bookmark_id: int, name: str) -> None:
    """Wrap the paragraph's content in a bookmark (a TOC entry's hyperlink and PAGEREF target)."""
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), str(bookmark_id))
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), str(bookmark_id))
    p = paragraph._p
    p.insert(1 if p.pPr is not None else 0, start)
    p.append(end)


def _toc_bookmark(index: int) -> str:
    # Word's own TOC bookmarks are hidden ones named _Toc<digits>; at most 40 characters.
    return f"_Toc{index:09d}"


def _add_toc_styles(document) -> None:
    """ "TOC Heading" and "toc 1" (Word's built-in names) with a dotted right tab for page numbers."""
    styles = document.styles
    names = {s.name for s in styles}
    if "toc 1" not in names:
        style = styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH)
        style.element.set(qn("w:styleId"), "TOC1")
        style.base_style = styles["Normal"]
        style.next_paragraph_style = styles["Normal"]
        style.paragraph_format.space_after = Pt(4)
        # A built-in style: Word shows it as "Spis treści 1" and uses it when it rebuilds the TOC.
        ui_priority = OxmlElement("w:uiPriority")
        ui_priority.set(_W_VAL, "39")
        style.element.append(ui_priority)
    style = styles["toc 1"]
    style.paragraph_format.tab_stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT, WD_TAB_LEADER.DOTS)
    _set_fonts(style.element.get_or_add_rPr(), FONT)
    _set_fonts(styles["TOC Heading"].element.get_or_add_rPr(), FONT)


def _write_toc(builder: _Builder, cards: tuple[CardDoc, ...]) -> None:
    """ "Spis treści" on its own page: a TOC field over Heading 1 that Word rebuilds on open.

    Page numbers need a layout, which only Word or LibreOffice has, so the field's cached
    result lists every project linked to its heading, without numbers: that is what a
    reader sees until the field is updated (LibreOffice shows the cached result as is;
    stale or made-up page numbers would be worse than none). Word updates the field
    when it opens the file (``w:updateFields``) and adds the numbers.
    """
    heading = builder.paragraph("TOC Heading")
    heading.paragraph_format.page_break_before = True
    _add_run(heading, TOC_HEADING)
    last = len(cards) - 1
    for index, card in enumerate(cards):
        paragraph = builder.paragraph("toc 1")
        p = paragraph._p
        if index == 0:
            # One level: a line per project (a 20-card batch has 160 section headings).
            _field(p, r'TOC \o "1-1" \h \z \u', None)
        link = OxmlElement("w:hyperlink")
        link.set(qn("w:anchor"), _toc_bookmark(index + 1))
        link.set(qn("w:history"), "1")
        p.append(link)
        _add_run(paragraph, _card_title(card))
        link.append(p[-1])  # the run just added moves into the hyperlink
        if index == last:
            _field_end(p)


def _enable_update_fields(document) -> None:
    """Ask Word to update all fields (the TOC above all) when it opens the document."""
    settings = document.settings.element
    element = settings.find(qn("w:updateFields"))
    if element is None:
        element = OxmlElement("w:updateFields")
        # Schema order: updateFields comes right before these (when present).
        following = ("w:hdrShapeDefaults", "w:footnotePr", "w:endnotePr", "w:compat", "w:docVars", "w:rsids")
        for tag in following:
            anchor = settings.find(qn(tag))
            if anchor is not None:
                anchor.addprevious(element)
                break
        else:
            settings.append(element)
    element.set(_W_VAL, "true")
    theme_lang = settings.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(_W_VAL, LANGUAGE)


def _write_title_page(builder: _Builder, doc: BatchDoc) -> None:
    title = builder.paragraph("Title")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.space_before = Cm(6)
    _add_run(title, safe_text(doc.name, single_line=True) or SUBTITLE)
    subtitle = builder.paragraph("Subtitle")
    subtitle.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _add_run(subtitle, SUBTITLE)
    lines = [f"Data utworzenia: {format_date(doc.created)}", f"Liczba projektów: {len(doc.cards)}"]
    client = safe_text(doc.client, single_line=True)
    if client:
        lines.insert(0, f"Klient: {client}")
    for text in lines:
        paragraph = builder.paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _add_run(paragraph, text).font.size = Pt(12)


def _metadata_rows(card: CardDoc) -> list[tuple[str, str]]:
    rows = [
        ("Okres realizacji", f"{format_date(card.start_date)} – {format_date(card.end_date)}"),
        ("Data rozpoczęcia", format_date(card.start_date)),
        ("Data zakończenia", format_date(card.end_date)),
        ("Osoba odpowiedzialna", safe_text(card.responsible_person, single_line=True) or "—"),
    ]
    if card.row_number is not None:
        rows.append(("Wiersz w arkuszu", safe_text(card.row_number, single_line=True)))
    return rows


def _card_title(card: CardDoc) -> str:
    return safe_text(card.title, single_line=True) or "(bez nazwy)"


def _write_card(
    document, builder: _Builder, card: CardDoc, *, page_break: bool, bookmark: tuple[int, str] | None = None
) -> None:
    heading = builder.paragraph("Heading 1")
    if page_break:
        heading.paragraph_format.page_break_before = True
    _add_run(heading, _card_title(card))
    if bookmark is not None:
        _bookmark(heading, *bookmark)

    note = safe_text(card.note, single_line=True)
    if note:
        _add_run(builder.paragraph(), note, frozenset({"italic"}))

    table = document.add_table(rows=0, cols=2)
    table.style = builder["Table Grid"]
    table.autofit = False
    for column, width in zip(table.columns, (Cm(5.0), Cm(11.0)), strict=True):
        column.width = width
    for label, value in _metadata_rows(card):
        cells = table.add_row().cells
        cells[0].width, cells[1].width = Cm(5.0), Cm(11.0)
        _shade(cells[0])
        _add_run(cells[0].paragraphs[0], label, frozenset({"bold"}))
        _add_run(cells[1].paragraphs[0], value)

    for index, section in enumerate(card.sections, start=1):
        section_heading, body = section[0], section[1] or ""
        key = section[2] if len(section) > 2 else ""
        _add_run(builder.paragraph("Heading 2"), safe_text(section_heading, single_line=True) or f"Sekcja {index}")
        if key == SCHEDULE_KEY and _write_schedule(document, builder, body):
            continue
        if not _BodyWriter(builder).write(body):
            empty = _add_run(builder.paragraph(), EMPTY_BODY, frozenset({"italic"}))
            empty.font.color.rgb = RGBColor(0x80, 0x80, 0x80)


def _to_bytes(document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def render_batch(doc: BatchDoc) -> bytes:
    """The batch as .docx: title page, table of contents, then every card from a new page."""
    name = safe_text(doc.name, single_line=True) or SUBTITLE
    document = _setup_document(name, name, doc.created, title_page=True)
    builder = _Builder(document)
    _write_title_page(builder, doc)
    if doc.cards:
        _add_toc_styles(document)
        _enable_update_fields(document)
        _write_toc(builder, doc.cards)
    for index, card in enumerate(doc.cards, start=1):
        _write_card(document, builder, card, page_break=True, bookmark=(index, _toc_bookmark(index)))
    return _to_bytes(document)


def render_card(card: CardDoc, *, batch_name: str = "") -> bytes:
    """One card as .docx (no title page); header shows the batch name, else the project name."""
    title = _card_title(card)
    header = safe_text(batch_name, single_line=True) or title
    document = _setup_document(header, title, None, title_page=False)
    _write_card(document, _Builder(document), card, page_break=False)
    return _to_bytes(document)
