"""Very similar cards: the tax office asks about documentation copied from card to card.

Pure: takes the cards' plain section texts, returns the pairs whose text is near-identical,
with the whole-card similarity and the sections that are alike. Word 3-shingles compared
with the Jaccard index: a few swapped or changed words break only the shingles around them,
so light rewording keeps a pair well above the threshold while different projects share
almost nothing. A batch has at most a few hundred cards to compare, so every pair is
compared exactly; a MinHash/LSH library (datasketch) would only pay off far beyond that.

Text every card shares because it comes from a template (the offline draft's fixed
sentences) is not evidence of copying: callers pass those shingles as `ignore`.

Standard text is not evidence either: the statutory cost categories (DOMAIN.md) pasted into
"Koszty kwalifikowane" of many cards made one section identical while the cards were 15 %
alike. So, within the cards compared, a shingle found in the same section of
BOILERPLATE_CARDS or more cards is boilerplate and is discounted from the section
comparison; and a pair is flagged only when the whole card is alike (PAIR_THRESHOLD) or at
least STRONG_SECTIONS sections are (STRONG_SECTION each). One section alone never flags a
pair: a copied paragraph of standard text and a copied paragraph of substance look the
same to shingles, and only the second is a finding.

The boilerplate discount is applied to sections only, not to the whole-card figure: a batch
copied wholesale from one card would have every shingle in three or more cards, so with the
discount applied to the whole card nothing would be left to compare and the very case to
catch would show no pair. The whole-card figure therefore sets aside only `ignore`.
"""

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SHINGLE_WORDS = 3
PAIR_THRESHOLD = 0.5  # whole-card Jaccard from which a pair is flagged
SECTION_THRESHOLD = 0.6  # a section counts as "alike" from here
STRONG_SECTION = 0.8  # STRONG_SECTIONS sections this alike flag the pair even when the rest differs
STRONG_SECTIONS = 2
BOILERPLATE_CARDS = 3  # a shingle in the same section of this many cards is standard text
MIN_SECTION_SHINGLES = 15  # shorter sections (a title, a stub) say nothing about copying
MIN_CARD_SHINGLES = 30  # nor do cards with hardly any text of their own

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class CardText:
    id: int
    sections: Mapping[str, str]  # section key -> plain text


@dataclass(frozen=True)
class SimilarPair:
    a: int
    b: int
    similarity: float  # 0..1, whole card
    sections: tuple[tuple[str, float], ...]  # (section key, similarity) of the alike sections, most alike first

    @property
    def percent(self) -> int:
        return round(self.similarity * 100)

    @property
    def section_percents(self) -> tuple[tuple[str, int], ...]:
        return tuple((key, round(value * 100)) for key, value in self.sections)


def _tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _WORD.findall(text)


# Memoised (a pure function of the text): a batch page compares every card of its scope, and
# the same section texts come back on every view.
@functools.lru_cache(maxsize=1024)
def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[tuple[str, ...]]:
    tokens = _tokens(text)
    if len(tokens) < size:
        return frozenset({tuple(tokens)}) if tokens else frozenset()
    return frozenset(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def jaccard(a: set, b: set) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def boilerplate(sections: Iterable[Mapping[str, set]]) -> dict[str, set[tuple[str, ...]]]:
    """Per section key, the shingles found in that section of BOILERPLATE_CARDS or more cards."""
    counts: dict[str, Counter] = {}
    for per_section in sections:
        for key, found in per_section.items():
            counts.setdefault(key, Counter()).update(found)
    return {key: {s for s, n in counter.items() if n >= BOILERPLATE_CARDS} for key, counter in counts.items()}


def similar_pairs(
    cards: Iterable[CardText],
    *,
    ignore: set[tuple[str, ...]] = frozenset(),
    involving: set[int] | None = None,
) -> list[SimilarPair]:
    """Pairs of very similar cards, most similar first. With `involving`, only pairs with at
    least one card of that set (a batch against the client's other batches, or one card).
    Boilerplate is counted over all `cards`, so pass the whole comparison scope."""
    raw = []
    for card in cards:
        per_section = {key: shingles(text) - ignore for key, text in card.sections.items()}
        raw.append((card.id, per_section))
    standard = boilerplate(per_section for _id, per_section in raw)
    prepared = []
    for card_id, per_section in raw:
        whole = set().union(*per_section.values()) if per_section else set()
        own = {key: found - standard.get(key, set()) for key, found in per_section.items()}
        prepared.append((card_id, own, whole))
    pairs = []
    for i, (id_a, sections_a, whole_a) in enumerate(prepared):
        for id_b, sections_b, whole_b in prepared[i + 1 :]:
            if involving is not None and id_a not in involving and id_b not in involving:
                continue
            if min(len(whole_a), len(whole_b)) < MIN_CARD_SHINGLES:
                continue
            overall = jaccard(whole_a, whole_b)
            alike = []
            for key in sections_a.keys() & sections_b.keys():
                a, b = sections_a[key], sections_b[key]
                if len(a) < MIN_SECTION_SHINGLES or len(b) < MIN_SECTION_SHINGLES:
                    continue
                value = jaccard(a, b)
                if value >= SECTION_THRESHOLD:
                    alike.append((key, value))
            strong = sum(1 for _k, v in alike if v >= STRONG_SECTION)
            if overall >= PAIR_THRESHOLD or strong >= STRONG_SECTIONS:
                alike.sort(key=lambda kv: -kv[1])
                pairs.append(SimilarPair(id_a, id_b, overall, tuple(alike)))
    pairs.sort(key=lambda p: (-p.similarity, p.a, p.b))
    return pairs
