"""The default checks mean what the reviewers' guideline (../shared/guidelines/rules.md) says.

- greeting: the agent's first reply only; a term of address (亲, 亲亲, 亲爱的, 尊敬的) on its own
  counts, glued to a sentence-final particle (在哪里呢亲) it does not;
- identity: the first two replies; a name, 工号, team or platform, not the self-address 小妹 / 妹子;
- offers_help: the first reply; farewell: the last two replies;
- confirmation: closed questions or restatements of the request, not requests for information,
  questions about what the customer did, consent questions or 还有其他问题吗;
- process_told: applies when something is left pending, also when the customer asks for it
  (the trigger's `also` cues), and counts a next step or time told anywhere in the chat;
- bare_refusal: refusals with 亲 / a subject / 无法 / a leading 抱歉; only the next reply to the
  same request, with a real reason or alternative, excuses one;
- slang: 妹纸 / 小妹 are self-address, not slang;
- rude / argue / over_promise / buck_passing: exemplar similarity, negation- and quote-aware.
"""
from __future__ import annotations

import math
import random
import re
from collections import Counter

import pytest

from csqa.checks.matchers.confirmation import find_confirmation
from csqa.checks.matchers.exemplars import TemplateMatcher, _clean, negated
from csqa.rulebook.loader import parse_rulebook


@pytest.fixture(scope="module")
def evaluate(compile_book, make_conv):
    """evaluate(rulebook, turns, code) → the hits of that rule on the conversation."""
    compiled = []

    def _evaluate(book, turns, code):
        cb = next((c for b, c in compiled if b is book), None)
        if cb is None:
            cb = compile_book(book)
            compiled.append((book, cb))
        ev = cb.evaluate(make_conv(turns))
        return [h for h in ev.hits if h.rule.code == code], [r.code for r in ev.not_applicable]

    return _evaluate


def _fires(evaluate, book, turns, code) -> bool:
    hits, not_applicable = evaluate(book, turns, code)
    assert code not in not_applicable, (code, turns)
    return bool(hits)


# ---------------------------------------------------------------------------- opening
@pytest.mark.parametrize(
    "first, greeted",
    [
        ("亲，请问您前台可以自己解绑吗", True),
        ("亲亲您的商品已经发货了是不能修改的呢", True),
        ("已经在配送退货了呢 亲亲", True),
        ("尊敬的商家朋友，请问有什么可以帮到您呢?", True),
        ("请问有什么可以为您效劳的呢?  您好", True),
        ("有什么问题呢亲爱的", False),
        ("您正确的地址在哪里呢亲?", False),
        ("有什么问题我可以帮您处理或解决呢?", False),
    ],
)
def test_greeting_is_a_greeting_or_a_term_of_address_in_the_first_reply(evaluate, default_book, first, greeted):
    turns = [{"customer": "在吗"}, {"agent": first}, {"customer": "好"}, {"agent": "好的"}]
    assert _fires(evaluate, default_book, turns, "OPEN-001") is not greeted


def test_greeting_in_the_second_reply_is_too_late(evaluate, default_book):
    turns = [{"customer": "在吗"}, {"agent": "还请您稍等，正在为您查询~"}, {"customer": "好"}, {"agent": "您好，已经发货了"}]
    assert _fires(evaluate, default_book, turns, "OPEN-001")


@pytest.mark.parametrize(
    "reply, named",
    [
        ("您好，京东客服[数字x]号很高兴为您服务!", True),
        ("您好，[数字x]客服[姓名x][姓名x]为您服务，请问有什么可以帮您呢", True),
        ("您好，拍拍客服很高兴为您服务!", True),
        ("您好~ 这里是京东全球购客服小弟，请问您是否是询问订单[订单x]", True),
        ("尊敬的商家，您好!欢迎咨询京东物流商家在线客服~", True),
        ("请亲爱的您，提供下订单号，糖果这边帮您查询一下。", True),
        ("您好这边是您的专属客服小敏。", True),
        ("亲爱的客户，还麻烦您提供下订单号，妹子这边给您查询哦~", False),
        ("有什么问题客服妹子可以帮您处理或解决呢?", False),
        ("亲亲，需要这边帮您提交审核检测吗?", False),
        ("您好，很高兴为您服务", False),
    ],
)
def test_identity_is_a_name_number_team_or_platform(evaluate, default_book, reply, named):
    turns = [{"customer": "在吗"}, {"agent": "您好"}, {"customer": "查下订单"}, {"agent": reply}]
    assert _fires(evaluate, default_book, turns, "OPEN-002") is not named


