"""Human score beside machine score, appeals and the audit trail (issue 17 parts 4, 5 and 6),
against a real store: the ledger is priced by the rulebook's own scorecard (caps, N/A, red lines)."""
from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from review_fixtures import q, qdf, scored, store  # noqa: F401 - fixtures

import csqa.review as review
from csqa.review.verdicts import VerdictRow


def _findings(store, where="TRUE"):
    return qdf(store, f"SELECT conversation_id, finding_id, rule_id, severity, points, agent_id, message_index "
                      f"FROM findings WHERE {where} ORDER BY conversation_id, finding_index")


def _human(store) -> dict:
    return {r[0]: r[1:] for r in q(store, "SELECT conversation_id, human_score, human_passed, critical "
                                          "FROM review_current_human_scores")}


def test_confirmed_findings_give_the_machine_score_cent_for_cent(store):
    f = _findings(store)
    chosen = sorted(f["conversation_id"].unique())[::4]  # ~90 conversations, every kind of ledger
    review.record_verdicts(store, "a", [VerdictRow("correct", fid) for fid in f.loc[f["conversation_id"].isin(chosen), "finding_id"]])
    machine = {r[0]: r[1:] for r in q(store, "SELECT conversation_id, score, passed, critical FROM conversations")}
    human = _human(store)
    assert set(human) == set(chosen)
    for cid in chosen:
        assert human[cid] == pytest.approx(machine[cid]), cid


def test_false_positives_everywhere_give_a_clean_ledger(store):
    f = _findings(store)
    chosen = sorted(f["conversation_id"].unique())[:50]
    review.record_verdicts(store, "a", [VerdictRow("false_positive", fid)
                                        for fid in f.loc[f["conversation_id"].isin(chosen), "finding_id"]])
    human = _human(store)
    assert {cid: human[cid] for cid in chosen} == {cid: (100.0, True, False) for cid in chosen}


def test_one_false_positive_changes_only_what_its_points_were(store):
    # a conversation whose ledger is one minor finding: the human score gets exactly those points back
    one = qdf(store, """SELECT c.conversation_id, c.score, any_value(f.finding_id) AS fid, sum(f.points) AS pts
                        FROM conversations c JOIN findings f USING (conversation_id, run_id)
                        WHERE NOT c.critical AND c.not_applicable = '' GROUP BY ALL
                        HAVING count(*) = 1 AND any_value(f.severity) = 'minor' LIMIT 1""")
    if one.empty:
        pytest.skip("no single-finding conversation in the sample")
    cid, score, fid, pts = one.iloc[0]
    review.set_verdict(store, "a", fid, "误报", "客服已致歉")
    hs = review.conversation_review(store, cid)
    assert hs.human_score == pytest.approx(min(100.0, score + pts))
    (line,) = hs.lines
    assert (line.status, line.human_points, line.decided_by, line.comment) == ("false_positive", None, "a", "客服已致歉")


def test_report_shows_both_scores_and_how_many_were_reviewed(store, run_cli, tmp_path):
    f = _findings(store)
    first = f["conversation_id"].iloc[0]
    review.record_verdicts(store, "小王", [VerdictRow("false_positive", fid) for fid in f.loc[f["conversation_id"] == first, "finding_id"]])
    run = run_cli("report", "--store", store, "-q", outdir=tmp_path / "rep")
    assert run.exit_code == 0, run.stderr
    conv = pd.read_csv(tmp_path / "rep" / "conversations.csv", dtype={"conversation_id": str}, encoding="utf-8-sig")
    row = conv.set_index("conversation_id").loc[first]
    assert row["human_score"] == 100.0 and row["reviewed_by"] == "小王"
    assert conv["human_score"].notna().sum() == 1 and "score" in conv
    agents = pd.read_csv(tmp_path / "rep" / "agents.csv", encoding="utf-8-sig")
    assert agents["reviewed_conversations"].sum() == 1
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "人工复核 1 / " in html and "复核精确率低于 0.8 的规则" in html  # (all judged false positives)


# ---------------------------------------------------------------------------- appeals
def test_an_overturned_appeal_prices_the_finding_as_a_false_positive_would(scored, store, tmp_path):
    import shutil

    f = _findings(store, "severity = 'major'").iloc[0]
    twin = tmp_path / "twin.duckdb"
    shutil.copy(scored.store, twin)
    review.set_verdict(twin, "a", f.finding_id, "false_positive")
    expected = review.conversation_review(twin, f.conversation_id).human_score

    with pytest.raises(review.ReviewError):
        review.file_appeal(store, f.agent_id, f.finding_id, "   ")  # a reason is mandatory
    with pytest.raises(review.NotAllowed):
        review.file_appeal(store, "someone_else", f.finding_id, "不是我")
    appeal = review.file_appeal(store, f.agent_id, f.finding_id, "顾客自己说的，我只是复述")
    assert appeal.status == "open"
    with pytest.raises(review.Conflict):
        review.file_appeal(store, f.agent_id, f.finding_id, "再申诉一次")
    with pytest.raises(review.NotAllowed):
        review.rule_on_appeal(store, f.agent_id, appeal.appeal_id, "overturned")
    ruled = review.rule_on_appeal(store, "主管", appeal.appeal_id, "撤销", "复述顾客原话")
    assert ruled.status == "overturned" and ruled.human_score_after == pytest.approx(expected)
    assert review.conversation_review(store, f.conversation_id).human_score == pytest.approx(expected)
    with pytest.raises(review.Conflict):  # the ruling is final
        review.rule_on_appeal(store, "主管", appeal.appeal_id, "upheld")
    with pytest.raises(review.Conflict):
        review.file_appeal(store, f.agent_id, f.finding_id, "还是不服")
    # an arbiter's ruling outranks a later reviewer verdict
    review.set_verdict(store, "b", f.finding_id, "correct")
    assert review.conversation_review(store, f.conversation_id).human_score == pytest.approx(expected)


