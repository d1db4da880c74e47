"""The quality score (0–100) and checklist of a card: deterministic rules, no model, no ORM.

Takes the project's input fields (a CardInput) and the eight section texts (sanitized HTML
or plain text) and returns a QualityReport. The rules are the table "Quality checks" of
shared/DOMAIN.md; they agree with what the system prompt asks of a model and with what
the offline draft writes (its [DO WERYFIKACJI] places are reported, never accepted as done).

The report never says whether a project qualifies for the relief: it lists what to add or
change, and the consultant decides.

Score: the rules fall into four groups — criteria (K) 35 %, facts/structure/dates (S, D, G)
25 %, risk and law (R, J, C) 20 %, form (L, U) 20 %. Inside a group each rule weighs by its
severity (E 3, W 2; I is information and weighs nothing); a failed rule loses its weight
(R1 outside the goal only half of it: routine words in the goal are the stronger signal).
Any failed E caps the score at 49: the score of such a card is scaled into 0–49 rather than
cut at 49, so cards with errors still sort by how much is missing (an offline draft with
every criterion open scores below one that only lacks a figure).
"""

import bisect
import datetime
import enum
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cards.providers.base import CardInput
from cards.sanitize import clean_text, html_to_text
from cards.sections import SECTION_HEADINGS, SECTION_KEYS

PLACEHOLDER = "[DO WERYFIKACJI]"
ERROR_CAP = 49


class Severity(enum.StrEnum):
    ERROR = "E"
    WARNING = "W"
    INFO = "I"


@dataclass(frozen=True)
class Check:
    """One finding: a rule about one section, passed or failed, with what to add or change."""

    rule: str
    severity: Severity
    section: str  # a section key, or "" for the whole card
    ok: bool
    message: str
    quote: str = ""  # the offending sentence, when there is one

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "section": self.section,
            "ok": self.ok,
            "message": self.message,
            "quote": self.quote,
        }


@dataclass(frozen=True)
class QualityReport:
    score: int
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def failed_rules(self) -> set[str]:
        return {c.rule for c in self.checks if not c.ok}

    def as_list(self) -> list[dict]:
        return [c.as_dict() for c in self.checks]


@dataclass(frozen=True)
class Rule:
    id: str
    group: str
    severity: Severity
    title: str  # what passing means, shown for a passed rule


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("S1", "SDG", Severity.ERROR, "Wszystkie osiem sekcji jest wypełnionych."),
        Rule("S2", "SDG", Severity.ERROR, "Nazwa, daty i osoba odpowiedzialna zgadzają się z arkuszem."),
        Rule("D1", "SDG", Severity.ERROR, "Data rozpoczęcia nie jest późniejsza niż data zakończenia."),
        Rule("D2", "SDG", Severity.ERROR, "Każdy etap harmonogramu ma daty w okresie projektu, w kolejności."),
        Rule("D4", "SDG", Severity.WARNING, "Harmonogram ma od 3 do 8 etapów."),
        Rule("G1", "SDG", Severity.ERROR, "Liczby, daty, normy i nazwy dają się odnaleźć w danych wejściowych."),
        Rule("K1", "K", Severity.ERROR, "Twórczość, systematyczność i nowa wiedza są opisane konkretnie."),
        Rule("K3", "K", Severity.ERROR, "Opisano niepewność rozwiązania problemów badawczych."),
        Rule("K4", "K", Severity.WARNING, "Cel zawiera mierzalny wskaźnik (liczba z jednostką lub %)."),
        Rule("K6", "K", Severity.WARNING, "Podano poziom nowości rozwiązania."),
        Rule("R1", "RJC", Severity.WARNING, "Brak słownictwa prac rutynowych i wdrożeniowych."),
        Rule("C1", "RJC", Severity.ERROR, "Koszty: tylko kategorie ustawowe i kwoty z arkusza."),
        Rule("C2", "RJC", Severity.WARNING, "Ekspertyzy wskazane tylko od jednostek naukowych."),
        Rule("J1", "RJC", Severity.ERROR, "Brak pojęć z zagranicznych systemów podatkowych."),
        Rule("L1", "LU", Severity.WARNING, "Długość karty i sekcji mieści się w zalecanych zakresach."),
        Rule("L4", "LU", Severity.WARNING, "Brak pustych ozdobników i superlatywów."),
        Rule("U1", "LU", Severity.WARNING, "Akapity karty się nie powtarzają."),
    )
}

GROUP_WEIGHTS = {"K": 35, "SDG": 25, "RJC": 20, "LU": 20}
SEVERITY_WEIGHTS = {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 0}

# Words-per-part ranges of DOMAIN.md (L1): (label, section keys, min, max).
LENGTHS = (
    ("cała karta", SECTION_KEYS, 1200, 3000),
    ("cel i opis projektu razem", ("cel_projektu", "opis_projektu"), 600, 1100),
    ("problemy badawcze (metodologia)", ("metodologia",), 250, 600),
    ("prace twórcze (nowatorstwo)", ("nowatorstwo",), 200, 600),
    ("rezultaty", ("rezultaty",), 150, 350),
)


# --------------------------------------------------------------------------- text helpers

_TAG = re.compile(r"<[a-zA-Z/!]")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)
# Abbreviations after which a full stop does not end the sentence.
_ABBREVIATIONS = frozenset(
    "np min max ok tys mln mld ul nr art ust pkt tzw m.in itp itd r godz ds prof dr inż mgr zob por lit poz "
    "wg ang tj jw kw sp zm pn".split()
)


@functools.lru_cache(maxsize=4096)
def plain(text: str) -> str:
    """Plain text of a section stored as sanitized HTML (or already plain); memoised, as
    html_to_text, since every page view of a batch reads all of its sections."""
    text = clean_text(text or "")
    return html_to_text(text) if _TAG.search(text) else text.strip()


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def sentences(text: str) -> list[str]:
    """Sentences of a plain text: lines split first, then at . ! ? followed by a capital."""
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        start = 0
        for match in re.finditer(r"[.!?…](?=\s+[\"„(\[-]?[A-ZĄĆĘŁŃÓŚŹŻ0-9])", line):
            before = re.search(r"([\w.]+)\.$", line[start : match.end()])
            if before and before.group(1).casefold() in _ABBREVIATIONS:
                continue
            out.append(line[start : match.end()].strip())
            start = match.end()
        if line[start:].strip():
            out.append(line[start:].strip())
    return out


