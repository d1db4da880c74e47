"""Near-identical cards (cards.similarity) and where they are shown: batch page, project page."""

import pytest
from django.urls import reverse

from batches.models import Batch, Project
from batches.services import batch_import
from cards import services, similarity
from cards.models import Section
from cards.providers.base import CardInput
from cards.providers.offline import OfflineProvider
from cards.sanitize import text_to_html
from cards.tests.quality_cards import GOOD_SECTIONS, INPUT

HX = {"HTTP_HX_REQUEST": "true"}

# A light rewording of the good card: a handful of words swapped or changed in each long section.
REWORDED = {
    **GOOD_SECTIONS,
    "nazwa_projektu": "Wizyjna kontrola jakości spoin ram rowerowych",
    "opis_projektu": GOOD_SECTIONS["opis_projektu"]
    .replace("Spółka spawa", "Firma spawa")
    .replace("silnie odbija światło", "mocno odbija światło")
    .replace("Drugim elementem", "Kolejnym elementem")
    .replace("zapisuje wynik", "rejestruje wynik"),
    "nowatorstwo": GOOD_SECTIONS["nowatorstwo"]
    .replace("od podstaw", "od zera")
    .replace("Rozwiązania nie można było kupić", "Takiego rozwiązania nie dało się kupić"),
    "metodologia": GOOD_SECTIONS["metodologia"].replace("Hipoteza zakładała", "Przyjęto hipotezę"),
}

OTHER = {
    "nazwa_projektu": "Receptura folii skrobiowej do mrożonek",
    "cel_projektu": "Opracowanie receptury folii skrobiowej, która po dziesięciu cyklach zamrażania zachowuje "
    "wytrzymałość na rozciąganie i pozostaje kompostowalna, tak aby zastąpić opakowania z polietylenu.",
    "opis_projektu": "Dział technologii modyfikował skrobię ziemniaczaną przez acetylację, dodawał plastyfikatory "
    "glicerynowe i nanocelulozę, a następnie badał przepuszczalność pary wodnej oraz kruchość folii w niskiej "
    "temperaturze. Próby prowadzono w skali laboratoryjnej i na linii pilotażowej wytłaczania.",
    "nowatorstwo": "Własne receptury mieszanek i procedura kondycjonowania próbek w cyklach zamrażania powstały "
    "w zespole; dostępne folie skrobiowe pękały w mrozie, więc nie było czego kupić ani skopiować.",
    "metodologia": "Hipoteza: dodatek nanocelulozy ogranicza mikropęknięcia po zamrożeniu. Każdą recepturę "
    "badano na zrywarce i w komorze klimatycznej, a wyniki porównywano z folią polietylenową jako odniesieniem.",
    "rezultaty": "Zespół ustalił, które proporcje plastyfikatora i nanocelulozy utrzymują elastyczność folii "
    "w mrozie; wiedzę wykorzysta przy opakowaniach innych produktów mrożonych.",
    "koszty": "Wynagrodzenia technologów i materiały do prób, według ewidencji kosztów projektu.",
    "harmonogram": "- Etap 1: Receptury laboratoryjne (01.09.2023 – 31.03.2024)\n- Etap 2: Próby pilotażowe "
    "(01.04.2024 – 31.03.2025)",
}


