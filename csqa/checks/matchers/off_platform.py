"""The `off_platform` matcher: an agent steering the customer off-platform (站外引流 / 私下交易 / 索要打赏).

``find_off_platform(text)`` scans *agent* text (the caller filters customer
messages out) for three kinds of cues:

* ``contact``  – adding WeChat/QQ or other private contact (加我微信, vx:abc123,
  加QQ 123456, 私聊我, 扫码加好友 …)
* ``transfer`` – paying or transferring outside the platform (微信转账,
  支付宝转给我, 私下交易, 线下付款, 不走平台 …)
* ``tip``      – asking for tips / red packets (给个红包, 打赏一下, 小费 …)

Warnings and legitimate mentions do not fire: a negation/warning word in the
same clause shortly before the cue (不要/请勿/切勿/谨防/不会/禁止/严禁 …), a
risk word right after it (…有风险 / …容易被骗), third-party framing (陌生人/
对方/骗子 …), official channels (微信公众号/小程序), paying with WeChat Pay at
the platform checkout (微信支付), JD's on-platform 「选择线下付款」(对公转账) and
「打赏我一个评价」(satisfaction rating).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Optional

from csqa.checks.matchers.base import Span
from csqa.checks.matchers.regex import any_of
from csqa.checks.pii import mask_pii
from csqa.core.memo import Memo

__all__ = ["OffPlatformMatch", "OFF_PLATFORM_KINDS", "find_off_platform", "OffPlatformMatcher"]


@dataclass(frozen=True)
class OffPlatformMatch:
    kind: str          # "contact" | "transfer" | "tip"
    name: str          # Chinese label
    start: int
    end: int
    text: str
    score: float
    explanation: str   # Chinese; quotes the cue with personal data masked


OFF_PLATFORM_KINDS = {
    "contact": ("站外联系方式", "客服疑似引导客户添加站外联系方式", "站外沟通脱离平台监管，存在私下交易与诈骗风险，且违反平台规范。"),
    "transfer": ("站外交易/转账", "客服疑似引导客户在平台外付款或转账", "绕过平台的交易不受平台保障，客户资金存在风险。"),
    "tip": ("索要红包/打赏", "客服疑似向客户索要红包、打赏或小费", "客服不得向客户索取任何形式的财物。"),
}

# Full-width ASCII -> ASCII (one char to one char: offsets unchanged).
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
_HAS_FULLWIDTH = re.compile("[\uFF01-\uFF5E\u3000]")  # str.translate is slow: skip it when a no-op

_WX = r"(?:微信|薇信|威信|[vV]信|(?<![A-Za-z])(?:vx|VX|Vx|wx|WX))"
_QQ = r"(?:(?<![A-Za-z])(?:QQ|qq|Qq)|扣扣|企鹅)"
_OTHER_APP = r"(?:钉钉|陌陌|飞书|(?<![A-Za-z])(?:[Tt]elegram|[Ww]hats[Aa]pp|LINE|Line)(?![A-Za-z]))"
_ACCOUNT = r"(?:[A-Za-z][-_A-Za-z0-9]{5,19}|[1-9]\d{4,10})(?![-_A-Za-z0-9])"
_MASKED_NUM = r"\[(?:数字|电话)x\]"
# "加" as a verb, not inside 参加/增加/追加/附加/叠加/更加/外加/施加/累加/强加
_ADD = r"(?<![参增追附叠更外施累强])加"


@dataclass(frozen=True)
class _Cue:
    kind: str
    regex: "re.Pattern[str]"
    score: float
    # regex searched in the same clause right before / after the cue; a hit exempts it
    exempt_before: Optional["re.Pattern[str]"] = None
    exempt_after: Optional["re.Pattern[str]"] = None


def _c(kind: str, pattern: str, score: float, before: Optional[str] = None,
       after: Optional[str] = None) -> _Cue:
    return _Cue(kind, re.compile(pattern), score,
                re.compile(before) if before else None,
                re.compile(after) if after else None)


# Somebody giving *to* the customer (给您发个红包) is not asking for a tip.
_TO_CUSTOMER_BEFORE = r"(?:给|为|帮|向|送)您"

_CUES: tuple[_Cue, ...] = (
    # ---- contact -------------------------------------------------------
    _c("contact", rf"(?:{_ADD}|添加)(?:一下|下|个|我|一下我)?(?:的)?(?:私人|个人)?(?:{_WX}|{_QQ}|{_OTHER_APP})(?:号码|号|好友)?", 0.85),
    _c("contact", rf"(?:{_ADD}|进|入)(?:个|一下|下|我们的?|我的)?(?:{_WX}|{_QQ}|{_OTHER_APP})?群|拉(?:您|你)进(?:个)?群", 0.75),
    _c("contact", rf"{_ADD}(?:我|个)?[vV](?:[ ]?[:：][ ]?{_ACCOUNT}|[ ]{_ACCOUNT}|(?![A-Za-z0-9信]))", 0.8),
    _c("contact", rf"{_ADD}(?:我|个)?微(?:[ ]?[:：]?[ ]?{_ACCOUNT}|(?=[ :：]|$))", 0.7),
    _c("contact", rf"(?:{_WX}|{_QQ})(?:号码|号)?[ ]?(?:是|为|:|：)?[ ]?{_ACCOUNT}", 0.9),
    _c("contact", rf"{_QQ}(?:号码|号)?[ ]?(?:是|为|:|：)?[ ]?{_MASKED_NUM}", 0.8),
    _c("contact", rf"{_WX}(?:号码|号)[ ]?(?:是|为|:|：)?[ ]?{_MASKED_NUM}", 0.8),
    _c("contact", r"(?:私聊我|(?:和|跟|与)我私聊|私聊(?:一下|下)|私下(?:联系|加|沟通))", 0.8),
    _c("contact", r"扫(?:一扫|一下|下)?(?:我的|这个|下面的|下方的)?(?:二维码|码)(?:加|添加)(?:我|好友|微信|QQ)?", 0.8),
    _c("contact", rf"{_ADD}(?:个|一下|我)?好友", 0.7),
    _c("contact", rf"(?:我|本人)的(?:私人|个人)?(?:{_WX}|{_QQ}|手机号?|电话)(?:号码|号)?[ ]?(?:是|为|:|：)[ ]?(?:{_ACCOUNT}|{_MASKED_NUM}|\d{{5}})", 0.85),
    _c("contact", r"(?:打|拨打|联系|致电)我(?:的)?(?:私人|个人)(?:电话|手机)", 0.8),
    _c("contact", rf"(?:私人|个人)(?:{_WX}|{_QQ})", 0.75, before=r"您的?$"),
    # ---- transfer ------------------------------------------------------
    _c("transfer", r"(?:微信|支付宝|[vV]信|(?<![A-Za-z])(?:vx|VX|wx|WX))(?:直接|私下)?转(?:账|款|钱|给我|我|到我)", 0.85,
       before=r"(?:对公|公司|企业)"),
    _c("transfer", r"(?:(?<![呼转])转(?:账|款|钱)?|(?:打|汇)(?:款|钱)|钱(?:打|转|汇))(?:到|给)(?:我|本人)(?!们)(?:的)?(?:微信|支付宝|银行卡|卡上|账户|账号)?", 0.65),
    _c("transfer", r"直接(?:转|付|打)(?:款|钱|账)?给我(?!们)", 0.85),
    _c("transfer", r"私下(?:交易|转账|付款|支付|打款|汇款|给钱|收款|退款|结算)", 0.9),
    _c("transfer", r"线下(?:付款|交易|支付|转账|打款|汇款)", 0.7,
       before=r"(?:选择|选|勾选|点击|对公|公司|企业|网银|付款按钮|付款方式)"),
    _c("transfer", r"不(?:走|通过|经过|经|用)(?:京东|淘宝|天猫|拼多多|咱们的?|我们的?)?平台", 0.85),
    _c("transfer", r"(?:绕过|绕开|跳过|避开)(?:京东|淘宝|天猫|拼多多)?平台", 0.85),
    _c("transfer", r"平台外(?:交易|付款|支付|转账|联系)", 0.8),
    _c("transfer", r"(?:我的|个人)(?:收款码|收款二维码|支付宝账号|支付宝账户|收款账号)", 0.8),
    # ---- tip -----------------------------------------------------------
    _c("tip", r"(?:给|发|包|赏)(?:(?:我|小妹|小哥|客服)(?:一个|个|点|些)?|(?:一个|个|点|些))(?:小)?红包", 0.8,
       before=_TO_CUSTOMER_BEFORE, after=r"^.{0,3}?(?:给|补偿|送)您"),
    _c("tip", r"打赏(?:一下|下|我|点|些|个)?", 0.75,
       after=r"^.{0,6}?(?:评价|好评|满意|星|评分)"),
    _c("tip", r"(?:求|要|讨)(?:个|点)?(?:红包|打赏)", 0.75, before=_TO_CUSTOMER_BEFORE),
    _c("tip", r"小费(?!用)", 0.8),
)

# Same-clause negation/warning shortly before a cue.
_NEGATION = re.compile(
    r"(?:(?<!要)不要|不用|请勿|切勿|千万别|千万不要|谨防|(?<!会)不会|禁止|严禁|不能|不可以?|不允许|勿|(?<![区差识分特类级])别|"
    r"不得|不支持|无法|小心|警惕|谨慎|防止|以免|避免|提防|拒绝|不建议|不提倡|不接受|不提供)"
)
_NEGATION_WINDOW = 8
# Risk words right after the cue: "私下交易有风险", "加微信容易被骗".
_WARNING_AFTER = re.compile(
    r"^.{0,10}?(?:风险|被骗|诈骗|骗子|骗局|上当|不安全|不受.{0,4}保[护障]|无法保障|没有保障|违规|违反|不被允许|是不允许|是禁止)"
)
# Third-party framing: "陌生人让您加微信", "对方要求您私下转账".
_THIRD_PARTY_BEFORE = re.compile(r"(?:陌生人|对方|骗子|他人|别人|有人|第三方|任何人|不法分子|冒充)")
# Official channels named right before/after a contact cue (企业QQ, 官方微信,
# 关注…公众号, 小程序) are allowed.
_OFFICIAL_BEFORE = re.compile(r"(?:官方|企业|公众号|服务号|订阅号|热线|关注)")
_OFFICIAL_AFTER = re.compile(r"^.{0,6}?(?:官方|公众号|服务号|订阅号|小程序|视频号)")
# A bare negation immediately before the cue: 不加微信, 没加QQ, 别私聊
_NEG_ADJACENT = ("不", "没", "别", "勿", "莫", "未")
_CLAUSE_BREAK = re.compile(r"[。！？!?；;，,\n\r\t]|\s")


def _clause_before(norm: str, pos: int, limit: int = 20) -> str:
    lo = max(0, pos - limit)
    seg = norm[lo:pos]
    last = -1
    for m in _CLAUSE_BREAK.finditer(seg):
        last = m.end()
    return seg[last:] if last >= 0 else seg


def _clause_after(norm: str, pos: int, limit: int = 20) -> str:
    seg = norm[pos:pos + limit]
    m = _CLAUSE_BREAK.search(seg)
    return seg[:m.start()] if m else seg


def _suppressed(norm: str, start: int, end: int, cue: _Cue) -> bool:
    before = _clause_before(norm, start)
    after = _clause_after(norm, end)
    if _NEGATION.search(before[-_NEGATION_WINDOW:]):
        return True
    if _WARNING_AFTER.search(after):
        return True
    if before.endswith(_NEG_ADJACENT):
        return True
    if _THIRD_PARTY_BEFORE.search(before):
        return True
    if cue.kind == "contact" and (_OFFICIAL_BEFORE.search(before[-_NEGATION_WINDOW:])
                                  or _OFFICIAL_AFTER.search(after)):
        return True
    if cue.exempt_before is not None and cue.exempt_before.search(before):
        return True
    if cue.exempt_after is not None and cue.exempt_after.search(after):
        return True
    return False


_ACCOUNT_TOKEN = re.compile(r"(?<![A-Za-z0-9*])(?:[A-Za-z][-_A-Za-z0-9]{5,19}|\d{5,})(?![-_A-Za-z0-9])")


def _mask_snippet(snippet: str) -> str:
    """Mask personal data and any account id left in a quoted cue."""
    masked = mask_pii(snippet)
    return _ACCOUNT_TOKEN.sub(lambda m: m.group(0)[:2] + "****", masked)


@functools.lru_cache(maxsize=1)
def _any_cue():
    """One search for all the cues' patterns (`any_of`): most agent replies hold none of them."""
    return any_of([cue.regex.pattern for cue in _CUES])


