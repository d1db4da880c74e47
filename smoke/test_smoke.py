"""Smoke tests: the five critical paths of the original design, and health, in a real browser.

(a) log in, (b) upload projekty-demo.xlsx and see its 5 projects, (c) generate them all and
see "Generowanie zakończone", (d) edit a section and see "Zapisano zmiany", (e) export the
batch and get a .docx named after it; (f) /health and /health/detailed answer JSON.
The same tests run against our own live server (make test) or any deployment
(make smoke BASE_URL=…); see conftest.py. Screenshots of every step: reports/smoke/.
"""

import io
import json
import re
import zipfile
from datetime import datetime

import pytest

from smoke.conftest import ROOT, SCREENSHOTS

pytestmark = [pytest.mark.smoke, pytest.mark.browser]

WORKBOOK = ROOT / "batches" / "tests" / "data" / "projekty-demo.xlsx"
EDITED = "Cel potwierdzony w teście dymnym: skrócenie kontroli o 40%."


def test_consultant_logs_in_uploads_generates_edits_and_exports(context, target, shot):
    page = context.new_page()
    page.set_default_timeout(20_000)
    # Unique per run (a deployment keeps its batches), with Polish letters the file name must keep.
    batch_name = f"Test dymny Łódź {datetime.now():%Y%m%d-%H%M%S}"

    # (a) log in
    page.goto("/login/")
    page.fill("input[name=username]", target.username)
    page.fill("input[name=password]", target.password)
    page.click("button[type=submit]")
    page.get_by_role("button", name="Importuj projekty").wait_for()
    shot(page, "01-login")

    # (b) upload the demo workbook: the batch page lists its 5 projects
    page.set_input_files("input[name=file]", str(WORKBOOK))
    page.fill("input[name=name]", batch_name)
    page.get_by_role("button", name="Importuj projekty").click()
    page.get_by_text("Zaimportowano 5 projektów.").wait_for()
    assert page.locator("h1").inner_text() == batch_name
    rows = page.locator("#batch-progress table.table--projects tbody tr")
    assert rows.count() == 5
    assert page.locator("#batch-progress a.strong-link").count() == 5
    batch_url = page.url
    shot(page, "02-upload")

    # (c) generate all: the page updates itself until every card is done
    page.locator("select[name=provider]").select_option(target.provider)
    page.get_by_role("button", name="Generuj wszystkie").click()
    page.get_by_text("Dodano do kolejki projekty: 5.").wait_for()
    done = page.locator("#generation-done")
    done.wait_for(timeout=target.generation_timeout_ms)
    assert "Generowanie zakończone" in done.inner_text()
    assert "wszystkie karty są gotowe" in done.inner_text()  # none failed
    assert re.search(r"5\s+z 5 gotowych", page.locator("#batch-progress").inner_text())
    shot(page, "03-generated")

    # (d) edit a section: the saved section says so
    page.locator("#batch-progress a.strong-link").first.click()
    section = page.locator("#section-cel_projektu")
    section.get_by_role("link", name="Edytuj").click()
    page.locator("#section-cel_projektu trix-editor").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(EDITED)
    section.get_by_role("button", name="Zapisz").click()
    section.get_by_text("Zapisano zmiany").wait_for()
    assert EDITED in section.locator(".section__body").inner_text()
    shot(page, "04-section-saved")

    # (e) export to Word: a .docx named after the batch, with the edit in it
    page.get_by_role("link", name="Wróć do partii").click()
    page.wait_for_url(batch_url)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Eksportuj do Word").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".docx")
    assert batch_name in download.suggested_filename
    saved = SCREENSHOTS / "export.docx"
    download.save_as(saved)
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as docx:
        document = docx.read("word/document.xml").decode("utf-8")
    assert "Cel potwierdzony w teście dymnym" in document
    shot(page, "05-export")

    assert context.errors == []
    if target.local:
        # Our own server: the consultant was also told by e-mail, once, with a working link.
        from django.core import mail

        assert len(mail.outbox) == 1
        assert batch_name in mail.outbox[0].subject
        assert batch_url in mail.outbox[0].body


@pytest.mark.parametrize("path", ["/health", "/health/detailed"])
def test_health_endpoints_answer_json_with_a_status(browser, target, path):
    # Liveness checks come from load balancers and monitors: no session, no cookies.
    context = browser.new_context(base_url=target.url)
    try:
        response = context.request.get(path, max_redirects=0)
        assert response.status == 200, f"{path}: {response.status} {response.text()[:300]}"
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("status"), str) and body["status"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = path.strip("/").replace("/", "-")
        (SCREENSHOTS / f"{name}.json").write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
    finally:
        context.close()
