"""Checks: word boundaries, negation, quotation, similarity, confirmation questions, timing,
repetition, emoji overuse and PII — on hand-built conversations with real jieba."""
from __future__ import annotations

import textwrap

import pytest

from csqa.checks import negation
from csqa.checks.matchers.confirmation import find_confirmation
from csqa.checks.matchers.exemplars import TemplateMatcher
from csqa.checks.response_times import responses
from csqa.rulebook.loader import parse_rulebook

HEADER = textwrap.dedent(
    """\
    id: checks-test
    name: checks test
    dimensions:
      - {id: handling, name: 处理, weight: 60}
      - {id: redline, name: 红线, weight: 40}
    rules:
    """
)


def rulebook(rules_yaml: str):
    return parse_rulebook(HEADER + textwrap.indent(textwrap.dedent(rules_yaml), "  "), "<checks-test>")


@pytest.fixture(scope="module")
def evaluate(compile_book, make_conv):
    """evaluate(book_or_rulebook, turns, code=None) → (hits of that rule, not-applicable codes)."""
    from csqa.checks.engine import CompiledRulebook

    compiled: list[tuple[object, CompiledRulebook]] = []  # keeps each book alive: no id() reuse

    def _evaluate(book, turns, code=None):
        cb = next((c for b, c in compiled if b is book), None)
        if cb is None:
            cb = compile_book(book)
            compiled.append((book, cb))
        ev = cb.evaluate(make_conv(turns))
        hits = [h for h in ev.hits if code is None or h.rule.code == code]
        return hits, [r.code for r in ev.not_applicable]

    return _evaluate


# ---------------------------------------------------------------------------- word boundaries
WORDS = rulebook(
    """\
    - code: RUDE-001
      name: 靠
      check: rude
      dimension: redline
      severity: critical
      points: 10
      clause: "000 §2.2.3"
      forbid:
        phrases: [靠]
    """
)


@pytest.mark.parametrize("text", ["靠，又是你", "靠!又是你"])
def test_single_char_phrase_fires_as_a_word(evaluate, text):
    hits, _ = evaluate(WORDS, text)
    assert [h.matched for h in hits] == ["靠"]


@pytest.mark.parametrize("text", ["这款很可靠", "质量可靠，放心买", "请您靠近一点扫码", "依靠售后团队处理"])
def test_single_char_phrase_does_not_fire_inside_a_word(evaluate, text):
    hits, _ = evaluate(WORDS, text)
    assert hits == []


# ---------------------------------------------------------------------------- negation
NEGATION = rulebook(
    """\
    - code: REF-001
      name: 拒绝
      check: bare_refusal
      dimension: handling
      severity: major
      points: 5
      clause: "000 §3.3"
      forbid:
        phrases: [不能退, 不行]
        unless_negated: true
    - code: BUCK-001
      name: 不管
      check: buck_passing
      dimension: handling
      severity: major
      points: 5
      clause: "004 §3(二)5"
      forbid:
        phrases: [不管您]
        unless_negated: true
    - code: REF-002
      name: 拒绝 (no negation handling)
      check: bare_refusal
      dimension: handling
      severity: major
      points: 5
      clause: "000 §3.3"
      forbid:
        phrases: [不能退]
    """
)


@pytest.mark.parametrize(
    "text, code",
    [("不是不能退哦，需要先寄回", "REF-001"), ("我没说不行呀", "REF-001"), ("您放心，我们不会不管您的", "BUCK-001")],
)
def test_double_negation_does_not_fire(evaluate, text, code):
    hits, _ = evaluate(NEGATION, text, code)
    assert hits == []


@pytest.mark.parametrize(
    "text, code, matched",
    [("不能退", "REF-001", "不能退"), ("不行", "REF-001", "不行"), ("这个不行", "REF-001", "不行"),
     ("我们不管您", "BUCK-001", "不管您")],
)
def test_plain_refusal_fires(evaluate, text, code, matched):
    hits, _ = evaluate(NEGATION, text, code)
    assert [h.matched for h in hits] == [matched]


