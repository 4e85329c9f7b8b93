"""Masking errs toward privacy (what to HIDE); detection stays strict (what an agent LEAKED).

`csqa.checks.pii.mask_regions` decides what is hidden, for mask_pii and the transcripts alike,
in every output and the store: anything that looks like a phone, ID, card, e-mail or account
whatever its checksum, in any spacing, full-width or Chinese-numeral form, e-mails written
(at) / # / 艾特, and anything after a contact cue. Validation (ID checksum, Luhn) decides only
whether RED-003 fires.
"""
from __future__ import annotations

import csv
import json
import re

import pytest
import yaml

from csqa.checks import pii
from csqa.checks.pii import find_pii, load_recognizers, mask_pii, mask_regions

from conftest import write_rows
from test_pii import CARD16, ID_1990, break_luhn, wrong_check
from test_pii_prefilter_equivalence import TEXTS, generated_texts, plain_scan as reference_scan

CN = str.maketrans("〇零一幺二三四五六七八九", "001123456789")

# (text, what must not survive masking: compared with the masked text's digits and letters, numerals folded)
PRIVATE = [
    ("加我v：abc_wx2468", ["wx2468", "abcwx"]),
    ("我电话138.2468.1357", ["2468"]),
    ("1 3 8 2 4 6 8 1 3 5 7", ["2468"]),
    ("打我一三八二四六八一三五七", ["2468"]),
    ("幺三八 二四六八 幺三五七", ["2468"]),
    ("１３８２４６８１３５７", ["2468"]),
    ("138-2468-1357", ["2468"]),
    ("+86 138 2468 1357", ["2468"]),
    (f"身份证{wrong_check(ID_1990)}", [wrong_check(ID_1990)[3:14]]),
    (f"身份证 {wrong_check(ID_1990)[:6]} {wrong_check(ID_1990)[6:14]} {wrong_check(ID_1990)[14:]}", [wrong_check(ID_1990)[3:14]]),
    (f"卡号{break_luhn(CARD16)}", [break_luhn(CARD16)[:12]]),
    (f"银行卡：{break_luhn(CARD16)[:4]} {break_luhn(CARD16)[4:8]} {break_luhn(CARD16)[8:12]} {break_luhn(CARD16)[12:]}",
     [break_luhn(CARD16)[:12]]),
    ("卡号 62220200", ["62220200"]),
    ("邮箱 zhangsan2468(at)qq.com", ["zhangsan2468", "hangsan"]),
    ("zhangsan2468 [at] 163 dot com", ["zhangsan2468", "hangsan"]),
    ("zhangsan2468#qq.com", ["zhangsan2468", "hangsan"]),
    ("zhangsan2468艾特qq点com", ["zhangsan2468", "hangsan"]),
    ("zhangsan2468＠ｑｑ．ｃｏｍ", ["zhangsan2468", "hangsan"]),
    ("微信 liming_2468", ["liming", "2468"]),
    ("vx：liming2468", ["liming", "2468"]),
    ("v信 liming2468", ["liming", "2468"]),
    ("威信号是 liming2468", ["liming", "2468"]),
    ("QQ 24681357", ["24681357", "681357"]),
    ("扣扣：二四六八一三五七", ["24681357", "681357"]),
    ("加我 liming2468 私聊", ["liming", "2468"]),
    ("支付宝 liming2468@163.com", ["liming2468", "iming"]),
    ("支付宝账号13824681357", ["2468"]),
    ("联系电话：8246-8135", ["82468135", "2468"]),
    ("wxid_liming2468", ["liming", "2468"]),
]


def _visible(text: str) -> str:
    """The text's letters and digits, Chinese and full-width numerals folded (separators dropped)."""
    return re.sub(r"[^0-9A-Za-z]", "", text.translate(pii._FULLWIDTH).translate(CN))


@pytest.mark.parametrize("text, secrets", PRIVATE, ids=[p[0] for p in PRIVATE])
def test_private_strings_are_hidden(text, secrets):
    masked = mask_pii(text)
    assert masked != text
    for secret in secrets:
        assert secret not in _visible(masked), (text, masked)
    assert mask_pii(masked) == masked  # masked once is masked


