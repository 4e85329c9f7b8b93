"""The DuckDB results store: a real file written by `csqa score --store`, read back by `csqa report`.

Batches are cut from the bundled sample: A (every 6th conversation, 10 days), B (the same
shifted three weeks later under new ids, so the store spans > 14 days), A again (same input
file: replaces), and A-subset (another file repeating 10 of A's conversation ids: replaces).
"""
from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

PHONE, ID_CARD = "13812345678", "11010519491231002X"
PHONE_RUN = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def write_rows(path: Path, header, rows) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def pii_rows(cid: str, day: str = "2026-11-04") -> list[list[str]]:
    return [
        [cid, f"{day} 10:00:00", "顾客", "shop_小美", f"地址改一下，电话{PHONE}"],
        [cid, f"{day} 10:00:10", "客服", "shop_小美", f"好的，已登记身份证{ID_CARD}，您的电话{PHONE}"],
        [cid, f"{day} 10:00:30", "顾客", "shop_小美", "好的谢谢"],
    ]


def shift(rows, days: int, prefix: str):
    out = []
    for r in rows:
        t = datetime.strptime(r[1], "%Y-%m-%d %H:%M:%S") + timedelta(days=days)
        out.append([prefix + r[0], t.strftime("%Y-%m-%d %H:%M:%S"), *r[2:]])
    return out


def q(store: Path, sql: str, params=None):
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, sample_rows, run_cli):
    header, rows = sample_rows
    tmp = tmp_path_factory.mktemp("store")
    ids = list(dict.fromkeys(r[0] for r in rows))
    keep_a = set(ids[::6])
    rows_a = [r for r in rows if r[0] in keep_a] + pii_rows("PII-1")
    file_a = write_rows(tmp / "a.csv", header, rows_a)
    file_b = write_rows(tmp / "b.csv", header, shift([r for r in rows if r[0] in keep_a], 21, "B-"))
    subset = set(ids[::6][:10])
    rows_a2 = [r[:4] + [r[4] + "。"] if r[2] == "顾客" else r for r in rows if r[0] in subset]
    file_a2 = write_rows(tmp / "a_subset.csv", header, rows_a2)
    store = tmp / "kept" / "results.duckdb"
    steps = {}
    for name, src, extra in (("a", file_a, ()), ("b", file_b, ("--no-model",)), ("a_again", file_a, ("--no-model",)),
                             ("a_subset", file_a2, ("--no-model",))):
        run = run_cli("score", src, "-q", "--store", store, *extra, outdir=tmp / f"out_{name}")
        assert run.exit_code == 0, (name, run.stderr, run.exception)
        steps[name] = {
            "manifest": run.manifest(),
            "conversations": q(store, "SELECT count(*) FROM conversations")[0][0],
            "findings": q(store, "SELECT count(*) FROM findings")[0][0],
            "messages": q(store, "SELECT count(*) FROM messages")[0][0],
        }
    return {"store": store, "steps": steps, "n_a": len(keep_a) + 1, "n_b": len(keep_a), "subset": subset,
            "tmp": tmp, "rows_a": len(rows_a)}


def test_default_store_in_outdir_holds_the_run(sample_run):
    store = sample_run.outdir / "results.duckdb"
    m = sample_run.manifest()
    assert store.is_file() and m["store"] == str(store)
    assert q(store, "SELECT count(*), count(DISTINCT run_id), min(run_id) FROM conversations")[0] == (383, 1, m["run_id"])
    assert q(store, "SELECT count(*) FROM findings")[0][0] == m["findings"]
    assert q(store, "SELECT count(*) FROM messages")[0][0] == m["rows_scored"]
    assert q(store, "SELECT count(*) FROM agents")[0][0] == m["agents"]
    (runs,) = q(store, "SELECT run_id, rulebook_sha256, model_sha256, masked, manifest FROM runs")
    assert runs[:4] == (m["run_id"], m["rulebook"]["sha256"], (m["model"] or {}).get("sha256"), True)
    assert json.loads(runs[4])["inputs"] == m["inputs"]


def test_every_row_is_tagged_with_run_rulebook_and_model(scenario):
    store, steps = scenario["store"], scenario["steps"]
    for table in ("conversations", "findings", "agents", "messages"):
        untagged = q(store, f"SELECT count(*) FROM {table} WHERE run_id IS NULL OR rulebook_sha256 IS NULL")[0][0]
        assert untagged == 0, table
        tags = set(q(store, f"SELECT DISTINCT run_id, rulebook_sha256, model_sha256 FROM {table}"))
        runs = set(q(store, "SELECT run_id, rulebook_sha256, model_sha256 FROM runs"))
        assert tags <= runs, table
    model = steps["a"]["manifest"]["model"]
    if model:  # the first batch ran the complaint model: its sha256 is on the rows it still owns
        assert q(store, "SELECT model_sha256 FROM runs WHERE run_id = ?", [steps["a"]["manifest"]["run_id"]])[0][0] == model["sha256"]
    b = steps["b"]["manifest"]["run_id"]
    assert q(store, "SELECT DISTINCT model_sha256 FROM conversations WHERE run_id = ?", [b]) == [(None,)]


