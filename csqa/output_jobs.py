"""The output stage's two heavy jobs, each in a process of its own: the report and the results store.

Why separate processes: after scoring, the main process holds the run's conversations and
writes the CSVs; the report (aggregates over every finding, the drill-down, report.xlsx)
and the DuckDB store write each need a few hundred MB more at 200k conversations. Run in
the main process, those add up on top of everything it already holds — its peak memory then
grows with the input. In processes that do not descend from the main one (a child forked
from it starts with all the parent's pages resident) each job reads only what it needs from the run's spools on
disk, so no process's peak grows with the run, and the three jobs (CSVs, report, store) use
both cores at once.

The processes are forked from a small fork server started before ingest (`OutputPool.start`):
it imports pandas, DuckDB, Jinja2 and xlsxwriter once, on the core ingest leaves idle, so the
jobs start at once when scoring ends — and start small (the server holds no run data).

A job never raises across the process boundary: it returns its result or the error's
message, and `OutputPool.result` raises `CsqaError` (a user-facing message) or
`RuntimeError` (a bug, with the child's traceback) in the main process.
"""
from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from csqa.errors import CsqaError


@dataclass
class ReportJob:
    """What the report process needs: file paths and spools (pickled as paths), small frames."""

    conversations: object  # FrameSpool of the conversations table (one part)
    findings: object  # FrameSpool of findings (full rows, with hl_start/hl_end)
    messages: object  # MessageSpool of transcripts as stored (masked unless --no-mask)
    agents: pd.DataFrame
    summary: dict
    options: object  # csqa.report.builder.ReportOptions
    html_path: Path
    xlsx_path: Path
    finding_columns: list[str] = field(default_factory=list)  # what the figures aggregate
    categorical: tuple[str, ...] = ()


@dataclass
class StoreJob:
    path: Path
    manifest: dict
    conversations: object  # FrameSpool
    findings: object  # FrameSpool
    agents: pd.DataFrame
    messages: object  # MessageSpool


# what the fork server imports once (see the module docstring)
_PRELOAD = ["duckdb", "jinja2", "pyarrow.parquet", "xlsxwriter", "csqa.report.builder", "csqa.report.xlsx",
            "csqa.store"]


def _finished(t0: float) -> dict:
    from csqa.pipeline import peak_rss_mb

    return {"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def _guarded(job, *args) -> dict:
    try:
        return {"ok": job(*args)}
    except CsqaError as exc:
        return {"error": str(exc), "csqa": True}
    except BaseException as exc:  # noqa: BLE001 - reported by the parent with the traceback
        return {"error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", "csqa": False}


def _one_frame(spool) -> pd.DataFrame:
    frames = list(spool.frames())
    if not frames:
        return spool.empty_frame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _report(job: ReportJob) -> dict:
    from csqa.report.builder import build
    from csqa.report.tables import check_statistics
    from csqa.report.xlsx import write_xlsx

    t0 = time.perf_counter()
    conversations = _one_frame(job.conversations)
    figures = job.findings.read(job.finding_columns, categorical=job.categorical)
    spool = job.findings

    def finding_details(ids):
        return spool.select(ids) if ids is not None else _one_frame(spool)

    statistics = check_statistics(conversations, figures)  # `csqa score --statistics`
    html, sheets = build(conversations, figures, job.agents, job.messages, job.summary, job.options,
                         finding_details=finding_details)
    del figures, conversations
    job.html_path.write_text(html, encoding="utf-8")
    del html
    write_xlsx(job.xlsx_path, sheets)
    return _finished(t0) | {"statistics": statistics}


def _store(job: StoreJob) -> dict:
    from csqa.store import ResultStore

    t0 = time.perf_counter()
    with ResultStore(job.path) as rs:
        rs.write_run(job.manifest, _one_frame(job.conversations), job.findings, job.agents, job.messages)
    return _finished(t0)


def run_report_job(job: ReportJob) -> dict:
    return _guarded(_report, job)


def run_store_job(job: StoreJob) -> dict:
    return _guarded(_store, job)


class OutputPool:
    """Two processes for the output stage's report and store jobs, forked from a fork server."""

    def __init__(self):
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> "OutputPool":
        if self._pool is None:
            if "forkserver" in mp.get_all_start_methods():
                ctx = mp.get_context("forkserver")
                ctx.set_forkserver_preload(_PRELOAD)
                from multiprocessing import forkserver

                forkserver.ensure_running()  # imports _PRELOAD now, while this process ingests
            else:  # Windows: fresh interpreters
                ctx = mp.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=2, mp_context=ctx)
        return self

    def submit(self, fn, job) -> Future:
        self.start()
        return self._pool.submit(fn, job)

    @staticmethod
    def result(future: Future, what: str) -> dict:
        """The job's figures (seconds, peak_rss_mb), or its error raised here."""
        try:
            out = future.result()
        except Exception as exc:  # the process itself died (killed, out of memory)
            raise CsqaError(f"{what} 的进程意外退出 / the {what} process died: {exc}") from exc
        if "error" in out:
            if out["csqa"]:
                raise CsqaError(out["error"])
            raise RuntimeError(f"{what} failed in its process: {out['error']}")
        return out["ok"]

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close(cancel=exc[0] is not None)
