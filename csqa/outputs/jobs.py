"""The output stage's three heavy jobs, each in a process of its own: the report, report.xlsx and the results store.

Why separate processes: after scoring, the main process holds the run's conversations and
writes the CSVs; the report (aggregates over every finding, the drill-down), report.xlsx
and the DuckDB store write each need a few hundred MB more at 200k conversations. Run in
the main process, those add up on top of everything it already holds — its peak memory then
grows with the input. In processes that do not descend from the main one (a child forked
from it starts with all the parent's pages resident) each job reads only what it needs from the run's spools on
disk, so no process's peak grows with the run, and the four jobs (CSVs, report, xlsx, store)
keep both cores busy.

Why report.xlsx is a job of its own: writing the workbook (most of it the two big sheets,
违规明细 and 会话评分, row-capped by `ReportOptions.xlsx_max_*`) took as long as building
the report, and one after the other they were the output stage's critical path while a
core idled. The XLSX job adds the sheets in workbook order, fills the big two from the
spools itself (`csqa.outputs.report.sheets.detail_sheets`), then waits for the five small sheets
the REPORT job computes along with report.html (`build(..., with_detail_sheets=False)`):
the report job hands them over as a pickle in the run's work folder, written atomically
(`hand_over`). If the report job fails, it leaves an abort mark there instead, and so does
the main process when anything else fails (`abort_handover`), so the xlsx job never waits
for sheets that will not come; if a process dies outright, the pool stops the others.

The processes are forked from a small fork server started right after the scoring workers
fork (`OutputPool.start`): it imports pandas, DuckDB, Jinja2 and xlsxwriter once, while the
main process waits for the ingest child, so the jobs start at once when scoring ends — and
start small (the server holds no run data).

A job never raises across the process boundary: it returns its result or the error's
message, and `OutputPool.result` raises `CsqaError` (a user-facing message) or
`RuntimeError` (a bug, with the child's traceback) in the main process. A full disk or a
permission problem is a `StorageError` naming the file.

One process tree: the fork server and the job processes die with the main process
(`csqa.runtime.lifeline`: the fork server arms it when it imports `csqa.runtime.forkserver_guard`, the job
processes in their initializer), and `OutputPool.terminate` ends the jobs at once when the run
is interrupted. The store job records the run only when the main process says so: it inserts
the rows (invisible until the run is recorded, see `csqa.outputs.store`), prepares the transaction that
records the run, signals `ready` (with its figures, for run.json) and waits for the go-ahead,
which comes once every other output is complete in the stage folder (`go`); on an abort mark it
drops its rows instead. Temporary files of a job go to the job's `tmpdir` (in the stage folder),
not to the system's temp directory where a kill would leave them.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import sys
import tempfile
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from csqa.runtime import lifeline
from csqa.runtime import testhook
from csqa.core.errors import CsqaError, storage_error


@dataclass
class ReportJob:
    """What the report process needs: file paths and spools (pickled as paths), small frames."""

    conversations: object  # FrameSpool of the conversations table (one part)
    findings: object  # FrameSpool of findings (full rows, with hl_start/hl_end)
    messages: object  # MessageSpool of transcripts as stored (masked unless --no-mask)
    agents: pd.DataFrame
    summary: dict
    options: object  # csqa.outputs.report.options.ReportOptions
    html_path: Path
    handover: Path  # where the small report.xlsx sheets go for the xlsx job (`hand_over`)
    finding_columns: list[str] = field(default_factory=list)  # what the figures aggregate
    categorical: tuple[str, ...] = ()
    tmpdir: Path | None = None  # the job's temporary files (default: the system's)


@dataclass
class XlsxJob:
    """What the xlsx process needs: the spools (pickled as paths) and where the small sheets come from."""

    conversations: object  # FrameSpool of the conversations table (one part)
    findings: object  # FrameSpool of findings (full rows)
    options: object  # csqa.outputs.report.options.ReportOptions
    xlsx_path: Path
    handover: Path  # written by the report job (`hand_over`), or its abort mark
    tmpdir: Path | None = None  # xlsxwriter's temporary files (default: the system's)


@dataclass
class StoreJob:
    path: Path
    manifest: dict
    conversations: object  # FrameSpool
    findings: object  # FrameSpool
    agents: pd.DataFrame
    messages: object  # MessageSpool
    go: Path | None = None  # record the run when this file appears (`go`), not before; None: at once
    tmpdir: Path | None = None  # where DuckDB spills (default: beside the store)


# what the fork server imports once (see the module docstring): besides the libraries, everything a
# job imports on its way (unpickling a job, the spools, `check_statistics`, `peak_rss_mb`: ~0.09 s of
# CPU per job otherwise), and report.html's template, compiled (`csqa.outputs.report.preload`)
_PRELOAD = ["csqa.runtime.forkserver_guard", "duckdb", "jinja2", "pyarrow.parquet", "xlsxwriter", "csqa.outputs.report.builder", "csqa.outputs.report.xlsx",
            "csqa.outputs.store", "csqa.outputs.jobs", "csqa.results.spool", "csqa.results.tables", "csqa.runtime.measure",
            "csqa.outputs.report.preload"]


def _finished(t0: float) -> dict:
    from csqa.runtime.measure import peak_rss_mb

    # (CPU seconds of this process alone: a process forked from the fork server starts at zero)
    return {"seconds": time.perf_counter() - t0, "cpu_s": time.process_time(), "peak_rss_mb": peak_rss_mb()}


def _target(job) -> Path | None:
    """The file a job writes (named in a disk-full or permission error)."""
    for name in ("html_path", "xlsx_path", "path"):
        if getattr(job, name, None) is not None:
            return getattr(job, name)
    return None


def _ignore_unraisable(unraisable) -> None:
    pass


def _guarded(fn, job) -> dict:
    if getattr(job, "tmpdir", None) is not None:
        tempfile.tempdir = str(job.tmpdir)
    hook = sys.unraisablehook
    try:
        return {"ok": fn(job)}
    except BaseException as exc:  # noqa: BLE001
        # what the failed job leaves half-closed (xlsxwriter's zip file on a full disk) fails again when
        # it is finalized, with the exception ignored: not on stderr, the job's error says it already
        sys.unraisablehook = _ignore_unraisable
        if isinstance(exc, CsqaError):
            return {"error": str(exc), "csqa": True}
        err = storage_error(exc, _target(job))
        if err is not None:
            return {"error": str(err), "csqa": True}
        return {"error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", "csqa": False}
    finally:
        if sys.unraisablehook is _ignore_unraisable:
            import gc

            gc.collect()
            sys.unraisablehook = hook


def _one_frame(spool) -> pd.DataFrame:
    frames = list(spool.frames())
    if not frames:
        return spool.empty_frame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _details_reader(spool):
    """Full finding rows of some conversations (all of them for None), read from the spool on demand."""
    def finding_details(ids):
        return spool.select(ids) if ids is not None else _one_frame(spool)
    return finding_details


# ---------------------------------------------------------------------------- the small sheets' handover
def _abort_mark(handover: Path) -> Path:
    return handover.with_name(handover.name + ".abort")


def hand_over(handover: Path, sheets: dict) -> None:
    """Give the xlsx job its small sheets: a pickle that appears complete or not at all."""
    tmp = handover.with_name(handover.name + ".part")
    with open(tmp, "wb") as fh:
        pickle.dump(sheets, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, handover)


def abort_handover(handover: Path) -> None:
    """Tell the xlsx job that the small sheets will not come (their maker failed, or the run did)."""
    try:
        _abort_mark(handover).touch()
    except OSError:  # the work folder is gone already: nothing waits on it
        pass


class HandoverAborted(Exception):
    """The small sheets will not come; whoever aborted reports the reason."""


def take_over(handover: Path, poll_s: float = 0.01) -> dict:
    """The small sheets `hand_over` wrote, waiting for them; HandoverAborted after `abort_handover`."""
    abort = _abort_mark(handover)
    while True:
        if handover.exists():
            with open(handover, "rb") as fh:
                return pickle.load(fh)
        if abort.exists() or not lifeline.parent_alive():
            raise HandoverAborted(str(handover))
        time.sleep(poll_s)


# ---------------------------------------------------------------------------- the store's go-ahead
def _ready_mark(go: Path) -> Path:
    return go.with_name(go.name + ".ready")


def store_ready(go: Path, future, poll_s: float = 0.01) -> dict:
    """Wait until the store job has its rows in and the run prepared (its figures so far), or has
    ended (its error is raised here, as `OutputPool.result` raises it)."""
    ready = _ready_mark(go)
    while True:
        if ready.exists():
            return json.loads(ready.read_text(encoding="utf-8"))
        if future.done():
            out = OutputPool.result(future, "store")
            if ready.exists():
                continue
            return out
        time.sleep(poll_s)


def give_go(go: Path) -> None:
    """Let the store job record the run (every other output is complete)."""
    go.touch()


def _await_go(go: Path, figures: dict, poll_s: float = 0.01) -> bool:
    """Signal `ready` with the figures, then wait: True on the go-ahead, False on an abort mark
    (or when the main process is gone)."""
    ready = _ready_mark(go)
    tmp = ready.with_name(ready.name + ".part")
    tmp.write_text(json.dumps(figures), encoding="utf-8")
    os.replace(tmp, ready)
    abort = _abort_mark(go)
    while True:
        if go.exists():
            return True
        if abort.exists() or not lifeline.parent_alive():
            return False
        time.sleep(poll_s)


# ---------------------------------------------------------------------------- the jobs
def _returning_arrow_pool() -> None:
    """Arrow allocations of this process from jemalloc, which hands freed pages back to the system.

    Why: the report job reads and regroups its columns step after step (read, prepare, aggregates,
    drill-down); Arrow's default pool (mimalloc) keeps what each step freed, so the process's
    peak RSS at 200k conversations was ~540 MB for ~100 MB of frames; with jemalloc it is ~470 MB
    (at the same CPU; a decay of 0 ms saved no more and cost 20 % CPU). Without a jemalloc build,
    the default pool stays."""
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, AttributeError):  # pyarrow built without jemalloc
        pass


def _report(job: ReportJob) -> dict:
    from csqa.outputs.report.builder import build
    from csqa.results.tables import check_statistics

    t0 = time.perf_counter()
    _returning_arrow_pool()
    try:
        conversations = _one_frame(job.conversations)
        figures = job.findings.read(job.finding_columns, categorical=job.categorical)
        finding_details = _details_reader(job.findings)
        handed = []

        def ready(sheets):  # the xlsx job waits for these: handed over as soon as they are known
            hand_over(job.handover, sheets)
            handed.append(True)

        html, sheets = build(conversations, figures, job.agents, job.messages, job.summary, job.options,
                             finding_details=finding_details, with_detail_sheets=False, small_sheets_ready=ready)
        if not handed:  # (build always calls back; should it ever not, the xlsx job must not wait forever)
            hand_over(job.handover, sheets)
        del sheets
    except BaseException:
        abort_handover(job.handover)
        raise
    statistics = check_statistics(conversations, figures)  # `csqa score --statistics`
    del figures, conversations
    testhook.point("write:report.html", job.html_path)
    job.html_path.write_text(html, encoding="utf-8")
    return _finished(t0) | {"statistics": statistics}


def _finding_counts(spool) -> pd.Series:
    """Findings per conversation_id, counted by Arrow part by part (memory: one part's ids as Arrow
    strings and one count per conversation; no Python string per finding)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    counted = []
    for path in spool.parts:
        ids = pq.read_table(path, columns=["conversation_id"]).column(0).cast(pa.large_string())
        counted.append(pa.table({"id": ids}).group_by("id").aggregate([([], "count_all")]))
    if not counted:
        return pd.Series(dtype="int64")
    table = pa.concat_tables(counted)
    if len(counted) > 1:  # (a conversation's findings are in one part, but nothing here relies on it)
        table = table.group_by("id").aggregate([("count_all", "sum")]).rename_columns(["id", "count_all"])
    return pd.Series(table.column("count_all").to_numpy().astype("int64"),
                     index=pd.Index(table.column("id").to_pylist(), dtype=object))


