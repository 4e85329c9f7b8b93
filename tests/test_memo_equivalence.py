"""Memos change nothing: scoring with every memo on (cold, then warm) gives what it gives with none.

Every per-text memo of the text and checks stages and the scorecard is a `csqa.core.memo.Memo` around a
pure function (phrase hits, each matcher's spans, exemplar sentence vectors, own words, reply kinds and
reactions, emoji counts, timing explanations, which rules apply, shared ledgers, masked snippets,
normalized texts); `memos_off()` turns them all into plain calls. Measured on the 20k-conversation JD
export: scoring with memos off takes far longer (lines repeat: greetings, canned replies).
"""
from __future__ import annotations

import csv
import random

import pytest

from csqa.checks.engine import CompiledRulebook
from csqa.core.memo import Memo, memos_off
from csqa.core.records import AGENT, CUSTOMER, Conversation, Message
from csqa.scoring import Scorecard
from tests.text_samples import FRAGMENTS, sample_texts as _sample_texts



CONTEXT_BOOK = """
id: fast2
name: fast2
dimensions:
  - {id: a, name: A, weight: 50}
  - {id: b, name: B, weight: 50}
triggers:
  complaint:
    role: customer
    match: {phrases: [投诉, 差评, 太差], unless_negated: true}
  pending:
    role: agent
    match: {phrases: [帮您登记, 跟进, 反馈给]}
rules:
  - {code: RQ-001, name: 引用, check: greeting, dimension: a, severity: minor, points: 5, clause: x,
     require: {phrases: [您好, 不行], unless_quoted: true}}
  - {code: RX-001, name: 排除, check: offers_help, dimension: a, severity: minor, points: 5, clause: x,
     scope: {first_turns: 3}, require: {phrases: [帮您, 为您服务], exclude: [很高兴为您服务], unless_negated: true}}
  - {code: RS-001, name: 相似, check: farewell, dimension: b, severity: minor, points: 5, clause: x,
     scope: {last_turns: 2}, require: {phrases: [再见], similar_to: [感谢您的咨询祝您生活愉快], threshold: 0.5}}
  - {code: RP-001, name: 待处理, check: process_told, dimension: b, severity: minor, points: 5, clause: x,
     scope: {after: pending, within_turns: 2}, require: {regex: ["\\\\d+天", "尽快"]}}
  - {code: RC-001, name: 安抚, check: apology, dimension: b, severity: minor, points: 5, clause: x,
     scope: {after: complaint, within_turns: 2}, require: {phrases: [抱歉, 不好意思]}}
  - {code: RB-001, name: 加分, check: farewell, dimension: b, severity: minor, points: 2, bonus: true, clause: x,
     require: {question: true}}
  - {code: FR-001, name: 推诿, check: buck_passing, dimension: a, severity: major, points: 5, clause: x,
     forbid: {phrases: [不行, 不归我管], unless_negated: true, unless_quoted: true, unless_followed_by: [帮您, 转接]}}
  - {code: FP-001, name: 隐私, check: privacy_leak, dimension: a, severity: critical, points: 50, clause: x,
     forbid: {pii: [mobile, email]}}
  - {code: FO-001, name: 站外, check: off_platform, dimension: a, severity: critical, points: 50, clause: x,
     forbid: {off_platform: true}}
"""


def _conversations(rng, texts, n):
    """Random conversations of real and generated texts; some texts repeat with other tokens."""
    out = []
    for c in range(n):
        msgs = []
        t = 1_700_000_000.0
        has_time = rng.random() < 0.8
        for i in range(rng.randint(1, 12)):
            role = rng.choice((AGENT, AGENT, CUSTOMER, CUSTOMER, "system"))
            text = rng.choice(EDGE_TEXTS if rng.random() < 0.2 else texts)
            tokens = tuple(text) if rng.random() < 0.1 else _tokens(text)
            t += rng.choice((-5.0, 0.0, 3.0, 20.0, 45.0, 90.0, 400.0))
            time = (None if rng.random() < 0.1 else t) if has_time else None
            msgs.append(Message(i, role, "a1" if role == AGENT else "", text, _norm(text), tokens, time,
                                "" if time is None else f"t{i}"))
        out.append(Conversation(f"c{c}", msgs, ["a1"], "a1", has_time))
    return out


