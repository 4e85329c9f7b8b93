"""Is the export already in the order the scorer reads it in? Checked while ingesting, chunk by chunk.

Staging serves conversations in order of first appearance, each conversation's messages by time
(no time first) then input order (`csqa.engines.staging._ORDERED`). Most exports already come so:
one conversation after the other, its messages in time order. Then that sort gives the input order
back unchanged, and the stage can serve the parts as written instead of sorting them in DuckDB
(`MessageStage.over_parts`). This check tells the two cases apart exactly, cheaply: a few numpy
comparisons per chunk and a set of the conversation ids already finished.
"""
from __future__ import annotations

import numpy as np

ORDER_FILE = "order.json"  # written beside the parts by the ingest child


class OrderCheck:
    """Feed the kept messages of every chunk in input (seq) order; `in_order` says if the sort is a no-op."""

    def __init__(self) -> None:
        self.in_order = True
        self.conversations = 0  # distinct conversations (counted while in order)
        self._done: set[str] = set()  # conversations finished (another one started after them)
        self._last_id: str | None = None
        self._last_time = None  # numpy datetime64 of the last message (NaT allowed)

    def add(self, conversation_ids, timestamps) -> None:
        """conversation_ids: str values; timestamps: datetime64[ns] values (NaT where none), one per message."""
        if not self.in_order or len(conversation_ids) == 0:
            return
        ids = np.asarray(conversation_ids, dtype=object)
        times = np.asarray(timestamps, dtype="datetime64[ns]")
        # where a new run of one conversation starts: the first row when it does not continue the
        # previous chunk's last conversation, and every change of id
        new = np.empty(len(ids), dtype=bool)
        new[0] = ids[0] != self._last_id
        new[1:] = ids[1:] != ids[:-1]
        starts = ids[new].tolist()
        unique = set(starts)
        if len(unique) != len(starts) or self._last_id in unique or not self._done.isdisjoint(unique):
            self.in_order = False  # a conversation comes back after another one
            return
        # within a conversation the sort puts messages without time first, then by time (ties: input order)
        nat = np.isnat(times)
        prev_times = np.empty_like(times)
        prev_times[0] = self._last_time if self._last_time is not None else np.datetime64("NaT")
        prev_times[1:] = times[:-1]
        prev_nat = np.isnat(prev_times)
        broken = ~new & ~prev_nat & (nat | (times < prev_times))  # no time after a time, or an earlier time
        if broken.any():
            self.in_order = False
            return
        runs = starts if new[0] else [self._last_id, *starts]
        if new[0] and self._last_id is not None:
            self._done.add(self._last_id)
        self._done.update(runs[:-1])
        self.conversations += len(starts)
        self._last_id = ids[-1]
        self._last_time = times[-1]

    def as_dict(self) -> dict:
        return {"in_order": self.in_order, "conversations": self.conversations if self.in_order else None}
