"""Review queues: which scored conversations people look at, and who looks at which (`csqa sample`).

Every red-line conversation and every serious complaint of the selection goes in; then a random
share of the rest of each agent in each period (``rate``, at least one when the share is above
zero), topped up to ``min_per_agent`` per agent. A conversation already queued by an earlier
sample is not queued again — except the ``calibration`` conversations, which every reviewer gets
(their verdicts measure agreement between reviewers, `csqa.review.stats`). Reviewers share the
rest: equally (``a,b,c``), or up to a quota each (``a:40,b:20``: red lines and serious complaints
first; what does not fit stays unqueued for the next sample, and the command says how many).

The draw is deterministic: a conversation's place in the random order is the sha256 of the seed
and its id, so the same store, options and seed give the same queue, whatever order the store
returns rows in.
"""
from __future__ import annotations

from csqa.review.db import one

import hashlib
import math
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from csqa.core.errors import ConfigError
from csqa.review.db import connect, now, transaction

REASONS = ("red_line", "serious_complaint", "random", "min_per_agent", "calibration")
PERIODS = ("day", "week", "month", "all")


@dataclass
class SampleOptions:
    rate: float = 0.05
    min_per_agent: int = 0
    reviewers: list[tuple[str, int | None]] = field(default_factory=list)
    calibration: int = 0
    seed: str = "0"
    period: str = "week"
    date_from: str | None = None
    date_to: str | None = None
    agent: str | None = None


@dataclass
class Assignment:
    conversation_id: str
    reviewer: str
    reason: str
    calibration: bool = False


@dataclass
class SamplePlan:
    assignments: list[Assignment]
    over_quota: list[str]  # chosen but beyond every reviewer's quota: not queued
    candidates: int
    already_queued: int
    calibration_short: int = 0  # calibration conversations asked for but not available

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        seen = set()
        for a in self.assignments:
            if (a.conversation_id, a.reason) in seen:
                continue
            seen.add((a.conversation_id, a.reason))
            out[a.reason] = out.get(a.reason, 0) + 1
        return out


@dataclass
class SampleResult:
    sample_id: str
    plan: SamplePlan
    files: dict[str, Path]

    def text(self) -> str:
        counts = self.plan.counts()
        per = {}
        for a in self.plan.assignments:
            per[a.reviewer] = per.get(a.reviewer, 0) + 1
        reasons = "，".join(f"{_REASON_ZH[r]} {counts[r]}" for r in REASONS if counts.get(r))
        lines = [f"抽样 {self.sample_id}: 候选 {self.plan.candidates} 个会话 (已在以前的队列中 {self.plan.already_queued} 个)，"
                 f"入队 {len({a.conversation_id for a in self.plan.assignments})} 个: {reasons or '无'}"]
        for reviewer, path in self.files.items():
            lines.append(f"  {reviewer or '(未指定复核员)'}: {per.get(reviewer, 0)} 个会话 → {path}")
        if self.plan.over_quota:
            lines.append(f"超出配额未入队: {len(self.plan.over_quota)} 个 (下次抽样仍可抽到)")
        if self.plan.calibration_short:
            lines.append(f"校准会话不足: 少 {self.plan.calibration_short} 个")
        return "\n".join(lines)


_REASON_ZH = {"red_line": "红线", "serious_complaint": "重大投诉", "random": "随机", "min_per_agent": "每人最少补足",
              "calibration": "校准"}


def parse_reviewers(text: str | None) -> list[tuple[str, int | None]]:
    """'a,b,c' → equal shares; 'a:40,b:20' → quotas. Either every reviewer has a quota or none."""
    if not text:
        return []
    out: list[tuple[str, int | None]] = []
    for item in (p.strip() for p in re.split(r"[,，]", text)):
        if not item:
            continue
        name, _, quota = item.partition(":")
        name = name.strip()
        if not name:
            raise ConfigError(f"--reviewers 中有空的名字: {text!r}")
        if quota.strip():
            if not quota.strip().isdigit() or int(quota) < 1:
                raise ConfigError(f"--reviewers 的配额须为正整数，如 小王:40 (收到 {item!r})")
            out.append((name, int(quota)))
        else:
            out.append((name, None))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"--reviewers 中有重复的名字: {text!r}")
    if len({q is None for _, q in out}) > 1:
        raise ConfigError("--reviewers: 要么每位复核员都写配额 (小王:40,小李:20)，要么都不写 (平均分配)")
    return out


