"""The quality score and checklist (cards.quality): a good hand-written card, then one defect at a time."""

import dataclasses
import datetime

import pytest

from cards.providers.offline import OfflineProvider
from cards.quality import ERROR_CAP, PLACEHOLDER, Severity, card_quality, find_dates, numbers_in, sentences
from cards.sanitize import text_to_html
from cards.sections import SECTION_KEYS
from cards.tests.quality_cards import GOOD_SECTIONS, INPUT, spoil, with_section

GOOD = card_quality(INPUT, GOOD_SECTIONS)

METHOD = GOOD_SECTIONS["metodologia"]
NO_UNCERTAINTY = (
    METHOD.replace("Powodzenie nie było pewne, ponieważ nie wiadomo było, czy", "Sprawdzano, czy")
    .replace("Ryzyko polegało na tym, że", "Trudność polegała na tym, że")
    .replace("Nie było wiadomo, czy model", "Sprawdzano, czy model")
)
GENERIC_CREATIVE = (
    "Prace miały charakter twórczy i oryginalny. Zespół wykonał prace twórcze, które nie były odtwórcze, "
    "a ich wyniki są oryginalne. Działalność była twórcza w rozumieniu przepisów, ponieważ zespół samodzielnie "
    "opracował nowe rozwiązania i wykonał oryginalne prace. Poziom nowości: rozwiązanie jest nowe w skali "
    "przedsiębiorstwa."
)
TWO_STAGES = (
    "Prace podzielono na etapy:\n\n"
    "- Etap 1: Koncepcja i prototypy (01.02.2024 – 30.06.2024)\n"
    "- Etap 2: Walidacja i wersja końcowa (01.07.2024 – 30.11.2024)"
)

