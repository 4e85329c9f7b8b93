"""Tests for csqa.checks.pii (personal-data recognizers and masking)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from csqa.checks.pii import (
    PiiMatch,
    find_pii,
    id_card_checksum_ok,
    load_recognizers,
    luhn_ok,
    mask_pii,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAT_A = REPO_ROOT / ".." / "shared" / "data" / "jddc2019" / "chat_a.tsv"


# ---------------------------------------------------------------- helpers

def make_id(first17: str) -> str:
    """Append the GB 11643 check character (computed independently here)."""
    assert len(first17) == 17 and first17.isdigit()
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # 7 9 10 5 8 4 2 1 6 3 ...
    total = sum(int(d) * w for d, w in zip(first17, weights))
    check = (12 - total % 11) % 11
    return first17 + ("X" if check == 10 else str(check))


def wrong_check(id18: str) -> str:
    c = id18[-1]
    return id18[:-1] + ("1" if c != "1" else "2")


def make_luhn(prefix: str) -> str:
    """Append a Luhn check digit to prefix."""
    for d in "0123456789":
        cand = prefix + d
        total = 0
        for i, ch in enumerate(reversed(cand)):
            v = int(ch)
            if i % 2 == 1:
                v = v * 2 - 9 if v * 2 > 9 else v * 2
            total += v
        if total % 10 == 0:
            return cand
    raise AssertionError("unreachable")


def break_luhn(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def group4(number: str) -> str:
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))


def kinds(text: str, **kw) -> list[tuple[str, str]]:
    return [(m.kind, m.text) for m in find_pii(text, **kw)]


ID_1990 = make_id("11010519900307123")   # Beijing, born 1990-03-07
ID_X = next(i for i in (make_id(f"44030519880815{n:03d}") for n in range(1000)) if i.endswith("X"))
CARD16 = make_luhn("622202123456789")      # 16 digits, UnionPay-like
CARD19 = make_luhn("621700123456789012")   # 19 digits


def test_helpers_agree_with_module_validators():
    assert id_card_checksum_ok(ID_1990) and id_card_checksum_ok(ID_X)
    assert ID_X.endswith("X")
    assert not id_card_checksum_ok(wrong_check(ID_1990))
    assert luhn_ok(CARD16) and luhn_ok(CARD19)
    assert not luhn_ok(break_luhn(CARD16))
    assert luhn_ok("4111111111111111")  # classic Visa test number


# ---------------------------------------------------------------- registry

def test_registry_loads_and_is_cached():
    recs = load_recognizers()
    assert recs is load_recognizers()
    ids = {r.id for r in recs}
    assert {"mobile", "landline", "id_card", "bank_card", "email", "address"} <= ids
    for r in recs:
        assert r.name and (r.patterns or r.mask_patterns)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.name)


def test_custom_registry_and_bad_validator(tmp_path):
    good = tmp_path / "r.yaml"
    good.write_text(
        "recognizers:\n"
        "  - id: ticket\n"
        "    name: 工单号\n"
        "    patterns:\n"
        "      - {name: t, regex: 'TK\\d{6}', score: 0.6}\n"
        "    context: [工单]\n"
        "    reason: 测试\n",
        encoding="utf-8",
    )
    recs = load_recognizers(good)
    found = find_pii("编号 TK123456", recognizers=recs)
    assert [(m.kind, m.text, m.name) for m in found] == [("ticket", "TK123456", "工单号")]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "recognizers:\n"
        "  - id: x\n"
        "    name: 某\n"
        "    validator: nope\n"
        "    patterns: [{name: p, regex: 'a', score: 0.9}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError):
        load_recognizers(bad)


# ---------------------------------------------------------------- mobile

@pytest.mark.parametrize("text,value", [
    ("我的手机13812345678，尽快联系", "13812345678"),
    ("电话：+86 138-1234-5678", "+86 138-1234-5678"),
    ("电话 86 13912345678", "86 13912345678"),
    ("138-1234-5678", "138-1234-5678"),
    ("138 1234 5678", "138 1234 5678"),
    ("号码是１３８１２３４５６７８吗", "１３８１２３４５６７８"),  # full-width digits
    ("19912345678", "19912345678"),
])
def test_mobile_found(text, value):
    assert kinds(text) == [("mobile", value)]


@pytest.mark.parametrize("text", [
    "订单号 20261102123456789012",        # longer digit run
    "订单号 13812345678",                 # order context lowers the score
    "运单号：13912345678",
    "SF1234567890123",                    # courier waybill
    "JD0012345678901",
    "12812345678",                        # 12x is not a mobile prefix
    "1381234567",                         # 10 digits
    "138123456789",                       # 12 digits
    "138****5678",
    "138xxxx5678",
    "请拨打[电话x]或[数字x]",
    "手机尾号5678",
])
def test_mobile_not_found(text):
    assert find_pii(text, kinds={"mobile"}) == []


# ---------------------------------------------------------------- landline

@pytest.mark.parametrize("text,value", [
    ("座机010-12345678", "010-12345678"),
    ("门店电话0755-1234567", "0755-1234567"),
    ("(021)12345678", "(021)12345678"),
    ("（021）12345678", "（021）12345678"),
    ("电话01012345678", "01012345678"),   # compact form needs context
])
def test_landline_found(text, value):
    assert kinds(text) == [("landline", value)]


@pytest.mark.parametrize("text", ["价格01012345678", "2026-12345678", "010-[数字x]"])
def test_landline_not_found(text):
    assert find_pii(text, kinds={"landline"}) == []


# ---------------------------------------------------------------- ID card

def test_id_card_valid_checksum_fires():
    assert kinds(f"身份证号{ID_1990}") == [("id_card", ID_1990)]
    assert kinds(f"证件 {ID_X} 已登记") == [("id_card", ID_X)]
    assert kinds(ID_X.lower()) == [("id_card", ID_X.lower())]
    # without context a valid checksum is still enough
    assert kinds(ID_1990) == [("id_card", ID_1990)]


def test_id_card_invalid_checksum_or_date_does_not_fire():
    assert find_pii(f"身份证号{wrong_check(ID_1990)}", kinds={"id_card"}) == []
    bad_date = make_id("11010519900230123")  # 30 Feb, checksum correct
    assert find_pii(f"身份证{bad_date}", kinds={"id_card"}) == []
    future = make_id("11010520990101123")
    assert find_pii(f"身份证{future}", kinds={"id_card"}) == []
    bad_region = make_id("99010519900307123")
    assert find_pii(f"身份证{bad_region}", kinds={"id_card"}) == []
    # part of a longer digit run
    assert find_pii("9" + ID_1990, kinds={"id_card"}) == []


def test_id15_only_with_context():
    old = "110105900307123"  # 1990-03-07
    assert kinds(f"身份证号：{old}") == [("id_card", old)]
    assert find_pii(old, kinds={"id_card"}) == []
    assert find_pii(f"身份证号：110105901307123", kinds={"id_card"}) == []  # month 13


def test_masked_id_does_not_fire():
    assert find_pii("身份证号110***********1234") == []
    assert find_pii("身份证号[身份证号x]") == []


# ---------------------------------------------------------------- bank card

def test_bank_card_grouped_luhn_fires_without_context():
    assert kinds(group4(CARD16)) == [("bank_card", group4(CARD16))]
    g19 = "-".join([CARD19[0:4], CARD19[4:8], CARD19[8:12], CARD19[12:16], CARD19[16:]])
    assert kinds(f"退到 {g19}") == [("bank_card", g19)]


def test_bank_card_plain_needs_context():
    assert find_pii(CARD16, kinds={"bank_card"}) == []
    assert kinds(f"银行卡号{CARD16}") == [("bank_card", CARD16)]
    assert kinds(f"退款到卡：{CARD19}") == [("bank_card", CARD19)]


def test_bank_card_requires_luhn():
    bad = break_luhn(CARD16)
    assert find_pii(f"银行卡号{bad}", kinds={"bank_card"}) == []
    assert find_pii(group4(bad), kinds={"bank_card"}) == []


def test_order_numbers_are_not_cards_or_phones():
    luhn_order = make_luhn("202611021234567")  # 16 digits, passes Luhn
    assert find_pii(f"订单号 {luhn_order}") == []
    assert find_pii(f"您的订单号{luhn_order}已发货") == []
    assert find_pii("订单号 2026110212345678") == []
    assert find_pii("快递单号SF1234567890123，京东单号JD0012345678901") == []
    # order context is the nearest cue: a phone after it is still found
    assert kinds("订单号2026110212345678，手机13812345678") == [("mobile", "13812345678")]


def test_masked_card_does_not_fire():
    assert find_pii("卡号****1234") == []
    assert find_pii("卡号6222********1234") == []


# ---------------------------------------------------------------- email

@pytest.mark.parametrize("text,value", [
    ("邮箱 abc.def@qq.com 谢谢", "abc.def@qq.com"),
    ("发到zhang_san+jd@mail.example.com.cn", "zhang_san+jd@mail.example.com.cn"),
    ("Email:Test01@163.com", "Test01@163.com"),
])
def test_email_found(text, value):
    assert kinds(text) == [("email", value)]


@pytest.mark.parametrize("text", ["a@***.com", "a***@qq.com", "[邮箱x]", "发送@京东客服", "abc@localhost"])
def test_email_not_found(text):
    assert find_pii(text, kinds={"email"}) == []


# ---------------------------------------------------------------- address

@pytest.mark.parametrize("text,value", [
    ("收货地址：北京市朝阳区建国路88号3栋2单元501室，谢谢", "北京市朝阳区建国路88号3栋2单元501室"),
    ("寄到浙江省杭州市西湖区文三路 123号", "浙江省杭州市西湖区文三路 123号"),
    ("地址是四川省成都市武侯区人民南路四段12号", "四川省成都市武侯区人民南路四段12号"),
    ("上海市黄浦区平安路123弄4号501室", "上海市黄浦区平安路123弄4号501室"),
    ("我家住在建国路88号", "建国路88号"),  # road only: needs context
    ("阳光小区3栋2单元501室", "阳光小区3栋2单元501室"),
])
def test_address_found(text, value):
    assert kinds(text, kinds={"address"}) == [("address", value)]


@pytest.mark.parametrize("text", [
    "地址已修改",
    "请提供收货地址",
    "请您核对一下收货地址和电话",
    "建国路88号",                      # no context, no admin unit
    "收货地址：[地址x]",
    "[杭州[地址x]3栋",
    "北京市朝阳区",                    # no street number
    "订单已送达朝阳区站点",
])
def test_address_not_found(text):
    assert find_pii(text, kinds={"address"}) == []


# ---------------------------------------------------------------- QQ / WeChat ids

def test_qq_and_wechat_ids():
    assert kinds("加我QQ号：12345678") == [("qq", "12345678")]
    assert kinds("vx:abc123") == [("wechat", "abc123")]
    assert kinds("微信号是 Zhang_San88") == [("wechat", "Zhang_San88")]
    assert find_pii("微信支付") == []
    assert find_pii("QQ[数字x]") == []


# ---------------------------------------------------------------- API behaviour

def test_results_sorted_filtered_and_explained():
    text = f"收货人电话13812345678，邮箱abc@qq.com，身份证{ID_1990}"
    found = find_pii(text)
    assert [m.kind for m in found] == ["mobile", "email", "id_card"]
    assert [m.start for m in found] == sorted(m.start for m in found)
    for m in found:
        assert isinstance(m, PiiMatch)
        assert text[m.start:m.end] == m.text
        assert 0.5 <= m.score <= 1.0
        assert m.name in m.explanation
        assert m.text not in m.explanation        # explanation never leaks the raw value
    assert [m.kind for m in find_pii(text, kinds={"email"})] == ["email"]
    assert find_pii(text, kinds=set()) == []
    assert find_pii("") == []
    with pytest.raises(Exception):
        found[0].score = 0  # frozen


def test_context_raises_score_and_min_score_filters():
    plain = find_pii("13812345678")[0].score
    ctx = find_pii("手机13812345678")[0].score
    assert ctx > plain
    assert find_pii("13812345678", min_score=0.9) == []
    # order context: below the default threshold, visible with a low threshold
    low = find_pii("订单号 13812345678", min_score=0.0)
    assert low and low[0].score < 0.5


def test_overlap_prefers_higher_score():
    # an 18-digit ID that also passes Luhn: the ID wins without card context
    luhn_id = next(i for i in (make_id(f"3201021985061{n:04d}"[:17]) for n in range(2000)) if luhn_ok(i))
    assert [m.kind for m in find_pii(luhn_id)] == ["id_card"]
    assert [m.kind for m in find_pii(f"身份证{luhn_id}")] == ["id_card"]


def test_long_text_without_addresses_is_handled():
    # many admin-unit characters but no house number: must not blow up or fire
    assert find_pii("市区" * 3000 + "建国路") == []
    text = "说明" * 2000 + "收货地址：北京市朝阳区建国路88号3栋" + "谢谢" * 2000
    assert kinds(text, kinds={"address"}) == [("address", "北京市朝阳区建国路88号3栋")]


# ---------------------------------------------------------------- masking

def test_mask_pii_shapes():
    assert mask_pii("手机13812345678") == "手机138****5678"
    assert mask_pii("电话 +86 138-1234-5678") == "电话 +86 138****5678"
    assert mask_pii(f"身份证{ID_1990}") == f"身份证110***********{ID_1990[-4:]}"
    assert mask_pii(f"身份证{ID_X}") == f"身份证{ID_X[:3]}***********{ID_X[-4:]}"
    assert mask_pii(f"卡号{CARD16}") == f"卡号****{CARD16[-4:]}"
    assert mask_pii(group4(CARD16)) == f"****{CARD16[-4:]}"
    assert mask_pii("邮箱 abc.def@qq.com") == "邮箱 a***@qq.com"
    assert mask_pii("座机010-12345678") == "座机010-****5678"
    assert mask_pii("收货地址：北京市朝阳区建国路88号3栋2单元501室，谢谢") == "收货地址：北京市朝阳区****，谢谢"
    assert mask_pii("寄到浙江省杭州市西湖区文三路 123号") == "寄到浙江省杭州市西湖区****"
    assert mask_pii("没有个人信息的句子") == "没有个人信息的句子"


def test_mask_pii_kinds_and_idempotence():
    text = f"手机13812345678 邮箱abc@qq.com 卡号{CARD16} 地址北京市朝阳区建国路88号"
    once = mask_pii(text)
    assert "13812345678" not in once and "abc@qq.com" not in once and CARD16 not in once
    assert "建国路" not in once
    assert mask_pii(once) == once
    assert find_pii(once) == []
    only_mobile = mask_pii(text, kinds={"mobile"})
    assert "138****5678" in only_mobile and "abc@qq.com" in only_mobile


# ---------------------------------------------------------------- real data

def _agent_texts() -> list[tuple[str, str]]:
    if not CHAT_A.is_file():
        pytest.skip("real data not available (../shared/data/jddc2019/chat_a.tsv)")
    out = []
    with open(CHAT_A, encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 7 and cols[2] == "1":
                out.append((cols[0], cols[6]))
    assert len(out) > 1000
    return out


def test_real_agent_messages_have_almost_no_pii():
    """chat_a is already masked ([数字x] …): anything found is a false positive."""
    agent = _agent_texts()
    hits = [(sid, m) for sid, text in agent for m in find_pii(text)]
    flagged = {sid_text for sid_text in ((sid, m.start) for sid, m in hits)}
    rate = len(flagged) / len(agent)
    print(f"\nchat_a agent messages: {len(agent)}, PII hits: {len(hits)}, rate {rate:.4%}")
    for sid, m in sorted(hits, key=lambda h: -h[1].score)[:5]:
        print(f"  session {sid} kind={m.kind} score={m.score} masked={mask_pii(m.text)}")
    assert rate < 0.005


def test_synthetic_values_inside_real_messages_are_found_exactly():
    """Precision/recall in realistic context: insert a known value into real
    agent messages and require exactly that value to be reported."""
    agent = _agent_texts()
    rng = random.Random(20261102)
    sample = rng.sample(agent, 300)
    values = [
        ("mobile", "13812345678", "联系电话"),
        ("id_card", ID_1990, "身份证号"),
        ("bank_card", CARD16, "银行卡号"),
        ("email", "service.test@example.com", "邮箱"),
        ("address", "北京市朝阳区建国路88号3栋2单元501室", "收货地址"),
    ]
    misses = []
    for i, (sid, text) in enumerate(sample):
        kind, value, cue = values[i % len(values)]
        injected = f"{text}，{cue}：{value}，"
        start = len(text) + 1 + len(cue) + 1
        got = [(m.kind, m.start, m.end) for m in find_pii(injected)]
        if got != [(kind, start, start + len(value))]:
            misses.append((sid, kind, got))
    print(f"\ninjected 300 values into real agent messages, mismatches: {len(misses)}")
    assert not misses, misses[:5]


def test_wechat_id_without_digits_is_still_found_and_masked():
    """The cheap pre-check before the recognizers must not skip an all-letter WeChat id."""
    from csqa.checks.pii import find_pii, mask_pii

    text = "加我微信号是abcdefgh"
    assert [m.kind for m in find_pii(text)] == ["wechat"]
    assert "abcdefgh" not in mask_pii(text)