# A third project unlike the other two.
THIRD = {
    "nazwa_projektu": "Algorytm planowania tras dla floty pojazdów serwisowych",
    "cel_projektu": "Opracowanie algorytmu, który układa dzienne trasy serwisantów z uwzględnieniem okien czasowych "
    "klientów i korków, skracając łączny czas przejazdu floty o jedną piątą.",
    "opis_projektu": "Zespół programistów zbudował model grafowy sieci dróg miasta, zebrał historyczne czasy "
    "przejazdu z lokalizatorów GPS i porównywał heurystyki lokalnego przeszukiwania z programowaniem "
    "całkowitoliczbowym na danych z trzech oddziałów firmy.",
    "nowatorstwo": "Dostępne planery nie znały okien serwisowych ani priorytetów umów gwarancyjnych, dlatego "
    "funkcję kosztu i procedurę naprawy tras zaprojektowano samodzielnie w dziale IT.",
    "metodologia": "Każdą heurystykę uruchamiano na stu dniach archiwalnych zleceń, mierząc długość tras, "
    "spóźnienia i czas obliczeń; najlepsze warianty sprawdzono w pilotażu w jednym oddziale.",
    "rezultaty": "Powstała wiedza o tym, które heurystyki dają stabilne trasy przy nagłych zgłoszeniach awarii; "
    "dyspozytorzy korzystają z prototypu przy planowaniu dnia.",
    "koszty": "Wynagrodzenia programistów i koszt serwera obliczeniowego.",
    "harmonogram": "- Etap 1: Model sieci dróg (01.02.2024 – 31.07.2024)\n- Etap 2: Pilotaż (01.08.2024 – 31.01.2025)",
}

# The statutory cost categories (DOMAIN.md) as a consultant pastes them into every card's costs.
STANDARD_COSTS = (
    "Koszty kwalifikowane obejmują wynagrodzenia pracowników oraz składki na ubezpieczenia społeczne w części, "
    "w jakiej czas pracy przeznaczono na działalność badawczo-rozwojową, wynagrodzenia z umów cywilnoprawnych "
    "w tej samej proporcji, materiały i surowce, sprzęt specjalistyczny niebędący środkiem trwałym, ekspertyzy "
    "i usługi badawcze nabyte wyłącznie od jednostek naukowych, odpłatne korzystanie z aparatury naukowo-badawczej "
    "oraz odpisy amortyzacyjne od środków trwałych używanych w działalności badawczo-rozwojowej, z wyłączeniem "
    "samochodów osobowych i budynków. Koszty zwrócone w jakiejkolwiek formie nie podlegają odliczeniu."
)


def card(id_: int, sections: dict) -> similarity.CardText:
    return similarity.CardText(id=id_, sections=sections)


# --------------------------------------------------------------------------- the pure module


def test_a_lightly_reworded_card_is_flagged_with_its_sections():
    pairs = similarity.similar_pairs([card(1, GOOD_SECTIONS), card(2, REWORDED)])
    assert len(pairs) == 1
    pair = pairs[0]
    assert (pair.a, pair.b) == (1, 2)
    assert 70 <= pair.percent < 100
    keys = [key for key, _value in pair.sections]
    assert {"opis_projektu", "nowatorstwo", "metodologia", "rezultaty", "cel_projektu"} <= set(keys)
    assert all(value >= similarity.SECTION_THRESHOLD for _key, value in pair.sections)


def test_two_genuinely_different_cards_are_not_flagged():
    assert similarity.similar_pairs([card(1, GOOD_SECTIONS), card(2, OTHER)]) == []


def test_one_copied_section_alone_does_not_flag_the_pair():
    # A single identical section may be standard text; it is not a finding on its own.
    copied = {**OTHER, "metodologia": GOOD_SECTIONS["metodologia"]}
    assert similarity.similar_pairs([card(1, GOOD_SECTIONS), card(2, copied)]) == []


def test_two_copied_sections_flag_the_pair_even_when_the_whole_card_differs():
    copied = {**OTHER, "metodologia": GOOD_SECTIONS["metodologia"], "nowatorstwo": GOOD_SECTIONS["nowatorstwo"]}
    pairs = similarity.similar_pairs([card(1, GOOD_SECTIONS), card(2, copied)])
    assert len(pairs) == 1
    assert pairs[0].similarity < similarity.PAIR_THRESHOLD
    assert {key for key, _value in pairs[0].sections} == {"metodologia", "nowatorstwo"}
    assert all(percent == 100 for _key, percent in pairs[0].section_percents)


def with_costs(sections: dict) -> dict:
    return {**sections, "koszty": STANDARD_COSTS}


def test_standard_cost_text_in_three_cards_flags_no_pair():
    cards = [card(1, with_costs(GOOD_SECTIONS)), card(2, with_costs(OTHER)), card(3, with_costs(THIRD))]
    assert similarity.similar_pairs(cards) == []


