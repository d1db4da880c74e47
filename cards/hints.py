"""The consultant's hints for regenerating a section: refuse those that try to give the model orders.

Hints reach the model as data in a delimited block whatever they say (see
cards.providers.base.section_user_message); this filter is the second line, so that
text meant to override the instructions is refused up front with a message that says
why. It matches on a normalised form: casefolded, without diacritics (ł is l), with
look-alike Cyrillic letters replaced, punctuation and runs of whitespace collapsed to one
space and letter-spaced words ("i g n o r e") joined. Pure: no Django, no database.
"""

import re
import unicodedata

MAX_HINTS_CHARS = 1000

# Letters NFKD does not decompose, and Cyrillic letters that look Latin.
_FOLD = str.maketrans(
    {
        "ł": "l",
        "đ": "d",
        "ø": "o",
        "ß": "ss",
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ɡ": "g",
    }
)
_NOT_WORD = re.compile(r"[\W_]+")
# Three or more single letters separated by spaces: "i g n o r e" -> "ignore".
_SPACED = re.compile(r"\b(?:[a-z0-9] ){2,}[a-z0-9]\b")

# Words that may stand between a verb and "instructions" without changing the meaning.
_QUALIFIERS = (
    r"(?:(?:wszystk\w*|poprzedni\w*|wczesniejsz\w*|powyzsz\w*|dotychczasow\w*|te|tamte|swoje|twoje|moje"
    r"|systemow\w*|otrzyman\w*|podan\w*|all|the|any|your|my|previous|prior|above|earlier|system|these|those"
    r"|of|o) ){0,3}"
)
_ORDERS = (
    r"(?:instrukc\w*|polecen\w*|prompt\w*|regul(?:a|y|e|ami|ach|om)?|wytyczn\w*"
    r"|instructions?|prompts?|rules?|directions?|guidelines?)\b"
)
# Technical documents a project may well have produced: "nowe instrukcje stanowiskowe" is data.
_DOCUMENTS = (
    "stanowiskow",
    "obslugi",
    "bhp",
    "technologiczn",
    "robocz",
    "montazow",
    "kontroln",
    "serwisow",
    "eksploatacji",
    "uzytkowania",
    "produkcyjn",
    "procesow",
    "pomiarow",
    "badawcz",
    "laboratoryjn",
    "jakosci",
    r"dla (?!ciebie|modelu|asystent|ai\b|chatu|czatu)",
    "dotyczac",
    "programowani",
    "obrobki",
    "spawani",
)