def rank(seed: str, conversation_id: str) -> str:
    """A conversation's place in the seed's random order."""
    return hashlib.sha256(f"{seed}\x1f{conversation_id}".encode("utf-8")).hexdigest()


def _period(started: pd.Series, period: str) -> pd.Series:
    t = pd.to_datetime(started.where(started.astype(str) != "", None), errors="coerce")
    if period == "all":
        return pd.Series([""] * len(t), index=t.index)
    fmt = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}[period]
    return t.dt.strftime(fmt).fillna("")


def plan_sample(conversations: pd.DataFrame, already: set[str], options: SampleOptions) -> SamplePlan:
    """Pure: which conversations go to whom. conversations: conversation_id, agent_id, started_at,
    critical, complaint_severity, n_findings (the selection); already: ids queued before."""
    if not 0 <= options.rate <= 1:
        raise ConfigError(f"--rate 须在 0 到 1 之间 (例如 0.05 表示 5%)，收到 {options.rate}")
    if options.period not in PERIODS:
        raise ConfigError(f"--period 须为 {', '.join(PERIODS)} 之一")
    conv = conversations.copy()
    conv["conversation_id"] = conv["conversation_id"].astype(str)
    conv["_rank"] = [rank(options.seed, c) for c in conv["conversation_id"]]
    conv["_period"] = _period(conv["started_at"], options.period)
    candidates = len(conv)
    queued_before = conv["conversation_id"].isin(already)
    pool = conv[~queued_before].sort_values("_rank", kind="stable")
    chosen: dict[str, str] = {}  # id → reason, in order of priority
    critical = pool["critical"].astype(bool)
    serious = pool["complaint_severity"].fillna("").astype(str).eq("serious")
    for cid in pool.loc[critical].sort_values(["started_at", "conversation_id"])["conversation_id"]:
        chosen[cid] = "red_line"
    for cid in pool.loc[serious & ~critical].sort_values(["started_at", "conversation_id"])["conversation_id"]:
        chosen[cid] = "serious_complaint"
    rest = pool[~pool["conversation_id"].isin(chosen)]
    if options.rate > 0:
        for _, stratum in rest.groupby(["agent_id", "_period"], sort=True):
            k = min(len(stratum), math.ceil(options.rate * len(stratum) - 1e-9))
            for cid in stratum["conversation_id"].head(k):  # (in rank order)
                chosen[cid] = "random"
    if options.min_per_agent > 0:
        have = pool[pool["conversation_id"].isin(chosen)].groupby("agent_id").size().to_dict()
        for agent, group in pool.groupby("agent_id", sort=True):
            short = options.min_per_agent - have.get(agent, 0)
            if short > 0:
                for cid in group.loc[~group["conversation_id"].isin(chosen), "conversation_id"].head(short):
                    chosen[cid] = "min_per_agent"
    reviewers = options.reviewers or [("", None)]
    calibration: list[str] = []
    short = 0
    if options.calibration > 0:
        left = pool[~pool["conversation_id"].isin(chosen)]
        left = left.assign(_empty=left["n_findings"].fillna(0).astype(int).eq(0)).sort_values(["_empty", "_rank"],
                                                                                                kind="stable")
        calibration = left["conversation_id"].head(options.calibration).tolist()
        short = options.calibration - len(calibration)
    # who reviews what: the chosen in priority order (red lines, serious complaints, then by rank)
    ranks = dict(zip(pool["conversation_id"], pool["_rank"]))
    ordered = [c for c in chosen if chosen[c] in ("red_line", "serious_complaint")] + \
        sorted((c for c in chosen if chosen[c] in ("random", "min_per_agent")), key=ranks.__getitem__)
    counts = {name: 0 for name, _ in reviewers}
    quotas = {name: q for name, q in reviewers}
    assignments: list[Assignment] = []
    over: list[str] = []
    for cid in ordered:
        open_ = [n for n, _ in reviewers if quotas[n] is None or counts[n] < quotas[n]]
        if not open_:
            over.append(cid)
            continue
        pick = min(open_, key=lambda n: (counts[n] / quotas[n] if quotas[n] else counts[n], [r for r, _ in reviewers].index(n)))
        counts[pick] += 1
        assignments.append(Assignment(cid, pick, chosen[cid]))
    for cid in calibration:
        for name, _ in reviewers:
            assignments.append(Assignment(cid, name, "calibration", True))
    return SamplePlan(assignments, over, candidates, int(queued_before.sum()), short)


