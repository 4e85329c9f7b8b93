"""Second round of fast paths in rule evaluation and scoring, each against the plain computation.

The engine now keeps per distinct message text (with its tokens) the phrase hits, the scans and
whether a `require` block matches that message on its own; which rules apply is looked up per
combination of thresholds; timing explanations, emoji counts and the PII scan cache are shared
across conversations. The references below are the straightforward computations these replace.
"""
from __future__ import annotations

import random

import pytest

from csqa.checks import engine, pii
from csqa.checks.engine import CompiledRulebook, MessageView
from csqa.checks.timing import Response, responses
from csqa.core.records import AGENT, CUSTOMER, Conversation, Message

from tests.test_checks_fast_paths import FRAGMENTS, _sample_texts


def _summary(ev):
    return (
        [(h.rule.code, h.message_index, h.span, h.matched, h.explanation) for h in ev.hits],
        [r.code for r in ev.applicable],
        [r.code for r in ev.not_applicable],
        ev.complaint_index,
        [tuple(r) for r in ev.responses],
    )


def reference_evaluate(book: CompiledRulebook, conv: Conversation):
    """The rules run one by one on a view without per-text verdicts (the plain code paths)."""
    view = MessageView(conv, book.phrase_index)
    if book._scanners:
        view.scans = [
            frozenset(i for i, s in enumerate(book._scanners) if s.spans_of(m.clean))
            if m.role in book._scan_roles else frozenset()
            for m in conv.messages
        ]
        view.scanned = set().union(*view.scans)

    def trigger(name):
        trig = book.rulebook.triggers.get(name)
        if trig is None:
            return None
        # the trigger's own cue and its `also` cues: the first message any of them matches
        cues = [(trig.role, book.triggers[name])] + [(cue.role, engine.CompiledMatch(cue.match)) for cue in trig.also]
        found = []
        for role, cm in cues:
            for msg in view.agents if role == AGENT else view.customers:
                if trig.use_classifier and msg.complaint is not None and msg.complaint.is_complaint:
                    found.append(msg.index)
                    break
                if cm.find(msg, view, first_only=True):
                    found.append(msg.index)
                    break
        return min(found, default=None)

    # the complaint decision is one plain function (csqa.complaints.conversation), not a fast path
    complaint_at, pending_at = book.complaint(conv, view).first_index, trigger("pending")
    result = engine.Evaluation(complaint_index=complaint_at)
    for rule in book.rules:
        when = rule.applies_when
        applies = (
            len(view.agents) >= when.min_agent_turns
            and len(view.customers) >= when.min_customer_turns
            and (not (when.complaint or rule.scope.after == "complaint") or complaint_at is not None)
            and (not (when.pending or rule.scope.after == "pending") or pending_at is not None)
            and (not (when.has_time or rule.timing is not None) or conv.has_time)
        )
        if not applies:
            result.not_applicable.append(rule)
            continue
        result.applicable.append(rule)
        trigger_at = complaint_at if rule.scope.after == "complaint" else pending_at
        result.hits.extend(book._run_rule(rule, conv, view, view.agents, trigger_at))
    result.responses = responses(conv) if conv.has_time else []
    return result


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


@pytest.mark.parametrize("which", ["default", "context"])
def test_evaluate_equals_plain_rule_by_rule(which, texts, default_book):
    from csqa.rulebook.loader import parse_rulebook

    rulebook = default_book if which == "default" else parse_rulebook(CONTEXT_BOOK, "fast2.yaml")
    book = CompiledRulebook(rulebook)
    plain = CompiledRulebook(rulebook)
    convs = _conversations(random.Random(7), texts, 500)
    for _ in range(2):  # cold, then warm caches
        fast = [_summary(book.evaluate(c)) for c in convs]
        assert fast == [_summary(reference_evaluate(plain, c)) for c in convs]
    assert sum(len(s[0]) for s in fast) > 200


def test_sample_evaluation_equals_plain(scored_sample, segmenter, sample_messages):
    from csqa.text.conversations import build_conversations

    book, _ = scored_sample
    plain = CompiledRulebook(book.rulebook, models=False)  # as the sample was scored: without models
    for conv in build_conversations(sample_messages, segmenter):
        assert _summary(book.evaluate(conv)) == _summary(reference_evaluate(plain, conv))


