"""投诉分类体系 / Complaint taxonomy.

Categories follow the seed standards: 002 §3.5 / §7.2 (产品质量, 服务态度, 物流, 支付/退款,
系统故障) plus 价格促销 and 其他 for grievances the standards leave open, and 非投诉 for
everything that is not a grievance. Severity follows 001 第四章 (一般投诉 vs 重大投诉/危机事件).

A text is a *complaint* when the customer expresses a grievance: something went wrong and
the customer holds the shop/platform/operator responsible (dissatisfaction, blame, a demand
for redress). A plain question, a request (开发票, 价保, 改地址), praise, or impatience
without a grievance (「在吗?快点回复」) is 非投诉.

When a text has several grievances, the category is the one the customer is most upset
about (usually the one that triggered the message); ties go to the earlier one in the
text. See ``corpora/complaints/TAXONOMY.md`` for the full guide with more examples.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORIES: tuple[str, ...] = ("none", "product", "logistics", "service", "payment", "system", "price", "other")
COMPLAINT_CATEGORIES: tuple[str, ...] = CATEGORIES[1:]
SEVERITIES: tuple[str, ...] = ("none", "normal", "serious")

CATEGORY_NAMES_ZH: dict[str, str] = {
    "none": "非投诉",
    "product": "商品质量",
    "logistics": "物流配送",
    "service": "服务态度",
    "payment": "支付退款",
    "system": "系统故障",
    "price": "价格促销",
    "other": "其他",
}

SEVERITY_NAMES_ZH: dict[str, str] = {"none": "无", "normal": "一般投诉", "serious": "重大投诉"}


@dataclass(frozen=True)
class ComplaintClass:
    """One class of the taxonomy with its definition and examples."""

    code: str
    name_zh: str
    definition: str
    examples: tuple[str, ...]
    not_this: tuple[str, ...] = ()


def _cls(code: str, definition: str, examples: tuple[str, ...], not_this: tuple[str, ...] = ()) -> ComplaintClass:
    return ComplaintClass(code, CATEGORY_NAMES_ZH[code], definition, examples, not_this)


CLASSES: dict[str, ComplaintClass] = {
    "none": _cls(
        "none",
        "非投诉: 咨询、请求、感谢/好评、催促但没有不满。例如问尺码、开发票、申请价保、改地址、问什么时候发货。",
        (
            "你好,这款有没有黑色的?",
            "麻烦帮我开一下电子发票,抬头是公司的",
            "[订单x]降价了,能申请价保吗?",
            "收到了,质量很好,给你们点赞👍",
            "在吗?在吗?快回我一下,想改个地址",
        ),
        ("我买的时候[金额x],第二天就降了一百,你们这是坑老客户 (→ price)",),
    ),
    "product": _cls(
        "product",
        "商品质量 (002 §3.5 产品质量): 商品坏了、有瑕疵、与描述不符、假货、发错货/少件、过期变质、尺码严重不符。",
        (
            "刚收到的手机屏幕就有坏点,这质量也太差了吧",
            "衣服洗了一次就掉色,跟图片完全两个颜色",
            "牛奶打开是臭的,生产日期都快过期了",
            "买的是黑色发来白色,还少了一个充电器",
        ),
        ("快递把箱子压烂了,里面的杯子碎了 (→ logistics: 运输损坏)",),
    ),
    "logistics": _cls(
        "logistics",
        "物流配送 (002 §3.5 物流): 发货慢、配送延误、物流不更新、丢件、运输损坏、快递员态度差/不送上门/虚假签收。",
        (
            "下单一个星期了还没发货,到底什么时候发?",
            "物流信息三天没动了,是不是丢件了",
            "快递员没打电话就显示签收了,我根本没收到",
            "箱子被压得稀烂,里面的东西都碎了",
        ),
    ),
    "service": _cls(
        "service",
        "服务态度 (002 §3.5 服务态度): 客服/店员/装维人员态度差、推诿、不回复、答复敷衍、承诺不兑现、反复转接。",
        (
            "你们客服什么态度?问两句就不耐烦了",
            "说好24小时内回电话,到现在没人理我",
            "踢皮球一样转来转去,没有一个人能解决",
            "装维师傅约好上午来,等了一天都没来",
        ),
    ),
    "payment": _cls(
        "payment",
        "支付退款 (002 §3.5 支付/退款): 退款不到账/拖延、重复扣款、乱扣费/多扣话费、支付失败扣了钱、发票/积分/优惠券金额被扣。",
        (
            "退款申请一周了钱还没退回来",
            "付了两次款,扣了我两次钱!",
            "莫名其妙扣了我十块话费,谁给我开的业务?",
            "订单取消了,钱呢?到现在没到账",
        ),
    ),
    "system": _cls(
        "system",
        "系统故障 (002 §7.2 系统故障): 网站/APP/账号/网络/信号出故障: 打不开、闪退、无法下单或支付、登录不了、断网、没信号、网速慢。",
        (
            "APP一直闪退,根本没法下单",
            "付款页面一直转圈,提交不了订单",
            "家里宽带又断了,三天两头断网",
            "手机信号一格都没有,电话都打不出去",
        ),
        ("刚买的手机死机 (→ product: 商品本身的问题)",),
    ),
    "price": _cls(
        "price",
        "价格促销: 买完就降价、价格欺诈/先涨后降、优惠券不能用、满减赠品不兑现、活动规则坑人、套餐资费不合理。",
        (
            "刚买完第二天就降了两百,这不是坑人吗",
            "说好的满300减50,结算时根本没减",
            "赠品说送的到现在也没给,虚假宣传",
        ),
        ("[订单x]降价了帮我申请一下价保 (→ none: 例行价保请求)",),
    ),
    "other": _cls(
        "other",
        "其他: 不属于上面各类的不满,例如骚扰短信/电话、泄露个人信息、售后政策本身、商家资质、对公司的泛泛不满。",
        (
            "天天给我发垃圾短信,半夜也发,烦死了",
            "我的电话号码怎么被泄露了?天天接到推销电话",
            "这样的商家也能入驻?太失望了",
        ),
    ),
}

SEVERITY_DOC: dict[str, str] = {
    "none": "无: 非投诉。",
    "normal": "一般投诉 (001 第四章): 有不满,但没有下面「重大」的任何情形。",
    "serious": (
        "重大投诉 (001 第四章 重大投诉/危机事件): 扬言向公司外部升级 (12315、工商、消协、媒体/曝光、"
        "律师、起诉、报警、工信部), 反映安全隐患或重大损失 (爆炸、起火、漏电、受伤、食物中毒、数千元损失), "
        "指责欺诈 (骗子、欺诈、诈骗), 或多次投诉仍未解决。例如「再不处理我就打12315」「充电器冒烟差点着火」"
        "「你们就是骗子」「投诉三次了还没人管」。"
    ),
}

# Cues for the severity rules. A cue raises a complaint to "serious"; it never turns a
# non-complaint into a complaint ("请问12315电话多少" stays 非投诉 if the model says so).
_SERIOUS_CUES = [
    # escalation outside the company
    r"12315|12345|工商(局|部门)?|市场监管|消协|消费者协会|消保委|工信部|通信管理局|315",
    r"媒体|曝光|记者|电视台|报社|上新闻|头条|微博上?曝|发到网上|网上曝",
    r"律师|起诉|告你们|法院|打官司|法律途径|诉讼|报警|公安|派出所",
    # fraud accusations
    r"骗子|欺诈|诈骗|骗钱|骗人|坑骗|黑店|强盗",
    # safety hazards / large loss
    r"爆炸|炸了|起火|着火|冒烟|烧焦|漏电|触电|电到|受伤|流血|烫伤|食物中毒|中毒|住院|过敏|拉肚子|安全隐患|人身安全",
    r"损失.{0,6}(几千|上万|[0-9,]{4,}|万元)|(几千|上万|[1-9][0-9]{3,})块?元?.{0,4}(损失|没了|打水漂)",
    # repeated complaints unresolved
    r"(投诉|反映|打电话|联系|找)(了)?(过)?(很多|好多|无数|多|几|[二三四五六七八九十两3-9]|N)(次|回|遍|天)",
    r"(第[二三四五六七八九十两3-9]次|又一次|再一次)(投诉|反映|申报|联系|找)",
    r"(一直|始终|到现在|至今|还是)(都)?(没|没有|未)(人)?(解决|处理|回复|给.{0,4}答复)",
    r"投诉.{0,8}(没用|无效|没人管|石沉大海)",
]
_SERIOUS = re.compile("|".join(f"(?:{p})" for p in _SERIOUS_CUES), re.IGNORECASE)
# Negated / hypothetical mentions that should not count ("不是骗子吧?" is a question).
_SERIOUS_NEGATED = re.compile(r"(不是|不会是|是不是|会不会)(骗子|诈骗|欺诈)")


def serious_cues(text: str) -> list[str]:
    """The serious-severity cues found in a normalized text (empty when none)."""
    found = [m.group(0) for m in _SERIOUS.finditer(text)]
    if found and _SERIOUS_NEGATED.search(text):
        neg = {m.group(2) for m in _SERIOUS_NEGATED.finditer(text)}
        found = [f for f in found if f not in neg]
    return found


def category_name_zh(code: str) -> str:
    """Chinese display name of a category code (the code itself when unknown)."""
    return CATEGORY_NAMES_ZH.get(code, code)


def severity_name_zh(code: str) -> str:
    """Chinese display name of a severity code (the code itself when unknown)."""
    return SEVERITY_NAMES_ZH.get(code, code)
