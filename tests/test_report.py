"""report.html and report.xlsx: honest statistics (Wilson, n everywhere, 样本少), transcripts with
highlights in the right place, masking everywhere, escaping and no Excel formulas from chat text.

The browser checks (rendering, sorting, drill-down, no script runs) are in test_browser.py.
"""
from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest


def write_rows(path: Path, header, rows) -> Path:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path

HEADER = ["会话ID", "消息时间", "发送方", "客服账号", "消息内容"]
SHEETS = ["总览", "客服排名", "检查项命中", "违规明细", "会话评分", "投诉分析"]
PHONE, ID_CARD, BANK_CARD, EMAIL = "13812345678", "11010519491231002X", "6222600260001072444", "zhangsan@example.com"
SCRIPT, IMG = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"
HYPERLINK = '=HYPERLINK("a.cn")'  # short: evidence keeps 20 characters before the span


def evil_rows(cid: str = "EVIL-1", day: str = "2026-11-02") -> list[list[str]]:
    """A conversation whose customer writes markup, a formula and personal data, and whose agent
    leaks a bank card number before swearing (so masking shifts the later highlight)."""
    return [
        [cid, f"{day} 09:00:00", "顾客", "shop_evil", f"你好{SCRIPT}"],
        [cid, f"{day} 09:00:05", "客服", "shop_evil", "您好，我是客服小美，请问有什么可以帮您？"],
        [cid, f"{day} 09:00:20", "顾客", "shop_evil", f"{IMG}快递一个星期还没到，我的手机{PHONE}"],
        [cid, f"{day} 09:00:30", "顾客", "shop_evil", f"身份证号{ID_CARD}，邮箱 {EMAIL}"],
        [cid, f"{day} 09:00:40", "顾客", "shop_evil", HYPERLINK],
        [cid, f"{day} 09:00:45", "客服", "shop_evil", HYPERLINK + "滚"],
        [cid, f"{day} 09:00:50", "客服", "shop_evil", f"您的卡号{BANK_CARD}已登记，滚"],
        [cid, f"{day} 09:01:10", "顾客", "shop_evil", "@SUM(A1) +1 -1"],
        [cid, f"{day} 09:01:20", "客服", "shop_evil", "感谢您的咨询，祝您生活愉快，再见！"],
    ]


def all_xlsx_cells(path: Path):
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                yield ws.title, cell


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory, run_cli):
    tmp = tmp_path_factory.mktemp("evil")
    src = write_rows(tmp / "evil.csv", HEADER, evil_rows())
    run = run_cli("score", src, "-q", outdir=tmp / "out")
    assert run.exit_code == 0, (run.stderr, run.exception)
    return run


@pytest.fixture(scope="module")
def evil_run_unmasked(tmp_path_factory, run_cli):
    tmp = tmp_path_factory.mktemp("evil_nomask")
    src = write_rows(tmp / "evil.csv", HEADER, evil_rows())
    run = run_cli("score", src, "-q", "--no-model", "--no-mask", outdir=tmp / "out")
    assert run.exit_code == 0, (run.stderr, run.exception)
    return run


# ---------------------------------------------------------------------------- Wilson
def test_wilson_interval_known_values():
    from csqa.results.stats import wilson_interval, wilson_lower

    # textbook values (Newcombe 1998; Agresti & Coull 1998)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == 1.0
    lo, hi = wilson_interval(81, 263)
    assert lo == pytest.approx(0.2553, abs=1e-4) and hi == pytest.approx(0.3662, abs=1e-4)
    assert wilson_interval(0, 0) is None and wilson_lower(0, 0) is None
    # few conversations pull the bound down: 3/3 ranks below 45/50
    assert wilson_lower(3, 3) < wilson_lower(45, 50) < 45 / 50
    with pytest.raises(ValueError):
        wilson_interval(4, 3)