def test_negation_only_when_the_rule_asks_for_it(evaluate):
    hits, _ = evaluate(NEGATION, "不是不能退哦", "REF-002")
    assert [h.matched for h in hits] == ["不能退"]


def test_negation_stops_at_clause_break():
    text = "不是的，不能退"
    assert not negation.is_negated(text, text.index("不能退"))
    assert negation.is_negated("不是不能退", 2)


# ---------------------------------------------------------------------------- quotation (RED-001)
@pytest.mark.parametrize(
    "turns",
    [
        "您反馈的“你是不是傻”这句话，我们已经严肃处理了该客服",
        "「脑子有问题」这样的话确实不该出现，非常抱歉",
        "您说我们客服是白痴，我们非常抱歉，马上为您处理",
        [{"customer": "你们这是什么玩意儿，刚用就坏"}, {"agent": "这是什么玩意儿的问题我们马上核实，非常抱歉"}],
    ],
    ids=["double-quotes", "corner-quotes", "reported-speech", "echo"],
)
def test_quoted_rude_words_do_not_fire(evaluate, default_book, turns):
    hits, _ = evaluate(default_book, turns, "RED-001")
    assert hits == []


@pytest.mark.parametrize(
    "turns, matched",
    [
        ("你是不是傻，页面写得清清楚楚", "你是不是傻"),
        ("脑子有问题吧，尺码表都看不懂", "脑子有问题"),
        ("我们客服不是白痴", None),  # negated: no finding
        ([{"customer": "你好，东西刚用就坏"}, {"agent": "这是什么玩意儿的问题，自己看说明书"}], "什么玩意"),
    ],
    ids=["plain", "plain-2", "negated", "no-echo-without-customer-text"],
)
def test_unquoted_rude_words_fire(evaluate, default_book, turns, matched):
    hits, _ = evaluate(default_book, turns, "RED-001")
    assert [h.matched for h in hits] == ([matched] if matched else [])


def test_quoted_spans_helper():
    text = "您说的“这什么垃圾”我们非常重视"
    spans = negation.quoted_spans(text)
    start = text.index("垃圾")
    assert any(s <= start and start + 2 <= e for s, e in spans)


# ---------------------------------------------------------------------------- similarity
def test_paraphrased_farewell_satisfies_close_002(evaluate, default_book):
    turns = [{"customer": "谢谢"}, {"agent": "不客气"}, {"agent": "感谢您的耐心咨询～祝您生活愉快哦，再见啦"}]
    hits, na = evaluate(default_book, turns, "CLOSE-002")
    assert "CLOSE-002" not in na
    assert hits == []


def test_paraphrase_is_found_by_similar_to_alone(evaluate):
    """A rule with only similar_to (no phrases) accepts the paraphrase and rejects an unrelated reply."""
    book = rulebook(
        """\
        - code: BYE-001
          name: 道别
          check: farewell
          dimension: handling
          severity: minor
          points: 8
          clause: "000 §3.5"
          applies_when: {min_agent_turns: 2}
          scope: {role: agent, last_turns: 3}
          require:
            similar_to: ["感谢您的咨询，祝您生活愉快，再见!"]
            threshold: 0.6
        """
    )
    good = [{"customer": "谢谢"}, {"agent": "不客气"}, {"agent": "感谢您的耐心咨询～祝您生活愉快哦，再见啦"}]
    bad = [{"customer": "谢谢"}, {"agent": "不客气"}, {"agent": "嗯"}]
    assert evaluate(book, good, "BYE-001")[0] == []
    assert len(evaluate(book, bad, "BYE-001")[0]) == 1


def test_template_matcher_scores():
    matcher = TemplateMatcher(["感谢您的咨询，祝您生活愉快，再见!"], 0.6)
    assert matcher.similarity("感谢您的咨询，祝您生活愉快，再见!") == pytest.approx(1.0)
    assert matcher.find("感谢您的耐心咨询～祝您生活愉快哦，再见啦")
    assert not matcher.find("好的，马上给您发货")


# ---------------------------------------------------------------------------- confirmation questions
@pytest.mark.parametrize(
    "text",
    ["您是说收到的鞋子尺码不对，是吗?", "跟您确认一下，是要换成黑色的对吧?", "您现在需要退货是吗", "您是说…要换成大一码是吗"],
)
def test_confirmation_questions_detected(text):
    assert find_confirmation(text)


