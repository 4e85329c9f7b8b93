"""The ingest and staging fast paths give what the plain code gives.

- DelimitedReader.chunks (a tight loop for complete rows, tuples instead of lists, columns built
  through Arrow) == the row-by-row reference loop, on a messy export read in small chunks;
- map_roles on str columns (factorized) == the dict map used for other columns;
- MessageStage (temp table, one sorted query streamed as Arrow, cut in Arrow) == sorting the
  frame with pandas and cutting every N conversations, for several batch and fetch sizes.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csqa.engines.staging import MessageStage
from csqa.ingest import MESSAGE_COLUMNS, read_inputs
from csqa.ingest.columns import resolve_columns
from csqa.ingest.readers import DelimitedReader, _blank_row
from csqa.ingest.roles import build_role_table, map_roles

HEADER = ["会话ID", "消息时间", "发送方", "客服账号", "内容"]


def _messy_rows(sample_csv) -> list[str]:
    """Lines of a CSV export: the sample plus blank lines, short/long rows, blank first cells, quotes."""
    with open(sample_csv, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))[1:400]
    rng = random.Random(1)
    lines = []
    for row in rows:
        kind = rng.random()
        if kind < 0.05:
            lines.append("")  # blank line
        elif kind < 0.08:
            lines.append(",,,,")  # a row of empty cells
        elif kind < 0.11:
            row = row + ["", ""]  # trailing delimiters
        elif kind < 0.14:
            row = row[:3]  # too few fields
        elif kind < 0.16:
            row = row + ["extra"]  # too many fields
        elif kind < 0.19:
            row = [""] + row[1:]  # blank conversation id
        elif kind < 0.21:
            row = [" "] + [""] * 4  # blank first cell, blank row
        elif kind < 0.24:
            row = row[:4] + ['多行\n"引号"，内容']  # quoted multi-line cell
        out = []
        for cell in row:
            out.append('"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n') else cell)
        lines.append(",".join(out))
    return lines


def _reference_chunks(path: Path, width: int, chunk_rows: int):
    """The plain loop: row numbers, records and bad rows per chunk, one record at a time."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=",", strict=False)
        number = 0
        while True:  # the header: the first non-blank record
            rec = next(reader)
            number += 1
            if not _blank_row(rec):
                break
        rows, records, bad, chunks = [], [], [], []
        for rec in reader:
            number += 1
            n = len(rec)
            if n == width:
                if not rec[0].strip() and _blank_row(rec):
                    continue
                rows.append(number)
                records.append(tuple(rec))
            elif n > width and _blank_row(rec[width:]):
                rec = rec[:width]
                if _blank_row(rec):
                    continue
                rows.append(number)
                records.append(tuple(rec))
            elif _blank_row(rec):
                continue
            else:
                bad.append((number, ",".join(rec)))
            if len(rows) + len(bad) >= chunk_rows:
                chunks.append((rows, records, bad))
                rows, records, bad = [], [], []
        if rows or bad:
            chunks.append((rows, records, bad))
    return chunks


@pytest.mark.parametrize("chunk_rows", [1, 7, 50, 100_000])
def test_delimited_chunks_equal_reference(tmp_path, sample_csv, chunk_rows):
    path = tmp_path / "messy.csv"
    path.write_text("\n" + ",".join(HEADER) + "\n" + "\n".join(_messy_rows(sample_csv)) + "\n", encoding="utf-8")
    reader = DelimitedReader(path, str(path), None)
    mapping = resolve_columns(str(path), reader.header(), {})
    got = list(reader.chunks(mapping, chunk_rows))
    reader.close()
    want = _reference_chunks(path, len(HEADER), chunk_rows)
    assert len(got) == len(want)
    for chunk, (rows, records, bad) in zip(got, want):
        assert chunk.rows == rows
        assert [(b[0], b[3]) for b in chunk.bad] == bad
        assert [chunk.raw_of(i) for i in range(len(rows))] == [",".join(r) for r in records]
        for name, idx in mapping.index.items():
            if idx is not None:
                expected = pd.Series([r[idx] for r in records], dtype="str")
                pd.testing.assert_series_equal(chunk.fields[name], expected, check_names=False)


def test_messy_export_reads_the_same_in_any_chunking(tmp_path, sample_csv):
    from csqa.ingest import IngestOptions

    path = tmp_path / "messy.csv"
    path.write_text(",".join(HEADER) + "\n" + "\n".join(_messy_rows(sample_csv)) + "\n", encoding="utf-8")
    whole = read_inputs([path])
    assert len(whole.rejects) > 0 and len(whole.messages) > 0
    for chunk_rows in (3, 64):
        part = read_inputs([path], IngestOptions(chunk_rows=chunk_rows))
        pd.testing.assert_frame_equal(part.messages, whole.messages)
        pd.testing.assert_frame_equal(part.rejects, whole.rejects)


def test_map_roles_str_equals_object():
    table = build_role_table({"坐席A": "agent"})
    values = ["客服", "顾客", "系统", "坐席A", "买家 ", "ＡＧＥＮＴ", "未知", "", None, "客服", "user"] * 3
    as_str = pd.Series(values, dtype="str")
    fast = map_roles(as_str, table)
    plain = map_roles(as_str.astype(object), table)
    pd.testing.assert_series_equal(fast, plain)
    assert fast.tolist()[:8] == ["agent", "customer", "system", "agent", "customer", "agent", "", ""]
    assert map_roles(pd.Series([], dtype="str"), table).tolist() == []


