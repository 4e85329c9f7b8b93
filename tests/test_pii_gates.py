"""The fast path of csqa.checks.pii must give exactly the results of the plain scan.

`_scan` skips recognizers/patterns whose gate (a necessary condition derived from the
regex: a minimum run of digits, required literal strings) rules the text out, skips
normalizing texts without full-width characters, and caches candidates by text.  These
tests compare it with a straightforward reference scan (every pattern on every text),
on generated texts full of near-misses, for the packaged and for custom recognizers.
"""

from __future__ import annotations

import random
import re

import pytest

from csqa.checks import pii
from csqa.checks.pii import PatternSpec, Recognizer, find_pii, load_recognizers, mask_pii


# ---------------------------------------------------------------- the reference scan

def reference_scan(text, kinds=None, min_score=0.5, recognizers=None):
    """The scan without gates, cache or shortcuts (the algorithm before the fast path)."""
    if not text:
        return []
    if recognizers is None and not pii._MAY_HOLD_VALUE.search(text):
        return []
    recs = tuple(recognizers) if recognizers is not None else load_recognizers()
    wanted = set(kinds) if kinds is not None else None
    norm = text.translate(pii._FULLWIDTH)
    cands = []
    for rec in recs:
        if wanted is not None and rec.id not in wanted:
            continue
        regions = pii._regions(norm, rec)
        for pat in rec.patterns:
            vname = pat.validator or rec.validator
            validator = pii.VALIDATORS[vname] if vname else None
            for lo, hi in regions:
                for m in pat.regex.finditer(norm, lo, hi):
                    if "value" in pat.regex.groupindex and m.group("value") is not None:
                        start, end = m.span("value")
                    else:
                        start, end = m.span()
                    if start == end or (validator is not None and not validator(norm[start:end])):
                        continue
                    keep_end = None
                    if "admin" in pat.regex.groupindex and m.group("admin"):
                        keep_end = m.end("admin")
                        admin = norm[start:keep_end]
                        hits = [i for i in (admin.find(a) for a in rec.anchors) if i >= 0]
                        if hits and min(hits) > 0:
                            start += min(hits)
                        while keep_end > start and norm[keep_end - 1] == " ":
                            keep_end -= 1
                    score, note = pii._context_score(norm, start, end, rec, pat.score)
                    score = round(max(0.0, min(1.0, score)), 2)
                    if score >= min_score:
                        cands.append((rec.id, start, end, score, note, keep_end))
    cands.sort(key=lambda c: (-c[3], -(c[2] - c[1]), c[1]))
    chosen = []
    for c in cands:
        if all(c[2] <= o[1] or c[1] >= o[2] for o in chosen):
            chosen.append(c)
    return sorted(chosen, key=lambda c: (c[1], c[2]))


def fast_scan(text, kinds=None, min_score=0.5, recognizers=None):
    return [(c.rec.id, c.start, c.end, c.score, c.note, c.keep_end)
            for c in pii._scan(text, kinds, min_score, recognizers)]


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


def generated_texts(n, seed=20261123):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            parts.append(_number(rng) if r < 0.35 else rng.choice(FRAGMENTS) if r < 0.92 else chr(rng.randint(0x4E00, 0x4E80)))
        out.append("".join(parts))
    return out


TEXTS = generated_texts(1000)
KINDS = [None, {"mobile", "landline", "id_card", "bank_card", "email", "address"}, {"qq", "wechat"}, {"address"}, set()]


# ---------------------------------------------------------------- equivalence

def test_generated_texts_have_hits_of_every_kind():
    kinds = {c[0] for t in TEXTS for c in reference_scan(t, min_score=0.0)}
    assert kinds == {r.id for r in load_recognizers() if r.patterns}  # (a kind may have mask patterns only)


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "all" if k is None else "+".join(sorted(k)) or "none")
def test_fast_scan_equals_reference(kinds):
    pii._SCAN_CACHE.clear()
    for min_score in (0.5, 0.0):
        for text in TEXTS:
            assert fast_scan(text, kinds, min_score) == reference_scan(text, kinds, min_score), text
    # again, now answered from the cache
    for text in TEXTS:
        assert fast_scan(text, kinds, 0.5) == reference_scan(text, kinds, 0.5), text


def test_public_functions_agree_with_reference_and_transcript_masking():
    from csqa.report.transcript import mask_with_offsets

    for text in TEXTS[:600]:
        ref = reference_scan(text)
        assert [(m.kind, m.start, m.end, m.score) for m in find_pii(text)] == [c[:4] for c in ref]
        masked = mask_pii(text)
        assert mask_with_offsets(text)[0] == masked
        if ref:  # masking hides at least what detection finds (tests/test_masking.py: every span)
            assert masked != text


def test_custom_recognizers_equal_reference():
    """Custom registries (no packaged pre-check) with flags, unicode digits, back references,
    empty alternatives and scoped case-insensitivity."""
    def rec(rid, *regexes, **kw):
        return Recognizer(id=rid, name=rid, patterns=tuple(
            PatternSpec(name=f"{rid}{i}", regex=re.compile(rx), score=0.6) for i, rx in enumerate(regexes)), **kw)

    recs = (
        rec("ticket", r"TK\d{6}", r"(?i)tk-\d{4}"),
        rec("scoped", r"(?i:ab)c\d{2}", r"x(?:|y)z\d"),
        rec("unicode_digits", r"(?<!\d)\d{3}(?!\d)"),
        rec("backref", r"(\d)\1{3}", r"([ -])\d{2}\1\d{2}"),
        rec("email_like", r"[a-z]+@[a-z]+\.[a-z]{2,}", context=("邮箱",)),
        rec("required", r"\d{2}", requires=re.compile(r"编号"), requires_window=(3, 5)),
    )
    texts = TEXTS[:300] + [
        "TK123456", "tk-1234 TK-9999", "ABc12 aBc99", "xz1 xyz2 xyyz3", "编号٣٤٥ ٣٤٥٦",
        "1111 22223 a-12-34", "邮箱 abc@def.com", "编号12 和 34 编号 56", "",
    ]
    for text in texts:
        for kinds in (None, {"ticket", "backref"}):
            assert fast_scan(text, kinds, 0.5, recs) == reference_scan(text, kinds, 0.5, recs), text
    assert fast_scan("ABc12", None, 0.5, recs)  # case-insensitive group: no literal gate on 'ab'
    assert fast_scan("编号٣٤٥", None, 0.5, recs)  # \d matches any decimal digit


