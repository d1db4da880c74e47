"""A word-level diff of two plain texts as HTML: removed words in <del>, added in <ins>.

Every token is escaped before it is wrapped, so text that looks like markup stays text.
Pure: takes plain text (cards.sanitize.html_to_text of a section), no Django, no database.
"""

import difflib
import html
import re
from dataclasses import dataclass

# Words, runs of whitespace, and single other characters (punctuation) are the tokens, so
# "40%," changing to "45%," marks only the number.
_TOKENS = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class WordDiff:
    html: str  # escaped text with <ins>/<del>; safe to render as HTML
    added: int  # words added
    removed: int  # words removed

    @property
    def unchanged(self) -> bool:
        return not self.added and not self.removed


def tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


def _words(parts: list[str]) -> int:
    return sum(1 for part in parts if not part.isspace() and re.match(r"\w", part))


def word_diff(old: str, new: str) -> WordDiff:
    """How `new` differs from `old`, word by word."""
    a, b = tokens(old), tokens(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    out: list[str] = []
    added = removed = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(html.escape("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{html.escape(''.join(a[i1:i2]))}</del>")
            removed += _words(a[i1:i2])
        if op in ("insert", "replace"):
            out.append(f"<ins>{html.escape(''.join(b[j1:j2]))}</ins>")
            added += _words(b[j1:j2])
    return WordDiff(html="".join(out), added=added, removed=removed)
