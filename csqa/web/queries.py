"""What the desk's pages read from the results store (its views of recorded runs: `conversations`,
`findings`, `messages`, `runs`). Each function takes a DuckDB cursor and returns plain Python values.

Personal data: the store keeps messages masked unless a run used --no-mask (`runs.masked`). A page
shows them masked either way (`conversation_detail(..., unmask=False)` masks what the store holds
unmasked, through the same function as the reports); only `unmask=True` — a manager's or admin's
explicit, audited request — shows a --no-mask run's text as stored.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime

import pandas as pd

from csqa.web.render import Mark, highlight_html, prepare_transcripts, role_zh, severity_zh, check_zh

CONVERSATION_COLUMNS = ("conversation_id", "agent_id", "agents", "started_at", "ended_at", "n_messages", "score",
                        "passed", "critical", "complaint", "complaint_category", "complaint_severity", "n_findings",
                        "run_id")
LIST_COLUMNS = ("conversation_id", "agent_id", "started_at", "n_messages", "score", "passed", "critical", "complaint",
                "complaint_severity", "n_findings")


def _rows(cur, sql: str, params=(), columns=None) -> list[dict]:
    res = cur.execute(sql, list(params))
    names = columns or [d[0] for d in res.description]
    return [dict(zip(names, r)) for r in res.fetchall()]


def _one(cur, sql: str, params=()) -> dict | None:
    rows = _rows(cur, sql, params)
    return rows[0] if rows else None


def _num(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _time_text(v) -> str:
    if v is None or v is pd.NaT:
        return ""
    if isinstance(v, (datetime, pd.Timestamp)):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


# ---------------------------------------------------------------------------- one conversation
def conversation(cur, conversation_id: str) -> dict | None:
    """The conversation's row (latest scoring) with its run's masked flag and pass mark, or None."""
    row = _one(cur, f"""SELECT {', '.join('c.' + c for c in CONVERSATION_COLUMNS)}, r.masked AS run_masked,
                              r.manifest AS manifest, r.created_at AS scored_at
                       FROM conversations c JOIN runs r USING (run_id)
                       WHERE c.conversation_id = ? ORDER BY r.created_at DESC LIMIT 1""", [conversation_id])
    if row is None:
        return None
    row["agents_list"] = [a for a in str(row.get("agents") or "").split(";") if a]
    try:
        manifest = json.loads(row.pop("manifest") or "{}")
    except ValueError:
        manifest = {}
    row["pass_mark"] = (manifest.get("rulebook") or {}).get("pass_mark")
    return row


def conversation_detail(cur, row: dict, unmask: bool = False) -> dict:
    """The transcript with every finding highlighted in place, the ledger and the scores."""
    cid, run_id = row["conversation_id"], row["run_id"]
    fnd = cur.execute("""SELECT * FROM findings WHERE conversation_id = ? AND run_id = ? ORDER BY finding_index""",
                      [cid, run_id]).df()
    msgs = cur.execute("""SELECT conversation_id, message_index, role, agent_id, "timestamp", text FROM messages
                          WHERE conversation_id = ? AND run_id = ? ORDER BY message_index""", [cid, run_id]).df()
    for frame in (fnd, msgs):
        if "timestamp" in frame.columns:
            frame["timestamp"] = [_time_text(v) for v in frame["timestamp"]]
    for col in ("matched_text", "evidence", "explanation"):
        if col in fnd.columns:
            fnd[col] = fnd[col].fillna("")
    stored_masked = bool(row.get("run_masked", True))
    shown_masked = stored_masked or not unmask
    # what the store holds unmasked is masked here, with the highlights moved onto the masked text
    msgs, fnd = prepare_transcripts(msgs, fnd, mask=not stored_masked and not unmask)
    ledger, marks, flags, lost = [], {}, {}, 0.0
    for no, f in enumerate(fnd.to_dict("records"), start=1):
        points = float(f["points"])
        lost += points
        sev = str(f["severity"])
        mi = None if pd.isna(f["message_index"]) else int(f["message_index"])
        entry = {"no": no, "rule_id": f["rule_id"], "rule_name": f["rule_name"], "check": check_zh(f["check"]),
                 "severity": sev, "severity_zh": severity_zh(sev), "points": points, "message_index": mi,
                 "explanation": f["explanation"], "evidence": f["evidence"], "agent_id": f.get("agent_id"),
                 "finding_id": f.get("finding_id")}
        ledger.append(entry)
        title = f"{no}. {f['rule_id']} {f['rule_name']}: {f['explanation']} ({'+' if points < 0 else '−'}{abs(points):g} 分)"
        hs, he = f.get("hl_start"), f.get("hl_end")
        if mi is not None and not pd.isna(hs) and not pd.isna(he):
            css = "hl-critical" if sev == "critical" else ("hl-bonus" if sev == "bonus" else "hl")
            marks.setdefault(mi, []).append(Mark(int(hs), int(he), str(no), title, css))
        elif mi is not None:
            flags.setdefault(mi, []).append(entry)
    transcript = []
    for m in msgs.to_dict("records"):
        idx = int(m["message_index"])
        transcript.append({"index": idx, "role": m["role"], "role_zh": role_zh(m["role"]), "agent_id": m["agent_id"],
                           "timestamp": m["timestamp"], "html": highlight_html(str(m["text"] or ""), marks.get(idx, [])),
                           "flags": flags.get(idx, [])})
    score = float(row["score"])
    return {
        "row": row, "ledger": ledger, "transcript": transcript, "lost": round(lost, 2), "score": score,
        "adds_up": abs(100 - lost - score) < 0.011, "masked": shown_masked, "stored_masked": stored_masked,
        "started_at": _time_text(row.get("started_at")), "scored_at": _time_text(row.get("scored_at")),
    }


# ---------------------------------------------------------------------------- one agent
def agent_summary(cur, agent_id: str) -> dict:
    row = _one(cur, """SELECT count(*) AS n, avg(score) AS mean_score, avg(CAST(passed AS INTEGER)) AS pass_rate,
                              sum(CAST(critical AS INTEGER)) AS critical, sum(CAST(complaint AS INTEGER)) AS complaints,
                              min(started_at) AS first, max(started_at) AS last
                       FROM conversations WHERE agent_id = ?""", [agent_id])
    return {k: _num(v) for k, v in row.items()} if row else {"n": 0}


def agent_trend(cur, agent_id: str) -> list[dict]:
    return _rows(cur, """SELECT CAST(started_at AS DATE) AS day, avg(score) AS mean_score,
                                avg(CAST(passed AS INTEGER)) AS pass_rate, count(*) AS n
                         FROM conversations WHERE agent_id = ? AND started_at IS NOT NULL
                         GROUP BY day ORDER BY day""", [agent_id])


def agent_conversations(cur, agent_id: str, limit: int = 200, offset: int = 0) -> tuple[list[dict], int]:
    """The conversations the agent took part in (primary agent or not), newest first, and how many."""
    where = "agent_id = ? OR list_contains(string_split(coalesce(agents, ''), ';'), ?)"
    total = cur.execute(f"SELECT count(*) FROM conversations WHERE {where}", [agent_id, agent_id]).fetchone()[0]
    rows = _rows(cur, f"""SELECT {', '.join(LIST_COLUMNS)} FROM conversations WHERE {where}
                          ORDER BY started_at DESC NULLS LAST, conversation_id LIMIT ? OFFSET ?""",
                 [agent_id, agent_id, limit, offset])
    for r in rows:
        r["started_at"] = _time_text(r["started_at"])
        r["primary"] = r["agent_id"] == agent_id
    return rows, total


def agent_findings(cur, agent_id: str, limit: int = 100) -> list[dict]:
    """The latest findings on the agent's conversations (primary agent), masked evidence as stored."""
    rows = _rows(cur, """SELECT f.conversation_id, f.rule_id, f.rule_name, f.severity, f.points, f.message_index,
                                f.explanation, c.started_at, r.masked
                         FROM findings f JOIN conversations c USING (conversation_id, run_id) JOIN runs r USING (run_id)
                         WHERE c.agent_id = ? AND f.severity <> 'bonus'
                         ORDER BY c.started_at DESC NULLS LAST, f.conversation_id, f.finding_index LIMIT ?""",
                 [agent_id, limit])
    from csqa.web.render import mask_text

    for r in rows:
        r["started_at"] = _time_text(r["started_at"])
        r["severity_zh"] = severity_zh(r["severity"])
        if not r.pop("masked"):
            r["explanation"] = mask_text(r["explanation"])
    return rows