def test_standard_cost_text_is_boilerplate_only_in_the_section_it_repeats_in():
    cards = [card(1, with_costs(GOOD_SECTIONS)), card(2, with_costs(OTHER)), card(3, with_costs(THIRD))]
    standard = similarity.boilerplate({k: similarity.shingles(v) for k, v in c.sections.items()} for c in cards)
    assert similarity.shingles(STANDARD_COSTS) <= standard["koszty"]
    assert not standard.get("opis_projektu")
    # In two cards only it is not boilerplate, but one alike section still does not flag the pair.
    two = cards[:2]
    standard = similarity.boilerplate({k: similarity.shingles(v) for k, v in c.sections.items()} for c in two)
    assert not standard["koszty"]
    assert similarity.similar_pairs(two) == []


def test_boilerplate_does_not_hide_a_lightly_reworded_copy():
    cards = [
        card(1, with_costs(GOOD_SECTIONS)),
        card(2, with_costs(REWORDED)),
        card(3, with_costs(OTHER)),
        card(4, with_costs(THIRD)),
    ]
    pairs = similarity.similar_pairs(cards)
    assert [(p.a, p.b) for p in pairs] == [(1, 2)]
    assert "koszty" not in {key for key, _value in pairs[0].sections}


def test_a_batch_copied_wholesale_from_one_card_is_still_flagged():
    # Every shingle is in three or more cards here; discounting it from the whole card would hide them all.
    cards = [card(i, dict(GOOD_SECTIONS)) for i in (1, 2, 3)]
    pairs = similarity.similar_pairs(cards)
    assert {(p.a, p.b) for p in pairs} == {(1, 2), (1, 3), (2, 3)}
    assert all(p.percent == 100 for p in pairs)


def test_ignored_template_text_does_not_make_cards_alike():
    template = "Sposób dokumentowania wyników, kategorie kosztów kwalifikowanych i etapy prac do potwierdzenia. " * 3
    a = {key: text + "\n\n" + template for key, text in GOOD_SECTIONS.items()}
    b = {key: text + "\n\n" + template for key, text in OTHER.items()}
    ignore = similarity.shingles(template)
    assert similarity.similar_pairs([card(1, a), card(2, b)], ignore=ignore) == []


def test_involving_keeps_only_pairs_with_a_given_card():
    cards = [card(1, GOOD_SECTIONS), card(2, REWORDED), card(3, OTHER), card(4, dict(OTHER))]
    assert {(p.a, p.b) for p in similarity.similar_pairs(cards)} == {(1, 2), (3, 4)}
    assert {(p.a, p.b) for p in similarity.similar_pairs(cards, involving={3})} == {(3, 4)}


@pytest.mark.parametrize("sections", [{}, {"opis_projektu": ""}, {"opis_projektu": "!!! ??? ..."}, {"x": "a"}])
def test_empty_or_odd_cards_are_never_alike(sections):
    assert similarity.similar_pairs([card(1, sections), card(2, sections)]) == []


def test_offline_drafts_of_twenty_projects_are_not_flagged_for_their_template(case_bytes):
    from batches import excel

    rows = excel.parse_workbook(case_bytes("projekty-20.xlsx"))
    cards = []
    for row in rows:
        data = CardInput(
            name=row.name,
            description=row.description,
            goal=row.goal,
            start_date=row.start_date,
            end_date=row.end_date,
            responsible_person=row.responsible_person,
            extra=row.extra,
        )
        cards.append(card(row.row_number, OfflineProvider().generate_card(data).sections))
    # Compared as written, the template alone makes most pairs "alike" as whole cards (its sections are
    # boilerplate, so the section rule no longer adds the rest)…
    assert len(similarity.similar_pairs(cards)) > len(cards) * (len(cards) - 1) // 4
    # …with the template's own text set aside, no pair is.
    assert similarity.similar_pairs(cards, ignore=set(services.offline_template_shingles())) == []


# --------------------------------------------------------------------------- pages


