"""The prefilters declared in csqa/checks/pii/registry.yaml change no result.

Each recognizer and pattern declares what a text must hold for it to match (`prefilter: {digits,
digit_run, any_of}`); detection and masking skip the patterns a text's facts rule out, and a quick
check on the text as written skips texts no pattern can match. Here the prefiltered path is held to
the plain path — every pattern run on every text — over real chats (../shared/data, skipped when
absent), generated near-misses and written edge cases: same spans, same scores, same masks.
A prefilter that breaks its promise (leaves out a way a pattern can match) makes these tests fail
(`test_a_broken_prefilter_is_caught`).
"""
from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import pytest

from csqa.checks import pii
from csqa.checks.pii import PatternSpec, Prefilter, Recognizer, find_pii, load_recognizers, mask_pii, mask_regions
from csqa.checks.pii.candidates import Scanner
from csqa.checks.pii.detect import DETECTION_MEMO, scan
from csqa.checks.pii.hide import HideScanner, hide_recognizer, packaged_hide_scanner
from csqa.checks.pii.prefilter import text_facts
from csqa.checks.pii.text_forms import fold_fullwidth, fold_numerals


# ---------------------------------------------------------------- the plain path

def plain_scan(text, kinds=None, min_score=0.5, recognizers=None):
    """`find_pii`'s candidates with every pattern run on every text: no quick check, no prefilter, no memo."""
    return [(c.rec.id, c.start, c.end, c.score, c.note, c.keep_end)
            for c in scan(text, kinds, min_score, recognizers, prefiltered=False)]


def prefiltered_scan(text, kinds=None, min_score=0.5, recognizers=None):
    return [(c.rec.id, c.start, c.end, c.score, c.note, c.keep_end)
            for c in scan(text, kinds, min_score, recognizers)]


# ---------------------------------------------------------------- generated texts

FRAGMENTS = [
    "手机", "电话", "联系方式", "身份证", "证件号", "卡号", "银行卡", "订单", "单号", "运单号", "邮箱", "地址", "收货",
    "QQ", "qq", "Qq", "扣扣", "企鹅", "微信", "vx", "VX", "wx", "v信", "V信", "薇信", "威信", "号", "是", ":", "：",
    " ", "-", "　", "，", "@", "＠", ".", "com", "qq.com", "北京市", "朝阳区", "建国路", "大街", "88号", "3栋", "2单元",
    "501室", "小区", "花园", "广东省", "深圳市", "南山区", "弄", "之", "号楼", "+86", "0086", "(010)", "010-", "0755-",
    "转", "X", "x", "Ａ", "１", "８", "０", "的", "请", "亲", "加", "好友", "[数字x]", "[订单x]", "wxid_abc123", "Z",
    "abc.d@qq.com", "user_1@example.com.cn", "a@b", "x@y.z", "北京市朝阳区建国路88号3栋2单元501室", "中山路12号",
    "阳光花园3栋2单元", "上海市浦东新区张江路100弄5号", "人民大道1-3号院", "12号楼", "5号",
]
# … and the cue words and spellings only masking knows (full-width cues, e-mails without "@", numerals)
MASKING_FRAGMENTS = FRAGMENTS + [
    "ｖｘ", "ＶＸ", "Ｖ信", "ｑｑ", "加我", "支付宝", "(at)", " at ", "艾特", "#", "点", "一三八", "幺", "二四六八",
]


