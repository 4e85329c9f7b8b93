"""`timing`: response times — the first reply and every later reply against the shop's limits.

    - code: TIME-001
      check: first_response
      timing: {first_response_s: 30}

Bad: the customer writes at 09:00:00 and the agent's first reply comes at 09:01:10
(70 s against a 30 s limit, 000 §3.1 在线客服XX秒内). Good: a reply within the limit.
A customer "turn" is the run of customer messages since the last agent message; its
response time runs from the turn's first message to the next agent message. Without
timestamps the timing checks are N/A.
"""
from __future__ import annotations

from csqa.checks.rules.base import Hit, Situation, explain
from csqa.core.memo import Memo
from csqa.rulebook.schema import Rule


class TimingRule:
    def __init__(self, rule: Rule):
        self.rule = rule
        self.explanation = Memo(self._explanation)  # delays recur: each (first?, seconds) is worded once

    def _explanation(self, key: tuple[bool, float]) -> str:
        first, seconds = key
        limit = self.rule.timing.first_response_s if first else self.rule.timing.response_s
        kind = "首次响应" if first else "回复"
        return explain(self.rule, f"{kind}超时: 顾客等待 {seconds:.0f} 秒 (上限 {limit:.0f} 秒)")

    def run(self, view, situation: Situation) -> list[Hit]:
        first_limit, later_limit = self.rule.timing.first_response_s, self.rule.timing.response_s
        hits = []
        for r in view.responses:
            limit = first_limit if r.first else later_limit
            if limit is not None and r.seconds > limit:
                hits.append(Hit(self.rule, self.explanation((r.first, r.seconds)), r.agent_index))
        return hits
