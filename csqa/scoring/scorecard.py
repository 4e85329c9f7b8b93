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

from csqa.checks.engine import CompiledRulebook, Evaluation, Hit
from csqa.checks.pii import may_need_masking
from csqa.core.memo import Memo
from csqa.core.records import Conversation, ConversationResult, Finding

CENT = Decimal("0.01")
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value: float) -> Decimal:
    """A rule's points or a dimension's weight as written (Decimal(str(value)): 0.1 is 0.1, not its float)."""
    return Decimal(str(value))


Ledger = tuple[tuple[tuple[int, Decimal], ...], Decimal, bool]  # ((hit position, points) …), score, critical


def ledger(book: CompiledRulebook, rule_codes: tuple[str, ...], dimensions: frozenset[str]) -> Ledger:
    """The points of each hit, the score and whether a red line was crossed, for hits of these rules (in this
    order) when these dimensions apply. A hit whose points come to nothing (a bonus with no room) gets no row;
    each row names the position of its hit."""
    settings = book.rulebook.settings
    weights = {d: _decimal(book.dimensions[d].weight) for d in dimensions}
    total_weight = sum(weights.values())
    scale = _HUNDRED / total_weight if total_weight else _ZERO
    rules = {r.code: r for r in book.rules}

    used: dict[str, Decimal] = dict.fromkeys(dimensions, _ZERO)
    per_rule: dict[str, int] = {}
    rows: list[tuple[int, Decimal]] = []
    lost = _ZERO  # the sum of the ledger's points, in ledger order
    critical = False
    bonuses: list[int] = []
    for position, code in enumerate(rule_codes):
        rule = rules[code]
        if rule.bonus:
            bonuses.append(position)
            continue
        critical = critical or rule.severity == "critical"
        n = per_rule[code] = per_rule.get(code, 0) + 1
        raw = _decimal(rule.points) if n <= rule.max_findings else _ZERO
        raw = max(_ZERO, min(raw, weights[rule.dimension] - used[rule.dimension]))
        used[rule.dimension] += raw
        points = _cents(raw * scale)
        rows.append((position, points))
        lost += points

    if lost > 100:  # rounding can overshoot by a cent or two
        position, p = rows[-1]
        rows[-1] = (position, p - (lost - 100))
        lost = _HUNDRED
    if critical and settings.critical_fails:
        # The first red-line finding takes every point still left, so the score is 0.
        i = next(i for i, (position, _) in enumerate(rows) if rules[rule_codes[position]].severity == "critical")
        position, p = rows[i]
        rows[i] = (position, p + (_HUNDRED - lost))
        lost = _HUNDRED
    else:
        for position in bonuses:
            gain = min(_cents(_decimal(rules[rule_codes[position]].points) * scale), lost)
            if gain > 0:
                rows.append((position, -gain))
                lost -= gain
    return tuple(rows), _HUNDRED - lost, critical


def evidence(text: str, span: tuple[int, int] | None) -> str:
    """The snippet a finding shows: up to 20 characters either side of the span (the first 60 without one)."""
    if span is None:
        return text[:60] + ("…" if len(text) > 60 else "")
    s, e = span
    left, right = max(0, s - 20), min(len(text), e + 20)
    return ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")


class Scorecard:
    """One rulebook's scorecard: `score(conversation)` runs the checks and turns their hits into findings with
    points and a 0–100 score. `mask` (text → text) hides personal data in what findings quote.

    Conversations that hit the same rules in the same order with the same dimensions applicable share a
    ledger, and canned replies share their masked snippets: both are remembered (`csqa.core.memo.Memo`)."""

    def __init__(self, book: CompiledRulebook, mask=None):
        self.book = book
        self.mask = mask
        self._ledger = Memo(lambda key: ledger(book, *key))
        self._masked = Memo(mask) if mask is not None else None
        self._rule_fields = {r.code: (r.code, r.name, r.check, "bonus" if r.bonus else r.severity, r.dimension)
                             for r in book.rules}

    def points(self, ev: Evaluation) -> tuple[list[tuple[Hit, Decimal]], Decimal, bool]:
        """(hits with their points, score, critical) of an evaluation."""
        rows, score, critical = self._ledger((tuple(h.rule.code for h in ev.hits),
                                              frozenset(r.dimension for r in ev.applicable)))
        return [(ev.hits[position], p) for position, p in rows], score, critical

    def hide(self, text: str) -> str:
        """`text` with personal data masked (as it is without a mask)."""
        if self._masked is None or not text or not may_need_masking(text):
            return text
        return self._masked(text)

    def score(self, conv: Conversation, with_evidence: bool = True) -> ConversationResult:
        """The heart of csqa: one conversation in, its findings and score out.

        `with_evidence=False` leaves the evidence of findings on a message empty, for a caller that rebuilds it
        anyway (the workers' masked transcripts, `csqa.report.transcript`)."""
        ev = self.book.evaluate(conv)
        hits, score, critical = self.points(ev)
        findings = [self._finding(conv, hit, points, with_evidence) for hit, points in hits]
        resp = ev.responses
        score_f = float(score)
        result = ConversationResult(
            conversation_id=conv.id,
            agent_id=conv.primary_agent,
            agents=conv.agents,
            started_at=conv.messages[0].timestamp if conv.messages else "",
            ended_at=conv.messages[-1].timestamp if conv.messages else "",
            n_messages=len(conv.messages),
            score=score_f,
            passed=(not critical) and score_f >= self.book.rulebook.settings.pass_mark,
            critical=critical,
            findings=findings,
            complaint_index=ev.complaint_index,
            first_response_s=resp[0].seconds if resp else None,
            mean_response_s=round(sum(r.seconds for r in resp) / len(resp), 1) if resp else None,
            not_applicable=[r.code for r in ev.not_applicable],
        )
        _complaint_fields(ev, result)
        if ev.outcome is not None:
            result.resolved = ev.outcome.resolved
            result.unhappy_end = ev.outcome.unhappy_at is not None
        return result

    def _finding(self, conv: Conversation, hit: Hit, points: Decimal, with_evidence: bool) -> Finding:
        rule_fields = self._rule_fields[hit.rule.code]
        if hit.message_index is None:
            return Finding(*rule_fields, float(points), hit.explanation, conv.primary_agent)
        msg = conv.messages[hit.message_index]
        span = msg.norm.original_span(*hit.span) if hit.span is not None else None
        matched = msg.text[span[0]:span[1]] if span is not None else ""
        return Finding(*rule_fields, float(points), hit.explanation, msg.agent_id or conv.primary_agent,
                       hit.message_index, msg.timestamp, span[0] if span else None, span[1] if span else None,
                       self.hide(matched), self.hide(evidence(msg.text, span)) if with_evidence else "")


def score_conversation(conv: Conversation, book: CompiledRulebook, mask=None, evidence: bool = True) -> ConversationResult:
    """One conversation scored on its own (`Scorecard(book, mask).score(conv)`); to score many, keep a Scorecard."""
    return Scorecard(book, mask).score(conv, evidence)


def _complaint_fields(ev: Evaluation, result: ConversationResult) -> None:
    """The complaint columns: the same decision the rules used (`Evaluation.complaint`)."""
    decision = ev.complaint
    if decision is None or decision.is_complaint is None:
        return
    result.complaint = decision.is_complaint
    result.complaint_category = decision.category
    result.complaint_severity = decision.severity
    result.complaint_index = decision.first_index