def test_identity_counts_in_the_first_two_replies_only(evaluate, default_book):
    late = [{"customer": "在吗"}, {"agent": "您好"}, {"customer": "嗯"}, {"agent": "稍等"}, {"customer": "好"},
            {"agent": "我是客服小美"}]
    assert _fires(evaluate, default_book, late, "OPEN-002")


@pytest.mark.parametrize(
    "first, offered",
    [
        ("遇到什么问题了吗", True),
        ("您好，妹子在的哦，您看这边需要处理什么问题呢", True),
        ("您好，请问有什么可以帮助您的", True),
        ("好的恩  请问还有其他还可以帮到您的吗?", True),
        ("您好", False),
    ],
)
def test_offers_help_in_the_first_reply(evaluate, default_book, first, offered):
    turns = [{"customer": "在吗"}, {"agent": first}, {"customer": "嗯"}, {"agent": "请问有什么可以帮您?"}]
    assert _fires(evaluate, default_book, turns, "OPEN-003") is not offered


# ---------------------------------------------------------------------------- confirmation
@pytest.mark.parametrize(
    "text",
    [
        "请问是这个商品吗 [数字x] 富光 泡茶师系列玻璃杯",  # a space ends the sentence
        "[订单x] 这个订单问题你 吗",
        "您好，是这个订单号吗[订单x]",
        "发送至您的邮箱 :[邮箱x] 是不",
        "分期买的吗?",
        "您确定不需要了吗?",
        "您是集中开票吗",
        "需要改上门取件吗?",
        "下单人?",
        "请问是否正确",
        "抬头:[组织机构x]  税号:[数字x]XG 您核对下 呢",
        "店铺拼购活动咨询么",
    ],
)
def test_closed_questions_about_the_request_are_confirmations(text):
    assert find_confirmation(text)


@pytest.mark.parametrize(
    "text",
    [
        "请问您前台可以自己解绑吗",  # what the customer can do
        "我们可以帮您升级解决问题，请问您同意吗",  # consent
        "您看可以修改吗",
        "您开通[数字x]G网络 来电显示和短信提醒了吗 亲亲",  # what the customer did
        "您有联系售后那面为您上门看下的吗?",
        "您方便简单描述下您的问题吗?",  # asking for information
        "简单跟您核对几项信息，保证您的账户安全",
        "很高兴为您服务?",
        "亲亲?",
        "请问还有其他问题吗",
    ],
)
def test_requests_and_other_questions_are_not_confirmations(text):
    assert find_confirmation(text) == []


# ---------------------------------------------------------------------------- closing
@pytest.mark.parametrize(
    "last, farewell",
    [
        ("好哒~您之后有什么问题可以再联系我们的哦~", True),
        ("再次感谢您一直以来对咱们的信任~", True),
        ("那小妹就不打扰您了哦。有问题随时联系妹子处理", True),
        ("您的订单正在配送途中，感谢您的耐心等待。", False),
        ("还请您点击下面，为我的的服务做个评价哦，非常感谢哦", False),
    ],
)
def test_farewell_in_the_last_two_replies(evaluate, default_book, last, farewell):
    turns = [{"customer": "好的"}, {"agent": "好的"}, {"agent": last}]
    assert _fires(evaluate, default_book, turns, "CLOSE-002") is not farewell


def test_farewell_three_replies_before_the_end_is_too_early(evaluate, default_book):
    turns = [{"customer": "谢谢"}, {"agent": "感谢您的咨询，祝您生活愉快"}, {"agent": "嗯"}, {"agent": "好的"}]
    assert _fires(evaluate, default_book, turns, "CLOSE-002")


# ---------------------------------------------------------------------------- process_told
def test_process_told_applies_when_the_customer_asks_for_a_follow_up(evaluate, default_book):
    # no agent pending phrase: the customer's 催一下 sets the pending trigger off
    bare = [{"customer": "到货三天了没有人联系配送 帮忙我催一下"}, {"agent": "好的，可以 还请提供您电话哦"},
            {"customer": "[数字x]"}, {"agent": "请问还有其他问题要咨询吗"}]
    assert _fires(evaluate, default_book, bare, "HAND-006")
    told = bare[:3] + [{"agent": "已经帮您催促站点，预计今天下午送达"}]
    assert not _fires(evaluate, default_book, told, "HAND-006")


def test_process_told_anywhere_in_the_chat_counts(evaluate, default_book):
    # told before the pending phrase (帮您催促), and the customer's own next step
    earlier = [{"customer": "发票什么时候补开"}, {"agent": "您的这个还在处理当中呢 要发票作废之后 才能重新给您开具呢"},
               {"customer": "可以帮我催下吗"}, {"agent": "好的呢 这边在帮您催促下呢"}, {"customer": "谢谢"}, {"agent": "不客气"}]
    assert not _fires(evaluate, default_book, earlier, "HAND-006")
    own_step = [{"customer": "订单记录删不了"}, {"agent": "我帮您申请取消了 您找卖家审核下"}]
    assert not _fires(evaluate, default_book, own_step, "HAND-006")
    noted_only = [{"customer": "请联系这个电话吧"}, {"agent": "好的，这边帮您备注下来"}, {"customer": "还要预约吗"},
                  {"agent": "已经为您备注了，请您耐心等待的呢"}]
    assert _fires(evaluate, default_book, noted_only, "HAND-006")


