"""The checks' fast paths give exactly what the plain computation gives.

Rule evaluation skips work it can prove useless (a regex whose required strings are absent,
a sentence too unlike every template, a rule whose phrases never occur) and caches per text.
Each shortcut is compared here with the plain computation it replaces, on the bundled sample
and on generated texts built from the cues' own vocabulary.
"""
from __future__ import annotations

import csv
import math
import random
import re
from collections import Counter

import pytest

from csqa.checks import negation, questions
from csqa.checks.off_platform import _CUES, _FULLWIDTH, _possible_cues, find_off_platform
from csqa.checks.phrases import PhraseIndex, required_substrings
from csqa.checks.similarity import _SENTENCE, TemplateMatcher, _clean
from csqa.core.records import Message

FRAGMENTS = [
    "加我", "微信", "vx", "ＶＸ", "wx:", "QQ", "qq号", "扣扣", "企鹅", "钉钉", "加", "添加", "群", "拉您进", "私聊", "私下",
    "扫码", "二维码", "好友", "我的", "手机号", "电话", "是", ":", "：", " ", "abc123def", "12345678", "[数字x]", "[电话x]",
    "打我", "私人", "个人", "支付宝", "转账", "转给我", "打款", "到我", "给我", "直接", "线下", "付款", "不走", "平台", "绕过",
    "平台外", "收款码", "给个", "红包", "打赏", "求", "小费", "不要", "陌生人", "官方", "风险", "，", "。", "您", "给您", "呼",
    "转", "钱", "本人", "们", "的", "一下", "您好", "感谢您的咨询", "祝您", "生活愉快", "再见", "是吗", "对吧", "您是说",
    "确认一下", "还有其他", "可以帮到您的吗", "?", "～", "亲", "😊", "[微笑]", "不行", "保证明天到", "好评返现5元",
]


def _sample_texts(sample_csv) -> list[str]:
    with open(sample_csv, encoding="utf-8-sig", newline="") as fh:
        return [row[4] for row in list(csv.reader(fh))[1:]]


@pytest.fixture(scope="module")
def texts(sample_csv) -> list[str]:
    rng = random.Random(20261102)
    sample = _sample_texts(sample_csv)
    out = list(sample)
    for _ in range(4000):
        parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.5:
            base = rng.choice(sample)
            parts.insert(rng.randint(0, len(parts)), base[: rng.randint(0, len(base))])
        out.append("".join(parts))
    return out


# ---------------------------------------------------------------------------- required strings
@pytest.mark.parametrize(
    "pattern, needed",
    [
        (r"私下(?:交易|转账)", {"私下交易", "私下转账"}),
        (r"(?<![呼转])转(?:账|款)?给我", {"转给我", "转账给我", "转款给我"}),
        (r"a(?:b|c)?d", {"ad", "abd", "acd"}),
        (r"[^a]bc", {"bc"}),
        (r"x+yz", {"yz"}),
        (r"(?:加|进)(?:个)?群|拉(?:您|你)进群", {"加群", "加个群", "进群", "进个群"}),  # 拉您进群 holds 进群
        (r"\d+群", {"群"}),
    ],
)
def test_required_substrings(pattern, needed):
    assert required_substrings(pattern) == needed


@pytest.mark.parametrize("pattern", [r"\d+", r"(?i)abc", r"x(?i:abc)", r"a|\w", r"(a)?\1", r".*"])
def test_required_substrings_gives_up(pattern):
    assert required_substrings(pattern) is None


def _rulebook_regexes() -> list[str]:
    from csqa.rulebook.loader import load_rulebook

    book = load_rulebook().rulebook
    return [p for r in book.rules for body in (r.require, r.forbid) if body is not None for p in body.regex]


def test_every_match_holds_a_required_string(texts):
    patterns = [cue.regex.pattern for cue in _CUES] + _rulebook_regexes()
    checked = 0
    for pattern in patterns:
        needed = required_substrings(pattern)
        if needed is None:
            continue
        rx = re.compile(pattern)
        for text in texts:
            for m in rx.finditer(text.translate(_FULLWIDTH)):
                checked += 1
                assert any(s in m.group(0) for s in needed), (pattern, m.group(0), needed)
    assert checked > 500


