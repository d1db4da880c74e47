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

from cards.export.docx import BatchDoc, CardDoc, render_batch, render_card, safe_text

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
DIRT = "\x00\x01\x07\x0b\x0c\x1b\x7f\r\n\u00a0\u2028\u2029\u200b\ufffe\uffff\ud800"


def make_card(n: int = 1, *, body: str | None = None, **overrides) -> CardDoc:
    values = dict(
        title=f"Projekt {n}: System źródłowy {POLISH}",
        start_date=datetime.date(2024, 2, 1),
        end_date=datetime.date(2024, 11, 30),
        responsible_person="Łukasz Żółkiewski",
        sections=tuple(
            (heading, body if body is not None else f"<div>Treść sekcji {i} — {POLISH}</div>")
            for i, heading in enumerate(HEADINGS, start=1)
        ),
    )
    values.update(overrides)
    return CardDoc(**values)


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


def test_every_card_starts_on_a_new_page_and_nothing_follows_the_last_card():
    document = read(render_batch(make_batch(4)))
    assert page_breaks(document) == 4
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
    for heading in HEADINGS:
        parts, words = [], 0
        while words < per_section:
            if len(parts) % 4 == 3:
                parts.append(f"<ul><li>{sentence}</li><li><strong>Etap:</strong> {sentence}</li></ul>")
                words += 23
            else:
                parts.append(f"<div>{sentence} <em>{sentence}</em><br>{sentence}</div>")
                words += 33
        sections.append((heading, "".join(parts)))
    return make_card(n, sections=tuple(sections), row_number=n + 1)


if __name__ == "__main__":
    import time

    batch = make_batch(20, cards=tuple(long_card(n) for n in range(1, 21)))
    render_batch(batch)  # warm-up (imports, template load)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        data = render_batch(batch)
        runs.append(time.perf_counter() - started)
    words = sum(len(re.sub(r"<[^>]+>", " ", body).split()) for card in batch.cards for _h, body in card.sections)
    print(
        f"20 cards, {words} words: best {min(runs) * 1000:.0f} ms, worst {max(runs) * 1000:.0f} ms, {len(data) / 1024:.0f} KiB"
    )
