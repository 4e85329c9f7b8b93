"""The store shows whole runs only: the rows of a run that never got its `runs` row (a write a kill
or a full disk interrupted) are invisible to every query — csqa's own and plain SQL — never join
a recorded run's conversations, and are removed when the store is next opened for writing.
`csqa report` writes the selection's CSVs beside the reports, as `csqa score` writes them."""
from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import write_rows

PHONE = "13812345678"


def rows_of(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def same_table(a: Path, b: Path) -> None:
    """Same header, same rows (the order may differ: the store orders by start time)."""
    ra, rb = rows_of(a), rows_of(b)
    assert ra[0] == rb[0], (a.name, ra[0], rb[0])
    assert sorted(ra[1:]) == sorted(rb[1:]), a.name


def counts(store: Path, tables=("conversations", "findings", "messages", "agents")) -> dict[str, int]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def scored(tmp_path_factory, sample_rows, run_cli):
    """A third of the sample scored into a kept store (OUTDIR has the CSVs to compare with)."""
    header, rows = sample_rows
    ids = set(list(dict.fromkeys(r[0] for r in rows))[::3])
    tmp = tmp_path_factory.mktemp("scored")
    src = write_rows(tmp / "a.csv", header, [r for r in rows if r[0] in ids])
    run = run_cli("score", src, "-q", "--no-model", "--store", tmp / "kept.duckdb", outdir=tmp / "out")
    assert run.exit_code == 0, (run.stderr, run.exception)
    return tmp


def unfinished_rerun(store: Path, run_id: str = "killed-run") -> None:
    """What a `csqa score` of the same export killed mid-write leaves: every row of the same
    conversations inserted again under a new run id, the runs row never written."""
    from csqa.outputs.store import ResultStore

    with ResultStore(store) as rs:
        sel = rs.load()
        doubled = pd.concat([sel.findings, sel.findings], ignore_index=True)  # (a different scoring: twice the findings)
        manifest = {"run_id": run_id, "inputs": [], "rulebook": {"id": "x", "sha256": "y"}}
        rs.stage_run(manifest, sel.conversations, doubled, sel.conversations.iloc[0:0], sel.messages)
    # closed here without commit_run: the rows are in, the runs row is not (as after a kill)


def test_an_unfinished_run_is_invisible_to_every_query_and_the_report(scored, run_cli, tmp_path):
    store = tmp_path / "kept.duckdb"
    store.write_bytes((scored / "kept.duckdb").read_bytes())
    before = counts(store)
    unfinished_rerun(store)
    rows = counts(store, ("conversations_rows", "findings_rows", "messages_rows"))
    assert rows["findings_rows"] == 3 * before["findings"]  # the rows are there…
    assert counts(store) == before  # …and no query of the tables csqa documents sees them
    run = run_cli("report", "--store", store, "-q", outdir=tmp_path / "report")
    assert run.exit_code == 0, (run.stderr, run.exception)
    # the report's ledgers add up and its CSVs are the scored run's: nothing joined from the other run
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert html.count("账目相符") == html.count('<details class="conv"') > 0
    for name in ("conversations.csv", "findings.csv", "agents.csv"):
        same_table(scored / "out" / name, tmp_path / "report" / name)
    # opened for writing, the store drops them
    from csqa.outputs.store import ResultStore

    with ResultStore(store):
        pass
    after = counts(store, ("conversations_rows", "findings_rows", "messages_rows"))
    assert after == {"conversations_rows": before["conversations"], "findings_rows": before["findings"],
                     "messages_rows": before["messages"]}


def test_findings_and_messages_are_joined_by_conversation_and_run(scored, tmp_path):
    """A recorded run and the leftovers of another share conversation ids: `load` takes each
    conversation's findings and messages from the run that scored it."""
    from csqa.outputs.store import ResultStore

    store = tmp_path / "kept.duckdb"
    store.write_bytes((scored / "kept.duckdb").read_bytes())
    with ResultStore(store, read_only=True) as rs:
        clean = rs.load()
    unfinished_rerun(store)
    with ResultStore(store, read_only=True) as rs:  # (read-only: nothing removed, the filters alone)
        sel = rs.load()
        checked = rs.load(check="RED")
    pd.testing.assert_frame_equal(sel.findings, clean.findings)
    pd.testing.assert_frame_equal(sel.messages, clean.messages)
    assert len(sel.runs) == 1 and set(checked.findings["run_id"]) <= set(sel.runs["run_id"])


def test_a_schema_1_store_is_read_with_the_same_filters_and_converted_when_written(scored, tmp_path):
    from csqa.outputs.store import SCHEMA_VERSION, ResultStore

    store = tmp_path / "old.duckdb"
    store.write_bytes((scored / "kept.duckdb").read_bytes())
    before = counts(store)
    con = duckdb.connect(str(store))  # back to schema 1: the rows in the per-run tables themselves
    for t in ("conversations", "findings", "agents", "messages"):
        con.execute(f"DROP VIEW {t}")
        con.execute(f"ALTER TABLE {t}_rows RENAME TO {t}")
    con.execute("UPDATE csqa_meta SET value = '1' WHERE key = 'schema_version'")
    # and the leftovers of a killed write, sharing a recorded conversation's id
    cid, = con.execute("SELECT conversation_id FROM findings LIMIT 1").fetchone()
    con.execute("INSERT INTO findings (run_id, conversation_id, finding_index, rule_id, points) "
                "VALUES ('killed', ?, 0, 'RED-001', 10)", [cid])
    con.close()
    with ResultStore(store, read_only=True) as rs:
        sel = rs.load()
    assert len(sel.findings) == before["findings"] and "killed" not in set(sel.findings["run_id"])
    with ResultStore(store) as rs:
        sel = rs.load()
    assert counts(store) == before and len(sel.findings) == before["findings"]
    con = duckdb.connect(str(store), read_only=True)
    try:
        kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
        version, = con.execute("SELECT value FROM csqa_meta WHERE key = 'schema_version'").fetchone()
        leftovers = con.execute("SELECT count(*) FROM findings_rows WHERE run_id = 'killed'").fetchone()[0]
    finally:
        con.close()
    assert kinds["conversations"] == "VIEW" and kinds["conversations_rows"] == "BASE TABLE"
    assert version == str(SCHEMA_VERSION) and leftovers == 0


def test_report_csvs_are_masked_unless_no_mask(tmp_path, sample_rows, run_cli):
    header, _ = sample_rows
    rows = [["PII-1", "2026-11-04 10:00:00", "顾客", "shop_小美", f"电话{PHONE}"],
            ["PII-1", "2026-11-04 10:00:10", "客服", "shop_小美", f"好的，您的电话{PHONE}已登记"],
            ["PII-1", "2026-11-04 10:00:30", "顾客", "shop_小美", "好的谢谢"]]
    src = write_rows(tmp_path / "pii.csv", header, rows)
    store = tmp_path / "raw.duckdb"
    run = run_cli("score", src, "-q", "--no-model", "--no-mask", "--store", store, outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr
    assert PHONE in (tmp_path / "out" / "findings.csv").read_text(encoding="utf-8-sig")
    run = run_cli("report", "--store", store, "-q", outdir=tmp_path / "masked")
    assert run.exit_code == 0, run.stderr
    masked = (tmp_path / "masked" / "findings.csv").read_text(encoding="utf-8-sig")
    assert PHONE not in masked and "138****5678" in masked
    run = run_cli("report", "--store", store, "-q", "--no-mask", outdir=tmp_path / "raw")
    assert run.exit_code == 0, run.stderr
    same_table(tmp_path / "out" / "findings.csv", tmp_path / "raw" / "findings.csv")
