"""The outcome checks (解决与满意): answers vs fillers and deferrals, the customer's reaction, open requests."""
from __future__ import annotations

import pytest

from csqa.checks.engine import CompiledRulebook
from csqa.checks.outcome import ANSWER, DEFERRAL, FILLER, QUESTION, SATISFIED, UNHAPPY, NEUTRAL, repeats_earlier
from csqa.rulebook.loader import load_rulebook
from csqa.text.normalize import normalize_text


@pytest.fixture(scope="module")
def replies():
    return CompiledRulebook(load_rulebook().rulebook).replies


@pytest.mark.parametrize("text, kind", [
    ("您好，请问有什么可以帮您?", FILLER),  # the opening formula asks nothing of substance
    ("亲，请稍等，正在为您查询~", FILLER),
    ("好的呢亲", FILLER),
    ("非常抱歉给您带来不便", FILLER),
    ("请问还有其他还可以帮到您的吗?", FILLER),
    ("您好，请您私信提供订单号和联系电话，谢谢！", DEFERRAL),
    ("您好,请您详细描述一下您的问题以及具体操作步骤.", DEFERRAL),
    ("请问您使用的是什么版本的呢?", QUESTION),
    ("您可以在设置-应用程序管理-应用商店中清除数据", ANSWER),
    ("已经帮您登记了，财务会在2个工作日内原路退回", ANSWER),  # a dated commitment
    ("这边为您反馈，预计[数字x]小时内专员联系您", ANSWER),
    ("您的订单在京东[站点x]分拣完成", ANSWER),
    ("很抱歉,目前没有相关的信息.", ANSWER),
])
def test_reply_kind(replies, text, kind):
    assert replies.reply_kind(normalize_text(text))[0] == kind


@pytest.mark.parametrize("text, reaction", [
    ("好的,多谢!", SATISFIED),
    ("已经可以了.感谢", SATISFIED),
    ("嗯嗯 好了", SATISFIED),
    ("试过了，还是不行", UNHAPPY),
    ("快递不管送，算了，认倒霉吧", UNHAPPY),
    ("这样糊弄用户有意思么? 本来计划好的事情被你们搞的一团糟", NEUTRAL),  # 好的 inside 计划好的 is no acceptance
    ("用了自己的流量也不行", NEUTRAL),  # 行 inside 不行 is no acceptance
    ("V3.5", NEUTRAL),
])
def test_reaction(replies, text, reaction):
    assert replies.reaction(normalize_text(text))[0] == reaction


def test_repeating_the_question_counts_as_not_answered():
    assert repeats_earlier("是自营的东西才管送货上门吗?", ["你好", "是自营的东西才管送货上门吗"])
    assert not repeats_earlier("好的", ["好的"])  # too short to be a question repeated
    assert not repeats_earlier("那退货运费谁出", ["是自营的东西才管送货上门吗"])


def test_outcome_findings_on_whole_conversations(replies):
    import pandas as pd

    from csqa.text.conversations import build_conversations
    from csqa.scoring import score_conversation
    from csqa.text.segment import Segmenter

    book = CompiledRulebook(load_rulebook().rulebook)

    def run(turns):
        rows = [{"conversation_id": "c", "timestamp": pd.NaT, "role": r, "agent_id": "a" if r == "agent" else "",
                 "text": t, "source": "t", "source_row": i + 1, "seq": i} for i, (r, t) in enumerate(turns)]
        df = pd.DataFrame(rows)
        df["timestamp"] = pd.to_datetime(df["timestamp"])
        conv = next(build_conversations(df, Segmenter()))
        return {f.rule_id: f for f in score_conversation(conv, book).findings}

    canned = run([("customer", "宽带断了三天了怎么回事"), ("agent", "您好，请私信提供宽带账号，我们会尽快为您处理"),
                  ("customer", "你们就会让人私信，还是没人管")])
    assert "OUT-001" in canned and canned["OUT-002"].message_index == 2
    solved = run([("customer", "应用商店一直显示正在等待"), ("agent", "您可以在设置-应用程序管理-应用商店中清除数据再重启"),
                  ("customer", "好了，谢谢")])
    assert not {"OUT-001", "OUT-002", "OUT-003", "OUT-004"} & set(solved)
    unconfirmed = run([("customer", "应用商店一直显示正在等待"), ("agent", "您可以在设置-应用程序管理-应用商店中清除数据再重启")])
    assert "OUT-004" in unconfirmed and "OUT-001" not in unconfirmed
    left_open = run([("customer", "发票怎么开"), ("agent", "在订单详情里申请开票就可以"), ("customer", "那电子发票发到哪里?")])
    assert left_open["OUT-003"].message_index == 2
    # the agent answered the last question: nothing is left open
    closed = run([("customer", "发票怎么开"), ("agent", "在订单详情里申请开票就可以"), ("customer", "电子发票发到哪里?"),
                  ("agent", "电子发票会发到您下单时填写的邮箱")])
    assert "OUT-003" not in closed
