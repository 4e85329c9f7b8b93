"""Appeals: an agent disputes a finding, an arbiter rules once, the human score follows.

`file_appeal(store, agent, finding_id, reason)`: the agent must be the one the finding names
(or the conversation's agent), the reason is mandatory, one open appeal per finding, and none
after a ruling (the ruling is final). A finding reviewers already judged a false positive costs
nothing and cannot be appealed.

`rule_on_appeal(store, arbiter, appeal_id, decision)`: ``upheld`` (维持: the finding stands) or
``overturned`` (撤销: it is removed from the human score). The arbiter cannot be the agent who
appealed. Appeals and rulings are appended rows (`review_appeals`, `review_rulings`) with the
human score before and after; the conversation's new human score is appended too.
Roles (who may rule at all) are the caller's business: the command line trusts its user, the
web desk checks the manager role.
"""
from __future__ import annotations

from csqa.review.db import one

from dataclasses import asdict, dataclass
from datetime import datetime

from csqa.review.db import connect, name_of, now, transaction
from csqa.review.errors import Conflict, NotAllowed, NotFound, ReviewError

DECISIONS = {"upheld": "upheld", "uphold": "upheld", "维持": "upheld", "维持原判": "upheld", "驳回": "upheld",
             "overturned": "overturned", "overturn": "overturned", "撤销": "overturned", "改判": "overturned",
             "支持": "overturned"}
DECISION_ZH = {"upheld": "维持 (问题成立)", "overturned": "撤销 (问题不成立)", "open": "待裁决"}
MAX_REASON = 2000


@dataclass
class Appeal:
    appeal_id: int
    finding_id: str
    conversation_id: str
    rule_id: str
    message_index: int | None
    agent_id: str
    reason: str
    filed_at: datetime
    status: str  # open / upheld / overturned
    arbiter: str | None = None
    ruling_comment: str | None = None
    ruled_at: datetime | None = None
    human_score_before: float | None = None
    human_score_after: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _text(value, what: str, required: bool) -> str:
    from csqa.checks.pii import mask_pii
    from csqa.outputs.safety import strip_controls

    text = strip_controls("" if value is None else str(value)).strip()
    if required and not text:
        raise ReviewError(f"申诉必须写明{what} / a {what} is required")
    if len(text) > MAX_REASON:
        raise ReviewError(f"{what}过长 ({len(text)} 个字符，上限 {MAX_REASON})")
    return mask_pii(text) if text else ""


def _finding(con, finding_id: str) -> dict:
    """A current finding: a machine finding of the run that scored its conversation, or a live missed one."""
    row = one(con.execute("""SELECT f.finding_id, f.conversation_id, f.run_id, f.rule_id, f.message_index, f.agent_id, c.agent_id
                         FROM findings f JOIN conversations c USING (conversation_id, run_id)
                         WHERE f.finding_id = ?""", [finding_id]))
    if row is not None:
        return {"finding_id": row[0], "conversation_id": row[1], "run_id": row[2], "rule_id": row[3],
                "message_index": row[4], "agents": {row[5], row[6]} - {None, ""}}
    row = one(con.execute("""SELECT v.finding_id, v.conversation_id, c.run_id, v.rule_id, v.message_index, c.agent_id
                         FROM review_verdicts v JOIN conversations c USING (conversation_id)
                         WHERE v.finding_id = ? AND v.verdict = 'missed' LIMIT 1""", [finding_id]))
    if row is not None:
        agents = {row[5]} - {None, ""}
        if row[4] is not None:  # the agent who wrote that message
            sender = one(con.execute("""SELECT m.agent_id FROM messages m JOIN conversations c USING (conversation_id, run_id)
                                    WHERE m.conversation_id = ? AND m.message_index = ?""", [row[1], row[4]]))
            if sender and sender[0]:
                agents.add(sender[0])
        return {"finding_id": row[0], "conversation_id": row[1], "run_id": row[2], "rule_id": row[3],
                "message_index": row[4], "agents": agents}
    raise NotFound(f"结果库中没有问题 {finding_id} (或它所在的会话已重新打分) / no finding {finding_id}")


def file_appeal(store, agent: str, finding_id: str, reason: str) -> Appeal:
    """An agent disputes one of their findings; returns the open appeal."""
    from csqa.review.human_score import Scorecards, human_score_of, load_states

    agent = name_of(agent, "客服 agent")
    reason = _text(reason, "申诉理由 (reason)", required=True)
    with connect(store, write=True) as con:
        with transaction(con):
            f = _finding(con, str(finding_id).strip())
            if agent not in f["agents"]:
                raise NotAllowed(f"客服 {agent} 只能申诉自己会话中的问题；问题 {f['finding_id']} 属于 "
                                 f"{'、'.join(sorted(f['agents'])) or '(无客服)'} / agents may only appeal their own findings")
            earlier = con.execute("SELECT status FROM review_appeal_state WHERE finding_id = ? ORDER BY appeal_id",
                                  [f["finding_id"]]).fetchall()
            if any(s == "open" for (s,) in earlier):
                raise Conflict(f"问题 {f['finding_id']} 已有待裁决的申诉 / an appeal on this finding is open")
            if earlier:
                raise Conflict(f"问题 {f['finding_id']} 的申诉已裁决 ({DECISION_ZH[earlier[-1][0]]})，裁决为最终结果，不能再次申诉 / "
                               f"the ruling on this finding is final")
            state = load_states(con, [f["conversation_id"]])[f["conversation_id"]]
            score = human_score_of(state, Scorecards(con)(state.run_id))
            line = next((ln for ln in score.lines if ln.finding_id == f["finding_id"]), None)
            if line is not None and line.status == "false_positive":
                raise Conflict(f"问题 {f['finding_id']} 已被复核判为误报，不计分，无需申诉 / already judged a false positive")
            at = now()
            appeal_id = one(con.execute(
                """INSERT INTO review_appeals (finding_id, conversation_id, run_id, rule_id, message_index, agent_id, reason,
                       filed_at, human_score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING event_id""",
                [f["finding_id"], f["conversation_id"], f["run_id"], f["rule_id"], f["message_index"], agent, reason, at,
                 score.human_score if score.reviewed else score.machine_score]))[0]
            return _appeal(con, appeal_id)


