"""Similar-sentence matching: agents paraphrase the mandated greetings and closings.

Bad (exact phrase lists miss paraphrases): the template 「感谢您的咨询，祝您生活愉快，再见」
does not literally occur in 「感谢您的耐心咨询～祝您生活愉快哦，再见啦」.
Good (csqa): each sentence of the message is compared with the templates by cosine
similarity of character 1–3-gram counts (local, no model download); the best sentence
above the rule's threshold counts as a match.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from itertools import repeat
from operator import add, mul

from csqa.memo import TEXTS_PER_MEMO

_SENTENCE = re.compile(r"[^。!！?？~～\n]+[。!！?？~～]*")
_STRIP = re.compile(r"[\s,，。.!！?？~～、:：;；\"'“”‘’()（）\[\]【】<>《》]+")


def _clean(text: str) -> str:
    return _STRIP.sub("", text)


def _grams(text: str) -> list[str]:
    """Every character 1-, 2- and 3-gram occurrence of `text` (built by C-level maps, not slicing)."""
    bigrams = list(map(add, text, text[1:]))
    return [*text, *bigrams, *map(add, bigrams, text[2:])]


def char_ngrams(text: str, n_max: int = 3) -> Counter:
    if n_max == 3:
        return Counter(_grams(text))
    return Counter(text[i : i + n] for n in range(1, n_max + 1) for i in range(len(text) - n + 1))


def _norm(vec: Counter) -> float:
    counts = list(vec.values())
    return math.sqrt(sum(map(mul, counts, counts)))


def cosine(a: Counter, b: Counter, norm_a: float, norm_b: float) -> float:
    if not norm_a or not norm_b:
        return 0.0
    return sum(a[k] * b[k] for k in a.keys() & b.keys()) / (norm_a * norm_b)


class TemplateMatcher:
    """Cosine similarity of char n-grams between message sentences and template sentences."""

    def __init__(self, templates, threshold: float):
        self.templates = list(templates)
        self.threshold = threshold
        self._cache: dict[str, tuple[float, int, int]] = {}
        self._vectors = []
        # a sentence far longer than every template is not a paraphrase of one
        self.max_chars = int(2.5 * max((len(_clean(t)) for t in self.templates), default=0)) + 4
        self._found: dict[str, tuple[tuple[int, int, float], ...]] = {}
        # for the bound in `_may_reach`: each template's characters and the largest count of
        # any of its 1-, 2- and 3-grams, summed
        self._bounds = []
        for t in self.templates:
            vec = char_ngrams(_clean(t))
            self._vectors.append((vec, _norm(vec)))
            top = sum(max((c for g, c in vec.items() if len(g) == n), default=0) for n in (1, 2, 3))
            self._bounds.append((frozenset(_clean(t)), top, _norm(vec)))

    def similarity(self, text: str) -> float:
        """The best cosine with a template; the same value as `cosine(char_ngrams(…), template, …)`,
        computed from the n-gram occurrences: the dot product is the sum of the template's count
        of each occurrence, the squared norm the number of occurrences when all are distinct."""
        grams = _grams(_clean(text))
        if len(set(grams)) == len(grams):
            norm = math.sqrt(len(grams))
        else:
            norm = _norm(Counter(grams))
        if not norm:
            return 0.0
        return max(
            (sum(map(tv.get, grams, repeat(0))) / (norm * tn) if tn else 0.0 for tv, tn in self._vectors),
            default=0.0,
        )

    def best(self, text: str) -> tuple[float, int, int]:
        """(similarity, start, end) of the most template-like sentence (or the whole text)."""
        return _memo(self._cache, text, self._best)

    def _best(self, text: str) -> tuple[float, int, int]:
        best = (0.0, 0, 0)
        for start, end in _pieces(text):
            if end - start > self.max_chars:
                continue
            score = self.similarity(text[start:end])
            if score > best[0]:
                best = (score, start, end)
        return best

    def find(self, text: str) -> list[tuple[int, int, float]]:
        """[(start, end, similarity)] of the most template-like sentence if it reaches the
        threshold, else []. The same as `best`, but sentences that provably cannot reach the
        threshold are never compared (cached per text)."""
        return list(_memo(self._found, text, self._find))

    def _find(self, text: str) -> tuple[tuple[int, int, float], ...]:
        best = (0.0, 0, 0)
        for start, end in _pieces(text):
            if end - start > self.max_chars:
                continue
            cleaned = _clean(text[start:end])
            if not self._may_reach(cleaned):
                continue  # below the threshold, so never the best sentence of a match
            score = self.similarity(cleaned)
            if score > best[0]:
                best = (score, start, end)
        score, start, end = best
        return ((start, end, score),) if score >= self.threshold else ()

    def _may_reach(self, cleaned: str) -> bool:
        """False when no template can reach the threshold with this (cleaned) sentence.

        Only grams made of template characters count, so with c such characters the dot
        product is at most c × (largest 1-gram + 2-gram + 3-gram count of the template), while
        the sentence's norm is at least √(number of its gram occurrences)."""
        n = len(cleaned)
        occurrences = n + max(n - 1, 0) + max(n - 2, 0)
        if not occurrences:
            return False  # similarity 0
        root = math.sqrt(occurrences)
        for chars, top, norm in self._bounds:
            if norm and sum(map(chars.__contains__, cleaned)) * top / (root * norm) >= self.threshold - 1e-9:
                return True
        return False


def _pieces(text: str) -> list[tuple[int, int]]:
    """Each sentence of the text, and the whole text when it has several."""
    pieces = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
    if len(pieces) > 1:
        pieces.append((0, len(text)))
    return pieces


def _memo(cache: dict, text: str, compute):
    """compute(text), remembered per text (the cache is emptied past csqa.memo.TEXTS_PER_MEMO texts)."""
    value = cache.get(text)
    if value is None:
        value = compute(text)
        if len(cache) > TEXTS_PER_MEMO:
            cache.clear()
        cache[text] = value
    return value
