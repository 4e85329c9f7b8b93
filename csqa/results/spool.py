"""Result tables spooled to disk while a run is scored.

A run's findings and transcripts grow with the input (at 200k conversations: 1.3M
findings, 2.4M messages). Instead of holding them, the runner appends each chunk's rows to
Parquet parts; the CSV files and the results store are written from the parts one at a
time, and the report reads only the columns it aggregates (`read`) or the conversations it
shows (`select`). Memory then stays flat however large the run.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pandas as pd
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from csqa.core.errors import writing
from csqa.results.columns import TRANSCRIPT_COLUMNS
from csqa.results.transcripts import empty_transcripts


class FrameSpool:
    """Parquet parts of one table, in the order they were added."""

    def __init__(self, name: str, columns: Sequence[str], workdir: str | Path | None = None):
        self.name = name
        self.columns = list(columns)
        self.dir = Path(tempfile.mkdtemp(prefix=f"csqa-{name}-", dir=workdir))
        self.parts: list[Path] = []
        self.rows = 0
        self._empty: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame) -> None:
        if self._empty is None:
            self._empty = empty_like(frame)  # dtypes for an empty result
        if frame.empty:
            return
        path = self.dir / f"part-{len(self.parts):06d}.parquet"
        with writing(self.dir):
            frame.to_parquet(path, index=False)
        self.parts.append(path)
        self.rows += len(frame)

    def part_path(self, index: int) -> Path:
        """Where the part of batch `index` goes when a worker writes it (`write_batch_part`, then `adopt`)."""
        return self.dir / f"batch-{index:07d}.parquet"

    def adopt(self, written: "WrittenPart") -> None:
        """Append a part another process wrote (in batch order, like `add`)."""
        if self._empty is None:
            self._empty = written.empty
        if written.path is not None:
            self.parts.append(written.path)
            self.rows += written.rows

    def order_parts(self) -> None:
        """Put adopted parts in batch order (`part_path` numbers them) when they arrived out of it,
        as the Spark engine's buckets do."""
        self.parts.sort(key=lambda path: path.name)

    def __len__(self) -> int:
        return self.rows

    def empty_frame(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        cols = list(columns) if columns is not None else None
        if self._empty is not None:
            return self._empty[cols].copy() if cols else self._empty.copy()
        return pd.DataFrame({c: pd.Series(dtype="object") for c in (cols or self.columns)})

    def frames(self, columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
        """The rows part by part (only `columns`, when given)."""
        for path in self.parts:
            yield pd.read_parquet(path, columns=list(columns) if columns else None)

    def read(self, columns: Sequence[str], categorical: Iterable[str] = ()) -> pd.DataFrame:
        """All rows of a few columns; `categorical` ones are read as categories (low-cardinality text)."""
        if not self.parts:
            return self.empty_frame(columns)
        cats = set(categorical)
        pieces = []
        for frame in self.frames(columns):
            for c in cats & set(frame.columns):
                frame[c] = frame[c].astype("category")
            pieces.append(frame)
        if len(pieces) == 1:
            return pieces[0]
        # parts' categories differ, and pd.concat would turn such columns back into text (all of it
        # at once, then categories again): their codes are joined instead, categories sorted as
        # astype("category") sorts them
        cat_cols = [c for c in pieces[0].columns if c in cats]
        out = pd.concat([p.drop(columns=cat_cols) for p in pieces], ignore_index=True)
        for c in cat_cols:
            out[c] = union_categoricals([p[c] for p in pieces], sort_categories=True)
        return out[list(pieces[0].columns)]

    def select(self, conversation_ids: Iterable[str], columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Only these conversations' rows, in spool order."""
        keep = sorted({str(c) for c in conversation_ids})
        if not keep or not self.parts:
            return self.empty_frame(columns)
        picked = []
        for path in self.parts:
            table = pq.read_table(path, columns=list(columns) if columns else None,
                                  filters=[("conversation_id", "in", keep)])
            if table.num_rows:
                picked.append(table.to_pandas())
        if not picked:
            return self.empty_frame(columns)
        return pd.concat(picked, ignore_index=True) if len(picked) > 1 else picked[0]

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class WrittenPart:
    """A part written by the worker that scored the batch: its path (None when the batch had no
    rows), its row count and an empty frame with its dtypes (what `FrameSpool.adopt` needs)."""

    path: Path | None
    rows: int
    empty: pd.DataFrame


def empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame without rows with `frame`'s columns and dtypes — new columns: an empty slice
    would keep the whole chunk's Arrow buffers alive."""
    return pd.DataFrame({c: pd.Series(dtype=frame[c].dtype) for c in frame.columns})


def write_batch_part(frame: pd.DataFrame, path: Path) -> WrittenPart:
    """Write one batch's rows where `FrameSpool.part_path` says; the same bytes `add` would write."""
    empty = empty_like(frame)
    if frame.empty:
        return WrittenPart(None, 0, empty)
    with writing(Path(path).parent):
        frame.to_parquet(path, index=False)
    return WrittenPart(Path(path), len(frame), empty)


def with_finding_index(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings with their place in their conversation's ledger (0, 1, …), as the store keeps them.
    A batch holds whole conversations, so a batch's numbering is the run's."""
    return findings.assign(finding_index=findings.groupby("conversation_id", sort=False).cumcount().astype("int32"))


class MessageSpool(FrameSpool):
    """The run's transcripts (masked unless --no-mask)."""

    def __init__(self, workdir: str | Path | None = None):
        super().__init__("transcripts", TRANSCRIPT_COLUMNS, workdir)

    def empty_frame(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        if self._empty is not None:
            return super().empty_frame(columns)
        return empty_transcripts(list(columns) if columns is not None else None)