# (rule, section, the spoiled sections, a fragment of the quote or message that names the defect)
DEFECTS = [
    ("S1", "rezultaty", with_section("rezultaty", ""), "jest pusta"),
    (
        "S2",
        "nazwa_projektu",
        with_section("nazwa_projektu", "Platforma chmurowa do analizy danych sprzedażowych"),
        "Platforma chmurowa",
    ),
    (
        "S2",
        "opis_projektu",
        spoil("opis_projektu", "Dotychczasowa kontrola", "Pierwsze próby wykonano 15.01.2023. Dotychczasowa kontrola"),
        "15.01.2023",
    ),
    (
        "S2",
        "opis_projektu",
        spoil("opis_projektu", "pod kierunkiem osoby odpowiedzialnej za projekt", "pod kierunkiem Anny Nowak"),
        "Anny Nowak",
    ),
    (
        "D2",
        "harmonogram",
        spoil("harmonogram", "(01.07.2024 – 31.08.2024)", "(lipiec–sierpień)"),
        "Etap 3: Opracowanie i porównanie modeli",
    ),
    (
        "D2",
        "harmonogram",
        spoil("harmonogram", "(01.07.2024 – 31.08.2024)", "(01.03.2024 – 31.03.2024)"),
        "Etap 3",
    ),
    ("D4", "harmonogram", with_section("harmonogram", TWO_STAGES), "2 etapy"),
    ("K1", "nowatorstwo", with_section("nowatorstwo", GENERIC_CREATIVE), "ogólnikowo"),
    (
        "K1",
        "rezultaty",
        with_section("rezultaty", f"Nowa wiedza uzyskana w projekcie: {PLACEHOLDER}."),
        "zwiększenie zasobów wiedzy",
    ),
    ("K3", "metodologia", with_section("metodologia", NO_UNCERTAINTY), "niepewności"),
    (
        "K4",
        "cel_projektu",
        spoil(
            "cel_projektu",
            "zmniejszenie odsetka wadliwych spoin wykrywanych dopiero u klienta z 2,4% do poniżej 0,5%, przy czasie "
            "analizy jednej ramy nie dłuższym niż 40 sekund",
            "wyraźne zmniejszenie liczby wadliwych spoin wykrywanych dopiero u klienta, przy krótkim czasie analizy",
        ),
        "mierzalnego wskaźnika",
    ),
    (
        "K6",
        "nowatorstwo",
        spoil(
            "nowatorstwo", "jest nowe w skali przedsiębiorstwa, które", "jest nowe w skali kraju, a przedsiębiorstwo"
        ),
        "w skali kraju",
    ),
    (
        "K6",
        "nowatorstwo",
        spoil(
            "nowatorstwo",
            "Poziom nowości: rozwiązanie jest nowe w skali przedsiębiorstwa, które",
            "Przedsiębiorstwo",
        ),
        "poziomu nowości",
    ),
    (
        "R1",
        "cel_projektu",
        spoil("cel_projektu", "Celem projektu było opracowanie", "Celem projektu była konfiguracja i opracowanie"),
        "konfiguracja",
    ),
    (
        "C1",
        "koszty",
        spoil("koszty", "Podział kosztów", "Do kosztów doliczono narzut kosztów ogólnych. Podział kosztów"),
        "narzut",
    ),
    ("C1", "koszty", spoil("koszty", "42000 zł", "55000 zł"), "55000"),
    (
        "C2",
        "koszty",
        spoil("koszty", "Podział kosztów", "Projekt obejmował też ekspertyzę zewnętrznej firmy. Podział kosztów"),
        "ekspertyzę",
    ),
    (
        "J1",
        "koszty",
        spoil("koszty", "Podział kosztów", "Koszty rozliczono jak tax credit w systemie HMRC. Podział kosztów"),
        "tax credit",
    ),
    (
        "G1",
        "rezultaty",
        spoil("rezultaty", "Wiedzę można", f"Oszczędności roczne: {PLACEHOLDER}. Wiedzę można"),
        "Oszczędności roczne",
    ),
    (
        "G1",
        "rezultaty",
        spoil("rezultaty", "Wiedzę można", "Skuteczność wykrywania wad wyniosła 97%. Wiedzę można"),
        "97%",
    ),
    (
        "G1",
        "opis_projektu",
        spoil(
            "opis_projektu", "Testowano sieci konwolucyjne", "Zgodnie z normą ISO 17637 testowano sieci konwolucyjne"
        ),
        "ISO 17637",
    ),
    (
        "G1",
        "metodologia",
        spoil("metodologia", "Porównano sieci konwolucyjne", "W bibliotece TensorFlow porównano sieci konwolucyjne"),
        "TensorFlow",
    ),
    (
        "L1",
        "nowatorstwo",
        with_section("nowatorstwo", GOOD_SECTIONS["nowatorstwo"].split("\n\n", 1)[0]),
        "zalecane 200–600",
    ),
    (
        "L4",
        "opis_projektu",
        spoil("opis_projektu", "Spółka spawa", "W dzisiejszym dynamicznym świecie spółka spawa"),
        "W dzisiejszym dynamicznym świecie",
    ),
    (
        "U1",
        "rezultaty",
        spoil("rezultaty", "Wiedzę można", GOOD_SECTIONS["nowatorstwo"].split("\n\n", 1)[0] + "\n\nWiedzę można"),
        "Twórczy charakter prac",
    ),
]


def failed(report, rule):
    return [c for c in report.checks if c.rule == rule and not c.ok]


def test_good_hand_written_card_scores_high_and_fails_nothing():
    assert GOOD.score >= 85
    assert GOOD.failed == ()
    # Every rule is listed as passed, so the checklist shows what was checked.
    assert {c.rule for c in GOOD.checks} == {
        "S1",
        "S2",
        "D1",
        "D2",
        "D4",
        "G1",
        "K1",
        "K3",
        "K4",
        "K6",
        "R1",
        "C1",
        "C2",
        "J1",
        "L1",
        "L4",
        "U1",
    }
    assert all(c.ok for c in GOOD.checks)


@pytest.mark.parametrize(("rule", "section", "sections", "named"), DEFECTS, ids=[f"{d[0]}-{d[3]}" for d in DEFECTS])
def test_single_defect_lowers_the_score_and_is_named_with_its_section(rule, section, sections, named):
    report = card_quality(INPUT, sections)

    assert report.score < GOOD.score
    found = [c for c in failed(report, rule) if c.section == section]
    assert found, [c.as_dict() for c in report.failed]
    assert any(named in c.quote or named in c.message for c in found), [c.as_dict() for c in found]
    for check in found:
        assert check.message and check.severity in (Severity.ERROR, Severity.WARNING)
    # An error caps the score; a warning alone does not.
    if found[0].severity == Severity.ERROR:
        assert report.score <= ERROR_CAP
    elif all(c.severity == Severity.WARNING for c in report.failed):
        assert report.score > ERROR_CAP