def _text_ids(path) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kind = pq.read_schema(path).field("conversation_id").type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _xlsx_conversations(spool, n_findings: int, finding_counts, options) -> pd.DataFrame:
    """The conversations `detail_sheets` needs to give the sheets it gives for all of them.

    Why: past the sheets' caps only the worst conversations are shown, and holding all of them
    (and the copies `detail_sheets` makes) made the xlsx job's peak memory grow with the run.
    The ids and scores alone decide the order (as `detail_sheets` sorts: score, then id); the
    rows read in full, in run order, are the worst prefix that covers both caps, one row more
    than the conversations' cap (so the sheet is still the capped one)."""
    if len(spool) <= options.xlsx_max_conversations or len(spool.parts) != 1:
        return _one_frame(spool)
    keys = spool.read(["conversation_id", "score"])
    ids = keys["conversation_id"].astype(str)
    worst = pd.DataFrame({"score": pd.to_numeric(keys["score"], errors="coerce").astype(float),
                          "conversation_id": ids}).sort_values(["score", "conversation_id"], kind="stable")
    need = options.xlsx_max_conversations + 1
    if n_findings > options.xlsx_max_findings:
        counts = finding_counts().reindex(worst["conversation_id"]).fillna(0).astype("int64")
        need = max(need, int((counts.cumsum() <= options.xlsx_max_findings).sum()) + 1)
    if need >= len(worst) or ids.duplicated().any() or not _text_ids(spool.parts[0]):
        return _one_frame(spool)  # (nothing to leave out, or ids a filter on text would not find)
    wanted = worst["conversation_id"].iloc[:need].tolist()
    del keys, ids, worst
    return pd.read_parquet(spool.parts[0], filters=[("conversation_id", "in", wanted)])