def _digits(rng, n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def _number(rng):
    r = rng.random()
    if r < 0.2:
        return "1" + rng.choice("3456789") + _digits(rng, 9)
    if r < 0.3:
        return "1" + rng.choice("3456789") + _digits(rng, 1) + rng.choice(" -") + _digits(rng, 4) + rng.choice(" -") + _digits(rng, 4)
    if r < 0.4:
        return _digits(rng, rng.choice([15, 16, 17, 18, 19, 20]))
    if r < 0.5:
        return rng.choice(" -").join(_digits(rng, 4) for _ in range(rng.choice([3, 4, 5])))
    if r < 0.6:
        return (rng.choice(["11", "44", "99"]) + _digits(rng, 4) + rng.choice(["19", "20"]) + _digits(rng, 2)
                + rng.choice(["01", "12", "13"]) + rng.choice(["07", "31", "32"]) + _digits(rng, 3) + rng.choice("09Xx"))
    if r < 0.7:
        return "0" + _digits(rng, rng.choice([2, 3])) + rng.choice(["", "-", " "]) + _digits(rng, rng.choice([6, 7, 8]))
    if r < 0.8:  # full-width digits
        return "".join(chr(ord(c) + 0xFEE0) for c in _digits(rng, rng.choice([4, 11, 18])))
    return _digits(rng, rng.randint(1, 12))


def generated_texts(n, seed=20261123, fragments=FRAGMENTS):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            parts.append(_number(rng) if r < 0.35 else rng.choice(fragments) if r < 0.92 else chr(rng.randint(0x4E00, 0x4E80)))
        out.append("".join(parts))
    return out


def near_misses(seed=7, n=600):
    """Digit groups split by spaces and dashes, one digit short of or at what each pattern needs."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        size = rng.choice((3, 4, 4, 5))
        groups = [str(rng.randrange(10 ** (size - 1), 10 ** size)) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.5:
            groups[-1] = groups[-1][:-1] or "7"
        sep = rng.choice((" ", "-", "", " - "))
        lead = rng.choice(("", "卡号", "手机", "身份证", "电话0", "订单", "+86 ", "qq", "扣扣", "vx"))
        out.append(lead + sep.join(groups) + rng.choice(("", "号", "室", " 谢谢")))
    return out


# Written edge cases: each sits at the border of some declared prefilter.
EDGE_CASES = [
    "", " ", "　", "好的", "13812345678", "1381234567", "138 1234 5678", "138-1234-567", "+8613812345678",
    "0086 138 1234 5678", "010-12345678", "010-1234567", "(021)12345678", "0755-1234567转123", "01012345678",
    "0101234567", "110105199003071239", "11010519900307123", "110105 19900307 1239", "110105900307123",
    "11010590030712", "6222020000000007", "622202000000000", "6222 0200 0000 0007", "6222-0200-0000-0007",
    "6222 0200 0000 000", "6222020000000000007", "a@b.cn", "a＠b.cn", "ab.cn", "a@bcn", "abc(at)qq.com",
    "abc [at] qq dot com", "abc#qq.com", "abc艾特qq点com", "abc圈qq.com", "abc@qq", "abc AT 163",
    "QQ12345", "QQ1234", "qq 123456789", "ｑｑ：12345678", "扣扣：二四六八一三五七", "企鹅号是 98765",
    "微信 liming_2468", "vx：liming2468", "ｖｘ：liming2468", "Ｖ信 liming2468", "加我ｖｘ：abcdefg", "wX abcdef",
    "wxid_abcd", "wxid_abc", "ｗｘｉｄ＿abcd", "加我 liming2468 私聊", "支付宝 liming2468@163.com", "抖音号 dy_12345",
    "北京市朝阳区建国路88号3栋2单元501室", "建国路88号", "建国路八十八号", "阳光花园3栋2单元501室", "阳光花园3栋",
    "上海市浦东新区张江路100弄5号", "中山路12号 地址", "收货地址：人民大道1-3号院", "１３８２４６８１３５７",
    "一三八二四六八一三五七", "幺三八 二四六八 幺三五七", "1 3 8 2 4 6 8 1 3 5 7", "138.2468.1357", "打我一三八二四六八",
    "卡号 62220200", "卡号 6222", "身份证 abc12345", "证件 X1234567", "tel:12345", "TEL 1234", "Telegram @liming",
    "WhatsApp liming2468", "电话：8246-8135", "联系电话 8246", "座机 12345", "分机 1234", "٣٤٥٦٧٨٩٠١٢٣", "编号٣٤٥",
    "[数字x][数字x]", "订单号 2026110212345678", "快递单号SF1234567890123", "您尾号5678的手机",
]


def _real_texts(root: Path, per_source: int = 12000) -> list[str]:
    texts: list[str] = []
    for name in ("chat_a.tsv", "chat_b.tsv"):
        with open(root / "jddc2019" / name, encoding="utf-8") as fh:
            texts += [parts[6] for parts in (line.rstrip("\n").split("\t") for line in fh) if len(parts) >= 7]
    dialogues = json.loads((root / "stc3" / "train_data_cn.json").read_text(encoding="utf-8"))
    texts += [u for d in dialogues for turn in d.get("turns", []) for u in turn.get("utterances", [])][:per_source]
    with open(root / "reviews" / "online_shopping_10_cats.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))[1:]
    texts += [r[-1] for r in rows[::5]][:per_source]
    return texts


@pytest.fixture(scope="module")
def real_texts(shared_data):
    texts = _real_texts(shared_data)
    assert len(texts) > 30000
    return texts


TEXTS = generated_texts(1000)
WRITTEN = EDGE_CASES + near_misses() + TEXTS + generated_texts(1500, seed=12, fragments=MASKING_FRAGMENTS)
KINDS = [None, {"mobile", "landline", "id_card", "bank_card", "email", "address"}, {"qq", "wechat"}, {"address"}, set()]


def _check_same(texts, kinds=None):
    """Prefiltered and plain: the same detection at two thresholds, the same masking; and where the
    masking pre-check says no, the plain masking hides nothing."""
    found = hidden = 0
    for text in texts:
        for min_score in (0.5, 0.0):
            want = plain_scan(text, kinds, min_score)
            assert prefiltered_scan(text, kinds, min_score) == want, (text, kinds, min_score)
            found += bool(want)
        want = mask_regions(text, kinds, prefiltered=False)
        assert mask_regions(text, kinds) == want, (text, kinds)
        hidden += bool(want)
        if not pii.may_need_masking(text):
            assert want == [] or kinds is not None and mask_regions(text, prefiltered=False) == [], text
    return found, hidden


# ---------------------------------------------------------------- equivalence

@pytest.mark.realdata
def test_real_chats_prefiltered_equal_plain(real_texts):
    found, hidden = _check_same(real_texts)
    assert found > 20 and hidden > 200  # (the real texts do hold things to find and to hide)


@pytest.mark.realdata
def test_real_chats_every_match_passes_its_prefilters(real_texts):
    """The sharpest form of the promise: wherever a pattern matches a real text, the text's facts
    pass the pattern's prefilters (detection on the folded text, masking on both folded forms)."""
    _every_match_passes(real_texts[::3])


def test_written_texts_every_match_passes_their_prefilters():
    _every_match_passes(WRITTEN)


def _every_match_passes(texts):
    detect = Scanner(load_recognizers())
    hide = packaged_hide_scanner()
    checked = 0
    for text in texts:
        norm = fold_fullwidth(text)
        forms = [(detect, norm), (hide, norm), (hide, fold_numerals(norm))]
        for scanner, form in forms:
            facts = text_facts(form, scanner.find_words)
            for rec in scanner.recognizers:
                for pat in rec.patterns:
                    if pat.regex.search(form) is None:
                        continue
                    checked += 1
                    for p in (rec.prefilter, pat.prefilter):
                        assert p is None or p.admits(facts), (rec.id, pat.name, text, p, facts)
                    assert scanner.may_match(text), (rec.id, pat.name, text)
    assert checked > 100


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "all" if k is None else "+".join(sorted(k)) or "none")
def test_written_texts_prefiltered_equal_plain(kinds):
    found, hidden = _check_same(WRITTEN, kinds)
    if kinds != set():
        assert found > 10 and hidden > 10


