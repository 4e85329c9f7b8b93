"""The human score: a reviewed conversation's ledger worked out again from what people decided.

The machine's findings stay, in ledger order, except those a reviewer judged a false positive
(误报) or an arbiter overturned on appeal; the findings reviewers added (漏检) join them, each in
its rule's place (and a rule that was N/A for the conversation applies once a reviewer says it
was broken). Then the scorecard of the rulebook that scored the conversation (its text is kept
in the store, `review_rulebooks`) prices them with its own function
(`csqa.scoring.Scorecard.points`): the same caps per rule and dimension, N/A rescaling and red-line
fail. With nothing judged wrong and nothing added, the human ledger is the machine's, cent for cent.

Who decides a finding: an arbiter's ruling on an appeal, else the latest verdict of any
reviewer (each reviewer's latest; ``withdrawn`` takes a reviewer's verdict back), else nobody
(it stays as the machine found it). A verdict on a finding id the conversation no longer has
(it was scored again with another rulebook or model) is stale and ignored. A conversation has a
human score once anyone gave a verdict on it (or ruled on an appeal in it); machine and human
scores are kept apart (`conversations.score`, `review_human_scores.human_score`).
"""
from __future__ import annotations

from csqa.review.db import one

import json
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from csqa.review.errors import NotFound, ReviewError

from csqa.outputs.store.review_tables import REVIEW_AGENT_COLUMNS, REVIEW_CONVERSATION_COLUMNS  # noqa: F401

# what a finding's state is called in ledgers and the audit trail
KEPT = ("unreviewed", "correct", "upheld", "missed")
STATUS_ZH = {"unreviewed": "未复核", "correct": "正确", "false_positive": "误报", "missed": "漏检",
             "upheld": "申诉维持", "overturned": "申诉撤销"}


# ---------------------------------------------------------------------------- the scorecard of a run
@dataclass
class Scorecard:
    """The rules that scored a run, in ledger order, its rulebook, and the scorecard that prices hits
    (`csqa.scoring.Scorecard`, the one `csqa score` uses)."""

    rulebook: object
    rules: list
    by_code: dict
    pass_mark: float
    position: dict
    card: object = None


_RULEBOOKS: dict[str, object] = {}  # sha256 → parsed Rulebook (a few per store)


def scorecard_of_run(con, run_id: str) -> Scorecard:
    row = one(con.execute("SELECT rulebook_sha256, manifest FROM runs WHERE run_id = ?", [run_id]))
    if row is None:
        raise NotFound(f"结果库中没有批次 {run_id} / no run {run_id} in the store")
    sha, manifest = row
    try:
        entry = json.loads(manifest or "{}").get("rulebook") or {}
    except ValueError:
        entry = {}
    rulebook = rulebook_by_sha(con, sha, entry.get("path"))
    codes = entry.get("rules")
    if codes is None:  # (a run of an older csqa: every enabled rule)
        codes = [r.code for r in rulebook.rules if r.enabled]
    key = (sha, tuple(codes))
    found = _SCORECARDS.get(key) if sha else None
    if found is None:
        found = _scorecard(rulebook, codes)
        if sha:
            if len(_SCORECARDS) >= 16:
                _SCORECARDS.clear()
            _SCORECARDS[key] = found
    return found


# (rulebook sha256, the run's rule codes) → its Scorecard: compiling a rulebook took ~7 ms of every verdict
_SCORECARDS: dict[tuple, Scorecard] = {}


def _scorecard(rulebook, codes) -> Scorecard:
    by_code = {r.code: r for r in rulebook.rules}
    rules = [by_code[c] for c in codes if c in by_code]
    from csqa.checks.engine import CompiledRulebook
    from csqa.scoring import Scorecard as PricingScorecard

    # (only the scorecard prices here: no checks run, so no model is loaded for them)
    compiled = CompiledRulebook(rulebook, select=[r.code for r in rules], models=False)
    return Scorecard(rulebook, rules, {r.code: r for r in rules}, rulebook.settings.pass_mark,
                     {r.code: i for i, r in enumerate(rules)}, PricingScorecard(compiled))