# ---------------------------------------------------------------------------- the team
def team_summary(cur) -> dict:
    row = _one(cur, """SELECT count(*) AS n, count(DISTINCT agent_id) AS agents, avg(score) AS mean_score,
                              avg(CAST(passed AS INTEGER)) AS pass_rate, sum(CAST(critical AS INTEGER)) AS critical,
                              sum(CAST(complaint AS INTEGER)) AS complaints, min(started_at) AS first,
                              max(started_at) AS last FROM conversations""")
    row = {k: _num(v) for k, v in row.items()}
    row["runs"] = cur.execute("SELECT count(*) FROM runs WHERE superseded_by IS NULL").fetchone()[0]
    row["first"], row["last"] = _time_text(row["first"])[:10], _time_text(row["last"])[:10]
    return row


def team_agents(cur) -> list[dict]:
    return [{k: _num(v) for k, v in r.items()} for r in _rows(cur, """
        SELECT agent_id, count(*) AS n, avg(score) AS mean_score, avg(CAST(passed AS INTEGER)) AS pass_rate,
               sum(CAST(critical AS INTEGER)) AS critical, sum(CAST(complaint AS INTEGER)) AS complaints,
               sum(n_findings) AS findings
        FROM conversations GROUP BY agent_id ORDER BY mean_score, agent_id""")]


