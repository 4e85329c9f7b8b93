"""The `question` matcher — confirmation questions: the agent restates the customer's problem and asks if that is right.

Bad (no confirmation): 「好的，给您退款。」 answers without checking what the customer meant.
Good: 「您是说收到的鞋子尺码不对，是吗？」, 「跟您确认一下，是要换成黑色的对吧？」,
「您现在需要退货是吗」, 「[订单x] 这个订单吗」, 「请问是这个商品吗」, 「您确定取消吗」,
「发送至您的邮箱 :[邮箱x] 是不」, 「抬头…税号… 您核对下」 — a restatement framed as a closed
question (是吗 / 对吗 / 是不 / 是否正确 …), a closed question about the customer's own request
(是这个…吗 / 您是要…吗 / 确定…吗 / 不取消吗 / …咨询么), or an explicit 确认一下 / 请您核对.
Not confirmations (the reviewers' guideline): offers (请问还有其他问题吗), requests for missing
information (麻烦提供一下订单号好吗, 您方便描述下吗), presence (在吗), questions about what the
customer did or can do (您开通…了吗, 您有联系售后吗, 您前台可以自己解绑吗) and asking for consent
(您同意吗, …可以吗).

JD exports join several messages of a turn with spaces, so a space ends a sentence here.
"""
from __future__ import annotations

import re

from csqa.checks.matchers.base import Span
from csqa.core.memo import Memo

_CONFIRM_CUE = re.compile(
    r"(?:确认一下|跟您确认|和您确认|向您确认|与您确认|核对一下|再确认|您的意思是|您是说|您是指"
    r"|(?:请|您|请您|麻烦您)(?:再)?核对(?:一)?下|(?:您|请问)是否(?:是|要|需要|想))"
)
# a sentence: up to sentence punctuation (kept) or a run of spaces (exports join messages with spaces)
_SENTENCE = re.compile(r"[^。!！?？~～\n\s]+(?:\s*[?？]+|[。!！~～\n]+)?")
# a tag question at the end of a sentence: …是吗 / …对吧 / …是不 / …是否正确
_TAGS = r"是吗|对吗|对吧|是吧|是么|对么|是嘛|对嘛|是不|是不是|对不对|没错吧|是这样吗|是否正确|正确吗|对不"
_TAG_END = r"\s*(?:亲爱的|亲亲|亲|呢|哦|哈)?\s*[?？~～]*\s*$"
_TAG = re.compile(f"(?:{_TAGS}){_TAG_END}")
# a piece that is only a tag (or 吗) belongs to the sentence before it (「您需要换货 是吗」「这个订单问题 吗」)
_TAG_ONLY = re.compile(f"^\\s*(?:请问)?(?:{_TAGS}|吗|么|嘛){_TAG_END}")
# (a closing mask token may follow: 「是这个订单号吗[订单x]」)
_CLOSED = re.compile(r"(?:吗|么|嘛)\s*(?:亲爱的|亲亲|亲|呢)?\s*[?？~～、]*\s*(?:\[(?:订单|数字)x\])?\s*$")
# a yes/no question by intonation alone: 「下单人?」「这几个都取消 ?」 (no question word)
_INTONATION = re.compile(r"[?？]+\s*$")
_QUESTION_WORD = re.compile(r"什么|怎么|怎样|哪|多少|为什么|为何|谁|几(?!个)|如何|咋|呢|吗|么|吧|嘛|是否|还是|您好|你好|在\s*[?？]|^\s*(?:亲爱的|亲亲|亲)\s*[?？]|服务|谢谢|感谢|客气|稍等")
# a closed question restates the customer's request when it names it: 是这个订单 / 这个吗 /
# 您是要… / 您需要… / 确定… / 不取消吗 / …咨询么
_RESTATES = re.compile(
    r"(?:是这|这个|这款|这件|这单|此单|该订单|那个|您是|你是|是要|是想|是需要|这边是|那边是|的(?:吗|么|嘛)"
    r"|您(?:要|想|需要|希望|打算)|确定|咨询(?:吗|么|嘛)|^(?:请问)?(?:您)?(?:还)?不(?:需要|要|用|取消|退|换|买)"
    r"|^(?:请问)?(?:是)?(?:需要|要|想)|\[订单x\]|\[数字x\])"
)
_NOT_CONFIRM = re.compile(
    r"(?:有什么|还有|其他|其它|别的|在吗|在么|好吗|可以吗|行吗|方便|好么|可以么|能否|能不能|稍等|麻烦|提供|明白吗|清楚吗|满意"
    r"|评价|还记得|同意|愿意|(?<!需要)(?<!不要)了[吗么]|过吗|有没有|是否有|您有|你有|试一下|试试|看一下|看下)"
)

# every tag and closed ending holds one of these: a text without any has no closed question
_QUESTION_END = re.compile(r"[吗么嘛吧?？]|是不|对不|是否正确")


def _sentences(text: str):
    """(start, end) of each sentence; a piece that is only a tag question joins the one before."""
    out: list[list[int]] = []
    for m in _SENTENCE.finditer(text):
        if out and _TAG_ONLY.match(m.group(0)):
            out[-1][1] = m.end()
        else:
            out.append([m.start(), m.end()])
    return out


def find_confirmation(text: str) -> list[tuple[int, int]]:
    """Spans of confirmation questions in one agent message."""
    spans = [(m.start(), m.end()) for m in _CONFIRM_CUE.finditer(text)]
    if _QUESTION_END.search(text) is None:
        return spans  # already sorted and distinct
    for start, end in _sentences(text):
        sentence = text[start:end]
        if _TAG.search(sentence):
            if not _NOT_CONFIRM.search(sentence):
                spans.append((start, end))
        elif _CLOSED.search(sentence):
            if _RESTATES.search(sentence) and not _NOT_CONFIRM.search(sentence):
                spans.append((start, end))
        elif _INTONATION.search(sentence) and not _QUESTION_WORD.search(sentence) and not _NOT_CONFIRM.search(sentence):
            if len(sentence.strip(" ?？")) >= 2:
                spans.append((start, end))
    return sorted(set(spans))


class ConfirmationMatcher:
    """The `question: true` matcher: a confirmation question (see the module docstring).

        require: {question: true}
    """

    costly = False

    def __init__(self):
        self.spans = Memo(self._spans)

    @staticmethod
    def _spans(text: str) -> tuple[Span, ...]:
        return tuple((s, e, text[s:e]) for s, e in find_confirmation(text))
