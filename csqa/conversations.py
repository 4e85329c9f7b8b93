"""Group ingested messages into ordered conversations, normalizing and segmenting each text.

Messages are ordered by time within a conversation, stable on ties (input order
breaks them); conversations keep the order in which they first appear in the input.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterator

import pandas as pd

from csqa.model import AGENT, Conversation, Message
from csqa.text.normalize import normalize
from csqa.text.segment import Segmenter


def _format_ts(values: pd.Series) -> list[str]:
    out = values.dt.strftime("%Y-%m-%d %H:%M:%S")
    return out.where(values.notna(), "").tolist()


def build_conversations(messages: pd.DataFrame, segmenter: Segmenter) -> Iterator[Conversation]:
    """Yield a Conversation per conversation_id of the ingested messages frame."""
    if messages.empty:
        return
    df = messages
    has_ts = df["timestamp"].notna()
    first_seen = df.groupby("conversation_id", sort=False)["seq"].transform("min")
    ordered = df.assign(_first=first_seen, _has=has_ts).sort_values(
        ["_first", "timestamp", "seq"], kind="stable", na_position="first"
    )
    times = ordered["timestamp"]
    seconds = ((times - pd.Timestamp(0)) / pd.Timedelta(seconds=1)).tolist()
    stamps = _format_ts(times)
    conv_ids = ordered["conversation_id"].tolist()
    roles = ordered["role"].tolist()
    agent_ids = ordered["agent_id"].tolist()
    texts = ordered["text"].tolist()
    has_flags = ordered["_has"].tolist()

    start = 0
    n = len(conv_ids)
    while start < n:
        cid = conv_ids[start]
        end = start
        while end < n and conv_ids[end] == cid:
            end += 1
        msgs = []
        for pos in range(start, end):
            norm = normalize(texts[pos])
            t = seconds[pos] if has_flags[pos] else None  # NaN when the file has no time
            msgs.append(
                Message(
                    index=pos - start,
                    role=roles[pos],
                    agent_id=agent_ids[pos] or "",
                    text=texts[pos],
                    norm=norm,
                    tokens=segmenter.tokens(norm.text),
                    time=float(t) if t is not None else None,
                    timestamp=stamps[pos],
                )
            )
        yield _conversation(cid, msgs, all(has_flags[start:end]))
        start = end


def _conversation(cid: str, msgs: list[Message], has_time: bool) -> Conversation:
    # Agents: anyone named on an agent message, else on any message of the conversation.
    sender_counts = Counter(m.agent_id for m in msgs if m.role == AGENT and m.agent_id)
    if not sender_counts:
        sender_counts = Counter(m.agent_id for m in msgs if m.agent_id)
    order: list[str] = []
    for m in msgs:
        if m.agent_id and m.agent_id in sender_counts and m.agent_id not in order:
            order.append(m.agent_id)
    primary = max(order, key=lambda a: (sender_counts[a], -order.index(a))) if order else ""
    return Conversation(id=cid, messages=msgs, agents=order, primary_agent=primary, has_time=has_time)