def test_written_texts_reach_every_kind():
    kinds = {c[0] for t in WRITTEN for c in plain_scan(t, min_score=0.0)}
    assert kinds == {r.id for r in load_recognizers() if r.patterns}  # (account has mask patterns only)
    hidden = {r.id for r in load_recognizers() for t in WRITTEN if mask_regions(t, {r.id})}
    assert hidden == {r.id for r in load_recognizers()}


def test_public_functions_agree_with_the_plain_path_and_transcript_masking():
    from csqa.results.transcripts import mask_with_offsets

    for text in WRITTEN[:800]:
        ref = plain_scan(text)
        assert [(m.kind, m.start, m.end, m.score) for m in find_pii(text)] == [c[:4] for c in ref]
        masked = mask_pii(text)
        assert mask_with_offsets(text)[0] == masked
        if ref:  # masking hides at least what detection finds
            assert masked != text


# ---------------------------------------------------------------- the promise is tested, not assumed

def _with_wechat_prefilter(prefilter):
    recs = []
    for rec in load_recognizers():
        if rec.id == "wechat":
            rec = Recognizer(**{**rec.__dict__, "prefilter": prefilter})
        recs.append(rec)
    return tuple(recs)


def test_a_broken_prefilter_is_caught():
    """A prefilter that leaves out one of the cues its pattern matches loses the WeChat id in
    "vx：liming2468" — the comparison with the plain path shows it."""
    broken = _with_wechat_prefilter(Prefilter(any_of=("微信",)))
    text = "vx：liming2468"
    assert plain_scan(text, recognizers=broken) == plain_scan(text)
    assert [c[0] for c in plain_scan(text, recognizers=broken)] == ["wechat"]
    assert prefiltered_scan(text, recognizers=broken) == []  # skipped: the broken promise shows
    assert prefiltered_scan("微信：liming2468", recognizers=broken) == plain_scan("微信：liming2468")


