"""Sampling (`csqa sample`) and verdicts in Excel (`csqa review import`), issue 17 parts 2 and 3,
against a real store: the queue workbook edited with openpyxl as a reviewer would, bad rows
reported with their row number and nothing half-applied."""
from __future__ import annotations

import math

import openpyxl
import pandas as pd
import pytest

from review_fixtures import q, qdf, scored, store  # noqa: F401 - fixtures

from csqa.review.sampling import SampleOptions, parse_reviewers, plan_sample


def _assignments(store):
    return qdf(store, "SELECT conversation_id, reviewer, reason, calibration FROM review_assignments ORDER BY event_id")


def test_sample_takes_every_red_line_and_serious_complaint_plus_a_share_per_agent_and_week(store, run_cli, tmp_path):
    run = run_cli("sample", "--store", store, "-o", tmp_path / "queue.xlsx", "--rate", "0.1", "--seed", "42")
    assert run.exit_code == 0, run.stderr
    got = _assignments(store)
    conv = qdf(store, "SELECT conversation_id, agent_id, started_at, critical, complaint_severity FROM conversations")
    red = set(conv.loc[conv["critical"], "conversation_id"])
    serious = set(conv.loc[~conv["critical"] & conv["complaint_severity"].eq("serious"), "conversation_id"])
    assert red and serious
    reasons = dict(zip(got["conversation_id"], got["reason"]))
    assert {c for c, r in reasons.items() if r == "red_line"} == red
    assert {c for c, r in reasons.items() if r == "serious_complaint"} == serious
    # the random share: ceil(10 %) of each agent's other conversations in each ISO week
    rest = conv[~conv["conversation_id"].isin(red | serious)].copy()
    rest["week"] = pd.to_datetime(rest["started_at"]).dt.strftime("%G-W%V")
    drawn = rest[rest["conversation_id"].map(reasons).eq("random")]
    for (agent, week), group in rest.groupby(["agent_id", "week"]):
        n = len(drawn[(drawn["agent_id"] == agent) & (drawn["week"] == week)])
        assert n == math.ceil(0.1 * len(group) - 1e-9), (agent, week)
    assert got["conversation_id"].is_unique  # (no calibration: each conversation once)
    assert (tmp_path / "queue.xlsx").is_file()


def test_the_same_seed_gives_the_same_queue_and_nothing_is_queued_twice(scored, tmp_path):
    conv = qdf(scored.store, "SELECT conversation_id, agent_id, strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started_at, "
                             "critical, complaint_severity, n_findings FROM conversations")
    options = SampleOptions(rate=0.05, min_per_agent=2, reviewers=parse_reviewers("a,b,c"), calibration=3, seed="7")
    first = plan_sample(conv, set(), options)
    shuffled = plan_sample(conv.sample(frac=1, random_state=1), set(), options)
    assert [vars(a) for a in first.assignments] == [vars(a) for a in shuffled.assignments]
    other_seed = plan_sample(conv, set(), SampleOptions(**{**vars(options), "seed": "8"}))
    assert {a.conversation_id for a in other_seed.assignments} != {a.conversation_id for a in first.assignments}
    # every agent at least twice; calibration conversations to every reviewer; the rest shared out evenly
    queued = conv[conv["conversation_id"].isin({a.conversation_id for a in first.assignments})]
    assert queued.groupby("agent_id").size().min() >= 2 and queued["agent_id"].nunique() == conv["agent_id"].nunique()
    calibration = [a for a in first.assignments if a.calibration]
    assert len(calibration) == 9 and {a.reviewer for a in calibration} == {"a", "b", "c"}
    per = pd.Series([a.reviewer for a in first.assignments if not a.calibration]).value_counts()
    assert per.max() - per.min() <= 1
    # a second sample leaves out what the first queued (calibration included)
    again = plan_sample(conv, {a.conversation_id for a in first.assignments}, options)
    assert not {a.conversation_id for a in again.assignments} & {a.conversation_id for a in first.assignments}


