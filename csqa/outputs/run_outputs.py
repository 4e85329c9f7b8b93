"""The output stage of `csqa score`: a run's result tables → OUTDIR (CSVs, report.html, report.xlsx,
run.json) and the results store, written at once by this process and the output jobs (`csqa.outputs.jobs`)."""
from __future__ import annotations

import time
from concurrent.futures import wait
from datetime import datetime
from pathlib import Path

import pandas as pd

from csqa.core.errors import CsqaError
from csqa.outputs.files import write_outputs
from csqa.outputs.jobs import (OutputPool, ReportJob, StoreJob, XlsxJob, abort_handover, give_go, run_report_job,
                               run_store_job, run_xlsx_job, store_ready)
from csqa.outputs.report.options import ReportOptions
from csqa.outputs.store import new_run_id
from csqa.runtime.measure import Timer
from csqa.results.spool import FrameSpool, MessageSpool
from csqa.results.tables import agents_table
from csqa.results.transcripts import prepare_transcripts
from csqa.runtime import testhook
from csqa.runtime.workspace import OutputDir
from csqa.settings import RulebookSettings

# what the report's figures aggregate; the rest of a finding (evidence, explanation…) is read per conversation shown
REPORT_FINDING_COLUMNS = ["conversation_id", "agent_id", "rule_id", "rule_name", "check", "severity", "points",
                          "message_index"]
REPORT_CATEGORICAL = ("agent_id", "rule_id", "rule_name", "check", "severity")



def write_run(outdir: Path | OutputDir, manifest: dict, conversations: pd.DataFrame, findings, messages,
              rejects: pd.DataFrame, mask: bool = True, store: Path | str | None = None, timer: Timer | None = None,
              t0: float | None = None, started: datetime | None = None, pool: OutputPool | None = None,
              rulebook: RulebookSettings | None = None) -> dict:
    """The output stage of `csqa score`, a function of the result tables whatever engine scored them.

    conversations / findings: `csqa.results.tables.conversations_table` / `findings_table`
    (findings in ledger order). messages: the transcripts (`csqa.results.transcripts.messages_table`).
    findings and messages come as DataFrames, or as spools of Parquet parts on disk
    (`csqa.results.spool`: the local engine's, prepared already — masked transcripts, findings
    with hl_start/hl_end); DataFrames with ORIGINAL text are passed through `prepare_transcripts`
    first. manifest: run.json so far (inputs, rows_*, rulebook, model, options…); counts, mask
    flag, run_id and store are added here. rulebook: the settings of the rulebook that scored the run
    (pass mark, time limits, min_n); default: read back from the manifest's rulebook entry.

    Four jobs run at once: this process writes the CSVs while three processes of a fork server
    (`csqa.outputs.jobs`, `pool`) build report.html (and report.xlsx's five small sheets), write
    report.xlsx (its two big sheets from the spools, then the small ones handed over by the
    report job) and write the results store (OUTDIR/results.duckdb, or `store` kept across
    runs). The xlsx job, the longest, is submitted first, as soon as the conversations are on
    disk. run.json's timings_s has each job's own seconds and CPU seconds (report, xlsx, store;
    "xlsx (waiting)": how long the xlsx job waited for the small sheets) and peak_rss_mb each
    process's peak.

    All of it is written into a stage folder beside OUTDIR (`outdir`: a path, or the run's
    `csqa.runtime.workspace.OutputDir`), run.json last; then the store job records the run (its rows
    were in, invisible, before), and then the stage replaces OUTDIR in one rename. A failure or a
    kill anywhere before leaves OUTDIR and the store as they were.
    """
    own_target = not isinstance(outdir, OutputDir)
    target = OutputDir(outdir) if own_target else outdir
    try:
        if rulebook is None:
            rulebook = RulebookSettings.of_manifest_entry(manifest.get("rulebook")) or RulebookSettings()
        return _write_run(target, manifest, conversations, findings, messages, rejects, mask, store, timer, t0,
                          started, pool, rulebook)
    except CsqaError as exc:  # a file of the stage is named as the file in OUTDIR it was going to be
        if exc.args and str(target.stage) in str(exc.args[0]):
            exc.args = (str(exc.args[0]).replace(str(target.stage), str(target.requested)), *exc.args[1:])
        raise
    finally:
        if own_target:
            target.discard()  # (nothing left to remove once published)