def test_a_recognizer_without_prefilter_is_always_scanned():
    """A new kind that declares no prefilter needs no digit, @ or WeChat cue to be scanned (the old
    hand-written pre-check skipped every text without one)."""
    ticket = Recognizer(id="ticket", name="工单账号", patterns=(PatternSpec("ticket", re.compile(r"TK-[A-Z]{6}"), 0.6),))
    recs = load_recognizers() + (ticket,)
    assert [m.kind for m in find_pii("账号 TK-ABCDEF", recognizers=recs)] == ["ticket"]
    assert Scanner(recs).quick is None and HideScanner(recs).quick is None  # nothing rules a text out
    assert mask_pii("账号 TK-ABCDEF", recognizers=recs) == "账号 ****"


def test_full_width_wechat_cues_are_found():
    """The quick check reads the text as written but knows every form that folds into a cue word:
    a WeChat id after a full-width ｖｘ is found (the old digit/@/WeChat pre-check missed it)."""
    for text in ("加我ｖｘ：abcdefg", "Ｖ信 zhangsan_x", "ＶＸ：liming_abc"):
        assert [m.kind for m in find_pii(text)] == ["wechat"], text
        assert mask_pii(text) != text


def test_every_packaged_pattern_declares_its_prefilter():
    """Each packaged pattern (detection and masking) has a prefilter asking for something: else
    the quick check is lost and every text is scanned in full."""
    for rec in load_recognizers():
        for pat in rec.patterns:
            given = [p for p in (rec.prefilter, pat.prefilter) if p is not None]
            assert any(p.needs_digit or p.any_of for p in given), (rec.id, pat.name)
        for pat in rec.mask_patterns:
            assert pat.prefilter is not None and (pat.prefilter.needs_digit or pat.prefilter.any_of), (rec.id, pat.name)
    assert Scanner(load_recognizers()).quick is not None and packaged_hide_scanner().quick is not None


def test_hide_recognizers_carry_the_mask_patterns_prefilters():
    for rec in load_recognizers():
        hidden = hide_recognizer(rec)
        if rec.mask_patterns:
            assert hidden.prefilter is None and hidden.patterns == rec.mask_patterns
        else:  # (the address: its detection patterns and their prefilters, no validator)
            assert hidden.prefilter == rec.prefilter and all(p.validator is None for p in hidden.patterns)


def test_no_private_regex_internals():
    """The prefilters are declared in the registry, not derived from CPython's regex parser."""
    root = Path(pii.__file__).parent
    for path in root.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for private in ("re._parser", "re._constants", "sre_parse", "sre_constants", "_sre"):
            assert private not in source, (path.name, private)


# ---------------------------------------------------------------- the memo

def test_memo_changes_nothing_and_stays_bounded(monkeypatch):
    monkeypatch.setattr(DETECTION_MEMO, "size", 7)
    DETECTION_MEMO.clear()
    rng = random.Random(5)
    values = [f"电话1381234{i:04d}" for i in range(30)] + ["邮箱a@b.cn", "无", "订单123", "qq 12345678"]
    for _ in range(400):
        text = rng.choice(values)
        assert prefiltered_scan(text, min_score=0.0) == plain_scan(text, min_score=0.0)
        assert mask_pii(text) == mask_pii(text, recognizers=load_recognizers())
        assert len(DETECTION_MEMO) <= 7
    DETECTION_MEMO.clear()


def test_memo_hands_out_fresh_lists():
    DETECTION_MEMO.clear()
    text = "请拨打13812345678联系"
    first = scan(text)
    first.clear()
    assert [c.rec.id for c in scan(text)] == ["mobile"]
    assert scan(text, {"email"}) == []  # same memo entry, other kinds
    assert fold_fullwidth(text) in DETECTION_MEMO