def rulebook_by_sha(con, sha: str | None, path: str | None = None):
    """The rulebook with this sha256, from the store (or its file, when that still has it)."""
    from csqa.rulebook.loader import parse_rulebook

    if sha in _RULEBOOKS:
        return _RULEBOOKS[sha]
    found = one(con.execute("SELECT text, path FROM review_rulebooks WHERE rulebook_sha256 = ?", [sha])) if sha else None
    if found is not None:
        text, source = found
    else:
        import hashlib
        from pathlib import Path

        text, source = None, path
        try:
            raw = Path(path).read_bytes() if path else None
        except OSError:
            raw = None
        if raw is not None and hashlib.sha256(raw).hexdigest() == sha:
            text = raw.decode("utf-8-sig")
        if text is None:
            raise ReviewError(f"结果库中没有给这批会话打分的规则库 (sha256 {str(sha)[:12]}…, 原路径 {path})，无法计算人工分；"
                              f"请把那份规则库放回原路径后重试 / the rulebook that scored these conversations is not in "
                              f"the store and its file changed: put it back at {path}")
    book = parse_rulebook(text, str(source))
    if len(_RULEBOOKS) > 16:
        _RULEBOOKS.clear()
    _RULEBOOKS[sha] = book
    return book


# ---------------------------------------------------------------------------- what people decided
@dataclass
class Decision:
    """The state of one finding: who decided what, last."""

    status: str  # unreviewed / correct / false_positive / missed / upheld / overturned
    reviewer: str = ""
    comment: str = ""
    at: datetime | None = None


@dataclass
class ConversationState:
    conversation_id: str
    run_id: str
    agent_id: str
    score: float
    passed: bool
    critical: bool
    not_applicable: list[str]
    n_messages: int
    findings: list[dict]  # machine findings in ledger order
    events: list[dict] = field(default_factory=list)  # verdict rows, oldest first (event_id order)
    rulings: dict[str, dict] = field(default_factory=dict)  # finding_id → ruled appeal (status, arbiter, …)
    missed_info: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # missed id → (rule, message)

    def finding_ids(self) -> set[str]:
        return {f["finding_id"] for f in self.findings}

    def latest_by_reviewer(self) -> dict[tuple[str, str], dict]:
        """(finding id or 'conversation:…', reviewer) → their latest verdict row (withdrawn: absent)."""
        latest: dict[tuple[str, str], dict] = {}
        for e in self.events:
            key = (e["finding_id"] or f"conversation:{self.conversation_id}", e["reviewer"])
            if e["verdict"] == "withdrawn":
                latest.pop(key, None)
            else:
                latest[key] = e
        return latest

    def decisions(self) -> tuple[dict[str, Decision], list[dict]]:
        """(finding id → decision for machine findings and live missed findings, current verdict rows)."""
        latest = self.latest_by_reviewer()
        per_finding: dict[str, dict] = {}
        for (fid, _), e in latest.items():
            if fid.startswith("conversation:"):
                continue
            if fid not in per_finding or e["event_id"] > per_finding[fid]["event_id"]:
                per_finding[fid] = e
        out: dict[str, Decision] = {}
        current = self.finding_ids()
        missed = {f for f in list(per_finding) + list(self.rulings) if f in self.missed_info and f not in current}
        for fid in current | missed:
            ruling = self.rulings.get(fid)
            if ruling is not None:
                out[fid] = Decision(ruling["status"], ruling["arbiter"], ruling.get("comment") or "", ruling.get("ruled_at"))
                continue
            e = per_finding.get(fid)
            if e is None:
                out[fid] = Decision("unreviewed")
            elif fid in current:
                out[fid] = Decision("correct" if e["verdict"] in ("correct", "missed") else e["verdict"],
                                    e["reviewer"], e["comment"] or "", e["recorded_at"])
            elif e["verdict"] in ("missed", "correct"):  # a reviewer's miss, confirmed by another
                out[fid] = Decision("missed", e["reviewer"], e["comment"] or "", e["recorded_at"])
            # (a miss another reviewer judged false: not added)
        live = [e for (fid, _), e in latest.items() if fid.startswith("conversation:") or fid in current or fid in self.missed_info]
        return out, live


@dataclass
class LedgerLine:
    finding_id: str
    rule_id: str
    rule_name: str
    severity: str
    message_index: int | None
    explanation: str
    machine_points: float | None  # None: a finding reviewers added
    human_points: float | None  # None: removed (false positive, overturned)
    status: str
    decided_by: str = ""
    comment: str = ""


@dataclass
class HumanScore:
    conversation_id: str
    run_id: str
    agent_id: str
    machine_score: float
    machine_passed: bool
    human_score: float | None  # None: nobody reviewed it
    human_passed: bool | None
    critical: bool | None
    reviewed: bool
    lines: list[LedgerLine]
    confirmed: int = 0
    false_positives: int = 0
    missed: int = 0
    overturned: int = 0
    upheld: int = 0
    reviewed_by: str = ""
    reviewed_at: datetime | None = None

    def as_row(self) -> dict:
        return {"conversation_id": self.conversation_id, "run_id": self.run_id, "machine_score": self.machine_score,
                "human_score": self.human_score, "human_passed": self.human_passed, "critical": self.critical,
                "confirmed": self.confirmed, "false_positives": self.false_positives, "missed": self.missed,
                "overturned": self.overturned, "reviewed_by": self.reviewed_by, "reviewed_at": self.reviewed_at}