def quote(sentence: str, limit: int = 220) -> str:
    sentence = " ".join(sentence.split())
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def fold(text: str) -> str:
    """Lower case without diacritics, for comparisons with the input."""
    text = text.replace("ł", "l").replace("Ł", "L")
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def stem(word: str) -> str:
    # Polish inflects heavily; a six-letter prefix of the folded word is a crude but
    # predictable stem ("spoin", "spoiny", "spoinach" meet; short words stay whole).
    return fold(word)[:6]


# Function words and the generic vocabulary of any R&D card: sharing these with the input
# does not make a text specific to the project.
_STOP = frozenset(
    stem(w)
    for w in (
        "oraz także lub albo jednak który która które którego której których przez przy jako jest były było "
        "została został zostały zostanie będzie mogło może można tego tej tych temu takie taki takich każdy "
        "każdego wszystkie wszystkich ponieważ dlatego również bardzo więcej mniej między wśród podczas "
        "poprzez według około obecnie następnie pozwala pozwoli umożliwia umożliwi dzięki ramach zakresie "
        "projekt projektu projekcie projektem projekty prace pracy prac badania badań badawcze badawczych "
        "rozwojowe rozwojowych rozwiązanie rozwiązania rozwiązań opracowanie opracowania opracowano "
        "zespół zespołu firma firmy spółka spółki przedsiębiorstwa celem cel celu wiedzy wiedza nowej "
        "nowych nowego nowe nowa twórczy twórcze twórczych charakter systematyczny systematyczne "
        "systematycznie etapów etapy etapie sposób sposobu wyniki wyników rezultaty rezultatów metody "
        "metoda metod innowacyjny innowacyjne nowatorski nowatorskie zastosowanie zastosowania"
    ).split()
)


def content_stems(text: str) -> set[str]:
    return {stem(w) for w in words(text) if len(w) >= 5} - _STOP


# --------------------------------------------------------------------------- dates and numbers

_MONTHS = {
    "stycz": 1,
    "lut": 2,
    "marz": 3,
    "marc": 3,
    "kwie": 4,
    "maj": 5,
    "maj ": 5,
    "czerw": 6,
    "lip": 7,
    "sierp": 8,
    "wrze": 9,
    "pazdz": 10,
    "listop": 11,
    "grud": 12,
}
_MONTH_WORD = r"(?:stycz\w*|lut\w*|mar[cz]\w*|kwie\w*|maj\w*|czerw\w*|lip\w*|sierp\w*|wrze[sś]\w*|pa[zź]dziern\w*|listopad\w*|grud\w*)"
_DATE_PATTERNS = (
    # 01.02.2024, 1.2.2024, 01/02/2024, 01-02-2024
    ("dmy", re.compile(r"(?<![\d.])(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?![\d])")),
    ("ymd", re.compile(r"(?<![\d.])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d])")),
    # 1 lutego 2024
    ("dMy", re.compile(rf"(?i)(?<!\d)(\d{{1,2}})\s+({_MONTH_WORD})\s+(\d{{4}})")),
    # 02.2024, 02/2024
    ("my", re.compile(r"(?<![\d.])(\d{1,2})[./](\d{4})(?![\d.])")),
    # luty 2024, lutego 2024
    ("My", re.compile(rf"(?i)\b({_MONTH_WORD})\s+(\d{{4}})")),
    # I kw. 2024, III kwartał 2024
    ("qy", re.compile(r"\b(I{1,3}|IV)\s*kw(?:\.|arta\w*)?\s+(\d{4})")),
)


@dataclass(frozen=True)
class DateSpan:
    """A date as written: a day, or a month or quarter (first and last day)."""

    text: str
    first: datetime.date
    last: datetime.date
    at: int  # position in the text


def _month_number(word: str) -> int | None:
    word = fold(word)
    for prefix, number in _MONTHS.items():
        if word.startswith(prefix.strip()):
            return number
    return None


def _month_end(year: int, month: int) -> datetime.date:
    nxt = datetime.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - datetime.timedelta(days=1)


def find_dates(text: str) -> list[DateSpan]:
    """Dates written in the text, in order; each span of text is read once (longest form first)."""
    taken: list[tuple[int, int]] = []
    found: list[DateSpan] = []
    for kind, pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            try:
                if kind == "dmy":
                    first = last = datetime.date(int(m[3]), int(m[2]), int(m[1]))
                elif kind == "ymd":
                    first = last = datetime.date(int(m[1]), int(m[2]), int(m[3]))
                elif kind == "dMy":
                    month = _month_number(m[2])
                    if month is None:
                        continue
                    first = last = datetime.date(int(m[3]), month, int(m[1]))
                elif kind == "my":
                    first = datetime.date(int(m[2]), int(m[1]), 1)
                    last = _month_end(int(m[2]), int(m[1]))
                elif kind == "My":
                    month = _month_number(m[1])
                    if month is None:
                        continue
                    first, last = datetime.date(int(m[2]), month, 1), _month_end(int(m[2]), month)
                else:
                    quarter = {"I": 1, "II": 2, "III": 3, "IV": 4}[m[1]]
                    first = datetime.date(int(m[2]), 3 * quarter - 2, 1)
                    last = _month_end(int(m[2]), 3 * quarter)
            except ValueError:
                continue  # 31.02.2024 is not a date; G1 sees its digits as figures
            taken.append((m.start(), m.end()))
            found.append(DateSpan(m[0], first, last, m.start()))
    return sorted(found, key=lambda d: d.at)


_LEGAL_REF = re.compile(
    r"(?i)\b(?:art\.|ust\.|pkt|§|lit\.|poz\.|dz\.\s*u\.)\s*\d+[a-z]?"
    r"(?:\s*(?:[-–]|,|i|oraz|ust\.|pkt|lit\.)\s*\d+[a-z]?)*"
    r"|\b[IV]{1,3}\s+[A-Z]{2,4}\s+\d+/\d+"  # NSA signatures: II FSK 595/24
    r"|\bz\s+dnia\s+\d+"
)
_STANDARD = re.compile(
    r"\b(?:PN-)?(?:EN|ISO|IEC|DIN|ASTM|IEEE|PN|IATF|VDA)(?:[ /-](?:EN|ISO|IEC))*[ -]?\d[\d.:-]*\d?\b"
)
_NUMBER = re.compile(r"(?<![\w,.])\d{1,3}(?:[ \u00a0]\d{3})+(?:,\d+)?(?![\d])|(?<![\w,.])\d+(?:[.,]\d+)?(?![\d])")
_ENUMERATION = re.compile(r"(?i)(?:\betap\w*|\bfaz\w*|\bkrok\w*|\bproblem\w*|\bhipotez\w*|\bzadani\w*|\bnr)\s*$")


