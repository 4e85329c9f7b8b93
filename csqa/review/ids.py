"""Stable finding ids: the same input, rulebook and model give the same ids.

The recipe (version 1), for a finding the machine found:

    finding_id = first 20 hex digits of sha256(
        "csqa-finding-1" ␟ conversation_id ␟ rule_id ␟ message_index ␟ occurrence ␟ rulebook_sha256 ␟ model_sha256)

joined by the unit separator U+001F (␟), UTF-8. ``message_index`` is the message's position
in its conversation ("" for a conversation-level finding such as a missing greeting);
``occurrence`` counts the conversation's earlier findings of the same rule on the same
message in ledger order (0, 1, …: a rule may fire twice on one message); ``rulebook_sha256``
is the sha256 of the rulebook file's bytes and ``model_sha256`` the complaint model's ("" with
``--no-model``), as run.json records them. Scoring the same export again with the same
rulebook and model gives every finding the id it had; a changed rulebook or model gives new
ids (a verdict then belongs to the finding the reviewer saw).

A finding a reviewer adds (漏检, missed) has an id of its own kind, the same whoever adds it:

    missed_id = "M" + first 19 hex digits of sha256("csqa-missed-1" ␟ conversation_id ␟ rule_id ␟ message_index)

`finding_id_sql` is the same recipe in DuckDB SQL (the store fills in ids of rows written
before ids existed); tests check that both give the same ids.
"""
from __future__ import annotations

import hashlib

import pandas as pd

RECIPE = "csqa-finding-1"
MISSED_RECIPE = "csqa-missed-1"
SEPARATOR = "\x1f"
ID_LENGTH = 20


def _index_text(message_index) -> str:
    if message_index is None or message_index is pd.NA:
        return ""
    try:
        if pd.isna(message_index):
            return ""
    except (TypeError, ValueError):
        pass
    return str(int(message_index))


def finding_id(conversation_id: str, rule_id: str, message_index, occurrence: int, rulebook_sha256: str | None,
               model_sha256: str | None) -> str:
    """The id of one machine finding (see the module docstring)."""
    text = SEPARATOR.join((RECIPE, str(conversation_id), str(rule_id), _index_text(message_index), str(int(occurrence)),
                           rulebook_sha256 or "", model_sha256 or ""))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH]


def missed_id(conversation_id: str, rule_id: str, message_index) -> str:
    """The id of a finding a reviewer added (漏检): the same for every reviewer who adds it."""
    text = SEPARATOR.join((MISSED_RECIPE, str(conversation_id), str(rule_id), _index_text(message_index)))
    return "M" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH - 1]


def is_missed_id(value: str) -> bool:
    return isinstance(value, str) and len(value) == ID_LENGTH and value.startswith("M")


def occurrences(findings: pd.DataFrame) -> list[int]:
    """Per finding (rows in ledger order), how many findings of the same rule on the same message
    of its conversation come before it."""
    if findings.empty:
        return []
    index = findings["message_index"].astype("Int64").fillna(-1)
    return findings.groupby([findings["conversation_id"], findings["rule_id"], index], sort=False).cumcount().tolist()


def add_finding_ids(findings: pd.DataFrame, rulebook_sha256: str | None, model_sha256: str | None) -> pd.DataFrame:
    """`findings` (one or more whole conversations, each in ledger order) with a `finding_id` column."""
    out = findings.copy()
    if findings.empty:
        out["finding_id"] = pd.Series([], dtype=object if "conversation_id" not in findings else findings["conversation_id"].dtype)
        return out
    rb, model = rulebook_sha256 or "", model_sha256 or ""
    prefix = RECIPE + SEPARATOR
    tail = SEPARATOR + rb + SEPARATOR + model
    sha = hashlib.sha256
    ids = []
    for cid, rule, index, occurrence in zip(findings["conversation_id"].tolist(), findings["rule_id"].tolist(),
                                            findings["message_index"].astype("Int64").tolist(), occurrences(findings)):
        text = (f"{prefix}{cid}{SEPARATOR}{rule}{SEPARATOR}{'' if index is None or index is pd.NA else index}"
                f"{SEPARATOR}{occurrence}{tail}")
        ids.append(sha(text.encode("utf-8")).hexdigest()[:ID_LENGTH])
    out["finding_id"] = pd.array(ids, dtype=findings["conversation_id"].dtype) if isinstance(
        findings["conversation_id"].dtype, pd.StringDtype) else ids
    return out


def finding_id_sql(conversation_id: str = "conversation_id", rule_id: str = "rule_id",
                   message_index: str = "message_index", occurrence: str = "occurrence",
                   rulebook_sha256: str = "rulebook_sha256", model_sha256: str = "model_sha256") -> str:
    """The recipe as a DuckDB SQL expression over the given column expressions."""
    sep = "chr(31)"
    parts = [f"'{RECIPE}'", f"CAST({conversation_id} AS VARCHAR)", f"CAST({rule_id} AS VARCHAR)",
             f"coalesce(CAST({message_index} AS VARCHAR), '')", f"CAST({occurrence} AS VARCHAR)",
             f"coalesce({rulebook_sha256}, '')", f"coalesce({model_sha256}, '')"]
    return f"substr(sha256({(' || ' + sep + ' || ').join(parts)}), 1, {ID_LENGTH})"


def occurrence_sql(order_by: str = "finding_index") -> str:
    """The occurrence count of the recipe as a DuckDB window expression (rows of one run)."""
    return (f"(row_number() OVER (PARTITION BY run_id, conversation_id, rule_id, coalesce(message_index, -1) "
            f"ORDER BY {order_by}) - 1)")