def test_masks_keep_their_shape():
    assert mask_pii("1 3 8 2 4 6 8 1 3 5 7") == "138****1357"
    assert mask_pii("一三八二四六八一三五七") == "138****1357"
    assert mask_pii("我电话138.2468.1357") == "我电话138****1357"
    assert mask_pii(f"身份证{wrong_check(ID_1990)}") == f"身份证110***********{wrong_check(ID_1990)[-4:]}"
    assert mask_pii(f"卡号{break_luhn(CARD16)}") == f"卡号****{break_luhn(CARD16)[-4:]}"
    assert mask_pii("邮箱 zhangsan(at)qq.com") == "邮箱 z***@qq.com"


def test_ordinary_text_is_left_alone():
    for text in ["您好，我是8801号客服小美，请问有什么可以帮您？", "预计3-5个工作日到账", "价格是12999元",
                 "您的订单将于2026-11-25 18:00前发货", "一二三", "支付宝付款100元", "好的，微信支付也可以",
                 "第一二三四条", "亲，双11预售尾款在11月11日0点到24点之间支付", "QQ音乐会员", "look at the photo"]:
        assert mask_pii(text) == text, text


def test_detection_stays_strict():
    """RED-003 fires on what validation accepts, as before: the forms masking adds do not fire."""
    for text, _ in PRIVATE:
        if any(cue in text for cue in ("身份证", "卡号", "银行卡")):
            assert find_pii(text, kinds={"id_card", "bank_card"}) == [], text
    assert find_pii("我电话138.2468.1357") == [] and find_pii("1 3 8 2 4 6 8 1 3 5 7") == []
    assert find_pii("一三八二四六八一三五七") == [] and find_pii("邮箱 zhangsan(at)qq.com") == []
    assert [m.kind for m in find_pii("手机13824681357")] == ["mobile"]  # and what it found, it finds
    assert [m.kind for m in find_pii(f"身份证{ID_1990}")] == ["id_card"]


def test_masking_hides_everything_detection_finds():
    """Every candidate of the detection scan, at any score, lies inside a masked region."""
    for text in TEXTS + generated_texts(2000, seed=11):
        regions = mask_regions(text)
        for kind, start, end, *_ in reference_scan(text, min_score=0.0):
            assert any(a <= start and end <= b for a, b, _ in regions), (text, kind, text[start:end], regions)


def test_fast_masking_equals_the_plain_scan():
    """The packaged registry's fast path (one Aho-Corasick search for cue words, digit chains in
    one alternation) hides exactly what running every mask pattern on every text hides."""
    recs = load_recognizers()
    texts = TEXTS + generated_texts(1500, seed=12) + [p[0] for p in PRIVATE]
    texts += [f"{a}{b}" for a, b in zip(texts[::7], texts[3::7])]
    for text in texts:
        assert mask_regions(text) == mask_regions(text, recognizers=recs), text
    for kinds in ({"mobile"}, {"wechat", "qq"}, set()):
        for text in texts[:300]:
            assert mask_regions(text, kinds) == mask_regions(text, kinds, recognizers=recs), text


def test_one_place_per_kind():
    """Each kind's pattern, cues, validator and mask patterns sit in its registry entry; a mask
    pattern cannot carry a validator (hiding never depends on a checksum)."""
    data = yaml.safe_load(pii.DEFAULT_RECOGNIZERS_PATH.read_text(encoding="utf-8"))
    kinds = {r["id"]: r for r in data["recognizers"]}
    for kind in ("mobile", "landline", "id_card", "bank_card", "email", "qq", "wechat", "account"):
        assert kinds[kind].get("mask_patterns"), kind
    for kind in ("qq", "wechat", "bank_card", "account"):
        assert kinds[kind].get("cues") and any("<<CUES>>" in p["regex"] for p in kinds[kind]["mask_patterns"]), kind
    bad = dict(data)
    bad["recognizers"] = [dict(kinds["mobile"], mask_patterns=[{"name": "x", "regex": "1\\d{10}", "validator": "luhn"}])]
    with pytest.raises(ValueError, match="validator"):
        pii._parse(bad)