def _number_values(raw: str, after: str) -> set[str]:
    """Comparable values of a number as written ('150 000' and '150000' meet; '150 tys.' too)."""
    value = raw.replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        number = float(value)
    except ValueError:
        return set()
    values = {_canonical(number)}
    tail = after[:8].lstrip().casefold()
    if tail.startswith("tys"):
        values.add(_canonical(number * 1000))
    elif tail.startswith("mln"):
        values.add(_canonical(number * 1_000_000))
    return values


def _canonical(number: float) -> str:
    return f"{number:.4f}".rstrip("0").rstrip(".")


def numbers_in(text: str) -> list[tuple[str, set[str], int]]:
    """(as written, comparable values, position) of each figure in the text that is not part
    of a date, a legal reference, a standard's number or an enumeration ("Etap 2", "1.")."""
    chars = list(text)
    spans = [(d.at, d.at + len(d.text)) for d in find_dates(text)]
    spans += [(m.start(), m.end()) for m in _LEGAL_REF.finditer(text)]
    spans += [(m.start(), m.end()) for m in _STANDARD.finditer(text)]
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    masked = "".join(chars)
    found = []
    for m in _NUMBER.finditer(masked):
        before = masked[max(0, m.start() - 40) : m.start()]
        if _ENUMERATION.search(before):
            continue
        line_start = before.rfind("\n") + 1
        opens_line = line_start > 0 or m.start() <= 40
        if opens_line and not before[line_start:].strip(" -•") and re.match(r"[.)]", masked[m.end() : m.end() + 1]):
            continue  # "1." or "2)" opening a line
        found.append((m[0], _number_values(m[0], masked[m.end() :]), m.start()))
    return found


# --------------------------------------------------------------------------- vocabularies

_PLACEHOLDER_RE = re.compile(r"\[\s*DO\s+WERYFIKACJI\s*\]", re.I)

_ROUTINE = re.compile(
    r"(?i)\b(rutynow\w*|okresow\w*|aktualizacj\w*|utrzymani\w*|serwis\w*|konserwacj\w*|napraw(?!dę)\w*"
    r"|usuwani\w*\s+błęd\w*|wdrożeni\w*\s+gotow\w*|zakup\w*\s+licencj\w*|konfiguracj\w*|parametryzacj\w*"
    r"|migracj\w*\s+danych|dostosowani\w*\s+do\s+(?:nowych\s+|zmienionych\s+)?przepis\w*|remont\w*)"
)
# A sentence that names routine work to set it apart from the R&D work is what the system
# prompt asks for ("chyba że je wyraźnie odróżniasz"): not flagged.
_DISTINGUISHED = re.compile(
    r"(?i)\b(nie\s+obejmow\w*|nie\s+obejmuj\w*|nie\s+obejmował\w*|wyłączon\w*|wyłącz\w*\s+z\b|w\s+odróżnieniu"
    r"|nie\s+stanowi\w*|nie\s+był\w*\s+prac\w*|poza\s+zakres\w*|nie\s+polega\w*|nie\s+zalicz\w*|odróżni\w*)"
)

_FOREIGN = (
    re.compile(r"\b(HMRC|IRS|CRA|SR&ED|SRED|QRE|QREs|RDEC)\b"),
    # "proxy" alone is an ordinary IT word (a proxy server); as a foreign tax term it comes
    # with its method ("proxy method", "metoda proxy").
    re.compile(
        r"(?i)\btax\s+credits?\b|\b(?:4|four)[- ]part\s+test\b"
        r"|\bproxy\s+(?:method|approach|rate|calculation)\b|\bmetod\w*\s+proxy\b"
    ),
)

_FILLER = re.compile(
    r"(?i)(w\s+dzisiejszym\s+dynamicznym\s+świecie|w\s+dzisiejszych\s+czasach|w\s+dobie\s+\w+|rewolucyjn\w*"
    r"|przełomow\w*|bezprecedensow\w*|kluczowe\s+znaczenie|kluczowym\s+znaczeniu|kluczowego\s+znaczenia"
    r"|innowacyjn\w*\s+podejści\w*|najnowocześniejsz\w*|światowej\s+klasy|na\s+najwyższym\s+poziomie"
    r"|holistyczn\w*|synergi\w*|nieocenion\w*|game[- ]changer|niezrównan\w*|wyjątkowo\s+innowacyjn\w*)"
)

