"""The score and checklist on the pages: recomputed on every change, refreshed after an htmx save."""

import re

import pytest
from django.urls import reverse

from batches.models import Project
from cards import services
from cards.models import Section
from cards.providers.base import CardDraft
from cards.tests.factories import HX, generate_now
from cards.tests.quality_cards import GOOD_SECTIONS, INPUT


@pytest.fixture
def project(owner, make_batch) -> Project:
    return generate_now(make_batch(owner, projects=1).projects.get())


def panel(html: str) -> str:
    match = re.search(r'<section id="quality-panel".*?</section>', html, re.S)
    assert match, "no quality panel"
    return match[0]


def test_a_generated_offline_draft_is_scored_and_its_checklist_stored(project):
    assert project.quality_score is not None and project.quality_score <= 49
    failed = [c for c in project.quality_checks if not c["ok"]]
    assert {"G1", "K1", "K3"} <= {c["rule"] for c in failed}
    assert all(set(c) == {"rule", "severity", "section", "ok", "message", "quote"} for c in project.quality_checks)
    # Failed checks are stored first.
    flags = [c["ok"] for c in project.quality_checks]
    assert flags == sorted(flags)


def test_a_project_without_sections_has_no_score(owner, make_batch):
    project = make_batch(owner, projects=1).projects.get()
    assert services.project_rescore(project=project) is None
    project.refresh_from_db()
    assert project.quality_score is None and project.quality_checks == []


def test_applying_a_good_draft_scores_it_high(owner, make_batch):
    project = make_batch(owner, projects=1).projects.get()
    Project.objects.filter(pk=project.pk).update(
        name=INPUT.name, description=INPUT.description, goal=INPUT.goal, extra=[list(e) for e in INPUT.extra]
    )
    project.refresh_from_db()
    services.sections_apply_draft(
        project=project, draft=CardDraft(sections=GOOD_SECTIONS, provider="anthropic", model="m")
    )
    project.refresh_from_db()
    assert project.quality_score >= 85


def test_project_page_shows_the_badge_and_failed_rules_first_with_links_to_sections(client, owner, project):
    client.force_login(owner)
    html = panel(client.get(reverse("project_detail", args=[project.pk])).content.decode())
    assert f">{project.quality_score}<" in html
    assert 'href="#section-nowatorstwo"' in html and 'href="#section-metodologia"' in html
    assert "[DO WERYFIKACJI]" in html  # the quoted sentence
    assert html.index("check--E") < html.index("Spełnione reguły")
    assert "kwalifikuje się" not in html.replace("nie rozstrzyga, czy projekt korzysta z ulgi", "")


