"""Result tables in the output contract's column order (pure functions over results).

`conversations_table` adds one column after the contract ones, `not_applicable` (the rule
codes that did not apply, ";"-joined): the results store and the report use it so that
each check's rate is over the conversations it applied to; conversations.csv keeps to
the contract (`CONVERSATION_COLUMNS`).
"""
from __future__ import annotations

import pandas as pd

from csqa.model import ConversationResult
from csqa.report.stats import wilson_lower
from csqa.rulebook.schema import CHECK_NAMES_ZH

CONVERSATION_COLUMNS = [
    "conversation_id", "agent_id", "agents", "started_at", "ended_at", "n_messages", "score", "passed",
    "critical", "complaint", "complaint_category", "complaint_severity", "first_response_s", "mean_response_s",
    "n_findings",
]
FINDING_COLUMNS = [
    "conversation_id", "agent_id", "rule_id", "rule_name", "check", "severity", "points", "message_index",
    "timestamp", "span_start", "span_end", "matched_text", "evidence", "explanation",
]
AGENT_COLUMNS = [
    "agent_id", "conversations", "mean_score", "pass_rate", "passed", "critical_conversations", "findings",
    "complaints", "serious_complaints", "mean_first_response_s", "mean_response_s", "top_failed_check",
    "pass_rate_low95", "small_sample",
]
EXTRA_CONVERSATION_COLUMNS = ["not_applicable"]
SMALL_SAMPLE = 20  # agents with fewer conversations are marked 样本少


def conversations_table(results: list[ConversationResult]) -> pd.DataFrame:
    rows = [
        {
            "conversation_id": r.conversation_id,
            "agent_id": r.agent_id,
            "agents": ";".join(r.agents),
            "started_at": r.started_at,
            "ended_at": r.ended_at,
            "n_messages": r.n_messages,
            "score": r.score,
            "passed": r.passed,
            "critical": r.critical,
            "complaint": r.complaint,
            "complaint_category": r.complaint_category,
            "complaint_severity": r.complaint_severity,
            "first_response_s": r.first_response_s,
            "mean_response_s": r.mean_response_s,
            "n_findings": len(r.findings),
            "not_applicable": ";".join(r.not_applicable),
        }
        for r in results
    ]
    df = pd.DataFrame(rows, columns=CONVERSATION_COLUMNS + EXTRA_CONVERSATION_COLUMNS)
    df["complaint"] = df["complaint"].astype("boolean")
    df["n_messages"] = df["n_messages"].astype("int64")
    df["n_findings"] = df["n_findings"].astype("int64")
    return df


def findings_table(results: list[ConversationResult]) -> pd.DataFrame:
    rows = [
        {
            "conversation_id": r.conversation_id,
            "agent_id": f.agent_id,
            "rule_id": f.rule_id,
            "rule_name": f.rule_name,
            "check": f.check,
            "severity": f.severity,
            "points": f.points,
            "message_index": f.message_index,
            "timestamp": f.timestamp,
            "span_start": f.span_start,
            "span_end": f.span_end,
            "matched_text": f.matched_text,
            "evidence": f.evidence,
            "explanation": f.explanation,
        }
        for r in results
        for f in r.findings
    ]
    df = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    for col in ("message_index", "span_start", "span_end"):
        df[col] = df[col].astype("Int64")
    return df


def agents_table(conversations: pd.DataFrame, findings: pd.DataFrame, min_n: int = SMALL_SAMPLE) -> pd.DataFrame:
    """Per-agent aggregates: conversation-level figures by primary agent, findings by the agent they name.

    pass_rate_low95 is the lower bound of the 95 % Wilson interval of the pass rate (what
    the ranking sorts by); small_sample marks agents with fewer than `min_n` conversations.
    """
    if conversations.empty:
        return pd.DataFrame(columns=AGENT_COLUMNS)
    conv = conversations.copy()
    conv["serious"] = conv["complaint_severity"].eq("serious")
    g = conv.groupby("agent_id", sort=True)
    out = pd.DataFrame(
        {
            "conversations": g.size(),
            "mean_score": g["score"].mean().round(1),
            "passed": g["passed"].sum().astype("int64"),
            "critical_conversations": g["critical"].sum().astype("int64"),
            "complaints": g["complaint"].sum().astype("int64"),
            "serious_complaints": g["serious"].sum().astype("int64"),
            "mean_first_response_s": g["first_response_s"].mean().round(1),
            "mean_response_s": g["mean_response_s"].mean().round(1),
        }
    )
    out["pass_rate"] = (out["passed"] / out["conversations"]).round(3)
    out["pass_rate_low95"] = [round(wilson_lower(k, n), 3) for k, n in zip(out["passed"], out["conversations"])]
    out["small_sample"] = out["conversations"] < min_n
    lost = findings[findings["severity"] != "bonus"] if not findings.empty else findings
    if not lost.empty:  # findings may come with categorical columns (a large run's compact figures)
        lost = lost.assign(agent_id=lost["agent_id"].astype(str), check=lost["check"].astype(str))
    counts = lost.groupby("agent_id").size() if not lost.empty else pd.Series(dtype="int64")
    out["findings"] = counts.reindex(out.index).fillna(0).astype("int64")
    if not lost.empty:
        top = lost.groupby(["agent_id", "check"]).size().reset_index(name="n").sort_values(
            ["agent_id", "n", "check"], ascending=[True, False, True]
        )
        first = top.drop_duplicates("agent_id").set_index("agent_id")
        out["top_failed_check"] = first["check"].map(lambda c: CHECK_NAMES_ZH.get(c, c)).reindex(out.index).fillna("")
    else:
        out["top_failed_check"] = ""
    out = out.reset_index().rename(columns={"index": "agent_id"})
    return out[AGENT_COLUMNS]


def check_statistics(conversations: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """How often each check was found, with n: the `--statistics` table."""
    if findings.empty:
        return pd.DataFrame(columns=["rule_id", "rule_name", "check", "findings", "conversations", "rate"])
    g = findings.groupby(["rule_id", "rule_name", "check"])
    stats = pd.DataFrame({"findings": g.size(), "conversations": g["conversation_id"].nunique()}).reset_index()
    stats["rate"] = (stats["conversations"] / max(len(conversations), 1)).round(3)
    return stats.sort_values(["conversations", "rule_id"], ascending=[False, True]).reset_index(drop=True)