def test_quotas_cap_each_reviewer_and_say_what_did_not_fit(store, run_cli, tmp_path):
    run = run_cli("sample", "--store", store, "-o", tmp_path / "q.xlsx", "--rate", "0.2", "--reviewers", "小王:5,小李:3")
    assert run.exit_code == 0, run.stderr
    per = _assignments(store)["reviewer"].value_counts().to_dict()
    assert per == {"小王": 5, "小李": 3}
    assert "超出配额未入队" in run.stdout
    assert (tmp_path / "q-小王.xlsx").is_file() and (tmp_path / "q-小李.xlsx").is_file()
    bad = run_cli("sample", "--store", store, "-o", tmp_path / "q2.xlsx", "--reviewers", "a:5,b")
    assert bad.exit_code == 2 and "配额" in bad.stderr


def _sheet(path, title):
    wb = openpyxl.load_workbook(path)
    ws = wb[title]
    header = [c.value for c in ws[1]]
    return wb, ws, header


def _col(header, key):
    return next(i for i, h in enumerate(header, start=1) if h and key in str(h))


def test_workbook_round_trip_edited_with_openpyxl(store, run_cli, tmp_path):
    queue = tmp_path / "queue.xlsx"
    assert run_cli("sample", "--store", store, "-o", queue, "--rate", "0.05", "--seed", "1").exit_code == 0
    wb, ws, header = _sheet(queue, "待审")
    assert wb.sheetnames[:4] == ["待审", "漏检", "会话", "说明"]
    # a drop-down 正确 / 误报 on the verdict column
    rules = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert any("正确" in (dv.formula1 or "") and "误报" in (dv.formula1 or "") for dv in rules)
    fid_col, verdict_col, comment_col = _col(header, "finding_id"), _col(header, "verdict"), _col(header, "comment")
    decided = {}
    for row in range(2, ws.max_row + 1):
        fid = ws.cell(row, fid_col).value
        if fid:
            verdict = "误报" if len(decided) % 4 == 0 else "正确"
            ws.cell(row, verdict_col).value = verdict
            decided[fid] = "false_positive" if verdict == "误报" else "correct"
    ws.cell(2, comment_col).value = "=HYPERLINK(\"http://x\")  手机 13812345678"
    # a missed finding on a customer-free rule: the first queued conversation's first agent message
    cid = ws.cell(2, _col(header, "conversation_id")).value
    agent_msg = q(store, "SELECT min(message_index) FROM messages WHERE conversation_id = ? AND role = 'agent'", [cid])[0][0]
    machine = {r[0] for r in q(store, "SELECT rule_id FROM findings WHERE conversation_id = ? AND message_index = ?",
                                [cid, agent_msg])}
    rule = next(r for r in ("RED-001", "RED-002", "RED-006") if r not in machine)
    wm = wb["漏检"]
    mh = [c.value for c in wm[1]]
    wm.cell(2, _col(mh, "conversation_id")).value = cid
    wm.cell(2, _col(mh, "rule_id")).value = rule
    wm.cell(2, _col(mh, "message_index")).value = agent_msg
    wb.save(tmp_path / "done.xlsx")

    run = run_cli("review", "import", tmp_path / "done.xlsx", "--store", store, "--reviewer", "小王")
    assert run.exit_code == 0, run.stderr
    got = dict(q(store, "SELECT finding_id, verdict FROM review_verdicts WHERE verdict <> 'missed'"))
    assert got == decided
    (missed,) = q(store, "SELECT conversation_id, rule_id, message_index, reviewer FROM review_verdicts WHERE verdict = 'missed'")
    assert missed == (cid, rule, agent_msg, "小王")
    (comment,) = q(store, "SELECT comment FROM review_verdicts WHERE comment <> ''")[0]
    assert comment.startswith("=HYPERLINK") and "13812345678" not in comment  # kept as text, masked
    # a missed red line fails the conversation for people, whatever the machine said
    (human,) = q(store, "SELECT human_score, human_passed, critical FROM review_current_human_scores WHERE conversation_id = ?", [cid])
    assert human[1] is False and human[2] is True
    # importing the same file again records nothing new
    again = run_cli("review", "import", tmp_path / "done.xlsx", "--store", store, "--reviewer", "小王")
    assert again.exit_code == 0 and "已导入 0 条" in again.stdout
    assert q(store, "SELECT count(*) FROM review_verdicts")[0][0] == len(decided) + 1