def _synthetic(agent_counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    rows = []
    for agent, (passed, n) in agent_counts.items():
        for i in range(n):
            ok = i < passed
            rows.append({"conversation_id": f"{agent}-{i:03d}", "agent_id": agent, "agents": agent,
                         "started_at": f"2026-11-{1 + i % 20:02d} 10:00:00", "ended_at": f"2026-11-{1 + i % 20:02d} 10:05:00",
                         "n_messages": 4, "score": 90.0 if ok else 50.0, "passed": ok, "critical": False,
                         "complaint": False, "complaint_category": "none", "complaint_severity": "none",
                         "first_response_s": 10.0, "mean_response_s": 20.0, "n_findings": 0 if ok else 1})
    return pd.DataFrame(rows)


def _findings_for(conv: pd.DataFrame) -> pd.DataFrame:
    failed = conv[~conv["passed"]]
    return pd.DataFrame({
        "conversation_id": failed["conversation_id"], "agent_id": failed["agent_id"], "rule_id": "UND-001",
        "rule_name": "复述确认问题", "check": "confirmation", "severity": "minor", "points": 50.0,
        "message_index": pd.array([pd.NA] * len(failed), dtype="Int64"), "timestamp": "",
        "span_start": pd.array([pd.NA] * len(failed), dtype="Int64"),
        "span_end": pd.array([pd.NA] * len(failed), dtype="Int64"), "matched_text": "", "evidence": "",
        "explanation": "未复述确认"})


def test_ranking_uses_the_wilson_lower_bound_and_marks_small_samples():
    from csqa.outputs.report import build

    conv = _synthetic({"lucky_3of3": (3, 3), "steady_45of50": (45, 50), "weak_10of30": (10, 30)})
    html, sheets = build(conv, _findings_for(conv), None, None, {"generated_at": "now", "masked": True})
    rank = sheets["客服排名"]
    assert rank["agent_id"].tolist() == ["steady_45of50", "lucky_3of3", "weak_10of30"]  # raw rate would put lucky first
    lucky = rank.set_index("agent_id").loc["lucky_3of3"]
    assert lucky["small_sample"] == "是" and lucky["pass_rate"] == 1.0
    assert lucky["pass_rate_low95"] == pytest.approx(0.4385, abs=1e-3)
    assert rank.set_index("agent_id").loc["steady_45of50", "small_sample"] == "否"
    # the page shows it too: rank order, the badge, and each rate with its n
    table = html[html.index('id="ranking-table"'):]
    assert table.index("steady_45of50") < table.index("lucky_3of3") < table.index("weak_10of30")
    assert "样本少" in html and "100% (3/3)" in html and "90% (45/50)" in html and "33% (10/30)" in html
    # per check: rate with n
    checks = sheets["检查项命中"].iloc[0]
    assert (checks["hit_conversations"], checks["n"]) == (25, 83)
    assert "30% (25/83)" in html


def test_agents_csv_has_wilson_and_small_sample(sample_run):
    agents = pd.read_csv(sample_run.outdir / "agents.csv", encoding="utf-8-sig")
    assert {"pass_rate_low95", "small_sample"} <= set(agents.columns)
    assert (agents["pass_rate_low95"] <= agents["pass_rate"] + 1e-9).all()
    assert agents.loc[agents["conversations"] < 20, "small_sample"].all()
    assert not agents.loc[agents["conversations"] >= 20, "small_sample"].any()


# ---------------------------------------------------------------------------- transcripts
def test_messages_table_matches_build_conversations(sample_messages, check_segmenter):
    """message_index in the transcript frame is the index findings carry."""
    from csqa.text.conversations import build_conversations
    from csqa.results.transcripts import messages_table

    table = messages_table(sample_messages)
    expected = [(c.id, m.index, m.role, m.agent_id, m.timestamp, m.text)
                for c in build_conversations(sample_messages, check_segmenter) for m in c.messages]
    assert list(table.itertuples(index=False, name=None)) == expected


def test_mask_with_offsets_equals_mask_pii_and_maps_spans():
    from csqa.checks.pii import mask_pii
    from csqa.results.transcripts import mask_with_offsets

    text = f"卡号{BANK_CARD}，邮箱{EMAIL}，地址北京市朝阳区建国路88号，滚"
    masked, omap = mask_with_offsets(text)
    assert masked == mask_pii(text)
    s = text.index("滚")
    assert masked[omap.start(s):omap.end(s + 1)] == "滚"
    # a span inside personal data grows to the whole masked value, never shows a digit of it
    inside = text.index(BANK_CARD) + 3
    assert masked[omap.start(inside):omap.end(inside + 4)] == "****2444"
    assert mask_with_offsets("没有个人信息")[0] == "没有个人信息"


def test_highlight_escapes_every_piece():
    from csqa.outputs.report.highlight import Mark, highlight_html

    from markupsafe import escape

    text = f"{IMG}你好{SCRIPT}滚"
    html = str(highlight_html(text, [Mark(text.index("滚"), len(text), "1", '<b onmouseover="x">'),
                                     Mark(0, 5, "2", "t"), Mark(3, 12, "3", "overlap")]))
    assert "<img" not in html and "<script" not in html and "<b " not in html
    text_only = re.sub(r"<sup[^>]*>[^<]*</sup>|<mark[^>]*>|</mark>", "", html)
    assert text_only == str(escape(text))  # every character present once, escaped
    assert re.search(r'<mark class="hl" title="[^"]*&lt;b onmouseover=&#34;x&#34;&gt;">滚</mark>', html)


# ---------------------------------------------------------------------------- the sample report
def test_sample_report_answers_who_needs_coaching_on_what(sample_run):
    html = (sample_run.outdir / "report.html").read_text(encoding="utf-8")
    agents = pd.read_csv(sample_run.outdir / "agents.csv", encoding="utf-8-sig")
    for section in ("团队总览", "辅导重点", "客服排名", "客服详情", "会话明细", "得分分布", "最常不合格的检查项",
                    "投诉构成与严重度", "首次响应时间", "平均回复时间", "按日趋势", "红线会话"):
        assert section in html, section
    for name in ("非投诉", "商品质量", "物流配送", "服务态度", "支付退款", "系统故障", "价格促销", "其他"):
        assert name in html
    for agent in agents["agent_id"]:
        assert html.count(agent) >= 3, agent  # ranking, heatmap, own section
    assert html.count('<section class="block agent"') == len(agents)
    assert "<svg" in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html  # self-contained: nothing to fetch
    small = agents.loc[agents["conversations"] < 20, "agent_id"]
    assert len(small) and "样本少" in html


def test_sample_drilldown_ledgers_add_up_and_highlights_sit_on_the_evidence(sample_run):
    html = (sample_run.outdir / "report.html").read_text(encoding="utf-8")
    n_conv = html.count('<details class="conv"')
    assert n_conv >= 14 * 5
    assert html.count("账目相符") == n_conv and "账目不符" not in html
    conv = pd.read_csv(sample_run.outdir / "conversations.csv", encoding="utf-8-sig", dtype={"conversation_id": str})
    for cid in conv.loc[conv["critical"], "conversation_id"]:  # every red line is in the drill-down
        assert f"<summary>{cid} ·" in html
    marks = re.findall(r'<mark class="hl[^"]*" title="[^"]*">([^<]*)</mark>', html)
    assert len(marks) >= 15
    findings = pd.read_csv(sample_run.outdir / "findings.csv", encoding="utf-8-sig", keep_default_na=False)
    matched = set(findings["matched_text"])
    assert sum(m in matched or any(m in x for x in matched) for m in marks) == len(marks)


def test_sample_xlsx_sheets_headers_numbers_and_no_formulas(sample_run):
    wb = openpyxl.load_workbook(sample_run.outdir / "report.xlsx")
    assert wb.sheetnames[:6] == SHEETS
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref, ws.title
        assert all(isinstance(c.value, str) for c in ws[1] if c.value is not None)
        assert not any(re.fullmatch(r"[a-z]+_[a-z_]+", str(c.value)) for c in ws[1]), "untranslated header in " + ws.title
        assert ws.column_dimensions["A"].width >= 6
    def column(ws, header):
        heads = [c.value for c in ws[1]]
        j = heads.index(header)
        return [row[j] for row in ws.iter_rows(min_row=2, values_only=True)]

    for sheet, header in (("会话评分", "得分"), ("会话评分", "消息数"), ("客服排名", "合格率"), ("客服排名", "合格率95%下限"),
                          ("客服排名", "会话数"), ("检查项命中", "命中率"), ("检查项命中", "n"), ("违规明细", "扣分"),
                          ("投诉分析", "占比")):
        values = [v for v in column(wb[sheet], header) if v is not None]
        assert values and all(isinstance(v, (int, float)) for v in values), (sheet, header, values[:5])
    assert wb["客服排名"]["F2"].number_format == "0.0%"
    starts = [v for v in column(wb["会话评分"], "开始时间") if v is not None]
    assert starts and all(hasattr(v, "year") for v in starts)  # real date-times
    overview = {row[0]: row[1] for row in wb["总览"].iter_rows(min_row=2, values_only=True)}
    assert overview["会话数"] == 383 and isinstance(overview["合格率"], float)
    for title, cell in all_xlsx_cells(sample_run.outdir / "report.xlsx"):
        assert cell.data_type != "f", (title, cell.coordinate)


def test_findings_evidence_is_rebuilt_from_the_masked_text(sample_run):
    findings = pd.read_csv(sample_run.outdir / "findings.csv", encoding="utf-8-sig", keep_default_na=False)
    has_span = findings[findings["span_start"] != ""]
    assert len(has_span) >= 15
    for m, ev in zip(has_span["matched_text"], has_span["evidence"]):
        assert m.lstrip("'") in ev
    assert not findings["evidence"].str.contains(r"(?<!\d)1[3-9]\d{9}(?!\d)").any()
    assert not findings["explanation"].str.contains("vx12345").any()  # off-platform ids masked in explanations too


# ---------------------------------------------------------------------------- safety
def test_evil_text_is_escaped_in_html(evil_run):
    html = (evil_run.outdir / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert re.search(r"<mark[^>]*>滚</mark>", html)  # highlight still on the word after the masked card number


@pytest.mark.parametrize("secret", [PHONE, ID_CARD, BANK_CARD, EMAIL])
def test_personal_data_is_masked_in_every_output(evil_run, secret):
    out = evil_run.outdir
    assert secret not in (out / "report.html").read_text(encoding="utf-8")
    assert secret not in (out / "findings.csv").read_text(encoding="utf-8-sig")
    for title, cell in all_xlsx_cells(out / "report.xlsx"):
        assert secret not in str(cell.value or ""), (title, cell.coordinate)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "138****5678" in html and "****2444" in html and "110***********002X" in html


def test_formula_text_never_becomes_a_formula(evil_run):
    seen = set()
    for title, cell in all_xlsx_cells(evil_run.outdir / "report.xlsx"):
        assert cell.data_type != "f", (title, cell.coordinate, cell.value)
        if isinstance(cell.value, str):
            assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r")), (title, cell.coordinate, cell.value)
            if "HYPERLINK" in cell.value:
                seen.add(title)
                assert cell.value.startswith(("'=HYPERLINK", "…")) or not cell.value.startswith("="), cell.value
    assert "违规明细" in seen  # the agent's =HYPERLINK… message is evidence of a finding
    findings = pd.read_csv(evil_run.outdir / "findings.csv", encoding="utf-8-sig", keep_default_na=False)
    assert findings["evidence"].str.startswith("'=HYPERLINK").any()
    for col in ("matched_text", "evidence", "explanation"):
        assert not findings[col].str.startswith(("=", "+", "-", "@")).any(), col
    # the HYPERLINK message itself is only in transcripts (html), where it is inert text
    assert "=HYPERLINK(&#34;a.cn&#34;)" in (evil_run.outdir / "report.html").read_text(encoding="utf-8")


def test_no_mask_shows_personal_data_and_says_so(evil_run_unmasked):
    out = evil_run_unmasked.outdir
    assert evil_run_unmasked.manifest()["masked"] is False
    html = (out / "report.html").read_text(encoding="utf-8")
    assert PHONE in html and BANK_CARD in html and "未打码" in html
    assert BANK_CARD in (out / "findings.csv").read_text(encoding="utf-8-sig")
    assert "<script" not in html.lower()  # --no-mask never means unescaped


def test_transcripts_masked_elsewhere_still_get_the_right_highlight():
    """An engine may hand over transcripts masked by mask_pii without an offset map: the
    highlight is moved to the evidence (the card number shrank by 11 characters before it)."""
    from csqa.checks.pii import mask_pii
    from csqa.results.transcripts import prepare_transcripts

    original = f"您的卡号{BANK_CARD}已登记，滚"
    messages = pd.DataFrame({"conversation_id": ["C"], "message_index": [0], "role": ["agent"], "agent_id": ["a"],
                             "timestamp": [""], "text": [mask_pii(original)]})
    s = original.index("滚")
    findings = pd.DataFrame({"conversation_id": ["C"], "message_index": pd.array([0], dtype="Int64"),
                             "span_start": pd.array([s], dtype="Int64"), "span_end": pd.array([s + 1], dtype="Int64"),
                             "matched_text": ["滚"], "evidence": ["…"], "explanation": ["红线 — 不文明用语: 「滚」"]})
    msgs, fnd = prepare_transcripts(messages, findings, mask=True)
    text = msgs["text"].iat[0]
    assert text[fnd["hl_start"].iat[0]:fnd["hl_end"].iat[0]] == "滚"
    assert fnd["evidence"].iat[0] == text and BANK_CARD not in text


def test_xlsx_sheets_past_their_caps_keep_the_worst_conversations_and_say_so():
    from csqa.outputs.report import build
    from csqa.outputs.report.options import ReportOptions

    conv = _synthetic({"shop_a": (30, 60), "shop_b": (10, 40)})
    conv.loc[conv["agent_id"] == "shop_b", "score"] -= 5  # shop_b's failures are the worst conversations
    fnd = _findings_for(conv)
    assert len(fnd) == 60
    options = ReportOptions(xlsx_max_findings=25, xlsx_max_conversations=70)
    html, sheets = build(conv, fnd, None, None, {"generated_at": "now", "masked": True}, options)
    detail, convs, overview = sheets["违规明细"], sheets["会话评分"], sheets["总览"]
    worst = conv.sort_values(["score", "conversation_id"])
    expected_ids = [c for c in worst["conversation_id"] if c in set(fnd["conversation_id"])][:25]
    assert sorted(detail["conversation_id"]) == sorted(expected_ids)
    assert set(detail["agent_id"]) == {"shop_b"}
    assert len(convs) == 70 and convs["conversation_id"].tolist() == worst["conversation_id"].head(70).tolist()
    notes = overview.set_index("item")
    assert notes.at["违规明细 (本表)", "value"] == 25 and notes.at["违规明细 (本表)", "n"] == 60
    assert notes.at["会话评分 (本表)", "value"] == 70 and notes.at["会话评分 (本表)", "n"] == 100
    assert "findings.csv" in notes.at["违规明细 (本表)", "note"]
    # the HTML figures still count every conversation and finding
    assert "n=100" in html
    # under the caps: every row, no note
    _, full = build(conv, fnd, None, None, {"generated_at": "now", "masked": True})
    assert len(full["违规明细"]) == 60 and len(full["会话评分"]) == 100
    assert "违规明细 (本表)" not in set(full["总览"]["item"])