def test_masking_speed_path_skips_ordinary_text():
    assert not pii.may_need_masking("您好，请问有什么可以帮您？")
    assert pii.may_need_masking("加我微信吧") and pii.may_need_masking("一三八二四六八一三五七")


# ---------------------------------------------------------------------------- every output and the store
@pytest.fixture(scope="module")
def private_export(tmp_path_factory, sample_rows):
    header, rows = sample_rows
    first = rows[0][0]
    conv = [list(r) for r in rows if r[0] == first]
    out = []
    for k, (text, _) in enumerate(PRIVATE):
        for j, r in enumerate(conv):
            r = list(r)
            r[0] = f"P{k:03d}"
            if j == 1:  # the customer gives it …
                r[4] = f"{r[4]} {text}"
            if j == 2:  # … and the agent repeats it (a RED-003 finding where detection agrees)
                r[4] = f"好的，{text}，已记录"
            out.append(r)
    out.append(["P999", "不是时间 13824681357", "顾客", "shop_小美", "我电话138.2468.1357"])  # a reject
    path = write_rows(tmp_path_factory.mktemp("private") / "private.csv", header, out)
    return path


@pytest.fixture(scope="module")
def private_run(private_export, run_cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("private_run") / "out"
    run = run_cli("score", private_export, "--no-model", outdir=out)
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    return out


_FIGURE = re.compile(r"(?<![\d.])\d{1,4}\.\d{1,2}(?![\d.])")  # a report figure such as 246.8 points


def _leaks(text: str) -> list[str]:
    seen = _visible(_FIGURE.sub(" ", text))
    return [s for _, secrets in PRIVATE for s in secrets if s in seen]


def test_no_output_file_shows_private_data(private_run):
    import duckdb
    import openpyxl

    for name in ("conversations.csv", "findings.csv", "agents.csv", "rejects.csv"):
        with open(private_run / name, encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    assert not _leaks(cell), (name, cell)
    html = (private_run / "report.html").read_text(encoding="utf-8")
    for piece in re.split(r"<[^>]*>", html):
        assert not _leaks(piece), piece[:200]
    wb = openpyxl.load_workbook(private_run / "report.xlsx", read_only=True)
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            for v in row:
                assert not (isinstance(v, str) and _leaks(v)), (ws.title, v)
    con = duckdb.connect(str(private_run / "results.duckdb"), read_only=True)
    try:
        for table, cols in (("messages", ["text"]), ("findings", ["matched_text", "evidence", "explanation"])):
            for row in con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall():
                for v in row:
                    assert not (isinstance(v, str) and _leaks(v)), (table, v)
        n = con.execute("SELECT count(*) FROM messages WHERE text LIKE '%****%'").fetchone()[0]
    finally:
        con.close()
    assert n >= len(PRIVATE)  # (the masked transcripts are there)
    rejects = list(csv.DictReader(open(private_run / "rejects.csv", encoding="utf-8-sig", newline="")))
    assert rejects and "138****1357" in rejects[0]["raw"]


def test_red_line_findings_still_fire_where_validation_agrees(private_run):
    with open(private_run / "findings.csv", encoding="utf-8-sig", newline="") as fh:
        red = {r["conversation_id"] for r in csv.DictReader(fh) if r["rule_id"] == "RED-003"}
    assert f"P{[p[0] for p in PRIVATE].index('138-2468-1357'):03d}" in red
    wrong_id = f"P{[p[0] for p in PRIVATE].index(f'身份证{wrong_check(ID_1990)}'):03d}"
    assert wrong_id not in red  # a wrong check digit is hidden, but is no proven leak


def test_no_mask_shows_the_raw_rejects(private_export, run_cli, tmp_path):
    run = run_cli("score", private_export, "--no-model", "--no-mask", outdir=tmp_path / "out")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    rejects = list(csv.DictReader(open(tmp_path / "out" / "rejects.csv", encoding="utf-8-sig", newline="")))
    assert "138.2468.1357" in rejects[0]["raw"]
    assert json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))["masked"] is False
