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

_SENTENCE = re.compile(r"[^。!！?？~～\n]+[。!！?？~～]*")
_STRIP = re.compile(r"[\s,，。.!！?？~～、:：;；\"'“”‘’()（）\[\]【】<>《》]+")


def _clean(text: str) -> str:
    return _STRIP.sub("", text)


def char_ngrams(text: str, n_max: int = 3) -> Counter:
    grams: Counter = Counter()
    for n in range(1, n_max + 1):
        for i in range(len(text) - n + 1):
            grams[text[i : i + n]] += 1
    return grams


def _norm(vec: Counter) -> float:
    return math.sqrt(sum(v * v for v in vec.values()))


def cosine(a: Counter, b: Counter, norm_a: float, norm_b: float) -> float:
    if not norm_a or not norm_b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0) for k, v in a.items()) / (norm_a * norm_b)


class TemplateMatcher:
    """Cosine similarity of char n-grams between message sentences and template sentences."""

    def __init__(self, templates, threshold: float):
        self.templates = list(templates)
        self.threshold = threshold
        self._cache: dict[str, tuple[float, int, int]] = {}
        self._vectors = []
        # a sentence far longer than every template is not a paraphrase of one
        self.max_chars = int(2.5 * max((len(_clean(t)) for t in self.templates), default=0)) + 4
        for t in self.templates:
            vec = char_ngrams(_clean(t))
            self._vectors.append((vec, _norm(vec)))

    def similarity(self, text: str) -> float:
        vec = char_ngrams(_clean(text))
        n = _norm(vec)
        return max((cosine(vec, tv, n, tn) for tv, tn in self._vectors), default=0.0)

    def best(self, text: str) -> tuple[float, int, int]:
        """(similarity, start, end) of the most template-like sentence (or the whole text)."""
        cached = self._cache.get(text)
        if cached is None:
            cached = self._best(text)
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[text] = cached
        return cached

    def _best(self, text: str) -> tuple[float, int, int]:
        pieces = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
        if len(pieces) > 1:
            pieces.append((0, len(text)))
        best = (0.0, 0, 0)
        for start, end in pieces:
            if end - start > self.max_chars:
                continue
            score = self.similarity(text[start:end])
            if score > best[0]:
                best = (score, start, end)
        return best

    def find(self, text: str) -> list[tuple[int, int, float]]:
        score, start, end = self.best(text)
        return [(start, end, score)] if score >= self.threshold else []
