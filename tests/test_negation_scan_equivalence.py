"""Negation and quotation scans give what the plain scans give.

`is_negated` looks for a negator only in the last few characters of the clause (a negator ends where the
clause does: its longest match bounds the look-back) and `quoted_spans` jumps from quote mark to quote mark;
the references scan the whole clause and every character."""
from __future__ import annotations

import pytest

from csqa.checks import negation
from tests.text_samples import mixed_texts

EXTRA = ["不是不能退，是需要先寄回", "您说的“这什么垃圾”我们非常重视", "没说不行", "是不会不管您的", "他说'你好'吗", '"abc', "「未闭合"]


@pytest.fixture(scope="module")
def texts(sample_csv) -> list[str]:
    return mixed_texts(sample_csv) + EXTRA


def _reference_negated(text, start):
    clause = 0
    for m in negation.CLAUSE_BREAK.finditer(text, 0, start):
        clause = m.end()
    return bool(negation._NEGATOR.search(text[clause:start]))


def _reference_quoted_spans(text):
    spans, i = [], 0
    while i < len(text):
        close = negation._QUOTE_PAIRS.get(text[i])
        if close is not None:
            j = text.find(close, i + 1)
            if j > i:
                spans.append((i + 1, j))
                i = j + 1
                continue
        i += 1
    for m in negation._REPORTED.finditer(text):
        end = negation.CLAUSE_BREAK.search(text, m.end())
        spans.append((m.end(), end.start() if end else len(text)))
    return spans


def test_negation_and_quotes_match_the_plain_scans(texts):
    negated = 0
    for text in texts:
        assert negation.quoted_spans(text) == _reference_quoted_spans(text), text
        for start in range(len(text) + 1):
            expected = _reference_negated(text, start)
            assert negation.is_negated(text, start) == expected, (text, start)
            negated += expected
    assert negated > 50