ALSO_BOOK = """
id: also
name: also
dimensions: [{id: a, name: A, weight: 100}]
triggers:
  pending:
    role: agent
    match: {phrases: [帮您登记]}
    also:
      - role: customer
        match: {regex: ['催']}
rules:
  - {code: RP-001, name: 待处理, check: process_told, dimension: a, severity: minor, points: 5, clause: x,
     scope: {after: pending}, require: {regex: ['\\d+天']}}
"""


def test_trigger_also_cues_set_it_off_at_the_first_match_of_any(compile_book, make_conv):
    book = compile_book(parse_rulebook(ALSO_BOOK))
    conv = make_conv([{"customer": "你好"}, {"agent": "您好"}, {"customer": "帮我催一下"}, {"agent": "帮您登记了"},
                      {"agent": "3天内到"}])
    view = book.view(conv)
    assert book.trigger_index("pending", view) == 2  # the customer's 催, before the agent's 帮您登记
    assert not book.evaluate(conv).hits  # the window starts there and holds 3天
    conv = make_conv([{"customer": "你好"}, {"agent": "好的"}])
    assert book.trigger_index("pending", book.view(conv)) is None
    assert [r.code for r in book.evaluate(conv).not_applicable] == ["RP-001"]


# ---------------------------------------------------------------------------- bare refusal
@pytest.mark.parametrize("reply", ["不可以的，亲", "抱歉亲 这个真不行", "这个这边也是无法删除的恩", "就是不能", "不支持的哦"])
def test_real_refusals_are_found(evaluate, default_book, reply):
    turns = [{"customer": "能单独寄吗"}, {"agent": reply}, {"customer": "好"}, {"agent": "请问还有其他还可以帮到您的吗?"}]
    assert _fires(evaluate, default_book, turns, "HAND-001")


@pytest.mark.parametrize("reply", ["现在还不能", "亲亲 不能使用电信卡的", "不能的 这边是看不到呢", "订单提交后不能修改订单了呢"])
def test_informative_noes_are_not_bare_refusals(evaluate, default_book, reply):
    turns = [{"customer": "能看到吗"}, {"agent": reply}]
    assert not _fires(evaluate, default_book, turns, "HAND-001")


def test_only_the_next_reply_to_the_same_request_excuses_a_refusal(evaluate, default_book):
    reason_next = [{"customer": "一起拍能开两张发票吗"}, {"agent": "不支持的哦"}, {"customer": "那怎么办"},
                   {"agent": "一般一个订单开一张发票，您可以分开下单"}]
    assert not _fires(evaluate, default_book, reason_next, "HAND-001")
    # a new request in between: 帮您催 answers it, not the refusal
    new_request = [{"customer": "你们不处理一下吗"}, {"agent": "不行"}, {"customer": "行吧"}, {"customer": "另外"},
                   {"customer": "发票怎么还没收到"}, {"agent": "我帮您催一下"}]
    assert _fires(evaluate, default_book, new_request, "HAND-001")


# ---------------------------------------------------------------------------- slang
@pytest.mark.parametrize("reply, slang", [("请您稍等妹纸[数字x]-[数字x]分钟时间哦!", False), ("小妹这边帮您查询", False),
                                          ("祝您生活愉快 么么哒", True), ("期末资料啊挖去", True)])
def test_self_address_is_not_slang(evaluate, default_book, reply, slang):
    assert _fires(evaluate, default_book, reply, "HAND-003") is slang


# ---------------------------------------------------------------------------- exemplar similarity
def test_polarity_compares_negated_sentences_with_negated_exemplars_only():
    plain = TemplateMatcher(["我保证明天一定送到"], 0.5)
    aware = TemplateMatcher(["我保证明天一定送到"], 0.5, polarity=True)
    near_miss = "不能保证明天一定送到"
    assert plain.find(near_miss)  # n-grams barely see the negation
    assert not aware.find(near_miss)
    assert aware.find("我保证明天一定给您送到")
    assert negated("不能保证") and not negated("你是不是傻") and not negated("请不用担心")


