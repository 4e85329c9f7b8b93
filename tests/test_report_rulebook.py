"""Reports follow the rulebook that scored the run: its pass mark, time limits and scorecard, named in them."""
from __future__ import annotations

import json
import re

import openpyxl

from csqa.rulebook.loader import DEFAULT_RULEBOOK


def _shop_rulebook(tmp_path):
    text = DEFAULT_RULEBOOK.read_text(encoding="utf-8")
    text = re.sub(r"\n  pass_mark: [0-9.]+", "\n  pass_mark: 60", text, count=1)
    text = text.replace("timing: {first_response_s: 30}", "timing: {first_response_s: 45}")
    text = re.sub(r"\nid: [^\n]+", "\nid: shop-rules", text, count=1)
    path = tmp_path / "shop.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _overview(xlsx) -> dict:
    ws = openpyxl.load_workbook(xlsx, read_only=True)["总览"]
    return {row[0]: row[1] for row in ws.iter_rows(values_only=True) if row and row[0]}


def test_score_and_store_reports_use_the_rulebooks_pass_mark_and_limits(run_cli, sample_csv, tmp_path):
    book = _shop_rulebook(tmp_path)
    out = tmp_path / "out"
    run = run_cli("score", sample_csv, "--rulebook", book, outdir=out)
    assert run.exit_code == 0, run.stderr
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["rulebook"]["pass_mark"] == 60 and manifest["rulebook"]["first_response_limit_s"] == 45
    conv = __import__("pandas").read_csv(out / "conversations.csv", encoding="utf-8-sig")
    assert ((conv.score >= 60) & ~conv.critical == conv.passed).all()  # the scoring used it …
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "合格线 60" in html and "合格线 80" not in html and "合格线 75" not in html  # … and so does the report
    assert "&gt; 45秒" in html and "shop-rules" in html
    overview = _overview(out / "report.xlsx")
    assert overview["合格线"] == 60 and "解决与满意" in overview["评分维度 (满分 100)"]
    rebuilt = tmp_path / "rebuilt"
    run = run_cli("report", "--store", out / "results.duckdb", outdir=rebuilt)
    assert run.exit_code == 0, run.stderr
    html = (rebuilt / "report.html").read_text(encoding="utf-8")
    assert "合格线 60" in html and "&gt; 45秒" in html and "shop-rules" in html


def test_conversations_csv_and_agents_carry_the_outcome(run_cli, sample_csv, tmp_path):
    import pandas as pd

    out = tmp_path / "out"
    assert run_cli("score", sample_csv, outdir=out).exit_code == 0
    conv = pd.read_csv(out / "conversations.csv", encoding="utf-8-sig")
    findings = pd.read_csv(out / "findings.csv", encoding="utf-8-sig")
    outcome = findings[findings.rule_id.isin(["OUT-001", "OUT-002", "OUT-003"])].conversation_id.unique()
    # resolved: none of the answer / reaction / open-request findings (OUT-004 is only "not confirmed")
    assert set(conv[~conv.resolved.astype(bool)].conversation_id) == set(outcome)
    unhappy = set(findings[findings.rule_id == "OUT-002"].conversation_id)
    assert set(conv[conv.unhappy_end.astype(bool)].conversation_id) == unhappy
    agents = pd.read_csv(out / "agents.csv", encoding="utf-8-sig")
    for a, g in conv.groupby("agent_id"):
        row = agents[agents.agent_id == a].iloc[0]
        assert abs(row.resolution_rate - g.resolved.astype(bool).mean()) < 1e-3
        assert abs(row.unhappy_rate - g.unhappy_end.astype(bool).mean()) < 1e-3
    assert "一次解决率" in (out / "report.html").read_text(encoding="utf-8")
