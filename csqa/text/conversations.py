"""Group ingested messages into ordered conversations, normalizing and segmenting each text.

Messages are ordered by time within a conversation, stable on ties (input order
breaks them); conversations keep the order in which they first appear in the input.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd

from csqa.core.records import AGENT, Conversation, Message
from csqa.text.normalize import normalize
from csqa.text.segment import Segmenter


def _format_ts(values: pd.Series) -> list[str]:
    out = values.dt.strftime("%Y-%m-%d %H:%M:%S")
    return out.where(values.notna(), "").tolist()


def _in_conversation_order(df: pd.DataFrame) -> pd.DataFrame:
    """The frame sorted by (first seq of its conversation, timestamp with NaT first, seq), stable.

    The local engine's staging hands over batches already in this order; then the sort (a stable
    sort of sorted keys is the identity) is skipped after one vectorized check of the keys.
    """
    first_seen = df.groupby("conversation_id", sort=False)["seq"].transform("min")
    times = df["timestamp"]
    if len(df) > 1 and isinstance(times.dtype, np.dtype) and times.dtype.kind == "M":
        first = first_seen.to_numpy(dtype="int64")
        stamp = times.to_numpy().view("int64")  # NaT is the smallest int64: "NaT first" for free
        seq = df["seq"].to_numpy(dtype="int64")
        d_first = first[1:] - first[:-1]
        same_first = d_first == 0
        later = stamp[1:] > stamp[:-1]
        same_stamp = stamp[1:] == stamp[:-1]
        in_order = (d_first > 0) | (same_first & (later | (same_stamp & (seq[1:] >= seq[:-1]))))
        if in_order.all():
            return df
    return df.assign(_first=first_seen).sort_values(
        ["_first", "timestamp", "seq"], kind="stable", na_position="first"
    )


def _column_values(column: pd.Series) -> tuple[list, np.ndarray]:
    """(distinct values, code of each row): a column with few distinct values (roles, agents,
    repeated texts) becomes Python objects once per distinct value, shared by its rows."""
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    return uniques.tolist(), codes


def build_conversations(messages: pd.DataFrame, segmenter: Segmenter) -> Iterator[Conversation]:
    """Yield a Conversation per conversation_id of the ingested messages frame."""
    if messages.empty:
        return
    ordered = _in_conversation_order(messages)
    times = ordered["timestamp"]
    has_ts = times.notna()
    seconds = ((times - pd.Timestamp(0)) / pd.Timedelta(seconds=1)).tolist()
    stamps = _format_ts(times)
    has_flags = has_ts.tolist()
    # seconds since the epoch, None without a time (NaN in `seconds` when the file has none)
    moments = [float(t) if h else None for t, h in zip(seconds, has_flags)]

    role_values, role_codes = _column_values(ordered["role"])
    roles = [role_values[c] for c in role_codes.tolist()]
    agent_values, agent_codes = _column_values(ordered["agent_id"])
    agent_values = [a or "" for a in agent_values]
    agent_ids = [agent_values[c] for c in agent_codes.tolist()]

    # a chat export repeats its lines ("好的", greetings, templates): normalize and segment
    # each distinct text of the frame once; the results are immutable and shared
    text_values, text_codes = _column_values(ordered["text"])
    norm_values = [normalize(t) for t in text_values]
    token_values = segmenter.tokens_many([n.text for n in norm_values])
    text_codes = text_codes.tolist()
    texts = [text_values[c] for c in text_codes]
    norms = [norm_values[c] for c in text_codes]
    tokens = [token_values[c] for c in text_codes]

    conv_ids = ordered["conversation_id"].to_numpy(dtype=object)
    n = len(conv_ids)
    # conversations are contiguous once ordered: a new one starts where the id changes
    bounds = (np.flatnonzero(conv_ids[1:] != conv_ids[:-1]) + 1).tolist()
    for start, end in zip([0, *bounds], [*bounds, n]):
        s = slice(start, end)
        # Message(index, role, agent_id, text, norm, tokens, time, timestamp), built positionally
        msgs = list(map(Message, range(end - start), roles[s], agent_ids[s], texts[s], norms[s], tokens[s], moments[s], stamps[s]))
        yield _conversation(conv_ids[start], msgs, roles[s], agent_ids[s], all(has_flags[s]))


def _conversation(cid: str, msgs: list[Message], roles: list[str], agent_ids: list[str], has_time: bool) -> Conversation:
    # Agents: anyone named on an agent message, else on any message of the conversation;
    # in order of first appearance on any message; primary: most messages, the first on ties.
    named = set(agent_ids)
    named.discard("")
    if len(named) <= 1:
        # one agent (or none) named anywhere: it is the only candidate under either rule
        order = list(named)
        return Conversation(id=cid, messages=msgs, agents=order, primary_agent=order[0] if order else "",
                            has_time=has_time)
    counts: dict[str, int] = {}
    for role, agent in zip(roles, agent_ids):
        if role == AGENT and agent:
            counts[agent] = counts.get(agent, 0) + 1
    if not counts:
        for agent in agent_ids:
            if agent:
                counts[agent] = counts.get(agent, 0) + 1
    order = [a for a in dict.fromkeys(agent_ids) if a and a in counts]
    primary = max(order, key=counts.__getitem__) if order else ""
    return Conversation(id=cid, messages=msgs, agents=order, primary_agent=primary, has_time=has_time)