def test_bad_rows_are_reported_with_row_and_reason_and_nothing_is_applied(store, run_cli, tmp_path):
    queue = tmp_path / "queue.xlsx"
    assert run_cli("sample", "--store", store, "-o", queue, "--rate", "0.05").exit_code == 0
    wb, ws, header = _sheet(queue, "待审")
    fid_col, verdict_col = _col(header, "finding_id"), _col(header, "verdict")
    rows = [r for r in range(2, ws.max_row + 1) if ws.cell(r, fid_col).value]
    for r in rows:
        ws.cell(r, verdict_col).value = "正确"
    ws.cell(rows[2], verdict_col).value = "也许"  # not a verdict
    ws.cell(rows[4], fid_col).value = "0123456789abcdef0123"  # no such finding
    wm = wb["漏检"]
    mh = [c.value for c in wm[1]]
    wm.cell(3, _col(mh, "conversation_id")).value = ws.cell(rows[0], _col(header, "conversation_id")).value
    wm.cell(3, _col(mh, "rule_id")).value = "RED-001"
    wm.cell(3, _col(mh, "message_index")).value = 9999  # no such message
    wb.save(tmp_path / "bad.xlsx")
    run = run_cli("review", "import", tmp_path / "bad.xlsx", "--store", store, "--reviewer", "a")
    assert run.exit_code == 2 and "Traceback" not in run.stderr
    assert f"工作表「待审」第 {rows[2]} 行 verdict" in run.stderr and "也许" in run.stderr
    assert f"工作表「待审」第 {rows[4]} 行 finding_id" in run.stderr
    assert "工作表「漏检」第 3 行 message_index" in run.stderr and "9999" in run.stderr
    assert "3 行无法导入" in run.stderr
    assert q(store, "SELECT count(*) FROM review_verdicts")[0][0] == 0
    assert q(store, "SELECT count(*) FROM review_human_scores")[0][0] == 0


def test_csv_verdicts_in_english_or_chinese_and_withdrawing(store, run_cli, tmp_path, scored):
    fids = [r[0] for r in q(store, "SELECT finding_id FROM findings ORDER BY conversation_id, finding_index LIMIT 3")]
    csv = tmp_path / "v.csv"
    csv.write_text("finding_id,verdict,comment\n"
                   f"{fids[0]},correct,\n{fids[1]},误报,不该扣\n{fids[2]},false_positive,\n", encoding="utf-8-sig")
    assert run_cli("review", "import", csv, "--store", store, "--reviewer", "b").exit_code == 0
    csv.write_text(f"finding_id,verdict\n{fids[1]},撤回\n", encoding="gb18030")
    assert run_cli("review", "import", csv, "--store", store, "--reviewer", "b").exit_code == 0
    current = dict(q(store, "SELECT finding_id, verdict FROM review_reviewer_verdicts"))
    assert current == {fids[0]: "correct", fids[2]: "false_positive"}
    # every verdict stays in the table (append-only): four rows, the withdrawal naming what it replaced
    rows = q(store, "SELECT finding_id, verdict, previous_verdict FROM review_verdicts ORDER BY event_id")
    assert rows[-1] == (fids[1], "withdrawn", "false_positive") and len(rows) == 4
    missing = tmp_path / "m.csv"
    missing.write_text("finding_id,comment\nx,y\n", encoding="utf-8")
    run = run_cli("review", "import", missing, "--store", store, "--reviewer", "b")
    assert run.exit_code == 2 and "verdict" in run.stderr


def test_queue_cells_are_text_never_formulas(store, run_cli, tmp_path):
    import duckdb

    con = duckdb.connect(str(store))  # a chat line that reads as a formula in the transcript
    con.execute("UPDATE messages_rows SET text = '=cmd|'' /c calc''!A1' WHERE message_index = 0 AND conversation_id IN "
                "(SELECT conversation_id FROM conversations WHERE critical)")
    con.close()
    queue = tmp_path / "queue.xlsx"
    assert run_cli("sample", "--store", store, "-o", queue, "--rate", "0").exit_code == 0
    wb = openpyxl.load_workbook(queue)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert any(isinstance(c.value, str) and c.value.startswith("'=cmd") for c in cells)
