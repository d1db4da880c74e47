"""Word export of karty projektów B+R: read the produced .docx back with python-docx.

Pure tests: no database, no Django settings needed.
Timing for a 20-card batch: ``.venv/bin/python -m cards.tests.test_export_docx``.
"""

from __future__ import annotations

import datetime
import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pytest
from docx.shared import Cm

from cards.export.docx import BatchDoc, CardDoc, render_batch, render_card, safe_text, schedule_rows
from cards.sections import SECTION_KEYS

ROOT = Path(__file__).resolve().parents[2]
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"

HEADINGS = (
    "Nazwa projektu",
    "Cel projektu",
    "Opis projektu",
    "Nowatorstwo i twórczy charakter prac",
    "Metodologia i systematyczność prac",
    "Rezultaty i nowa wiedza",
    "Koszty kwalifikowane",
    "Harmonogram",
)
POLISH = "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ"
# Everything XML 1.0 forbids or a tidy document should not contain.
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff\u200b\u2028\u2029\u00a0]")
SCHEDULE_HTML = (
    "<div>Proponowany podział okresu realizacji na etapy (do potwierdzenia):</div>"
    "<ul><li>Etap 1: Analiza i koncepcja (01.02.2024 – 30.04.2024)</li>"
    "<li>Etap 2: Prototypy częściowe (01.05.2024 – 31.07.2024)</li>"
    "<li>Etap 3: Walidacja w warunkach zbliżonych do rzeczywistych (01.08.2024 – 30.11.2024)</li></ul>"
)
HUGE_WORD = "Żółć" + "x" * 5_000 + "koniec"
DIRT = "\x00\x01\x07\x0b\x0c\x1b\x7f\r\n\u00a0\u2028\u2029\u200b\ufffe\uffff\ud800"


def make_card(n: int = 1, *, body: str | None = None, **overrides) -> CardDoc:
    values = dict(
        title=f"Projekt {n}: System źródłowy {POLISH}",
        start_date=datetime.date(2024, 2, 1),
        end_date=datetime.date(2024, 11, 30),
        responsible_person="Łukasz Żółkiewski",
        sections=tuple(
            (heading, body if body is not None else f"<div>Treść sekcji {i} — {POLISH}</div>", key)
            for i, (heading, key) in enumerate(zip(HEADINGS, SECTION_KEYS, strict=True), start=1)
        ),
    )
    values.update(overrides)
    return CardDoc(**values)


def with_section(card: CardDoc, key: str, body: str) -> CardDoc:
    """The card with one section's body replaced."""
    sections = tuple((h, body if k == key else b, k) for h, b, k in card.sections)
    return CardDoc(**{**card.__dict__, "sections": sections})


def make_batch(count: int = 3, **overrides) -> BatchDoc:
    values = dict(
        name="Partia marzec — Spółka Żuraw",
        created=datetime.date(2025, 3, 5),
        cards=tuple(make_card(n) for n in range(1, count + 1)),
    )
    values.update(overrides)
    return BatchDoc(**values)


def read(data: bytes) -> docx.document.Document:
    assert data[:2] == b"PK"
    return docx.Document(io.BytesIO(data))


def styled(document, style: str) -> list:
    """Paragraphs in the named style (``p.style.name`` searches all styles per call: slow)."""
    (style_id,) = [s.style_id for s in document.styles if s.name == style] or [None]
    if style == "Normal":
        return [p for p in document.paragraphs if p._p.style in (None, style_id)]
    return [p for p in document.paragraphs if style_id is not None and p._p.style == style_id]


def body_paragraphs(html: str) -> list:
    """Paragraphs written for the first section's body (between its Heading 2 and the next)."""
    document = read(render_card(make_card(body=html)))
    paragraphs = document.paragraphs
    start = next(i for i, p in enumerate(paragraphs) if p.style.name == "Heading 2") + 1
    end = next(i for i in range(start, len(paragraphs)) if paragraphs[i].style.name == "Heading 2")
    return paragraphs[start:end]


def page_breaks(document) -> int:
    body = document.element.body
    explicit = len(body.findall(f".//{W}br[@{W}type='page']"))
    before = len([e for e in body.iter(f"{W}pageBreakBefore") if e.get(f"{W}val") not in ("0", "false")])
    return explicit + before


def all_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(
            archive.read(name).decode("utf-8") for name in archive.namelist() if name.endswith((".xml", ".rels"))
        )


