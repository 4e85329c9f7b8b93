"""The results store written from spools of Parquet parts (as `csqa score` does) holds the same
rows as written from DataFrames: DuckDB reads the parts itself, with no pandas conversion."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def stored(sample_run):
    from csqa.outputs.store import ResultStore

    with ResultStore(sample_run.outdir / "results.duckdb", read_only=True) as rs:
        return rs.load()


def _rows(path, table: str) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
    finally:
        con.close()


def test_conversations_findings_messages_from_spools_equal_frames(stored, tmp_path):
    from csqa.results.spool import FrameSpool, MessageSpool
    from csqa.results.tables import agents_table
    from csqa.outputs.store import TAGS, ResultStore

    conv = stored.conversations.drop(columns=TAGS)
    fnd = stored.findings.drop(columns=TAGS)
    msgs = stored.messages.drop(columns=TAGS)
    # the awkward values: no time, a time that does not parse, missing response times and complaint
    conv.loc[0, "started_at"] = ""
    conv.loc[1, "ended_at"] = "not a time"
    conv["first_response_s"] = conv["first_response_s"].astype(float)
    conv.loc[2, "first_response_s"] = np.nan
    conv["complaint"] = conv["complaint"].astype("boolean")
    conv.loc[3, "complaint"] = pd.NA
    agents = agents_table(conv, fnd)
    manifest = {"run_id": "r1", "rulebook": {"id": "default", "sha256": "abc"}, "inputs": []}
    with ResultStore(tmp_path / "frames.duckdb") as rs:
        rs.write_run(manifest, conv, fnd, agents, msgs)
    with FrameSpool("conversations", list(conv.columns)) as cs, FrameSpool("findings", list(fnd.columns)) as fs, \
            MessageSpool() as ms, ResultStore(tmp_path / "spools.duckdb") as rs:
        cs.add(conv)
        ids = conv["conversation_id"].tolist()
        for chunk in (ids[:5], ids[5:]):
            fs.add(fnd[fnd["conversation_id"].isin(chunk)])
            ms.add(msgs[msgs["conversation_id"].isin(chunk)])
        rs.write_run(manifest, cs, fs, agents, ms)
    for table in ("conversations", "findings", "messages", "agents"):
        x, y = _rows(tmp_path / "frames.duckdb", table), _rows(tmp_path / "spools.duckdb", table)
        assert len(x) > 0
        pd.testing.assert_frame_equal(x, y)
    x = _rows(tmp_path / "spools.duckdb", "conversations").set_index("conversation_id")
    cid = conv["conversation_id"]
    assert pd.isna(x.loc[cid[0], "started_at"]) and pd.isna(x.loc[cid[1], "ended_at"])
    assert pd.isna(x.loc[cid[2], "first_response_s"]) and pd.isna(x.loc[cid[3], "complaint"])
    with duckdb.connect(str(tmp_path / "spools.duckdb"), read_only=True) as con:
        assert con.execute("SELECT conversations, findings FROM runs").fetchone() == (len(conv), len(fnd))
