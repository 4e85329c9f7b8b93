"""Third round of fast paths in the workers' scoring, each against the plain computation.

- `CompiledRulebook.view` builds its per-message lists with comprehensions (was one loop);
- a timing rule with only a first-response limit (or only a later-response limit) looks at
  that response only;
- the PII gates also compare the number of digits a pattern needs in all (a bank card: 16)
  with the text's;
- the classifier's word analyzer segments a batch with `tokens_many`.
The workers' masked evidence (score_conversation(..., evidence=False) then chunk_transcripts) is
compared with the plain construction in tests/test_tables_fast.py::test_a_scorer_chunk_is_the_plain_frames.
"""
from __future__ import annotations

import random

import pytest

from csqa.checks.engine import CompiledRulebook, MessageView
from csqa.checks.timing import responses
from csqa.rulebook.loader import parse_rulebook

from tests.test_checks_fast2 import CONTEXT_BOOK, _conversations, texts  # noqa: F401 - texts: fixture


# ---------------------------------------------------------------------------- view
def _plain_view(book: CompiledRulebook, conv):
    """The view as MessageView builds it from scratch, with every scanner run on every scanned message."""
    view = MessageView(conv, book.phrase_index)
    scans = [
        frozenset(i for i, s in enumerate(book._scanners) if s.spans_of(m.clean))
        if book._scanners and m.role in book._scan_roles else frozenset()
        for m in conv.messages
    ]
    return view, scans


@pytest.mark.parametrize("which", ["default", "context"])
def test_view_equals_plain(which, texts, default_book):  # noqa: F811 - texts is the fixture
    rulebook = default_book if which == "default" else parse_rulebook(CONTEXT_BOOK, "fast2.yaml")
    book = CompiledRulebook(rulebook)
    plain = CompiledRulebook(rulebook)
    # (some texts come back with other tokens: their cached hits must not be reused)
    convs = _conversations(random.Random(11), texts, 400)
    seen_scans = 0
    for _ in range(2):  # cold, then warm per-text infos
        for conv in convs:
            got = book.view(conv)
            want, scans = _plain_view(plain, conv)
            assert [dict(h) for h in got.hits] == [dict(h) for h in want.hits]
            assert got.present == want.present
            assert got.agents == want.agents and got.customers == want.customers
            assert [frozenset(s) for s in got.scans] == scans
            assert got.scanned == set().union(*scans)
            assert got.responses == (responses(conv) if conv.has_time else [])
            seen_scans += bool(got.scanned)
    assert seen_scans > 20  # the scanners found something somewhere


# ---------------------------------------------------------------------------- timing
TIMING_BOOK = """
id: timing3
name: timing3
dimensions:
  - {id: t, name: T, weight: 100}
rules:
  - {code: TF-001, name: 首次, check: first_response, dimension: t, severity: minor, points: 5, clause: x,
     timing: {first_response_s: 10}}
  - {code: TL-001, name: 回复, check: response_time, dimension: t, severity: minor, points: 5, clause: x,
     timing: {response_s: 30}}
  - {code: TB-001, name: 两者, check: response_time, dimension: t, severity: minor, points: 5, clause: x,
     timing: {first_response_s: 40, response_s: 15}}
"""


def _plain_timing(rule, conv):
    """Every response against the limit of its kind (the loop before the shortcut)."""
    out = []
    for r in (responses(conv) if conv.has_time else []):
        limit = rule.timing.first_response_s if r.first else rule.timing.response_s
        if limit is not None and r.seconds > limit:
            out.append((r.agent_index, r.seconds, r.first))
    return out


def test_timing_hits_equal_plain_loop(texts):  # noqa: F811 - texts is the fixture
    book = CompiledRulebook(parse_rulebook(TIMING_BOOK, "timing3.yaml"))
    convs = _conversations(random.Random(13), texts[:80], 600)
    n_hits = {r.code: 0 for r in book.rules}
    for conv in convs:
        view = book.view(conv)
        for rule in book.rules:
            got = book._timing(rule, view)
            want = _plain_timing(rule, conv)
            assert [h.message_index for h in got] == [w[0] for w in want]
            for hit, (_, seconds, first) in zip(got, want):
                assert f"{seconds:.0f} 秒" in hit.explanation and (("首次响应" in hit.explanation) == first)
            n_hits[rule.code] += len(got)
    assert all(n > 20 for n in n_hits.values()), n_hits


# ---------------------------------------------------------------------------- classifier words
def test_word_analyzer_batch_equals_per_text():
    """The word analyzer (tokens_many over a batch) gives the rows/ids of one text at a time."""
    import numpy as np

    from csqa.textmodel.linear import _WordAnalyzer

    sample = ["我要投诉你们", "好的", "", "订单123456号还没到", "退款退款退款!!", "好的", "[微笑]在吗？"]
    vocab = ["投诉", "你们", "好的", "退款", "退款 退款", "在吗", "[数字x]", "还 没", "没到"]
    index = {t: i for i, t in enumerate(vocab)}
    batch_rows, batch_ids = _WordAnalyzer(index)(sample)
    single = _WordAnalyzer(index)
    rows, ids = [], []
    for i, text in enumerate(sample):
        r, d = single([text])
        rows.append(r + i)
        ids.append(d)
    want = sorted(zip(np.concatenate(rows).tolist(), np.concatenate(ids).tolist()))
    assert sorted(zip(batch_rows.tolist(), batch_ids.tolist())) == want
    assert len(want) >= 5
