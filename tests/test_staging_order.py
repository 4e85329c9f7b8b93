"""An export already in order is served from its parts as written, with the batches the sort gives.

- OrderCheck.in_order is true exactly when the stage's sort (conversations by first appearance,
  messages by time with no time first, then input order) leaves the messages where they are,
  whatever the chunking;
- PartsInOrder (no DuckDB) gives frame for frame, type for type, the batches of the sorted query
  over the same parts, for any batch and fetch size;
- an export out of order still goes through the sort.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from csqa.engines.staging import MessageStage, PartsInOrder
from csqa.ingest import MESSAGE_COLUMNS
from csqa.ingest.background import write_part
from csqa.ingest.order import ORDER_FILE, OrderCheck


def _frame(ids, times) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({
        "conversation_id": pd.Series(ids, dtype="str"),
        "timestamp": pd.Series(pd.to_datetime(times), dtype="datetime64[ns]"),
        "role": pd.Series(["agent", "customer"] * (n // 2) + ["agent"] * (n % 2), dtype="str"),
        "agent_id": pd.Series([None if i % 5 == 0 else f"a{i % 3}" for i in range(n)], dtype="str"),
        "text": pd.Series([f"消息{i}" for i in range(n)], dtype="str"),
        "source": pd.Series(["f.csv"] * n, dtype="str"),
        "source_row": pd.Series(np.arange(2, n + 2), dtype="int64"),
        "seq": pd.Series(np.arange(n), dtype="int64"),
    }, columns=MESSAGE_COLUMNS)


def _sort_keeps_order(df: pd.DataFrame) -> bool:
    first = df.groupby("conversation_id", sort=False)["seq"].transform("min")
    ordered = df.assign(_first=first).sort_values(["_first", "timestamp", "seq"], kind="stable", na_position="first")
    return ordered["seq"].tolist() == df["seq"].tolist()


def _in_order_export(n_conv: int, seed: int, nat_share: float = 0.0) -> pd.DataFrame:
    """Conversations one after the other, each in time order (ties; time-less messages first)."""
    rng = np.random.default_rng(seed)
    ids, times = [], []
    base = pd.Timestamp("2026-11-02 09:00:00")
    for c in range(n_conv):
        k = int(rng.integers(1, 9))
        stamps = sorted(base + pd.Timedelta(seconds=int(s)) for s in rng.integers(0, 20, k))
        blank = int((rng.random(k) < nat_share).sum())
        ids += [f"c{c:04d}"] * k
        times += [None] * blank + stamps[blank:]
    return _frame(ids, times)


def _check(df: pd.DataFrame, chunk: int) -> OrderCheck:
    check = OrderCheck()
    for a in range(0, len(df), chunk):
        part = df.iloc[a:a + chunk]
        check.add(part["conversation_id"].to_numpy(dtype=object), part["timestamp"].to_numpy())
    return check


def _damage(df: pd.DataFrame, kind: str, rng) -> pd.DataFrame:
    df = df.copy()
    i = int(rng.integers(1, len(df) - 1))
    if kind == "swap rows":  # two neighbours swapped (times or conversations out of order)
        order = list(range(len(df)))
        order[i], order[i + 1] = order[i + 1], order[i]
        df = df.iloc[order].reset_index(drop=True)
        df["seq"] = np.arange(len(df))
    elif kind == "comes back":  # a message of an earlier conversation at the end
        df.loc[len(df) - 1, "conversation_id"] = df.loc[0, "conversation_id"]
    elif kind == "time lost":  # a message without time after one with time, same conversation
        same = np.flatnonzero(df["conversation_id"].to_numpy()[1:] == df["conversation_id"].to_numpy()[:-1]) + 1
        df.loc[same[len(same) // 2], "timestamp"] = pd.NaT
    elif kind == "earlier time":
        same = np.flatnonzero(df["conversation_id"].to_numpy()[1:] == df["conversation_id"].to_numpy()[:-1]) + 1
        j = same[len(same) // 3]
        df.loc[j, "timestamp"] = df.loc[j - 1, "timestamp"] - pd.Timedelta(seconds=1)
    return df


@pytest.mark.parametrize("chunk", [1, 2, 7, 10_000])
@pytest.mark.parametrize("seed", range(6))
def test_order_check_agrees_with_the_sort(chunk, seed):
    rng = np.random.default_rng(seed)
    clean = _in_order_export(40, seed, nat_share=0.2 if seed % 2 else 0.0)
    check = _check(clean, chunk)
    assert check.in_order and _sort_keeps_order(clean)
    assert check.conversations == clean["conversation_id"].nunique()
    for kind in ("swap rows", "comes back", "time lost", "earlier time"):
        damaged = _damage(clean, kind, rng)
        assert _check(damaged, chunk).in_order == _sort_keeps_order(damaged), kind


def test_order_check_edge_cases():
    t = ["2026-11-02 09:00:00", "2026-11-02 09:00:01"]
    assert _check(_frame(["a", "a", "b"], [None, t[0], None]), 1).in_order  # time-less first
    assert _check(_frame(["a", "a", "a"], [t[1], t[1], t[1]]), 2).in_order  # ties keep input order
    assert _check(_frame(["a", "b"], [t[1], t[0]]), 1).in_order  # another conversation may start earlier
    assert not _check(_frame(["a", "b", "a"], [t[0], t[0], t[1]]), 3).in_order
    assert not _check(_frame(["a", "b", "a"], [t[0], t[0], t[1]]), 1).in_order  # across chunks
    assert not _check(_frame(["a", "a"], [t[1], t[0]]), 1).in_order
    assert not _check(_frame(["a", "a"], [t[0], None]), 1).in_order
    empty = OrderCheck()
    assert empty.in_order and empty.conversations == 0


def _write_parts(tmp_path, df: pd.DataFrame, chunk: int, order: dict | None):
    parts = tmp_path / "parts"
    parts.mkdir()
    for n, a in enumerate(range(0, len(df), chunk)):
        write_part(df.iloc[a:a + chunk].reset_index(drop=True), parts / f"part-{n:06d}.parquet")
    if order is not None:
        (parts / ORDER_FILE).write_text(json.dumps(order), encoding="utf-8")
    return parts


@pytest.mark.parametrize("chunk,per_batch,fetch", [(50, 1, 100_000), (37, 7, 13), (1000, 7, 2048), (9, 40, 3), (10_000, 5000, 100)])
def test_parts_in_order_serve_the_batches_of_the_sort(tmp_path, chunk, per_batch, fetch):
    df = _in_order_export(150, chunk + per_batch, nat_share=0.1)
    check = _check(df, chunk)
    assert check.in_order
    parts = _write_parts(tmp_path, df, chunk, check.as_dict())
    with MessageStage.over_parts(parts) as plain:
        assert isinstance(plain, PartsInOrder)
        got = list(plain.batches(per_batch, rows_per_fetch=fetch))
        count = plain.conversation_count()
    (parts / ORDER_FILE).unlink()  # without the note: the sorted query in DuckDB
    with MessageStage.over_parts(parts) as sorted_stage:
        assert isinstance(sorted_stage, MessageStage)
        want = list(sorted_stage.batches(per_batch, rows_per_fetch=fetch))
        assert count == sorted_stage.conversation_count() == df["conversation_id"].nunique()
    assert len(got) == len(want) == -(-count // per_batch)
    for g, w in zip(got, want):
        pd.testing.assert_frame_equal(g, w, check_exact=True)
        assert list(g.dtypes) == list(w.dtypes)


def test_out_of_order_export_is_sorted(tmp_path):
    df = _damage(_in_order_export(30, 1), "comes back", np.random.default_rng(0))
    check = _check(df, 10)
    assert not check.in_order and check.as_dict() == {"in_order": False, "conversations": None}
    parts = _write_parts(tmp_path, df, 10, check.as_dict())
    with MessageStage.over_parts(parts) as stage:
        assert isinstance(stage, MessageStage)
        batches = list(stage.batches(1000))
    first = batches[0]
    assert first["conversation_id"].iloc[0] == first["conversation_id"].iloc[1]  # the returning message moved up
    assert sorted(first["seq"]) != first["seq"].tolist()