# --------------------------------------------------------------------------- safe_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\x00b\x01c\x1fd\x7fe", "abcde"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("win\r\nmac\rend", "win\nmac\nend"),
        ("line\u2028sep\u2029para", "line\nsep\n\npara"),
        ("nbsp\u00a0thin\u2009narrow\u202fzero\u200bwidth", "nbsp thin narrow zerowidth"),
        ("lone\ud800surrogate\ufffe\uffff", "lonesurrogate"),
        ("vertical\x0btab", "vertical\ntab"),
        ("Zażółć gęślą jaźń", "Zażółć gęślą jaźń"),
        (None, ""),
        (42, "42"),
    ],
)
def test_safe_text_strips_illegal_characters_and_normalises_whitespace(raw, expected):
    assert safe_text(raw) == expected


def test_safe_text_single_line_collapses_all_whitespace():
    assert safe_text("  Projekt\r\n\tB+R\u00a0\u2028 nowy\x00 ", single_line=True) == "Projekt B+R nowy"


def test_safe_text_output_is_always_xml_compatible():
    everything = "".join(chr(c) for c in range(0x10000))
    assert not ILLEGAL.search(safe_text(everything))


# --------------------------------------------------------------------------- structure


def test_batch_has_one_heading_1_per_card_with_project_names():
    batch = make_batch(3)
    document = read(render_batch(batch))
    assert [p.text for p in styled(document, "Heading 1")] == [c.title for c in batch.cards]


def test_each_card_has_eight_heading_2_with_the_given_headings_in_order():
    document = read(render_batch(make_batch(2)))
    headings = [p.text for p in styled(document, "Heading 2")]
    assert headings == list(HEADINGS) * 2


def test_title_page_shows_batch_name_subtitle_date_and_project_count():
    document = read(render_batch(make_batch(20)))
    texts = [p.text for p in document.paragraphs[:6]]
    assert styled(document, "Title")[0].text == "Partia marzec — Spółka Żuraw"
    assert "Karty projektów B+R" in texts
    assert any("05.03.2025" in t for t in texts)
    assert "Liczba projektów: 20" in texts
    first_heading = next(i for i, p in enumerate(document.paragraphs) if p.style.name == "Heading 1")
    assert all(p.style.name != "Heading 1" for p in document.paragraphs[:first_heading])


def test_title_page_names_the_client_when_the_batch_has_one():
    import dataclasses

    with_client = dataclasses.replace(make_batch(2), client="ACME Sp. z o.o.\x07")
    texts = [p.text for p in read(render_batch(with_client)).paragraphs[:7]]
    assert "Klient: ACME Sp. z o.o." in texts
    assert not any(t.startswith("Klient:") for t in (p.text for p in read(render_batch(make_batch(2))).paragraphs[:7]))


def test_toc_and_every_card_start_on_a_new_page_and_nothing_follows_the_last_card():
    document = read(render_batch(make_batch(4)))
    assert page_breaks(document) == 5  # the table of contents, then the four cards
    assert styled(document, "TOC Heading")[0].paragraph_format.page_break_before is True
    for heading in styled(document, "Heading 1"):
        assert heading.paragraph_format.page_break_before is True
    last = document.paragraphs[-1]
    assert last.text.strip()  # last card's last body paragraph, no empty trailing page
    assert not last._p.findall(f".//{W}br[@{W}type='page']")


def test_empty_batch_renders_only_the_title_page():
    document = read(render_batch(make_batch(0)))
    assert "Liczba projektów: 0" in [p.text for p in document.paragraphs]
    assert styled(document, "Heading 1") == []
    assert page_breaks(document) == 0


def test_polish_letters_survive_in_title_headings_metadata_and_body():
    batch = make_batch(1, name=f"Partia {POLISH}")
    data = render_batch(batch)
    document = read(data)
    text = "\n".join(p.text for p in document.paragraphs)
    assert f"Partia {POLISH}" in text
    assert f"System źródłowy {POLISH}" in styled(document, "Heading 1")[0].text
    assert "Nowatorstwo i twórczy charakter prac" in text
    assert f"Treść sekcji 1 — {POLISH}" in text
    assert "Łukasz Żółkiewski" in document.tables[0].rows[3].cells[1].text
    assert document.core_properties.title == f"Partia {POLISH}"