def _write_run(target: OutputDir, manifest: dict, conversations: pd.DataFrame, findings, messages,
               rejects: pd.DataFrame, mask: bool, store, timer: Timer | None, t0: float | None,
               started: datetime | None, pool: OutputPool | None, rulebook: RulebookSettings) -> dict:
    timer = timer or Timer()
    t0 = time.perf_counter() if t0 is None else t0
    started = started or datetime.now().astimezone()
    t1 = time.perf_counter()
    outdir = target.requested
    own_pool = pool is None
    pool = OutputPool().start() if own_pool else pool
    work = target.work  # the jobs' inputs and scratch files, on OUTDIR's disk; removed before the swap
    handover = work / "small_sheets.pickle"  # report job → xlsx job
    go = work / "store.go"  # main process → store job: record the run
    finished = False
    futures = []
    try:
        findings, messages = _as_spools(findings, messages, mask, work)
        conversation_spool = FrameSpool("conversations", list(conversations.columns), workdir=work)
        conversation_spool.add(conversations)
        report_options = ReportOptions.for_rulebook(rulebook, mask=mask, already_masked=mask)
        xlsx = pool.submit(run_xlsx_job, XlsxJob(conversation_spool, findings, report_options,
                                                 target.stage / "report.xlsx", handover, tmpdir=work))
        futures.append(xlsx)
        # per-agent figures need only three low-cardinality columns of every finding
        agents = agents_table(conversations, findings.read(["agent_id", "check", "severity"],
                                                           categorical=("agent_id", "check", "severity")), rulebook.min_n)
        store_path = Path(store) if store else outdir / "results.duckdb"
        manifest = _manifest_with_counts(manifest, conversations, agents, findings, mask, store_path)
        report = pool.submit(run_report_job, ReportJob(
            conversation_spool, findings, messages, agents, _report_summary(manifest, started, mask), report_options,
            target.stage / "report.html", handover, REPORT_FINDING_COLUMNS, REPORT_CATEGORICAL, tmpdir=work))
        futures.append(report)
        # a fresh store of this run is built in the stage with the other files; --store PATH (possibly
        # OUTDIR/results.duckdb itself) gets this run added, recorded once the outputs are complete
        store_target = store_path if store else target.stage / "results.duckdb"
        stored = pool.submit(run_store_job, StoreJob(store_target, manifest, conversation_spool, findings, agents,
                                                     messages, go=go, tmpdir=work))
        futures.append(stored)
        figures = _JobFigures(timer, go)

        def finished_manifest() -> dict:  # run.json is written last, after every other file
            figures.take("report", report)
            figures.take("xlsx", xlsx)
            figures.take("store", stored)  # its rows are in; the run is recorded below, once run.json is written too
            timer.add("outputs", time.perf_counter() - t1)
            manifest["timings_s"] = {k: round(v, 3) for k, v in timer.stages.items()}
            manifest["timings_s"]["total"] = round(time.perf_counter() - t0, 3)
            manifest["peak_rss_mb"] = dict(timer.peak_rss)
            return manifest

        tables = {"conversations": conversations, "findings": findings, "agents": agents, "rejects": rejects}
        write_outputs(target, tables, finished_manifest, None, None)
        testhook.point("outputs:before-go", target.stage)
        give_go(go)  # every output is complete in the stage: the store records the run
        OutputPool.result(stored, "store")
        checks = figures.taken["report"]["statistics"]
        target.publish()
        finished = True
    except BaseException as exc:
        if not isinstance(exc, Exception):  # interrupted: the jobs end now
            pool.terminate()
        raise
    finally:
        if not finished:  # the xlsx job must not wait for small sheets, nor the store job for a go, that never come
            abort_handover(handover)
            abort_handover(go)
        # (after a failure too: the jobs finish before their folder goes)
        wait(futures)
        if own_pool:
            pool.close()
    return {"manifest": manifest, "text": _summary_text(manifest, conversations, outdir, store_path if store else None),
            "statistics": checks.to_string(index=False)}


