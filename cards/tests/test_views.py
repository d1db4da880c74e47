"""Views of cards: project page, section editing, generation, Word export."""

import html as html_lib
import io
import re
from urllib.parse import quote

import docx
import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches.models import Batch, Project
from cards import services
from cards.models import Section
from cards.sections import SECTION_HEADINGS, SECTION_KEYS
from cards.tests.factories import HX, OTHERS, generate_now

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def section_url(name: str, project: Project, key: str = "cel_projektu") -> str:
    return reverse(name, args=[project.pk, key])


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def docx_text(response) -> str:
    document = docx.Document(io.BytesIO(b"".join(response.streaming_content)))
    return "\n".join(p.text for p in document.paragraphs)


# --------------------------------------------------------------------------- project page


def test_project_page_shows_eight_sections_in_order_beside_the_input(client, owner, project):
    client.force_login(owner)
    response = client.get(reverse("project_detail", args=[project.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    positions = [html.index(f'id="section-{key}"') for key in SECTION_KEYS]
    assert positions == sorted(positions)
    for key in SECTION_KEYS:
        assert html_lib.escape(SECTION_HEADINGS[key]) in html
        assert section_url("section_edit", project, key) in html
    assert html.count(">Edytuj</a>") == 8
    # The side column: the six input fields and the extra columns.
    assert "Dane z arkusza" in html
    assert "Koszty wynagrodzeń (PLN)" in html and "150000" in html
    assert "Łukasz Żółkiewski" in html
    # Offline draft: the notice, the origin badges, regenerate and export.
    assert "Szkic przygotowany bez udziału AI — uzupełnij miejsca oznaczone [DO WERYFIKACJI]" in html
    assert html.count(">szkic offline</span>") == 8
    assert reverse("project_generate", args=[project.pk]) in html
    assert "sekcje edytowane ręcznie zostaną zachowane" in html
    assert reverse("project_export", args=[project.pk]) in html
    assert reverse("batch_detail", args=[project.batch_id]) in html
    assert re.search(r"vendor/trix/trix\.umd\.min(\.[0-9a-f]+)?\.js", html)


def test_project_page_renders_section_html_but_escapes_input_fields(client, owner, batch):
    project = batch.projects.first()
    Project.objects.filter(pk=project.pk).update(name="<b>Projekt</b>")
    project = generate_now(project)
    client.force_login(owner)
    html = client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "<b>Projekt</b>" not in html
    assert "&lt;b&gt;Projekt&lt;/b&gt;" in html
    assert "<div>" in html  # the stored, sanitized section HTML is rendered as HTML


def test_project_page_of_a_card_not_generated_yet_says_so(client, owner, batch):
    client.force_login(owner)
    project = batch.projects.first()
    html = client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "Karta nie jest jeszcze wygenerowana." in html
    assert "Szkic przygotowany bez udziału AI" not in html


def test_project_card_partial_for_htmx_has_no_layout(client, owner, project):
    client.force_login(owner)
    response = client.get(reverse("project_detail", args=[project.pk]), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="project-card"')
    assert 'id="section-harmonogram"' in html


def test_project_page_polls_while_queued_and_not_once_generated(client, owner, batch):
    client.force_login(owner)
    project = batch.projects.first()
    url = reverse("project_detail", args=[project.pk])
    Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED)
    html = client.get(url, **HX).content.decode()
    assert 'hx-trigger="every 3s"' in html
    assert f'hx-get="{url}"' in html
    assert "Karta czeka w kolejce" in html
    Project.objects.filter(pk=project.pk).update(status=Project.Status.GENERATED)
    html = client.get(url, **HX).content.decode()
    assert "hx-trigger" not in html


@pytest.mark.parametrize("user", OTHERS)
@pytest.mark.parametrize("headers", [{}, HX])
def test_project_page_of_another_user_is_404(client, project, request, user, headers):
    client.force_login(request.getfixturevalue(user))
    assert client.get(reverse("project_detail", args=[project.pk]), **headers).status_code == 404


def test_project_page_requires_login(client, project):
    url = reverse("project_detail", args=[project.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


# --------------------------------------------------------------------------- section editing


def test_section_edit_for_htmx_returns_the_editor_with_the_current_html(client, owner, project):
    section = project.sections.get(key="cel_projektu")
    client.force_login(owner)
    response = client.get(section_url("section_edit", project), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<article class="section section--editing panel" id="section-cel_projektu"')
    assert '<trix-editor input="section-cel_projektu-text"' in html
    assert f'type="hidden" name="text" id="section-cel_projektu-text" value="{html_lib.escape(section.text)}"' in html
    assert f'hx-post="{section_url("section_save", project)}"' in html
    assert f'hx-get="{section_url("section_detail", project)}"' in html
    assert "Anuluj" in html


def test_section_edit_without_htmx_renders_the_full_page_with_that_section_in_edit_mode(client, owner, project):
    client.force_login(owner)
    response = client.get(section_url("section_edit", project))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert html.count("<trix-editor") == 1
    assert 'id="section-cel_projektu-text"' in html
    assert html.count(">Edytuj</a>") == 7
    assert f'action="{section_url("section_save", project)}"' in html


def test_section_detail_for_htmx_returns_the_display_partial(client, owner, project):
    client.force_login(owner)
    response = client.get(section_url("section_detail", project), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<article class="section panel" id="section-cel_projektu"')
    assert "<trix-editor" not in html


def test_section_detail_without_htmx_redirects_to_the_section_on_the_project_page(client, owner, project):
    client.force_login(owner)
    response = client.get(section_url("section_detail", project))
    assert response.status_code == 302
    assert response["Location"] == reverse("project_detail", args=[project.pk]) + "#section-cel_projektu"


def test_section_save_sanitizes_and_marks_the_section_as_manual(client, owner, project):
    client.force_login(owner)
    text = '<div>Nowy <strong>cel</strong> projektu<script>alert("x")</script></div><img src=x onerror=alert(1)>'
    response = client.post(section_url("section_save", project), {"text": text}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<article class="section panel" id="section-cel_projektu"')
    section = project.sections.get(key="cel_projektu")
    assert section.text == "<div>Nowy <strong>cel</strong> projektu</div>"
    assert section.origin == Section.Origin.MANUAL
    assert section.updated_by == owner
    assert "<strong>cel</strong>" in html
    assert "<script" not in html and "onerror" not in html
    assert "edycja ręczna" in html


def test_section_save_without_htmx_redirects_back_with_a_message(client, owner, project):
    client.force_login(owner)
    response = client.post(section_url("section_save", project), {"text": "<div>Poprawiony cel</div>"})
    assert response.status_code == 302
    assert response["Location"] == reverse("project_detail", args=[project.pk]) + "#section-cel_projektu"
    assert messages_of(response) == ["Zapisano zmiany w sekcji „Cel projektu”."]
    assert project.sections.get(key="cel_projektu").text == "<div>Poprawiony cel</div>"


def test_section_save_for_htmx_says_the_changes_were_saved_in_that_section(client, owner, project):
    client.force_login(owner)
    response = client.post(section_url("section_save", project), {"text": "<div>Nowy cel</div>"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    section_html = html.split('id="quality-panel"')[0]  # before the checklist's out-of-band swap
    assert 'class="alert alert--success" role="status"><p>Zapisano zmiany w sekcji „Cel projektu”.</p>' in section_html
    # Only the saved section says so: the page's other sections are not in the response.
    assert html.count("Zapisano zmiany") == 1


def test_a_refused_save_does_not_say_the_changes_were_saved(client, owner, project):
    client.force_login(owner)
    response = client.post(section_url("section_save", project), {"text": "<div> </div>"}, **HX)
    assert response.status_code == 422
    assert "Zapisano zmiany" not in response.content.decode()
    assert project.sections.get(key="cel_projektu").text != "<div> </div>"


def test_the_saved_note_goes_away_when_the_section_is_shown_again(client, owner, project):
    client.force_login(owner)
    client.post(section_url("section_save", project), {"text": "<div>Nowy cel</div>"}, **HX)
    html = client.get(section_url("section_detail", project), **HX).content.decode()
    assert "Nowy cel" in html and "Zapisano zmiany" not in html


@pytest.mark.parametrize("headers", [{}, HX])
def test_section_save_of_a_too_long_text_keeps_it_in_the_editor_with_a_polish_error(client, owner, project, headers):
    before = project.sections.get(key="cel_projektu").text
    text = "<div>" + "Zażółć gęślą jaźń. " * 2700 + "</div>"
    assert len(text) > 50_000
    client.force_login(owner)
    response = client.post(section_url("section_save", project), {"text": text}, **headers)
    html = response.content.decode()
    assert response.status_code == 422
    assert ("<html" in html) == (not headers)
    assert "najwyżej 50000 znaków" in html
    assert html_lib.escape(text) in html
    assert "<trix-editor" in html
    assert project.sections.get(key="cel_projektu").text == before


def test_section_save_of_an_empty_text_is_refused(client, owner, project):
    client.force_login(owner)
    response = client.post(section_url("section_save", project), {"text": "<div><br></div>"}, **HX)
    assert response.status_code == 422
    assert "Sekcja nie może być pusta." in response.content.decode()
    assert project.sections.get(key="cel_projektu").origin == Section.Origin.OFFLINE


def test_manually_edited_section_survives_regeneration(client, owner, project):
    client.force_login(owner)
    client.post(section_url("section_save", project), {"text": "<div>Tekst konsultanta</div>"}, **HX)
    response = client.post(reverse("project_generate", args=[project.pk]), {"provider": "offline"})
    assert response.status_code == 302
    services.project_generate(project_id=project.pk)
    section = project.sections.get(key="cel_projektu")
    assert (section.text, section.origin) == ("<div>Tekst konsultanta</div>", Section.Origin.MANUAL)
    assert project.sections.get(key="opis_projektu").origin == Section.Origin.OFFLINE


@pytest.mark.parametrize("name", ["section_detail", "section_edit", "section_save"])
def test_unknown_section_key_is_404(client, owner, project, name):
    client.force_login(owner)
    url = section_url(name, project, key="nieistniejaca")
    assert client.get(url, **HX).status_code == 404
    assert client.post(section_url("section_save", project, key="nieistniejaca"), {"text": "x"}).status_code == 404


def test_section_of_a_card_not_generated_yet_is_404(client, owner, batch):
    client.force_login(owner)
    project = batch.projects.first()
    assert client.get(section_url("section_edit", project), **HX).status_code == 404


@pytest.mark.parametrize("user", OTHERS)
@pytest.mark.parametrize("headers", [{}, HX])
def test_sections_of_another_user_are_404_for_get_and_post(client, project, request, user, headers):
    before = project.sections.get(key="cel_projektu").text
    client.force_login(request.getfixturevalue(user))
    assert client.get(section_url("section_detail", project), **headers).status_code == 404
    assert client.get(section_url("section_edit", project), **headers).status_code == 404
    response = client.post(section_url("section_save", project), {"text": "<div>Cudza zmiana</div>"}, **headers)
    assert response.status_code == 404
    assert project.sections.get(key="cel_projektu").text == before


def test_section_views_require_login(client, project):
    for name in ("section_detail", "section_edit"):
        assert client.get(section_url(name, project))["Location"].startswith(reverse("login"))
    response = client.post(section_url("section_save", project), {"text": "<div>Anonim</div>"})
    assert response["Location"].startswith(reverse("login"))
    assert project.sections.get(key="cel_projektu").origin == Section.Origin.OFFLINE


# --------------------------------------------------------------------------- generation


def test_generate_all_queues_every_project_with_the_chosen_provider(client, owner, batch):
    client.force_login(owner)
    response = client.post(reverse("batch_generate", args=[batch.pk]), {"provider": "offline"})
    assert response.status_code == 302
    assert response["Location"] == reverse("batch_detail", args=[batch.pk])
    assert set(batch.projects.values_list("status", "requested_provider")) == {(Project.Status.QUEUED, "offline")}
    assert messages_of(response) == ["Dodano do kolejki projekty: 2."]
    batch.refresh_from_db()
    assert batch.status == Batch.Status.GENERATING
    html = client.get(reverse("batch_detail", args=[batch.pk])).content.decode()
    assert 'hx-trigger="every 3s"' in html
    assert html.count(">w kolejce (1.)</span>") + html.count(">w kolejce (2.)</span>") == 2


def test_generate_all_with_an_unconfigured_provider_queues_nothing(client, owner, batch):
    client.force_login(owner)
    response = client.post(reverse("batch_generate", args=[batch.pk]), {"provider": "anthropic"})
    assert response.status_code == 302
    assert messages_of(response) == ["Wybierz dostawcę z listy dostępnych."]
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.PENDING}


def test_generate_all_runs_on_the_worker_and_produces_eight_sections(client, owner, make_batch, worker):
    batch = make_batch(owner, projects=2)
    client.force_login(owner)
    client.post(reverse("batch_generate", args=[batch.pk]), {"provider": "offline"})
    worker.join()
    for project in batch.projects.all():
        assert project.status == Project.Status.GENERATED
        assert project.provider == "offline"
        assert list(project.sections.values_list("key", flat=True)) == list(SECTION_KEYS)
    html = client.get(reverse("batch_detail", args=[batch.pk]), **HX).content.decode()
    assert "hx-trigger" not in html
    assert '<progress class="progress" value="2" max="2">' in html


def test_generate_one_project_queues_it(client, owner, project):
    client.force_login(owner)
    response = client.post(reverse("project_generate", args=[project.pk]), {"provider": "offline"})
    assert response.status_code == 302
    assert response["Location"] == reverse("project_detail", args=[project.pk])
    project.refresh_from_db()
    assert project.status == Project.Status.QUEUED
    response = client.post(reverse("project_generate", args=[project.pk]), {"provider": "offline"})
    assert messages_of(response)[-1] == "Ta karta jest już w kolejce lub w trakcie generowania."


@pytest.mark.parametrize("user", OTHERS)
def test_generation_of_another_users_batch_or_project_is_404(client, project, request, user):
    client.force_login(request.getfixturevalue(user))
    assert client.post(reverse("batch_generate", args=[project.batch_id]), {"provider": "offline"}).status_code == 404
    assert client.post(reverse("project_generate", args=[project.pk]), {"provider": "offline"}).status_code == 404
    assert not Project.objects.filter(status=Project.Status.QUEUED).exists()


def test_generation_needs_post_and_login(client, owner, project):
    url = reverse("batch_generate", args=[project.batch_id])
    assert client.post(url, {"provider": "offline"})["Location"].startswith(reverse("login"))
    response = client.post(reverse("project_generate", args=[project.pk]), {"provider": "offline"})
    assert response["Location"].startswith(reverse("login"))
    assert not Project.objects.filter(status=Project.Status.QUEUED).exists()
    client.force_login(owner)
    assert client.get(url).status_code == 405
    assert client.get(reverse("project_generate", args=[project.pk])).status_code == 405


# --------------------------------------------------------------------------- export


def test_batch_export_is_a_docx_named_after_the_batch_in_polish(client, owner, make_batch):
    batch = make_batch(owner, projects=3, name="Zakład Łódź — karty B+R 2024")
    generated = generate_now(batch.projects.get(row_number=2))
    client.force_login(owner)
    response = client.get(reverse("batch_export", args=[batch.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == DOCX
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert "filename*=utf-8''" + quote("Zakład Łódź — karty B+R 2024.docx") in disposition
    text = docx_text(response)
    assert generated.name in text
    assert "System wizyjnej kontroli spoin nr 3" not in text  # not generated: left out
    assert "Szkic przygotowany bez udziału AI — wymaga uzupełnienia przez konsultanta." in text
    for heading in SECTION_HEADINGS.values():
        assert heading in text


def test_batch_export_strips_characters_illegal_in_file_names(client, owner, make_batch):
    batch = make_batch(owner, projects=1, name='Klient: "Żółw" / 2024?*')
    generate_now(batch.projects.get())
    client.force_login(owner)
    response = client.get(reverse("batch_export", args=[batch.pk]))
    assert "filename*=utf-8''" + quote("Klient Żółw 2024.docx") in response["Content-Disposition"]


def test_batch_export_without_any_generated_card_redirects_with_a_message(client, owner, batch):
    client.force_login(owner)
    response = client.get(reverse("batch_export", args=[batch.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("batch_detail", args=[batch.pk])
    assert "nie ma czego eksportować" in messages_of(response)[0]


@pytest.mark.parametrize("export", ["batch_export", "batch_export_xlsx"])
def test_batch_export_query_count_does_not_grow_with_projects(client, owner, make_batch, export):
    client.force_login(owner)
    small, large = make_batch(owner, projects=1), make_batch(owner, projects=6)
    for project in Project.objects.all():
        generate_now(project)
    counts = []
    for batch in (small, large):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse(export, args=[batch.pk]))
            b"".join(response.streaming_content)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_project_export_is_a_docx_of_that_card(client, owner, project):
    Project.objects.filter(pk=project.pk).update(name="Żuraw samojezdny — sterowanie")
    project.refresh_from_db()
    client.force_login(owner)
    response = client.get(reverse("project_export", args=[project.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == DOCX
    assert "filename*=utf-8''" + quote(f"{project.name}.docx") in response["Content-Disposition"]
    text = docx_text(response)
    assert project.name in text
    assert "Harmonogram" in text


def test_project_export_of_a_card_not_generated_yet_redirects(client, owner, batch):
    client.force_login(owner)
    project = batch.projects.first()
    response = client.get(reverse("project_export", args=[project.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("project_detail", args=[project.pk])


@pytest.mark.parametrize("user", OTHERS)
def test_exports_of_another_user_are_404(client, project, request, user):
    client.force_login(request.getfixturevalue(user))
    assert client.get(reverse("batch_export", args=[project.batch_id])).status_code == 404
    assert client.get(reverse("project_export", args=[project.pk])).status_code == 404


def test_exports_require_login(client, project):
    for url in (reverse("batch_export", args=[project.batch_id]), reverse("project_export", args=[project.pk])):
        assert client.get(url)["Location"].startswith(reverse("login"))


def test_project_export_shows_the_offline_schedule_as_a_table_of_stages(client, owner, project):
    client.force_login(owner)
    response = client.get(reverse("project_export", args=[project.pk]))
    document = docx.Document(io.BytesIO(b"".join(response.streaming_content)))
    (schedule,) = [t for t in document.tables if t.rows[0].cells[0].text == "Etap"]
    assert [c.text for c in schedule.rows[0].cells] == ["Etap", "Od", "Do"]
    assert schedule.rows[1].cells[0].text.startswith("Etap 1: ")
    assert schedule.rows[1].cells[1].text == "01.02.2024"
    assert schedule.rows[-1].cells[2].text == "30.11.2024"


def test_project_page_of_a_section_edited_by_a_deleted_user_still_renders(client, owner, project):
    from django.contrib.auth.models import User

    editor = User.objects.create_user("byly-pracownik", password="Haslo-Testowe-1")
    section = project.sections.get(key="cel_projektu")
    services.section_update(section=section, text="<div>Poprawiony cel</div>", author=editor)
    editor.delete()
    client.force_login(owner)

    response = client.get(reverse("project_detail", args=[project.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Poprawiony cel" in html and "Edytowane ręcznie: —" in html
    history = client.get(reverse("section_history", args=[project.pk, "cel_projektu"]), **HX)
    assert history.status_code == 200


@pytest.mark.parametrize("headers", [{}, HX])
def test_no_editor_opens_while_the_card_is_generated(client, owner, project, headers):
    # The card refreshes itself every 2 s meanwhile: an open editor would be swept away.
    Project.objects.filter(pk=project.pk).update(status=Project.Status.GENERATING)
    client.force_login(owner)

    response = client.get(section_url("section_edit", project), **headers)

    if headers:
        assert response.status_code == 422
        html = response.content.decode()
        assert "trix-editor" not in html and "Karta jest właśnie generowana" in html
    else:
        assert response.status_code == 302
        assert messages_of(response)[-1].startswith("Karta jest właśnie generowana")


def test_generate_all_says_in_polish_when_the_queue_is_away(client, owner, batch, monkeypatch, transactional_db):
    import redis

    from cards import tasks

    def away(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(tasks, "enqueue_generation", away)
    client.force_login(owner)

    response = client.post(reverse("batch_generate", args=[batch.pk]), {"provider": "offline"}, follow=True)

    assert response.status_code == 200
    assert "Kolejka zadań jest chwilowo niedostępna" in response.content.decode()
    assert not batch.projects.filter(status=Project.Status.QUEUED).exists()


def test_export_file_name_has_an_ascii_fallback_beside_the_polish_name(client, owner, make_batch):
    batch = make_batch(owner, projects=1, name="Zakład Łódź — ŻÓŁW ąćęłńóśźż 2024")
    generate_now(batch.projects.get())
    client.force_login(owner)
    response = client.get(reverse("batch_export", args=[batch.pk]))
    assert response["Content-Disposition"] == (
        'attachment; filename="Zaklad Lodz _ ZOLW acelnoszz 2024.docx"; '
        "filename*=utf-8''" + quote("Zakład Łódź — ŻÓŁW ąćęłńóśźż 2024.docx", safe="")
    )


def test_export_file_name_loses_bidi_and_other_format_characters_that_could_spoof_the_extension(
    client, owner, make_batch
):
    batch = make_batch(owner, projects=1, name="Karta\u202excod.exe\u200e\u2066\u200b\ufeff\u00ad Łódź")
    generate_now(batch.projects.get())
    client.force_login(owner)
    disposition = client.get(reverse("batch_export", args=[batch.pk]))["Content-Disposition"]
    assert disposition == (
        "attachment; filename=\"Kartaxcod.exe Lodz.docx\"; filename*=utf-8''"
        + quote("Kartaxcod.exe Łódź.docx", safe="")
    )


def test_export_of_a_plain_ascii_name_sends_only_filename_and_quotes_never_leak(client, owner, make_batch):
    batch = make_batch(owner, projects=1, name='Karty "2024" \\ klient')
    generate_now(batch.projects.get())
    client.force_login(owner)
    disposition = client.get(reverse("batch_export", args=[batch.pk]))["Content-Disposition"]
    assert disposition == 'attachment; filename="Karty 2024 klient.docx"'


@pytest.mark.parametrize(("name", "ascii_name"), [("项目 2024", "__ 2024.docx"), ("项目", "karty-projektow-B+R.docx")])
def test_export_of_a_name_without_latin_letters_gets_a_usable_ascii_filename(
    client, owner, make_batch, name, ascii_name
):
    batch = make_batch(owner, projects=1, name=name)
    generate_now(batch.projects.get())
    client.force_login(owner)
    disposition = client.get(reverse("batch_export", args=[batch.pk]))["Content-Disposition"]
    assert disposition == f"attachment; filename=\"{ascii_name}\"; filename*=utf-8''" + quote(f"{name}.docx", safe="")


@pytest.mark.parametrize("headers", [{}, HX])
def test_a_save_over_a_newer_version_keeps_the_text_and_offers_to_overwrite(client, owner, project, headers):
    section = project.sections.get(key="cel_projektu")
    opened_at = section.version
    services.section_update(section=section, text="<div>Zapisane w drugiej karcie</div>", author=owner)
    client.force_login(owner)
    mine = "<div>Mój tekst z pierwszej karty</div>"

    response = client.post(section_url("section_save", project), {"text": mine, "base_version": opened_at}, **headers)

    assert response.status_code == 422
    html = response.content.decode()
    assert "Mój tekst z pierwszej karty" in html and "została w międzyczasie zmieniona" in html
    assert "Zapisz mimo to" in html
    assert "Zapisane w drugiej karcie" in project.sections.get(key="cel_projektu").text

    response = client.post(
        section_url("section_save", project), {"text": mine, "base_version": opened_at, "overwrite": "1"}, **headers
    )
    assert response.status_code in (200, 302)
    section = project.sections.get(key="cel_projektu")
    assert "Mój tekst z pierwszej karty" in section.text
    assert "Zapisane w drugiej karcie" in section.versions.order_by("-number")[1].text  # kept in history


def test_the_editor_carries_the_version_it_was_opened_at(client, owner, project):
    section = project.sections.get(key="cel_projektu")
    client.force_login(owner)
    html = client.get(section_url("section_edit", project), **HX).content.decode()
    assert f'name="base_version" value="{section.version}"' in html


def test_saving_a_manual_section_unchanged_makes_no_new_version(client, owner, project):
    section = project.sections.get(key="cel_projektu")
    services.section_update(section=section, text="<div>Tekst</div>", author=owner)
    count = section.versions.count()
    client.force_login(owner)

    for _ in range(3):
        response = client.post(section_url("section_save", project), {"text": "<div>Tekst</div>"}, **HX)
        assert response.status_code == 200

    assert section.versions.count() == count


def test_the_offline_note_in_the_export_follows_the_sections_not_the_first_generation(owner, project):
    # `project` fixture: a card generated offline.
    assert services.card_document(project).note == services.OFFLINE_NOTE
    for section in project.sections.all():
        services.section_update(section=section, text=f"<div>Tekst konsultanta {section.key}</div>", author=owner)
    project.refresh_from_db()
    assert services.card_document(project).note == ""


def test_project_page_query_count_does_not_grow_with_the_batch(client, owner, make_batch, django_assert_num_queries):
    # The page compares the card with every card of its batch (similar cards).
    client.force_login(owner)
    small, large = make_batch(owner, projects=1), make_batch(owner, projects=20)
    for project in Project.objects.all():
        generate_now(project)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("project_detail", args=[small.projects.get().pk])).status_code == 200
    with django_assert_num_queries(len(ctx.captured_queries)):
        project = large.projects.order_by("row_number").first()
        assert client.get(reverse("project_detail", args=[project.pk])).status_code == 200