def test_batch_document_reads_title_page_toc_then_each_card_with_its_sections():
    document = read(render_batch(make_batch(2)))
    landmarks = [
        (p.style.name, p.text)
        for p in document.paragraphs
        if p.style.name in ("Title", "TOC Heading", "Heading 1", "Heading 2")
    ]
    titles = [c.title for c in make_batch(2).cards]
    expected = [("Title", "Partia marzec — Spółka Żuraw"), ("TOC Heading", "Spis treści")]
    for title in titles:
        expected += [("Heading 1", title)] + [("Heading 2", h) for h in HEADINGS]
    assert landmarks == expected


# --------------------------------------------------------------------------- table of contents


def field_instructions(element) -> list[str]:
    return [" ".join(e.text.split()) for e in element.iter(f"{W}instrText")]


def test_toc_is_a_field_over_heading_1_listing_every_project_linked_to_its_heading():
    batch = make_batch(3)
    document = read(render_batch(batch))
    body = document.element.body
    assert field_instructions(body)[0] == r'TOC \o "1-1" \h \z \u'
    entries = styled(document, "toc 1")
    assert [p.text for p in entries] == [c.title for c in batch.cards]
    anchors = [p._p.find(f"{W}hyperlink").get(f"{W}anchor") for p in entries]
    bookmarks = [p._p.find(f"{W}bookmarkStart").get(f"{W}name") for p in styled(document, "Heading 1")]
    assert anchors == bookmarks and len(set(anchors)) == 3
    # The field starts in the first entry and ends in the last: Word replaces exactly that range.
    kinds = [e.get(f"{W}fldCharType") for p in entries for e in p._p.iter(f"{W}fldChar")]
    assert kinds == ["begin", "separate", "end"]
    assert entries[0]._p.find(f".//{W}fldChar").get(f"{W}fldCharType") == "begin"


def test_toc_entry_style_is_words_built_in_toc_1_with_a_dotted_right_tab():
    document = read(render_batch(make_batch(1)))
    style = document.styles["toc 1"]
    assert style.style_id == "TOC1"
    (tab,) = style.paragraph_format.tab_stops
    assert tab.position == pytest.approx(Cm(16.0), rel=0.001)
    assert tab.leader == docx.enum.text.WD_TAB_LEADER.DOTS
    assert tab.alignment == docx.enum.text.WD_TAB_ALIGNMENT.RIGHT


def test_settings_ask_word_to_update_fields_on_open_in_schema_order():
    settings = read(render_batch(make_batch(1))).settings.element
    update = settings.find(f"{W}updateFields")
    assert update is not None and update.get(f"{W}val") == "true"
    tags = [child.tag for child in settings]
    assert tags.index(f"{W}updateFields") < tags.index(f"{W}compat")
    assert settings.find(f"{W}themeFontLang").get(f"{W}val") == "pl-PL"


def test_no_toc_and_no_field_update_without_cards_or_for_a_single_card():
    for data in (render_batch(make_batch(0)), render_card(make_card())):
        document = read(data)
        assert not any(i.startswith("TOC") for i in field_instructions(document.element.body))
        assert styled(document, "TOC Heading") == []
        assert document.settings.element.find(f"{W}updateFields") is None


def test_every_field_in_the_document_is_balanced():
    data = render_batch(make_batch(3))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = [n for n in archive.namelist() if re.fullmatch(r"word/(document|footer\d+|header\d+)\.xml", n)]
        fields = 0
        for name in parts:
            kinds = re.findall(r'w:fldCharType="(\w+)"', archive.read(name).decode())
            depth = 0
            for kind in kinds:
                depth += {"begin": 1, "end": -1}.get(kind, 0)
                assert depth >= 0, name
            assert depth == 0, name
            fields += kinds.count("begin")
    assert fields == 3  # TOC, PAGE, NUMPAGES


# --------------------------------------------------------------------------- metadata


def test_metadata_table_shows_period_dates_person_and_row_number():
    document = read(render_card(make_card(row_number=17)))
    (table,) = document.tables
    rows = [(r.cells[0].text, r.cells[1].text) for r in table.rows]
    assert rows == [
        ("Okres realizacji", "01.02.2024 – 30.11.2024"),
        ("Data rozpoczęcia", "01.02.2024"),
        ("Data zakończenia", "30.11.2024"),
        ("Osoba odpowiedzialna", "Łukasz Żółkiewski"),
        ("Wiersz w arkuszu", "17"),
    ]
    assert table.style.name == "Table Grid"
    assert table.rows[0].cells[0].paragraphs[0].runs[0].bold


