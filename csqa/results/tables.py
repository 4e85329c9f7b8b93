"""The result tables as frames, built from the scored conversations (pure functions over results).

Columns, order and dtypes are those declared in `csqa.results.columns`. `conversations_table`
adds `not_applicable` after the CSV's columns (the rule codes that did not apply, ";"-joined):
the results store and the report use it so that each check's rate is over the conversations it
applied to; conversations.csv keeps to `CONVERSATION_COLUMNS`.
"""
from __future__ import annotations

from operator import attrgetter

import numpy as np
import pandas as pd

from csqa.core.records import ConversationResult
from csqa.results.columns import (AGENT_COLUMNS, CONVERSATION_COLUMNS, CONVERSATIONS, FINDING_COLUMNS,  # noqa: F401
                                  FINDING_RECORD_COLUMNS, FINDINGS)
from csqa.results.stats import wilson_lower
from csqa.rulebook.schema import CHECK_NAMES_ZH
from csqa.settings import DEFAULT_MIN_N

EXTRA_CONVERSATION_COLUMNS = [c for c in CONVERSATIONS.names if c not in CONVERSATION_COLUMNS]

# the conversation columns that are not an attribute of the same name of ConversationResult
_CONVERSATION_VALUES = {
    "agents": lambda r: ";".join(r.agents),
    "n_findings": lambda r: len(r.findings),
    "not_applicable": lambda r: ";".join(r.not_applicable),
}


def conversations_table(results: list[ConversationResult]) -> pd.DataFrame:
    """One row per conversation (the contract's columns, then `not_applicable`)."""
    columns = _conversation_columns(results)
    if columns is None:
        return _conversations_table_plain(results)
    data = {
        col: (frame_column(values, _CONVERSATION_KINDS[col]) if col in _CONVERSATION_KINDS else str_column(values))
        for col, values in columns.items()
    }
    return pd.DataFrame(data, columns=CONVERSATIONS.names, copy=False)


def findings_table(results: list[ConversationResult]) -> pd.DataFrame:
    """One row per finding, conversations in order and each conversation's findings in ledger order."""
    columns = finding_columns(results)
    if columns is None:
        return _findings_table_plain(results)
    return findings_frame(columns)


# ---------------------------------------------------------------------------- building the frames fast
#
# A frame built from a list of row dicts lets pandas infer every column, value by value,
# and then convert; the chunk tables are built for every batch in the workers, so they are
# built here column by column from plain lists, each with the dtype that inference gives
# for the values the pipeline produces (str -> the default string dtype, Arrow large_string;
# float; bool; int / None -> Int64 ...). The column helpers check the value types and return
# None when a value falls outside what they handle; the tables are then built the plain way
# (`_conversations_table_plain` / `_findings_table_plain`), so the result is always the
# frame the plain construction gives (tests/test_tables_builder_equivalence.py compares both).

_STRING_DTYPE = pd.Series(["x"]).dtype  # what pandas infers for a column of str (pandas 3: Arrow strings)

# kinds of the non-text columns: "int" (int64), "float" (float64), "bool", "boolean" (bool / None),
# "float?" (float / None, at least one float: float64 with NaN), "Int64" (int / None)
_CONVERSATION_KINDS = {c.name: c.kind for c in CONVERSATIONS.columns if c.kind not in ("text", "time")}
_FINDING_KINDS = {c.name: c.kind for c in FINDINGS.columns if c.kind not in ("text", "time")}
# what the plain construction converts a kind's column to after pandas' inference
_PLAIN_CASTS = {"boolean": "boolean", "int": "int64", "Int64": "Int64"}


_NONE = type(None)


def _types(values: list) -> set:
    return set(map(type, values))  # one pass in C


def all_str(values: list) -> bool:
    return _types(values) <= {str}


def str_column(values: list[str]):
    """A column of str values exactly as pandas infers it, built straight from Arrow (no per-value checks)."""
    if isinstance(_STRING_DTYPE, pd.StringDtype) and _STRING_DTYPE.storage == "pyarrow":
        import pyarrow as pa

        return pd.array(pa.array(values, type=pa.large_string()), dtype=_STRING_DTYPE)
    return pd.array(values, dtype=_STRING_DTYPE)  # pragma: no cover - pandas without Arrow strings


def _kind_ok(values: list, kind: str) -> bool:
    """Whether every value is of a type the kind's fast construction handles (bool is not an int here)."""
    types = _types(values)
    if kind == "int":
        return types <= {int}
    if kind == "float":
        return types <= {float}
    if kind == "bool":
        return types <= {bool}
    if kind == "boolean":
        return types <= {bool, _NONE}
    if kind == "float?":
        return types <= {float, _NONE} and float in types
    if kind == "Int64":
        return types <= {int, _NONE}
    return False


def frame_column(values: list, kind: str):
    """The column of `values` of one of the kinds above (the caller checked them with `_kind_ok`)."""
    if kind == "int":
        return np.array(values, dtype="int64")
    if kind == "float":
        return np.array(values, dtype="float64")
    if kind == "bool":
        return np.array(values, dtype="bool")
    if kind == "boolean":
        return pd.array(values, dtype="boolean")
    if kind == "float?":
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "Int64":  # pd.array(values, dtype="Int64"), without its per-value checks
        missing = np.equal(np.array(values, dtype=object), None)
        data = np.array([1 if v is None else v for v in values], dtype="int64")  # (1 under NA, as pd.array puts)
        return pd.arrays.IntegerArray(data, missing)
    raise ValueError(kind)