def _index(value) -> int | None:
    if value is None or value is pd.NA:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return int(value)


def load_states(con, conversation_ids) -> dict[str, ConversationState]:
    """The conversations (as the store has them now) with their findings and every review event."""
    ids = sorted({str(c) for c in conversation_ids})
    if not ids:
        return {}
    # the ids as one list parameter (a semi-join): registering a frame per query took half of a verdict's time
    wanted, params = "conversation_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
    conv = con.execute(f"""SELECT c.conversation_id, c.run_id, c.agent_id, c.score, c.passed, c.critical,
                                  c.not_applicable, c.n_messages
                           FROM conversations c WHERE c.{wanted}""", params).fetchall()
    states = {r[0]: ConversationState(r[0], r[1], r[2] or "", float(r[3]), bool(r[4]), bool(r[5]),
                                      [c for c in (r[6] or "").split(";") if c], int(r[7] or 0), [])
              for r in conv}
    cols = ["conversation_id", "finding_id", "rule_id", "rule_name", "severity", "points", "message_index",
            "explanation", "evidence", "agent_id"]
    for row in con.execute(f"""SELECT {', '.join('f.' + (f'"{c}"' if c == 'check' else c) for c in cols)}
                               FROM findings f JOIN conversations c USING (conversation_id, run_id)
                               WHERE f.{wanted} ORDER BY f.conversation_id, f.finding_index""", params).fetchall():
        f = dict(zip(cols, row))
        f["message_index"] = _index(f["message_index"])
        states[f["conversation_id"]].findings.append(f)
    ecols = ["event_id", "finding_id", "conversation_id", "rule_id", "message_index", "verdict", "comment",
             "reviewer", "recorded_at"]
    for row in con.execute(f"""SELECT {', '.join('v.' + c for c in ecols)} FROM review_verdicts v
                               WHERE v.{wanted} ORDER BY v.event_id""", params).fetchall():
        e = dict(zip(ecols, row))
        e["message_index"] = _index(e["message_index"])
        state = states.get(e["conversation_id"])
        if state is None:
            continue
        state.events.append(e)
        if e["verdict"] == "missed":
            state.missed_info.setdefault(e["finding_id"], (e["rule_id"], e["message_index"]))
    for row in con.execute(f"""SELECT a.finding_id, a.conversation_id, a.status, a.arbiter, a.ruling_comment, a.ruled_at
                               FROM review_appeal_state a WHERE a.{wanted} AND a.status <> 'open'
                               ORDER BY a.ruling_id""", params).fetchall():
        state = states.get(row[1])
        if state is not None:
            state.rulings[row[0]] = {"status": row[2], "arbiter": row[3], "comment": row[4], "ruled_at": row[5]}
    return states