def find_off_platform(text: str, min_score: float = 0.5) -> list[OffPlatformMatch]:
    """Return off-platform cues in agent ``text``, sorted by start.

    Overlapping cues of the same kind are merged into one span (score raised
    a little when several cues agree); overlaps between kinds keep the higher
    score.
    """
    if not text:
        return []
    norm = text.translate(_FULLWIDTH) if _HAS_FULLWIDTH.search(text) else text
    anywhere = _any_cue()
    if anywhere is not None and anywhere.search(norm) is None:
        return []  # no cue occurs: skip the per-cue scan
    raw: list[list] = []  # [kind, start, end, score, n_cues]
    for cue in _CUES:
        for m in cue.regex.finditer(norm):
            s, e = m.span()
            if s == e or _suppressed(norm, s, e, cue):
                continue
            raw.append([cue.kind, s, e, cue.score, 1])
    # merge same-kind overlapping or touching spans
    raw.sort(key=lambda r: (r[0], r[1], -r[2]))
    merged: list[list] = []
    for r in raw:
        if merged and merged[-1][0] == r[0] and r[1] <= merged[-1][2]:
            last = merged[-1]
            last[2] = max(last[2], r[2])
            last[3] = max(last[3], r[3])
            last[4] += 1
        else:
            merged.append(list(r))
    for r in merged:
        if r[4] > 1:
            r[3] = min(1.0, r[3] + 0.1)
        r[3] = round(r[3], 2)
    merged = [r for r in merged if r[3] >= min_score]
    # cross-kind overlaps: higher score, then longer span
    merged.sort(key=lambda r: (-r[3], -(r[2] - r[1]), r[1]))
    chosen: list[list] = []
    for r in merged:
        if all(r[2] <= o[1] or r[1] >= o[2] for o in chosen):
            chosen.append(r)
    chosen.sort(key=lambda r: (r[1], r[2]))
    out = []
    for kind, s, e, score, _n in chosen:
        name, lead, risk = OFF_PLATFORM_KINDS[kind]
        snippet = _mask_snippet(text[s:e])
        out.append(OffPlatformMatch(
            kind=kind, name=name, start=s, end=e, text=text[s:e], score=score,
            explanation=f"{lead}：「{snippet}」（置信度{score:.2f}）。{risk}",
        ))
    return out


class OffPlatformMatcher:
    """The `off_platform: true` matcher (see the module docstring).

        forbid: {off_platform: true}

    Bad: 「加我微信 abc12345，私下转账更便宜」. Good: 「请勿添加陌生人微信，谨防诈骗」."""

    costly = False

    def __init__(self):
        self.spans = Memo(self._spans)

    @staticmethod
    def _spans(text: str) -> tuple[Span, ...]:
        return tuple((p.start, p.end, p.text) for p in find_off_platform(text))
