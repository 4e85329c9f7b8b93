"""`csqa score` end to end: output files and their contract, run.json counts, bad inputs,
--map, masking, HTML/Excel safety, and the real JD chats (skipped when ../shared is absent)."""
from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_rows

OUTPUT_FILES = {"conversations.csv", "findings.csv", "agents.csv", "rejects.csv", "run.json", "report.html", "report.xlsx",
                "results.duckdb"}
CONVERSATION_CONTRACT = [
    "conversation_id", "agent_id", "agents", "started_at", "ended_at", "n_messages", "score", "passed",
    "critical", "complaint", "complaint_category", "complaint_severity", "resolved", "unhappy_end",
    "first_response_s", "mean_response_s", "n_findings",
]
FINDING_CONTRACT = [
    "conversation_id", "agent_id", "rule_id", "rule_name", "check", "severity", "points", "message_index",
    "timestamp", "span_start", "span_end", "matched_text", "evidence", "explanation",
    "finding_id",  # (issue 17: every finding carries its stable id, last)
]
BOM = b"\xef\xbb\xbf"


PHONE_RUN = re.compile(r"(?<!\d)1\d{10}(?!\d)")


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def assert_clean_error(run, *needles: str) -> str:
    """Exit code 2, exactly one line on stderr containing the needles, no traceback, nothing written."""
    assert run.exit_code == 2, (run.exit_code, run.stdout, run.stderr, run.exception)
    assert isinstance(run.exception, SystemExit), run.exception
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in run.stderr + run.stdout
    if run.outdir is not None:
        assert not (run.outdir / "run.json").exists()
    return lines[0]


# ---------------------------------------------------------------------------- the sample run
def test_sample_run_writes_exactly_the_output_files(sample_run):
    names = {p.name for p in sample_run.outdir.iterdir()}
    assert names == OUTPUT_FILES
    assert not [n for n in names if n.startswith(".csqa-tmp-")]


def test_csvs_start_with_a_utf8_bom(sample_run):
    for name in ("conversations.csv", "findings.csv", "agents.csv", "rejects.csv"):
        assert (sample_run.outdir / name).read_bytes().startswith(BOM), name


def test_contract_columns_in_order(sample_run):
    from csqa.results.columns import CONVERSATION_COLUMNS, FINDING_COLUMNS

    assert CONVERSATION_COLUMNS == CONVERSATION_CONTRACT
    assert FINDING_COLUMNS == FINDING_CONTRACT
    assert list(read_csv(sample_run.outdir / "conversations.csv").columns) == CONVERSATION_CONTRACT
    assert list(read_csv(sample_run.outdir / "findings.csv").columns) == FINDING_CONTRACT


def test_run_json_counts_add_up(sample_run, sample_rows):
    m = sample_run.manifest()
    _, rows = sample_rows
    assert m["rows_read"] == m["rows_scored"] + m["rows_rejected"]
    assert m["rows_read"] == len(rows) == 3374
    assert m["rows_rejected"] == 0
    assert m["conversations"] == len(read_csv(sample_run.outdir / "conversations.csv")) == 383
    assert m["findings"] == len(read_csv(sample_run.outdir / "findings.csv"))
    assert m["masked"] is True


def test_tables_agree_with_each_other(sample_run):
    conv = read_csv(sample_run.outdir / "conversations.csv")
    findings = read_csv(sample_run.outdir / "findings.csv")
    assert conv["conversation_id"].is_unique
    assert set(findings["conversation_id"]) <= set(conv["conversation_id"])
    counts = findings.groupby("conversation_id").size()
    n = conv.set_index("conversation_id")["n_findings"].astype(int)
    assert (counts.reindex(n.index).fillna(0).astype(int) == n).all()
    scores = conv["score"].astype(float)
    assert ((scores >= 0) & (scores <= 100)).all()