@pytest.mark.parametrize("text", ["请问还有其他问题吗", "麻烦提供一下订单号好吗", "在吗", "好的，给您退款。", "还有什么可以帮您的吗?"])
def test_offers_and_requests_are_not_confirmations(text):
    assert find_confirmation(text) == []


def test_und_001_uses_confirmation_detection(evaluate, default_book):
    confirmed = [{"customer": "我要退货"}, {"agent": "您现在需要退货是吗"}, {"customer": "对"}, {"agent": "好的"}]
    offered = [{"customer": "我要退货"}, {"agent": "请问还有其他问题吗"}, {"customer": "没了"}, {"agent": "麻烦提供一下订单号好吗"}]
    assert evaluate(default_book, confirmed, "UND-001")[0] == []
    assert len(evaluate(default_book, offered, "UND-001")[0]) == 1


# ---------------------------------------------------------------------------- timing
TIMED = [
    {"customer": "在吗", "time": "2026-11-02 09:00:00"},
    {"customer": "有人吗", "time": "2026-11-02 09:00:20"},
    {"agent": "您好", "time": "2026-11-02 09:01:10"},
    {"agent": "请问有什么可以帮您", "time": "2026-11-02 09:01:15"},
    {"customer": "发货了吗", "time": "2026-11-02 09:01:20"},
    {"agent": "发了", "time": "2026-11-02 09:03:00"},
    {"customer": "好的", "time": "2026-11-02 09:03:05"},
    {"agent": "感谢您的咨询", "time": "2026-11-02 09:03:15"},
]


def test_responses_delays_and_first_flag(make_conv):
    conv = make_conv(TIMED)
    assert conv.has_time
    got = [(r.customer_index, r.agent_index, r.seconds, r.first) for r in responses(conv)]
    # a customer turn starts at its first message; the delay runs to the next agent message
    assert got == [(0, 2, 70.0, True), (4, 5, 100.0, False), (6, 7, 10.0, False)]


def test_timing_rules_fire_on_slow_replies(evaluate, default_book):
    first, _ = evaluate(default_book, TIMED, "TIME-001")
    later, _ = evaluate(default_book, TIMED, "TIME-002")
    limit_first = next(r for r in default_book.rules if r.code == "TIME-001").timing.first_response_s
    limit_later = next(r for r in default_book.rules if r.code == "TIME-002").timing.response_s
    assert 70 > limit_first and 100 > limit_later > 10
    assert [h.message_index for h in first] == [2]
    assert [h.message_index for h in later] == [5]


def test_timing_is_not_applicable_without_timestamps(evaluate, default_book, make_conv):
    untimed = [{k: v for k, v in t.items() if k != "time"} for t in TIMED]
    conv = make_conv(untimed)
    assert not conv.has_time
    assert responses(conv) == []
    hits, na = evaluate(default_book, untimed)
    assert {"TIME-001", "TIME-002"} <= set(na)
    assert not [h for h in hits if h.rule.code.startswith("TIME-")]


def test_timing_with_some_missing_timestamps_is_not_applicable(evaluate, default_book):
    partly = [dict(t) for t in TIMED]
    del partly[5]["time"]
    _, na = evaluate(default_book, partly)
    assert {"TIME-001", "TIME-002"} <= set(na)


# ---------------------------------------------------------------------------- repetition and emoji
FLOOD = [
    {"customer": "到底什么时候发货"},
    {"agent": "亲，您的订单正在加急处理中请耐心等待"},
    {"customer": "？？？"},
    {"agent": "亲，您的订单正在加急处理中请耐心等待"},
    {"customer": "问你呢"},
    {"agent": "亲，您的订单正在加急处理中请耐心等待"},
]