def test_failed_checks_come_first_errors_before_warnings():
    sections = spoil("opis_projektu", "Spółka spawa", "W dzisiejszym dynamicznym świecie spółka spawa")
    sections["rezultaty"] = sections["rezultaty"] + f"\n\nOszczędności: {PLACEHOLDER}."
    checks = card_quality(INPUT, sections).checks
    flags = [c.ok for c in checks]
    assert flags == sorted(flags)  # all failed (False) before the passed (True)
    failed_severities = [c.severity for c in checks if not c.ok]
    assert failed_severities[0] == Severity.ERROR and failed_severities[-1] == Severity.WARNING


def test_routine_words_in_the_goal_weigh_more_than_elsewhere():
    in_goal = card_quality(INPUT, spoil("cel_projektu", "Celem projektu było", "Celem projektu była aktualizacja i"))
    elsewhere = card_quality(
        INPUT, spoil("rezultaty", "Wiedzę można", "Wykonano aktualizację stanowiska. Wiedzę można")
    )
    assert failed(in_goal, "R1") and failed(elsewhere, "R1")
    assert in_goal.score < elsewhere.score < GOOD.score


def test_routine_work_named_to_set_it_apart_is_not_flagged():
    report = card_quality(
        INPUT,
        spoil(
            "opis_projektu", "Zakres nie obejmował", "Projekt nie obejmował konfiguracji istniejących systemów. Zakres"
        ),
    )
    assert not failed(report, "R1")


def test_expert_opinion_from_a_scientific_institution_is_fine():
    report = card_quality(
        INPUT, spoil("koszty", "Podział kosztów", "Ekspertyzę wykonała jednostka naukowa. Podział kosztów")
    )
    assert not failed(report, "C2")


def test_a_foreign_term_the_input_itself_uses_is_the_projects_own():
    card = dataclasses.replace(INPUT, description=INPUT.description + " Koszty przypisano metodą proxy.")
    sections = spoil("opis_projektu", "Wyniki są zapisywane", "Koszty przypisano metodą proxy. Wyniki są zapisywane")
    assert not failed(card_quality(card, sections), "J1")
    assert failed(card_quality(INPUT, sections), "J1")


def test_a_proxy_server_is_not_a_foreign_tax_term():
    sections = spoil("opis_projektu", "Wyniki są zapisywane", "Obraz trafia przez serwer proxy. Wyniki są zapisywane")
    assert not failed(card_quality(INPUT, sections), "J1")


def test_naprawde_is_not_routine_repair_work():
    sections = spoil("cel_projektu", "Celem", "Nie było naprawdę wiadomo, czy się uda. Celem")
    report = card_quality(INPUT, sections)
    assert not failed(report, "R1")
    assert failed(card_quality(INPUT, spoil("cel_projektu", "Celem", "Naprawa maszyn. Celem")), "R1")


def test_amounts_written_with_spaces_or_in_thousands_match_the_input():
    sections = spoil("koszty", "150000 zł", "150 000 zł")
    sections = {**sections, "koszty": sections["koszty"].replace("42000 zł", "42 tys. zł")}
    assert not failed(card_quality(INPUT, sections), "C1")


def test_the_responsible_person_in_any_case_form_is_not_another_person():
    sections = spoil(
        "opis_projektu", "pod kierunkiem osoby odpowiedzialnej za projekt", "pod kierunkiem Łukasza Żółkiewskiego"
    )
    assert not failed(card_quality(INPUT, sections), "S2")


def test_start_after_end_in_the_input_is_d1():
    card = dataclasses.replace(INPUT, start_date=datetime.date(2024, 12, 1), end_date=datetime.date(2024, 2, 1))
    report = card_quality(card, GOOD_SECTIONS)
    assert failed(report, "D1")
    assert report.score <= ERROR_CAP


def test_the_same_card_as_editor_html_scores_the_same():
    as_html = {key: text_to_html(text) for key, text in GOOD_SECTIONS.items()}
    report = card_quality(INPUT, as_html)
    assert report.score == GOOD.score
    assert report.failed == ()