def _conversation_columns(results: list[ConversationResult]) -> dict[str, list] | None:
    """The conversations table as lists, or None when the plain construction must decide the dtypes."""
    if not results:
        return None  # empty: the plain frame's object columns
    columns = {}
    for col in CONVERSATIONS.names:
        value = _CONVERSATION_VALUES.get(col)
        columns[col] = list(map(value, results)) if value else list(map(attrgetter(col), results))
    for col, values in columns.items():
        kind = _CONVERSATION_KINDS.get(col)
        if not (_kind_ok(values, kind) if kind else all_str(values)):
            return None
    return columns


def finding_columns(results: list[ConversationResult]) -> dict[str, list] | None:
    """The findings table as lists (FINDING_RECORD_COLUMNS), or None when the plain construction must decide the dtypes."""
    fs = [f for r in results for f in r.findings]
    if not fs:
        return None  # empty: the plain frame's object columns
    columns = {"conversation_id": [r.conversation_id for r in results for _ in r.findings]}
    for col in FINDING_RECORD_COLUMNS[1:]:  # the other columns are the Finding's attributes of the same name
        columns[col] = list(map(attrgetter(col), fs))
    for col, values in columns.items():
        kind = _FINDING_KINDS.get(col)
        if not (_kind_ok(values, kind) if kind else all_str(values)):
            return None
    return columns


def findings_frame(columns: dict[str, list]) -> pd.DataFrame:
    """The findings frame of `finding_columns` lists (and of hl_start / hl_end, when given)."""
    data = {}
    for col, values in columns.items():
        kind = _FINDING_KINDS.get(col)
        data[col] = frame_column(values, kind) if kind else str_column(values)
    return pd.DataFrame(data, copy=False)


# ---------------------------------------------------------------------------- the plain construction
def _conversations_table_plain(results: list[ConversationResult]) -> pd.DataFrame:
    values = {col: _CONVERSATION_VALUES.get(col, attrgetter(col)) for col in CONVERSATIONS.names}
    rows = [{col: value(r) for col, value in values.items()} for r in results]
    df = pd.DataFrame(rows, columns=CONVERSATIONS.names)
    return _plain_casts(df, _CONVERSATION_KINDS)


def _findings_table_plain(results: list[ConversationResult]) -> pd.DataFrame:
    rows = [
        {"conversation_id": r.conversation_id, **{col: getattr(f, col) for col in FINDING_RECORD_COLUMNS[1:]}}
        for r in results
        for f in r.findings
    ]
    df = pd.DataFrame(rows, columns=FINDING_RECORD_COLUMNS)
    return _plain_casts(df, _FINDING_KINDS)


def _plain_casts(df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    for col, kind in kinds.items():
        if col in df.columns and kind in _PLAIN_CASTS:
            df[col] = df[col].astype(_PLAIN_CASTS[kind])
    return df


def agents_table(conversations: pd.DataFrame, findings: pd.DataFrame, min_n: int = DEFAULT_MIN_N) -> pd.DataFrame:
    """Per-agent aggregates: conversation-level figures by primary agent, findings by the agent they name.

    pass_rate_low95 is the lower bound of the 95 % Wilson interval of the pass rate (what
    the ranking sorts by); small_sample marks agents with fewer than `min_n` conversations (the rulebook's
    `settings.min_n`: `csqa.settings.RulebookSettings.min_n`).
    """
    if conversations.empty:
        return pd.DataFrame(columns=AGENT_COLUMNS)
    conv = conversations.copy()
    conv["serious"] = conv["complaint_severity"].eq("serious")
    for col in ("resolved", "unhappy_end"):  # a store of older runs may lack them: unknown
        conv[col] = conv[col].astype("boolean").astype("Float64") if col in conv else pd.array([pd.NA] * len(conv), "Float64")
    g = conv.groupby("agent_id", sort=True)
    out = pd.DataFrame(
        {
            "conversations": g.size(),
            "mean_score": g["score"].mean().round(1),
            "passed": g["passed"].sum().astype("int64"),
            "critical_conversations": g["critical"].sum().astype("int64"),
            "complaints": g["complaint"].sum().astype("int64"),
            "serious_complaints": g["serious"].sum().astype("int64"),
            # 一次解决率 and the share ending with an unhappy customer, over the conversations the outcome
            # checks judged (NaN for an agent with none)
            "resolution_rate": g["resolved"].mean().astype("float64").round(3),
            "unhappy_rate": g["unhappy_end"].mean().astype("float64").round(3),
            "mean_first_response_s": g["first_response_s"].mean().round(1),
            "mean_response_s": g["mean_response_s"].mean().round(1),
        }
    )
    out["pass_rate"] = (out["passed"] / out["conversations"]).round(3)
    out["pass_rate_low95"] = [round(wilson_lower(k, n), 3) for k, n in zip(out["passed"], out["conversations"])]
    out["small_sample"] = out["conversations"] < min_n
    lost = findings[findings["severity"] != "bonus"] if not findings.empty else findings
    # findings may come with categorical columns (a large run's compact figures: 1.3M rows at 200k
    # conversations): grouped as they are, and only the small grouped result turned into text
    if not lost.empty:
        counts = lost.groupby("agent_id", observed=True).size()
        counts.index = counts.index.astype(str)
    else:
        counts = pd.Series(dtype="int64")
    out["findings"] = counts.reindex(out.index).fillna(0).astype("int64")
    if not lost.empty:
        top = lost.groupby(["agent_id", "check"], observed=True).size().reset_index(name="n")
        top = top.assign(agent_id=top["agent_id"].astype(str), check=top["check"].astype(str)).sort_values(
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