def _xlsx(job: XlsxJob) -> dict:
    from csqa.outputs.report.sheets import DETAIL_SHEETS, SHEET_ORDER, detail_sheets
    from csqa.outputs.report.xlsx import XlsxReport

    t0 = time.perf_counter()
    spool = job.findings
    counted = []

    def finding_counts():  # (counted once: asked to choose the rows, then by detail_sheets)
        if not counted:
            counted.append(_finding_counts(spool))
        return counted[0]

    conversations = _xlsx_conversations(job.conversations, len(spool), finding_counts, job.options)
    big = detail_sheets(conversations, len(spool), finding_counts, _details_reader(spool), job.options)
    del conversations, counted[:]
    testhook.point("write:report.xlsx", job.xlsx_path)
    with XlsxReport(job.xlsx_path, list(SHEET_ORDER)) as book:
        for name in DETAIL_SHEETS:
            book.fill(name, big.pop(name))
        waited = time.perf_counter()
        try:
            small = take_over(job.handover)
        except HandoverAborted:  # the report job (or the run) failed and reports why
            raise CsqaError("report.xlsx 未生成: 报告任务未完成 / report.xlsx not written: the report job did not finish") from None
        waited = time.perf_counter() - waited
        for name in SHEET_ORDER:
            if name in small:
                book.fill(name, small[name])
    return _finished(t0) | {"waited": waited}


