"""Group conversations without holding the whole input in memory.

Ingested chunks are appended to a DuckDB table; conversations are then read back in batches,
each conversation whole and in order (by its first appearance in the input, messages by time
then input order) — however the export interleaves them. DuckDB spills to disk past its memory
limit (128 MB; at 200k conversations 512 MB cost 370 MB more peak RSS and was no faster), so
memory stays bounded from 20k to millions of conversations.

`csqa score` usually stages in its ingest child instead (`csqa.ingest.background`): the child
writes each chunk as a Parquet part (`write_part` there) and the stage queries the parts with the same
ordered query (`MessageStage.over_parts`) — same batches, same order, the sort spilling alike. When
the child saw that the export is already in that order (the usual export: one conversation after
the other, in time order), the parts are served as written (`PartsInOrder`), without the sort.

The table is a temporary one: DuckDB keeps it in its buffer pool and spills it to the temp
directory like any other data past the memory limit, without the write-ahead log and the
checkpoints (fsyncs) of a stored table — the stage lives only as long as the run. Batches
stream out of one sorted query as Arrow record batches and are cut into whole conversations
in Arrow, so each batch becomes a pandas frame once.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from csqa.ingest import MESSAGE_COLUMNS

# conversations in input order (by the first seq of each; seq is unique, so no ties), then each
# conversation's messages by time (no time first) and input order
_ORDERED = """
SELECT m.*, f.first_seq FROM messages m
JOIN (SELECT conversation_id, min(seq) AS first_seq FROM messages GROUP BY conversation_id) f
USING (conversation_id)
ORDER BY f.first_seq, m.timestamp NULLS FIRST, m.seq
"""


class MessageStage:
    """Ingested messages, served back as batches of whole conversations in input order."""

    def __init__(self, memory_limit: str = "128MB", workdir: str | Path | None = None):
        import duckdb

        self._dir = Path(tempfile.mkdtemp(prefix="csqa-stage-", dir=workdir))
        self.con = duckdb.connect(str(self._dir / "stage.duckdb"))
        self.con.execute(f"SET memory_limit='{memory_limit}'")
        self.con.execute(f"SET temp_directory='{self._dir / 'spill'}'")
        self.con.execute("SET preserve_insertion_order=false")
        self.con.execute("SET enable_progress_bar=false")  # DuckDB would draw one on stdout past 2 s
        self.rows = 0
        self._created = False
        self._frozen = False  # over_parts: reads Parquet parts, takes no more rows

    @classmethod
    def over_parts(cls, parts: Path, memory_limit: str = "128MB", workdir: str | Path | None = None) -> "MessageStage":
        """A stage reading the Parquet parts in `parts` (`csqa.ingest.background.write_part`; names sort in input order).

        The parts stay where they are (their owner removes them); nothing is added afterwards.
        When the ingest child saw that the export is already in the served order (its order.json,
        `csqa.ingest.order`), the parts are served as written (`PartsInOrder`): no sort, no DuckDB.
        """
        from csqa.ingest.background import PART_GLOB

        files = sorted(Path(parts).glob(PART_GLOB))
        order = _written_order(Path(parts))
        if files and order.get("in_order") and isinstance(order.get("conversations"), int):
            return PartsInOrder(files, order["conversations"])
        stage = cls(memory_limit, workdir)
        if files:
            listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            stage.con.execute(f"CREATE TEMP VIEW messages AS SELECT * FROM read_parquet([{listed}])")
            stage._created = True
            stage._frozen = True
        return stage

    def add(self, messages: pd.DataFrame) -> None:
        if self._frozen:
            raise RuntimeError("this stage reads Parquet parts; nothing can be added")
        if messages.empty:
            return
        frame = messages[MESSAGE_COLUMNS]
        self.con.register("chunk", frame)
        if not self._created:
            self.con.execute("CREATE TEMP TABLE messages AS SELECT * FROM chunk")
            self._created = True
        else:
            self.con.execute("INSERT INTO messages SELECT * FROM chunk")
        self.con.unregister("chunk")
        self.rows += len(frame)

    def conversation_count(self) -> int:
        if not self._created:
            return 0
        # fetchall, not fetchone: a half-read result would block the next query (batches)
        return self.con.execute("SELECT count(DISTINCT conversation_id) FROM messages").fetchall()[0][0]

    def batches(self, conversations_per_batch: int = 2000, rows_per_fetch: int = 100_000) -> Iterator[pd.DataFrame]:
        """Frames holding whole conversations, `conversations_per_batch` each (the last fewer), in input order."""
        import pyarrow as pa

        if not self._created:
            return
        reader = self.con.sql(_ORDERED).to_arrow_reader(rows_per_fetch)
        pending: pa.Table | None = None
        done = False
        while not done:
            try:
                part = pa.Table.from_batches([reader.read_next_batch()])
            except StopIteration:
                done = True
            else:
                pending = part if pending is None else pa.concat_tables([pending, part])
            # cut whole conversations off the front; keep the last one unless the input is done
            while pending is not None and pending.num_rows:
                first = pending.column("first_seq").to_numpy()
                starts = np.flatnonzero(first[1:] != first[:-1]) + 1  # where the 2nd, 3rd, … conversation starts
                if len(starts) >= conversations_per_batch:
                    cut = int(starts[conversations_per_batch - 1])
                elif done:
                    cut = pending.num_rows
                else:
                    break  # not enough complete conversations yet (the last may continue)
                yield _finish(pending.slice(0, cut))
                pending = pending.slice(cut)

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PartsInOrder:
    """The stage of an export already in order: the parts read one after the other, cut into batches.

    Gives the frames the sorted query gives (`MessageStage.batches`) for such an export: the same
    rows in the same order, the same column types (DuckDB hands strings back as Arrow `string`).
    """

    def __init__(self, files: list[Path], conversations: int):
        self.files = list(files)
        self.conversations = conversations

    def conversation_count(self) -> int:
        return self.conversations

    def batches(self, conversations_per_batch: int = 2000, rows_per_fetch: int = 100_000) -> Iterator[pd.DataFrame]:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        pending: pa.Table | None = None

        def cut(done: bool):
            nonlocal pending
            while pending is not None and pending.num_rows:
                ids = pending.column("conversation_id")
                changes = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
                starts = np.flatnonzero(changes.to_numpy(zero_copy_only=False)) + 1
                if len(starts) >= conversations_per_batch:
                    at = int(starts[conversations_per_batch - 1])
                elif done:
                    at = pending.num_rows
                else:
                    return  # the last conversation may go on in the next part
                yield _finish_plain(pending.slice(0, at))
                pending = pending.slice(at)

        for path in self.files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows_per_fetch):
                part = pa.Table.from_batches([batch])
                pending = part if pending is None else pa.concat_tables([pending, part])
                yield from cut(False)
        yield from cut(True)

    def close(self) -> None:
        pass  # the parts belong to the ingest child's folder

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _written_order(parts: Path) -> dict:
    """What the ingest child noted about the order of the export ({} when it noted nothing)."""
    import json

    from csqa.ingest.order import ORDER_FILE

    try:
        found = json.loads((parts / ORDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _finish_plain(part) -> pd.DataFrame:
    """`_finish` for a slice of the parts: strings as DuckDB returns them (Arrow string, not large_string)."""
    import pyarrow as pa

    schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                        for f in part.schema])
    return _as_messages(part.cast(schema))


def _finish(part) -> pd.DataFrame:
    """The ingested-messages frame of a batch of the sorted query."""
    return _as_messages(part.drop_columns(["first_seq"]))


def _as_messages(table) -> pd.DataFrame:
    """An Arrow table of messages as the ingested-messages frame (str, datetime64[ns] and int64 columns)."""
    frame = table.combine_chunks().to_pandas()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame
