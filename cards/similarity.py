"""Near-identical cards: the tax office asks about documentation copied from card to card.

Pure: takes the cards' plain section texts, returns the pairs whose text is near-identical,
with the whole-card similarity and the sections that are alike. Word 3-shingles compared
with the Jaccard index: a few swapped or changed words break only the shingles around them,
so light rewording keeps a pair well above the threshold while different projects share
almost nothing. A batch has at most a few hundred cards to compare, so every pair is
compared exactly; a MinHash/LSH library (datasketch) would only pay off far beyond that.

Text every card shares because it comes from a template (the offline draft's fixed
sentences) is not evidence of copying: callers pass those shingles as `ignore`. We do not
instead discount what most cards of a batch share: a batch copied wholesale from one card
would then share everything and show no pair at all — the very case to catch.
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SHINGLE_WORDS = 3
PAIR_THRESHOLD = 0.5  # whole-card Jaccard from which a pair is flagged
SECTION_THRESHOLD = 0.6  # a section counts as "alike" from here
STRONG_SECTION = 0.8  # one section this alike flags the pair even when the rest differs
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


def _tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _WORD.findall(text)


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    tokens = _tokens(text)
    if len(tokens) < size:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(a: set, b: set) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def similar_pairs(
    cards: Iterable[CardText],
    *,
    ignore: set[tuple[str, ...]] = frozenset(),
    involving: set[int] | None = None,
) -> list[SimilarPair]:
    """Pairs of near-identical cards, most similar first. With `involving`, only pairs with at
    least one card of that set (a batch against the client's other batches, or one card)."""
    prepared = []
    for card in cards:
        per_section = {key: shingles(text) - ignore for key, text in card.sections.items()}
        whole = set().union(*per_section.values()) if per_section else set()
        prepared.append((card.id, per_section, whole))
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
            if overall >= PAIR_THRESHOLD or any(v >= STRONG_SECTION for _k, v in alike):
                alike.sort(key=lambda kv: -kv[1])
                pairs.append(SimilarPair(id_a, id_b, overall, tuple(alike)))
    pairs.sort(key=lambda p: (-p.similarity, p.a, p.b))
    return pairs
