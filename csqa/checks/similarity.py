"""Similar-sentence matching: agents paraphrase the mandated greetings and closings.

Bad (exact phrase lists miss paraphrases): the template 「感谢您的咨询，祝您生活愉快，再见」
does not literally occur in 「感谢您的耐心咨询～祝您生活愉快哦，再见啦」.
Good (csqa): each sentence of the message is compared with the templates by cosine
similarity of character 1–3-grams (local, no model download); the best sentence above
the rule's threshold counts as a match.
"""
from __future__ import annotations

import re

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

_SENTENCE = re.compile(r"[^。!！?？~～\n]+[。!！?？~～]*")
_STRIP = re.compile(r"[\s,，。.!！?？~～、:：;；\"'“”‘’()（）\[\]【】<>《》]+")


def _clean(text: str) -> str:
    return _STRIP.sub("", text)


class TemplateMatcher:
    """Cosine similarity of char n-grams between message sentences and template sentences."""

    def __init__(self, templates, threshold: float):
        self.templates = list(templates)
        self.threshold = threshold
        self.vectorizer = HashingVectorizer(
            analyzer="char", ngram_range=(1, 3), n_features=2**18, alternate_sign=False, norm="l2"
        )
        self.template_matrix = self.vectorizer.transform([_clean(t) for t in self.templates])

    def best(self, text: str) -> tuple[float, int, int]:
        """(similarity, start, end) of the most template-like sentence (or the whole text)."""
        pieces = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
        if len(pieces) > 1:
            pieces.append((0, len(text)))
        pieces = [(s, e) for s, e in pieces if _clean(text[s:e])]
        if not pieces:
            return 0.0, 0, 0
        matrix = self.vectorizer.transform([_clean(text[s:e]) for s, e in pieces])
        sims = (matrix @ self.template_matrix.T).toarray()
        flat = int(np.argmax(sims))
        row = flat // sims.shape[1]
        start, end = pieces[row]
        return float(sims.flat[flat]), start, end

    def find(self, text: str) -> list[tuple[int, int, float]]:
        score, start, end = self.best(text)
        return [(start, end, score)] if score >= self.threshold else []