def test_summary_line_is_chinese(sample_run):
    out = sample_run.stdout
    assert out.startswith("完成: 383 个会话")
    assert "名客服" in out and "平均分" in out and "合格率" in out and "读取 3374 行" in out
    assert str(sample_run.outdir) in out


def test_rejects_csv_of_a_clean_file_has_only_a_header(sample_run):
    rejects = read_csv(sample_run.outdir / "rejects.csv")
    assert list(rejects.columns) == ["source", "row", "column", "reason", "raw"]
    assert len(rejects) == 0


def test_report_files_are_readable(sample_run):
    import openpyxl

    html = (sample_run.outdir / "report.html").read_text(encoding="utf-8")
    assert html.lstrip().startswith("<!DOCTYPE html>")
    wb = openpyxl.load_workbook(sample_run.outdir / "report.xlsx", read_only=True)
    assert {"总览", "客服排名", "检查项命中", "违规明细", "会话评分"} <= set(wb.sheetnames)
    wb.close()


# ---------------------------------------------------------------------------- tiny exports
HEADER = ["会话ID", "消息时间", "发送方", "客服账号", "消息内容"]


def tiny_rows(cid="T-0001", customer="你好，在吗", agent="您好，我是客服小美，请问有什么可以帮您？"):
    return [
        [cid, "2026-11-02 09:00:00", "顾客", "shop_test", customer],
        [cid, "2026-11-02 09:00:05", "客服", "shop_test", agent],
        [cid, "2026-11-02 09:00:20", "顾客", "shop_test", "好的谢谢"],
        [cid, "2026-11-02 09:00:25", "客服", "shop_test", "感谢您的咨询，祝您生活愉快，再见！"],
    ]


