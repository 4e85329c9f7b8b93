"""`repetition`: copy-paste flooding — the same canned reply sent more than `max_repeats` times.

    - code: HAND-004
      check: repeated_message
      repetition: {min_chars: 8, max_repeats: 2}

Bad: 「亲，您的订单正在加急处理中请耐心等待」 three times while the customer asks 「？？？」, 「问你呢」.
Good: the same line once, then 「已经帮您催仓库了，预计今天下午发出」.
"""
from __future__ import annotations

from csqa.checks.rules.base import Hit, Situation, explain
from csqa.checks.view import ConversationView
from csqa.core.records import Message
from csqa.rulebook.schema import Rule


def repeated_messages(messages: list[Message], min_chars: int, max_repeats: int) -> list[Message]:
    """Agent messages that repeat an earlier identical message more than `max_repeats` times in all."""
    seen: dict[str, int] = {}
    flagged = []
    for msg in messages:
        key = msg.clean.strip()
        if len(key) < min_chars:
            continue
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == max_repeats + 1:
            flagged.append(msg)
    return flagged


class RepetitionRule:
    def __init__(self, rule: Rule):
        self.rule = rule
        self.explanation = explain(rule, f"{rule.name}: 相同内容重复发送超过 {rule.repetition.max_repeats} 次")

    def run(self, view: ConversationView, situation: Situation) -> list[Hit]:
        limit = self.rule.repetition
        return [Hit(self.rule, self.explanation, m.index, (0, len(m.clean)), m.clean)
                for m in repeated_messages(view.agents, limit.min_chars, limit.max_repeats)]