def project_with_card(batch: Batch, row: int, sections: dict, card_input: CardInput = INPUT) -> Project:
    project = Project.objects.create(
        batch=batch,
        row_number=row,
        name=sections["nazwa_projektu"],
        description=card_input.description,
        goal=card_input.goal,
        start_date=card_input.start_date,
        end_date=card_input.end_date,
        responsible_person=card_input.responsible_person,
        status=Project.Status.GENERATED,
        provider="anthropic",
    )
    for position, (key, text) in enumerate(sections.items()):
        Section.objects.create(project=project, key=key, position=position, text=text_to_html(text), origin="ai")
    services.project_rescore(project=project)
    return project


@pytest.fixture
def pair_batch(owner) -> Batch:
    batch = Batch.objects.create(owner=owner, name="Partia A", token="tokA")
    project_with_card(batch, 2, GOOD_SECTIONS)
    project_with_card(batch, 3, REWORDED)
    project_with_card(batch, 4, OTHER)
    return batch


def test_batch_page_lists_the_flagged_pair_with_percent_and_sections(client, owner, pair_batch):
    client.force_login(owner)
    for headers in ({}, HX):
        html = client.get(reverse("batch_detail", args=[pair_batch.pk]), **headers).content.decode()
        assert 'id="similar-pairs"' in html
        assert html.count("↔") == 1
        assert "Wizyjna kontrola jakości spoin ram rowerowych" in html.split('id="similar-pairs"')[1]
        assert "Opis projektu" in html.split('id="similar-pairs"')[1]
        assert "Receptura folii" not in html.split('id="similar-pairs"')[1]


def test_batch_page_names_the_finding_and_shows_per_section_percents(client, owner, pair_batch):
    import re

    client.force_login(owner)
    for headers in ({}, HX):
        html = client.get(reverse("batch_detail", args=[pair_batch.pk]), **headers).content.decode()
        block = html.split('id="similar-pairs"')[1]
        assert "Karty o bardzo podobnej treści" in block
        assert "niemal identycznej" not in html
        assert re.search(r"Opis projektu \d{2,3}%", block), block
    good = pair_batch.projects.order_by("row_number").first()
    html = client.get(reverse("project_detail", args=[good.pk])).content.decode()
    assert re.search(r"Opis projektu \d{2,3}%", html)


def test_standard_cost_text_in_three_projects_shows_no_pair_on_the_batch_page(client, owner):
    batch = Batch.objects.create(owner=owner, name="Partia K", token="tokK")
    projects = [
        project_with_card(batch, row, with_costs(sections))
        for row, sections in ((2, GOOD_SECTIONS), (3, OTHER), (4, THIRD))
    ]
    assert services.batch_similar_pairs(batch=batch) == []
    client.force_login(owner)
    for headers in ({}, HX):
        html = client.get(reverse("batch_detail", args=[batch.pk]), **headers).content.decode()
        assert 'id="similar-pairs"' not in html
    assert "Podobna do:" not in client.get(reverse("project_detail", args=[projects[0].pk])).content.decode()


def test_project_page_says_which_card_it_is_similar_to(client, owner, pair_batch):
    good, reworded, other = pair_batch.projects.order_by("row_number")
    client.force_login(owner)
    html = client.get(reverse("project_detail", args=[good.pk])).content.decode()
    assert "Podobna do:" in html
    assert f'href="{reverse("project_detail", args=[reworded.pk])}"' in html
    html = client.get(reverse("project_detail", args=[other.pk])).content.decode()
    assert "Podobna do:" not in html