def human_score_of(state: ConversationState, scorecard: Scorecard) -> HumanScore:
    """The conversation's human score from its state (pure: priced by `csqa.scoring.Scorecard.points`)."""
    from csqa.checks.engine import Evaluation, Hit

    decisions, live = state.decisions()
    reviewed = bool(live) or bool(state.rulings)
    lines: list[LedgerLine] = []
    hits_by_rule: dict[str, list[tuple[object, LedgerLine]]] = {}
    kept_places: set[tuple[str, int | None]] = set()
    counts = {"correct": 0, "false_positive": 0, "missed": 0, "overturned": 0, "upheld": 0}

    def rule_of(code: str):
        rule = scorecard.by_code.get(code)
        if rule is None:
            raise ReviewError(f"会话 {state.conversation_id} 的问题引用了规则 {code}，但给它打分的规则库里没有这条规则")
        return rule

    for f in state.findings:
        d = decisions.get(f["finding_id"], Decision("unreviewed"))
        counts[d.status] = counts.get(d.status, 0) + 1
        line = LedgerLine(f["finding_id"], f["rule_id"], f["rule_name"], f["severity"], f["message_index"],
                          f["explanation"], float(f["points"]), None, d.status, d.reviewer, d.comment)
        lines.append(line)
        if d.status in KEPT:
            hit = Hit(rule_of(f["rule_id"]), f["explanation"], f["message_index"])
            hits_by_rule.setdefault(f["rule_id"], []).append((hit, line))
            kept_places.add((f["rule_id"], f["message_index"]))
    added_rules = set()
    machine_ids = state.finding_ids()
    for fid in sorted(f for f in decisions if f in state.missed_info and f not in machine_ids):
        d = decisions[fid]
        rule_id, index = state.missed_info[fid]
        if d.status == "overturned":
            counts["overturned"] += 1
        if d.status not in ("missed", "upheld"):
            continue
        if (rule_id, index) in kept_places:  # the machine finds it now (scored again): not twice
            continue
        rule = rule_of(rule_id)
        counts["missed"] += 1
        if d.status == "upheld":
            counts["upheld"] += 1
        explanation = f"漏检 (复核员 {d.reviewer} 补充): {rule.name}" + (f" — {d.comment}" if d.comment else "")
        line = LedgerLine(fid, rule_id, rule.name, "bonus" if rule.bonus else rule.severity, index, explanation,
                          None, None, "missed", d.reviewer, d.comment)
        lines.append(line)
        # in its rule's place: before the first kept machine finding of the rule on a later message
        group = hits_by_rule.setdefault(rule_id, [])
        hit = Hit(rule, explanation, index)
        key = -1 if index is None else index
        at = next((i for i, (h, _) in enumerate(group)
                   if (h.message_index if h.message_index is not None else -1) > key), len(group))
        group.insert(at, (hit, line))
        added_rules.add(rule_id)
    machine_score = state.score
    if not reviewed:
        return HumanScore(state.conversation_id, state.run_id, state.agent_id, machine_score, state.passed, None, None,
                          None, False, lines)
    order = sorted(hits_by_rule, key=lambda code: scorecard.position.get(code, len(scorecard.position)))
    pairs = [pair for code in order for pair in hits_by_rule[code]]
    not_applicable = set(state.not_applicable) - added_rules
    applicable = [r for r in scorecard.rules if r.code not in not_applicable]
    ledger, score, critical = scorecard.card.points(Evaluation(hits=[h for h, _ in pairs], applicable=applicable))
    points = {id(h): p for h, p in ledger}
    for hit, line in pairs:
        line.human_points = float(points[id(hit)])
    human = float(score)
    reviewers = sorted({e["reviewer"] for e in live} | {r["arbiter"] for r in state.rulings.values()})
    times = [e["recorded_at"] for e in live if e["recorded_at"] is not None] + \
            [r["ruled_at"] for r in state.rulings.values() if r.get("ruled_at") is not None]
    return HumanScore(state.conversation_id, state.run_id, state.agent_id, machine_score, state.passed, human,
                      (not critical) and human >= scorecard.pass_mark, bool(critical), True, lines,
                      confirmed=counts["correct"] + counts["upheld"], false_positives=counts["false_positive"],
                      missed=counts["missed"], overturned=counts["overturned"], upheld=counts["upheld"],
                      reviewed_by="、".join(reviewers), reviewed_at=max(times) if times else None)


class Scorecards:
    """Scorecards of runs, each worked out once."""

    def __init__(self, con):
        self.con = con
        self._by_run: dict[str, Scorecard] = {}

    def __call__(self, run_id: str) -> Scorecard:
        found = self._by_run.get(run_id)
        if found is None:
            found = self._by_run[run_id] = scorecard_of_run(self.con, run_id)
        return found


def human_scores(con, conversation_ids=None) -> dict[str, HumanScore]:
    """Human scores of these conversations (default: every conversation anyone reviewed or ruled on),
    worked out from the store as it is now."""
    from csqa.outputs.store.review_tables import has_review_tables

    if not has_review_tables(con):
        return {}
    if conversation_ids is None:
        conversation_ids = reviewed_conversation_ids(con)
    states = load_states(con, conversation_ids)
    cards = Scorecards(con)
    return {cid: human_score_of(s, cards(s.run_id)) for cid, s in states.items()}


def reviewed_conversation_ids(con) -> list[str]:
    return [r[0] for r in con.execute(
        """SELECT DISTINCT conversation_id FROM review_verdicts
           UNION SELECT DISTINCT conversation_id FROM review_rulings""").fetchall()]


def conversation_review(store, conversation_id: str) -> HumanScore:
    """One conversation's machine and human ledgers side by side (what the review desk shows)."""
    from csqa.review.db import connect, require_review_tables

    with connect(store) as con:
        require_review_tables(con)
        found = human_scores(con, [conversation_id]).get(str(conversation_id))
    if found is None:
        raise NotFound(f"结果库中没有会话 {conversation_id} / no conversation {conversation_id} in the store")
    return found


