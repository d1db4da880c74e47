"""A structured draft built only from the input, with no model: honest about what it is.

Used when no AI provider is configured and as the last step of failover. It never
invents facts: everything it cannot know is marked [DO WERYFIKACJI] for the consultant.
"""

import datetime
import re

from cards.providers.base import CardDraft, CardInput, Provider, SectionDraft

TODO = "[DO WERYFIKACJI]"
_COST_HEADER = re.compile(r"(?i)koszt|wynagrodz|materia|kwot|pln|zł|amortyz|ekspert|budżet|budzet")

STAGES = (
    "Analiza stanu wiedzy, wymagań i koncepcja rozwiązania",
    "Opracowanie i badanie prototypów częściowych",
    "Prototyp w warunkach zbliżonych do rzeczywistych",
    "Walidacja, testy i opracowanie wersji końcowej",
)


def _date(value: datetime.date) -> str:
    return value.strftime("%d.%m.%Y")


def schedule(
    start: datetime.date, end: datetime.date, names: tuple[str, ...] = STAGES
) -> list[tuple[str, datetime.date, datetime.date]]:
    """Split the project period into consecutive stages that cover it exactly."""
    days = (end - start).days + 1
    count = max(1, min(len(names), days))
    stages = []
    for index in range(count):
        first = start + datetime.timedelta(days=days * index // count)
        last = start + datetime.timedelta(days=days * (index + 1) // count - 1)
        stages.append((names[index], first, last))
    return stages


class OfflineProvider(Provider):
    name = "offline"
    model = "szkic-offline-v1"

    def generate_card(self, card: CardInput) -> CardDraft:
        period = f"{_date(card.start_date)} – {_date(card.end_date)}"
        costs = [(h, v) for h, v in card.extra if _COST_HEADER.search(h)]
        other = [(h, v) for h, v in card.extra if not _COST_HEADER.search(h)]

        description = [
            card.description,
            f"Okres realizacji: {period}. Osoba odpowiedzialna: {card.responsible_person}.",
        ]
        if other:
            description.append("\n".join(f"- {h}: {v}" for h, v in other))
        description.append(
            f"Stan wyjściowy i bariera technologiczna: {TODO} — opisz, od jakiego poziomu wiedzy "
            "i techniki zaczynał się projekt i co uniemożliwiało osiągnięcie celu znanymi metodami."
        )

        if costs:
            cost_text = [
                "Koszty wskazane w arkuszu wejściowym:",
                "\n".join(f"- {h}: {v}" for h, v in costs),
                f"Przypisanie kwot do kategorii kosztów kwalifikowanych (art. 18d ustawy o CIT): {TODO}.",
            ]
        else:
            cost_text = [
                "Arkusz wejściowy nie zawiera kwot. Kategorie kosztów, które mogą dotyczyć projektu:",
                "- wynagrodzenia pracowników i składki — w części odpowiadającej czasowi pracy przy B+R\n"
                "- umowy zlecenia i o dzieło — w tej samej proporcji\n"
                "- materiały i surowce bezpośrednio związane z pracami\n"
                "- sprzęt specjalistyczny niebędący środkiem trwałym\n"
                "- ekspertyzy i usługi badawcze — wyłącznie od jednostek naukowych\n"
                "- odpisy amortyzacyjne od środków używanych w pracach B+R",
                f"Kwoty: {TODO} — pochodzą z ewidencji kosztów prowadzonej dla projektu.",
            ]

        stages = schedule(card.start_date, card.end_date)
        sections = {
            "nazwa_projektu": card.name,
            "cel_projektu": "\n\n".join(
                [
                    card.goal,
                    f"Mierzalny cel względem stanu wyjściowego: {TODO} — podaj wskaźnik z liczbą i jednostką "
                    "(np. „z X do Y”).",
                ]
            ),
            "opis_projektu": "\n\n".join(description),
            "nowatorstwo": "\n\n".join(
                [
                    f"Twórczy charakter prac: {TODO} — wskaż oryginalne rezultaty pracy zespołu "
                    "(projekty, algorytmy, kod, prototypy, procedury badawcze) i wyjaśnij, dlaczego "
                    "rozwiązania nie można było kupić ani skopiować.",
                    f"Poziom nowości: skala przedsiębiorstwa {TODO}.",
                ]
            ),
            "metodologia": "\n\n".join(
                [
                    f"Problemy badawcze i sposób ich rozwiązania: {TODO} — dla każdego problemu opisz "
                    "hipotezę, wykonane próby lub pomiary, rozważane alternatywy oraz to, dlaczego "
                    "powodzenie nie było pewne.",
                    f"Prace prowadzono etapami w okresie {period} pod kierunkiem: {card.responsible_person}. "
                    f"Sposób dokumentowania wyników: {TODO}.",
                ]
            ),
            "rezultaty": "\n\n".join(
                [
                    f"Nowa wiedza uzyskana w projekcie i możliwości jej ponownego wykorzystania: {TODO}.",
                    f"Stopień osiągnięcia celu (planowany a osiągnięty): {TODO}.",
                    f"Dokumenty potwierdzające rezultaty (raporty, protokoły testów, repozytorium): {TODO}.",
                ]
            ),
            "koszty": "\n\n".join(cost_text),
            "harmonogram": "\n\n".join(
                [
                    "Proponowany podział okresu realizacji na etapy (do potwierdzenia):",
                    "\n".join(
                        f"- Etap {i}: {name} ({_date(first)} – {_date(last)})"
                        for i, (name, first, last) in enumerate(stages, start=1)
                    ),
                ]
            ),
        }
        return CardDraft(sections=sections, provider=self.name, model=self.model)

    def generate_section(self, card: CardInput, *, key: str, sections: dict[str, str], hints: str = "") -> SectionDraft:
        """The offline draft of one section (hints need a model; the draft cannot use them)."""
        return SectionDraft(text=self.generate_card(card).sections[key], provider=self.name, model=self.model)