def test_format_json_prints_valid_json(tmp_path, run_cli):
    src = write_rows(tmp_path / "tiny.csv", HEADER, tiny_rows())
    run = run_cli("score", src, "--no-model", "--format", "json", outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    assert data == run.manifest() | {"timings_s": data["timings_s"]}
    assert data["rows_read"] == data["rows_scored"] + data["rows_rejected"] == 4
    assert data["conversations"] == 1


def test_bad_rows_export_gb18030(tmp_path, run_cli, bad_rows_csv, special_cases):
    run = run_cli("score", bad_rows_csv, "--no-model", outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr
    m = run.manifest()
    with open(bad_rows_csv, encoding="gb18030", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert m["inputs"][0]["encoding"].lower().replace("-", "") in {"gb18030", "gbk", "gb2312"}
    assert m["rows_read"] == len(rows) == 30
    assert m["rows_rejected"] == 4
    assert m["rows_scored"] == 26
    assert m["rows_read"] == m["rows_scored"] + m["rows_rejected"]
    assert m["conversations"] == 5
    rejects = read_csv(tmp_path / "out" / "rejects.csv")
    assert sorted(rejects["row"].astype(int)) == sorted(d["line"] for d in special_cases["bad_rows_defects"])
    for _, rej in rejects.iterrows():
        assert rej["column"] in header
        assert rej["column"] in rej["reason"]
    assert "拒收 4 行" in run.stdout


def test_unknown_role_hint_names_a_real_option(tmp_path, run_cli, bad_rows_csv):
    from csqa.cli import score

    """The reject reason tells the user which option fixes it; that option must exist."""
    run = run_cli("score", bad_rows_csv, "--no-model", "-q", outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr
    rejects = read_csv(tmp_path / "out" / "rejects.csv")
    reason = rejects.loc[rejects["column"] == "角色", "reason"].iloc[0]
    options = {o for p in score.params for o in getattr(p, "opts", [])}
    suggested = re.findall(r"(--[a-z][a-z-]*)", reason)
    assert suggested and all(o in options for o in suggested), (suggested, reason)


def test_role_map_accepts_an_unknown_role(tmp_path, run_cli, bad_rows_csv):
    run = run_cli("score", bad_rows_csv, "--no-model", "-q", "--role-map", "机器人X=agent", outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr
    m = run.manifest()
    assert m["rows_rejected"] == 3 and m["rows_scored"] == 27


# ---------------------------------------------------------------------------- bad inputs
def test_missing_path(tmp_path, run_cli):
    path = tmp_path / "does_not_exist.csv"
    assert_clean_error(run_cli("score", path, "--no-model", outdir=tmp_path / "out"), str(path))


def test_random_bytes(tmp_path, run_cli):
    path = tmp_path / "x.csv"
    path.write_bytes(os.urandom(4096))
    assert_clean_error(run_cli("score", path, "--no-model", outdir=tmp_path / "out"), str(path))


def test_empty_file(tmp_path, run_cli):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert_clean_error(run_cli("score", path, "--no-model", outdir=tmp_path / "out"), str(path))


def test_missing_text_column_lists_columns_and_mentions_map(tmp_path, run_cli):
    path = write_rows(tmp_path / "notext.csv", ["会话ID", "消息时间", "发送方", "客服账号"],
                      [["T-1", "2026-11-02 09:00:00", "顾客", ""]])
    line = assert_clean_error(run_cli("score", path, "--no-model", outdir=tmp_path / "out"), str(path), "--map")
    for col in ("会话ID", "消息时间", "发送方", "客服账号"):
        assert col in line


def test_broken_xlsx(tmp_path, run_cli):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04" + os.urandom(2048))
    assert_clean_error(run_cli("score", path, "--no-model", outdir=tmp_path / "out"), str(path))


def test_bad_map_option_is_a_clean_error(tmp_path, run_cli):
    src = write_rows(tmp_path / "tiny.csv", HEADER, tiny_rows())
    assert_clean_error(run_cli("score", src, "--no-model", "--map", "text", outdir=tmp_path / "out"), "--map")


# ---------------------------------------------------------------------------- --map
@pytest.mark.parametrize("text_header", ["聊天内容", "话术正文"])
def test_map_text_column(tmp_path, run_cli, text_header):
    src = write_rows(tmp_path / "mapped.csv", HEADER[:4] + [text_header], tiny_rows())
    run = run_cli("score", src, "--no-model", "-q", "--map", f"text={text_header}", outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr
    m = run.manifest()
    assert m["rows_scored"] == 4 and m["conversations"] == 1
    assert m["options"]["column_map"] == {"text": text_header}


def test_unknown_text_header_without_map_fails_cleanly(tmp_path, run_cli):
    src = write_rows(tmp_path / "unmapped.csv", HEADER[:4] + ["话术正文"], tiny_rows())
    assert_clean_error(run_cli("score", src, "--no-model", outdir=tmp_path / "out"), "话术正文", "--map")


# ---------------------------------------------------------------------------- masking
def test_evidence_is_masked_by_default(sample_run, special_ids):
    findings = read_csv(sample_run.outdir / "findings.csv")
    leak = findings[findings["conversation_id"] == special_ids["redline_leak_1"]]
    assert "privacy_leak" in set(leak["check"])
    for col in ("evidence", "matched_text"):
        assert not leak[col].str.contains(PHONE_RUN).any(), leak[col].tolist()
    # and nowhere else either
    assert not findings["evidence"].str.contains(PHONE_RUN).any()


def test_no_mask_shows_numbers_and_is_recorded(tmp_path, run_cli, sample_rows, special_ids):
    header, rows = sample_rows
    cid = special_ids["redline_leak_1"]
    src = write_rows(tmp_path / "leak.csv", header, [r for r in rows if r[0] == cid])
    run = run_cli("score", src, "--no-model", "-q", "--no-mask", outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr
    assert run.manifest()["masked"] is False
    findings = read_csv(tmp_path / "out" / "findings.csv")
    assert findings["evidence"].str.contains(PHONE_RUN).any()
    assert "未打码" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- HTML / Excel safety
def test_report_escapes_script_and_excel_has_no_formulas(tmp_path, run_cli):
    import openpyxl

    script = "<script>alert(1)</script>"
    rows = [
        ["X-1", "2026-11-02 09:00:00", "顾客", "shop_test", f"你好{script}"],
        ["X-1", "2026-11-02 09:00:05", "客服", "shop_test", "=1+1"],
        ["X-1", "2026-11-02 09:00:10", "客服", "shop_test", f"=1+1😊😊😊😊{script}"],
        ["X-1", "2026-11-02 09:00:15", "顾客", "shop_test", "@SUM(A1)"],
        ["X-1", "2026-11-02 09:00:20", "客服", "shop_test", f"您发的{script}我们看不懂，滚"],
    ]
    src = write_rows(tmp_path / "evil.csv", HEADER, rows)
    out = tmp_path / "out"
    run = run_cli("score", src, "--no-model", "-q", outdir=out)
    assert run.exit_code == 0, run.stderr

    findings = read_csv(out / "findings.csv")
    assert findings["evidence"].str.contains("<script>", regex=False).any()  # the tag reached the report data
    assert findings["evidence"].str.contains("=1+1", regex=False).any()
    for col in ("evidence", "matched_text", "explanation"):
        assert not findings[col].str.startswith(("=", "+", "-", "@")).any(), col

    html = (out / "report.html").read_text(encoding="utf-8")
    assert script not in html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html

    wb = openpyxl.load_workbook(out / "report.xlsx")
    seen_formula_text = False
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    assert not cell.value.startswith("="), (ws.title, cell.coordinate, cell.value)
                    seen_formula_text |= "=1+1" in cell.value
                assert cell.data_type != "f", (ws.title, cell.coordinate)
    assert seen_formula_text


# ---------------------------------------------------------------------------- real data
def test_real_jd_chats_as_gb18030_export(tmp_path, run_cli, shared_data):
    src = shared_data / "jddc2019" / "chat_a.tsv"
    if not src.is_file():
        pytest.skip(f"{src} is absent")
    export = tmp_path / "jd_export.csv"
    n = 0
    sessions = set()
    with open(src, encoding="utf-8", newline="") as fh, open(export, "w", encoding="gb18030", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["会话编号", "发送方", "客服工号", "内容"])
        for session_id, _customer, is_agent, _transfer, _repeat, _sku, text in csv.reader(
            fh, delimiter="\t", quoting=csv.QUOTE_NONE
        ):
            agent = is_agent == "1"
            writer.writerow([session_id, "客服" if agent else "顾客", "jd" if agent else "", text])
            sessions.add(session_id)
            n += 1
        some_id = next(iter(sorted(sessions)))
        writer.writerow([some_id, "顾客", "", ""])  # empty text
        writer.writerow([some_id, "机器人Y", "", "您好"])  # unknown role
        writer.writerow(["", "顾客", "", "你好"])  # missing conversation id

    run = run_cli("score", export, "-q", outdir=tmp_path / "out")
    assert run.exit_code == 0, (run.stderr, run.exception)
    m = run.manifest()
    assert m["conversations"] == len(sessions) == 966
    assert m["rows_rejected"] == 3
    assert m["rows_read"] == m["rows_scored"] + m["rows_rejected"] == n + 3
    rejects = read_csv(tmp_path / "out" / "rejects.csv")
    assert set(rejects["column"]) == {"内容", "发送方", "会话编号"}
    conv = read_csv(tmp_path / "out" / "conversations.csv")
    assert len(conv) == 966
    assert set(conv["agent_id"]) == {"jd"}
    assert conv["first_response_s"].eq("").all()  # no timestamps → timing N/A


def test_a_closed_output_pipe_ends_quietly_with_the_sigpipe_status():
    """`csqa rules list | head -1`: the reader goes away; csqa says nothing on stderr and exits 141."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "csqa", "rules", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before csqa writes (as after `head -1` has its line): deterministic
    err = proc.stderr.read().decode("utf-8")
    assert proc.wait(timeout=60) == 141, err
    assert err == ""
