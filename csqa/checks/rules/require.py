"""`require`: a finding when the agent did NOT do it in the rule's window (greeting, closing, apology …).

    - code: OPEN-001
      check: greeting
      scope: {first_turns: 1}
      require: {phrases: [您好, 你好, 欢迎光临, 欢迎咨询], regex: [...亲/亲爱的 as an address]}

Bad: the agent's first reply is 「有什么问题我可以帮您处理或解决呢?」 → 缺少开场问候.
Good: 「亲，您好，非常高兴为您服务」.
A `bonus` rule turns it round: doing it earns back points lost elsewhere, not doing it costs nothing.
"""
from __future__ import annotations

from csqa.checks.block import MatchBlock
from csqa.checks.rules.base import Hit, Situation, explain
from csqa.checks.view import ConversationView
from csqa.rulebook.schema import CHECK_NAMES_ZH, Rule


class RequireRule:
    def __init__(self, rule: Rule, block: MatchBlock):
        self.rule = rule
        self.block = block
        self.done = explain(rule, f"{rule.name}: 已做到")
        self.missing = explain(rule, f"缺少{CHECK_NAMES_ZH.get(rule.check, rule.check)}: {describe_window(rule)}未发现{rule.name}")

    def run(self, view: ConversationView, situation: Situation) -> list[Hit]:
        rule = self.rule
        if self.block.occurs_in(view.window(rule.scope, situation.trigger_for(rule)), view):
            return [Hit(rule, self.done)] if rule.bonus else []
        return [] if rule.bonus else [Hit(rule, self.missing)]


def describe_window(rule: Rule) -> str:
    s = rule.scope
    if s.after == "complaint":
        return f"顾客投诉后的 {s.within_turns or '全部'} 条客服回复中"
    if s.after == "pending":
        return f"问题待处理后的 {s.within_turns or '全部'} 条客服回复中"
    if s.first_turns:
        return f"客服前 {s.first_turns} 条回复中"
    if s.last_turns:
        return f"客服最后 {s.last_turns} 条回复中"
    return "整个会话中"