def test_offline_draft_is_below_the_cap_and_says_what_to_complete():
    draft = OfflineProvider().generate_card(INPUT)
    report = card_quality(INPUT, draft.sections)
    rules = report.failed_rules()

    assert report.score <= ERROR_CAP
    # The draft leaves the criteria to the consultant, and says so with placeholders…
    assert {"G1", "K1", "K3"} <= rules
    placeholders = {c.section for c in failed(report, "G1") if PLACEHOLDER in c.quote}
    assert {"cel_projektu", "nowatorstwo", "metodologia", "rezultaty"} <= placeholders
    # …but what it does write is true to the input: no invented person, date, amount or foreign term.
    assert not rules & {"S1", "S2", "D1", "D2", "D4", "C1", "J1", "L4", "U1"}


def test_more_missing_criteria_score_lower_even_under_the_cap():
    one = card_quality(INPUT, with_section("metodologia", NO_UNCERTAINTY))
    draft = card_quality(INPUT, OfflineProvider().generate_card(INPUT).sections)
    assert draft.score < one.score <= ERROR_CAP


def test_no_check_ever_gives_a_qualification_verdict():
    reports = [GOOD, card_quality(INPUT, OfflineProvider().generate_card(INPUT).sections)]
    reports += [card_quality(INPUT, sections) for _rule, _key, sections, _named in DEFECTS]
    for report in reports:
        for check in report.checks:
            assert "kwalifikuje" not in check.message.casefold()


@pytest.mark.parametrize(
    "sections",
    [
        {},
        {key: "" for key in SECTION_KEYS},
        {key: None for key in SECTION_KEYS},
        {"nieznana_sekcja": "tekst", "cel_projektu": "<script>alert(1)</script>"},
        {key: "<div><b>" * 200 + "\x00\ufffe" for key in SECTION_KEYS},
        {key: "31.02.2024 99.99.9999 1.1.1 ,,, %%% [DO WERYFIKACJI" for key in SECTION_KEYS},
    ],
    ids=["missing", "empty", "none", "unknown-and-script", "broken-html", "broken-dates"],
)
def test_broken_or_hostile_sections_give_a_report_not_an_exception(sections):
    report = card_quality(INPUT, sections)
    assert 0 <= report.score <= ERROR_CAP
    assert failed(report, "S1") or failed(report, "G1")


def test_scoring_a_huge_card_gives_a_report():
    # How long it takes is a benchmark figure (bench/bench_export.py), not a timed test.
    text = "Zespół badał odblaski spoin aluminium w próbach 40 sekund. " * 800  # ~50 000 characters per section
    report = card_quality(INPUT, {key: text for key in SECTION_KEYS})
    assert 0 <= report.score <= 100
    assert failed(report, "U1")  # the one sentence repeated 800 times


def test_dates_are_read_in_the_forms_cards_use():
    found = [
        (d.first, d.last) for d in find_dates("01.02.2024, 2024-03-05, 7 maja 2024, 06.2024, lipiec 2024, II kw. 2024")
    ]
    assert found == [
        (datetime.date(2024, 2, 1), datetime.date(2024, 2, 1)),
        (datetime.date(2024, 3, 5), datetime.date(2024, 3, 5)),
        (datetime.date(2024, 5, 7), datetime.date(2024, 5, 7)),
        (datetime.date(2024, 6, 1), datetime.date(2024, 6, 30)),
        (datetime.date(2024, 7, 1), datetime.date(2024, 7, 31)),
        (datetime.date(2024, 4, 1), datetime.date(2024, 6, 30)),
    ]


def test_figures_skip_dates_legal_references_and_enumerations():
    text = "Etap 2: art. 18d ust. 2 pkt 1, wyrok II FSK 595/24, 01.02.2024.\n1. Próba 46 receptur po 12,5 h."
    assert [raw for raw, _values, _at in numbers_in(text)] == ["46", "12,5"]


def test_sentences_do_not_split_at_abbreviations():
    assert sentences("Czas min. 12 h, np. Próba A. Druga część.") == ["Czas min. 12 h, np. Próba A.", "Druga część."]