def _store(job: StoreJob) -> dict:
    from csqa.outputs.store import ResultStore

    t0 = time.perf_counter()
    with ResultStore(job.path, temp_directory=job.tmpdir) as rs:
        pending = rs.stage_run(job.manifest, job.conversations, job.findings, job.agents, job.messages)
        testhook.point("store:rows-inserted", job.path)
        figures = _finished(t0)
        if job.go is not None and not _await_go(job.go, figures):
            rs.discard_run(pending)  # the run failed elsewhere: its rows go again
            return figures | {"aborted": True}
        rs.commit_run(pending)
        testhook.point("store:committed", job.path)
    return figures


def run_report_job(job: ReportJob) -> dict:
    return _guarded(_report, job)


def run_store_job(job: StoreJob) -> dict:
    return _guarded(_store, job)


def run_xlsx_job(job: XlsxJob) -> dict:
    return _guarded(_xlsx, job)


class OutputPool:
    """Three processes for the output stage's report, xlsx and store jobs, forked from a fork server."""

    def __init__(self):
        self._pool: ProcessPoolExecutor | None = None
        self._lifeline: lifeline.Lifeline | None = None

    @staticmethod
    def warm() -> None:
        """Start the fork server now: it imports what the jobs need (_PRELOAD) in a process of its own,
        beside this one's set-up (the run's one idle core: the ingest child is done before the set-up),
        instead of beside the scoring workers. (A fresh interpreter, not a fork: safe at any time.)"""
        if "forkserver" in mp.get_all_start_methods():
            mp.get_context("forkserver").set_forkserver_preload(_PRELOAD)
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def start(self) -> "OutputPool":
        if self._pool is None:
            if "forkserver" in mp.get_all_start_methods():
                ctx = mp.get_context("forkserver")
                self.warm()  # (running already when the run warmed it)
            else:  # Windows: fresh interpreters
                ctx = mp.get_context("spawn")
            # the job processes die with this process: through the fork server (their parent) and through
            # a pipe only this process writes to (`csqa.runtime.lifeline`)
            self._lifeline = lifeline.Lifeline()
            self._pool = ProcessPoolExecutor(max_workers=3, mp_context=ctx, initializer=lifeline.job_init,
                                             initargs=(self._lifeline.reader,))
        return self

    def submit(self, fn, job) -> Future:
        self.start()
        return self._pool.submit(fn, job)

    @staticmethod
    def result(future: Future, what: str, timeout: float | None = None) -> dict:
        """The job's figures (seconds, cpu_s, peak_rss_mb), or its error raised here
        (TimeoutError: not finished within `timeout` seconds)."""
        try:
            out = future.result(timeout)
        except TimeoutError:
            raise
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
        if self._lifeline is not None:
            self._lifeline.close()
            self._lifeline = None

    def terminate(self) -> None:
        """End the jobs now (the run was interrupted): their processes are killed, the pool closed."""
        if self._pool is None:
            return
        for process in list((getattr(self._pool, "_processes", None) or {}).values()):
            try:
                process.kill()
            except (OSError, ValueError, AttributeError):
                pass
        self.close(cancel=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close(cancel=exc[0] is not None)
