"""Confirmation questions: the agent restates the customer's problem and asks if that is right.

Bad (no confirmation): 「好的，给您退款。」 answers without checking what the customer meant.
Good: 「您是说收到的鞋子尺码不对，是吗？」, 「跟您确认一下，是要换成黑色的对吧？」,
「您现在需要退货是吗」, 「[订单x] 这个订单吗?」 — a restatement framed as a closed question
(是吗 / 对吗 / 对吧 / 是吧 / …吗?), or an explicit 确认一下 / 核实一下.
Not confirmations: offers (请问还有其他问题吗), requests (麻烦提供一下订单号好吗), presence (在吗).
"""
from __future__ import annotations

import re

_CONFIRM_CUE = re.compile(r"(?:确认一下|跟您确认|和您确认|向您确认|与您确认|核对一下|再确认|您的意思是|您是说|您是指)")
# a sentence: split on sentence punctuation and on runs of spaces (exports join messages with spaces)
_SENTENCE = re.compile(r"[^。!！?？\n]+?(?:[?？]+|[。!！\n]|\s{2,}|$)")
_TAG = re.compile(r"(?:是吗|对吗|对吧|是吧|是么|对么|没错吧|是这样吗|是不是)\s*[?？~～]*\s*$")
_CLOSED = re.compile(r"(?:吗|么|吧)\s*(?:亲爱的|亲亲|亲)?\s*[?？~～]*\s*$")
_RESTATE_MARK = re.compile(r"(?:您|你|这个|这款|该|是|需要|要|想|的|之前|现在)")
_NOT_CONFIRM = re.compile(
    r"(?:有什么|还有|其他|其它|别的|在吗|在么|好吗|可以吗|行吗|方便吗|好么|可以么|稍等|麻烦|提供|收到了吗|明白吗|清楚吗|满意|评价|还记得)"
)


# every _TAG and _CLOSED ending holds one of these: a text without any has no closed question
_QUESTION_END = re.compile(r"[吗么吧]|是不是")


def _sentences(text: str):
    for m in _SENTENCE.finditer(text):
        if m.group(0).strip():
            yield m.start(), m.end()


def find_confirmation(text: str) -> list[tuple[int, int]]:
    """Spans of confirmation questions in one agent message."""
    spans = [(m.start(), m.end()) for m in _CONFIRM_CUE.finditer(text)]
    if _QUESTION_END.search(text) is None:
        return spans  # already sorted and distinct
    for start, end in _sentences(text):
        sentence = text[start:end]
        if _NOT_CONFIRM.search(sentence):
            continue
        if _TAG.search(sentence) or (_CLOSED.search(sentence) and _RESTATE_MARK.search(sentence)):
            spans.append((start, end))
    return sorted(set(spans))
