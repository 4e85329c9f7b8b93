"""`emoji`: emoji overuse (004 §3(二)4: 表情适度) — too many in one reply, or in too many replies.

    - code: HAND-005
      check: emoji_overuse
      emoji: {max_per_message: 3, max_messages_ratio: 0.6}

Bad: 「好的😊😊😊😊」. Good: 「好的😊」. Platform emoticons ([微笑]) count; masks such as [数字x] do not.
"""
from __future__ import annotations

from csqa.checks.rules.base import Hit, Situation, explain
from csqa.checks.view import ConversationView
from csqa.core.memo import Memo
from csqa.rulebook.schema import Rule
from csqa.text.segment import EMOJI, PROTECTED, is_emoji_token


def may_hold_emoji(text: str) -> bool:
    """False when `text` (or several texts joined) holds neither an emoticon's bracket nor an emoji."""
    return "[" in text or (not text.isascii() and EMOJI.search(text) is not None)


def emoji_count(text: str) -> int:
    """Emoji and platform emoticons ([微笑]) in a message's text; masks such as [数字x] do not count."""
    if not may_hold_emoji(text):
        return 0  # nothing PROTECTED can match
    return sum(1 for m in PROTECTED.finditer(text) if is_emoji_token(m.group(0)))


class EmojiRule:
    def __init__(self, rule: Rule):
        self.rule = rule
        self.count = Memo(emoji_count)

    def run(self, view: ConversationView, situation: Situation) -> list[Hit]:
        rule, limit, agents = self.rule, self.rule.emoji, view.agents
        if limit.max_per_message >= 0 and limit.max_messages_ratio >= 0 and not may_hold_emoji(
                "".join(m.clean for m in agents)):
            return []  # no emoji in any agent message
        counts = [(m, self.count(m.clean)) for m in agents]
        hits = [Hit(rule, explain(rule, f"表情过多: 一条消息使用了 {n} 个表情 (上限 {limit.max_per_message})"),
                    m.index, (0, len(m.clean)), m.clean)
                for m, n in counts if n > limit.max_per_message]
        with_emoji = sum(1 for _, n in counts if n)
        if not hits and len(agents) >= 4 and with_emoji / len(agents) > limit.max_messages_ratio:
            hits.append(Hit(rule, explain(rule, f"表情过多: {with_emoji}/{len(agents)} 条客服消息带表情")))
        return hits