def test_metadata_table_omits_row_number_when_not_given():
    document = read(render_card(make_card()))
    labels = [r.cells[0].text for r in document.tables[0].rows]
    assert "Wiersz w arkuszu" not in labels
    assert len(labels) == 4


def test_one_metadata_table_per_card_in_a_batch():
    assert len(read(render_batch(make_batch(5))).tables) == 5


def test_note_is_shown_in_italics_right_under_the_title():
    note = "Szkic przygotowany bez udziału AI — wymaga uzupełnienia przez konsultanta."
    document = read(render_card(make_card(note=note)))
    index = next(i for i, p in enumerate(document.paragraphs) if p.style.name == "Heading 1")
    paragraph = document.paragraphs[index + 1]
    assert paragraph.text == note
    assert all(run.italic for run in paragraph.runs)


def test_no_note_paragraph_when_note_is_empty():
    document = read(render_card(make_card()))
    index = next(i for i, p in enumerate(document.paragraphs) if p.style.name == "Heading 1")
    assert document.paragraphs[index + 1].style.name == "Heading 2"


# --------------------------------------------------------------------------- HTML bodies


def test_trix_inline_formatting_becomes_bold_italic_underline_strike_runs():
    (paragraph,) = body_paragraphs(
        "<div>zwykły <strong>pogrubiony</strong> <em>kursywa</em> <b><i>oba</i></b> <u>podkreślony</u> "
        "<del>skreślony</del> <s>też</s></div>"
    )
    runs = {run.text: run for run in paragraph.runs}
    assert paragraph.text == "zwykły pogrubiony kursywa oba podkreślony skreślony też"
    assert runs["pogrubiony"].bold and not runs["pogrubiony"].italic
    assert runs["kursywa"].italic and not runs["kursywa"].bold
    assert runs["oba"].bold and runs["oba"].italic
    assert runs["podkreślony"].underline
    assert runs["skreślony"].font.strike and runs["też"].font.strike
    assert not runs["zwykły "].bold


def test_single_br_is_a_line_break_and_double_br_a_new_paragraph():
    paragraphs = body_paragraphs("<div>linia pierwsza<br>linia druga<br><br>nowy akapit</div>")
    assert [p.text for p in paragraphs] == ["linia pierwsza\nlinia druga", "nowy akapit"]
    assert paragraphs[0]._p.findall(f".//{W}br")


def test_block_elements_become_separate_paragraphs():
    paragraphs = body_paragraphs("<p>jeden</p><div>dwa</div><blockquote>cytat</blockquote><pre>kod  x</pre>")
    assert [p.text for p in paragraphs] == ["jeden", "dwa", "cytat", "kod  x"]
    assert paragraphs[2].style.name == "Quote"


def test_empty_trix_lines_do_not_produce_empty_paragraphs():
    paragraphs = body_paragraphs("<div>a</div><div><br></div><div>b<br></div>")
    assert [p.text for p in paragraphs] == ["a", "b"]


def test_lists_use_list_bullet_and_list_number_styles():
    paragraphs = body_paragraphs(
        "<ul><li>punkt <strong>A</strong></li><li>punkt B</li></ul><ol><li>krok 1</li><li>krok 2</li></ol>"
    )
    assert [(p.style.name, p.text) for p in paragraphs] == [
        ("List Bullet", "punkt A"),
        ("List Bullet", "punkt B"),
        ("List Number", "krok 1"),
        ("List Number", "krok 2"),
    ]
    assert paragraphs[0].runs[-1].bold


def test_nested_list_items_use_level_two_styles():
    paragraphs = body_paragraphs("<ul><li>góra<ul><li>dół</li></ul></li></ul>")
    assert [(p.style.name, p.text) for p in paragraphs] == [("List Bullet", "góra"), ("List Bullet 2", "dół")]


def test_each_ordered_list_restarts_numbering():
    paragraphs = body_paragraphs("<ol><li>a</li><li>b</li></ol><div>przerwa</div><ol><li>c</li></ol>")

    def num_id(paragraph):
        return paragraph._p.pPr.numPr.numId.val

    assert num_id(paragraphs[0]) == num_id(paragraphs[1])
    assert num_id(paragraphs[0]) != num_id(paragraphs[3])


def test_h1_in_a_section_is_a_bold_paragraph_not_a_document_heading():
    paragraphs = body_paragraphs("<h1>Podtytuł</h1><div>tekst</div>")
    assert paragraphs[0].text == "Podtytuł"
    assert not paragraphs[0].style.name.startswith("Heading")
    assert all(run.bold for run in paragraphs[0].runs)


