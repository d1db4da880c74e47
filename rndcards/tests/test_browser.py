"""The main job in a real browser: log in, upload, watch the cards appear, edit, download.

Chromium comes from Debian's package (/usr/bin/chromium), driven by Playwright.
"""

import io
import re
from pathlib import Path

import docx
import dramatiq
import pytest

from conftest import CASES
from rndcards.tests.chromium import chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def log_in(page, user) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "Haslo-Testowe-1")
    page.click("button[type=submit]")
    page.get_by_role("button", name="Importuj projekty").wait_for()


@pytest.fixture
def page(browser, live_server, settings):
    # The live server answers /static/ through the staticfiles finders, which know
    # files by their source names, not the hashed names of the production manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    errors: list[str] = []
    context = browser.new_context(base_url=live_server.url, accept_downloads=True, locale="pl-PL")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.expects_401 = False  # a test that ends the session on purpose sets it
    yield page
    context.close()
    allowed = ("401 ",) if page.expects_401 else ()
    if getattr(page, "expects_429", False):  # a test that exhausts the request limit on purpose
        allowed += ("429 ",)
    assert not [e for e in errors if not e.startswith(allowed or "\0")], errors


def test_consultant_takes_a_workbook_from_upload_to_word(page, owner, transactional_db):
    broker = dramatiq.get_broker()
    broker.flush_all()

    page.goto("/")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", "Haslo-Testowe-1")
    page.click("button[type=submit]")
    page.get_by_role("button", name="Importuj projekty").wait_for()

    page.set_input_files("input[name=file]", str(CASES / "projekty-demo.xlsx"))
    page.fill("input[name=name]", "Klient Łódź — 2024")
    page.get_by_role("button", name="Importuj projekty").click()
    page.get_by_text("Zaimportowano 5 projektów.").wait_for()

    page.get_by_role("button", name="Generuj wszystkie").click()
    progress = page.locator("#batch-progress")
    progress.get_by_text("w kolejce: 5").wait_for()

    # Only now does a worker start: the page must update itself, without a reload.
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        progress.get_by_text(re.compile(r"5\s+z 5 gotowych")).wait_for()
    finally:
        worker.stop()
    assert progress.get_attribute("hx-trigger") is None  # polling stopped

    page.locator("table a.strong-link").first.click()
    section = page.locator("#section-cel_projektu")
    section.get_by_role("link", name="Edytuj").click()
    editor = page.locator("#section-cel_projektu trix-editor")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Skrócenie czasu kontroli o 40% względem 2023 r. <script>alert(1)</script>")
    page.locator("#section-cel_projektu").get_by_role("button", name="Zapisz").click()
    saved = page.locator("#section-cel_projektu")
    # The saved section replaces the editor: its origin badge says it was edited by hand.
    saved.locator(".badge--origin-manual").wait_for()
    assert page.locator("#section-cel_projektu trix-editor").count() == 0
    assert "Skrócenie czasu kontroli o 40%" in saved.locator(".section__body").inner_text()
    assert page.locator("#section-cel_projektu script").count() == 0

    page.get_by_role("link", name="Wróć do partii").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Eksportuj do Word").click()
    download = download_info.value
    assert download.suggested_filename == "Klient Łódź — 2024.docx"
    document = docx.Document(io.BytesIO(Path(download.path()).read_bytes()))
    headings1 = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert len(headings1) == 5
    assert any("Skrócenie czasu kontroli o 40%" in p.text for p in document.paragraphs)


def test_saving_after_the_session_ended_keeps_the_text_and_says_why(page, owner, make_batch, transactional_db):
    from cards import services

    project = make_batch(owner, projects=1).projects.get()
    type(project).objects.filter(pk=project.pk).update(status="queued", requested_provider="offline")
    services.project_generate(project_id=project.pk)
    log_in(page, owner)

    page.goto(project.get_absolute_url())
    page.locator("#section-rezultaty").get_by_role("link", name="Edytuj").click()
    page.locator("#section-rezultaty trix-editor").click()
    page.keyboard.type("Tekst, którego nie wolno zgubić")
    page.context.clear_cookies(name="sessionid")  # the session ends (logout in another tab, expiry)
    page.expects_401 = True
    page.locator("#section-rezultaty").get_by_role("button", name="Zapisz").click()

    page.locator("#client-error").get_by_text("Sesja wygasła").wait_for()
    assert "Tekst, którego nie wolno zgubić" in page.locator("#section-rezultaty trix-editor").inner_text()

    # As the message advises: log in again in another tab (a new CSRF token), then save here.
    other = page.context.new_page()
    log_in(other, owner)
    other.close()
    page.locator("#section-rezultaty").get_by_role("button", name="Zapisz").click()

    page.locator("#section-rezultaty").get_by_text("Tekst, którego nie wolno zgubić").wait_for()
    page.locator("#section-rezultaty").get_by_role("link", name="Edytuj").wait_for()
    assert "Tekst, którego nie wolno zgubić" in project.sections.get(key="rezultaty").text