def test_the_same_clients_other_batch_is_compared_but_not_another_clients_or_users(client, owner, outsider):
    first = Batch.objects.create(owner=owner, name="Klient X 2023", token="t1", client_name="Klient X Sp. z o.o.")
    project_with_card(first, 2, GOOD_SECTIONS)
    second = Batch.objects.create(owner=owner, name="Klient X 2024", token="t2", client_name="klient x sp. z o.o. ")
    copy = project_with_card(second, 2, REWORDED)
    other_client = Batch.objects.create(owner=owner, name="Klient Y", token="t3", client_name="Klient Y")
    project_with_card(other_client, 2, REWORDED)
    foreign = Batch.objects.create(owner=outsider, name="Obcy", token="t4", client_name="Klient X Sp. z o.o.")
    project_with_card(foreign, 2, GOOD_SECTIONS)

    pairs = services.batch_similar_pairs(batch=second)
    assert [(p["a"].batch_id, p["b"].batch_id) for p in pairs] == [(first.pk, second.pk)]
    assert services.batch_similar_pairs(batch=other_client) == []
    client.force_login(owner)
    html = client.get(reverse("project_detail", args=[copy.pk])).content.decode()
    assert "Podobna do:" in html and "Klient X 2023" in html
    assert "Obcy" not in html


def test_without_a_client_only_the_batch_itself_is_compared(owner):
    first = Batch.objects.create(owner=owner, name="A", token="t1")
    project_with_card(first, 2, GOOD_SECTIONS)
    second = Batch.objects.create(owner=owner, name="B", token="t2")
    project_with_card(second, 2, REWORDED)
    assert services.batch_similar_pairs(batch=second) == []


def test_imported_offline_drafts_of_twenty_projects_show_no_similar_pairs(client, owner, case_bytes):
    batch = batch_import(content=case_bytes("projekty-20.xlsx"), owner=owner, filename="projekty-20.xlsx")
    Project.objects.filter(batch=batch).update(status=Project.Status.QUEUED, requested_provider="offline")
    for project in batch.projects.all():
        services.project_generate(project_id=project.pk)
    assert services.batch_similar_pairs(batch=batch) == []
    client.force_login(owner)
    assert 'id="similar-pairs"' not in client.get(reverse("batch_detail", args=[batch.pk])).content.decode()


def test_offline_drafts_of_copied_inputs_are_flagged(owner, make_batch):
    batch = make_batch(owner, projects=2)  # the fixture's two projects share one description and goal
    Project.objects.filter(batch=batch).update(status=Project.Status.QUEUED, requested_provider="offline")
    for project in batch.projects.all():
        services.project_generate(project_id=project.pk)
    pairs = services.batch_similar_pairs(batch=batch)
    assert len(pairs) == 1 and pairs[0]["percent"] >= 80


# --------------------------------------------------------------------------- the cache of pairs


def section_text_reads(ctx) -> int:
    return sum('"cards_section"."text"' in q["sql"] for q in ctx.captured_queries)


