"""The review loop's tables in the results store, and their views.

Every table here is append-only: a verdict, a missed finding, an appeal, a ruling, a sampled
conversation or a complaint label is a new row (who, when, what, and the human score before and
after); nothing is updated or deleted. The current state is a view over the latest row
(`event_id`, one sequence for all of them, gives the order):

- ``review_rulebooks``: the text of every rulebook that scored a run (by sha256), so human
  scores are worked out with the rules that gave the machine score, even after the file changed.
- ``review_assignments``: conversations put in a review queue (`csqa sample`): reviewer, reason
  (red_line, serious_complaint, random, min_per_agent, calibration), sample id and seed.
- ``review_verdicts``: a reviewer's verdict on a finding — ``correct``, ``false_positive``,
  ``missed`` (a finding the machine did not make: 漏检, with its own id, `csqa.review.ids.missed_id`),
  ``withdrawn`` (the reviewer takes their earlier verdict back) or ``reviewed`` (a conversation
  without findings, looked at: nothing to add).
- ``review_appeals`` / ``review_rulings``: an agent disputes a finding with a reason; an arbiter
  upholds or overturns it, once (the ruling is final).
- ``review_labels``: a reviewer's complaint label on a customer message (category, severity),
  for retraining the complaint classifier (`csqa review export`).
- ``review_human_scores``: each time a conversation's human score changes, its new value and why.

Views: ``review_reviewer_verdicts`` (each reviewer's latest verdict per finding, withdrawn ones
left out), ``review_finding_verdicts`` (the latest of those per finding), ``review_appeal_state``
(each appeal with its ruling, if any), ``review_current_labels``, ``review_current_human_scores``
and ``review_audit`` (every event of every table in one list).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from csqa.review.db import one

REVIEW_TABLES = ("review_rulebooks", "review_assignments", "review_verdicts", "review_appeals", "review_rulings",
                 "review_labels", "review_human_scores")

_DDL = """
CREATE SEQUENCE IF NOT EXISTS review_event_seq START 1;
CREATE TABLE IF NOT EXISTS review_rulebooks (
    rulebook_sha256 VARCHAR PRIMARY KEY, rulebook_id VARCHAR, path VARCHAR, text VARCHAR, recorded_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS review_assignments (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('review_event_seq'),
    sample_id VARCHAR, conversation_id VARCHAR, run_id VARCHAR, reviewer VARCHAR, reason VARCHAR,
    calibration BOOLEAN, seed VARCHAR, assigned_by VARCHAR, assigned_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS review_verdicts (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('review_event_seq'),
    batch_id VARCHAR, finding_id VARCHAR, conversation_id VARCHAR, run_id VARCHAR, rule_id VARCHAR,
    message_index INTEGER, verdict VARCHAR, comment VARCHAR, reviewer VARCHAR, recorded_at TIMESTAMP,
    source VARCHAR, source_row INTEGER, previous_verdict VARCHAR,
    human_score_before DOUBLE, human_score_after DOUBLE
);
CREATE TABLE IF NOT EXISTS review_appeals (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('review_event_seq'),
    finding_id VARCHAR, conversation_id VARCHAR, run_id VARCHAR, rule_id VARCHAR, message_index INTEGER,
    agent_id VARCHAR, reason VARCHAR, filed_at TIMESTAMP, human_score DOUBLE
);
CREATE TABLE IF NOT EXISTS review_rulings (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('review_event_seq'),
    appeal_id BIGINT, finding_id VARCHAR, conversation_id VARCHAR, decision VARCHAR, arbiter VARCHAR,
    comment VARCHAR, ruled_at TIMESTAMP, human_score_before DOUBLE, human_score_after DOUBLE
);
CREATE TABLE IF NOT EXISTS review_labels (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('review_event_seq'),
    batch_id VARCHAR, conversation_id VARCHAR, message_index INTEGER, category VARCHAR, severity VARCHAR,
    reviewer VARCHAR, recorded_at TIMESTAMP, source VARCHAR, source_row INTEGER
);
CREATE TABLE IF NOT EXISTS review_human_scores (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('review_event_seq'),
    conversation_id VARCHAR, run_id VARCHAR, machine_score DOUBLE, human_score DOUBLE, human_passed BOOLEAN,
    critical BOOLEAN, confirmed INTEGER, false_positives INTEGER, missed INTEGER, overturned INTEGER,
    reviewed_by VARCHAR, reviewed_at TIMESTAMP, computed_at TIMESTAMP, cause VARCHAR
);
CREATE OR REPLACE VIEW review_reviewer_verdicts AS
    SELECT * EXCLUDE (latest) FROM (
        SELECT *, row_number() OVER (PARTITION BY coalesce(finding_id, 'conversation:' || conversation_id), reviewer
                                     ORDER BY event_id DESC) AS latest
        FROM review_verdicts)
    WHERE latest = 1 AND verdict <> 'withdrawn';
CREATE OR REPLACE VIEW review_finding_verdicts AS
    SELECT * EXCLUDE (latest) FROM (
        SELECT *, row_number() OVER (PARTITION BY finding_id ORDER BY event_id DESC) AS latest
        FROM review_reviewer_verdicts WHERE finding_id IS NOT NULL)
    WHERE latest = 1;
CREATE OR REPLACE VIEW review_appeal_state AS
    SELECT a.event_id AS appeal_id, a.finding_id, a.conversation_id, a.run_id, a.rule_id, a.message_index,
           a.agent_id, a.reason, a.filed_at, coalesce(r.decision, 'open') AS status, r.arbiter, r.comment AS ruling_comment,
           r.ruled_at, r.event_id AS ruling_id, r.human_score_before, r.human_score_after
    FROM review_appeals a
    LEFT JOIN (SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY appeal_id ORDER BY event_id) AS first_ruling
                              FROM review_rulings) WHERE first_ruling = 1) r
           ON r.appeal_id = a.event_id;