def test_repetition_fires_as_configured(evaluate):
    strict = rulebook(
        """\
        - code: REP-001
          name: 重复
          check: repeated_message
          dimension: handling
          severity: minor
          points: 3
          clause: "004 §2(二)2"
          repetition: {min_chars: 8, max_repeats: 1}
        """
    )
    lenient = rulebook(
        """\
        - code: REP-001
          name: 重复
          check: repeated_message
          dimension: handling
          severity: minor
          points: 3
          clause: "004 §2(二)2"
          repetition: {min_chars: 8, max_repeats: 3}
        """
    )
    long_chars = rulebook(
        """\
        - code: REP-001
          name: 重复
          check: repeated_message
          dimension: handling
          severity: minor
          points: 3
          clause: "004 §2(二)2"
          repetition: {min_chars: 40, max_repeats: 1}
        """
    )
    assert [h.message_index for h in evaluate(strict, FLOOD[:4])[0]] == [3]
    assert evaluate(lenient, FLOOD)[0] == []
    assert evaluate(long_chars, FLOOD)[0] == []


def test_default_repetition_rule(evaluate, default_book):
    assert [h.message_index for h in evaluate(default_book, FLOOD, "HAND-004")[0]] == [5]
    assert evaluate(default_book, FLOOD[:4], "HAND-004")[0] == []


EMOJI_BOOK = rulebook(
    """\
    - code: EMO-001
      name: 表情
      check: emoji_overuse
      dimension: handling
      severity: minor
      points: 2
      clause: "004 §3(二)4"
      emoji: {max_per_message: 2, max_messages_ratio: 0.5}
    """
)


@pytest.mark.parametrize(
    "text, fires",
    [("好的😊😊", False), ("好的😊😊😊", True), ("[微笑][玫瑰][爱心]收到", True), ("收到👍🏻👍🏻", False),
     ("收到👍🏻👍🏻👍🏻", True), ("您的手机[数字x][数字x][数字x]", False)],
)
def test_emoji_per_message_limit(evaluate, text, fires):
    hits, _ = evaluate(EMOJI_BOOK, text)
    assert bool(hits) is fires


def test_emoji_ratio_limit(evaluate):
    many = [{"customer": "你好"}] + [{"agent": f"好的{i}😊"} for i in range(3)] + [{"agent": "已发货"}]
    few = [{"customer": "你好"}, {"agent": "好的😊"}, {"agent": "已发货"}, {"agent": "已登记"}, {"agent": "再见"}]
    hits, _ = evaluate(EMOJI_BOOK, many)
    assert len(hits) == 1 and hits[0].message_index is None
    assert evaluate(EMOJI_BOOK, few)[0] == []


def test_default_emoji_rule(evaluate, default_book):
    assert len(evaluate(default_book, "好的😊😊😊😊", "HAND-005")[0]) == 1
    assert evaluate(default_book, "好的😊", "HAND-005")[0] == []


# ---------------------------------------------------------------------------- PII (RED-003)
@pytest.mark.parametrize(
    "text", ["收件人电话是138****5678，对吗", "您的手机[数字x]已登记", "订单号4431957087117959263已发货", "收件人张*，尾号5678"]
)
def test_masked_or_non_phone_numbers_do_not_fire_red_003(evaluate, default_book, text):
    assert evaluate(default_book, text, "RED-003")[0] == []


@pytest.mark.parametrize("text", ["帮您查到了，收件人电话是13812345678", "手机 138 1234 5678 对吗"])
def test_full_mobile_number_fires_red_003(evaluate, default_book, text):
    hits, _ = evaluate(default_book, text, "RED-003")
    assert len(hits) == 1
    assert hits[0].rule.severity == "critical"


def test_emoji_count_counts_the_protected_emoji_tokens(sample_csv):
    """An agent reply's emoji count is the number of emoji tokens the segmenter keeps whole ([微笑], 😊)."""
    from csqa.checks.rules.emoji import emoji_count
    from csqa.text.normalize import normalize
    from csqa.text.segment import PROTECTED, is_emoji_token
    from tests.text_samples import mixed_texts

    counted = 0
    for text in mixed_texts(sample_csv, n=1000):
        clean = normalize(text).text
        expected = sum(1 for m in PROTECTED.finditer(clean) if is_emoji_token(m.group(0)))
        assert emoji_count(clean) == expected, text
        counted += expected
    assert counted > 50


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