def _appeal(con, appeal_id: int) -> Appeal:
    cols = ["appeal_id", "finding_id", "conversation_id", "rule_id", "message_index", "agent_id", "reason", "filed_at",
            "status", "arbiter", "ruling_comment", "ruled_at", "human_score_before", "human_score_after"]
    row = one(con.execute(f"SELECT {', '.join(cols)} FROM review_appeal_state WHERE appeal_id = ?", [appeal_id]))
    if row is None:
        raise NotFound(f"没有申诉 {appeal_id} / no appeal {appeal_id}")
    return Appeal(**dict(zip(cols, row)))


def normalize_decision(value: str) -> str:
    found = DECISIONS.get(str(value or "").strip().lower()) or DECISIONS.get(str(value or "").strip())
    if found is None:
        raise ReviewError(f"无法识别的裁决 {value!r}；可用: upheld 维持 (问题成立) / overturned 撤销 (问题不成立)")
    return found


def rule_on_appeal(store, arbiter: str, appeal_id: int, decision: str, comment: str = "") -> Appeal:
    """Rule on an open appeal (final); returns it with the human score before and after."""
    from csqa.review.human_score import Scorecards, human_score_of, load_states, record_human_scores

    arbiter = name_of(arbiter, "裁决人 arbiter")
    decision = normalize_decision(decision)
    comment = _text(comment, "裁决说明", required=False)
    try:
        appeal_id = int(appeal_id)
    except (TypeError, ValueError):
        raise NotFound(f"申诉编号须为整数 (收到 {appeal_id!r})") from None
    with connect(store, write=True) as con:
        with transaction(con):
            appeal = _appeal(con, appeal_id)
            if appeal.status != "open":
                raise Conflict(f"申诉 {appeal_id} 已裁决 ({DECISION_ZH[appeal.status]}，{appeal.arbiter}，{appeal.ruled_at:%Y-%m-%d %H:%M})，"
                               f"裁决为最终结果 / the appeal was ruled on already; the ruling is final")
            if arbiter == appeal.agent_id:
                raise NotAllowed(f"{arbiter} 是申诉人，不能裁决自己的申诉 / the appellant cannot rule on their own appeal")
            cards = Scorecards(con)
            state = load_states(con, [appeal.conversation_id]).get(appeal.conversation_id)
            if state is None:
                raise NotFound(f"结果库中已没有会话 {appeal.conversation_id}")
            before = human_score_of(state, cards(state.run_id))
            at = now()
            state.rulings[appeal.finding_id] = {"status": decision, "arbiter": arbiter, "comment": comment, "ruled_at": at}
            after = human_score_of(state, cards(state.run_id))
            con.execute("""INSERT INTO review_rulings (appeal_id, finding_id, conversation_id, decision, arbiter, comment,
                               ruled_at, human_score_before, human_score_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                        [appeal_id, appeal.finding_id, appeal.conversation_id, decision, arbiter, comment, at,
                         before.human_score if before.reviewed else before.machine_score, after.human_score])
            record_human_scores(con, {appeal.conversation_id: before}, {appeal.conversation_id: after},
                                f"ruling on appeal {appeal_id}", at)
            return _appeal(con, appeal_id)


def list_appeals(store, status: str | None = None, agent: str | None = None,
                 conversation_id: str | None = None) -> list[Appeal]:
    """Appeals, oldest first; status: open / upheld / overturned / ruled (both)."""
    from csqa.review.db import require_review_tables, where_clause

    if status not in (None, "", "ruled", "open", "upheld", "overturned"):
        raise ReviewError(f"状态须为 open / upheld / overturned / ruled (收到 {status!r})")
    where, params = where_clause(["status <> 'open'"] if status == "ruled" else [],
                                 status=None if status == "ruled" else status or None, agent_id=agent or None,
                                 conversation_id=conversation_id or None)
    with connect(store) as con:
        require_review_tables(con)
        ids = [r[0] for r in con.execute(f"SELECT appeal_id FROM review_appeal_state{where} ORDER BY appeal_id",
                                         params).fetchall()]
        return [_appeal(con, i) for i in ids]


def audit_trail(store, conversation_id: str | None = None, finding_id: str | None = None):
    """Every review event (assignments, verdicts, appeals, rulings, labels), oldest first."""
    from csqa.review.db import require_review_tables, where_clause

    where, params = where_clause(conversation_id=conversation_id or None, finding_id=finding_id or None)
    with connect(store) as con:
        require_review_tables(con)
        return con.execute(f"SELECT * FROM review_audit{where} ORDER BY event_id", params).df()