# ---------------------------------------------------------------- gates and cache

def test_every_packaged_pattern_has_a_gate():
    """Each packaged pattern needs digits or a literal (else the fast path is lost)."""
    for rec in load_recognizers():
        for p in pii._plan(rec).patterns:
            assert p.digits > 0 or p.checks, (rec.id, p.spec.name)


def test_gates_are_necessary_conditions():
    gate = pii._gate(re.compile(r"(?<![0-9])0(?:10|2\d|[3-9]\d{2})[1-9]\d{6,7}(?![0-9])"))
    assert gate.digits == 10
    assert pii._gate(re.compile(r"[A-Za-z0-9]+@[A-Za-z0-9]+\.[A-Za-z]{2,}")).ok("a@b.cn", 0)
    assert not pii._gate(re.compile(r"[A-Za-z0-9]+@[A-Za-z0-9]+\.[A-Za-z]{2,}")).ok("ab.cn", 0)
    assert pii._gate(re.compile(r"(?i)qq\d{5}")).checks == ()  # case-insensitive: no literal gate
    assert pii._gate(re.compile(r"a|\d{3}")).digits == 0


def test_cache_returns_fresh_lists_and_is_bounded(monkeypatch):
    pii._SCAN_CACHE.clear()
    text = "请拨打13812345678联系"
    first = pii._scan(text, None, 0.5, None)
    first.clear()
    assert [c.rec.id for c in pii._scan(text, None, 0.5, None)] == ["mobile"]
    assert pii._scan(text, {"email"}, 0.5, None) == []  # same cache entry, other kinds
    monkeypatch.setattr(pii, "_SCAN_CACHE_MAX", 5)
    for i in range(20):
        assert mask_pii(f"电话1381234{i:04d}") == f"电话138****{i:04d}"
    assert len(pii._SCAN_CACHE) <= 5


# ---------------------------------------------------------------------------- PII: digits in all
def test_digits_needed_of_packaged_patterns():
    totals = {(p.rec.id, i): pp.total for p in pii._plans(None) for i, pp in enumerate(p.patterns)}
    assert totals[("bank_card", 0)] == 16  # \d{4}([ -])\d{4}(\1\d{4}){2}(\1\d{3})?
    assert totals[("mobile", 0)] == 11
    assert totals[("email", 0)] == 0
    assert pii._gate(re.compile(r"a(?:\d{3}|\d-\d)b\d?")).total == 2  # shortest branch; optional counts 0
    assert pii._gate(re.compile(r"(?i)\d{2}x\d")).total == 3  # case-insensitivity does not touch \d
    assert pii._gate(re.compile(r"[0-9a]{5}")).total == 0  # a set that is not all digits counts 0


def _near_misses(seed=7, n=600):
    """Digit groups split by spaces and dashes, one digit short of or at each pattern's total."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        size = rng.choice((3, 4, 4, 5))
        groups = [str(rng.randrange(10 ** (size - 1), 10 ** size)) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.5:
            groups[-1] = groups[-1][:-1] or "7"
        sep = rng.choice((" ", "-", "", " - "))
        lead = rng.choice(("", "卡号", "手机", "身份证", "电话0", "订单", "+86 "))
        out.append(lead + sep.join(groups) + rng.choice(("", "号", "室", " 谢谢")))
    return out


@pytest.mark.parametrize("kinds", [None, {"bank_card", "mobile"}, {"id_card", "landline"}])
def test_scan_with_digit_totals_equals_reference(kinds):
    pii._clear_scan_cache()
    texts = _near_misses() + TEXTS[:300]
    found = 0
    for text in texts:
        want = reference_scan(text, kinds, 0.0)
        assert fast_scan(text, kinds, 0.0) == want, text
        found += bool(want)
    assert found > 10  # (the texts reach every kind asked for)


def test_digit_totals_are_necessary_conditions():
    """Wherever a packaged pattern matches, the match holds at least its gate's total digits."""
    digits = re.compile(r"\d")
    checked = 0
    for plan in pii._plans(None):
        for pp in plan.patterns:
            for text in _near_misses(11, 300) + TEXTS[:300]:
                for m in pp.spec.regex.finditer(pii._normalize(text)):
                    assert len(digits.findall(m.group(0))) >= pp.total, (pp.spec.name, text)
                    checked += 1
    assert checked > 200


def test_two_generation_scan_cache_equals_uncached(monkeypatch):
    monkeypatch.setattr(pii, "_SCAN_CACHE_MAX", 7)
    pii._clear_scan_cache()
    rng = random.Random(5)
    values = [f"电话1381234{i:04d}" for i in range(30)] + ["邮箱a@b.cn", "无", "订单123", "qq 12345678"]
    for _ in range(400):
        text = rng.choice(values)
        assert pii.mask_pii(text) == pii.mask_pii(text, recognizers=pii.load_recognizers())
        assert len(pii._SCAN_CACHE) <= 7 and len(pii._SCAN_CACHE_OLD) <= 7
    pii._clear_scan_cache()
