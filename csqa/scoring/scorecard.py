"""The points ledger.

100 points are spread over the rulebook's dimensions (开场, 理解确认, 处理, 投诉处理, 结束,
时效, 红线) by weight. Each finding costs its rule's points, a rule at most
`max_findings` times, a dimension at most its weight. Dimensions in which no rule
applies (no complaint → 投诉处理 is N/A; no timestamps → 时效 is N/A) drop out and the
rest is rescaled to 100. A critical (red-line) finding fails the conversation and, by
default, sets the score to 0: it then carries whatever points were still left.

Every finding carries the points it cost after caps and rescaling, rounded to cents,
and the score is exactly 100 minus their sum: the ledger always adds up.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from operator import attrgetter
from weakref import WeakKeyDictionary

from csqa.checks.engine import CompiledRulebook, Evaluation, Hit
from csqa.checks.pii import may_need_masking
from csqa.core.records import Conversation, ConversationResult, Finding
from csqa.core.memo import TEXTS_PER_MEMO

CENT = Decimal("0.01")
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


def _cents(value: float | Decimal) -> Decimal:
    if not isinstance(value, Decimal):  # a Decimal's str round-trips exactly: skip it
        value = Decimal(str(value))
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=4096, typed=True)
def _decimal(value: float) -> Decimal:
    """Decimal(str(value)) of a rule's points or a dimension's weight, once per distinct value."""
    return Decimal(str(value))


def score_hits(book: CompiledRulebook, conv: Conversation, ev: Evaluation) -> tuple[list[tuple[Hit, Decimal]], Decimal, bool]:
    """Points for each hit and the final score; returns (hits with points, score, critical).

    The points depend only on which rules hit, in which order, and on the applicable
    dimensions: conversations that share those share the ledger, worked out once."""
    key = (tuple(map(_RULE_CODE, ev.hits)), frozenset(map(_DIMENSION, ev.applicable)))  # (C-level loops)
    ledgers = _LEDGERS.get(book)
    if ledgers is None:
        ledgers = _LEDGERS[book] = {}
    found = ledgers.get(key)
    if found is None:
        if len(ledgers) >= TEXTS_PER_MEMO:
            ledgers.clear()
        ledger, score, critical = _score_hits(book, ev)
        position = {id(h): i for i, h in enumerate(ev.hits)}
        found = ledgers[key] = ([(position[id(h)], p) for h, p in ledger], score, critical)
    rows, score, critical = found
    hits = ev.hits
    return [(hits[i], p) for i, p in rows], score, critical


_LEDGERS: WeakKeyDictionary = WeakKeyDictionary()  # rulebook → {(hit rules, dimensions): ledger}
_RULE_CODE = attrgetter("rule.code")  # of a hit
_CODE = attrgetter("code")  # of a rule
_DIMENSION = attrgetter("dimension")  # of a rule


def _score_hits(book: CompiledRulebook, ev: Evaluation) -> tuple[list[tuple[Hit, Decimal]], Decimal, bool]:
    settings = book.rulebook.settings
    dimensions = book.dimensions
    applicable_dims = {r.dimension for r in ev.applicable}
    total_weight = sum(_decimal(dimensions[d].weight) for d in applicable_dims)
    scale = _HUNDRED / total_weight if total_weight else _ZERO

    used: dict[str, Decimal] = dict.fromkeys(applicable_dims, _ZERO)
    per_rule: dict[str, int] = {}
    ledger: list[tuple[Hit, Decimal]] = []
    lost = _ZERO  # the sum of the ledger's points, in ledger order
    critical = False
    bonus_hits: list[Hit] = []
    for hit in ev.hits:
        rule = hit.rule
        if rule.bonus:
            bonus_hits.append(hit)
            continue
        if rule.severity == "critical":
            critical = True
        n = per_rule.get(rule.code, 0)
        per_rule[rule.code] = n + 1
        raw = _decimal(rule.points) if n < rule.max_findings else _ZERO
        room = _decimal(dimensions[rule.dimension].weight) - used[rule.dimension]
        raw = max(_ZERO, min(raw, room))
        used[rule.dimension] += raw
        points = _cents(raw * scale)
        ledger.append((hit, points))
        lost += points

    if lost > 100:  # rounding can overshoot by a cent or two
        hit, p = ledger[-1]
        ledger[-1] = (hit, p - (lost - 100))
        lost = Decimal(100)
    if critical and settings.critical_fails:
        # The first red-line finding takes every point still left, so the score is 0.
        idx = next(i for i, (h, _) in enumerate(ledger) if h.rule.severity == "critical")
        hit, p = ledger[idx]
        ledger[idx] = (hit, p + (Decimal(100) - lost))
        lost = Decimal(100)
    elif bonus_hits:
        for hit in bonus_hits:
            gain = min(_cents(_decimal(hit.rule.points) * scale), lost)
            if gain > 0:
                ledger.append((hit, -gain))
                lost -= gain
    score = Decimal(100) - lost
    return ledger, score, critical


class _Scorecard:
    """What `_score_hits` reads of a compiled rulebook: the rulebook and its dimensions by id."""

    def __init__(self, rulebook):
        self.rulebook = rulebook
        self.dimensions = {d.id: d for d in rulebook.dimensions}


def ledger_of(rulebook, hits: list[Hit], applicable: list) -> tuple[list[tuple[Hit, Decimal]], Decimal, bool]:
    """The ledger of given hits over given applicable rules, by the caps, N/A rescaling and
    red-line rules `score_hits` applies: (hits with points, score, critical). Hits in ledger
    order. csqa.review works out a reviewed conversation's human score with it (the machine's
    hits without the false positives, with the missed ones)."""
    return _score_hits(_Scorecard(rulebook), Evaluation(hits=list(hits), applicable=list(applicable)))


def _evidence(text: str, span, mask) -> str:
    if span is None:
        snippet = text[:60] + ("…" if len(text) > 60 else "")
    else:
        s, e = span
        left, right = max(0, s - 20), min(len(text), e + 20)
        snippet = ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")
    return _masked(mask, snippet) if mask and may_need_masking(snippet) else snippet


_MASKED: dict[tuple, str] = {}  # (mask function, text) → masked text: evidence of canned replies recurs


def _masked(mask, text: str) -> str:
    key = (mask, text)
    found = _MASKED.get(key)
    if found is None:
        if len(_MASKED) >= TEXTS_PER_MEMO:
            _MASKED.clear()
        found = _MASKED[key] = mask(text)
    return found


_RULE_FIELDS: dict[int, tuple] = {}  # id(rule) → (rule, its fields); the rule is kept, so its id stays its own


def _rule_fields(rule) -> tuple:
    """A finding's first fields, which depend on its rule only (rule_id … dimension)."""
    found = _RULE_FIELDS.get(id(rule))
    if found is None or found[0] is not rule:
        if len(_RULE_FIELDS) >= 4096:
            _RULE_FIELDS.clear()
        found = _RULE_FIELDS[id(rule)] = (
            rule, (rule.code, rule.name, rule.check, "bonus" if rule.bonus else rule.severity, rule.dimension)
        )
    return found[1]


