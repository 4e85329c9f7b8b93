"""report.xlsx written in a process of its own (csqa.outputs.jobs, the XLSX job).

The xlsx job builds the two big sheets from the spools and takes the five small ones from
the report job; the workbook must hold the same sheets, in the same order, with the same
cells as the single-process path (`build` + `write_xlsx`). A failure in either job is one
clear error, the other job never waits forever, and OUTDIR stays clean.
"""
from __future__ import annotations

import dataclasses
import json
import time

import pandas as pd
import pytest

from csqa.results.spool import FrameSpool, MessageSpool
from csqa.core.errors import CsqaError
from csqa.outputs.jobs import (HandoverAborted, OutputPool, ReportJob, XlsxJob, abort_handover, hand_over,
                              run_report_job, run_xlsx_job, take_over)
from csqa.outputs.report.builder import build
from csqa.outputs.report.options import ReportOptions
from csqa.outputs.report.sheets import DETAIL_SHEETS, SHEET_ORDER, detail_sheets
from csqa.outputs.report.xlsx import XlsxReport, write_xlsx
from csqa.outputs.run_outputs import REPORT_CATEGORICAL, REPORT_FINDING_COLUMNS, write_run

from test_report_bulk_equivalence import _workbook_contents, _write_xlsx_reference, _zip_parts

SUMMARY = {"generated_at": "2026-01-01 00:00", "masked": True, "rows_rejected": 0, "source": "测试"}


@pytest.fixture(scope="module")
def stored(sample_run):
    from csqa.outputs.store import ResultStore

    with ResultStore(sample_run.outdir / "results.duckdb", read_only=True) as rs:
        return rs.load()


