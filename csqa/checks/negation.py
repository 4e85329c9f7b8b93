"""Negation and quotation: when a forbidden phrase is not really said by the agent.

Bad (fires wrongly elsewhere): 「不是不能退，是需要先寄回」 flagged for 不能退;
「您说的“这什么垃圾”我们非常重视」 flagged as the agent insulting the customer.
Good (csqa): a phrase under negation or double negation (不是不能退, 没说不行,
不会不管您) does not fire, and neither does text the agent quotes from the customer —
inside quotation marks, after 您说/您提到, or repeating the customer's own words.
"""
from __future__ import annotations

import re

CLAUSE_BREAK = re.compile(r"[,，。.!！?？;；~～\n]")
# a clause ends in a negator, then at most a few particles: 「这不是」「我没有说」「并不是我们」
_NEGATORS = ("不是", "并不是", "并非", "没说", "没有说", "并没有", "没有", "不会", "绝不会", "决不会", "不能", "无法", "没法",
             "不敢", "从不", "从来不", "从没", "不可能", "怎么会", "哪有", "哪里有", "不存在")
_PARTICLES = "说我们您你会是讲过再就都在"
_MAX_PARTICLES = 3
_NEGATOR = re.compile(f"(?<!是)(?:{'|'.join(_NEGATORS)})[{_PARTICLES}]{{0,{_MAX_PARTICLES}}}$")
_QUOTE_PAIRS = {"“": "”", "「": "」", "『": "』", "‘": "’", '"': '"', "'": "'"}
_REPORTED = re.compile(r"(?:您|你|亲|客户|顾客|买家)(?:刚才|之前|刚刚)?(?:说|提到|反映|反馈|讲|表示)(?:的|过|了)?")


# up to the last clause break (greedy): its end is where the clause starts
_UP_TO_LAST_BREAK = re.compile(f"(?s:.*){CLAUSE_BREAK.pattern}")
_QUOTE_OPEN = re.compile("[" + re.escape("".join(_QUOTE_PAIRS)) + "]")


# a negator ends its clause: it can only start this many characters before the end (only used to search less)
_NEGATOR_WIDTH = max(map(len, _NEGATORS)) + _MAX_PARTICLES


def clause_start(text: str, pos: int) -> int:
    m = _UP_TO_LAST_BREAK.match(text, 0, pos)
    return m.end() if m else 0


def is_negated(text: str, start: int) -> bool:
    """True when the clause before `start` ends in a negator (不是 / 没说 / 不会 …)."""
    prefix = text[clause_start(text, start) : start]
    return bool(_NEGATOR.search(prefix, max(0, len(prefix) - _NEGATOR_WIDTH)))


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """Spans inside quotation marks and after reported-speech cues (您说…) up to the clause end."""
    spans = []
    i = 0
    while (m := _QUOTE_OPEN.search(text, i)) is not None:
        i = m.start()
        j = text.find(_QUOTE_PAIRS[text[i]], i + 1)
        if j > i:
            spans.append((i + 1, j))
            i = j + 1
        else:
            i += 1
    for m in _REPORTED.finditer(text):
        end = CLAUSE_BREAK.search(text, m.end())
        spans.append((m.end(), end.start() if end else len(text)))
    return spans


def echoes_customer(text: str, start: int, end: int, customer_texts) -> bool:
    """True when the match, with at least two characters of its context, repeats an earlier customer message."""
    for left in range(0, 3):
        right = 2 - left
        s, e = start - left, end + right
        if s < 0 or e > len(text):
            continue
        piece = text[s:e]
        if any(piece in ct for ct in customer_texts):
            return True
    return False


def is_quoted(text: str, start: int, end: int, customer_texts=()) -> bool:
    for s, e in quoted_spans(text):
        if s <= start and end <= e:
            return True
    return echoes_customer(text, start, end, customer_texts)