def test_an_upheld_appeal_keeps_the_score_and_the_cli_says_so(store, run_cli):
    f = _findings(store, "severity = 'minor'").iloc[3]
    machine = q(store, "SELECT score FROM conversations WHERE conversation_id = ?", [f.conversation_id])[0][0]
    run = run_cli("review", "appeal", "--store", store, "--agent", f.agent_id, "--finding", f.finding_id, "--reason", "不服")
    assert run.exit_code == 0, run.stderr
    (appeal_id,) = q(store, "SELECT appeal_id FROM review_appeal_state")[0]
    run = run_cli("review", "rule", "--store", store, "--appeal", appeal_id, "--arbiter", "主管", "--decision", "维持")
    assert run.exit_code == 0, run.stderr
    assert "维持" in run.stdout
    assert _human(store)[f.conversation_id][0] == pytest.approx(machine)
    again = run_cli("review", "rule", "--store", store, "--appeal", appeal_id, "--arbiter", "主管", "--decision", "overturned")
    assert again.exit_code == 2 and "最终" in again.stderr
    listed = run_cli("review", "appeals", "--store", store, "--format", "json")
    assert '"status": "upheld"' in listed.stdout
    nothing = run_cli("review", "appeal", "--store", store, "--agent", "x", "--finding", "nope", "--reason", "r")
    assert nothing.exit_code == 2 and "没有问题 nope" in nothing.stderr


# ---------------------------------------------------------------------------- audit trail
def _every_row(store) -> dict[str, set]:
    from csqa.outputs.store.review_tables import REVIEW_TABLES

    return {t: set(q(store, f"SELECT * FROM {t}")) for t in REVIEW_TABLES}


def test_the_audit_trail_only_grows(store, run_cli, tmp_path):
    f = _findings(store)
    snapshots = [_every_row(store)]
    assert run_cli("sample", "--store", store, "-o", tmp_path / "q.xlsx", "--rate", "0.02").exit_code == 0
    snapshots.append(_every_row(store))
    review.set_verdict(store, "a", f.finding_id[0], "correct")
    snapshots.append(_every_row(store))
    review.set_verdict(store, "a", f.finding_id[0], "false_positive", "看错了")
    snapshots.append(_every_row(store))
    appeal = review.file_appeal(store, f.agent_id[1], f.finding_id[1], "理由")
    snapshots.append(_every_row(store))
    review.rule_on_appeal(store, "主管", appeal.appeal_id, "upheld")
    snapshots.append(_every_row(store))
    for older, newer in zip(snapshots, snapshots[1:]):
        for table in older:
            assert older[table] <= newer[table], table  # nothing updated or deleted
        assert sum(len(newer[t]) for t in newer) > sum(len(older[t]) for t in older)
    trail = review.audit_trail(store, conversation_id=f.conversation_id[0])
    verdicts = trail[trail["action"].str.startswith("verdict")]
    assert verdicts["action"].tolist() == ["verdict:correct", "verdict:false_positive"]
    assert verdicts["actor"].tolist() == ["a", "a"]
    assert verdicts["before"].iloc[1].startswith("correct")  # what it replaced
    run = run_cli("review", "audit", "--store", store, "--format", "json")
    assert run.exit_code == 0 and '"action": "ruling:upheld"' in run.stdout


def test_scorecards_are_kept_per_rulebook_and_rule_selection(scored, tmp_path):
    """Compiled scorecards are reused across verdicts by (rulebook sha256, the run's rules): two runs of the
    same rulebook that selected different rules each get their own."""
    import json
    import shutil

    from csqa.review.human_score import scorecard_of_run

    full, narrow = tmp_path / "full.duckdb", tmp_path / "narrow.duckdb"
    shutil.copy(scored.store, full)
    shutil.copy(scored.store, narrow)
    run_id, manifest = q(full, "SELECT run_id, manifest FROM runs")[0]
    entry = json.loads(manifest)
    kept = entry["rulebook"]["rules"][:3]
    entry["rulebook"]["rules"] = kept
    con = duckdb.connect(str(narrow))
    con.execute("UPDATE runs SET manifest = ? WHERE run_id = ?", [json.dumps(entry, ensure_ascii=False), run_id])
    con.close()
    cards = {}
    for name, path in (("full", full), ("narrow", narrow), ("full again", full)):
        con = duckdb.connect(str(path), read_only=True)
        try:
            cards[name] = scorecard_of_run(con, run_id)
        finally:
            con.close()
    assert [r.code for r in cards["narrow"].rules] == kept
    assert len(cards["full"].rules) > len(kept)
    assert cards["full again"] is cards["full"]  # compiled once


def test_where_clause_keeps_the_filters_given():
    from csqa.review.db import where_clause

    assert where_clause() == ("", [])
    assert where_clause(conversation_id="C1", reviewer=None) == (" WHERE conversation_id = ?", ["C1"])
    assert where_clause(["status <> 'open'"], agent_id="a") == (" WHERE status <> 'open' AND agent_id = ?", ["a"])


def test_listing_appeals_refuses_an_unknown_status(store):  # noqa: F811
    with pytest.raises(review.ReviewError):
        review.list_appeals(store, status="pending")