def test_links_keep_their_text_followed_by_the_url():
    (paragraph,) = body_paragraphs('<div>zob. <a href="https://gov.pl/ulga">ulga B+R</a></div>')
    assert paragraph.text == "zob. ulga B+R (https://gov.pl/ulga)"


def test_html_entities_are_decoded():
    (paragraph,) = body_paragraphs("<div>R&amp;D &lt;tag&gt; &quot;cudzysłów&quot; &oacute;&#322;&#x105;&nbsp;x</div>")
    assert paragraph.text == 'R&D <tag> "cudzysłów" ółą x'


def test_unknown_tags_are_ignored_but_their_text_is_kept_and_scripts_dropped():
    (paragraph,) = body_paragraphs("<div><span>tekst</span> <font>dalej</font><script>alert(1)</script></div>")
    assert paragraph.text == "tekst dalej"


def test_plain_text_body_splits_on_blank_lines_and_keeps_single_newlines_as_breaks():
    paragraphs = body_paragraphs("Pierwszy akapit\nciąg dalszy\n\n\nDrugi akapit & więcej")
    assert [p.text for p in paragraphs] == ["Pierwszy akapit\nciąg dalszy", "Drugi akapit & więcej"]


def test_whitespace_between_tags_is_collapsed_like_html():
    paragraphs = body_paragraphs("<ul>\n  <li>\n   jeden   dwa\n  </li>\n</ul>")
    assert [p.text for p in paragraphs] == ["jeden dwa"]


def test_text_outside_blocks_and_list_items_with_empty_lines_keep_their_order():
    paragraphs = body_paragraphs("wstęp<div>środek</div>koniec<ul><li>punkt<br><br>ciąg dalszy</li></ul>")
    assert [(p.style.name, p.text) for p in paragraphs] == [
        ("Normal", "wstęp"),
        ("Normal", "środek"),
        ("Normal", "koniec"),
        ("List Bullet", "punkt"),
        ("List Continue", "ciąg dalszy"),
    ]


def test_empty_section_body_gets_a_placeholder():
    paragraphs = body_paragraphs("")
    assert [p.text for p in paragraphs] == ["(brak treści)"]


# --------------------------------------------------------------------------- schedule


def schedule_tables(document) -> list:
    return [t for t in document.tables if t.rows[0].cells[0].text == "Etap"]


def test_offline_schedule_with_dated_stages_becomes_a_stage_from_to_table():
    document = read(render_card(with_section(make_card(), "harmonogram", SCHEDULE_HTML)))
    (table,) = schedule_tables(document)
    rows = [[c.text for c in row.cells] for row in table.rows]
    assert rows == [
        ["Etap", "Od", "Do"],
        ["Etap 1: Analiza i koncepcja", "01.02.2024", "30.04.2024"],
        ["Etap 2: Prototypy częściowe", "01.05.2024", "31.07.2024"],
        ["Etap 3: Walidacja w warunkach zbliżonych do rzeczywistych", "01.08.2024", "30.11.2024"],
    ]
    assert all(run.bold for cell in table.rows[0].cells for run in cell.paragraphs[0].runs)
    assert table.rows[0]._tr.trPr.find(f"{W}tblHeader") is not None  # repeated on each page
    # The intro line stays a paragraph right under the heading, above the table.
    heading = styled(document, "Heading 2")[-1]
    assert heading.text == "Harmonogram"
    following = heading._p.getnext()
    assert following.xpath("string(.)") == "Proponowany podział okresu realizacji na etapy (do potwierdzenia):"
    assert following.getnext() is table._tbl


def test_schedule_table_appears_once_per_card_in_a_batch():
    cards = tuple(with_section(make_card(n), "harmonogram", SCHEDULE_HTML) for n in (1, 2))
    assert len(schedule_tables(read(render_batch(make_batch(cards=cards))))) == 2


