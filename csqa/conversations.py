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
    agent_ids = [a or "" for a in ordered["agent_id"].tolist()]
    texts = ordered["text"].tolist()
    has_flags = ordered["_has"].tolist()
    # seconds since the epoch, None without a time (NaN in `seconds` when the file has none)
    moments = [float(t) if h else None for t, h in zip(seconds, has_flags)]

    # a chat export repeats its lines ("好的", greetings, templates): normalize and segment
    # each distinct text of the frame once; the results are immutable and shared
    prepared: dict[str, tuple] = {}
    tokens_of = segmenter.tokens
    for text in texts:
        if text not in prepared:
            norm = normalize(text)
            prepared[text] = (norm, tokens_of(norm.text))

    norms = [prepared[t][0] for t in texts]
    tokens = [prepared[t][1] for t in texts]

    n = len(conv_ids)
    bounds = [i for i in range(1, n) if conv_ids[i] != conv_ids[i - 1]]
    for start, end in zip([0, *bounds], [*bounds, n]):
        s = slice(start, end)
        # Message(index, role, agent_id, text, norm, tokens, time, timestamp), built positionally
        msgs = list(map(Message, range(end - start), roles[s], agent_ids[s], texts[s], norms[s], tokens[s], moments[s], stamps[s]))
        yield _conversation(conv_ids[start], msgs, all(has_flags[s]))


def _conversation(cid: str, msgs: list[Message], has_time: bool) -> Conversation:
    # Agents: anyone named on an agent message, else on any message of the conversation.
    sender_counts = Counter([m.agent_id for m in msgs if m.role == AGENT and m.agent_id])
    if not sender_counts:
        sender_counts = Counter([m.agent_id for m in msgs if m.agent_id])
    # in order of first appearance on any message; primary: most messages, the first on ties
    order = [a for a in dict.fromkeys(m.agent_id for m in msgs) if a and a in sender_counts]
    primary = max(order, key=sender_counts.__getitem__) if order else ""
    return Conversation(id=cid, messages=msgs, agents=order, primary_agent=primary, has_time=has_time)
