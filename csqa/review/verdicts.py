"""Reviewer verdicts: 正确 / 误报 on the machine's findings, 漏检 for what it missed, complaint labels.

`record_verdicts(store, reviewer, rows)` is what `csqa review import` and a web desk call: every
row is checked against the store first; a row it cannot take is reported with its row label and
reason and **nothing** is applied (`ImportRejected`); otherwise all rows go in one transaction,
each an appended `review_verdicts` row (who, when, the verdict it replaces, the conversation's
human score before and after), and the human scores that changed are appended to
`review_human_scores`. A row that repeats the reviewer's current verdict (same verdict and
comment) is not recorded again (``unchanged``).

Verdicts (English or Chinese): ``correct`` 正确, ``false_positive`` 误报, ``missed`` 漏检 (with
conversation_id, rule_id and — for rules about single messages — message_index; its id is
`csqa.results.finding_ids.missed_id`), ``withdrawn`` 撤回 (take back your own verdict on a finding, or a
miss you added). ``correct`` on a row with only a conversation_id says the reviewer looked at the
conversation and found nothing to add (a conversation without findings counts as reviewed then).
"""
from __future__ import annotations

from csqa.review.db import one

import secrets
from dataclasses import dataclass, field

from csqa.review.db import connect, name_of, now, transaction
from csqa.review.errors import ImportRejected, NotFound, ReviewError
from csqa.results.finding_ids import missed_id

VERDICTS = ("correct", "false_positive", "missed", "withdrawn")
VERDICT_ALIASES = {
    "correct": "correct", "正确": "correct", "对": "correct", "确认": "correct", "true_positive": "correct", "tp": "correct",
    "false_positive": "false_positive", "false positive": "false_positive", "误报": "false_positive", "错误": "false_positive",
    "fp": "false_positive", "wrong": "false_positive",
    "missed": "missed", "漏检": "missed", "漏报": "missed", "miss": "missed", "false_negative": "missed",
    "withdrawn": "withdrawn", "withdraw": "withdrawn", "撤回": "withdrawn", "撤销": "withdrawn",
}
VERDICT_ZH = {"correct": "正确", "false_positive": "误报", "missed": "漏检", "withdrawn": "撤回", "reviewed": "已复核"}
MESSAGE_KINDS = ("forbid", "timing", "repetition", "emoji")  # rules whose findings sit on one message
MAX_COMMENT = 2000


