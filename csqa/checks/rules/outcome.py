"""`outcome`: what the agent achieved, not how it spoke — read from the conversation's outcome
(csqa.checks.outcome.analyse), one measure per rule.

    - code: OUT-001
      check: concrete_answer
      outcome: {measure: answer}

Bad (answer): 「宽带从昨天开始就断了，怎么回事」 → 「您好，请您私信提供宽带账号和联系电话，谢谢！」 (no agent
reply answers). Good: 「您好，您所在小区光缆正在抢修，预计今晚 8 点前恢复，给您带来不便非常抱歉」.
Measures: answer (some reply answers), reaction (the customer is not left unhappy after the last answer),
confirmed (the customer accepted it), resolved (the last request is not left unanswered).
"""
from __future__ import annotations

from csqa.checks.outcome import Outcome
from csqa.checks.rules.base import Hit, Situation, explain
from csqa.checks.view import ConversationView
from csqa.rulebook.schema import Rule

_UNHAPPY_WHY = {"words": "顾客说「{matched}」", "complaint": "顾客仍在表达不满", "repeat": "顾客重复了之前的问题"}


class OutcomeRule:
    def __init__(self, rule: Rule):
        self.rule = rule

    def run(self, view: ConversationView, situation: Situation) -> list[Hit]:
        hit = outcome_hit(self.rule, situation.outcome, view)
        return [] if hit is None else [hit]


def outcome_hit(rule: Rule, outcome: Outcome, view: ConversationView) -> Hit | None:
    """The finding of an outcome rule, if the conversation's outcome calls for one."""
    measure = rule.outcome.measure
    if measure == "answer":
        if outcome.answered_at is not None or not outcome.n_customer_requests:
            return None
        return Hit(rule, explain(rule, "未给出具体答复: 客服只有问候、等待、私信/提供信息之类的话术或结束语，没有针对问题的信息、办法或带时间的承诺"))
    if measure == "reaction":
        at = outcome.unhappy_at
        if at is None:
            return None
        msg = view.conv.messages[at]
        span = outcome.unhappy_span
        matched = msg.clean[span[0]:span[1]] if span else ""
        why = _UNHAPPY_WHY[outcome.unhappy_why].replace("{matched}", matched)
        return Hit(rule, explain(rule, f"顾客不认可答复: 客服最后一次答复后，{why}", matched), at, span, matched)
    if measure == "confirmed":
        if outcome.replied_at is None or outcome.confirmed_at is not None or outcome.unhappy_at is not None \
                or not outcome.n_customer_requests:
            return None  # nothing to accept, accepted, or the reaction rule has it
        return Hit(rule, explain(rule, "未确认解决: 客服最后一次答复后，顾客没有表示问题已解决或认可答复"))
    at = outcome.open_at
    if at is None:
        return None
    return Hit(rule, explain(rule, "诉求未解决: 顾客最后的提问或不满没有得到答复"), at)