def test_a_second_view_of_the_pairs_reads_no_section_text(owner, pair_batch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = services.batch_similar_pairs(batch=pair_batch)
    with CaptureQueriesContext(connection) as ctx:
        again = services.batch_similar_pairs(batch=pair_batch)
    assert section_text_reads(ctx) == 0
    assert [(p["a"].pk, p["b"].pk, p["percent"], p["sections"]) for p in again] == [
        (p["a"].pk, p["b"].pk, p["percent"], p["sections"]) for p in first
    ]
    # The project page's list comes from the same cached pairs.
    good = pair_batch.projects.order_by("row_number").first()
    with CaptureQueriesContext(connection) as ctx:
        similar = services.project_similar(project=good)
    assert section_text_reads(ctx) == 0 and len(similar) == 1


def test_a_project_page_before_the_batch_page_compares_only_its_own_card_and_finds_the_same_pairs(owner, pair_batch):
    from django.core.cache import cache

    good, reworded, other = pair_batch.projects.order_by("row_number")
    for key, text in GOOD_SECTIONS.items():  # a second pair: good and other
        services.section_update(section=other.sections.get(key=key), text=text_to_html(text), author=owner)
    cache.clear()
    own = {
        project.pk: [(s["project"].pk, s["percent"], s["sections"]) for s in services.project_similar(project=project)]
        for project in (good, reworded, other)
    }
    cache.clear()
    pairs = services.batch_similar_pairs(batch=pair_batch)
    from_batch = {
        project.pk: [
            ((p["b"] if p["a"].pk == project.pk else p["a"]).pk, p["percent"], p["sections"])
            for p in pairs
            if project.pk in (p["a"].pk, p["b"].pk)
        ]
        for project in (good, reworded, other)
    }
    assert own == from_batch
    assert len(own[good.pk]) == 2 and len(own[reworded.pk]) == 2


@pytest.fixture
def redis_found_down(settings):
    """The shared Redis failed a moment ago: the limiter's store is in its back-off."""
    from rndcards import ratelimit

    settings.RNDCARDS_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:9/0"
    ratelimit.reset_backends()
    ratelimit._backend()._failed(ConnectionError("Redis nie odpowiada"))
    yield
    ratelimit.reset_backends()


def test_while_redis_is_down_the_pairs_are_computed_without_waiting_on_the_cache(
    owner, pair_batch, redis_found_down, monkeypatch
):
    """A hung Redis costs its socket timeout (2 s) on every cache call: a page must not pay it
    while the shared Redis is known to be down."""
    from django.core.cache import caches

    good = pair_batch.projects.order_by("row_number").first()

    def hangs(*args, **kwargs):
        raise AssertionError("the cache was asked while Redis is down")

    for name in ("get", "get_many", "set", "set_many"):
        monkeypatch.setattr(type(caches["default"]), name, hangs)
    assert len(services.batch_similar_pairs(batch=pair_batch)) == 1
    assert len(services.project_similar(project=good)) == 1


def test_a_project_page_asks_the_cache_once_for_both_of_its_keys(owner, pair_batch, monkeypatch):
    from django.core.cache import caches

    good = pair_batch.projects.order_by("row_number").first()
    backend = type(caches["default"])
    caches["default"].clear()
    reads, depth = [], [0]

    def counted(name, original):
        def call(*args, **kwargs):
            if not depth[0]:  # the local-memory backend's get_many calls get itself
                reads.append(name)
            depth[0] += 1
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1

        return call

    for name in ("get", "get_many"):
        monkeypatch.setattr(backend, name, counted(name, getattr(backend, name)))
    assert len(services.project_similar(project=good)) == 1
    assert reads == ["get_many"]


def test_an_edit_that_ends_the_copy_removes_the_pair_at_once(client, owner, pair_batch):
    good, reworded, _other = pair_batch.projects.order_by("row_number")
    assert len(services.batch_similar_pairs(batch=pair_batch)) == 1
    for key, text in THIRD.items():
        services.section_update(section=reworded.sections.get(key=key), text=text_to_html(text), author=owner)
    assert services.batch_similar_pairs(batch=pair_batch) == []
    client.force_login(owner)
    assert "Podobna do:" not in client.get(reverse("project_detail", args=[good.pk])).content.decode()


def test_an_edit_that_copies_a_card_shows_the_new_pair_at_once(owner, pair_batch):
    _good, _reworded, other = pair_batch.projects.order_by("row_number")
    assert len(services.batch_similar_pairs(batch=pair_batch)) == 1
    for key, text in GOOD_SECTIONS.items():
        services.section_update(section=other.sections.get(key=key), text=text_to_html(text), author=owner)
    assert len(services.batch_similar_pairs(batch=pair_batch)) == 3


def test_a_deleted_card_and_a_new_batch_of_the_client_change_the_pairs(owner, pair_batch):
    _good, reworded, _other = pair_batch.projects.order_by("row_number")
    assert len(services.batch_similar_pairs(batch=pair_batch)) == 1
    reworded.delete()
    assert services.batch_similar_pairs(batch=pair_batch) == []
    Batch.objects.filter(pk=pair_batch.pk).update(client_name="Klient Z")
    pair_batch.refresh_from_db()
    later = Batch.objects.create(owner=owner, name="Klient Z 2025", token="tZ", client_name="Klient Z")
    project_with_card(later, 2, REWORDED)
    assert len(services.batch_similar_pairs(batch=pair_batch)) == 1


def test_without_a_working_cache_the_pairs_are_still_computed(settings, owner, pair_batch):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    assert len(services.batch_similar_pairs(batch=pair_batch)) == 1
    assert len(services.batch_similar_pairs(batch=pair_batch)) == 1