def test_consultant_reviews_a_card_edits_regenerates_compares_reverts_and_approves(
    page, owner, make_batch, transactional_db
):
    from batches.models import Project
    from cards import services
    from cards.models import Section

    broker = dramatiq.get_broker()
    broker.flush_all()
    project = make_batch(owner, projects=1).projects.get()
    Project.objects.filter(pk=project.pk).update(status="queued", requested_provider="offline")
    services.project_generate(project_id=project.pk)
    log_in(page, owner)
    page.goto(project.get_absolute_url())

    # 1. Edit the goal by hand.
    section = page.locator("#section-cel_projektu")
    section.get_by_role("link", name="Edytuj").click()
    page.locator("#section-cel_projektu trix-editor").click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Skrócenie kontroli spoin o 40% względem 2023 r.")
    section.get_by_role("button", name="Zapisz").click()
    section.locator(".badge--origin-manual").wait_for()

    # 2. Regenerate it with a hint (offline draft); the section polls until the worker is done.
    section.get_by_role("link", name="Generuj sekcję").click()
    page.locator("#section-cel_projektu-hints").fill("Dodaj mierzalny wskaźnik celu")
    page.locator("#section-cel_projektu-model").select_option("offline")
    section.get_by_role("button", name="Generuj sekcję").click()
    section.locator(".section__progress").wait_for()
    assert "Skrócenie kontroli spoin o 40%" in section.locator(".section__body").inner_text()
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        section.locator(".badge--origin-offline").wait_for()
    finally:
        worker.stop()
    assert section.locator(".section__progress").count() == 0
    assert "Mierzalny cel względem stanu wyjściowego" in section.locator(".section__body").inner_text()

    # 3. History: three versions, and the diff of the manual edit against the current text.
    section.get_by_role("link", name="Historia").click()
    section.locator(".versions__item").nth(2).wait_for()
    assert section.locator(".versions__item").count() == 3
    section.locator(".versions__item", has_text="v2").get_by_role("link", name="Porównaj z obecną").click()
    diff = page.locator("#diff-cel_projektu")
    diff.wait_for()
    assert "Zmiany od wersji v2" in section.inner_text()
    assert "spoin o 40" in " ".join(diff.locator("del").all_inner_texts())  # removed by the regeneration
    assert diff.locator("ins").count() >= 1

    # 4. Revert to the manual edit.
    section.locator(".versions__item", has_text="v2").get_by_role("button", name="Przywróć v2").click()
    section.get_by_text("Przywrócono wersję 2").wait_for()
    assert "Skrócenie kontroli spoin o 40%" in section.locator(".section__body").inner_text()
    assert Section.objects.get(project=project, key="cel_projektu").versions.count() == 4

    # 5. Submit for review, approve: editing and regeneration are locked, and the page says why.
    page.get_by_role("button", name="Przekaż do przeglądu").click()
    page.get_by_text("Karta została przekazana do przeglądu.").wait_for()
    page.get_by_role("button", name="Zatwierdź").click()
    page.locator("#locked-note").wait_for()
    assert (
        "edycja, przywracanie wersji i ponowne generowanie są zablokowane" in page.locator("#locked-note").inner_text()
    )
    assert page.get_by_role("link", name="Edytuj").count() == 0
    assert page.get_by_role("link", name="Generuj sekcję").count() == 0
    assert page.get_by_role("button", name="Generuj ponownie").is_disabled()
    page.get_by_role("button", name="Otwórz ponownie").wait_for()


def test_the_editor_turns_pasted_formatting_it_cannot_keep_into_text(page, owner, make_batch, transactional_db):
    from cards import services

    project = make_batch(owner, projects=1).projects.get()
    type(project).objects.filter(pk=project.pk).update(status="queued", requested_provider="offline")
    services.project_generate(project_id=project.pk)
    log_in(page, owner)
    page.goto(project.get_absolute_url())
    page.locator("#section-rezultaty").get_by_role("link", name="Edytuj").click()
    editor = page.locator("#section-rezultaty trix-editor")
    editor.wait_for()
    page.evaluate(
        """() => document.querySelector('#section-rezultaty trix-editor').editor.loadHTML(
            '<h1>Nagłówek</h1><blockquote>Cytat</blockquote><div><a href="https://x.example">link</a> '
            + '<del>skreślenie</del> <strong>pogrubienie</strong></div><ul><li>punkt</li></ul>')"""
    )
    shown = editor.inner_html()
    assert "<h1" not in shown and "<blockquote" not in shown and "<a " not in shown and "<del" not in shown
    assert "<strong>pogrubienie</strong>" in shown and "<li>" in shown
    assert "Nagłówek" in shown and "link" in shown and "skreślenie" in shown


def test_no_page_breaks_the_content_security_policy(page, owner, make_batch, transactional_db):
    """Dashboard, batch, project page with the Trix editor open, password change: no CSP refusals."""
    from cards import services

    refusals: list[str] = []
    page.on("console", lambda m: refusals.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("console", lambda m: refusals.append(m.text) if m.text.startswith("Refused to") else None)
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    batch = make_batch(owner, projects=1)
    project = batch.projects.get()
    type(project).objects.filter(pk=project.pk).update(status="queued", requested_provider="offline")
    services.project_generate(project_id=project.pk)
    violations = []

    log_in(page, owner)
    violations += page.evaluate("window.__csp")
    page.goto(batch.get_absolute_url())
    page.get_by_role("link", name="Eksportuj do Word").wait_for()
    violations += page.evaluate("window.__csp")
    page.goto(project.get_absolute_url())
    page.locator("#section-rezultaty").get_by_role("link", name="Edytuj").click()
    editor = page.locator("#section-rezultaty trix-editor")
    editor.click()
    page.keyboard.type("Tekst pod CSP")
    page.locator("#section-rezultaty trix-toolbar .trix-button--icon-bold").click()
    # Trix's own style elements (allowed by the nonce) are in force: its toolbar's dialogs are hidden.
    assert page.evaluate("document.querySelectorAll('style[data-tag-name]').length") >= 2
    assert (
        page.evaluate(
            "getComputedStyle(document.querySelector('#section-rezultaty trix-toolbar .trix-dialog')).display"
        )
        == "none"
    )
    violations += page.evaluate("window.__csp")
    page.goto("/password/change/")
    page.get_by_role("button", name="Zmień hasło").wait_for()
    violations += page.evaluate("window.__csp")

    assert refusals == [] and violations == []