def _spools(stored, workdir, parts: int = 3):
    """The stored run as the output stage gets it: conversations in one part, findings and
    transcripts in several (split between conversations, as the engine writes them)."""
    conv = FrameSpool("conversations", list(stored.conversations.columns), workdir=workdir)
    conv.add(stored.conversations)
    fnd = FrameSpool("findings", list(stored.findings.columns), workdir=workdir)
    msgs = MessageSpool(workdir=workdir)
    ids = stored.conversations["conversation_id"].astype(str).tolist()
    size = -(-len(ids) // parts)
    for k in range(parts):
        chunk = set(ids[k * size:(k + 1) * size])
        fnd.add(stored.findings[stored.findings["conversation_id"].astype(str).isin(chunk)])
        msgs.add(stored.messages[stored.messages["conversation_id"].astype(str).isin(chunk)])
    return conv, fnd, msgs


def _one_frame(spool) -> pd.DataFrame:
    return pd.concat(list(spool.frames()), ignore_index=True)


@pytest.mark.parametrize("caps", [{}, {"xlsx_max_findings": 40, "xlsx_max_conversations": 25}])
def test_split_workbook_has_the_single_process_sheets_and_cells(stored, tmp_path, caps):
    """The big sheets built apart (from spools of several parts) + the small ones from
    build(with_detail_sheets=False), filled big ones first: the same workbook, cell for cell."""
    options = ReportOptions(mask=True, already_masked=True, **caps)
    conv_spool, fnd_spool, msg_spool = _spools(stored, tmp_path)
    conversations = _one_frame(conv_spool)
    figures = fnd_spool.read(REPORT_FINDING_COLUMNS, categorical=REPORT_CATEGORICAL)

    def details(ids):
        return fnd_spool.select(ids) if ids is not None else _one_frame(fnd_spool)

    # the single-process path
    _, sheets = build(conversations, figures, None, msg_spool, SUMMARY, options, finding_details=details)
    assert tuple(sheets) == SHEET_ORDER
    write_xlsx(tmp_path / "one.xlsx", sheets)

    # the split: small sheets handed over early, big ones from the spools
    handed = {}
    html, small = build(conversations, figures, None, msg_spool, SUMMARY, options, finding_details=details,
                          with_detail_sheets=False, small_sheets_ready=handed.update)
    assert set(small) == set(handed) == set(SHEET_ORDER) - set(DETAIL_SHEETS)
    from csqa.outputs.jobs import _finding_counts

    big = detail_sheets(conversations, len(fnd_spool), lambda: _finding_counts(fnd_spool), details, options)
    with XlsxReport(tmp_path / "split.xlsx", list(SHEET_ORDER)) as book:
        for name in DETAIL_SHEETS:
            book.fill(name, big[name])
        for name in SHEET_ORDER:
            if name in handed:
                book.fill(name, handed[name])

    one, split = _workbook_contents(tmp_path / "one.xlsx"), _workbook_contents(tmp_path / "split.xlsx")
    assert list(split) == list(one) == list(SHEET_ORDER)
    assert split == one
    if caps:  # the caps held: the big sheets are the worst conversations only, and 总览 says so
        assert len(big["会话评分"]) == 25 and 0 < len(big["违规明细"]) <= 40
        notes = [c[1] for c in one["总览"][0] if isinstance(c[1], str) and c[1].endswith("(本表)")]
        assert notes == ["违规明细 (本表)", "会话评分 (本表)"]


def test_bulk_worksheet_bytes_equal_xlsxwriter_on_the_sample_sheets(stored, tmp_path):
    """The fast cell store and row writer give the very bytes xlsxwriter's own methods give."""
    sheets = build(stored.conversations, stored.findings, None, stored.messages, SUMMARY)[1]
    write_xlsx(tmp_path / "fast.xlsx", sheets)
    _write_xlsx_reference(tmp_path / "ref.xlsx", sheets)
    assert _zip_parts(tmp_path / "fast.xlsx") == _zip_parts(tmp_path / "ref.xlsx")


def test_handover_is_taken_or_aborted(tmp_path):
    path = tmp_path / "small.pickle"
    abort_handover(path)
    with pytest.raises(HandoverAborted):
        take_over(path)
    path2 = tmp_path / "small2.pickle"
    frame = pd.DataFrame({"项目": ["会话数"], "value": [3]})
    hand_over(path2, {"总览": frame})
    pd.testing.assert_frame_equal(take_over(path2)["总览"], frame)
    assert not list(tmp_path.glob("*.part"))  # written whole, then renamed


def _jobs(stored, tmp_path):
    conv_spool, fnd_spool, msg_spool = _spools(stored, tmp_path)
    options = ReportOptions(mask=True, already_masked=True)
    handover = tmp_path / "small.pickle"
    xlsx = XlsxJob(conv_spool, fnd_spool, options, tmp_path / "report.xlsx", handover)
    report = ReportJob(conv_spool, fnd_spool, msg_spool, None, SUMMARY, options, tmp_path / "report.html", handover,
                       REPORT_FINDING_COLUMNS, REPORT_CATEGORICAL)
    return xlsx, report


def _result(future, what: str, handover):
    try:
        return OutputPool.result(future, what, timeout=180)
    except TimeoutError:  # unblock the job so the pool can close, then fail
        abort_handover(handover)
        raise AssertionError(f"the {what} job hung")


def test_a_failed_report_job_stops_the_xlsx_job_waiting(stored, tmp_path):
    xlsx, report = _jobs(stored, tmp_path)
    broken = dataclasses.replace(report, agents="not a table")  # the build fails inside the report job
    with OutputPool() as pool:
        x, r = pool.submit(run_xlsx_job, xlsx), pool.submit(run_report_job, broken)
        with pytest.raises(RuntimeError, match="report failed in its process") as exc:
            _result(r, "report", xlsx.handover)
        assert "Traceback" in str(exc.value)
        with pytest.raises(CsqaError, match="report.xlsx 未生成"):
            _result(x, "xlsx", xlsx.handover)
    assert not xlsx.xlsx_path.exists()  # a half-filled workbook is not written


def test_the_jobs_together_write_the_single_process_workbook(stored, tmp_path):
    xlsx, report = _jobs(stored, tmp_path)
    with OutputPool() as pool:
        x, r = pool.submit(run_xlsx_job, xlsx), pool.submit(run_report_job, report)
        got_r, got_x = _result(r, "report", xlsx.handover), _result(x, "xlsx", xlsx.handover)
    assert got_x["peak_rss_mb"] > 50 and got_x["cpu_s"] > 0 and got_r["statistics"] is not None
    assert report.html_path.stat().st_size > 10_000
    conversations = _one_frame(report.conversations)
    figures = report.findings.read(REPORT_FINDING_COLUMNS, categorical=REPORT_CATEGORICAL)
    _, sheets = build(conversations, figures, None, report.messages, SUMMARY, report.options,
                        finding_details=lambda ids: report.findings.select(ids) if ids is not None
                        else _one_frame(report.findings))
    write_xlsx(tmp_path / "one.xlsx", sheets)
    assert _workbook_contents(xlsx.xlsx_path) == _workbook_contents(tmp_path / "one.xlsx")


class _BreakingPool(OutputPool):
    """The real pool and jobs, with one job's input broken (a fault injected, nothing mocked)."""

    def __init__(self, job_fn):
        super().__init__()
        self.job_fn = job_fn

    def submit(self, fn, job):
        if fn is self.job_fn:
            job = dataclasses.replace(job, conversations=None) if fn is run_xlsx_job else \
                dataclasses.replace(job, agents="not a table")
        return super().submit(fn, job)


def _write(stored, outdir, pool):
    manifest = {"rows_read": None, "rulebook": {"id": "default", "sha256": "0" * 64}, "model": None}
    return write_run(outdir, manifest, stored.conversations, stored.findings, stored.messages,
                     pd.DataFrame({"row": pd.Series(dtype="int64")}), pool=pool)


@pytest.mark.parametrize("job_fn, what", [(run_xlsx_job, "xlsx"), (run_report_job, "report")])
def test_a_failing_job_in_the_run_is_one_error_and_outdir_stays_clean(stored, tmp_path, job_fn, what):
    out = tmp_path / "out"
    pool = _BreakingPool(job_fn).start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(RuntimeError, match=f"{what} failed in its process") as exc:
            _write(stored, out, pool)
        assert "Traceback" in str(exc.value) and time.perf_counter() - t0 < 300
    finally:
        pool.close()
    assert not out.exists()  # no output (there was none before), no stage or work folder left behind
    assert not [p.name for p in out.parent.iterdir() if ".csqa-" in p.name]


def test_run_json_has_the_xlsx_job(stored, tmp_path):
    out = tmp_path / "out"
    with OutputPool() as pool:
        res = _write(stored, out, pool)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    timings, rss = manifest["timings_s"], manifest["peak_rss_mb"]
    for job in ("report", "xlsx", "store"):
        assert 0 < timings[job] <= timings["outputs"] + 0.01
        assert timings[f"{job} (cpu, own process)"] > 0
        assert rss[f"{job} (own process)"] > 50
    assert res["manifest"]["conversations"] == len(stored.conversations)
    assert _workbook_contents(out / "report.xlsx").keys() == set(SHEET_ORDER)


@pytest.mark.parametrize("caps", [{"xlsx_max_findings": 40, "xlsx_max_conversations": 25},
                                  {"xlsx_max_findings": 10_000, "xlsx_max_conversations": 12},
                                  {"xlsx_max_findings": 5, "xlsx_max_conversations": 30}])
def test_xlsx_job_reads_only_the_worst_conversations_past_the_caps_and_gives_the_same_sheets(stored, tmp_path, caps):
    """Past the caps the xlsx job reads ids and scores, then only the worst rows in full: the two
    big sheets are those made from every conversation (ties in score broken by id, as there)."""
    from csqa.outputs.jobs import _finding_counts, _xlsx_conversations

    options = ReportOptions(mask=True, already_masked=True, **caps)
    conv_spool, fnd_spool, _ = _spools(stored, tmp_path)

    def details(ids):
        return fnd_spool.select(ids) if ids is not None else _one_frame(fnd_spool)

    def counts():
        return _finding_counts(fnd_spool)

    every = _one_frame(conv_spool)
    chosen = _xlsx_conversations(conv_spool, len(fnd_spool), counts, options)
    assert caps["xlsx_max_conversations"] < len(chosen) < len(every)  # fewer rows read, one past the cap at least
    expected = detail_sheets(every, len(fnd_spool), counts, details, options)
    got = detail_sheets(chosen, len(fnd_spool), counts, details, options)
    assert list(got) == list(expected)
    for name in expected:
        pd.testing.assert_frame_equal(got[name].reset_index(drop=True), expected[name].reset_index(drop=True))
