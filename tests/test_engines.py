"""Engines give the same rows: in-process, a worker pool, staged through DuckDB, and Spark (local mode)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from csqa.engines import Scorer, concat_outputs
from csqa.settings import ScoringSettings
from csqa.engines.local import LocalEngine
from csqa.engines.staging import MessageStage
from csqa.ingest import read_inputs
from csqa.core.paths import corpora_dir

SAMPLE = corpora_dir() / "samples" / "chat_export.csv"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def messages() -> pd.DataFrame:
    return read_inputs([SAMPLE]).messages


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(ScoringSettings(use_model=True))


@pytest.fixture(scope="module")
def reference(scorer, messages):
    return scorer.score_frame(messages)


def _assert_same(a, b):
    pd.testing.assert_frame_equal(a.conversations.reset_index(drop=True), b.conversations.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.findings.reset_index(drop=True), b.findings.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.messages.reset_index(drop=True), b.messages.reset_index(drop=True))


def test_reference_run_scores_every_conversation(reference, messages):
    assert len(reference.conversations) == messages["conversation_id"].nunique()
    assert len(reference.messages) == len(messages)
    assert reference.conversations["complaint"].notna().all()  # the shipped classifier filled the column


def test_staged_batches_hold_whole_conversations_in_input_order(messages):
    with MessageStage() as stage:
        for start in range(0, len(messages), 500):  # several ingest chunks
            stage.add(messages.iloc[start : start + 500])
        batches = list(stage.batches(conversations_per_batch=50, rows_per_fetch=300))
    assert len(batches) > 3
    seen: list[str] = []
    for batch in batches:
        ids = batch["conversation_id"].unique().tolist()
        assert not set(ids) & set(seen), "a conversation was split across batches"
        seen.extend(ids)
    assert seen == messages["conversation_id"].unique().tolist()
    assert sum(len(b) for b in batches) == len(messages)


def test_interleaved_export_gives_the_same_conversations(scorer, messages, reference):
    # an export sorted by time interleaves conversations; staging regroups them
    shuffled = messages.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled["seq"] = range(len(shuffled))
    with MessageStage() as stage:
        stage.add(shuffled)
        out = concat_outputs([scorer.score_frame(b) for b in stage.batches(100)])
    # same conversations (order differs: first appearance in the shuffled input)
    key = ["conversation_id"]
    a = out.conversations.sort_values(key).reset_index(drop=True)
    b = reference.conversations.sort_values(key).reset_index(drop=True)
    # messages within a conversation are ordered by time, so every score is the same
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("workers", [1, 2])
def test_local_engine_matches_in_process_scoring(scorer, messages, reference, workers):
    with MessageStage() as stage, LocalEngine(scorer, workers) as engine:
        stage.add(messages)
        out = concat_outputs(list(engine.map(stage.batches(60))))
        engine.close()
    _assert_same(out, reference)
    assert engine.workers == workers


def _spark_or_skip():
    pytest.importorskip("pyspark")
    import shutil

    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")


@pytest.mark.parametrize("staging", ["temp", "uri"])
def test_spark_engine_matches_local(messages, reference, tmp_path, staging):
    """Buckets by where a conversation starts: a conversation crossing a bucket boundary stays whole,
    the buckets come back in any order, and in bucket order they are the reference, row for row.
    The staging folder may be a URI (CSQA_SPARK_STAGING on a cluster: hdfs://…; here file://)."""
    _spark_or_skip()
    from csqa.engines.spark import SparkEngine, in_bucket_order

    base = None if staging == "temp" else (tmp_path / "stage").resolve().as_uri()
    engine = SparkEngine(ScoringSettings(use_model=True), rows_per_bucket=150, staging=base)
    try:
        for start in range(0, len(messages), 1000):
            engine.add(messages.iloc[start : start + 1000])
        if base is not None:
            assert len(list((tmp_path / "stage").glob("csqa-spark-*/part-*.parquet"))) == -(-len(messages) // 1000)
        pairs = list(engine.run())
    finally:
        engine.close()
    buckets = [b for b, _ in pairs]
    assert len(buckets) == len(set(buckets)) >= 3
    assert max(buckets) < engine.buckets
    # some conversation starts before a boundary and ends after it: still in one bucket only
    first = messages.groupby("conversation_id")["seq"].agg(["min", "max"])
    assert ((first["min"] // 150) != (first["max"] // 150)).any()
    for bucket, out in pairs:
        starts = first.loc[out.conversations["conversation_id"], "min"]
        assert (starts // 150 == bucket).all()
    _assert_same(in_bucket_order(pairs), reference)
    if base is not None:
        assert not list((tmp_path / "stage").glob("csqa-spark-*")), "the staging folder is removed at close"


def _run(tmp_path, name, *args):
    from click.testing import CliRunner

    from csqa.cli import cli

    out = tmp_path / name
    result = CliRunner().invoke(cli, ["score", str(SAMPLE), "-o", str(out), "-q", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return out


def _tables(out):
    conv = pd.read_csv(out / "conversations.csv", dtype=str, keep_default_na=False)
    find = pd.read_csv(out / "findings.csv", dtype=str, keep_default_na=False)
    return (conv.sort_values("conversation_id").reset_index(drop=True),
            find.sort_values(["conversation_id", "rule_id", "message_index", "span_start"]).reset_index(drop=True))


def test_cli_engines_write_the_same_rows(tmp_path):
    """`--engine spark` (local mode) and `--workers 1` give the same CSV rows as the default local pool."""
    import json

    _spark_or_skip()
    pool = _run(tmp_path, "pool")
    single = _run(tmp_path, "single", "--workers", "1")
    spark = _run(tmp_path, "spark", "--engine", "spark")
    reference = _tables(pool)
    for other in (single, spark):
        for a, b in zip(reference, _tables(other)):
            pd.testing.assert_frame_equal(a, b)
    manifest = json.loads((spark / "run.json").read_text(encoding="utf-8"))
    assert manifest["engine"] == "spark"
    assert manifest["rows_read"] == manifest["rows_scored"] + manifest["rows_rejected"]
    assert json.loads((single / "run.json").read_text(encoding="utf-8"))["workers"] == 1


def test_message_spool_keeps_transcripts_on_disk_and_reads_back_what_is_asked(reference):
    from csqa.results.spool import MessageSpool

    msgs = reference.messages
    half = len(msgs) // 2
    with MessageSpool() as spool:
        spool.add(msgs.iloc[:half])
        spool.add(msgs.iloc[half:])
        assert len(spool) == len(msgs) and len(spool.parts) == 2
        back = pd.concat(list(spool.frames()), ignore_index=True)
        pd.testing.assert_frame_equal(back, msgs.reset_index(drop=True))
        wanted = msgs["conversation_id"].unique()[[0, -1]].tolist()
        picked = spool.select(wanted)
        assert set(picked["conversation_id"]) == set(wanted)
        assert len(picked) == msgs["conversation_id"].isin(wanted).sum()
        folder = spool.dir
    assert not folder.exists()


def test_cli_store_holds_every_transcript_row(tmp_path):
    import duckdb

    out = _run(tmp_path, "stored")
    con = duckdb.connect(str(out / "results.duckdb"), read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        con.close()
    assert n == len(read_inputs([SAMPLE]).messages)


def test_findings_spool_reads_columns_as_categories_and_selects_in_order(reference):
    from csqa.results.spool import FrameSpool
    from csqa.results.tables import FINDING_COLUMNS

    fnd = reference.findings
    third = len(fnd) // 3
    with FrameSpool("findings", FINDING_COLUMNS) as spool:
        for part in (fnd.iloc[:third], fnd.iloc[third:2 * third], fnd.iloc[2 * third:]):
            spool.add(part)
        compact = spool.read(["conversation_id", "rule_id", "severity", "points"], categorical=("rule_id", "severity"))
        assert list(compact.columns) == ["conversation_id", "rule_id", "severity", "points"]
        assert compact["rule_id"].dtype == "category" and compact["severity"].dtype == "category"
        assert compact["rule_id"].astype(str).tolist() == fnd["rule_id"].astype(str).tolist()
        assert compact["points"].tolist() == fnd["points"].tolist()
        # a conversation from the first and one from the last part, in spool (ledger) order
        wanted = [fnd["conversation_id"].iat[0], fnd["conversation_id"].iat[-1]]
        picked = spool.select(wanted)
        expected = fnd[fnd["conversation_id"].isin(wanted)].reset_index(drop=True)
        pd.testing.assert_frame_equal(picked[expected.columns].reset_index(drop=True), expected, check_dtype=False)
        assert spool.select([]).empty and list(spool.select(["no such id"]).columns) == list(fnd.columns)


def test_run_manifest_carries_output_time_and_peak_memory_per_stage(tmp_path):
    out = _run(tmp_path, "manifest")
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    timings, rss = manifest["timings_s"], manifest["peak_rss_mb"]
    for stage in ("setup", "ingest", "score", "outputs"):
        assert timings[stage] >= 0 and stage in rss
    assert timings["total"] >= sum(timings[s] for s in ("setup", "ingest", "score", "outputs")) - 0.01
    # the report and the store are built in their own processes during the output stage
    for job in ("report", "store"):
        assert 0 < timings[job] <= timings["outputs"] + 0.01
        assert rss[f"{job} (own process)"] > 50
    # the main process's peak only grows from stage to stage, and a worker reported its own
    steps = [rss[s] for s in ("setup", "ingest", "score", "outputs")]
    assert steps == sorted(steps) and steps[0] > 50
    assert rss["score (largest worker)"] > 50


def test_store_rows_are_the_same_from_spools_as_from_frames(reference, tmp_path):
    import duckdb

    from csqa.results.spool import FrameSpool, MessageSpool
    from csqa.results.tables import FINDING_COLUMNS, agents_table
    from csqa.outputs.store import ResultStore

    conv, fnd, msgs = reference.conversations, reference.findings, reference.messages
    agents = agents_table(conv, fnd)
    manifest = {"run_id": "r1", "rulebook": {"id": "default", "sha256": "abc"}, "inputs": []}
    with ResultStore(tmp_path / "frames.duckdb") as rs:
        rs.write_run(manifest, conv, fnd, agents, msgs)
    with FrameSpool("findings", FINDING_COLUMNS) as fs, MessageSpool() as ms, ResultStore(tmp_path / "spools.duckdb") as rs:
        ids = conv["conversation_id"].tolist()
        for chunk in (ids[:100], ids[100:250], ids[250:]):  # conversations never split across parts
            fs.add(fnd[fnd["conversation_id"].isin(chunk)])
            ms.add(msgs[msgs["conversation_id"].isin(chunk)])
        rs.write_run(manifest, conv, fs, agents, ms)
    order = {"findings": "conversation_id, finding_index", "messages": "conversation_id, message_index"}
    for table in ("findings", "messages"):
        a, b = (duckdb.connect(str(tmp_path / f"{n}.duckdb"), read_only=True) for n in ("frames", "spools"))
        try:
            x = a.execute(f"SELECT * FROM {table} ORDER BY {order[table]}").df()
            y = b.execute(f"SELECT * FROM {table} ORDER BY {order[table]}").df()
        finally:
            a.close(), b.close()
        assert len(x) == (len(fnd) if table == "findings" else len(msgs))
        pd.testing.assert_frame_equal(x, y)


def test_an_interrupted_store_write_leaves_no_rows_behind(reference, tmp_path):
    import duckdb

    from csqa.results.tables import agents_table
    from csqa.outputs.store import ResultStore

    conv, fnd, msgs = reference.conversations, reference.findings, reference.messages
    agents = agents_table(conv, fnd)
    path = tmp_path / "store.duckdb"
    with ResultStore(path) as rs:
        rs.write_run({"run_id": "first", "inputs": []}, conv, fnd, agents, msgs)
        before = rs.counts()

    class Failing:  # parts of transcripts whose reading fails half way through
        def frames(self):
            yield msgs.iloc[:50]
            raise OSError("disk read failed")

        def __len__(self):
            return len(msgs)

    changed = conv.assign(conversation_id=conv["conversation_id"] + "-new")
    with ResultStore(path) as rs:
        with pytest.raises(OSError):
            rs.write_run({"run_id": "second", "inputs": []}, changed, fnd.iloc[0:0], agents, Failing())
        assert rs.counts() == before
        # a process killed mid-write leaves rows of a run that never got its runs row: not read, then removed
        # when the store is next opened for writing
        rs.con.execute("INSERT INTO conversations_rows (run_id, conversation_id, agent_id, score, passed, critical) "
                       "VALUES ('killed', 'ghost', 'shop_x', 10, false, true)")
        assert rs.con.execute("SELECT count(*) FROM conversations WHERE run_id = 'killed'").fetchone()[0] == 0
        assert "ghost" not in set(rs.load().conversations["conversation_id"])
    with ResultStore(path) as rs:
        rs.write_run({"run_id": "third", "inputs": []}, conv.head(3), fnd.iloc[0:0], agents, msgs.iloc[0:0])
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM conversations_rows WHERE run_id = 'killed'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM conversations").fetchone()[0] == len(conv)
    finally:
        con.close()


def test_parts_written_by_workers_read_back_as_the_parts_the_main_process_writes(reference, tmp_path):
    """Workers write each batch's transcripts and findings themselves (`write_parts`, then
    `FrameSpool.adopt` in batch order); the spools must read back exactly what `add` gives,
    including a batch without findings and the findings' ledger index."""
    import dataclasses

    from csqa.engines.local import write_parts
    from csqa.results.spool import FrameSpool, MessageSpool, with_finding_index
    from csqa.results.tables import FINDING_COLUMNS

    ids = list(reference.conversations["conversation_id"])
    clean = set(ids) - set(reference.findings["conversation_id"])
    assert clean, "the sample needs a conversation without findings"
    groups = [ids[: len(ids) // 2], [next(iter(clean))], ids[len(ids) // 2:]]

    def batch(group):
        return dataclasses.replace(
            reference,
            conversations=reference.conversations[reference.conversations["conversation_id"].isin(group)],
            findings=reference.findings[reference.findings["conversation_id"].isin(group)].reset_index(drop=True),
            messages=reference.messages[reference.messages["conversation_id"].isin(group)].reset_index(drop=True))

    cols = FINDING_COLUMNS + ["hl_start", "hl_end", "finding_index"]
    with MessageSpool(tmp_path) as m_add, FrameSpool("f", cols, tmp_path) as f_add, \
            MessageSpool(tmp_path) as m_adopt, FrameSpool("f", cols, tmp_path) as f_adopt:
        for i, group in enumerate(groups):
            plain = batch(group)
            m_add.add(plain.messages)
            f_add.add(with_finding_index(plain.findings))
            out = write_parts(batch(group), m_adopt.part_path(i), f_adopt.part_path(i))
            assert out.messages.empty and out.findings.empty
            assert list(out.findings.columns) == list(plain.findings.columns)
            m_adopt.adopt(out.written["messages"])
            f_adopt.adopt(out.written["findings"])
        assert len(f_adopt.parts) == 2 and f_adopt.rows == len(reference.findings) == f_add.rows
        for a, b in ((m_add, m_adopt), (f_add, f_adopt)):
            pd.testing.assert_frame_equal(pd.concat(list(a.frames()), ignore_index=True),
                                          pd.concat(list(b.frames()), ignore_index=True))
            pd.testing.assert_frame_equal(a.empty_frame(), b.empty_frame())
        ledger = pd.concat(list(f_adopt.frames()), ignore_index=True)
        assert (ledger.groupby("conversation_id", sort=False)["finding_index"]
                .apply(lambda s: list(s) == list(range(len(s))))).all()


def test_spark_from_a_virtualenv_that_is_not_on_path(tmp_path, special_export):
    """`--engine spark` run by a virtualenv's interpreter while PATH has no usable python3 (a
    stand-in that fails stands first on PATH): the workers use the driver's interpreter."""
    import os
    import subprocess
    import sys

    _spark_or_skip()
    venv = tmp_path / "venv"
    # (--system-site-packages: this machine's PySpark and csqa's dependencies, no download)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    decoy = tmp_path / "decoy-bin"
    decoy.mkdir()
    for name in ("python", "python3"):
        (decoy / name).write_text("#!/bin/sh\necho 'not the python you want' >&2\nexit 3\n", encoding="utf-8")
        (decoy / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env["PATH"] = os.pathsep.join([str(decoy), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    env["PYTHONPATH"] = str(REPO_ROOT)
    java = subprocess.run(["sh", "-c", "command -v java"], env=env, capture_output=True, text=True).stdout.strip()
    if not java and not env.get("JAVA_HOME"):
        pytest.skip("no java on the plain PATH")
    out = tmp_path / "out"
    run = subprocess.run([str(python), "-c", "from csqa.cli import main; main()", "score", str(special_export),
                          "-o", str(out), "--engine", "spark", "--no-model", "-q"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "conversations.csv").exists()
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["engine"] == "spark"
