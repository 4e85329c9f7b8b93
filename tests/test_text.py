"""Text stage: normalize() (width, HTML, 繁→简, offsets back to the original) and the jieba segmenter."""
from __future__ import annotations

import csv

import pytest

from csqa.text.normalize import normalize, normalize_text
from csqa.text.segment import Segmenter, is_emoji_token, token_bounds


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    """A fresh segmenter with only the domain dictionary (no rulebook words added)."""
    return Segmenter()


# ---------------------------------------------------------------------------- normalize
def test_fullwidth_ascii_folds_to_halfwidth():
    assert normalize("ＯＫ，１２３").text == "OK,123"
    assert normalize("订单尾号１２３４").text == "订单尾号1234"
    assert normalize("ＡＢＣ！？").text == "ABC!?"


def test_ideographic_space_becomes_space():
    n = normalize("好的\u3000亲")
    assert n.text == "好的 亲"
    assert len(n.text) == len(n.original)


def test_width_folding_keeps_identity_offsets():
    n = normalize("ＯＫ，１２３")
    assert n.original_span(0, 2) == (0, 2)
    assert n.original[slice(*n.original_span(0, 2))] == "ＯＫ"


def test_html_tags_stripped_and_entities_decoded():
    n = normalize("您好<br>亲&nbsp;在的&amp;都可以")
    assert n.text == "您好 亲 在的&都可以"
    assert "<" not in n.text and "br" not in n.text and "nbsp" not in n.text


def test_html_self_closing_and_inline_tags():
    assert normalize("第一行<br/>第二行").text == "第一行 第二行"
    assert normalize("<b>重要</b>提示").text == "重要提示"
    assert normalize("&lt;不是标签&gt;").text == "<不是标签>"


@pytest.mark.parametrize(
    "original, needle, expected",
    [
        ("您好<br>亲&nbsp;在的&amp;都可以", "在的&都", "在的&amp;都"),
        ("您好<br>亲&nbsp;在的&amp;都可以", "可以", "可以"),
        ("您好<br>亲&nbsp;在的&amp;都可以", "您好", "您好"),
        ("<p>亲，<b>ＯＫ</b>的</p>", "OK", "ＯＫ"),
        ("<p>亲，<b>ＯＫ</b>的</p>", "OK的", "ＯＫ</b>的"),
        ("好的&nbsp;&nbsp;已发货<br/>單號發您", "单号发您", "單號發您"),
        ("好的&nbsp;&nbsp;已发货<br/>單號發您", "已发货", "已发货"),
    ],
)
def test_original_span_maps_back_to_the_original_text(original, needle, expected):
    n = normalize(original)
    start = n.text.index(needle)
    s, e = n.original_span(start, start + len(needle))
    assert n.original[s:e] == expected


def test_original_span_of_every_character_is_inside_the_original():
    original = "亲<br>您好&nbsp;ＯＫ&amp;<i>請問</i>"
    n = normalize(original)
    assert n.offsets is not None and len(n.offsets) == len(n.text)
    previous = -1
    for i in range(len(n.text)):
        s, e = n.original_span(i, i + 1)
        assert 0 <= s < e <= len(original)
        assert s >= previous  # monotone
        previous = s


def test_traditional_to_simplified():
    assert normalize("請問這件衣服有貨嗎").text == "请问这件衣服有货吗"
    assert normalize("穿什麼尺碼").text == "穿什么尺码"


def test_traditional_conversion_keeps_one_to_one_offsets():
    original = "請問這件衣服有貨嗎"
    n = normalize(original)
    assert len(n.text) == len(original)
    s, e = n.original_span(n.text.index("有货"), n.text.index("有货") + 2)
    assert original[s:e] == "有貨"


def test_emoji_emoticons_and_masks_are_left_intact():
    text = "您的订单[订单x]已发货[微笑]👍🏻，手机[数字x]"
    n = normalize(text).text
    assert n == text.replace("，", ",")  # only the full-width comma changes
    for piece in ("[订单x]", "[微笑]", "👍🏻", "[数字x]"):
        assert piece in n


def test_none_and_empty():
    assert normalize(None).text == ""
    assert normalize("").text == ""
    assert normalize_text("ＯＫ") == "OK"


IDEMPOTENCE_CASES = [
    "ＯＫ，１２３",
    "好的\u3000亲",
    "您好<br>亲&nbsp;在的&amp;都可以",
    "快捷短语<br/>第二行&nbsp;&nbsp;结束",
    "請問這件衣服有貨嗎",
    "您的订单[订单x]已发货[微笑]👍🏻😊",
    "a < b 且 c > d",
    "普通的一句话，没有任何需要处理的字符。",
]


@pytest.mark.parametrize("text", IDEMPOTENCE_CASES)
def test_normalize_is_idempotent(text):
    once = normalize(text).text
    assert normalize(once).text == once