# Each pattern runs on the normalised text (a-z, 0-9, single spaces), padded with spaces.
_PATTERNS: tuple[tuple[str, str], ...] = (
    # Section 15.3 of the security notes: "ignore previous", "disregard".
    (
        "ignore previous",
        r" (?:ignore|ignoring|forget|override|bypass) " + _QUALIFIERS + r"(?:previous|prior|above|earlier) ",
    ),
    ("ignore instructions", r" (?:ignore|ignoring|forget|override|bypass) " + _QUALIFIERS + _ORDERS),
    ("disregard", r" disregard\w* "),
    # Polish equivalents.
    (
        "zignoruj poprzednie instrukcje",
        r" (?:z?ignoruj\w*|pomin\w*|zapomnij\w*|odrzuc\w*|porzuc\w*|uniewaznij\w*) " + _QUALIFIERS + _ORDERS,
    ),
    (
        "zignoruj poprzednie",
        r" z?ignoruj\w* (?:wszystk\w* )?(?:poprzedni\w*|wczesniejsz\w*|powyzsz\w*|dotychczasow\w*) (?!wersj)",
    ),
    (
        "nie stosuj się do instrukcji",
        r" nie (?:stosuj|przestrzegaj|sluchaj|wykonuj|trzymaj) (?:sie )?(?:do )?" + _QUALIFIERS + _ORDERS,
    ),
    ("jesteś teraz", r" (?:jestes|bedziesz) (?:teraz|od teraz|odtad) "),
    ("od teraz jesteś", r" (?:od teraz|odtad|teraz) (?:jestes|bedziesz|zachowuj) "),
    ("you are now", r" you are (?:now|no longer) "),
    ("from now on", r" from now on (?:you|ignore|act) "),
    ("udawaj", r" (?:udawaj|wciel sie|wcielisz sie|zachowuj sie jak|pretend|act as|roleplay) "),
    (
        "nowe instrukcje",
        r" (?:new|nowe|nowa|nowych|kolejne) (?:instructions?|instrukcj\w*|polecen\w*|prompt\w*)\b(?! (?:"
        + "|".join(_DOCUMENTS)
        + r"))",
    ),
    ("prompt systemowy", r" (?:system prompt\w*|prompt\w* systemow\w*|systemow\w* prompt\w*) "),
    ("instrukcje systemowe", r" (?:instrukc\w*|polecen\w*|wiadomosc\w*|rola) systemow\w* "),
    ("systemowe instrukcje", r" systemow\w* (?:instrukc\w*|polecen\w*) "),
    ("system instructions", r" (?:system|developer) (?:instructions?|message|role) "),
    (
        "tryb dewelopera",
        r" (?:developer mode|tryb\w* (?:dewelopera|deweloperski\w*|programisty|administratora|debug\w*)"
        r"|jailbreak\w*|dan mode) ",
    ),
    (
        "twoje instrukcje",
        r" (?:twoj\w*|swoj\w*|your) (?:pierwotn\w* |oryginaln\w* |original |initial )?"
        r"(?:instrukc\w*|prompt\w*|instructions?) ",
    ),
)
_COMPILED = tuple((label, re.compile(pattern)) for label, pattern in _PATTERNS)

# Checked with all spaces removed, for "i.g.n.o.r.e p.r.e.v.i.o.u.s" and the like: phrases
# long and odd enough that no ordinary Polish text contains them across word boundaries.
_COMPACT = (
    "ignoreprevious",
    "ignoreallprevious",
    "ignoreyourinstructions",
    "disregardprevious",
    "zignorujpoprzednie",
    "zignorujwszystkie",
    "zignorujinstrukcje",
    "zapomnijinstrukcje",
    "zapomnijpoprzednie",
    "jestesteraz",
    "youarenow",
    "promptsystemowy",
    "systemprompt",
)

# On the casefolded text with punctuation kept: chat-role markers and attempts to close
# the data blocks the hints travel in.
_ROLE_MARKERS = re.compile(
    r"(?:^|[\n.!?;])\s*(?:system|assistant|asystent|developer|human|ai)\s*:"
    r"|<\s*/?\s*(?:system|assistant|user|instructions?|instrukcj\w*|uwagi_konsultanta|dane_projektu"
    r"|pozostale_sekcje|obecna_tresc_sekcji)\b"
    r"|<\|\s*\w+\s*\|>|\[/?\s*(?:inst|system|sys)\s*\]|#{2,}\s*(?:system|instruction|instrukcj)",
    re.MULTILINE,
)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.translate(_FOLD)


def normalise(text: str) -> str:
    """The form hints are matched in: casefolded ASCII words separated by single spaces."""
    words = _NOT_WORD.sub(" ", _fold(text)).strip()
    return _SPACED.sub(lambda m: m.group(0).replace(" ", ""), words)


def injection_phrase(hints: str) -> str | None:
    """The kind of instruction-override found in `hints` (a short label), or None if they look like data."""
    if _ROLE_MARKERS.search(_fold(hints)):
        return "znacznik roli lub bloku danych"
    words = normalise(hints)
    padded = f" {words} "
    for label, pattern in _COMPILED:
        if pattern.search(padded):
            return label
    compact = words.replace(" ", "")
    return next((phrase for phrase in _COMPACT if phrase in compact), None)


def refusal_message(label: str) -> str:
    """What the consultant reads when hints were refused (Polish, says what to do)."""
    return (
        f"Uwagi wyglądają na polecenie zmiany instrukcji modelu („{label}”), więc nie zostały wysłane. "
        "Napisz w nich tylko, co poprawić w treści tej sekcji (np. „dodaj mierzalny wskaźnik celu”)."
    )