def test_off_platform_prefilter_never_drops_a_matching_cue(texts):
    for text in texts:
        norm = text.translate(_FULLWIDTH)
        possible = _possible_cues(norm)
        for i, cue in enumerate(_CUES):
            if cue.regex.search(norm):
                assert i in possible, (text, cue.regex.pattern)
    assert sum(bool(find_off_platform(t)) for t in texts) > 100


# ---------------------------------------------------------------------------- similarity
def _ngrams(text: str) -> Counter:
    return Counter(text[i : i + n] for n in (1, 2, 3) for i in range(len(text) - n + 1))


def _reference_find(templates, threshold, text):
    """TemplateMatcher as first written: every sentence compared, Counter cosines."""
    vectors = [_ngrams(_clean(t)) for t in templates]
    max_chars = int(2.5 * max((len(_clean(t)) for t in templates), default=0)) + 4

    def similarity(piece):
        a = _ngrams(_clean(piece))
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


@pytest.mark.parametrize(
    "templates, threshold",
    [
        (["感谢您的咨询，祝您生活愉快，再见!", "感谢您对京东的支持，祝您生活愉快，再见!"], 0.6),
        (["您好，很高兴为您服务，请问有什么可以帮到您？", "亲，您好，非常高兴为您服务"], 0.6),
        (["请问还有其他可以帮到您的吗?"], 0.3),
        (["再见"], 1.0),
        (["亲亲亲亲", ""], 0.5),
    ],
)
def test_template_matcher_matches_reference(texts, templates, threshold):
    matcher = TemplateMatcher(templates, threshold)
    found = 0
    for text in texts:
        best, expected = _reference_find(templates, threshold, text)
        assert matcher.find(text) == expected, text
        assert matcher.find(text) == expected, text  # cached
        assert matcher.best(text) == best, text
        found += bool(expected)
    assert found >= 3


# ---------------------------------------------------------------------------- confirmation questions
def _reference_confirmation(text):
    """find_confirmation without its shortcut (a text with no question ending skips the sentences)."""
    spans = [(m.start(), m.end()) for m in questions._CONFIRM_CUE.finditer(text)]
    for start, end in questions._sentences(text):
        sentence = text[start:end]
        if questions._NOT_CONFIRM.search(sentence):
            continue
        if questions._TAG.search(sentence):
            spans.append((start, end))
        elif questions._CLOSED.search(sentence):
            if questions._RESTATES.search(sentence):
                spans.append((start, end))
        elif questions._INTONATION.search(sentence) and not questions._QUESTION_WORD.search(sentence):
            if len(sentence.strip(" ?？")) >= 2:
                spans.append((start, end))
    return sorted(set(spans))


def test_find_confirmation_matches_reference(texts):
    assert sum(bool(questions.find_confirmation(t)) for t in texts) > 50
    for text in texts:
        assert questions.find_confirmation(text) == _reference_confirmation(text), text


# ---------------------------------------------------------------------------- negation and quotation
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


def test_negation_and_quotes_match_reference(texts):
    extra = ["不是不能退，是需要先寄回", "您说的“这什么垃圾”我们非常重视", "没说不行", "是不会不管您的", "他说'你好'吗", '"abc', "「未闭合"]
    negated = 0
    for text in texts + extra:
        assert negation.quoted_spans(text) == _reference_quoted_spans(text), text
        for start in range(len(text) + 1):
            expected = _reference_negated(text, start)
            assert negation.is_negated(text, start) == expected, (text, start)
            negated += expected
    assert negated > 50



def test_emoji_count_matches_reference(texts):
    from csqa.checks.repetition import emoji_count
    from csqa.text.segment import PROTECTED, is_emoji_token

    def message(text):
        from csqa.text.normalize import normalize

        return Message(0, "agent", "a", text, normalize(text), (), None, "")

    for text in texts:
        msg = message(text)
        assert emoji_count(msg) == sum(1 for m in PROTECTED.finditer(msg.clean) if is_emoji_token(m.group(0)))


# ---------------------------------------------------------------------------- phrase hits
def test_phrase_hits_are_cached_per_text_and_tokens():
    index = PhraseIndex(["可靠", "靠"])
    as_word = index.find("靠可靠", ("靠", "可靠"))
    assert as_word == {"靠": [(0, 1)], "可靠": [(1, 3)]}
    # same text, other segmentation: only the last 靠 is a word of its own
    assert index.find("靠可靠", ("靠可", "靠")) == {"靠": [(2, 3)]}
    assert index.find("靠可靠", ("靠", "可靠")) == as_word