# ------------------------------------------------------------------ staging


def _messages(n_conv: int, seed: int, with_time: bool = True) -> list[pd.DataFrame]:
    """Chunks of ingested messages: conversations interleaved, times missing or tied here and there."""
    rng = np.random.default_rng(seed)
    convs = rng.integers(0, n_conv, 6 * n_conv)
    n = len(convs)
    base = pd.Timestamp("2026-11-02 09:00:00").value
    stamps = base + rng.integers(0, 50, n) * 1_000_000_000  # many ties
    ts = pd.Series(pd.to_datetime(stamps), dtype="datetime64[ns]")
    if with_time:
        ts[rng.random(n) < 0.05] = pd.NaT
    else:
        ts[:] = pd.NaT
    frame = pd.DataFrame({
        "conversation_id": pd.Series([f"c{c:04d}" for c in convs], dtype="str"),
        "timestamp": ts,
        "role": pd.Series(rng.choice(["agent", "customer", "system"], n), dtype="str"),
        "agent_id": pd.Series(rng.choice(["", "a1", "a2"], n), dtype="str"),
        "text": pd.Series([f"消息{i}" for i in range(n)], dtype="str"),
        "source": pd.Series(["f.csv"] * n, dtype="str"),
        "source_row": pd.Series(np.arange(2, n + 2), dtype="int64"),
        "seq": pd.Series(np.arange(n), dtype="int64"),
    }, columns=MESSAGE_COLUMNS)
    cuts = sorted(rng.choice(np.arange(1, n), 3, replace=False))
    return [frame.iloc[a:b].reset_index(drop=True) for a, b in zip([0, *cuts], [*cuts, n])]


def _reference_batches(chunks: list[pd.DataFrame], per_batch: int) -> list[pd.DataFrame]:
    df = pd.concat(chunks, ignore_index=True)
    first = df.groupby("conversation_id", sort=False)["seq"].transform("min")
    ordered = df.assign(_first=first).sort_values(["_first", "timestamp", "seq"], kind="stable", na_position="first")
    rank = ordered["_first"].rank(method="dense").astype(int) - 1
    out = []
    for _, part in ordered.groupby(rank // per_batch, sort=True):
        out.append(part.drop(columns=["_first"]).reset_index(drop=True))
    return out


@pytest.mark.parametrize("per_batch,fetch", [(1, 100_000), (7, 50), (7, 2048), (40, 3000), (10_000, 100_000)])
@pytest.mark.parametrize("with_time", [True, False])
def test_stage_batches_equal_reference(per_batch, fetch, with_time):
    chunks = _messages(120, seed=per_batch + fetch, with_time=with_time)
    with MessageStage() as stage:
        for chunk in chunks:
            stage.add(chunk)
        assert stage.conversation_count() == pd.concat(chunks)["conversation_id"].nunique()
        got = list(stage.batches(per_batch, rows_per_fetch=fetch))  # after the count: no pending result
    want = _reference_batches(chunks, per_batch)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        pd.testing.assert_frame_equal(g, w, check_exact=True)
        assert list(g.dtypes) == list(w.dtypes)


def test_stage_empty_and_abandoned():
    with MessageStage() as stage:
        assert stage.conversation_count() == 0
        assert list(stage.batches()) == []
    with MessageStage() as stage:  # a consumer that stops early leaves the stage closable
        for chunk in _messages(50, seed=3):
            stage.add(chunk)
        first = next(iter(stage.batches(5, rows_per_fetch=64)))
        assert first["conversation_id"].nunique() == 5


# ------------------------------------------------------------------ time formats


def _ranked_by_parsing_all(values: pd.Series, formats):
    """The format ranking by parsing the sample (the same sample rule) with every format, no shortcut."""
    if len(values) > 200:
        sample = pd.concat([values.iloc[:100], values.iloc[np.linspace(100, len(values) - 1, 100).astype(int)]])
    else:
        sample = values
    scored = sorted((-int(pd.to_datetime(sample, format=f, errors="coerce").notna().sum()), i, f)
                    for i, f in enumerate(formats))
    return [f for h, _, f in scored if h < 0], [f for h, _, f in scored if h == 0]


@pytest.mark.parametrize(
    "values",
    [
        ["2026-11-02 09:00:01", "2026-11-02 09:01"] * 150,
        ["2026-11-02t09:00:01", "2026-11-02T09:00", "2026-11-02T09:00:01.25"],
        ["2026/11/2 9:00", "2026/11/02 09:00:01.5", "2026/11/02"],
        ["2026年11月2日 09:00:01", "2026年11月2日09:00", "2026年11月2日", "2026.11.02 09:00:00", "2026.11.2"],
        ["２０２６-１１-０２ ０９:００", "下午3:00", "2026-11-02  09:00:01", "20261102", "1762045201", "垃圾"],
        ["2026-11-02 09:00:01"] * 250 + ["2026/11/02 09:00"] * 100 + ["2026年11月2日"] * 50,
    ],
)
def test_format_ranking_skips_only_formats_that_cannot_parse(values):
    from csqa.ingest.timestamps import _FORMATS, _split_formats

    s = pd.Series(values, dtype="str")
    assert _split_formats(s) == _ranked_by_parsing_all(s, _FORMATS)
    rest = list(_FORMATS[5:])
    assert _split_formats(s, rest) == _ranked_by_parsing_all(s, rest)
