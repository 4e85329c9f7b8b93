"""Copy-paste flooding and emoji overuse (004 §3(二)4: 表情适度).

Bad: the same 20-character canned answer sent four times in one chat; a reply that is
「好的😊😊😊😊」. Good: a canned answer used once or twice; one emoji in a friendly reply.
"""
from __future__ import annotations

from csqa.core.records import Message
from csqa.text.segment import EMOJI, PROTECTED, is_emoji_token


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


def may_hold_emoji(text: str) -> bool:
    """False when `text` (or several texts joined) holds neither an emoticon's bracket nor an emoji."""
    return "[" in text or (not text.isascii() and EMOJI.search(text) is not None)


def emoji_count(msg: Message) -> int:
    """Emoji and platform emoticons ([微笑]) in a message; masks such as [数字x] do not count."""
    text = msg.clean
    if not may_hold_emoji(text):
        return 0  # nothing PROTECTED can match
    return sum(1 for m in PROTECTED.finditer(text) if is_emoji_token(m.group(0)))