def test_htmx_section_save_returns_the_section_and_the_refreshed_checklist_out_of_band(client, owner, project):
    before = project.quality_score
    client.force_login(owner)
    text = (
        "<div>Zmniejszenie odsetka wadliwych spoin niewykrytych w kontroli końcowej do poniżej 1%.</div>"
        "<div>Produktem jest system wizyjnej kontroli spoin oceniający każdą spoinę na podstawie obrazu z kamer.</div>"
    )
    response = client.post(reverse("section_save", args=[project.pk, "cel_projektu"]), {"text": text}, **HX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<article class="section panel" id="section-cel_projektu"')
    oob = panel(html)
    assert 'hx-swap-oob="true"' in oob
    project.refresh_from_db()
    assert project.quality_score >= before  # one placeholder fewer: G1 is counted per section
    assert f">{project.quality_score}<" in oob
    # The goal's placeholder is gone from the checklist; the other sections' remain.
    assert not [c for c in project.quality_checks if c["section"] == "cel_projektu" and c["rule"] == "G1"]
    assert 'href="#section-nowatorstwo"' in oob


def test_a_saved_defect_appears_in_the_refreshed_checklist(client, owner, project):
    before = project.quality_score
    client.force_login(owner)
    text = "<div>W dzisiejszym dynamicznym świecie celem jest konfiguracja linii.</div>"
    html = client.post(
        reverse("section_save", args=[project.pk, "cel_projektu"]), {"text": text}, **HX
    ).content.decode()
    oob = panel(html)
    assert "W dzisiejszym dynamicznym świecie" in oob  # L4, quoted
    assert "konfiguracja" in oob  # R1 in the goal
    assert 'href="#section-cel_projektu"' in oob
    project.refresh_from_db()
    assert project.quality_score < before
    assert f">{project.quality_score}<" in oob


def test_plain_post_section_save_rescores_and_redirects(client, owner, project):
    before = project.quality_score
    client.force_login(owner)
    response = client.post(
        reverse("section_save", args=[project.pk, "cel_projektu"]), {"text": "<div>Cel: 12 h, 80%.</div>"}
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.quality_score != before or project.quality_checks != []
    assert Section.objects.get(project=project, key="cel_projektu").origin == "manual"


@pytest.mark.parametrize("user", ["colleague", "outsider"])
@pytest.mark.parametrize("headers", [{}, HX])
def test_another_users_save_is_404_and_the_score_is_untouched(client, project, request, user, headers):
    before = (project.quality_score, project.quality_checks)
    client.force_login(request.getfixturevalue(user))
    url = reverse("section_save", args=[project.pk, "cel_projektu"])
    assert client.post(url, {"text": "<div>Obcy tekst</div>"}, **headers).status_code == 404
    project.refresh_from_db()
    assert (project.quality_score, project.quality_checks) == before


def test_an_invalid_save_keeps_the_text_and_the_score(client, owner, project):
    before = project.quality_score
    client.force_login(owner)
    response = client.post(reverse("section_save", args=[project.pk, "cel_projektu"]), {"text": "<div> </div>"}, **HX)
    assert response.status_code == 422
    project.refresh_from_db()
    assert project.quality_score == before


# --------------------------------------------------------------------------- batch page


def scores_in_table(html: str) -> list[str]:
    table = html.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(
        r'class="num score-cell">(?:<span class="score-badge[^"]*">(\d+)</span>|<span class="muted">(—)</span>)', table
    )


@pytest.fixture
def scored_batch(owner, make_batch):
    batch = make_batch(owner, projects=3)
    rows = list(batch.projects.order_by("row_number"))
    for project, score in zip(rows, [40, None, 90], strict=True):
        Project.objects.filter(pk=project.pk).update(quality_score=score)
    return batch


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["40", "—", "90"]),
        ("?sort=score", ["40", "90", "—"]),
        ("?sort=-score", ["90", "40", "—"]),
        ("?sort=bogus", ["40", "—", "90"]),
        ("?sort=%3Cscript%3E", ["40", "—", "90"]),
        ("?sort=row_number;drop", ["40", "—", "90"]),
    ],
)
def test_batch_table_sorts_by_score_server_side_and_ignores_unknown_values(client, owner, scored_batch, sort, expected):
    client.force_login(owner)
    for headers in ({}, HX):
        response = client.get(reverse("batch_detail", args=[scored_batch.pk]) + sort, **headers)
        assert response.status_code == 200
        html = response.content.decode()
        assert [a or b for a, b in scores_in_table(html)] == expected
        assert "<script>" not in html.split("<tbody>")[0].split("Ocena")[-1]


def test_batch_polling_keeps_the_chosen_order(client, owner, scored_batch):
    Project.objects.filter(batch=scored_batch, row_number=2).update(status=Project.Status.QUEUED)
    client.force_login(owner)
    html = client.get(reverse("batch_detail", args=[scored_batch.pk]) + "?sort=-score", **HX).content.decode()
    assert f'hx-get="{reverse("batch_detail", args=[scored_batch.pk])}?sort=-score"' in html


@pytest.mark.parametrize("user", ["colleague", "outsider"])
def test_another_users_sorted_batch_page_is_404(client, scored_batch, request, user):
    client.force_login(request.getfixturevalue(user))
    assert client.get(reverse("batch_detail", args=[scored_batch.pk]) + "?sort=score").status_code == 404


def test_batch_page_query_count_does_not_grow_with_scored_cards(
    client, owner, make_batch, django_assert_max_num_queries
):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small, large = make_batch(owner, projects=1), make_batch(owner, projects=20)
    for project in Project.objects.filter(batch__in=[small, large]):
        generate_now(project)
    client.force_login(owner)
    counts = {"cold": [], "warm": []}
    for batch in (small, large):
        for sort in ("", "?sort=-score"):
            for state in ("cold", "warm"):  # the similar pairs computed, then read from the cache
                if state == "cold":
                    cache.clear()
                with CaptureQueriesContext(connection) as ctx:
                    assert client.get(reverse("batch_detail", args=[batch.pk]) + sort).status_code == 200
                counts[state].append(len(ctx))
    for state in ("cold", "warm"):
        assert len(set(counts[state])) == 1, counts
    assert counts["warm"][0] < counts["cold"][0]
    cache.clear()
    with django_assert_max_num_queries(counts["cold"][0]):
        html = client.get(reverse("batch_detail", args=[large.pk])).content.decode()
    # The twenty offline drafts of one copied input are flagged as alike, within the same query budget.
    assert html.count("↔") == 190


def test_a_quoted_sentence_is_escaped_in_the_checklist(client, owner, project):
    client.force_login(owner)
    text = "<div>Rewolucyjny &lt;script&gt;alert(1)&lt;/script&gt; system &lt;img src=x onerror=y&gt;.</div>"
    html = client.post(
        reverse("section_save", args=[project.pk, "cel_projektu"]), {"text": text}, **HX
    ).content.decode()
    oob = panel(html)
    assert "Rewolucyjny" in oob  # L4 quotes the sentence…
    assert "<script>" not in oob and "<img" not in oob  # …as text, never as markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in oob
