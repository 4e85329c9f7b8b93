"""Transcripts spooled to disk while a run is scored.

A run's transcripts are its largest table (every message's text). Instead of holding them
all, the runner appends each chunk's masked transcripts to Parquet parts; the results store
reads them back part by part, and the report reads only the conversations it shows.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

from csqa.report.transcript import MESSAGE_COLUMNS


class MessageSpool:
    def __init__(self, workdir: str | Path | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="csqa-transcripts-", dir=workdir))
        self.parts: list[Path] = []
        self.rows = 0

    def add(self, messages: pd.DataFrame) -> None:
        if messages.empty:
            return
        path = self.dir / f"part-{len(self.parts):05d}.parquet"
        messages.to_parquet(path, index=False)
        self.parts.append(path)
        self.rows += len(messages)

    def __len__(self) -> int:
        return self.rows

    def frames(self) -> Iterator[pd.DataFrame]:
        """The transcripts part by part, in the order they were added."""
        for path in self.parts:
            yield pd.read_parquet(path)

    def select(self, conversation_ids: Iterable[str]) -> pd.DataFrame:
        """Only these conversations' messages (what the report's drill-down shows)."""
        keep = set(conversation_ids)
        picked = [f[f["conversation_id"].isin(keep)] for f in self.frames()] if keep else []
        picked = [f for f in picked if not f.empty]
        if not picked:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "message_index" else "object") for c in MESSAGE_COLUMNS})
        return pd.concat(picked, ignore_index=True)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
