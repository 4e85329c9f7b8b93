"""How a hidden value is shown: the styles a registry entry names in ``masking:``.

Each keeps a value's shape recognisable and never shows more than the first three and last four
digits of a long number, nothing of a short one:

    mobile_number       13812345678 → 138****5678 (+86 kept)
    landline_number     010-12345678 → 010-****5678
    id_number           11010519900307123X → 110***********123X
    card_tail           6222 0200 0000 0007 → ****0007
    email_first_letter  zhangsan@qq.com → z***@qq.com (also abc(at)qq.com, abc艾特qq点com)
    district_only       北京市朝阳区建国路88号 → 北京市朝阳区****
    first_two           liming2468 → li****
    hidden              anything → ****
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from .text_forms import FULLWIDTH

_MOBILE_SPLIT = re.compile(r"^((?:\+|00)?86[ -]?)?(.*)$")
_LANDLINE_SPLIT = re.compile(r"^(\(0\d{2,3}\)[ ]?|0(?:10|2\d|[3-9]\d{2})[ -]?)(\d+)(.*)$")
# an e-mail written without "@": abc(at)qq.com, abc [at] qq dot com, abc#qq.com, abc艾特qq点com
_EMAIL_AT = re.compile(r"[ ]?(?:@|[(\[{【][ ]?(?:at|AT|At)[ ]?[)\]}】]|(?<=[ ])(?:at|AT)(?=[ ])|#|艾特|圈)[ ]?")
_NON_DIGIT = re.compile(r"\D")


def _tail(digits: str) -> str:
    return "****" + (digits[-4:] if len(digits) >= 8 else "")


def mobile_number(value: str, keep_prefix: Optional[str]) -> str:
    digits = _NON_DIGIT.sub("", value)
    m = _MOBILE_SPLIT.match(value)
    cc = (m.group(1) or "") if m else ""
    core = _NON_DIGIT.sub("", m.group(2)) if m else digits
    if len(core) != 11:
        if len(digits) < 11:  # (a number after a phone cue: show its end only)
            return _tail(digits)
        core = digits[-11:]
    return f"{cc}{core[:3]}****{core[-4:]}"


def landline_number(value: str, keep_prefix: Optional[str]) -> str:
    m = _LANDLINE_SPLIT.match(value)
    if m:
        local = m.group(2)
        return f"{m.group(1)}{'*' * max(len(local) - 4, 3)}{local[-4:]}{m.group(3)}"
    return _tail(_NON_DIGIT.sub("", value))


def id_number(value: str, keep_prefix: Optional[str]) -> str:
    s = re.sub(r"[^0-9Xx]", "", value)
    if len(s) < 15:  # (a token after an ID cue)
        return s[:2] + "****" if len(s) >= 8 else "****"
    return s[:3] + "*" * max(len(s) - 7, 4) + s[-4:]


def card_tail(value: str, keep_prefix: Optional[str]) -> str:
    return _tail(_NON_DIGIT.sub("", value))


def email_first_letter(value: str, keep_prefix: Optional[str]) -> str:
    local, at, domain = value.partition("@")
    if not at:
        m = _EMAIL_AT.search(value)
        if m is None:
            return "****"
        local, domain = value[:m.start()], value[m.end():]
    return f"{local[:1]}***@{domain}"


def district_only(value: str, keep_prefix: Optional[str]) -> str:
    return (keep_prefix or "") + "****"


def first_two(value: str, keep_prefix: Optional[str]) -> str:
    return value[:2] + "****" if len(value) >= 6 else "****"


def hidden(value: str, keep_prefix: Optional[str]) -> str:
    return "****"


STYLES: dict[str, Callable[[str, Optional[str]], str]] = {
    f.__name__: f for f in (mobile_number, landline_number, id_number, card_tail, email_first_letter,
                            district_only, first_two, hidden)
}


def show_masked(style: str, value: str, keep_prefix: Optional[str] = None) -> str:
    """`value` (full-width folded first) hidden in `style`; `keep_prefix`: the part shown as it is
    (an address's district)."""
    return STYLES[style](value.translate(FULLWIDTH), keep_prefix)
