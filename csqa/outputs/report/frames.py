"""The report's frames: conversations and findings as `build` reads them, prepared once (types, the
conversation's agent on each finding, day keys), the findings that cost points, rows as dicts, and the
full findings rows of the conversations shown.

Uses nothing of the report package; everything else in it starts from these frames.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _bool(series: pd.Series) -> pd.Series:
    """True/False from bool, 'True'/'False' strings or 1/0; missing stays <NA>."""
    if series.dtype == bool:
        return series.astype("boolean")
    if isinstance(series.dtype, pd.BooleanDtype):  # what `conv` below gives value by value
        return series.copy()
    mapping = {"true": True, "false": False, "1": True, "0": False, "是": True, "否": False}

    def conv(v):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or v == "":
            return pd.NA
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, float, np.integer, np.floating)):
            return bool(v)
        return mapping.get(str(v).strip().lower(), pd.NA)

    return series.map(conv).astype("boolean")


def _prepare(conversations: pd.DataFrame, findings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    conv = _prepare_conversations(conversations)
    return conv, _prepare_findings(findings, _agent_of(conv))


def _prepare_conversations(conversations: pd.DataFrame) -> pd.DataFrame:
    # (no deep copy: with copy-on-write the caller's frame is never changed by the assignments below,
    # and a copy of every column would be held beside the caller's for the whole report)
    conv = conversations.reset_index(drop=True)
    conv["conversation_id"] = conv["conversation_id"].astype(str)
    conv["agent_id"] = conv["agent_id"].fillna("").astype(str)
    conv["score"] = pd.to_numeric(conv["score"], errors="coerce").astype(float)
    conv["passed"] = _bool(conv["passed"]).fillna(False).astype(bool)
    conv["critical"] = _bool(conv["critical"]).fillna(False).astype(bool)
    for col in ("complaint", "resolved", "unhappy_end"):  # unknown (NA) where a run or an older store has none
        conv[col] = _bool(conv[col]) if col in conv else pd.array([pd.NA] * len(conv), dtype="boolean")
    for col in ("complaint_category", "complaint_severity"):
        conv[col] = conv[col].fillna("").astype(str) if col in conv else ""
    for col in ("first_response_s", "mean_response_s"):
        conv[col] = pd.to_numeric(conv[col], errors="coerce")
    conv["_t"] = pd.to_datetime(conv["started_at"].replace("", None), errors="coerce")
    conv["_day"] = conv["_t"].dt.strftime("%Y-%m-%d")
    return conv


def _agent_of(conv: pd.DataFrame) -> dict[str, str]:
    """{conversation_id: agent_id} (lists first: iterating Arrow-backed columns is slow)."""
    return dict(zip(conv["conversation_id"].tolist(), conv["agent_id"].tolist()))


def _prepare_findings(findings: pd.DataFrame, agent_of: dict[str, str]) -> pd.DataFrame:
    # (no deep copy, as in `_prepare_conversations`: at 200k conversations the findings are 1.3M rows)
    fnd = findings.reset_index(drop=True)
    if fnd.empty:
        fnd = pd.DataFrame(columns=list(findings.columns) or ["conversation_id", "rule_id", "rule_name", "check",
                                                               "severity", "points", "message_index"])
    fnd["conversation_id"] = fnd["conversation_id"].astype(str)
    fnd["points"] = pd.to_numeric(fnd["points"], errors="coerce").fillna(0.0).astype(float)
    fnd["message_index"] = pd.to_numeric(fnd["message_index"], errors="coerce").astype("Int64")
    fnd["_conv_agent"] = _agents_of_rows(fnd["conversation_id"], agent_of)
    return fnd


def _agents_of_rows(conversation_ids: pd.Series, agent_of: dict[str, str]):
    """The conversation's agent for each row ("" when unknown), looked up once per distinct id:
    a Python string per row (1.3M findings at 200k conversations) would be the report's largest object."""
    codes, distinct = pd.factorize(conversation_ids)
    agents = pd.array([agent_of.get(c, "") for c in distinct.tolist()], dtype=conversation_ids.dtype)
    return agents.take(codes, allow_fill=True, fill_value="")  # (code -1: a missing id)


def _lost(fnd: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The findings that cost points (not bonus), only `columns`: a filtered copy of every column
    of 1.3M findings (200k conversations) would be held beside them."""
    return fnd.loc[fnd["severity"] != "bonus", columns]


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts, built column by column (much faster than itertuples on Arrow-backed frames)."""
    cols = list(df.columns)
    return [dict(zip(cols, row)) for row in zip(*(df[c].tolist() for c in cols))] if len(df) else []


def _details(fnd: pd.DataFrame, ids: list[str] | None, finding_details, conv: pd.DataFrame) -> pd.DataFrame:
    """Full findings rows of these conversations (all when ids is None), in run order, prepared like `fnd`."""
    if finding_details is None:
        return fnd if ids is None else fnd[fnd["conversation_id"].isin(set(ids))]
    return _prepare_findings(finding_details(ids), _agent_of(conv))


def _details_pair(fnd: pd.DataFrame, ids: list[str], more_ids: list[str] | None, finding_details,
                  conv: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`_details` of `ids` and of `more_ids` (None: all), reading the spool once for both.

    Rows are kept per conversation and prepared row by row, so taking each set out of
    the rows of both gives the same rows in the same order; an empty set is read on its own
    (an empty read has its own column types)."""
    if finding_details is None:
        return _details(fnd, ids, None, conv), _details(fnd, more_ids, None, conv)
    both = _details(fnd, None if more_ids is None else list(dict.fromkeys(ids + more_ids)), finding_details, conv)

    def subset(wanted):
        if wanted is None:
            return both
        part = both[both["conversation_id"].isin(set(wanted))].reset_index(drop=True)
        return part if len(part) else _details(fnd, wanted, finding_details, conv)

    return subset(ids), subset(more_ids)