def conversations_where(cur, condition: str, order: str, limit: int = 50, params=()) -> list[dict]:
    rows = _rows(cur, f"SELECT {', '.join(LIST_COLUMNS)} FROM conversations WHERE {condition} ORDER BY {order} LIMIT ?",
                 [*params, limit])
    for r in rows:
        r["started_at"] = _time_text(r["started_at"])
    return rows


def critical_conversations(cur, limit: int = 50) -> list[dict]:
    return conversations_where(cur, "critical", "started_at DESC NULLS LAST, conversation_id", limit)


def lowest_conversations(cur, limit: int = 30) -> list[dict]:
    return conversations_where(cur, "true", "score, conversation_id", limit)


def review_candidates(cur, limit: int = 200) -> list[dict]:
    """Red-line conversations and serious complaints: what every review sample starts with."""
    return conversations_where(cur, "critical OR complaint_severity = 'serious'",
                               "started_at DESC NULLS LAST, conversation_id", limit)


def rule_hits(cur) -> list[dict]:
    """Per rule: how often it fired and in how many conversations (machine findings, bonus rules left out)."""
    return _rows(cur, """SELECT rule_id, any_value(rule_name) AS rule_name, any_value("check") AS "check",
                                any_value(severity) AS severity, count(*) AS hits,
                                count(DISTINCT conversation_id) AS conversations
                         FROM findings WHERE severity <> 'bonus' GROUP BY rule_id ORDER BY rule_id""")


def runs(cur, limit: int = 20) -> list[dict]:
    rows = _rows(cur, """SELECT run_id, created_at, rulebook_id, model_id, masked, conversations, findings, superseded_by
                         FROM runs ORDER BY created_at DESC LIMIT ?""", [limit])
    for r in rows:
        r["created_at"] = _time_text(r["created_at"])
    return rows


def day_label(d) -> str:
    return d.strftime("%m-%d") if isinstance(d, (date, datetime)) else str(d)


# ---------------------------------------------------------------------------- the review loop (csqa.review)
STATUS_ZH = {"unreviewed": "未复核", "correct": "正确", "false_positive": "误报", "missed": "漏检", "upheld": "申诉维持",
             "overturned": "申诉撤销"}
APPEAL_ZH = {"open": "待裁决", "upheld": "维持 (问题成立)", "overturned": "撤销 (问题不成立)"}


def _masked(value) -> str:
    """People's own text (comments, reasons) shown masked like chat text: they may quote personal data."""
    from csqa.web.render import mask_text

    return mask_text(value) if isinstance(value, str) else ("" if value is None else str(value))