@pytest.mark.parametrize(
    ("body", "stages"),
    [
        (
            "Etap 1 – analiza: 2024-02-01 – 2024-04-30\nEtap 2 – prototyp: 2024-05-01 - 2024-11-30",
            [("Etap 1 – analiza", "01.02.2024", "30.04.2024"), ("Etap 2 – prototyp", "01.05.2024", "30.11.2024")],
        ),
        (
            "<ol><li>Koncepcja, od 1.2.2024 r. do 30.4.2024 r.</li><li>Testy, 02.05.2024—30.11.2024</li></ol>",
            [("Koncepcja", "01.02.2024", "30.04.2024"), ("Testy", "02.05.2024", "30.11.2024")],
        ),
        (
            "<div>- Analiza [02.2024 – 04.2024]<br>- Wdrożenie prototypu [2024-05 – 2024-11]</div>",
            [("Analiza", "02.2024", "04.2024"), ("Wdrożenie prototypu", "05.2024", "11.2024")],
        ),
    ],
)
def test_schedule_dates_in_polish_iso_and_month_forms_are_recognised(body, stages):
    before, parsed, after = schedule_rows(body)
    assert [(name, start, end) for name, start, end, _notes in parsed] == stages
    assert before == after == []


def test_lines_between_stages_stay_with_the_stage_above_and_closing_text_follows_the_table():
    body = (
        "<div>Plan prac:</div><ul><li>Etap 1: analiza (01.02.2024 – 30.04.2024)<br>przegląd literatury</li>"
        "<li>Etap 2: prototyp (01.05.2024 – 30.11.2024)</li></ul><div>Kamień milowy: odbiór prototypu.</div>"
    )
    document = read(render_card(with_section(make_card(), "harmonogram", body)))
    (table,) = schedule_tables(document)
    assert [p.text for p in table.rows[1].cells[0].paragraphs] == ["Etap 1: analiza", "przegląd literatury"]
    assert table._tbl.getnext().xpath("string(.)") == "Kamień milowy: odbiór prototypu."
    assert table._tbl.getprevious().xpath("string(.)") == "Plan prac:"


@pytest.mark.parametrize(
    "body",
    [
        "<div>Etap 1: analiza, etap 2: prototyp — daty do uzupełnienia [DO WERYFIKACJI]</div>",
        "<ul><li>Etap 1 (01.02.2024 – 30.04.2024)</li><li>Etap 2 (luty – kwiecień)</li></ul>",  # one dated stage
        "<ul><li>Etap 1 (31.02.2024 – 30.04.2024)</li><li>Etap 2 (01.05.2024 – 45.13.2024)</li></ul>",  # no such days
        "",
    ],
)
def test_schedule_without_two_dated_stages_stays_paragraphs(body):
    document = read(render_card(with_section(make_card(), "harmonogram", body)))
    assert schedule_tables(document) == []
    assert schedule_rows(body) is None
    assert styled(document, "Heading 2")[-1].text == "Harmonogram"


def test_dated_stages_outside_the_schedule_section_are_not_turned_into_a_table():
    document = read(render_card(with_section(make_card(), "metodologia", SCHEDULE_HTML)))
    assert schedule_tables(document) == []
    pairs = make_card(sections=(("Harmonogram", SCHEDULE_HTML),))  # no key: plain body
    assert schedule_tables(read(render_card(pairs))) == []


def test_hostile_schedule_text_never_breaks_the_table():
    body = (
        f"<ul><li>{HUGE_WORD}{DIRT} 01.02.2024 – 30.04.2024</li><li><b>Etap</b>\x00 2024-05-01 – 2024-11-30</li></ul>"
    )
    data = render_card(with_section(make_card(), "harmonogram", body))
    assert not ILLEGAL.search(all_xml(data).replace("\r\n", "\n"))
    (table,) = schedule_tables(read(data))
    assert table.rows[1].cells[0].text.startswith(HUGE_WORD)
    assert [r.cells[0].text for r in table.rows[2:]] == ["Etap"]


# --------------------------------------------------------------------------- hostile HTML


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<table><tr><td>komórka A</td><td>komórka B</td></tr></table>", ["komórka A", "komórka B"]),
        ("<p>niedomknięty <b>gruby <i>i kursywa", ["niedomknięty gruby i kursywa"]),
        ("</div></li></ul></b>sierota<p>", ["sierota"]),
        ("<!-- komentarz --><![CDATA[x]]><?xml version='1.0'?><div>tekst</div>", ["tekst"]),
        ('<img src=x onerror="alert(1)"><svg><script>alert(2)</script></svg><div onclick="x()">klik</div>', ["klik"]),
        ('<div style="color:red" class="x" data-y="&#0;">styl</div><font face="Comic Sans">czcionka</font>',
         ["styl", "czcionka"]),
        ("<li>bez listy</li><ul>luźny tekst<li>punkt</li></ul>", ["bez listy", "luźny tekst", "punkt"]),
        ("<div>" * 3000 + "głęboko" + "</div>" * 3000, ["głęboko"]),
        ("<ul><li>" * 300 + "zagnieżdżony punkt" + "</li></ul>" * 300, ["zagnieżdżony punkt"]),
        ("<b>" * 5000 + "gruby" + "</b>" * 5000, ["gruby"]),
        ("&unknown; &#99999999; &#xD800; &amp", ["&unknown; \ufffd \ufffd &"]),
    ],
)  # fmt: skip
def test_html_the_editor_never_writes_keeps_the_text_and_makes_a_valid_document(html, expected):
    data = render_card(make_card(body=html))
    assert not ILLEGAL.search(all_xml(data).replace("\r\n", "\n"))
    texts = [p.text for p in body_paragraphs(html)]
    assert texts == expected


