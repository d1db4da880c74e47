"""The Word export as a reader sees it: LibreOffice lays it out and prints it to PDF.

Needs ``soffice`` (Debian's libreoffice-writer-nogui) and poppler's ``pdftotext``/``pdftoppm``;
``make test`` installs them. Without them these tests fail: a missing renderer is not a pass.
The first pages are rendered to PNG in ``reports/`` so CI keeps them for a human to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cards.export.docx import render_batch, render_card
from cards.tests.test_export_docx import HUGE_WORD, POLISH, long_card, twenty_card_batch

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
TOOLS = ("soffice", "pdfinfo", "pdftotext", "pdftoppm")
INSTALL_HINT = (
    "Rendering tests need LibreOffice and poppler: run 'make test' as root (it installs them), "
    "or 'sudo apt-get install --no-install-recommends libreoffice-writer-nogui poppler-utils "
    "fonts-crosextra-carlito'."
)


@dataclass(frozen=True)
class Rendered:
    docx: Path
    pdf: Path
    pages: int
    texts: list[str]  # text of each page
    seconds: float  # soffice conversion of both documents, start-up included


def pdf_pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, timeout=60)
    pages = text.stdout.decode("utf-8").split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> dict[str, Rendered]:
    """The 20-card batch and one single card, converted to PDF by one soffice run."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found. {INSTALL_HINT}", pytrace=False)
    work = tmp_path_factory.mktemp("render")
    documents = {"batch": render_batch(twenty_card_batch()), "card": render_card(long_card(1), batch_name="Partia")}
    for name, data in documents.items():
        (work / f"{name}.docx").write_bytes(data)
    started = time.perf_counter()
    # A throwaway profile: no state shared with a desktop LibreOffice or another test run.
    result = subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(work / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(work),
            *(str(work / f"{name}.docx") for name in documents),
        ],
        capture_output=True,
        timeout=240,
    )
    seconds = time.perf_counter() - started
    out = {}
    for name in documents:
        pdf = work / f"{name}.pdf"
        assert pdf.exists(), f"soffice made no PDF (exit {result.returncode}): {result.stderr.decode(errors='replace')}"
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True, timeout=60).stdout.decode()
        pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
        out[name] = Rendered(work / f"{name}.docx", pdf, pages, pdf_pages(pdf), seconds)
    return out


def test_twenty_card_batch_converts_to_a_plausible_number_of_pages(rendered):
    batch = rendered["batch"]
    assert len(batch.texts) == batch.pages
    # Title page + table of contents + every card from a new page (about 2000 words: 4–7 pages each).
    assert 2 + 20 * 3 <= batch.pages <= 2 + 20 * 10
    assert batch.seconds < 120


def test_pdf_has_every_card_from_a_new_page_in_order(rendered):
    texts = rendered["batch"].texts
    starts = [
        i
        for i, text in enumerate(texts)
        if re.search(r"^\s*Projekt \d+", text, re.MULTILINE) and "Okres realizacji" in text
    ]
    assert len(starts) == 20
    assert starts == sorted(starts) and starts[0] == 2  # pages 1 and 2: title page and table of contents
    for number, index in enumerate(starts, start=1):
        first_line = next(line for line in texts[index].splitlines()[1:] if line.strip())  # after the header
        assert first_line.strip().startswith(f"Projekt {number}")


def test_pdf_title_page_and_table_of_contents(rendered):
    title, toc = rendered["batch"].texts[:2]
    assert "Partia marzec — Spółka Żuraw" in title and "Liczba projektów: 20" in title
    assert "Strona" not in title  # the title page has no header and footer
    assert "Spis treści" in toc
    entries = re.findall(r"^\s*(Projekt \d+)", toc, re.MULTILINE)
    assert entries == [f"Projekt {n}" for n in range(1, 21)]


def test_pdf_text_keeps_polish_letters_and_hostile_text_is_harmless(rendered):
    text = "".join(rendered["batch"].texts)
    assert POLISH in text
    assert "Zespół opracował nową metodę" in text
    assert "Projekt 20 — Żółć" in text  # control characters in the title became a space
    # The word runs over pages: read it without the header and footer lines between them.
    body = "".join(
        line
        for page in rendered["batch"].texts
        for line in page.splitlines()
        if not re.fullmatch(r"\s*(Partia marzec — Spółka Żuraw|Strona \d+ z \d+)\s*", line)
    )
    flattened = re.sub(r"\s+", "", body)
    assert HUGE_WORD in flattened  # a 5000-letter word wraps but nothing is lost
    assert "brud koniec" in text


def test_pdf_footer_numbers_every_page_after_the_title_page(rendered):
    for name, start in (("batch", 2), ("card", 1)):
        doc = rendered[name]
        for number, text in enumerate(doc.texts[start - 1 :], start=start):
            assert f"Strona {number} z {doc.pages}" in text, f"{name}, page {number}"
    assert "Strona 1 z" in rendered["card"].texts[0]


def test_pdf_schedule_is_a_table_of_stages_and_dates(rendered):
    text = rendered["card"].texts
    page = next(t for t in text if "Harmonogram" in t)
    assert re.search(r"Etap\s+Od\s+Do", page)
    assert re.search(r"Etap 1: Analiza i koncepcja\s+01\.02\.2024\s+30\.04\.2024", page)


def test_first_pages_are_rendered_to_png_for_review(rendered):
    REPORTS.mkdir(exist_ok=True)
    for name, last in (("batch", 4), ("card", rendered["card"].pages)):
        prefix = REPORTS / f"export-{name}"
        for old in REPORTS.glob(f"export-{name}-*.png"):
            old.unlink()
        subprocess.run(
            ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", str(last), str(rendered[name].pdf), str(prefix)],
            check=True,
            timeout=120,
        )
        images = sorted(REPORTS.glob(f"export-{name}-*.png"))
        assert len(images) == last
        for image in images:
            data = image.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    shutil.copy(rendered["batch"].docx, REPORTS / "export-batch.docx")
    shutil.copy(rendered["batch"].pdf, REPORTS / "export-batch.pdf")