def review_of(cur, detail: dict) -> dict:
    """The conversation's human score and, per finding of the ledger, what people decided (status, human points,
    who, comment), the findings reviewers added (漏检), its appeals, the rules a missed finding may name and the
    review loop's audit trail of the conversation."""
    from csqa.review import ReviewError, audit_trail, conversation_review, list_appeals
    from csqa.review.human_score import scorecard_of_run

    row = detail["row"]
    cid = row["conversation_id"]
    out = {"human": None, "error": "", "missed": [], "appeals": [], "rules": [], "audit": []}
    try:
        human = conversation_review(cur, cid)
        card = scorecard_of_run(cur, row["run_id"])
    except ReviewError as exc:
        out["error"] = str(exc)
        human, card = None, None
    appeals = [a.as_dict() for a in list_appeals(cur, conversation_id=cid)]
    latest_appeal = {}
    for a in appeals:
        a["status_zh"] = APPEAL_ZH.get(a["status"], a["status"])
        a["reason"], a["ruling_comment"] = _masked(a["reason"]), _masked(a["ruling_comment"])
        latest_appeal[a["finding_id"]] = a
    lines = {ln.finding_id: ln for ln in (human.lines if human else [])}
    for entry in detail["ledger"]:
        ln = lines.get(entry.get("finding_id"))
        entry["status"] = ln.status if ln else "unreviewed"
        entry["status_zh"] = STATUS_ZH.get(entry["status"], entry["status"])
        entry["human_points"] = ln.human_points if ln else None
        entry["decided_by"] = ln.decided_by if ln else ""
        entry["comment"] = _masked(ln.comment) if ln else ""
        entry["appeal"] = latest_appeal.get(entry.get("finding_id"))
    machine_ids = {e.get("finding_id") for e in detail["ledger"]}
    for ln in (human.lines if human else []):
        if ln.finding_id not in machine_ids:
            out["missed"].append({"finding_id": ln.finding_id, "rule_id": ln.rule_id, "rule_name": ln.rule_name,
                                  "severity_zh": severity_zh(ln.severity), "message_index": ln.message_index,
                                  "human_points": ln.human_points, "decided_by": ln.decided_by,
                                  "comment": _masked(ln.comment), "status_zh": STATUS_ZH.get(ln.status, ln.status),
                                  "appeal": latest_appeal.get(ln.finding_id)})
    out["human"] = human
    out["appeals"] = appeals
    if card is not None:
        out["rules"] = [{"code": r.code, "name": r.name} for r in card.rules]
    trail = audit_trail(cur, conversation_id=cid)
    def text(v) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else str(v)

    out["audit"] = [{"at": _time_text(r["at"]), "actor": text(r["actor"]), "action": text(r["action"]),
                     "finding_id": text(r["finding_id"]), "detail": _masked(text(r["detail"])), "before": text(r["before"]),
                     "after": text(r["after"])} for r in trail.to_dict("records")]
    return out


def human_scores_of(cur, conversation_ids) -> dict[str, float | None]:
    """The current human score of each conversation that has one (the review loop's recorded scores)."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    return {r[0]: r[1] for r in cur.execute(
        """SELECT h.conversation_id, h.human_score FROM review_current_human_scores h
           JOIN conversations c USING (conversation_id, run_id)
           WHERE list_contains(?, h.conversation_id)""", [ids]).fetchall()}


def agent_review_summary(cur, agent_id: str) -> dict:
    row = cur.execute(
        """SELECT count(*), avg(h.human_score), avg(CAST(h.human_passed AS INTEGER))
           FROM review_current_human_scores h JOIN conversations c USING (conversation_id, run_id)
           WHERE c.agent_id = ? AND h.human_score IS NOT NULL""", [agent_id]).fetchall()[0]
    return {"reviewed": row[0], "mean_human": _num(row[1]), "human_pass_rate": _num(row[2])}


def reviewer_queue_all(cur) -> list[dict]:
    return reviewer_queue(cur, None)


def reviewer_queue(cur, reviewer: str | None) -> list[dict]:
    """The queued conversations of one reviewer (None: of everyone), each once per reviewer."""
    from csqa.review import queue_of

    frame = queue_of(cur, reviewer)
    rows = []
    seen = set()
    for r in frame.to_dict("records"):
        if (r["conversation_id"], r["reviewer"]) in seen:
            continue
        seen.add((r["conversation_id"], r["reviewer"]))
        rows.append({"conversation_id": r["conversation_id"], "reviewer": r["reviewer"], "agent_id": r["agent_id"],
                     "score": _num(r["score"]),
                     "critical": bool(r["critical"]) if r["critical"] is not None and not pd.isna(r["critical"]) else False,
                     "reason": r["reason"], "calibration": bool(r["calibration"]), "reviewed": bool(r["reviewed"]),
                     "assigned_at": _time_text(r["assigned_at"])})
    return rows


def finding_of_conversation(cur, conversation_id: str, finding_id: str) -> bool:
    """The finding is one of the conversation's (the machine's, as scored now, or one a reviewer added)."""
    return bool(cur.execute(
        """SELECT 1 FROM findings f JOIN conversations c USING (conversation_id, run_id)
           WHERE f.conversation_id = ? AND f.finding_id = ?
           UNION ALL SELECT 1 FROM review_verdicts WHERE conversation_id = ? AND finding_id = ? AND verdict = 'missed'
           LIMIT 1""", [conversation_id, finding_id, conversation_id, finding_id]).fetchall())


def review_audit_rows(cur, limit: int = 500) -> list[dict]:
    """The review loop's audit trail (every assignment, verdict, appeal, ruling), newest first."""
    rows = _rows(cur, """SELECT event_id, "at", actor, "action", conversation_id, finding_id, detail, "before", "after"
                         FROM review_audit ORDER BY event_id DESC LIMIT ?""", [limit])
    for r in rows:
        r["at"] = _time_text(r["at"])
        r["detail"] = _masked(r["detail"])
    return rows
