"""Stable finding ids (issue 17 part 1): the same input, rulebook and model give the same ids, in
findings.csv and in the store; stores written before ids existed get the same ids when opened
for writing (schema 4), and can still be read as they are."""
from __future__ import annotations

import duckdb
import pandas as pd

from conftest import SAMPLE_CSV
from review_fixtures import q, scored, store  # noqa: F401 - fixtures

from csqa.review.ids import add_finding_ids, finding_id, missed_id


def _ids(outdir) -> pd.DataFrame:
    return pd.read_csv(outdir / "findings.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)


def test_scoring_the_same_input_again_gives_the_same_ids(scored, run_cli, tmp_path):
    again = run_cli("score", SAMPLE_CSV, "-q", "--store", tmp_path / "again.duckdb", outdir=tmp_path / "again")
    assert again.exit_code == 0, again.stderr
    first, second = _ids(scored.outdir), _ids(tmp_path / "again")
    assert len(first) > 1000
    assert first["finding_id"].str.fullmatch(r"[0-9a-f]{20}").all()
    assert first["finding_id"].is_unique
    assert first["finding_id"].tolist() == second["finding_id"].tolist()
    # the store holds the ids findings.csv shows, on the same findings
    stored = q(scored.store, "SELECT conversation_id, rule_id, finding_id FROM findings")
    assert sorted(stored) == sorted(zip(first["conversation_id"], first["rule_id"], first["finding_id"]))


def test_the_id_follows_the_recipe_and_changes_with_rulebook_or_model(scored):
    findings = _ids(scored.outdir)
    (rulebook, model), = q(scored.store, "SELECT rulebook_sha256, model_sha256 FROM runs")
    row = findings.iloc[0]
    index = row["message_index"] or None
    # (the first finding of the file has no earlier one of its rule on its message: occurrence 0)
    assert finding_id(row["conversation_id"], row["rule_id"], index, 0, rulebook, model) == row["finding_id"]
    assert finding_id(row["conversation_id"], row["rule_id"], index, 0, "0" * 64, model) != row["finding_id"]
    assert finding_id(row["conversation_id"], row["rule_id"], index, 0, rulebook, None) != row["finding_id"]
    # a rule firing twice on one message: two ids
    twice = pd.DataFrame({"conversation_id": ["c", "c"], "rule_id": ["R", "R"], "message_index": [3, 3]})
    ids = add_finding_ids(twice, rulebook, model)["finding_id"].tolist()
    assert ids[0] != ids[1] and ids[1] == finding_id("c", "R", 3, 1, rulebook, model)
    # a reviewer's missed finding: the same whoever adds it, and never a machine id
    assert missed_id("c", "R", 3) == missed_id("c", "R", 3) != missed_id("c", "R", 4)
    assert missed_id("c", "R", 3).startswith("M")


def _make_old(path) -> None:
    """What a store of schema 3 looked like: no finding_id column, no review tables."""
    from csqa.review.tables import REVIEW_TABLES

    con = duckdb.connect(str(path))
    for view in ("review_audit", "review_reviewer_verdicts", "review_finding_verdicts", "review_appeal_state",
                 "review_current_labels", "review_current_human_scores", "findings"):
        con.execute(f"DROP VIEW IF EXISTS {view}")
    for table in REVIEW_TABLES:
        con.execute(f"DROP TABLE {table}")
    con.execute("DROP SEQUENCE review_event_seq")
    con.execute("ALTER TABLE findings_rows DROP COLUMN finding_id")
    con.execute("CREATE VIEW findings AS SELECT * FROM findings_rows WHERE run_id IN (SELECT run_id FROM runs)")
    con.execute("INSERT OR REPLACE INTO csqa_meta VALUES ('schema_version', '3')")
    con.close()


def test_an_older_store_is_read_as_it_is_and_gets_the_same_ids_when_opened_for_writing(scored, store, run_cli, tmp_path):
    before = sorted(q(store, "SELECT conversation_id, rule_id, coalesce(message_index, -1), finding_id FROM findings"))
    _make_old(store)
    assert "finding_id" not in {r[0] for r in q(store, "DESCRIBE findings_rows")}
    # read-only: a report as before (no ids, no human scores), review commands say what to do
    report = run_cli("report", "--store", store, "-q", outdir=tmp_path / "report")
    assert report.exit_code == 0, report.stderr
    audit = run_cli("review", "audit", "--store", store)
    assert audit.exit_code == 2 and "复核表" in audit.stderr and "Traceback" not in audit.stderr
    # opened for writing (here by `csqa sample`): schema 4, the ids a fresh scoring gives, the review tables
    run = run_cli("sample", "--store", store, "-o", tmp_path / "queue.xlsx", "--rate", "0.01")
    assert run.exit_code == 0, run.stderr
    assert q(store, "SELECT value FROM csqa_meta WHERE key = 'schema_version'") == [("4",)]
    assert sorted(q(store, "SELECT conversation_id, rule_id, coalesce(message_index, -1), finding_id FROM findings")) == before
    assert q(store, "SELECT count(*) FROM review_assignments")[0][0] > 0