class _JobFigures:
    """Each output job's result, taken once: its own seconds, CPU seconds and peak memory go to the timer."""

    def __init__(self, timer: Timer, go: Path):
        self.timer, self.go, self.taken = timer, go, {}

    def take(self, name: str, future) -> dict:
        if name not in self.taken:
            timer = self.timer
            out = self.taken[name] = (store_ready(self.go, future) if name == "store" else OutputPool.result(future, name))
            timer.add(name, out["seconds"], rss=False)
            timer.add(f"{name} (cpu, own process)", out["cpu_s"], rss=False)
            if "waited" in out:  # the xlsx job, for the report job's small sheets
                timer.add(f"{name} (waiting)", out["waited"], rss=False)
            timer.peak_rss[f"{name} (own process)"] = out["peak_rss_mb"]
        return self.taken[name]


def _manifest_with_counts(manifest: dict, conversations: pd.DataFrame, agents: pd.DataFrame, findings, mask: bool,
                          store_path: Path) -> dict:
    """run.json with the run's counts, figures, mask flag, store and run id (options, then timings, last)."""
    manifest = dict(manifest)
    manifest.setdefault("run_id", new_run_id())
    manifest.update({
        "conversations": int(len(conversations)),
        "agents": int(len(agents)),
        "findings": int(len(findings)),
        "mean_score": round(float(conversations["score"].mean()), 2) if len(conversations) else None,
        "pass_rate": round(float(conversations["passed"].mean()), 4) if len(conversations) else None,
        "masked": bool(mask),
        "store": str(store_path),
    })
    # keep run.json's familiar key order: options and timings last
    manifest = {k: v for k, v in manifest.items() if k != "options"} | {"options": manifest.get("options", {})}
    if manifest.get("rows_read") is not None and manifest["rows_read"] != manifest["rows_scored"] + manifest["rows_rejected"]:
        raise CsqaError("内部错误: 读取行数 ≠ 打分行数 + 拒收行数，请报告此问题")
    return manifest


def _report_summary(manifest: dict, started: datetime, mask: bool) -> dict:
    """What report.html says about the run (the rulebook's pass mark and limits come with the ReportOptions)."""
    rulebook = manifest.get("rulebook") or {}
    return {
        "generated_at": started.strftime("%Y-%m-%d %H:%M"),
        "rulebook": f"{rulebook.get('id')} ({str(rulebook.get('sha256') or '')[:8]})",
        "model": manifest["model"]["id"] if manifest.get("model") else None,
        "masked": mask,
        "rows_rejected": manifest.get("rows_rejected"),
        "source": f"本次运行 {manifest['run_id']}",
    }


def _summary_text(manifest: dict, conversations: pd.DataFrame, outdir: Path, kept_store: Path | None) -> str:
    """The Chinese summary `csqa score` prints."""
    pass_rate = f"{manifest['pass_rate']:.0%}" if manifest["pass_rate"] is not None else "—"
    critical = int(conversations["critical"].sum()) if len(conversations) else 0
    return (
        f"完成: {manifest['conversations']} 个会话, {manifest['agents']} 名客服, 平均分 {manifest['mean_score']}, "
        f"合格率 {pass_rate}, 红线会话 {critical}; "
        f"读取 {manifest.get('rows_read')} 行, 打分 {manifest.get('rows_scored')} 行, 拒收 {manifest.get('rows_rejected')} 行"
        + (" (见 rejects.csv)" if manifest.get("rows_rejected") else "")
        + f"\n输出: {outdir}"
        + (f"\n结果库: {kept_store} (run {manifest['run_id']})" if kept_store else "")
    )


def _as_spools(findings, messages, mask: bool, workdir: Path):
    """Findings and transcripts as spools on disk (what the report, xlsx and store processes read)."""
    if isinstance(findings, pd.DataFrame) != isinstance(messages, pd.DataFrame):
        raise TypeError("findings and messages: both DataFrames or both spools")
    if not isinstance(findings, pd.DataFrame):
        return findings, messages
    if "hl_start" not in findings.columns:  # engines prepare transcripts in their workers already
        messages, findings = prepare_transcripts(messages, findings, mask)
    finding_spool = FrameSpool("findings", list(findings.columns), workdir=workdir)
    finding_spool.add(findings)
    message_spool = MessageSpool(workdir=workdir)
    message_spool.add(messages)
    return finding_spool, message_spool