# texts on the edges of the blocks' exceptions (quoted, negated, excluded, redeemed) and scanners
EDGE_TEXTS = [
    "您说的“不行”我记下了", "不行", "不是不行，帮您看看", "我不会帮您", "很高兴为您服务", "为您服务", "帮您",
    "不归我管，帮您转接", "不归我管", "请加我微信abc12345", "电话13812345678", "您好", "再见", "投诉", "不是投诉",
    "帮您登记", "3天内处理", "抱歉", "感谢您的咨询，祝您生活愉快", "您是说尺码不对，是吗？", "😊😊😊😊", "[微笑]好的",
]

_SEGMENTER = None


def _tokens(text):
    global _SEGMENTER
    if _SEGMENTER is None:
        from csqa.text.segment import Segmenter

        _SEGMENTER = Segmenter()
    return _SEGMENTER.tokens(text)


def _norm(text):
    from csqa.text.normalize import normalize

    return normalize(text)


@pytest.fixture(scope="module")
def texts(sample_csv):
    rng = random.Random(20261123)
    sample = _sample_texts(sample_csv)
    out = list(sample)
    for _ in range(600):
        out.append("".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 6))))
    return out + EDGE_TEXTS


def _summary(ev):
    return (
        [(h.rule.code, h.message_index, h.span, h.matched, h.explanation) for h in ev.hits],
        [r.code for r in ev.applicable],
        [r.code for r in ev.not_applicable],
        ev.complaint_index,
        [tuple(r) for r in ev.responses],
    )


def test_a_memo_remembers_and_memos_off_forgets():
    calls = []
    memo = Memo(lambda k: calls.append(k) or len(k), size=2)
    assert [memo("ab"), memo("ab"), memo("abc")] == [2, 2, 3] and calls == ["ab", "abc"]
    memo("abcd")  # full: emptied, then kept
    assert len(memo) == 1
    with memos_off():
        assert memo("ab") == 2 and memo("ab") == 2 and not memo
    assert calls == ["ab", "abc", "abcd", "ab", "ab"]


@pytest.mark.parametrize("which", ["default", "context"])
def test_evaluation_is_the_same_with_and_without_memos(which, texts, default_book):
    from csqa.rulebook.loader import parse_rulebook

    rulebook = default_book if which == "default" else parse_rulebook(CONTEXT_BOOK, "memo.yaml")
    convs = _conversations(random.Random(7), texts, 500)
    book = CompiledRulebook(rulebook)
    cold = [_summary(book.evaluate(c)) for c in convs]
    warm = [_summary(book.evaluate(c)) for c in convs]
    with memos_off():
        plain = [_summary(CompiledRulebook(rulebook).evaluate(c)) for c in convs]
    assert cold == warm == plain
    assert sum(len(s[0]) for s in plain) > 200


def test_findings_and_scores_are_the_same_with_and_without_memos(texts, default_book):
    from csqa.checks.pii import mask_pii
    from csqa.rulebook.loader import parse_rulebook

    n = 0
    for rulebook in (default_book, parse_rulebook(CONTEXT_BOOK, "memo.yaml")):
        convs = _conversations(random.Random(11), texts, 300)
        for mask in (None, mask_pii):
            scorecard = Scorecard(CompiledRulebook(rulebook), mask)
            fast = [scorecard.score(c) for c in convs] + [scorecard.score(c) for c in convs]
            with memos_off():
                plain_card = Scorecard(CompiledRulebook(rulebook), mask)
                plain = [plain_card.score(c) for c in convs] * 2
            assert fast == plain
            n += sum(len(r.findings) for r in plain)
    assert n > 400


def _jd_chats(n: int):
    """The first n real JD chats as an ingested-messages frame, or None without ../shared/data."""
    import sys

    from tests.conftest import REPO

    sys.path.insert(0, str(REPO / "benchmarks"))
    import realdata

    if not realdata.available(realdata.CHAT_A):
        return None
    frame = realdata.load_jddc()
    keep = frame["conversation_id"].drop_duplicates().head(n)
    return frame[frame["conversation_id"].isin(keep)].reset_index(drop=True)


