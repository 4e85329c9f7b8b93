"""`forbid`: a finding for every place in the rule's window where the agent DID it (rude words, 推诿,
personal data, trading off the platform …), at most `max_findings` of them counted by the scorecard.

    - code: RED-001
      check: rude
      forbid: {phrases: [滚, 滚蛋, …], similar_to: [你有完没完, …], conduct: rude, unless_quoted: true, …}

Bad: 「爱买不买」 → 辱骂/不文明用语. Good: 「您说的“这什么垃圾”我们非常重视」 (the agent quotes the
customer: an exception of the block, csqa.checks.block).
"""
from __future__ import annotations

from csqa.checks.block import MatchBlock
from csqa.checks.rules.base import Hit, Situation, explain
from csqa.checks.view import ConversationView
from csqa.rulebook.schema import CHECK_NAMES_ZH, Rule


class ForbidRule:
    def __init__(self, rule: Rule, block: MatchBlock):
        self.rule = rule
        self.block = block
        self.name = CHECK_NAMES_ZH.get(rule.check, rule.check)

    def run(self, view: ConversationView, situation: Situation) -> list[Hit]:
        rule, block = self.rule, self.block
        if not block.can_match_in(view):
            return []
        window = view.window(rule.scope, situation.trigger_for(rule))
        hits = []
        for pos, msg in enumerate(window):
            # only the next message of the window can redeem a match (unless_followed_by)
            following = window[pos + 1: pos + 2] if block.redeemers else ()
            for start, end, matched in block.find(msg, view, following):
                hits.append(Hit(rule, explain(rule, f"{self.name}: 客服使用了「{matched}」", matched),
                                msg.index, (start, end), matched))
        return hits