def test_verdicts_are_kept_per_text_and_tokens():
    """Same text, other tokens: the cached phrase hits (and verdicts) are not reused."""
    from csqa.rulebook.loader import parse_rulebook

    book = CompiledRulebook(parse_rulebook(CONTEXT_BOOK, "fast2.yaml"), select=["RX-001"])
    text = "靠帮您"

    def conv(tokens):
        msg = Message(0, AGENT, "a1", text, _norm(text), tokens, None, "")
        return Conversation("c", [msg], ["a1"], "a1", False)

    assert book.evaluate(conv(("靠", "帮您"))).hits == []
    assert [h.rule.code for h in book.evaluate(conv(("靠帮", "您"))).hits] == ["RX-001"]
    assert book.evaluate(conv(("靠", "帮您"))).hits == []


def _reference_responses(conv):
    out = []
    waiting_since = None
    for msg in conv.messages:
        if msg.time is None:
            continue
        if msg.role == CUSTOMER and waiting_since is None:
            waiting_since = (msg.index, msg.time)
        elif msg.role == AGENT and waiting_since is not None:
            out.append(Response(waiting_since[0], msg.index, max(0.0, msg.time - waiting_since[1]), not out))
            waiting_since = None
    return out


def test_responses_equal_reference(texts):
    for conv in _conversations(random.Random(3), texts[:50], 400):
        assert responses(conv) == _reference_responses(conv)


def _reference_findings(conv, book, mask, ev):
    """The original finding assembly of `score_conversation`."""
    from csqa.core.records import Finding
    from csqa.scoring.scorecard import _evidence, _masked, may_need_masking, score_hits

    ledger, score, critical = score_hits(book, conv, ev)
    findings = []
    for hit, points in ledger:
        rule = hit.rule
        msg = conv.messages[hit.message_index] if hit.message_index is not None else None
        span_start = span_end = None
        matched = ""
        evidence = ""
        if msg is not None:
            if hit.span is not None:
                span_start, span_end = msg.norm.original_span(*hit.span)
                matched = msg.text[span_start:span_end]
            evidence = _evidence(msg.text, (span_start, span_end) if span_start is not None else None, mask)
        findings.append(Finding(
            rule_id=rule.code, rule_name=rule.name, check=rule.check,
            severity="bonus" if rule.bonus else rule.severity, dimension=rule.dimension, points=float(points),
            explanation=hit.explanation,
            agent_id=msg.agent_id if (msg is not None and msg.agent_id) else conv.primary_agent,
            message_index=hit.message_index, timestamp=msg.timestamp if msg is not None else "",
            span_start=span_start, span_end=span_end,
            matched_text=_masked(mask, matched) if (mask and matched and may_need_masking(matched)) else matched,
            evidence=evidence,
        ))
    return findings, float(score), critical


def test_findings_equal_reference_assembly(texts, default_book):
    from csqa.rulebook.loader import parse_rulebook
    from csqa.scoring import score_conversation

    for rulebook in (default_book, parse_rulebook(CONTEXT_BOOK, "fast2.yaml")):
        book = CompiledRulebook(rulebook)
        n = 0
        for conv in _conversations(random.Random(11), texts, 300):
            for mask in (None, pii.mask_pii):
                result = score_conversation(conv, book, mask)
                findings, score, critical = _reference_findings(conv, book, mask, book.evaluate(conv))
                assert (result.findings, result.score, result.critical) == (findings, score, critical)
                n += len(findings)
        assert n > 100


def test_joined_regexes_match_exactly_where_one_of_them_does(texts, default_book):
    from csqa.checks.engine import CompiledMatch, _any_of

    blocks = [r.require or r.forbid for r in default_book.rules if (r.require or r.forbid) is not None]
    joined = [(CompiledMatch(b).regexes, _any_of(b.regex)) for b in blocks if len(b.regex) > 1]
    assert len(joined) >= 3 and all(j is not None for _, j in joined)
    extra = ["我是客服小美", "工号:1023", "客服 3 号", "2个工作日内", "还有什么吗", "保证明天到", "好评返现5元", "小王为您"]
    for text in texts + extra:
        for regexes, one in joined:
            assert (one.search(text) is not None) == any(rx.search(text) for rx in regexes)
    assert _any_of([r"(a)\1", "b"]) is None and _any_of(["(?i)a", "b"]) is None