_OVERHEAD = re.compile(
    r"(?i)(ryczałt\w*|narzut\w*|koszt\w*\s+ogóln\w*|koszt\w*\s+pośredni\w*|overhead|flat\s+rate"
    r"|\d+(?:[.,]\d+)?\s*%\s*(?:\w+\s+){0,2}(?:wynagrodze\w*|płac\w*|pensj\w*)|procent\w*\s+(?:od\s+)?wynagrodze\w*)"
)
_NON_STATUTORY = re.compile(
    r"(?i)(rejestracj\w*\s+(?:\w+\s+)?praw\w*\s+autorsk\w*|czynsz\w*|najm\w*\s+(?:biura|lokalu|powierzchni)"
    r"|samoch\w*|paliw\w*|budyn\w*|marketing\w*|reklam\w*|delegacj\w*|podróż\w*\s+służbow\w*|catering\w*)"
)
_EXPERT = re.compile(
    r"(?i)\b(ekspertyz\w*|opini\w*\s+(?:eksperck\w*|specjalist\w*|rzeczoznaw\w*)|usług\w*\s+badawcz\w*)"
)
_SCIENTIFIC = re.compile(
    r"(?i)(jednost\w*\s+naukow\w*|uczelni\w*|uniwersytet\w*|politechnik\w*|akademi\w*|instytut\w*|łukasiewicz\w*"
    r"|\bPAN\b|naukowo-badawcz\w*)"
)
_UNCERTAINTY = re.compile(
    r"(?i)(niepewn\w*|ryzyk\w*|nie\s+było\s+(?:pewne|wiadomo|jasne|oczywiste)|nie\s+wiedzieliśmy|nie\s+wiadomo"
    r"|nieznan\w*|nie\s+był[aoy]?\s+znan\w*|wątpliw\w*|mogł[aoy]?\s+się\s+nie\s+powieść|mogł[aoy]?\s+się\s+nie\s+udać"
    r"|nie\s+gwarantował\w*|bez\s+gwarancji|nie\s+dało\s+się\s+przewidzieć|nie\s+można\s+było\s+przewidzieć"
    r"|nie\s+miał\w*\s+pewności|ryzyko)"
)
_UNIT = (
    r"(?:%|proc\w*|p\.?\s?p\.?|punkt\w*\s+proc\w*|ms|s|sek\w*|min\w*|h|godz\w*|dni|dób|tyg\w*|mies\w*|lat|mm|cm|dm|m|km"
    r"|µm|μm|nm|mg|g|kg|t|ton\w*|l|ml|m2|m²|m3|m³|zł|pln|°c|°|k|mpa|kpa|bar|kn|n|kw|kwh|mw|w|v|kv|a|ma|hz|khz|mhz"
    r"|ghz|db|szt\w*|razy|krotn\w*|x|mb|gb|tb|fps|obr\w*|cykl\w*|próbek|pól|dokument\w*|rekord\w*|użytkownik\w*)"
)
_MEASURE = re.compile(rf"(?i)\d+(?:[.,]\d+)?\s*{_UNIT}(?![\w])")
_SCALE = re.compile(
    r"(?i)skal\w*\s+(?:\w+\s+)?(przedsiębiorstw\w*|firm\w*|spółk\w*|zakład\w*|grup\w*|kraj\w*|krajow\w*|świat\w*"
    r"|światow\w*|międzynarodow\w*|europejsk\w*|rynk\w*|branż\w*|sektor\w*|polsk\w*)"
    r"|(nowość|nowe|nowym|nowatorsk\w*)\s+(?:\w+\s+){0,2}(dla|w)\s+(przedsiębiorstw\w*|firm\w*|spółk\w*)"
    r"|w\s+skali\s+(kraju|świata|europy|polski|rynku)"
)
_ABOVE_COMPANY = re.compile(
    r"(?i)(kraj\w*|krajow\w*|świat\w*|światow\w*|międzynarodow\w*|europejsk\w*|europ\w*|rynk\w*|branż\w*|sektor\w*|polsk\w*|polski)"
)
_REASON = re.compile(
    r"(?i)(ponieważ|gdyż|\bbo\b|dlatego|ze\s+względu|nie\s+istnie\w*|brak\s+\w*\s*na\s+rynku|nie\s+ma\s+na\s+rynku"
    r"|nie\s+oferuje|żaden|żadne|żadna|w\s+odróżnieniu|analiz\w*\s+(?:stanu\s+techniki|rynku|patentow\w*|literatur\w*)"
    r"|przegląd\w*\s+(?:patentow\w*|literatur\w*|baz)|według\s+wiedzy|zgłoszeni\w*\s+patentow\w*)"
)
# What each statutory criterion is argued with (K1), and in which section.
_CRITERIA = (
    (
        "nowatorstwo",
        "twórczość",
        re.compile(r"(?i)(twórcz\w*|oryginaln\w*|autorsk\w*|własn\w*|opracowal\w*|zaprojektowal\w*|nieodtwórcz\w*)"),
        "opisz oryginalne rezultaty pracy zespołu (projekty, algorytmy, kod, prototypy, procedury badawcze) "
        "i wyjaśnij, dlaczego tego rozwiązania nie można było kupić ani skopiować",
    ),
    (
        "metodologia",
        "systematyczność",
        re.compile(
            r"(?i)(systematyczn\w*|etap\w*|hipotez\w*|test\w*|pomiar\w*|iteracj\w*|eksperyment\w*|prób\w*|plan\w*|harmonogram\w*)"
        ),
        "opisz problemy badawcze w parach „problem → sposób rozwiązania”: hipotezy, próby, pomiary, "
        "iteracje i sposób dokumentowania wyników",
    ),
    (
        "rezultaty",
        "zwiększenie zasobów wiedzy",
        re.compile(r"(?i)(wiedz\w*|zastosowa\w*|know-how|nauczyl\w*|ustalon\w*|wykazal\w*|potwierdz\w*|wykorzyst\w*)"),
        "opisz, czego firma nie wiedziała na początku, co wie teraz i gdzie tę wiedzę można ponownie wykorzystać",
    ),
)
_MIN_ARGUMENT_WORDS = 30  # K1: fewer words than this (outside placeholders) is a keyword, not an argument
_MIN_SPECIFIC_TERMS = 3  # K1: content words shared with the input that make a text this project's own

# Tokens that look like product names but are the vocabulary of any card (G1).
_GENERIC_TOKENS = frozenset(
    fold(t)
    for t in (
        "B+R CIT PIT BR CIT/BR PIT/BR CIT-BR PIT-BR NSA WSA KIS MF UE EU PLN PKD MŚP MSP AI SI IT ML GUS ZUS VAT NIP "
        "KRS REGON NCBR PARP API CPU GPU RAM SQL HTML PDF XML JSON REST HTTP HTTPS USB LED IoT ERP CRM CAD CAM CAE "
        "CNC PLC MES SCADA OCR NLP UI UX QA PoC MVP TRL PN EN ISO IEC FEM MES R&D I II III IV V VI VII VIII IX X "
        "MPa GPa kPa MB GB TB GHz MHz kHz kWh MWh CO2 PCB BOM ID DO WERYFIKACJI"
    ).split()
)
_PRODUCT_TOKEN = re.compile(r"(?<![\w-])([A-Za-zĄĆĘŁŃÓŚŹŻąćęłńóśźż][\w+\-/.]*[\w+]|[A-ZĄĆĘŁŃÓŚŹŻ]{2,})(?![\w])")

