"""The consultant's hints for regenerating a section: refuse those that try to give the model orders.

Hints reach the model as data in a delimited block whatever they say (see
cards.providers.base.section_user_message); this filter is the second line, so that
text meant to override the instructions is refused up front with a message that says
why. It matches on a normalised form: casefolded, without diacritics (ł is l), with
look-alike Cyrillic and Greek letters replaced, punctuation and runs of whitespace collapsed
to one space and letter-spaced words ("i g n o r e") joined; words that mix digits and
letters ("1gn0re") are also read with the digits as letters. Pure: no Django, no database.
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
        "к": "k",
        "м": "m",
        "т": "t",
        "в": "b",
        "н": "h",
        # Greek letters that look Latin (after casefolding).
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ς": "s",
    }
)
_NOT_WORD = re.compile(r"[\W_]+")
# Three or more single letters separated by spaces: "i g n o r e" -> "ignore".
_SPACED = re.compile(r"\b(?:[a-z0-9] ){2,}[a-z0-9]\b")

# The matcher looks for the structure of an order to the model, not for single words: a
# directive verb in the imperative aimed at the instructions, the prompt, the rules, the role or
# what was said before; a change of role aimed at the model; or a request to write something
# other than the section. The same words describing the project ("the filter ignores previous
# samples", "the chatbot's system prompt", "the controller's debug mode") carry no such verb
# aimed at the model and pass.

# Words that point at what the model was given: previous, system, yours.
_POINTERS = (
    r"(?:wszystk\w*|poprzedni\w*|wczesniejsz\w*|powyzsz\w*|dotychczasow\w*|swoj\w*|twoj\w*"
    r"|systemow\w*|otrzyman\w*|podan\w*|pierwotn\w*|oryginaln\w*"
    r"|all|your|previous|prior|above|earlier|system|original|initial)"
)
# Words that may stand between a verb and its object without changing the meaning.
_FILLERS = r"(?:the|of|o|to|te|tamte|these|those|any|me|mi|na|do|tresc\w*|text|content|contents|calosc\w*)"
_ORDERS = (
    r"(?:instrukc\w*|polecen\w*|prompt\w*|regul(?:a|y|e|ami|ach|om)?|zasad(?:a|y|e|ami|ach|om)?|wytyczn\w*"
    r"|rol(?:a|e|i|y|ami|ach|om)?|instructions?|prompts?|rules?|directions?|guidelines?|roles?|persona)\b"
)
# An object the model was given: "your / previous / system ... instructions", or bare
# "instructions" that end the order ("Nadpisz instrukcje", "... instrukcje i napisz wiersz")
# or are followed by a pointer ("instrukcje systemowe", "instrukcji systemu").
_AFTER_ORDERS = r"(?= (?:i|and|oraz|a|then|" + _POINTERS + r"|system\w*|modelu|model|ai|asystenta|above|powyzej) | $)"
_OBJECT = (
    r"(?:" + _FILLERS + r" ){0,2}(?:"
    r"(?:"
    + _POINTERS
    + r" )(?:(?:"
    + _FILLERS
    + r"|"
    + _POINTERS
    + r") ){0,2}"
    + _ORDERS
    + r"|"
    + _ORDERS
    + _AFTER_ORDERS
    + r")"
)
# "previous" standing for the instructions: "zignoruj poprzednie", "ignore the above and say hi".
_PREVIOUS = (
    r"(?:wszystk\w* |all |everything )?(?:poprzedni\w*|wczesniejsz\w*|powyzsz\w*|dotychczasow\w*|powyzej|wczesniej"
    r"|previous|prior|above|earlier|before)"
)
_PREVIOUS_END = r"(?= (?:i|and|oraz|a|then|messages?|text|context|content|ones|everything|wszystko) | $)"
# Imperatives only: "zignoruj", not "ignoruje" (the filter ignores...).
_OVERRIDE_VERBS = (
    r"(?:ignore|ignoring|forget|disregard|override|bypass|neglect|skip|drop|abandon"
    r"|z?ignoruj(?:cie)?|zapomnij(?:cie)?|pomin(?:cie)?|odrzuc(?:cie)?|porzuc(?:cie)?|uniewaznij(?:cie)?"
    r"|olej(?:cie)?|nadpisz(?:cie)?|obejdz(?:cie)?|zlekcewaz(?:cie)?|lekcewaz(?:cie)?"
    r"|nie (?:stosuj|przestrzegaj|sluchaj|wykonuj|trzymaj|zwracaj uwagi|bierz pod uwage|uwzgledniaj|respektuj)"
    r"|przestan (?:przestrzegac|stosowac|sluchac|wykonywac|sie trzymac|respektowac|sie stosowac))"
    r"(?: sie)?(?: do| na| z)?"
)
_REVEAL_VERBS = (
    r"(?:reveal|print|show|display|output|repeat|tell me|give me|list"
    r"|pokaz(?:cie)?|wypisz(?:cie)?|podaj(?:cie)?|ujawnij(?:cie)?|wyswietl(?:cie)?|powtorz(?:cie)?"
    r"|zdradz(?:cie)?|przytocz(?:cie)?|zacytuj(?:cie)?|wklej(?:cie)?)"
)
_SAID = (
    r"(?:\w+ ){0,3}?(?:powiedziano|napisano|przekazano|kazano|podano|were told|was said|you were given"
    r"|i told you|i said|was written)\b"
)
# A role or a model after "jesteś teraz": "asystentem", "piratem", "innym modelem" (the
# instrumental case), or nothing at all; not "jesteś teraz w fazie walidacji".
_ROLE_NOUN = r"(?:(?:model\w*|asystent\w*|ai|chatbot\w*|bot\w*|dan|gpt\w*|kims|\w+(?:em|iem|ym|im))\b|$)"
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
_MODEL_MODES = r"(?:dewelopera|deweloperski\w*|developer|dan|god|bez ograniczen|nieograniczon\w*|unrestricted)"

# Each pattern runs on the normalised text (a-z, 0-9, single spaces), padded with spaces.
_PATTERNS: tuple[tuple[str, str], ...] = (
    # Section 15.3 of the security notes: "ignore previous", "disregard"; Polish equivalents.
    ("zignoruj poprzednie instrukcje", r" " + _OVERRIDE_VERBS + r" " + _OBJECT),
    ("zignoruj poprzednie", r" " + _OVERRIDE_VERBS + r" (?:" + _FILLERS + r" ){0,2}" + _PREVIOUS + _PREVIOUS_END),
    ("disregard", r" disregard\w* "),
    (
        "zapomnij o wszystkim",
        r" (?:forget|zapomnij(?:cie)?) (?:o )?(?:wszystk\w*|everything|all)"
        r"(?= (?:co|what|that|ktore|i|and|oraz|above|before|powyzej|wczesniej|so far|dotad|you) | $)",
    ),
    (
        "zignoruj to, co powiedziano",
        r" " + _OVERRIDE_VERBS + r" (?:o )?(?:wszystk\w* |everything |all )?"
        r"(?:what|co|that|to|tym|czym|wszystko) " + _SAID,
    ),
    (
        "nadpisz system",
        r" (?:override|bypass|nadpisz|obejdz) (?:the |your |twoj\w* |swoj\w* )?(?:system|model)\b"
        r"(?= (?:i|and|oraz|prompt\w*|instructions?|message|rules?|settings) | $)",
    ),
    # Asking for the instructions themselves.
    ("pokaż instrukcje", r" " + _REVEAL_VERBS + r" " + _OBJECT),
    (
        "pokaż powyższy tekst",
        r" " + _REVEAL_VERBS + r" (?:me |mi )?(?:the |all |everything |wszystko |caly |cala )?"
        r"(?:text|tekst|tresc|content|messages?|conversation|rozmow\w*|words|slowa)? ?(?:above|powyzej|powyzszy|wczesniej"
        r"|before|so far|dotad|earlier)" + _PREVIOUS_END,
    ),
    (
        "pokaż powyższy tekst",
        r" " + _REVEAL_VERBS + r" (?:me |mi )?(?:the |caly |cala |cale )?(?:powyzsz\w*|poprzedni\w*|wczesniejsz\w*"
        r"|above|previous|earlier|prior) (?:text|tekst\w*|tresc\w*|messages?|wiadomosc\w*|conversation|rozmow\w*"
        r"|content|words|slowa)" + _PREVIOUS_END,
    ),
    # A change of role aimed at the model.
    ("jesteś teraz", r" (?:jestes|bedziesz) (?:teraz|od teraz|odtad) " + _ROLE_NOUN),
    ("od teraz jesteś", r" (?:od teraz|odtad|teraz) (?:jestes|bedziesz) " + _ROLE_NOUN),
    ("od teraz zachowuj się", r" (?:od teraz|odtad|teraz) zachowuj "),
    ("you are now", r" you are (?:now|no longer) (?!in |at |on |ready |done |working |testing )"),
    ("from now on", r" from now on (?:you|ignore|act) "),
    (
        "udawaj",
        r" (?:udawaj|wciel sie|wcielisz sie|zachowuj sie jak|pretend|roleplay|dzialaj(?:cie)? jako"
        r"|badz(?:cie)? (?:teraz )?(?:innym|nowym) (?:model\w*|asystent\w*)) ",
    ),
    (
        "twoje nowe zadanie",
        r" (?:twoim|twoje|twoja|twoj|your) (?:nowym|nowe|nowa|nowy|new|real|actual|prawdziwym"
        r"|prawdziwe|jedynym|jedyne) (?:zadani\w*|task|job|cel\w*|goal|rol\w*|role|mission|misj\w*)\b",
    ),
    (
        "nowe instrukcje",
        r" (?:new|nowe|nowa|nowych|kolejne) (?:instructions?|instrukcj\w*|polecen\w*|prompt\w*)\b(?! (?:"
        + "|".join(_DOCUMENTS)
        + r"))",
    ),
    (
        "twoje instrukcje",
        r" (?:twoj\w*|your) (?:pierwotn\w* |oryginaln\w* |original |initial )?"
        r"(?:instrukc\w*|prompt\w*|instructions?) ",
    ),
    # Writing something other than the section.
    (
        "zamiast sekcji napisz",
        r" (?:zamiast|instead of) (?:the |tej |tego |calej |this )?(?:sekcj\w*|section|karty|card"
        r"|odpowiedzi|answer|tresci|tekstu|text) (?:napisz|wypisz|podaj|stworz|wygeneruj|odpowiedz|zwroc|write|output"
        r"|generate|return|print)\w* ",
    ),
    (
        "napisz wiersz",
        r" (?:napisz|write|compose|stworz|ulóz|uloz)(?: me| mi)? (?:a |an )?(?:wiersz\w*|poem\w*|piosenk\w*"
        r"|song|limeryk\w*|haiku|zart\w*|joke|opowiadani\w*|bajk\w*|story|fraszk\w*) ",
    ),
    # Model modes: enabling one, or the jailbreak names themselves.
    (
        "tryb dewelopera",
        r" (?:wlacz|aktywuj|uruchom|przejdz w|przejdz na|przelacz sie (?:w|na)|wejdz w|enable|activate"
        r"|enter|switch to|turn on) (?:tryb\w* |mode )?" + _MODEL_MODES + r"\b",
    ),
    ("developer mode", r" (?:developer|dan|god) mode |jailbreak\w* "),
)
_COMPILED = tuple((label, re.compile(pattern)) for label, pattern in _PATTERNS)

# Checked inside single words, for "i.g.n.o.r.e p.r.e.v.i.o.u.s" and the like (normalise joins
# letter-spaced runs into one word): phrases long and odd enough that no ordinary word contains them.
_COMPACT = (
    "ignoreprevious",
    "ignoreallprevious",
    "ignoreyourinstructions",
    "disregardprevious",
    "zignorujpoprzednieinstrukcje",
    "zignorujpoprzedniepolecenia",
    "zignorujwszystkieinstrukcje",
    "zignorujinstrukcje",
    "zapomnijinstrukcje",
    "zapomnijpoprzednieinstrukcje",
)

# On the casefolded text with punctuation kept: chat-role markers and attempts to close
# the data blocks the hints travel in.
_ROLE_MARKERS = re.compile(
    r"(?:^|[\n.!?;])\s*(?:system|assistant|asystent|developer|human|ai)\s*:"
    r"|<\s*/?\s*(?:system|assistant|user|instructions?|instrukcj\w*|uwagi_konsultanta|dane_projektu"
    r"|pozostale_sekcje|obecna_tresc_sekcji)\b"
    # "act as" as an order (a hint's start, a sentence's, "please act as"), not "(act as dispatcher)".
    r"|(?:^|[\n.!?;:]|\b(?:you|please|now|and|then|teraz))\s*act\s+as\b"
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


# Digits standing for letters inside a word ("1gn0re"); "1" may be an i or an l, so both are tried.
_LEET = (str.maketrans("013457", "oieast"), str.maketrans("013457", "oleast"))
_MIXED_WORD = re.compile(r"\b(?=[a-z0-9]*[a-z])(?=[a-z0-9]*[0-9])[a-z0-9]+\b")


def _variants(words: str) -> list[str]:
    """The normalised text, and with digits read as letters in words that mix both (numbers stay)."""
    if not _MIXED_WORD.search(words):
        return [words]
    return [words] + [_MIXED_WORD.sub(lambda m, t=table: m.group(0).translate(t), words) for table in _LEET]


def injection_phrase(hints: str) -> str | None:
    """The kind of instruction-override found in `hints` (a short label), or None if they look like data."""
    if _ROLE_MARKERS.search(_fold(hints)):
        return "znacznik roli lub bloku danych"
    for words in _variants(normalise(hints)):
        padded = f" {words} "
        for label, pattern in _COMPILED:
            if pattern.search(padded):
                return label
        # Letter-spaced text arrives here as one joined word ("ignoreprevious"); whole words of
        # ordinary text ("ignore previous results") are left to the patterns above.
        if phrase := next((phrase for phrase in _COMPACT for word in words.split() if phrase in word), None):
            return phrase
    return None


def refusal_message(label: str) -> str:
    """What the consultant reads when hints were refused (Polish, says what to do)."""
    return (
        f"Uwagi wyglądają na polecenie zmiany instrukcji modelu („{label}”), więc nie zostały wysłane. "
        "Napisz w nich tylko, co poprawić w treści tej sekcji (np. „dodaj mierzalny wskaźnik celu”)."
    )