def record_human_scores(con, before: dict[str, HumanScore], after: dict[str, HumanScore], cause: str, at: datetime) -> int:
    """Append a review_human_scores row for each conversation whose human score is new or changed."""
    rows = []
    for cid, hs in after.items():
        old = before.get(cid)
        if not hs.reviewed:
            if old is not None and old.reviewed:  # every verdict withdrawn: no human score any more
                rows.append({**hs.as_row(), "computed_at": at, "cause": cause})
            continue
        same = (old is not None and old.reviewed and old.human_score == hs.human_score and old.reviewed_by == hs.reviewed_by
                and (old.confirmed, old.false_positives, old.missed, old.overturned)
                == (hs.confirmed, hs.false_positives, hs.missed, hs.overturned))
        if not same:
            rows.append({**hs.as_row(), "computed_at": at, "cause": cause})
    if rows:
        frame = pd.DataFrame(rows)
        cols = ", ".join(frame.columns)
        con.register("review_new_scores", frame)
        try:
            con.execute(f"INSERT INTO review_human_scores ({cols}) SELECT {cols} FROM review_new_scores")
        finally:
            con.unregister("review_new_scores")
    return len(rows)


def review_columns(con, conversations: pd.DataFrame) -> pd.DataFrame:
    """`conversations` (a report's selection) with human_score, human_passed, reviewed_by and reviewed_at
    (empty for conversations nobody reviewed) — when anyone reviewed anything in the store; else as it is."""
    out = conversations.copy()
    scores = human_scores(con, None)
    scores = {cid: hs for cid, hs in scores.items() if hs.reviewed}
    if not scores:  # a store nobody reviewed: the report's tables as `csqa score` writes them
        return out
    ids = out["conversation_id"].astype(str).tolist() if len(out) else []
    out["human_score"] = pd.array([scores[c].human_score if c in scores else None for c in ids], dtype="Float64")
    out["human_passed"] = pd.array([scores[c].human_passed if c in scores else None for c in ids], dtype="boolean")
    out["reviewed_by"] = [scores[c].reviewed_by if c in scores else "" for c in ids]
    out["reviewed_at"] = [scores[c].reviewed_at.strftime("%Y-%m-%d %H:%M:%S") if c in scores and scores[c].reviewed_at
                          else "" for c in ids]
    return out


def agent_review_columns(agents: pd.DataFrame, conversations: pd.DataFrame) -> pd.DataFrame:
    """agents.csv with, per agent, how many conversations were reviewed, their mean machine and human
    scores and the human pass rate (from `review_columns`' conversations)."""
    out = agents.copy()
    if "human_score" not in conversations:
        return out
    if out.empty:
        for c in REVIEW_AGENT_COLUMNS:
            out[c] = pd.Series(dtype="float64")
        return out
    rev = conversations[conversations["human_score"].notna()]
    g = rev.groupby("agent_id")
    figures = pd.DataFrame({
        "reviewed_conversations": g.size(),
        "mean_score_reviewed": g["score"].mean().round(1),
        "mean_human_score": g["human_score"].mean().astype("float64").round(1),
        "human_pass_rate": g["human_passed"].mean().astype("float64").round(3),
    })
    out = out.merge(figures, left_on="agent_id", right_index=True, how="left")
    out["reviewed_conversations"] = out["reviewed_conversations"].fillna(0).astype("int64")
    return out


def review_summary(conversations: pd.DataFrame, con=None, floor: float = 0.8) -> str:
    """A report's line on the reviewed share: '; 人工复核 12 个会话 (机器均分 80.1，人工均分 82.3)', and
    the rules whose measured precision is under the floor (`csqa.review.stats`), or ''."""
    if "human_score" not in conversations or not conversations["human_score"].notna().any():
        return ""
    rev = conversations[conversations["human_score"].notna()]
    text = (f"；人工复核 {len(rev)} / {len(conversations)} 个会话 (机器均分 {rev['score'].mean():.1f}，"
            f"人工均分 {float(rev['human_score'].mean()):.1f}) / {len(rev)} reviewed")
    if con is not None:
        from csqa.review.stats import rule_precision

        low = rule_precision(con, floor=floor)
        low = low[low["below_floor"]]
        if len(low):
            text += (f"；复核精确率低于 {floor:g} 的规则: "
                     + "、".join(f"{r.rule_id} {r.precision:.2f} (n={r.reviewed})" for r in low.itertuples()))
    return text
