"""The `pii` matcher: personal data an agent writes into the chat (the recognizers of csqa.checks.pii).

    forbid: {pii: [mobile, id_card, bank_card, email, wechat, qq, address]}

Bad: 「您的手机号是 13812345678 对吧」 (a valid mobile number, written out by the agent).
Good: 「您的手机号尾号 5678 对吧」; 「订单号 2023112812345678」 (an order number, no checksum of an ID).
Detection is strict (validators, context scores: csqa.checks.pii.find_pii); what reports hide is a
separate, broader question (mask_pii).
"""
from __future__ import annotations

from csqa.checks.matchers.base import Span
from csqa.checks.pii import find_pii
from csqa.core.memo import Memo


class PiiMatcher:
    costly = False

    def __init__(self, kinds):
        self.kinds = frozenset(kinds)
        self.spans = Memo(self._spans)

    def _spans(self, text: str) -> tuple[Span, ...]:
        return tuple((p.start, p.end, p.text) for p in find_pii(text, kinds=set(self.kinds)))
