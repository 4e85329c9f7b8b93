"""Group conversations without holding the whole input in memory.

Ingested chunks are appended to a DuckDB table on disk; conversations are then read back
in batches, each conversation whole and in order (by its first appearance in the input,
messages by time then input order) — however the export interleaves them. DuckDB spills
to disk past its memory limit (128 MB; at 200k conversations 512 MB cost 370 MB more peak RSS
and was no faster), so memory stays bounded from 20k to millions of conversations.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

from csqa.ingest import MESSAGE_COLUMNS


class MessageStage:
    def __init__(self, memory_limit: str = "128MB", workdir: str | Path | None = None):
        import duckdb

        self._dir = Path(tempfile.mkdtemp(prefix="csqa-stage-", dir=workdir))
        self.con = duckdb.connect(str(self._dir / "stage.duckdb"))
        self.con.execute(f"SET memory_limit='{memory_limit}'")
        self.con.execute(f"SET temp_directory='{self._dir / 'spill'}'")
        self.con.execute("SET preserve_insertion_order=false")
        self.rows = 0
        self._created = False

    def add(self, messages: pd.DataFrame) -> None:
        if messages.empty:
            return
        frame = messages[MESSAGE_COLUMNS]
        self.con.register("chunk", frame)
        if not self._created:
            self.con.execute("CREATE TABLE messages AS SELECT * FROM chunk")
            self._created = True
        else:
            self.con.execute("INSERT INTO messages SELECT * FROM chunk")
        self.con.unregister("chunk")
        self.rows += len(frame)

    def conversation_count(self) -> int:
        if not self._created:
            return 0
        return self.con.execute("SELECT count(DISTINCT conversation_id) FROM messages").fetchone()[0]

    def batches(self, conversations_per_batch: int = 2000, rows_per_fetch: int = 100_000) -> Iterator[pd.DataFrame]:
        """Frames holding whole conversations, about `conversations_per_batch` each, in input order."""
        if not self._created:
            return
        self.con.execute(
            """
            CREATE OR REPLACE TABLE ordered AS
            SELECT m.*, r.conv_rank FROM messages m
            JOIN (SELECT conversation_id, row_number() OVER (ORDER BY min(seq)) AS conv_rank
                  FROM messages GROUP BY conversation_id) r USING (conversation_id)
            ORDER BY conv_rank, timestamp NULLS FIRST, seq
            """
        )
        cursor = self.con.execute("SELECT * FROM ordered ORDER BY conv_rank, timestamp NULLS FIRST, seq")
        pending = pd.DataFrame()
        vectors = max(1, rows_per_fetch // 2048)  # DuckDB hands out 2,048-row vectors
        while True:
            part = cursor.fetch_df_chunk(vectors)
            done = part is None or part.empty
            if not done:
                pending = part if pending.empty else pd.concat([pending, part], ignore_index=True)
            # cut whole conversations off the front; keep the last one unless the input is done
            while not pending.empty:
                ranks = pending["conv_rank"]
                first = ranks.iat[0]
                cut_rank = first + conversations_per_batch
                if not done and cut_rank > ranks.iat[-1]:
                    break  # not enough complete conversations yet (the last may continue)
                take = ranks < cut_rank
                yield _finish(pending[take])
                pending = pending[~take].reset_index(drop=True)
            if done:
                break

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _finish(part: pd.DataFrame) -> pd.DataFrame:
    frame = part.drop(columns=["conv_rank"]).reset_index(drop=True)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame
