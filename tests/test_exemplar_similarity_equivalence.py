"""The exemplar matcher's shortcuts change nothing: it finds what comparing every sentence with every template
finds.

`csqa.checks.matchers.exemplars.TemplateMatcher` skips sentences far longer than every template, bounds a
sentence's best possible similarity before computing it, and with many templates takes dot products from
postings over shared character n-grams. The reference below is the matcher as first written: each sentence
(and the whole text, when it has several) against each template, cosines of character 1–3-gram counts.
"""
from __future__ import annotations

import math
import re
from collections import Counter

import pytest

from csqa.checks.matchers.exemplars import _SENTENCE, TemplateMatcher, _clean
from tests.text_samples import mixed_texts


@pytest.fixture(scope="module")
def texts(sample_csv) -> list[str]:
    return mixed_texts(sample_csv)


def _ngrams(text: str) -> Counter:
    return Counter(text[i : i + n] for n in (1, 2, 3) for i in range(len(text) - n + 1))


def _reference_find(templates, threshold, text):
    vectors = [_ngrams(_clean(t)) for t in templates]
    max_chars = int(2.5 * max((len(_clean(t)) for t in templates), default=0)) + 4
    # with many short templates (the forbidden wordings' exemplars) a sentence's digits are compared as 0s
    digits_as_zero = len(templates) > 4 and max_chars <= 64

    def similarity(piece):
        cleaned = _clean(piece)
        a = _ngrams(re.sub(r"[0-9０-９]+", "0", cleaned) if digits_as_zero else cleaned)
        na = math.sqrt(sum(v * v for v in a.values()))
        scores = []
        for b in vectors:
            nb = math.sqrt(sum(v * v for v in b.values()))
            scores.append(sum(v * b.get(k, 0) for k, v in a.items()) / (na * nb) if na and nb else 0.0)
        return max(scores, default=0.0)

    pieces = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
    if len(pieces) > 1:
        pieces.append((0, len(text)))
    best = (0.0, 0, 0)
    for start, end in pieces:
        if end - start <= max_chars:
            score = similarity(text[start:end])
            if score > best[0]:
                best = (score, start, end)
    return best, [(best[1], best[2], best[0])] if best[0] >= threshold else []


MANY = ["你自己看说明书", "这个不归我们管", "爱买不买", "你有完没完", "我已经说了很多遍了", "跟你说不清楚", "别问我"]


@pytest.mark.parametrize(
    "templates, threshold",
    [
        (["感谢您的咨询，祝您生活愉快，再见!", "感谢您对京东的支持，祝您生活愉快，再见!"], 0.6),
        (["您好，很高兴为您服务，请问有什么可以帮到您？", "亲，您好，非常高兴为您服务"], 0.6),
        (["请问还有其他可以帮到您的吗?"], 0.3),
        (["再见"], 1.0),
        (["亲亲亲亲", ""], 0.5),
        (MANY, 0.5),  # more than four short templates: the postings path
    ],
)
def test_template_matcher_finds_what_every_comparison_finds(texts, templates, threshold):
    matcher = TemplateMatcher(templates, threshold)
    found = 0
    for text in texts + MANY:
        best, expected = _reference_find(templates, threshold, text)
        assert matcher.find(text) == expected, text
        assert matcher.find(text) == expected, text  # a second time, from the memo
        assert matcher.best(text) == best, text
        found += bool(expected)
    assert found >= 3