def test_formatting_survives_in_list_items_and_across_paragraphs():
    paragraphs = body_paragraphs("<ul><li><em>kursywa</em> i <strong>gruby</strong></li></ul><div><b>dalej</b></div>")
    item = {run.text.strip(): run for run in paragraphs[0].runs if run.text.strip()}
    assert paragraphs[0].style.name == "List Bullet"
    assert item["kursywa"].italic and not item["kursywa"].bold
    assert item["gruby"].bold and not item["gruby"].italic
    assert paragraphs[1].runs[0].bold and not paragraphs[1].runs[0].italic


def test_very_long_word_in_title_body_and_person_is_kept_whole():
    card = make_card(title=HUGE_WORD, responsible_person=HUGE_WORD, body=f"<div>przed {HUGE_WORD} po</div>")
    document = read(render_card(card))
    assert styled(document, "Heading 1")[0].text == HUGE_WORD
    assert document.tables[0].rows[3].cells[1].text == HUGE_WORD
    assert f"przed {HUGE_WORD} po" in [p.text for p in document.paragraphs]


# --------------------------------------------------------------------------- robustness


def test_control_characters_in_every_field_do_not_raise_and_do_not_reach_the_document():
    card = CardDoc(
        title=f"Tytuł{DIRT}koniec",
        start_date=datetime.date(2024, 1, 1),
        end_date=datetime.date(2024, 12, 31),
        responsible_person=f"Anna{DIRT}Nowak",
        sections=tuple(
            (f"Nagłówek{DIRT}{i}", f"<div>treść{DIRT}<b>gruba{DIRT}</b>&#0;&#1;&#x1b;&#xfffe;</div>") for i in range(8)
        )
        + (("Zwykły tekst", f"linia{DIRT}dalej"),),
        note=f"Uwaga{DIRT}",
        row_number=3,
    )
    batch = BatchDoc(name=f"Partia{DIRT}", created=datetime.date(2025, 1, 2), cards=(card,))
    for data in (render_batch(batch), render_card(card, batch_name=f"Partia{DIRT}")):
        xml = all_xml(data)
        assert not ILLEGAL.search(xml.replace("\r\n", "\n"))
        document = read(data)
        assert styled(document, "Heading 1")[0].text == "Tytuł koniec"
        assert "Anna Nowak" in document.tables[0].rows[3].cells[1].text
        assert "treść" in xml and "gruba" in xml and "Uwaga" in xml


def test_very_long_title_is_accepted():
    data = render_card(make_card(title="Bardzo długi tytuł projektu " * 40))
    assert len(read(data).core_properties.title) <= 255


# --------------------------------------------------------------------------- page setup


def test_page_is_a4_with_2_5_cm_margins():
    section = read(render_batch(make_batch(1))).sections[0]
    assert section.page_width.cm == pytest.approx(21.0, abs=0.01)
    assert section.page_height.cm == pytest.approx(29.7, abs=0.01)
    for margin in (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin):
        assert margin == pytest.approx(Cm(2.5), rel=0.001)


def test_footer_has_page_and_numpages_fields():
    for data in (render_batch(make_batch(1)), render_card(make_card())):
        footer = read(data).sections[0].footer
        xml = footer._element.xml
        assert "PAGE" in xml and "NUMPAGES" in xml
        instructions = [e.text.strip() for e in footer._element.iter(f"{W}instrText")]
        assert instructions == ["PAGE", "NUMPAGES"]
        assert footer.paragraphs[0].text.startswith("Strona ")
        assert " z " in footer.paragraphs[0].text