def score_conversation(conv: Conversation, book: CompiledRulebook, mask=None, evidence: bool = True) -> ConversationResult:
    """The heart of csqa: one conversation in, its findings and score out. Pure.

    `evidence=False` leaves the evidence of findings on a message empty, for a caller that
    rebuilds it anyway (the workers' masked transcripts, `csqa.report.transcript`)."""
    ev = book.evaluate(conv)
    ledger, score, critical = score_hits(book, conv, ev)
    findings = []
    messages = conv.messages
    primary_agent = conv.primary_agent
    for hit, points in ledger:
        rule_fields = _rule_fields(hit.rule)
        index = hit.message_index
        if index is None:
            findings.append(Finding(*rule_fields, float(points), hit.explanation, primary_agent))
            continue
        msg = messages[index]
        span_start = span_end = None
        matched = ""
        if hit.span is not None:
            span_start, span_end = msg.norm.original_span(*hit.span)
            matched = msg.text[span_start:span_end]
        findings.append(
            Finding(
                *rule_fields,
                float(points),
                hit.explanation,
                msg.agent_id or primary_agent,
                index,
                msg.timestamp,
                span_start,
                span_end,
                _masked(mask, matched) if (mask and matched and may_need_masking(matched)) else matched,
                _evidence(msg.text, (span_start, span_end) if span_start is not None else None, mask) if evidence else "",
            )
        )
    resp = ev.responses
    settings = book.rulebook.settings
    score_f = float(score)
    result = ConversationResult(
        conversation_id=conv.id,
        agent_id=conv.primary_agent,
        agents=conv.agents,
        started_at=conv.messages[0].timestamp if conv.messages else "",
        ended_at=conv.messages[-1].timestamp if conv.messages else "",
        n_messages=len(conv.messages),
        score=score_f,
        passed=(not critical) and score_f >= settings.pass_mark,
        critical=critical,
        findings=findings,
        complaint_index=ev.complaint_index,
        first_response_s=resp[0].seconds if resp else None,
        mean_response_s=round(sum(r.seconds for r in resp) / len(resp), 1) if resp else None,
        not_applicable=list(map(_CODE, ev.not_applicable)),
    )
    _complaint_fields(ev, result)
    if ev.outcome is not None:
        result.resolved = ev.outcome.resolved
        result.unhappy_end = ev.outcome.unhappy_at is not None
    return result


def _complaint_fields(ev: Evaluation, result: ConversationResult) -> None:
    """The complaint columns: the same decision the rules used (`Evaluation.complaint`)."""
    decision = ev.complaint
    if decision is None or decision.is_complaint is None:
        return
    result.complaint = decision.is_complaint
    result.complaint_category = decision.category
    result.complaint_severity = decision.severity
    result.complaint_index = decision.first_index