def test_normalize_is_idempotent_on_every_sample_message(sample_csv):
    with open(sample_csv, encoding="utf-8-sig", newline="") as fh:
        texts = [row["消息内容"] for row in csv.DictReader(fh)]
    assert len(texts) > 3000
    for text in texts:
        once = normalize(text).text
        assert normalize(once).text == once, text


@pytest.mark.xfail(
    strict=True,
    reason="BUG (minor): normalize() is not idempotent on escaped markup: decoded entities can form new "
    "tags/entities that a second pass strips or decodes again: '&lt;br&gt;好的' → '<br>好的' → ' 好的'; "
    "'&amp;lt;' → '&lt;' → '<'",
)
@pytest.mark.parametrize("text", ["&lt;br&gt;好的", "&amp;lt;"])
def test_normalize_is_idempotent_on_escaped_markup(text):
    once = normalize(text).text
    assert normalize(once).text == once


# ---------------------------------------------------------------------------- segmenter
@pytest.mark.parametrize("token", ["[数字x]", "[订单x]", "[姓名x]", "[微笑]", "[玫瑰]", "😊", "🙏", "👍🏻", "👍"])
def test_masks_emoticons_and_emoji_are_single_tokens(seg, token):
    text = f"好的{token}亲"
    tokens = seg.tokens(text)
    assert token in tokens
    assert "".join(tokens) == text


def test_skin_tone_emoji_is_not_split(seg):
    tokens = seg.tokens("收到👍🏻👍🏻谢谢")
    assert tokens.count("👍🏻") == 2
    assert "\U0001F3FB" not in tokens  # the skin-tone modifier never stands alone


def test_mask_never_split_into_brackets(seg):
    tokens = seg.tokens("您的手机[数字x]，订单[订单x]")
    for bad in ("[", "]", "数字", "x"):
        assert bad not in tokens


def test_emoji_token_classification():
    assert is_emoji_token("😊")
    assert is_emoji_token("👍🏻")
    assert is_emoji_token("[微笑]")
    assert not is_emoji_token("[数字x]")
    assert not is_emoji_token("[订单x]")
    assert not is_emoji_token("好的")


@pytest.mark.parametrize(
    "text",
    [
        "您的订单[订单x]已发货[微笑]，手机[数字x]👍🏻好的😊🙏",
        "亲，您好，我是客服小美，很高兴为您服务",
        "OK,123 订单尾号1234  两个空格",
        "多行\n消息\n",
        "",
    ],
)
def test_tokens_concatenate_back_to_the_text(seg, text):
    tokens = seg.tokens(text)
    assert "".join(tokens) == text
    assert token_bounds(tokens)[-1] == len(text)


@pytest.mark.parametrize("word", ["七天无理由退货", "运费险", "价保", "好评返现", "运单号"])
def test_domain_dictionary_words_are_kept_whole(seg, word):
    text = f"亲，这个支持{word}吗，我看一下"
    assert word in seg.tokens(text)


def test_domain_words_in_one_sentence(seg):
    tokens = seg.tokens("支持七天无理由退货，有运费险，可以价保，没有好评返现，运单号发您")
    for word in ("七天无理由退货", "运费险", "价保", "好评返现", "运单号"):
        assert word in tokens


def test_cache_returns_the_identical_tuple(seg):
    first = seg.tokens("请问这件衣服有货吗")
    second = seg.tokens("请问这件衣服有货吗")
    assert isinstance(first, tuple)
    assert first is second


def test_add_words_clears_cache_and_keeps_word_whole():
    own = Segmenter()
    before = own.tokens("这是测试专用词汇甲乙丙")
    own.add_words(["专用词汇甲乙丙"])
    after = own.tokens("这是测试专用词汇甲乙丙")
    assert after is not before
    assert "专用词汇甲乙丙" in after


def test_rjieba_and_jieba_give_the_same_tokens_on_the_sample():
    """rjieba is the fast default only because it agrees with the jieba reference token for token."""
    pytest.importorskip("rjieba")
    from csqa.ingest import read_inputs
    from csqa.core.paths import corpora_dir
    from csqa.text.normalize import normalize_text
    from csqa.text.segment import Segmenter

    texts = [normalize_text(t) for t in read_inputs([corpora_dir() / "samples" / "chat_export.csv"]).messages["text"]]
    reference, fast = Segmenter(backend="jieba"), Segmenter(backend="rjieba")
    for seg in (reference, fast):
        seg.add_words(["不归我管", "帮您转接", "好评返现"])
    differing = [t for t in texts if reference.tokens(t) != fast.tokens(t)]
    assert not differing, differing[:5]
    assert fast.backend == "rjieba" and reference.backend == "jieba"
