"""Confirmation questions: the agent restates the customer's problem and asks if that is right.

Bad (no confirmation): 「好的，给您退款。」 answers without checking what the customer meant.
Good: 「您是说收到的鞋子尺码不对，是吗？」, 「跟您确认一下，是要换成黑色的对吧？」,
「是要退货吧？」 — a restatement framed as a closed question (是吗 / 对吗 / 对吧 / 是吧 / 吧?),
or an explicit 确认一下 / 核实一下.
"""
from __future__ import annotations

import re

_CONFIRM_CUE = re.compile(r"(?:确认一下|跟您确认|和您确认|向您确认|与您确认|核实一下|核对一下|再确认)")
_RESTATE = re.compile(
    r"(?:您|你|亲)?(?:的意思是|是说|是指|是想|是要|是需要|想要|需要的是|说的是|指的是|是不是)"
    r"[^。!！?？]{1,40}?(?:是吗|对吗|对吧|是吧|是么|对么|吗|吧|么|呢)\s*[?？]?"
)
_TAG_QUESTION = re.compile(r"[^。!！?？,，]{2,40}[,，]\s*(?:是吗|对吗|对吧|是吧|是这样吗|没错吧)\s*[?？]?")
_OPEN_OFFER = re.compile(r"(?:有什么|还有|其他|其它|别的|哪些)(?:问题|需要|可以)")


def find_confirmation(text: str) -> list[tuple[int, int]]:
    """Spans of confirmation questions in one agent message."""
    spans = []
    for pattern in (_CONFIRM_CUE, _RESTATE, _TAG_QUESTION):
        for m in pattern.finditer(text):
            if _OPEN_OFFER.search(m.group(0)):
                continue  # 「请问还有其他问题吗」 is an offer of help, not a confirmation
            spans.append((m.start(), m.end()))
    return sorted(spans)