CREATE OR REPLACE VIEW review_current_labels AS
    SELECT * EXCLUDE (latest) FROM (
        SELECT *, row_number() OVER (PARTITION BY conversation_id, message_index ORDER BY event_id DESC) AS latest
        FROM review_labels)
    WHERE latest = 1;
CREATE OR REPLACE VIEW review_current_human_scores AS
    SELECT * EXCLUDE (latest) FROM (
        SELECT *, row_number() OVER (PARTITION BY conversation_id ORDER BY event_id DESC) AS latest
        FROM review_human_scores)
    WHERE latest = 1;
CREATE OR REPLACE VIEW review_audit AS
    SELECT event_id, assigned_at AS at, coalesce(assigned_by, '') AS actor, 'assign' AS action, conversation_id,
           NULL AS finding_id, reviewer || ' · ' || reason AS detail, NULL AS before, NULL AS after
    FROM review_assignments
    UNION ALL
    SELECT event_id, recorded_at, reviewer, 'verdict:' || verdict, conversation_id, finding_id,
           concat_ws(' · ', rule_id, CAST(message_index AS VARCHAR), nullif(comment, '')),
           concat_ws(' / ', previous_verdict, CAST(human_score_before AS VARCHAR)),
           concat_ws(' / ', verdict, CAST(human_score_after AS VARCHAR))
    FROM review_verdicts
    UNION ALL
    SELECT event_id, filed_at, agent_id, 'appeal', conversation_id, finding_id, reason, NULL, NULL FROM review_appeals
    UNION ALL
    SELECT event_id, ruled_at, arbiter, 'ruling:' || decision, conversation_id, finding_id,
           concat_ws(' · ', 'appeal ' || CAST(appeal_id AS VARCHAR), nullif(comment, '')),
           CAST(human_score_before AS VARCHAR), CAST(human_score_after AS VARCHAR)
    FROM review_rulings
    UNION ALL
    SELECT event_id, recorded_at, reviewer, 'label', conversation_id, NULL,
           concat_ws(' · ', CAST(message_index AS VARCHAR), category, severity), NULL, NULL FROM review_labels;
"""


def create_review_tables(con) -> None:
    """Create the review tables and views (in the caller's transaction), and keep the text of the
    rulebooks of earlier runs when their files are still what scored them."""
    con.execute(_DDL)
    for (manifest,) in con.execute(
            "SELECT manifest FROM runs WHERE rulebook_sha256 IS NOT NULL AND rulebook_sha256 NOT IN "
            "(SELECT rulebook_sha256 FROM review_rulebooks)").fetchall():
        try:
            record_rulebook(con, json.loads(manifest or "{}"))
        except (TypeError, ValueError):
            continue


def has_review_tables(con) -> bool:
    found = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema = 'main'").fetchall()}
    return set(REVIEW_TABLES) <= found


def record_rulebook(con, manifest: dict) -> bool:
    """Keep the text of the run's rulebook (manifest["rulebook"]: path and sha256) when its file
    still has that sha256. True when the store has it (now or before)."""
    rulebook = manifest.get("rulebook") or {}
    sha, path = rulebook.get("sha256"), rulebook.get("path")
    if not sha:
        return False
    if one(con.execute("SELECT 1 FROM review_rulebooks WHERE rulebook_sha256 = ?", [sha])):
        return True
    if not path:
        return False
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return False
    if hashlib.sha256(raw).hexdigest() != sha:
        return False
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    con.execute("INSERT INTO review_rulebooks VALUES (?, ?, ?, ?, ?)",
                [sha, rulebook.get("id"), str(path), text, datetime.now()])
    return True


def fill_finding_ids(con, run_id: str | None = None) -> int:
    """Give findings rows without an id theirs (`csqa.review.ids`): the rows of runs written before
    ids existed, or of a run whose parts came without them. Returns how many rows got one."""
    from csqa.review.ids import finding_id_sql, occurrence_sql

    where = "finding_id IS NULL" + (" AND run_id = ?" if run_id is not None else "")
    params = [run_id] if run_id is not None else []
    if not one(con.execute(f"SELECT 1 FROM findings_rows WHERE {where} LIMIT 1", params)):
        return 0
    runs = f"(SELECT DISTINCT run_id FROM findings_rows WHERE {where})"
    before = one(con.execute(f"SELECT count(*) FROM findings_rows WHERE {where}", params))[0]
    con.execute(f"""
        UPDATE findings_rows SET finding_id = ids.fid FROM (
            SELECT rid, {finding_id_sql()} AS fid FROM (
                SELECT rowid AS rid, conversation_id, rule_id, message_index, rulebook_sha256, model_sha256,
                       {occurrence_sql()} AS occurrence
                FROM findings_rows WHERE run_id IN {runs})) ids
        WHERE findings_rows.rowid = ids.rid AND findings_rows.finding_id IS NULL""", params)
    return int(before)