# Common Polish first names: two capitalised words starting with one are read as a person (S2).
_FIRST_NAMES = frozenset(
    fold(n)
    for n in (
        "Adam Adrian Aleksander Andrzej Antoni Arkadiusz Artur Bartłomiej Bartosz Błażej Bogdan Bogusław Cezary "
        "Damian Daniel Dariusz Dawid Dominik Edward Emil Eryk Filip Franciszek Grzegorz Henryk Hubert Igor Ireneusz "
        "Jacek Jakub Jan Janusz Jarosław Jerzy Józef Julian Kacper Kamil Karol Kazimierz Konrad Krystian Krzysztof "
        "Leszek Łukasz Maciej Marcin Marek Marian Mariusz Mateusz Michał Mikołaj Mirosław Norbert Oskar Patryk "
        "Paweł Piotr Przemysław Radosław Rafał Robert Roman Ryszard Sebastian Sławomir Stanisław Stefan Szymon "
        "Tadeusz Tomasz Wiesław Wiktor Witold Władysław Wojciech Zbigniew Zdzisław Zygmunt "
        "Agata Agnieszka Aleksandra Alicja Aneta Anna Barbara Beata Bożena Danuta Dominika Dorota Edyta Elżbieta "
        "Emilia Ewa Ewelina Gabriela Grażyna Halina Hanna Helena Irena Iwona Izabela Jadwiga Janina Joanna Jolanta "
        "Julia Justyna Kamila Karolina Katarzyna Kinga Klaudia Krystyna Lena Magdalena Małgorzata Maria Marianna "
        "Marta Martyna Monika Natalia Oliwia Paula Paulina Renata Sylwia Teresa Urszula Wanda Weronika Wiktoria "
        "Zofia Zuzanna Żaneta"
    ).split()
)
_CAPITALISED = r"[A-ZĄĆĘŁŃÓŚŹŻ][a-ząćęłńóśźż]+"
_PERSON = re.compile(rf"\b({_CAPITALISED})\s+({_CAPITALISED}(?:-{_CAPITALISED})?)\b")


def same_name(a: str, b: str) -> bool:
    """Two spellings of one name, allowing for Polish inflection ("Anna"/"Anny", "Żółkiewski"/"Żółkiewskiego")."""
    fa, fb = fold(a), fold(b)
    common = 0
    for x, y in zip(fa, fb, strict=False):
        if x != y:
            break
        common += 1
    return common >= max(3, min(len(fa), len(fb)) - 3)


def _is_first_name(word: str) -> bool:
    folded = fold(word)
    return folded in _FIRST_NAMES or any(same_name(folded, n) and folded[:2] == n[:2] for n in _FIRST_NAMES)


# --------------------------------------------------------------------------- the card as plain data


@dataclass
class _Card:
    card: CardInput
    texts: dict[str, str]  # key -> plain text
    input_text: str = ""
    input_folded: str = ""
    input_numbers: set[str] = field(default_factory=set)
    input_stems: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        c = self.card
        parts = [c.name, c.description, c.goal, c.responsible_person]
        parts += [f"{h}: {v}" for h, v in c.extra]
        self.input_text = "\n".join(parts)
        self.input_folded = fold(self.input_text)
        for _raw, values, _at in numbers_in(self.input_text):
            self.input_numbers |= values
        # Figures written as dates in the input (a cost dated 2024 …) count as the input's own.
        for d in find_dates(self.input_text):
            self.input_numbers |= {str(d.first.year), str(d.first.day), str(d.first.month)}
        self.input_stems = content_stems(" ".join([c.name, c.description, c.goal] + [v for _h, v in c.extra]))

    def sentences(self, key: str) -> list[str]:
        return sentences(self.texts.get(key, ""))

    def written(self, key: str) -> str:
        """The section without its placeholder sentences: what is actually argued."""
        return "\n".join(s for s in self.sentences(key) if not _PLACEHOLDER_RE.search(s))


@functools.lru_cache(maxsize=32)
def _sentence_spans(text: str) -> tuple[tuple[int, int, str], ...]:
    spans = []
    cursor = 0
    for s in sentences(text):
        start = text.find(s, cursor)
        if start < 0:  # cannot happen for sentences of this very text; stay safe
            continue
        spans.append((start, start + len(s), s))
        cursor = start + len(s)
    return tuple(spans)


def _sentence_at(text: str, position: int) -> str:
    spans = _sentence_spans(text)
    index = bisect.bisect_right([start for start, _end, _s in spans], position) - 1
    if index >= 0 and position <= spans[index][1]:
        return spans[index][2]
    return text[max(0, position - 80) : position + 80]


def _plural(n: int, one: str, few: str, many: str) -> str:
    if n == 1:
        return one
    return few if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else many


def _heading(key: str) -> str:
    return f"„{SECTION_HEADINGS[key]}”" if key in SECTION_HEADINGS else "karta"


# --------------------------------------------------------------------------- the rules


def check_s1(card: _Card) -> Iterable[Check]:
    for key in SECTION_KEYS:
        if not words(card.texts.get(key, "")):
            yield Check(
                "S1",
                Severity.ERROR,
                key,
                False,
                f"Sekcja {_heading(key)} jest pusta — napisz ją albo wygeneruj ponownie.",
            )


def check_s2(card: _Card) -> Iterable[Check]:
    c = card.card
    title = card.texts.get("nazwa_projektu", "")
    if words(title):
        name_stems = content_stems(c.name) or {stem(w) for w in words(c.name)}
        title_stems = {stem(w) for w in words(title)}
        contained = " ".join(fold(c.name).split()) in " ".join(fold(title).split())
        if not contained and len(name_stems & title_stems) < 0.8 * len(name_stems):
            yield Check(
                "S2",
                Severity.ERROR,
                "nazwa_projektu",
                False,
                f"Nazwa projektu w karcie różni się od nazwy z arkusza („{quote(c.name, 120)}”). "
                "Przywróć nazwę z danych wejściowych (można ją najwyżej lekko uzupełnić).",
                quote(title),
            )
    for key in SECTION_KEYS:
        text = card.texts.get(key, "")
        for d in find_dates(text):
            if d.last < c.start_date or d.first > c.end_date:
                yield Check(
                    "S2",
                    Severity.ERROR,
                    key,
                    False,
                    f"Data „{d.text}” wykracza poza okres projektu z arkusza "
                    f"({c.start_date:%d.%m.%Y} – {c.end_date:%d.%m.%Y}). Popraw ją albo usuń.",
                    quote(_sentence_at(text, d.at)),
                )
    responsible = words(c.responsible_person)
    for key in SECTION_KEYS:
        text = card.texts.get(key, "")
        reported: set[str] = set()
        for m in _PERSON.finditer(text):
            if not _is_first_name(m[1]) or m[0] in reported:
                continue
            if any(same_name(m[2], r) for r in responsible[1:] or responsible):
                continue  # the responsible person, in any case form
            reported.add(m[0])
            yield Check(
                "S2",
                Severity.ERROR,
                key,
                False,
                f"Karta wymienia osobę „{m[0]}”, a osobą odpowiedzialną w arkuszu jest {c.responsible_person}. "
                "Usuń nazwisko innej osoby (opisz rolę, np. „inżynier procesu”).",
                quote(_sentence_at(text, m.start())),
            )


