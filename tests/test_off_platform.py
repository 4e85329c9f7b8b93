"""Tests for csqa.checks.matchers.off_platform (agent steering the customer off-platform)."""

from __future__ import annotations

from pathlib import Path

import pytest

from csqa.checks.matchers.off_platform import OffPlatformMatch, find_off_platform

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAT_A = REPO_ROOT / ".." / "shared" / "data" / "jddc2019" / "chat_a.tsv"


def kinds(text: str) -> list[str]:
    return [m.kind for m in find_off_platform(text)]


@pytest.mark.parametrize("text", [
    "加我微信聊",
    "有问题可以加个微信",
    "亲，加v详细说",
    "加V abc123",
    "vx:abc123",
    "微信号是abc_12345",
    "我的微信号是abc_12345",
    "加QQ 123456",
    "添加一下QQ1926911971 我帮您看一下",
    "私聊我",
    "扫码加好友",
    "扫一下我的二维码加我",
    "加微 abc123",
    "要不要加个微信",
    "我的手机号是13812345678，直接打给我",
    "联系方式QQ[数字x]",
    "加我们的微信群，群里有优惠",
    "拉您进群",
    "加我钉钉详聊",
    "没有问题的话加我微信",
])
def test_contact_cues(text):
    assert "contact" in kinds(text), text


@pytest.mark.parametrize("text", [
    "微信转账给我就行",
    "支付宝转给我",
    "我们私下交易吧",
    "线下付款更便宜",
    "不走平台可以便宜点",
    "绕过平台直接联系",
    "直接转给我",
    "钱打到我的支付宝",
    "扫我的收款码",
])
def test_transfer_cues(text):
    assert "transfer" in kinds(text), text


@pytest.mark.parametrize("text", [
    "给个红包呗",
    "打赏一下",
    "给点小费",
    "求个红包",
    "发我个红包吧",
])
def test_tip_cues(text):
    assert kinds(text) == ["tip"], text


@pytest.mark.parametrize("text", [
    # warnings and negations
    "请不要加陌生人微信",
    "不要私下转账，以免被骗",
    "我们不会让您加微信",
    "切勿添加陌生人QQ",
    "请勿私下交易",
    "严禁线下付款",
    "私下交易有风险",
    "加微信转账容易被骗",
    "陌生人让您加微信千万别信",
    "客服不会向您索要红包",
    # legitimate on-platform mentions
    "平台不支持微信支付",
    "您可以用微信支付付款",
    "关注我们的微信公众号",
    "建议您关注下我们客服的微信公众号",
    "添加微信小程序下单",
    "退款会原路退回微信零钱",
    "微信[数字x]-[数字x]个工作日到账",
    "您点击表情栏旁边的“+”打赏我一个评价哦",
    "给小妹打赏个评价噢",
    "点击付款按钮，选择线下付款",
    "您下单选公司转账就可以",
    "给您发个红包补偿",
    "需要自付一点小费用",
    "可以自行线下维修哦",
    "您可以参加微信活动",
    "加VIP会员",
    "转给我们的售后同事处理",
    "号码呼转到我手机",
    "他刚才打给我电话",
    "增加微量元素",
    "群发消息已送达",
    "企业QQ：800012345",
    "扫码关注官方公众号",
    "没加过您的微信",
    "请您加入购物车",
    "",
])
def test_no_false_alarm(text):
    assert find_off_platform(text) == [], text


def test_match_fields_and_masked_explanation():
    text = "亲，加我vx:abc123，我们私下交易，再给个红包"
    found = find_off_platform(text)
    assert [m.kind for m in found] == ["contact", "transfer", "tip"]
    assert [m.start for m in found] == sorted(m.start for m in found)
    contact = found[0]
    assert isinstance(contact, OffPlatformMatch)
    assert text[contact.start:contact.end] == contact.text == "加我vx:abc123"
    assert contact.score > 0.9        # two cues agree (加我vx + account id)
    assert contact.name == "站外联系方式"
    assert "abc123" not in contact.explanation and "ab****" in contact.explanation
    assert all(0.5 <= m.score <= 1.0 for m in found)
    assert "私下交易" in found[1].explanation
    assert find_off_platform(text, min_score=0.99) == [m for m in found if m.score >= 0.99]


def test_negation_is_clause_local():
    # the negation belongs to another clause: the cue still fires
    assert kinds("不要着急，加我微信") == ["contact"]
    # negation right before the cue in the same clause suppresses it
    assert kinds("不要着急，不要加我微信") == []


def test_fullwidth_input():
    assert kinds("ＶＸ：ａｂｃ１２３") == ["contact"]


def test_real_agent_messages_rarely_flagged():
    if not CHAT_A.is_file():
        pytest.skip("real data not available (../shared/data/jddc2019/chat_a.tsv)")
    agent = []
    with open(CHAT_A, encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 7 and cols[2] == "1":
                agent.append((cols[0], cols[6]))
    assert len(agent) > 1000
    flagged = [(sid, m) for sid, text in agent for m in find_off_platform(text)]
    rate = len({sid for sid, _ in flagged}) / len(agent)
    print(f"\nchat_a agent messages: {len(agent)}, off-platform hits: {len(flagged)}, rate {rate:.4%}")
    for sid, m in flagged[:10]:
        print(f"  session {sid} kind={m.kind} score={m.score}")
    # real JD agents do not steer off-platform; their 打赏/线下付款/公众号 wording must not fire
    assert rate < 0.005