def test_skip_quoted_leaves_quoted_text_out():
    plain = TemplateMatcher(["你有完没完"], 0.5)
    aware = TemplateMatcher(["你有完没完"], 0.5, skip_quoted=True)
    for text in ("您说“你有完没完”，给您添麻烦了", "您说你有完没完"):
        assert plain.find(text) and not aware.find(text), text
    assert aware.find("你有完没完啊")


def test_a_space_ends_a_sentence_for_exemplars():
    # 「请不用担心」 is a reassurance, not a negation, and its own message in the turn anyway
    matcher = TemplateMatcher(["后期我们会给您补偿差价的"], 0.55, polarity=True)
    assert matcher.find("这个请不用担心 我们的问题的话您重新下单，后期我们是会给您补偿这个差价的")


def _reference_best(templates, threshold, text, polarity, skip_quoted):
    """The plain computation: every piece, Counter cosines with every eligible template."""
    from csqa.checks.negation import quoted_spans
    from csqa.checks.matchers.exemplars import _SENTENCE, _SENTENCE_OR_SPACE

    def grams(s):
        return Counter(s[i:i + n] for n in (1, 2, 3) for i in range(len(s) - n + 1))

    vectors = [(grams(_clean(t)), negated(_clean(t))) for t in templates]
    max_chars = int(2.5 * max(len(_clean(t)) for t in templates)) + 4
    quoted = quoted_spans(text) if skip_quoted else []
    pattern = _SENTENCE_OR_SPACE if polarity else _SENTENCE
    pieces = [(m.start(), m.end()) for m in pattern.finditer(text)]
    if len(pieces) > 1:
        pieces.append((0, len(text)))
    best = (0.0, 0, 0)
    for start, end in pieces:
        if end - start > max_chars:
            continue
        kept = "".join(c for i, c in enumerate(text[start:end], start) if not any(qs <= i < qe for qs, qe in quoted))
        kept = re.sub(r"[0-9０-９]+", "0", _clean(kept))  # a run of digits compares as one 0
        a = grams(kept)
        na = math.sqrt(sum(v * v for v in a.values()))
        score = 0.0
        for b, neg in vectors:
            if polarity and neg != negated(kept):
                continue
            nb = math.sqrt(sum(v * v for v in b.values()))
            if na and nb:
                score = max(score, sum(v * b.get(k, 0) for k, v in a.items()) / (na * nb))
        if score > best[0]:
            best = (score, start, end)
    return [(best[1], best[2], best[0])] if best[0] >= threshold else []


def test_exemplar_matching_equals_the_plain_computation(default_book):
    """Many exemplars take the postings path with its bound and caches: same result as plain cosines."""
    rng = random.Random(13)
    blocks = [r.forbid for r in default_book.rules if r.forbid is not None and r.forbid.similar_to]
    assert len(blocks) >= 4
    words = [w for b in blocks for t in b.similar_to for w in (t[:3], t[2:6], t[-4:])] + [
        "您说“", "”", "不能", "无法", "，", "。", " ", "您好", "请不用担心", "亲", "订单", "已经", "帮您", "保证", "补偿", "快递",
        "12", "345", "[数字x]"]
    texts = ["".join(rng.choice(words) for _ in range(rng.randint(1, 9))) for _ in range(1500)]
    texts += [t for b in blocks for t in b.similar_to]
    found = 0
    for block in blocks:
        matcher = TemplateMatcher(block.similar_to, block.threshold, polarity=True, skip_quoted=True)
        for text in texts:
            expected = _reference_best(block.similar_to, block.threshold, text, True, True)
            got = matcher.find(text)
            assert [(s, e) for s, e, _ in got] == [(s, e) for s, e, _ in expected], text
            assert all(math.isclose(a[2], b[2]) for a, b in zip(got, expected)), text
            found += bool(got)
    assert found > 100


@pytest.mark.parametrize(
    "code, text",
    [
        ("RED-001", "你到底有完没完啊"),
        ("RED-002", "我都说得很清楚了"),
        ("RED-005", "您放心，问题都能解决"),
        ("HAND-002", "联系下京东客服问问账户订单"),
    ],
)
def test_exemplars_find_wordings_beyond_the_phrase_lists(evaluate, default_book, code, text):
    assert _fires(evaluate, default_book, text, code)


@pytest.mark.parametrize(
    "code, text",
    [
        ("RED-001", "您说“你们有完没完”，给您带来困扰非常抱歉"),
        ("RED-002", "不是您的问题，是我们的疏忽"),
        ("RED-005", "京东自营商品保证正品，请您放心"),
        ("RED-005", "不能保证明天到，我帮您催一下"),
        ("HAND-002", "我帮您联系快递，稍后给您回复"),
    ],
)
def test_near_misses_do_not_fire(evaluate, default_book, code, text):
    assert not _fires(evaluate, default_book, text, code)