def check_d1(card: _Card) -> Iterable[Check]:
    c = card.card
    if c.start_date > c.end_date:
        yield Check(
            "D1",
            Severity.ERROR,
            "harmonogram",
            False,
            f"Data rozpoczęcia ({c.start_date:%d.%m.%Y}) jest późniejsza niż data zakończenia "
            f"({c.end_date:%d.%m.%Y}). Popraw daty w arkuszu i zaimportuj go ponownie.",
        )


@dataclass(frozen=True)
class Stage:
    line: str
    first: datetime.date | None
    last: datetime.date | None


_STAGE_LINE = re.compile(r"(?i)^\s*(?:[-•*]\s*|\d+[.)]\s*|etap\w*\s*\d*|faza\s*\d*)")


def stages_of(text: str) -> list[Stage]:
    """The schedule's stages: list lines, numbered lines and "Etap …" lines, with their dates."""
    stages = []
    for line in text.split("\n"):
        if not line.strip() or not _STAGE_LINE.match(line):
            continue
        if line.rstrip().endswith(":") and not find_dates(line):
            continue  # a heading introducing the list
        dates = find_dates(line)
        if dates:
            first = dates[0].first
            last = dates[1].last if len(dates) > 1 else dates[0].last
            stages.append(Stage(line.strip(), first, last))
        else:
            stages.append(Stage(line.strip(), None, None))
    return stages


def check_d2_d4(card: _Card) -> Iterable[Check]:
    c = card.card
    text = card.texts.get("harmonogram", "")
    if not words(text):
        return  # S1 reports the empty section
    stages = stages_of(text)
    dated = [s for s in stages if s.first]
    if not dated:
        yield Check(
            "D2",
            Severity.ERROR,
            "harmonogram",
            False,
            "Harmonogram nie ma etapów z datami. Wypisz etapy w osobnych liniach („- Etap 1: nazwa (dd.mm.rrrr – dd.mm.rrrr)”).",
            quote(text),
        )
    previous: Stage | None = None
    for s in stages:
        if s.first is None:
            yield Check(
                "D2", Severity.ERROR, "harmonogram", False, "Etap bez dat: podaj zakres dat (od – do).", quote(s.line)
            )
            continue
        if s.first > s.last:
            yield Check(
                "D2",
                Severity.ERROR,
                "harmonogram",
                False,
                "Etap kończy się przed rozpoczęciem: zamień daty miejscami albo je popraw.",
                quote(s.line),
            )
        elif s.first < c.start_date or s.last > c.end_date:
            yield Check(
                "D2",
                Severity.ERROR,
                "harmonogram",
                False,
                f"Etap wykracza poza okres projektu ({c.start_date:%d.%m.%Y} – {c.end_date:%d.%m.%Y}): "
                "przesuń jego daty do okresu realizacji.",
                quote(s.line),
            )
        if previous is not None and s.first < previous.first:
            yield Check(
                "D2",
                Severity.ERROR,
                "harmonogram",
                False,
                "Etapy nie są w kolejności dat: ułóż je chronologicznie.",
                quote(s.line),
            )
        previous = s
    if stages and not 3 <= len(stages) <= 8:
        yield Check(
            "D4",
            Severity.WARNING,
            "harmonogram",
            False,
            f"Harmonogram ma {len(stages)} {_plural(len(stages), 'etap', 'etapy', 'etapów')}; zwykle opisuje się 3–8 etapów "
            "(analiza i koncepcja → prototypy częściowe → prototyp w warunkach zbliżonych do rzeczywistych → "
            "walidacja → wersja końcowa).",
        )
    for s in dated:
        if s.first <= c.start_date and s.last >= c.end_date and (c.end_date - c.start_date).days > 31:
            yield Check(
                "D4",
                Severity.WARNING,
                "harmonogram",
                False,
                "Jeden etap obejmuje cały okres projektu — podziel go na etapy z własnymi datami.",
                quote(s.line),
            )


def check_k1(card: _Card) -> Iterable[Check]:
    for key, criterion, markers, advice in _CRITERIA:
        written = card.written(key)
        n_words = len(words(written))
        specific = content_stems(written) & card.input_stems
        if n_words < _MIN_ARGUMENT_WORDS or not markers.search(written):
            yield Check(
                "K1",
                Severity.ERROR,
                key,
                False,
                f"Kryterium „{criterion}” nie jest uzasadnione w sekcji {_heading(key)}: {advice}.",
            )
        elif len(specific) < _MIN_SPECIFIC_TERMS:
            yield Check(
                "K1",
                Severity.ERROR,
                key,
                False,
                f"Kryterium „{criterion}” jest opisane ogólnikowo, bez odniesienia do tego projektu: "
                f"nazwij jego konkretne elementy z opisu projektu — {advice}.",
                quote(written),
            )


def check_k3(card: _Card) -> Iterable[Check]:
    if not words(card.texts.get("metodologia", "")):
        return
    written = card.written("metodologia") + "\n" + card.written("nowatorstwo")
    if not _UNCERTAINTY.search(written):
        yield Check(
            "K3",
            Severity.ERROR,
            "metodologia",
            False,
            "Nie opisano niepewności: dla każdego problemu badawczego napisz, dlaczego powodzenie nie było pewne "
            "(czego nie było wiadomo na starcie, jakie było ryzyko niepowodzenia, jakie alternatywy rozważano).",
        )