def test_rescoring_replaces_rows_instead_of_counting_twice(scenario):
    steps, n_a, n_b = scenario["steps"], scenario["n_a"], scenario["n_b"]
    assert steps["a"]["conversations"] == n_a
    assert steps["b"]["conversations"] == n_a + n_b
    assert steps["a_again"]["conversations"] == n_a + n_b  # same input file again: replaced
    assert steps["a_again"]["messages"] == steps["b"]["messages"]
    assert steps["a_subset"]["conversations"] == n_a + n_b  # same conversation ids in another file: replaced
    store = scenario["store"]
    runs = dict(q(store, "SELECT run_id, superseded_by FROM runs"))
    ids = {k: v["manifest"]["run_id"] for k, v in steps.items()}
    assert runs[ids["a"]] == ids["a_again"]  # the first scoring of A owns nothing any more
    assert runs[ids["b"]] is None and runs[ids["a_again"]] is None and runs[ids["a_subset"]] is None
    owners = dict(q(store, "SELECT run_id, count(*) FROM conversations GROUP BY run_id"))
    assert owners == {ids["b"]: n_b, ids["a_again"]: n_a - 10, ids["a_subset"]: 10}
    assert q(store, "SELECT count(*) FROM agents WHERE run_id = ?", [ids["a"]])[0][0] == 0
    # findings and messages follow their conversation
    for table in ("findings", "messages"):
        stray = q(store, f"""SELECT count(*) FROM {table} t JOIN conversations c USING (conversation_id)
                             WHERE t.run_id <> c.run_id""")[0][0]
        assert stray == 0, table
    subset_findings = q(store, "SELECT count(*) FROM findings WHERE run_id = ?", [ids["a_subset"]])[0][0]
    assert subset_findings == steps["a_subset"]["manifest"]["findings"]


def test_store_messages_are_masked_and_highlights_point_into_them(scenario):
    store = scenario["store"]
    texts = [t for (t,) in q(store, "SELECT text FROM messages")]
    assert not any(PHONE_RUN.search(t) or ID_CARD in t for t in texts)
    assert any("138****5678" in t for t in texts)
    rows = q(store, """SELECT m.text, f.hl_start, f.hl_end, f.matched_text FROM findings f
                       JOIN messages m ON m.conversation_id = f.conversation_id AND m.message_index = f.message_index
                       WHERE f.hl_start IS NOT NULL""")
    assert len(rows) >= 3
    for text, s, e, matched in rows:
        assert text[s:e] == matched
    assert all(masked for (masked,) in q(store, "SELECT masked FROM runs"))


def run_report(run_cli, store, out, *args):
    run = run_cli("report", "--store", store, *args, outdir=out)
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    wb = openpyxl.load_workbook(out / "report.xlsx")
    conv = pd.DataFrame(list(wb["会话评分"].iter_rows(min_row=2, values_only=True)),
                        columns=[c.value for c in wb["会话评分"][1]])
    return run, (out / "report.html").read_text(encoding="utf-8"), conv


def test_report_rebuilds_from_the_store_across_batches(scenario, run_cli):
    run, html, conv = run_report(run_cli, scenario["store"], scenario["tmp"] / "report_all")
    assert len(conv) == scenario["n_a"] + scenario["n_b"] and conv["会话ID"].is_unique
    assert sorted(p.name for p in (scenario["tmp"] / "report_all").iterdir()) == [
        "agents.csv", "conversations.csv", "findings.csv", "report.html", "report.xlsx"]
    assert "按周趋势" in html and "按日趋势" in html  # spans > 14 days
    assert "3 批次" in html
    assert PHONE not in html and "138****5678" in html
    assert html.count("账目相符") == html.count('<details class="conv"') > 0
    assert "报告:" in run.stdout


def test_report_filters(scenario, run_cli):
    store, tmp, n_b = scenario["store"], scenario["tmp"], scenario["n_b"]
    _, html, conv = run_report(run_cli, store, tmp / "r_dates", "--from", "2026-11-20", "--to", "2026-12-31")
    assert len(conv) == n_b and conv["会话ID"].str.startswith("B-").all()
    assert "筛选: 从 2026-11-20，到 2026-12-31" in html
    agent = "shop_老王"
    _, html, conv = run_report(run_cli, store, tmp / "r_agent", "--agent", agent)
    assert len(conv) > 0 and set(conv["客服"]) == {agent}
    _, html, conv = run_report(run_cli, store, tmp / "r_check", "--check", "RED")
    assert len(conv) > 0 and set(conv["红线"]) == {"是"}
    _, html, conv = run_report(run_cli, store, tmp / "r_check2", "--check", "apology", "--from", "2026-11-01",
                               "--to", "2026-11-15")
    assert 0 < len(conv) < scenario["n_a"]


def test_report_errors_are_one_clean_line(scenario, run_cli, tmp_path):
    run = run_cli("report", "--store", tmp_path / "missing.duckdb", outdir=tmp_path / "o1")
    assert run.exit_code == 2 and "missing.duckdb" in run.stderr and "Traceback" not in run.stderr
    run = run_cli("report", "--store", scenario["store"], "--agent", "nobody", outdir=tmp_path / "o2")
    assert run.exit_code == 2 and "没有符合条件的会话" in run.stderr
    run = run_cli("report", "--store", scenario["store"], "--from", "11/20", outdir=tmp_path / "o3")
    assert run.exit_code == 2 and "YYYY-MM-DD" in run.stderr


def test_no_mask_store_keeps_data_and_reports_mask_it_again_by_default(tmp_path, sample_rows, run_cli):
    header, _ = sample_rows
    src = write_rows(tmp_path / "pii.csv", header, pii_rows("PII-2"))
    store = tmp_path / "raw.duckdb"
    run = run_cli("score", src, "-q", "--no-model", "--no-mask", "--store", store, outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr
    assert q(store, "SELECT masked FROM runs") == [(False,)]
    assert any(PHONE in t for (t,) in q(store, "SELECT text FROM messages"))
    _, html, _ = run_report(run_cli, store, tmp_path / "masked_report")
    assert PHONE not in html and ID_CARD not in html and "138****5678" in html
    _, html, _ = run_report(run_cli, store, tmp_path / "raw_report", "--no-mask")
    assert PHONE in html and "未打码" in html