def _selection(con, options: SampleOptions) -> pd.DataFrame:
    from csqa.store import _day

    where, params = [], []
    if options.date_from:
        where.append("started_at >= ?")
        params.append(_day(options.date_from))
    if options.date_to:
        where.append("started_at < ? + INTERVAL 1 DAY")
        params.append(_day(options.date_to))
    if options.agent:
        where.append("agent_id = ?")
        params.append(options.agent)
    sql = ("SELECT conversation_id, run_id, agent_id, strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started_at, critical, "
           "complaint_severity, n_findings FROM conversations" + (" WHERE " + " AND ".join(where) if where else ""))
    frame = con.execute(sql, params).df()
    frame["started_at"] = frame["started_at"].fillna("")
    return frame


def queue_file_name(out: Path, reviewer: str, several: bool) -> Path:
    if not several:
        return out
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", reviewer).strip(". ") or "reviewer"
    return out.with_name(f"{out.stem}-{safe}{out.suffix}")


def sample(store, out: str | Path, options: SampleOptions, assigned_by: str = "", dry_run: bool = False) -> SampleResult:
    """Plan a sample, write each reviewer's queue workbook and record the assignments — the files
    and the store's rows appear together (a failure leaves neither)."""
    from csqa.review.tables import has_review_tables

    out = Path(out)
    if out.suffix.lower() != ".xlsx":
        raise ConfigError(f"-o 需要一个 .xlsx 文件路径，例如 -o queue.xlsx (收到 {out})")
    with connect(store, write=not dry_run) as con:
        selection = _selection(con, options)
        if selection.empty:
            raise ConfigError("结果库中没有符合条件的会话；去掉 --from/--to/--agent 再试 / no conversations match")
        already = set() if not has_review_tables(con) else {r[0] for r in con.execute(
            "SELECT DISTINCT conversation_id FROM review_assignments").fetchall()}
        plan = plan_sample(selection, already, options)
        sample_id = f"{now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        reviewers = [n for n, _ in options.reviewers] or [""]
        several = len(reviewers) > 1
        files = {r: queue_file_name(out, r, several) for r in reviewers}
        result = SampleResult(sample_id, plan, files)
        if dry_run or not plan.assignments:
            if not plan.assignments:
                result.files = {}
            return result
        runs = dict(zip(selection["conversation_id"].astype(str), selection["run_id"]))
        temps: dict[str, Path] = {}
        placed: list[Path] = []
        try:
            content = _queue_content(con, plan, selection)
            for reviewer in reviewers:
                path = files[reviewer]
                path.parent.mkdir(parents=True, exist_ok=True)
                temp = path.with_name(f".{path.name}.csqa-{os.getpid()}-{secrets.token_hex(3)}")
                temps[reviewer] = temp
                write_reviewer_queue(temp, reviewer, plan, content, sample_id)
            at = now()
            with transaction(con):
                frame = pd.DataFrame([{"sample_id": sample_id, "conversation_id": a.conversation_id,
                                       "run_id": runs.get(a.conversation_id), "reviewer": a.reviewer, "reason": a.reason,
                                       "calibration": a.calibration, "seed": str(options.seed),
                                       "assigned_by": assigned_by, "assigned_at": at} for a in plan.assignments])
                cols = ", ".join(frame.columns)
                con.register("review_new_assignments", frame)
                con.execute(f"INSERT INTO review_assignments ({cols}) SELECT {cols} FROM review_new_assignments")
                con.unregister("review_new_assignments")
                for reviewer, temp in temps.items():
                    os.replace(temp, files[reviewer])
                    placed.append(files[reviewer])
        except BaseException:
            for p in list(temps.values()) + placed:
                try:
                    p.unlink()
                except OSError:
                    pass
            raise
    return result