def check_k4(card: _Card) -> Iterable[Check]:
    if not words(card.texts.get("cel_projektu", "")):
        return
    if not _MEASURE.search(card.written("cel_projektu")):
        yield Check(
            "K4",
            Severity.WARNING,
            "cel_projektu",
            False,
            "Cel nie ma mierzalnego wskaźnika: dodaj wartość z liczbą i jednostką lub procentem względem stanu "
            "wyjściowego („z X do Y”).",
        )


def check_k6(card: _Card) -> Iterable[Check]:
    text = card.texts.get("nowatorstwo", "")
    if not words(text):
        return
    scale_sentences = [s for s in sentences(text) if _SCALE.search(s)]
    if not scale_sentences:
        yield Check(
            "K6",
            Severity.WARNING,
            "nowatorstwo",
            False,
            "Nie podano poziomu nowości: napisz, w jakiej skali rozwiązanie jest nowe (domyślnie w skali "
            "przedsiębiorstwa).",
        )
        return
    all_sentences = sentences(text)
    for s in scale_sentences:
        match = _SCALE.search(s)
        if not _ABOVE_COMPANY.search(match[0]):
            continue
        index = all_sentences.index(s)
        around = " ".join(all_sentences[index : index + 2])
        if not _REASON.search(around):
            yield Check(
                "K6",
                Severity.WARNING,
                "nowatorstwo",
                False,
                "Nowość ponad skalę przedsiębiorstwa bez uzasadnienia: podaj powód (np. przegląd rynku lub "
                "patentów) albo ogranicz się do skali przedsiębiorstwa.",
                quote(s),
            )


def check_r1(card: _Card) -> Iterable[Check]:
    for key in SECTION_KEYS:
        for s in card.sentences(key):
            m = _ROUTINE.search(s)
            if not m or _DISTINGUISHED.search(s):
                continue
            in_goal = key == "cel_projektu"
            where = "w celu projektu — urząd może uznać cel za prace rutynowe" if in_goal else "w karcie"
            yield Check(
                "R1",
                Severity.WARNING,
                key,
                False,
                f"Słownictwo prac rutynowych („{m[0]}”) {where}. Opisz, co w tej pracy było nowe i niepewne, "
                "albo wyraźnie oddziel ją od prac B+R.",
                quote(s),
            )


def check_c1_c2(card: _Card) -> Iterable[Check]:
    text = card.texts.get("koszty", "")
    for s in sentences(text):
        m = _OVERHEAD.search(s) or _NON_STATUTORY.search(s)
        if m and not _DISTINGUISHED.search(s) and not re.search(r"(?i)\b(bez|nie\s+\w+)\s+" + re.escape(m[0]), s):
            yield Check(
                "C1",
                Severity.ERROR,
                "koszty",
                False,
                f"„{m[0]}” nie jest kategorią kosztów kwalifikowanych (art. 18d ustawy o CIT): usuń to; "
                "nie ma ryczałtów ani narzutów, koszty przypisuje się wprost z ewidencji.",
                quote(s),
            )
    for raw, values, at in numbers_in(text):
        if values & card.input_numbers:
            continue
        sentence = _sentence_at(text, at)
        if _PLACEHOLDER_RE.search(sentence):
            continue
        yield Check(
            "C1",
            Severity.ERROR,
            "koszty",
            False,
            f"Kwota lub liczba „{raw}” nie występuje w arkuszu: podaj wyłącznie kwoty z danych wejściowych "
            f"albo oznacz miejsce jako {PLACEHOLDER}.",
            quote(sentence),
        )
    for key in SECTION_KEYS:
        for s in card.sentences(key):
            m = _EXPERT.search(s)
            if m and not _SCIENTIFIC.search(s):
                yield Check(
                    "C2",
                    Severity.WARNING,
                    key,
                    False,
                    f"„{m[0]}” bez wskazania jednostki naukowej: ekspertyzy i usługi badawcze są kosztem "
                    "kwalifikowanym tylko od jednostek naukowych — dopisz, od kogo pochodzą, albo je usuń.",
                    quote(s),
                )


def check_j1(card: _Card) -> Iterable[Check]:
    for key in SECTION_KEYS:
        for s in card.sentences(key):
            for pattern in _FOREIGN:
                m = pattern.search(s)
                # A term the input itself uses ("serwer proxy" in an IT project) is the project's own.
                if m and fold(m[0]) not in card.input_folded:
                    yield Check(
                        "J1",
                        Severity.ERROR,
                        key,
                        False,
                        f"Pojęcie zagranicznego systemu podatkowego („{m[0]}”): usuń je i użyj pojęć polskiej ulgi B+R "
                        "(art. 18d ustawy o CIT, art. 26e ustawy o PIT).",
                        quote(s),
                    )
                    break


def check_g1(card: _Card) -> Iterable[Check]:
    c = card.card
    for key in SECTION_KEYS:
        text = card.texts.get(key, "")
        marked = [s for s in sentences(text) if _PLACEHOLDER_RE.search(s)]
        if marked:
            yield Check(
                "G1",
                Severity.ERROR,
                key,
                False,
                f"Miejsca oznaczone {PLACEHOLDER} w tej sekcji: {len(marked)}. Uzupełnij je danymi od klienta "
                "i usuń oznaczenie.",
                quote(marked[0]),
            )
    period_years = {str(y) for y in range(c.start_date.year, c.end_date.year + 1)}
    for key in SECTION_KEYS:
        if key == "koszty":
            continue  # C1 reads the figures of the costs
        text = card.texts.get(key, "")
        unknown: list[tuple[str, int]] = []
        for raw, values, at in numbers_in(text):
            if values & card.input_numbers or values & period_years:
                continue
            if _PLACEHOLDER_RE.search(_sentence_at(text, at)):
                continue  # marked for the consultant
            unknown.append((raw, at))
        for m in _STANDARD.finditer(text):
            if fold(m[0]).replace(" ", "") not in card.input_folded.replace(" ", ""):
                unknown.append((m[0], m.start()))
        for m in _PRODUCT_TOKEN.finditer(text):
            token = m[0]
            uppers = sum(ch.isupper() for ch in token)
            mixed = any(ch.isdigit() for ch in token) and any(ch.isalpha() for ch in token)
            camel = re.search(r"[a-ząćęłńóśźż][A-ZĄĆĘŁŃÓŚŹŻ]", token)
            if not (uppers >= 2 or mixed or camel) or fold(token) in _GENERIC_TOKENS:
                continue
            if _STANDARD.fullmatch(token) or fold(token) in card.input_folded:
                continue
            unknown.append((token, m.start()))
        if unknown:
            unknown.sort(key=lambda pair: pair[1])
            listed = ", ".join(f"„{raw}”" for raw, _ in unknown[:5]) + ("…" if len(unknown) > 5 else "")
            yield Check(
                "G1",
                Severity.ERROR,
                key,
                False,
                f"Nie ma w danych wejściowych: {listed}. Potwierdź te dane u klienta i dopisz je do arkusza "
                f"albo oznacz jako {PLACEHOLDER}.",
                quote(_sentence_at(text, unknown[0][1])),
            )