# ---------------------------------------------------------------------------- whole evaluation
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


def test_shared_ledgers_pair_points_with_their_own_hits():
    """A zero-point bonus gets no ledger row: rows of a shared ledger still go to the right hits."""
    from csqa.checks.engine import CompiledRulebook, Evaluation, Hit
    from csqa.rulebook.loader import parse_rulebook
    from csqa.scoring.scorecard import _score_hits, score_hits

    book = CompiledRulebook(parse_rulebook(BONUS_BOOK, "bonus.yaml"))
    rules = {r.code: r for r in book.rules}
    for attempt in range(3):
        hits = [Hit(rules[c], f"{c} #{attempt}") for c in ("OPEN-001", "CLOSE-008", "CLOSE-009")]
        ev = Evaluation(hits=hits, applicable=list(book.rules))
        shared = score_hits(book, None, ev)
        direct = _score_hits(book, ev)
        assert [(h.explanation, p) for h, p in shared[0]] == [(h.explanation, p) for h, p in direct[0]]
        assert [h.rule.code for h, _ in shared[0]] == ["OPEN-001", "CLOSE-009"]
        assert shared[1:] == direct[1:]


def test_shared_ledgers_match_direct_scoring(scored_sample, segmenter, sample_messages):
    """score_hits reuses the ledger of an earlier conversation with the same hit rules and
    applicable dimensions: the points must be those worked out directly."""
    from csqa.text.conversations import build_conversations
    from csqa.scoring.scorecard import _score_hits, score_hits

    book, _ = scored_sample
    for conv in build_conversations(sample_messages, segmenter):
        ev = book.evaluate(conv)
        direct = _score_hits(book, ev)
        shared = score_hits(book, conv, ev)
        assert [(id(h), p) for h, p in shared[0]] == [(id(h), p) for h, p in direct[0]]
        assert shared[1:] == direct[1:]



def _summary(ev):
    return (
        [(h.rule.code, h.message_index, h.span, h.matched, h.explanation) for h in ev.hits],
        [r.code for r in ev.applicable],
        [r.code for r in ev.not_applicable],
        ev.complaint_index,
        [(r.customer_index, r.agent_index, r.seconds, r.first) for r in ev.responses],
    )


def test_evaluation_does_not_depend_on_caches(scored_sample, default_book, segmenter, sample_messages):
    """A freshly compiled rulebook (cold caches), the same one again (warm) and the rulebook that
    already scored the whole sample give the same hits for every conversation."""
    from csqa.checks.engine import CompiledRulebook
    from csqa.text.conversations import build_conversations

    warm_book, _ = scored_sample
    convs = list(build_conversations(sample_messages, segmenter))
    fresh = CompiledRulebook(default_book, models=False)  # as the sample was scored: without models
    first = [_summary(fresh.evaluate(c)) for c in convs]
    assert first == [_summary(fresh.evaluate(c)) for c in convs]
    assert first == [_summary(warm_book.evaluate(c)) for c in convs]
    assert sum(len(s[0]) for s in first) > 100


def test_require_rule_tries_every_message_before_similarity(compile_book, make_conv, default_book):
    """Require rules try each matcher on the whole window before the next, costlier one: a
    paraphrase early or a phrase late in the window (the last two replies) both satisfy CLOSE-002."""
    book = compile_book(default_book, select=["CLOSE-002"])
    paraphrase = "感谢您的耐心咨询～祝您生活愉快哦，再见啦"
    for turns in (
        [{"customer": "谢谢"}, {"agent": "好的"}, {"agent": paraphrase}, {"agent": "嗯"}],
        [{"customer": "谢谢"}, {"agent": "好的"}, {"agent": "嗯"}, {"agent": "再见"}],
    ):
        ev = book.evaluate(make_conv(turns))
        assert [r.code for r in ev.applicable] == ["CLOSE-002"] and ev.hits == []
    ev = book.evaluate(make_conv([{"customer": "谢谢"}, {"agent": "好的"}, {"agent": "嗯"}, {"agent": "收到"}]))
    assert [h.rule.code for h in ev.hits] == ["CLOSE-002"]
