"""The output stage's report, xlsx and store jobs run in processes of their own: their errors reach the user
as one clear line, nothing half-written is left behind, and the files are the same as those the
in-process functions write."""
from __future__ import annotations

import json

import duckdb
import pandas as pd

from csqa.outputs.jobs import OutputPool, StoreJob, run_store_job
from csqa.core.paths import corpora_dir

SAMPLE = corpora_dir() / "samples" / "chat_export.csv"


def test_a_store_that_cannot_be_opened_is_one_clear_error_and_outdir_stays_clean(run_cli, tmp_path):
    not_a_store = tmp_path / "notes.duckdb"
    not_a_store.write_text("这不是结果库 / not a DuckDB file\n" * 50, encoding="utf-8")
    out = tmp_path / "out"
    res = run_cli("score", SAMPLE, "-q", "--store", not_a_store, outdir=out)
    assert res.exit_code == 2, res.stderr
    assert "无法打开结果库" in res.stderr and str(not_a_store) in res.stderr
    assert "Traceback" not in res.stderr
    # no OUTDIR appeared (there was none before), and no stage or work folder is left beside it
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if ".csqa-" in p.name]


def test_a_job_that_fails_unexpectedly_raises_with_the_child_traceback(tmp_path):
    job = StoreJob(tmp_path / "s.duckdb", {"run_id": "x"}, conversations=None, findings=None,
                   agents=pd.DataFrame(), messages=None)
    with OutputPool() as pool:
        future = pool.submit(run_store_job, job)
        try:
            OutputPool.result(future, "store")
        except RuntimeError as exc:
            assert "store failed in its process" in str(exc) and "Traceback" in str(exc)
        else:  # pragma: no cover - the job must fail: it has no conversations to read
            raise AssertionError("the job did not fail")


def test_the_run_records_each_job_and_the_store_holds_the_run(run_cli, tmp_path):
    out = tmp_path / "out"
    res = run_cli("score", SAMPLE, "-q", outdir=out)
    assert res.exit_code == 0, res.stderr
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    conversations = pd.read_csv(out / "conversations.csv")
    with duckdb.connect(str(out / "results.duckdb"), read_only=True) as con:
        n_store = con.execute("SELECT count(*) FROM conversations").fetchone()[0]
        n_findings = con.execute("SELECT count(*) FROM findings").fetchone()[0]
        run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
    assert n_store == len(conversations) == manifest["conversations"]
    assert n_findings == manifest["findings"] and run_id == manifest["run_id"]
    assert (out / "report.html").stat().st_size > 10_000 and (out / "report.xlsx").stat().st_size > 5_000
    for job in ("report", "xlsx", "store"):
        assert manifest["peak_rss_mb"][f"{job} (own process)"] > 0
        assert 0 < manifest["timings_s"][job] <= manifest["timings_s"]["outputs"] + 0.01