def test_real_chats_score_the_same_with_and_without_memos(segmenter, sample_messages):
    """The bundled sample and, where ../shared/data is present, 300 real JD chats, through the whole
    scoring sequence with the shipped models."""
    import pandas as pd

    from csqa.scoring.stages import ScoreOptions, load_complaint_model, mask_function, prepare_rulebook, score_frame

    frames = [sample_messages]
    real = _jd_chats(300)
    if real is not None:
        frames.append(real)
    options = ScoreOptions()
    _, book = prepare_rulebook(options, segmenter)
    classifier = load_complaint_model(options)
    for frame in frames:
        fast = score_frame(frame, book, classifier, mask_function(True), segmenter)
        with memos_off():
            _, plain_book = prepare_rulebook(options, segmenter)
            plain = score_frame(frame, plain_book, classifier, mask_function(True), segmenter)
        assert fast == plain
        assert sum(len(r.findings) for r in plain) > 100
    assert isinstance(frames[0], pd.DataFrame)


def test_phrase_hits_are_kept_per_text_and_tokens():
    """Same text, other tokens: the remembered phrase hits (and so the verdicts) are not reused."""
    from csqa.checks.matchers import PhraseIndex
    from csqa.rulebook.loader import parse_rulebook

    index = PhraseIndex(["可靠", "靠"])
    as_word = index.hits("靠可靠", ("靠", "可靠"))
    assert as_word == {"靠": [(0, 1)], "可靠": [(1, 3)]}
    assert index.hits("靠可靠", ("靠可", "靠")) == {"靠": [(2, 3)]}  # only the last 靠 is a word of its own
    assert index.hits("靠可靠", ("靠", "可靠")) == as_word

    book = CompiledRulebook(parse_rulebook(CONTEXT_BOOK, "memo.yaml"), select=["RX-001"])
    text = "靠帮您"

    def conv(tokens):
        msg = Message(0, AGENT, "a1", text, _norm(text), tokens, None, "")
        return Conversation("c", [msg], ["a1"], "a1", False)

    assert book.evaluate(conv(("靠", "帮您"))).hits == []
    assert [h.rule.code for h in book.evaluate(conv(("靠帮", "您"))).hits] == ["RX-001"]
    assert book.evaluate(conv(("靠", "帮您"))).hits == []


BONUS_BOOK = """
id: bonus-ledger
name: bonus ledger
dimensions:
  - {id: opening, name: 开场, weight: 30}
  - {id: closing, name: 结束, weight: 70}
rules:
  - {code: OPEN-001, name: 问候, check: greeting, dimension: opening, severity: minor, points: 20, clause: x,
     require: {phrases: [您好]}}
  - {code: CLOSE-008, name: 零分加分, check: farewell, dimension: closing, severity: minor, points: 0, bonus: true,
     clause: x, require: {phrases: [再见]}}
  - {code: CLOSE-009, name: 回访加分, check: farewell, dimension: closing, severity: minor, points: 5, bonus: true,
     clause: x, require: {phrases: [回访]}}
"""


def test_a_shared_ledger_pairs_points_with_each_conversations_own_hits():
    """A zero-point bonus gets no ledger row: rows of a shared ledger still go to the right hits."""
    from csqa.checks.engine import Evaluation, Hit
    from csqa.rulebook.loader import parse_rulebook

    book = CompiledRulebook(parse_rulebook(BONUS_BOOK, "bonus.yaml"))
    scorecard = Scorecard(book)
    rules = {r.code: r for r in book.rules}
    for attempt in range(3):
        hits = [Hit(rules[c], f"{c} #{attempt}") for c in ("OPEN-001", "CLOSE-008", "CLOSE-009")]
        rows, score, critical = scorecard.points(Evaluation(hits=hits, applicable=list(book.rules)))
        assert [(h.explanation, h.rule.code) for h, _ in rows] == [(f"OPEN-001 #{attempt}", "OPEN-001"),
                                                                   (f"CLOSE-009 #{attempt}", "CLOSE-009")]
        assert float(score) == 80 + 5 and not critical