@dataclass
class _Content:
    conversations: pd.DataFrame
    findings: pd.DataFrame
    messages: pd.DataFrame
    rules: list[tuple[str, str]]


def _queue_content(con, plan: SamplePlan, selection: pd.DataFrame) -> _Content:
    """The queued conversations' rows, findings and (masked) transcripts."""
    from csqa.report.transcript import prepare_transcripts
    from csqa.store import _as_run_frame

    ids = sorted({a.conversation_id for a in plan.assignments})
    con.register("review_queue_ids", pd.DataFrame({"conversation_id": pd.Series(ids, dtype=object)}))
    try:
        conv = _as_run_frame(con.execute("""SELECT c.* FROM conversations c JOIN review_queue_ids USING (conversation_id)""").df())
        fnd = _as_run_frame(con.execute("""SELECT f.* FROM findings f JOIN conversations c USING (conversation_id, run_id)
                                          JOIN review_queue_ids USING (conversation_id)
                                          ORDER BY f.conversation_id, f.finding_index""").df())
        msgs = _as_run_frame(con.execute("""SELECT m.* FROM messages m JOIN conversations c USING (conversation_id, run_id)
                                           JOIN review_queue_ids USING (conversation_id)
                                           ORDER BY m.conversation_id, m.message_index""").df())
        unmasked = one(con.execute("""SELECT count(*) FROM runs WHERE NOT masked AND run_id IN
                                  (SELECT DISTINCT run_id FROM conversations JOIN review_queue_ids USING (conversation_id))"""))[0]
        run_ids = [r[0] for r in con.execute("""SELECT DISTINCT run_id FROM conversations
                                                JOIN review_queue_ids USING (conversation_id)""").fetchall()]
    finally:
        con.unregister("review_queue_ids")
    if unmasked:  # the queue is masked whatever the store holds
        msgs, fnd = prepare_transcripts(msgs, fnd, True)
    from csqa.review.human_score import scorecard_of_run

    rules: dict[str, str] = {}
    for run_id in run_ids:
        try:
            card = scorecard_of_run(con, run_id)
        except Exception:  # noqa: BLE001 - the drop-down then lists the rules the findings name
            continue
        for r in card.rules:
            rules.setdefault(r.code, r.name)
    for code, name in zip(fnd.get("rule_id", []), fnd.get("rule_name", [])):
        rules.setdefault(code, name)
    return _Content(conv, fnd, msgs, sorted(rules.items()))


def write_reviewer_queue(path: Path, reviewer: str, plan: SamplePlan, content: _Content, sample_id: str) -> None:
    from csqa.review.queue_xlsx import QueueContent, write_queue

    mine = [a for a in plan.assignments if a.reviewer == reviewer]
    reason = {a.conversation_id: a.reason for a in mine}
    order = {cid: i for i, cid in enumerate(reason)}
    conv = content.conversations[content.conversations["conversation_id"].isin(reason)].copy()
    conv["reason"] = conv["conversation_id"].map(reason)
    conv["_order"] = conv["conversation_id"].map(order)
    conv = conv.sort_values("_order").drop(columns="_order")
    keep = set(reason)
    fnd = content.findings[content.findings["conversation_id"].isin(keep)]
    msgs = content.messages[content.messages["conversation_id"].isin(keep)]
    write_queue(path, QueueContent(reviewer, conv, fnd, msgs, content.rules, sample_id))


def queue_of(store, reviewer: str | None = None) -> pd.DataFrame:
    """The queued conversations (of one reviewer), with whether that reviewer has given any verdict on them."""
    from csqa.review.db import require_review_tables

    with connect(store) as con:
        require_review_tables(con)
        where = "WHERE a.reviewer = ?" if reviewer is not None else ""
        return con.execute(f"""
            SELECT a.sample_id, a.conversation_id, a.reviewer, a.reason, a.calibration, a.assigned_at,
                   c.agent_id, c.score, c.critical,
                   EXISTS (SELECT 1 FROM review_reviewer_verdicts v
                           WHERE v.conversation_id = a.conversation_id AND v.reviewer = a.reviewer) AS reviewed
            FROM review_assignments a LEFT JOIN conversations c USING (conversation_id)
            {where} ORDER BY a.event_id""", [reviewer] if reviewer is not None else []).df()