def check_l1(card: _Card) -> Iterable[Check]:
    for label, keys, low, high in LENGTHS:
        if any(not words(card.texts.get(k, "")) for k in keys):
            continue  # S1 reports an empty section
        count = sum(len(words(card.texts.get(k, ""))) for k in keys)
        if count < low or count > high:
            where = keys[0] if len(keys) == 1 else ("" if keys == SECTION_KEYS else keys[0])
            advice = (
                "rozwiń opis konkretnymi informacjami o projekcie" if count < low else "skróć tekst, usuń powtórzenia"
            )
            yield Check(
                "L1",
                Severity.WARNING,
                where,
                False,
                f"Długość — {label}: {count} {_plural(count, 'słowo', 'słowa', 'słów')}, zalecane {low}–{high}: "
                f"{advice}.",
            )


def check_l4(card: _Card) -> Iterable[Check]:
    for key in SECTION_KEYS:
        for s in card.sentences(key):
            m = _FILLER.search(s)
            if m:
                yield Check(
                    "L4",
                    Severity.WARNING,
                    key,
                    False,
                    f"Pusty ozdobnik lub superlatyw („{m[0]}”): zastąp go konkretnym faktem o projekcie.",
                    quote(s),
                )


def _shingles(text: str, size: int = 3) -> set[tuple[str, ...]]:
    tokens = [fold(w) for w in words(text)]
    return {tuple(tokens[i : i + size]) for i in range(max(1, len(tokens) - size + 1))}


def check_u1(card: _Card) -> Iterable[Check]:
    paragraphs: list[tuple[str, str, set]] = []
    for key in SECTION_KEYS:
        for block in re.split(r"\n\s*\n|\n(?=- )", card.texts.get(key, "")):
            if len(words(block)) >= 12:
                paragraphs.append((key, block, _shingles(block)))
    reported: set[int] = set()
    for i, (key_i, block_i, sh_i) in enumerate(paragraphs):
        for j in range(i):
            if j in reported:
                continue
            key_j, _block_j, sh_j = paragraphs[j]
            if len(sh_i & sh_j) / len(sh_i | sh_j) >= 0.8:
                reported.add(i)
                where = "w tej samej sekcji" if key_i == key_j else f"w sekcji {_heading(key_j)}"
                yield Check(
                    "U1",
                    Severity.WARNING,
                    key_i,
                    False,
                    f"Akapit powtarza prawie dosłownie akapit {where}: usuń powtórzenie albo napisz tu to, "
                    "czego dotyczy ta sekcja.",
                    quote(block_i),
                )
                break


CHECKERS = (
    check_s1,
    check_s2,
    check_d1,
    check_d2_d4,
    check_g1,
    check_k1,
    check_k3,
    check_k4,
    check_k6,
    check_r1,
    check_c1_c2,
    check_j1,
    check_l1,
    check_l4,
    check_u1,
)


# --------------------------------------------------------------------------- the report


# Rules whose findings are counted out of a fixed number of places: each finding loses a
# share of the rule's weight (one criterion of three, one empty section of eight).
# G1 counts the sections with findings: the consultant completing placeholders one section
# at a time sees the score move.
_PARTIAL = {"K1": len(_CRITERIA), "S1": len(SECTION_KEYS), "L1": len(LENGTHS), "G1": len(SECTION_KEYS)}


def _failure_share(rule: str, failed: list[Check]) -> float:
    if rule == "R1" and not any(c.section == "cel_projektu" for c in failed):
        return 0.5
    if rule in _PARTIAL:
        places = len({c.section for c in failed}) if rule == "G1" else len(failed)
        return min(1.0, places / _PARTIAL[rule])
    return 1.0


def score_of(failed: list[Check]) -> int:
    """0–100 from the failed checks (see the module docstring)."""
    by_rule: dict[str, list[Check]] = {}
    for check in failed:
        by_rule.setdefault(check.rule, []).append(check)
    total = 0.0
    for group, weight in GROUP_WEIGHTS.items():
        rules = [r for r in RULES.values() if r.group == group and SEVERITY_WEIGHTS[r.severity]]
        possible = sum(SEVERITY_WEIGHTS[r.severity] for r in rules)
        lost = sum(SEVERITY_WEIGHTS[r.severity] * _failure_share(r.id, by_rule[r.id]) for r in rules if r.id in by_rule)
        total += weight * (1 - lost / possible)
    if any(c.severity == Severity.ERROR for c in failed):
        total = total * ERROR_CAP / 100
    return max(0, min(100, round(total)))


def card_quality(card: CardInput, sections: Mapping[str, str]) -> QualityReport:
    """Score and checklist of one card: failed checks first (errors, then warnings), then one
    passed entry per rule that found nothing."""
    data = _Card(card=card, texts={key: plain(sections.get(key, "") or "") for key in SECTION_KEYS})
    failed: list[Check] = []
    for checker in CHECKERS:
        failed.extend(checker(data))
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    position = {key: i for i, key in enumerate(SECTION_KEYS)}
    failed.sort(key=lambda c: (order[c.severity], position.get(c.section, -1), c.rule))
    failed_rules = {c.rule for c in failed}
    passed = [Check(r.id, r.severity, "", True, r.title) for r in RULES.values() if r.id not in failed_rules]
    return QualityReport(score=score_of(failed), checks=tuple(failed + passed))
