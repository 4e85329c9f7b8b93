"""The conduct model's `spans` asks its two conditions in the cheaper order (the kind's probability, a
dictionary look-up, before counting the reply's word characters): on real replies it finds exactly what
the plain definition finds — a reply is flagged when it reaches the threshold AND has at least
`min_chars` characters of its own words."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from csqa.checks.conduct_model import default_model, own_words
from csqa.text.normalize import normalize

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "samples" / "chat_export.csv"
WORD_CHARS = re.compile(r"[^\W_]")


def _agent_replies() -> list[str]:
    with SAMPLE.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))[1:]
    return list(dict.fromkeys(normalize(r[4]).text for r in rows if r[2] == "客服" and r[4].strip()))


@pytest.mark.parametrize("kind", ["rude", "argue", "over_promise"])
@pytest.mark.parametrize("threshold,min_chars", [(0.0, 1), (0.0, 12), (0.3, 6), (0.6, 1)])
def test_spans_flag_exactly_the_replies_over_the_threshold_with_enough_words(kind, threshold, min_chars):
    model = default_model()
    replies = _agent_replies()
    model.prefetch(replies + [own_words(t, True) for t in replies])
    flagged = 0
    for text in replies:
        own = own_words(text, True)
        plain = len(WORD_CHARS.findall(own)) >= min_chars and model.probability(own, kind) >= threshold
        spans = model.spans(text, kind, threshold, quoted=True, min_chars=min_chars)
        assert bool(spans) == plain, text
        flagged += plain
    # both outcomes occur: the word count and the threshold each decide some replies
    assert 0 < flagged < len(replies) or threshold == 0.0 and min_chars == 1
