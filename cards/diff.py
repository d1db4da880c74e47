"""A word-level diff of two plain texts as HTML: removed words in <del>, added in <ins>.

Every token is escaped before it is wrapped, so text that looks like markup stays text.
Pure: takes plain text (cards.sanitize.html_to_text of a section), no Django, no database.
"""

import difflib
import html
import re
from dataclasses import dataclass

# A token is a word or a single other character (punctuation), with the whitespace after it:
# "40%," changing to "45%," marks only the number, and spaces alone never anchor a match
# (which would cut a rewritten sentence into word-by-word crumbs).
_TOKENS = re.compile(r"\w+\s*|[^\w\s]\s*|\s+", re.UNICODE)


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
    return sum(1 for part in parts if re.match(r"\w", part))


def word_diff(old: str, new: str) -> WordDiff:
    """How `new` differs from `old`, word by word."""
    a, b = tokens(old), tokens(new)
    # Compared without their trailing whitespace, so "linii" at the end of one text matches
    # "linii " in the other; what is shown keeps the whitespace of the text it comes from.
    matcher = difflib.SequenceMatcher(None, [t.rstrip() or t for t in a], [t.rstrip() or t for t in b], autojunk=False)
    out: list[str] = []
    added = removed = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(html.escape("".join(b[j1:j2])))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{html.escape(''.join(a[i1:i2]))}</del>")
            removed += _words(a[i1:i2])
        if op in ("insert", "replace"):
            out.append(f"<ins>{html.escape(''.join(b[j1:j2]))}</ins>")
            added += _words(b[j1:j2])
    return WordDiff(html="".join(out), added=added, removed=removed)