def normalize_verdict(value) -> str | None:
    """The verdict a cell means (None when blank); ValueError when it means none."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    found = VERDICT_ALIASES.get(text.lower()) or VERDICT_ALIASES.get(text.lower().replace("-", "_"))
    if found is None:
        raise ValueError(f"无法识别的判定 {text!r}；可用: 正确 / 误报 / 漏检 / 撤回 (correct / false_positive / missed / withdrawn)")
    return found


@dataclass
class VerdictRow:
    """One verdict as given (a file row, a form): `where` names it in error messages."""

    verdict: str
    finding_id: str | None = None
    comment: str = ""
    conversation_id: str | None = None
    rule_id: str | None = None
    message_index: int | None = None
    where: str = ""
    source_row: int | None = None


@dataclass
class LabelRow:
    """A complaint label on a customer message: category (code or Chinese name) and severity."""

    conversation_id: str
    message_index: int
    category: str
    severity: str = ""
    where: str = ""
    source_row: int | None = None


@dataclass
class ImportResult:
    batch_id: str
    reviewer: str
    applied: int = 0
    unchanged: int = 0
    labels: int = 0
    conversations: list[str] = field(default_factory=list)
    human_scores_changed: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)
    skipped_blank: int = 0

    def text(self) -> str:
        counts = "，".join(f"{VERDICT_ZH.get(k, k)} {v}" for k, v in sorted(self.by_verdict.items())) or "无"
        return (f"已导入 {self.applied} 条判定 ({counts})，未变化 {self.unchanged} 条，投诉标注 {self.labels} 条，"
                f"未判定 {self.skipped_blank} 条；涉及 {len(self.conversations)} 个会话，人工分更新 {self.human_scores_changed} 个"
                f" (复核员 {self.reviewer}，批次 {self.batch_id}) / imported {self.applied} verdicts")


def _clean_comment(text) -> str:
    from csqa.checks.pii import mask_pii
    from csqa.outputs.safety import strip_controls

    value = strip_controls("" if text is None else str(text)).strip()
    if len(value) > MAX_COMMENT:
        raise ValueError(f"备注过长 ({len(value)} 个字符，上限 {MAX_COMMENT})")
    return mask_pii(value) if value else ""


def _labels_of(con, conversation_ids) -> dict:
    """(conversation_id, message_index) → role of the stored messages of these conversations."""
    import pandas as pd

    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    con.register("review_label_ids", pd.DataFrame({"conversation_id": pd.Series(ids, dtype=object)}))
    try:
        rows = con.execute("""SELECT m.conversation_id, m.message_index, m.role FROM messages m
                              JOIN conversations c USING (conversation_id, run_id)
                              JOIN review_label_ids USING (conversation_id)""").fetchall()
    finally:
        con.unregister("review_label_ids")
    return {(r[0], int(r[1])): r[2] for r in rows}


def record_verdicts(store, reviewer: str, rows: list[VerdictRow], labels: list[LabelRow] = (), source: str = "api",
                    problems: list[tuple[str, str, str]] | None = None, skipped_blank: int = 0) -> ImportResult:
    """Check every row against the store, then record them all in one transaction — or none.

    problems: problems found while reading the rows (a file's unreadable cells), reported with
    those found here. Raises `ImportRejected` (nothing applied) when there is any."""
    from csqa.review.human_score import Scorecards, human_score_of, load_states, record_human_scores

    reviewer = name_of(reviewer, "复核员 reviewer")
    problems = list(problems or [])
    with connect(store, write=True) as con:
        from csqa.outputs.store.review_tables import create_review_tables, has_review_tables

        if not has_review_tables(con):  # (a connection a caller opened on an older store)
            create_review_tables(con)
        with transaction(con):
            cids = {r.conversation_id for r in rows if r.conversation_id} | {lb.conversation_id for lb in labels}
            fids = [r.finding_id for r in rows if r.finding_id]
            known = _findings_by_id(con, fids)
            cids |= {f["conversation_id"] for f in known.values()}
            states = load_states(con, cids)
            cards = Scorecards(con)
            roles = _labels_of(con, {r.conversation_id for r in rows if r.verdict == "missed" and r.conversation_id}
                               | {lb.conversation_id for lb in labels})
            pending, pending_labels = _check(rows, labels, reviewer, known, states, cards, roles, problems)
            if problems:
                raise _rejected(source, problems)
            batch = f"{now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
            result = ImportResult(batch, reviewer, skipped_blank=skipped_blank)
            at = now()
            touched = sorted({p["conversation_id"] for p in pending})
            before = {cid: human_score_of(states[cid], cards(states[cid].run_id)) for cid in touched}
            next_id = 1 << 62  # (in memory only: newer than every recorded event)
            for p in pending:
                state = states[p["conversation_id"]]
                p.update(event_id=next_id, recorded_at=at, reviewer=reviewer)
                next_id += 1
                state.events.append(p)
                if p["verdict"] == "missed":
                    state.missed_info.setdefault(p["finding_id"], (p["rule_id"], p["message_index"]))
            after = {cid: human_score_of(states[cid], cards(states[cid].run_id)) for cid in touched}
            for p in pending:
                cid = p["conversation_id"]
                con.execute(
                    """INSERT INTO review_verdicts (batch_id, finding_id, conversation_id, run_id, rule_id, message_index,
                           verdict, comment, reviewer, recorded_at, source, source_row, previous_verdict,
                           human_score_before, human_score_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [batch, p["finding_id"], cid, states[cid].run_id, p["rule_id"], p["message_index"], p["verdict"],
                     p["comment"], reviewer, at, source, p.get("source_row"), p.get("previous"),
                     before[cid].human_score, after[cid].human_score])
                result.by_verdict[p["verdict"]] = result.by_verdict.get(p["verdict"], 0) + 1
            for lb in pending_labels:
                con.execute("""INSERT INTO review_labels (batch_id, conversation_id, message_index, category, severity,
                                   reviewer, recorded_at, source, source_row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                            [batch, lb["conversation_id"], lb["message_index"], lb["category"], lb["severity"], reviewer,
                             at, source, lb.get("source_row")])
            result.applied = len(pending)
            result.unchanged = len(rows) - len(pending)
            result.labels = len(pending_labels)
            result.conversations = touched
            result.human_scores_changed = record_human_scores(con, before, after, f"verdicts {batch}", at)
    return result


def _findings_by_id(con, finding_ids) -> dict[str, dict]:
    """Current machine findings by id (of the runs that scored their conversations now)."""
    ids = sorted({str(f) for f in finding_ids if f})
    if not ids:
        return {}
    rows = con.execute("""SELECT f.finding_id, f.conversation_id, f.rule_id, f.message_index, f.agent_id
                          FROM findings f JOIN conversations c USING (conversation_id, run_id)
                          WHERE f.finding_id IN (SELECT unnest(?::VARCHAR[]))""", [ids]).fetchall()
    return {r[0]: {"conversation_id": r[1], "rule_id": r[2], "message_index": r[3], "agent_id": r[4]} for r in rows}


def _check(rows, labels, reviewer, known, states, cards, roles, problems):
    """The rows as verdict events to record (those that change something), or problems."""
    pending = _check_verdicts(rows, reviewer, known, states, cards, roles, problems)
    pending_labels = _check_labels(labels, states, roles, problems)
    return pending, pending_labels


def _check_verdicts(rows, reviewer, known, states, cards, roles, problems) -> list[dict]:
    """The verdict rows as events to record (those that change something); problems appended."""
    pending = []
    seen: dict[tuple, str] = {}
    missed_known = {fid: (cid, info) for cid, s in states.items() for fid, info in s.missed_info.items()}
    for r in rows:
        def bad(column: str, reason: str, r=r):
            problems.append((r.where, column, reason))

        event = _verdict_event(r, known, states, cards, roles, missed_known, bad)
        if event is None:
            continue
        key = (event["finding_id"] or f"conversation:{event['conversation_id']}",)
        if key in seen:
            bad("finding_id", f"与{seen[key]}重复 (同一个问题在文件中出现两次)")
            continue
        seen[key] = r.where or "前面的行"
        state = states[event["conversation_id"]]
        mine = state.latest_by_reviewer().get((key[0], reviewer))
        if event["verdict"] == "withdrawn":
            if mine is None:
                bad("verdict", f"复核员 {reviewer} 对 {key[0]} 没有可撤回的判定")
                continue
            event.update(rule_id=event["rule_id"] or mine["rule_id"], message_index=event["message_index"]
                         if event["message_index"] is not None else mine["message_index"])
        elif mine is not None and mine["verdict"] == event["verdict"] and (mine["comment"] or "") == event["comment"]:
            continue  # unchanged
        event["previous"] = mine["verdict"] if mine is not None else None
        pending.append(event)
    return pending


def _verdict_event(r, known, states, cards, roles, missed_known, bad) -> dict | None:
    """One verdict row as an event on its finding or conversation; None (after `bad`) when it cannot be."""
    verdict = r.verdict
    if verdict not in VERDICTS:
        bad("verdict", f"无法识别的判定 {verdict!r}")
        return None
    try:
        comment = _clean_comment(r.comment)
    except ValueError as exc:
        bad("comment", str(exc))
        return None
    fid = (r.finding_id or "").strip() or None
    cid = (r.conversation_id or "").strip() or None
    event = {"finding_id": fid, "conversation_id": cid, "rule_id": None, "message_index": None, "verdict": verdict,
             "comment": comment, "source_row": r.source_row}
    if verdict == "missed":
        located = _locate_missed(r, fid, cid, states, cards, roles, bad)
        if located is None:
            return None
        event.update(located)
    elif fid is None:
        if verdict != "correct" or not cid or (r.rule_id or "").strip():
            bad("finding_id", "缺少 finding_id；只有 conversation_id 的行只能标 正确 (已看过，无需补充)，漏检请把判定写 漏检")
            return None
        if cid not in states:
            bad("conversation_id", f"结果库中没有会话 {cid}")
            return None
        event["verdict"] = "reviewed"
    else:
        found = known.get(fid)
        if found is not None:
            event.update(conversation_id=found["conversation_id"], rule_id=found["rule_id"],
                         message_index=None if found["message_index"] is None else int(found["message_index"]))
        elif fid in missed_known:
            mcid, (mrule, mindex) = missed_known[fid]
            event.update(conversation_id=mcid, rule_id=mrule, message_index=mindex)
        else:
            bad("finding_id", f"结果库中没有问题 {fid} (它所在的会话可能已用别的规则库或模型重新打分)")
            return None
        if cid and cid != event["conversation_id"]:
            bad("conversation_id", f"finding_id {fid} 属于会话 {event['conversation_id']}，不是 {cid}")
            return None
    return event


def _locate_missed(r, fid, cid, states, cards, roles, bad) -> dict | None:
    """A 漏检 row's finding id, rule and message, checked against the store; None (after `bad`) when wrong."""
    if fid is not None and not fid.startswith("M"):
        bad("verdict", f"finding_id {fid} 是机器发现的问题，漏检行的 finding_id 请留空 (它会得到自己的编号)；"
                       f"判定它请用 正确/误报")
        return None
    if not cid or not (r.rule_id or "").strip():
        bad("conversation_id" if not cid else "rule_id", "漏检行需要 conversation_id、rule_id (规则编号) 和 "
            "message_index (消息序号) / a missed finding needs conversation_id, rule_id and message_index")
        return None
    state = states.get(cid)
    if state is None:
        bad("conversation_id", f"结果库中没有会话 {cid}")
        return None
    rule_id = r.rule_id.strip().upper()
    card = cards(state.run_id)
    rule = card.by_code.get(rule_id)
    if rule is None:
        bad("rule_id", f"规则 {rule_id} 不在给会话 {cid} 打分的规则中 (可用: {', '.join(card.by_code)[:200]})")
        return None
    index = r.message_index
    if index is None and rule.kind in MESSAGE_KINDS:
        bad("message_index", f"规则 {rule_id} 针对单条消息，请填写消息序号 message_index (会话中从 0 开始的位置)")
        return None
    if index is not None:
        role = roles.get((cid, index))
        if role is None:
            bad("message_index", f"会话 {cid} 没有第 {index} 条消息 (共 {state.n_messages} 条，序号从 0 开始)")
            return None
        if rule.kind in MESSAGE_KINDS and role != rule.scope.role:
            want = "客服" if rule.scope.role == "agent" else "顾客"
            bad("message_index", f"第 {index} 条消息不是{want}消息，而规则 {rule_id} 检查{want}消息")
            return None
    same = [f for f in state.findings if f["rule_id"] == rule_id and f["message_index"] == index]
    if same:
        bad("rule_id", f"机器已在这里发现 {rule_id} (finding_id {same[0]['finding_id']})；请在那一行判定 正确，不要再报漏检")
        return None
    mid = missed_id(cid, rule_id, index)
    if fid is not None and fid != mid:
        bad("finding_id", f"漏检行的 finding_id 应为空或 {mid}")
        return None
    return {"finding_id": mid, "rule_id": rule_id, "message_index": index}


def _check_labels(labels, states, roles, problems) -> list[dict]:
    """The complaint labels as rows to record (category and severity as codes); problems appended."""
    from csqa.complaints.taxonomy import CATEGORIES, CATEGORY_NAMES_ZH, SEVERITIES, SEVERITY_NAMES_ZH

    pending_labels = []
    zh_cat = {v: k for k, v in CATEGORY_NAMES_ZH.items()}
    zh_sev = {v: k for k, v in SEVERITY_NAMES_ZH.items()}
    seen_labels: dict[tuple, str] = {}
    for lb in labels:
        def bad_label(column: str, reason: str, lb=lb):
            problems.append((lb.where, column, reason))

        category = (lb.category or "").strip()
        category = category if category in CATEGORIES else zh_cat.get(category)
        if category is None:
            bad_label("complaint_category", f"无法识别的投诉类别 {lb.category!r}；可用: {'、'.join(CATEGORY_NAMES_ZH.values())}")
            continue
        severity = (lb.severity or "").strip()
        if not severity:
            severity = "none" if category == "none" else "normal"
        severity = severity if severity in SEVERITIES else zh_sev.get(severity)
        if severity is None:
            bad_label("complaint_severity", f"无法识别的严重度 {lb.severity!r}；可用: {'、'.join(SEVERITY_NAMES_ZH.values())}")
            continue
        if (category == "none") != (severity == "none"):
            bad_label("complaint_severity", "非投诉的严重度须为 无，投诉的严重度须为 一般投诉 或 重大投诉")
            continue
        role = roles.get((lb.conversation_id, lb.message_index))
        if lb.conversation_id not in states:
            bad_label("conversation_id", f"结果库中没有会话 {lb.conversation_id}")
            continue
        if role is None:
            bad_label("message_index", f"会话 {lb.conversation_id} 没有第 {lb.message_index} 条消息")
            continue
        if role != "customer":
            bad_label("complaint_category", f"第 {lb.message_index} 条消息不是顾客消息；投诉类别只标在顾客消息上")
            continue
        key = (lb.conversation_id, lb.message_index)
        if key in seen_labels:
            bad_label("message_index", f"与{seen_labels[key]}重复")
            continue
        seen_labels[key] = lb.where or "前面的行"
        pending_labels.append({"conversation_id": lb.conversation_id, "message_index": lb.message_index,
                               "category": category, "severity": severity, "source_row": lb.source_row})
    return pending_labels


def _rejected(source: str, problems: list[tuple[str, str, str]]) -> ImportRejected:
    shown = "；".join(f"{where} {column}: {reason}".strip() for where, column, reason in problems[:10])
    more = f"；另有 {len(problems) - 10} 行有问题" if len(problems) > 10 else ""
    return ImportRejected(f"{source}: {len(problems)} 行无法导入，整个文件都没有导入 (请改正后重新导入): {shown}{more} / "
                          f"{len(problems)} rows cannot be imported, nothing was applied", problems)


def set_verdict(store, reviewer: str, finding_id: str, verdict: str, comment: str = "") -> ImportResult:
    """One verdict on one finding (正确 / 误报 / 撤回), e.g. from a web form."""
    try:
        value = normalize_verdict(verdict)
    except ValueError as exc:
        raise ReviewError(str(exc)) from None
    if value is None:
        raise ReviewError("缺少判定 / a verdict is required")
    if value == "missed":
        raise ReviewError("漏检请用 add_missed (会话、规则、消息序号)")
    return record_verdicts(store, reviewer, [VerdictRow(value, finding_id=finding_id, comment=comment, where=str(finding_id))],
                           source="api")


def add_missed(store, reviewer: str, conversation_id: str, rule_id: str, message_index: int | None,
               comment: str = "") -> str:
    """Add a finding the machine missed (漏检); returns its id."""
    record_verdicts(store, reviewer, [VerdictRow("missed", conversation_id=conversation_id, rule_id=rule_id,
                                                 message_index=message_index, comment=comment,
                                                 where=f"{conversation_id}/{rule_id}")], source="api")
    return missed_id(conversation_id, str(rule_id).strip().upper(), message_index)


def mark_reviewed(store, reviewer: str, conversation_id: str, comment: str = "") -> ImportResult:
    """Say a conversation was looked at and nothing needs adding (a conversation without findings)."""
    return record_verdicts(store, reviewer, [VerdictRow("correct", conversation_id=conversation_id, comment=comment,
                                                        where=str(conversation_id))], source="api")


def current_verdicts(store, conversation_id: str | None = None, reviewer: str | None = None):
    """Each reviewer's current verdicts (the view `review_reviewer_verdicts`), newest first."""
    from csqa.review.db import require_review_tables, where_clause

    where, params = where_clause(conversation_id=conversation_id, reviewer=reviewer)
    with connect(store) as con:
        require_review_tables(con)
        return con.execute(f"SELECT * FROM review_reviewer_verdicts{where} ORDER BY event_id DESC", params).df()


def require_conversation(con, conversation_id: str) -> tuple:
    row = one(con.execute("SELECT conversation_id, run_id, agent_id FROM conversations WHERE conversation_id = ?",
                      [conversation_id]))
    if row is None:
        raise NotFound(f"结果库中没有会话 {conversation_id} / no conversation {conversation_id} in the store")
    return row