def test_header_shows_batch_name_and_title_page_has_none():
    section = read(render_batch(make_batch(1))).sections[0]
    assert section.header.paragraphs[0].text == "Partia marzec — Spółka Żuraw"
    assert section.different_first_page_header_footer
    assert not section.first_page_header.is_linked_to_previous
    assert all(not p.text for p in section.first_page_header.paragraphs)


def test_normal_style_uses_calibri_for_all_scripts_and_polish_language():
    document = read(render_card(make_card()))
    rfonts = document.styles["Normal"].element.rPr.rFonts
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        assert rfonts.get(f"{W}{attr}") == "Calibri"
    assert document.styles["Normal"].element.rPr.find(f"{W}lang").get(f"{W}val") == "pl-PL"
    assert document.core_properties.language == "pl-PL"


def test_heading_and_toc_styles_use_calibri_for_polish_letters():
    document = read(render_batch(make_batch(1)))
    for name in ("Heading 1", "Heading 2", "Title", "TOC Heading", "toc 1"):
        rfonts = document.styles[name].element.rPr.rFonts
        assert [rfonts.get(f"{W}{a}") for a in ("ascii", "hAnsi", "eastAsia", "cs")] == ["Calibri"] * 4, name


# --------------------------------------------------------------------------- single card


def test_render_card_has_the_card_layout_without_a_title_page():
    card = make_card(note="Notatka", row_number=5)
    document = read(render_card(card))
    assert document.paragraphs[0].style.name == "Heading 1"
    assert document.paragraphs[0].text == card.title
    assert len(styled(document, "Heading 2")) == 8
    assert styled(document, "Title") == []
    assert page_breaks(document) == 0
    assert document.sections[0].header.paragraphs[0].text == card.title
    assert document.core_properties.title == card.title


def test_render_card_header_uses_batch_name_when_given():
    document = read(render_card(make_card(), batch_name="Partia kwiecień"))
    assert document.sections[0].header.paragraphs[0].text == "Partia kwiecień"


def test_twenty_card_batch_renders():
    document = read(render_batch(make_batch(20, cards=tuple(long_card(n) for n in range(1, 21)))))
    assert len(styled(document, "Heading 1")) == 20
    assert len(styled(document, "Heading 2")) == 160


def test_module_is_importable_without_django():
    code = "import sys, cards.export.docx; assert 'django' not in sys.modules, 'imports Django'"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


# --------------------------------------------------------------------------- timing


def long_card(n: int, words_per_card: int = 2000) -> CardDoc:
    """A card of about ``words_per_card`` words in Trix-like HTML."""
    sentence = "Zespół opracował nową metodę optymalizacji procesów źródłowych w systemie B+R."  # 11 words
    per_section = words_per_card // 8
    sections = []
    for heading, key in zip(HEADINGS, SECTION_KEYS, strict=True):
        if key == "harmonogram":
            sections.append((heading, SCHEDULE_HTML, key))
            continue
        parts, words = [], 0
        while words < per_section:
            if len(parts) % 4 == 3:
                parts.append(f"<ul><li>{sentence}</li><li><strong>Etap:</strong> {sentence}</li></ul>")
                words += 23
            else:
                parts.append(f"<div>{sentence} <em>{sentence}</em><br>{sentence}</div>")
                words += 33
        sections.append((heading, "".join(parts), key))
    return make_card(n, sections=tuple(sections), row_number=n + 1)


def twenty_card_batch() -> BatchDoc:
    """20 cards of ~2000 words; the last one carries hostile text (control characters, a huge word)."""
    cards = [long_card(n) for n in range(1, 20)]
    hostile = with_section(long_card(20), "opis_projektu", f"<div>{HUGE_WORD}</div><div>brud{DIRT}koniec</div>")
    cards.append(CardDoc(**{**hostile.__dict__, "title": f"Projekt 20{DIRT} — Żółć"}))
    return make_batch(20, cards=tuple(cards))


if __name__ == "__main__":
    import time

    batch = make_batch(20, cards=tuple(long_card(n) for n in range(1, 21)))
    render_batch(batch)  # warm-up (imports, template load)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        data = render_batch(batch)
        runs.append(time.perf_counter() - started)
    words = sum(len(re.sub(r"<[^>]+>", " ", s[1]).split()) for card in batch.cards for s in card.sections)
    print(
        f"20 cards, {words} words: best {min(runs) * 1000:.0f} ms, worst {max(runs) * 1000:.0f} ms, {len(data) / 1024:.0f} KiB"
    )
