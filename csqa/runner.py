"""`csqa score`: the I/O edges around the pure pipeline (ingest in, outputs out)."""
from __future__ import annotations

import sys
import time
from concurrent.futures import wait
from datetime import datetime
from pathlib import Path

import pandas as pd

from csqa import __version__
from csqa.runtime import testhook
from csqa.core.errors import ConfigError, CsqaError
from csqa.engines.base import Scorer
from csqa.ingest import IngestOptions, iter_input_chunks
from csqa.ingest.model import empty_rejects
from csqa.outputs import write_outputs
from csqa.runtime.measure import Timer
from csqa.engines.spool import FrameSpool, MessageSpool, with_finding_index, write_batch_part
from csqa.output_jobs import (OutputPool, ReportJob, StoreJob, XlsxJob, abort_handover, give_go, run_report_job,
                              run_store_job, run_xlsx_job, store_ready)
from csqa.report.builder import ReportOptions
from csqa.report.builder import build as build_report
from csqa.report.tables import agents_table
from csqa.report.transcript import prepare_transcripts
from csqa.store import ResultStore, check_writable, new_run_id
from csqa.runtime.workspace import OutputDir, RunTemp

# what the report's figures aggregate; the rest of a finding (evidence, explanation…) is read per conversation shown
REPORT_FINDING_COLUMNS = ["conversation_id", "agent_id", "rule_id", "rule_name", "check", "severity", "points",
                          "message_index"]
REPORT_CATEGORICAL = ("agent_id", "rule_id", "rule_name", "check", "severity")


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, disable=disable, unit="会话", desc="质检", file=sys.stderr, leave=False)


def run_score(inputs, outdir: Path, encoding=None, column_map=None, role_map=None, rulebook=None, select=(),
              ignore=(), model=None, use_model=True, mask=True, quiet=False, engine="local", store=None,
              workers: int | None = None, segmenter: str = "auto", batch_conversations: int = 2000,
              background=None) -> dict:
    """Ingest (streamed in chunks) → engine (local worker pool or Spark) → the output stage.

    background: a `csqa.ingest.background.BackgroundIngest` started on the same inputs and options
    at the very start of the command (the CLI does, for the local engine): the inputs are then read
    in that child while this process builds the scorer and forks the workers, and staged from its
    Parquet parts. It is closed here (the caller may close it again). Without it, this process
    ingests after the setup, as the Spark engine always does.

    Before anything is scored, OUTDIR (`csqa.runtime.workspace.OutputDir`: it and its parent writable,
    what a killed run left repaired) and the store (writable, not in use) are checked; the new
    outputs replace OUTDIR as a whole at the end. Temporary folders live under one run folder
    (`csqa.runtime.workspace.RunTemp`), removed whatever happens.
    """
    try:
        with RunTemp():
            _outdir_check(outdir, store)
            with OutputDir(outdir) as target:
                return _run_score(inputs, target, encoding, column_map, role_map, rulebook, select, ignore, model,
                                  use_model, mask, quiet, engine, store, workers, segmenter, batch_conversations,
                                  background)
    finally:
        if background is not None:
            background.close()


def _outdir_check(outdir, store) -> None:
    """A store kept inside OUTDIR must be a file directly in it (OUTDIR's sub-folders are refused)."""
    import os

    if not store:
        return
    out, kept = Path(os.path.realpath(outdir)), Path(os.path.realpath(store))
    if out in kept.parents and kept.parent != out:
        raise ConfigError(f"结果库 {store} 在输出目录 {outdir} 的子目录里；csqa 每次整体替换输出目录，请把结果库放在输出目录之外 / "
                          f"the store {store} is in a sub-folder of OUTDIR, which csqa replaces as a whole: keep it outside OUTDIR")


def _run_score(inputs, target: OutputDir, encoding, column_map, role_map, rulebook, select, ignore, model, use_model,
               mask, quiet, engine, store, workers, segmenter, batch_conversations, background) -> dict:
    from csqa.engines import ScorerSetup, concat_outputs

    timer = Timer()
    started = datetime.now().astimezone()
    t0 = time.perf_counter()
    if background is not None and engine != "local":
        background.close()
        background = None
    if background is not None:
        # the run started at the fork; until here this process was importing (the child was reading)
        timer.add("start-up", t0 - background.started)
        t0 = background.started
    t_setup = time.perf_counter()
    setup = ScorerSetup(rulebook=rulebook, select=tuple(select), ignore=tuple(ignore), model=model,
                        use_model=use_model, mask=mask, segmenter=segmenter)
    ingest_options = IngestOptions(encoding=encoding, column_map=column_map or {}, role_map=role_map or {})
    sink = None
    if engine not in ("local", "spark"):
        if background is not None:
            background.close()
        raise ConfigError(f"未知的引擎 {engine!r}；可选 local 或 spark")
    from csqa.report.tables import FINDING_COLUMNS

    # both engines' transcripts and findings go to disk batch by batch (bucket by bucket)
    spool = MessageSpool()
    finding_spool = FrameSpool("findings", FINDING_COLUMNS + ["hl_start", "hl_end", "finding_index"])
    try:
        if engine == "spark":
            from csqa.engines.spark import SparkEngine

            scorer = Scorer(setup)  # validates the rulebook and model on the driver, for run.json
            runner = SparkEngine(setup)
            sink = runner
        else:
            from csqa.engines.local import LocalEngine
            from csqa.engines.staging import MessageStage

            scorer = Scorer(setup)
            runner = LocalEngine(scorer, workers)  # forks now: the workers inherit the prepared scorer
            sink = MessageStage() if background is None else None
    except BaseException:
        spool.close()
        finding_spool.close()
        if background is not None:
            background.close()
        raise
    # the report and store processes start importing now (after the workers forked: no fork from here on)
    pool = OutputPool().start()
    timer.add("setup", time.perf_counter() - t_setup)
    try:
        if store:  # before scoring: the store can be written and no other process has it
            check_writable(store)
        t1 = time.perf_counter()
        rejects, input_infos, rows_scored = [], [], 0
        if background is not None:
            done = background.wait()
            timer.add("waiting for ingest", time.perf_counter() - t1)
            timer.add("ingest", done.seconds, rss=False)  # the child's own time, overlapping the setup
            timer.add("ingest (cpu, own process)", done.cpu_seconds, rss=False)
            timer.peak_rss["ingest (own process)"] = done.peak_rss_mb
            rejects, input_infos, rows_scored = done.rejects, done.inputs, done.rows_scored
            sink = MessageStage.over_parts(done.parts)
        else:
            for messages, rejected, info in iter_input_chunks(inputs, ingest_options):
                if len(messages):
                    sink.add(messages)
                    rows_scored += len(messages)
                if len(rejected):
                    rejects.append(rejected)
                if info is not None:
                    input_infos.append(info)
            timer.add("ingest", time.perf_counter() - t1)
        t2 = time.perf_counter()

        def part_paths(i: int):
            return spool.part_path(i), finding_spool.part_path(i)

        if engine == "spark":
            scored, n_convs = runner.run(), None  # (bucket, output) as Spark finishes them
        else:
            n_convs = sink.conversation_count()
            scored = enumerate(runner.map(sink.batches(batch_conversations), parts=part_paths))
        outputs: list[tuple[int, object]] = []
        with _progress(n_convs, quiet) as bar:
            for index, out in scored:
                # transcripts and findings go to disk, numbered by batch, not into memory; conversations
                # stay (one row each)
                if out.written is None:  # scored in this process, or on a Spark executor
                    out.written = {"messages": write_batch_part(out.messages, spool.part_path(index)),
                                   "findings": write_batch_part(with_finding_index(out.findings),  # ledger order
                                                                finding_spool.part_path(index))}
                    out.messages, out.findings = out.written["messages"].empty, out.written["findings"].empty
                spool.adopt(out.written["messages"])
                finding_spool.adopt(out.written["findings"])
                out.written = None
                outputs.append((index, out))
                bar.update(len(out.conversations))
        spool.order_parts()  # Spark's buckets arrive in any order
        finding_spool.order_parts()
        result = concat_outputs([out for _, out in sorted(outputs, key=lambda pair: pair[0])])
        result.messages, result.findings = spool, finding_spool
        timer.add("score", time.perf_counter() - t2)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # interrupted: the workers and jobs end now
            getattr(runner, "terminate", runner.close)()
            pool.terminate()
        pool.close(cancel=True)
        spool.close()
        finding_spool.close()
        raise
    finally:
        runner.close()
        if engine == "local" and sink is not None:
            sink.close()
        if background is not None:
            background.close()  # the parts are read: removed now, not at exit
    for stage, seconds in result.timings.items():
        timer.add(f"score.{stage} (cpu, all workers)", seconds, rss=False)
    if result.peak_rss_mb:
        timer.peak_rss["score (largest worker)"] = result.peak_rss_mb
    rejects_frame = _masked_rejects(pd.concat(rejects, ignore_index=True) if rejects else empty_rejects(), mask)
    rows_read = rows_scored + len(rejects_frame)
    manifest = {
        "csqa_version": __version__,
        "started_at": started.isoformat(timespec="seconds"),
        "engine": engine,
        "workers": int(getattr(runner, "workers", 1)),
        "segmenter": scorer.segmenter.backend,
        "inputs": input_infos,
        "rows_read": int(rows_read),
        "rows_scored": int(rows_scored),
        "rows_rejected": int(len(rejects_frame)),
        "rulebook": {"id": scorer.loaded.rulebook.id, "path": scorer.loaded.path, "sha256": scorer.loaded.sha256,
                     "select": list(select), "ignore": list(ignore), "rules": [r.code for r in scorer.book.rules],
                     **rulebook_report_settings(scorer.loaded.rulebook)},
        "model": _model_info(scorer.classifier),
        "options": {"encoding": encoding, "column_map": column_map or {}, "role_map": role_map or {}},
    }
    try:
        return write_run(target, manifest, result.conversations, result.findings, result.messages, rejects_frame,
                         mask=mask, store=store, timer=timer, t0=t0, started=started, pool=pool)
    finally:
        pool.close(cancel=True)
        spool.close()
        finding_spool.close()


def write_run(outdir: Path | OutputDir, manifest: dict, conversations: pd.DataFrame, findings, messages,
              rejects: pd.DataFrame, mask: bool = True, store: Path | str | None = None, timer: Timer | None = None,
              t0: float | None = None, started: datetime | None = None, pool: OutputPool | None = None) -> dict:
    """The output stage of `csqa score`, a function of the result tables whatever engine scored them.

    conversations / findings: `csqa.report.tables.conversations_table` / `findings_table`
    (findings in ledger order). messages: the transcripts (`csqa.report.transcript.messages_table`).
    findings and messages come as DataFrames, or as spools of Parquet parts on disk
    (`csqa.engines.spool`: the local engine's, prepared already — masked transcripts, findings
    with hl_start/hl_end); DataFrames with ORIGINAL text are passed through `prepare_transcripts`
    first. manifest: run.json so far (inputs, rows_*, rulebook, model, options…); counts, mask
    flag, run_id and store are added here.

    Four jobs run at once: this process writes the CSVs while three processes of a fork server
    (`csqa.output_jobs`, `pool`) build report.html (and report.xlsx's five small sheets), write
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
        return _write_run(target, manifest, conversations, findings, messages, rejects, mask, store, timer, t0,
                          started, pool)
    except CsqaError as exc:  # a file of the stage is named as the file in OUTDIR it was going to be
        if exc.args and str(target.stage) in str(exc.args[0]):
            exc.args = (str(exc.args[0]).replace(str(target.stage), str(target.requested)), *exc.args[1:])
        raise
    finally:
        if own_target:
            target.discard()  # (nothing left to remove once published)


def _write_run(target: OutputDir, manifest: dict, conversations: pd.DataFrame, findings, messages,
               rejects: pd.DataFrame, mask: bool, store, timer: Timer | None, t0: float | None,
               started: datetime | None, pool: OutputPool | None) -> dict:
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
        report_options = ReportOptions(mask=mask, already_masked=mask)
        xlsx = pool.submit(run_xlsx_job, XlsxJob(conversation_spool, findings, report_options,
                                                 target.stage / "report.xlsx", handover, tmpdir=work))
        futures.append(xlsx)
        # per-agent figures need only three low-cardinality columns of every finding
        agents = agents_table(conversations, findings.read(["agent_id", "check", "severity"],
                                                           categorical=("agent_id", "check", "severity")))
        default_store = outdir / "results.duckdb"
        store_path = Path(store) if store else default_store
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
        rulebook = manifest.get("rulebook") or {}
        summary = {
            **report_settings_of(rulebook),
            "generated_at": started.strftime("%Y-%m-%d %H:%M"),
            "rulebook": f"{rulebook.get('id')} ({str(rulebook.get('sha256') or '')[:8]})",
            "model": manifest["model"]["id"] if manifest.get("model") else None,
            "masked": mask,
            "rows_rejected": manifest.get("rows_rejected"),
            "source": f"本次运行 {manifest['run_id']}",
        }
        report = pool.submit(run_report_job, ReportJob(
            conversation_spool, findings, messages, agents, summary, report_options,
            target.stage / "report.html", handover, REPORT_FINDING_COLUMNS, REPORT_CATEGORICAL, tmpdir=work))
        futures.append(report)
        # a fresh store of this run is built in the stage with the other files; --store PATH (possibly
        # OUTDIR/results.duckdb itself) gets this run added, recorded once the outputs are complete
        fresh_store = not store
        store_target = target.stage / "results.duckdb" if fresh_store else store_path
        stored = pool.submit(run_store_job, StoreJob(store_target, manifest, conversation_spool, findings, agents,
                                                     messages, go=go, tmpdir=work))
        futures.append(stored)
        figures = {}

        def job(name: str, future) -> dict:
            if name not in figures:
                out = figures[name] = (store_ready(go, future) if name == "store" else OutputPool.result(future, name))
                timer.add(name, out["seconds"], rss=False)
                timer.add(f"{name} (cpu, own process)", out["cpu_s"], rss=False)
                if "waited" in out:  # the xlsx job, for the report job's small sheets
                    timer.add(f"{name} (waiting)", out["waited"], rss=False)
                timer.peak_rss[f"{name} (own process)"] = out["peak_rss_mb"]
            return figures[name]

        def finished_manifest() -> dict:  # run.json is written last, after every other file
            job("report", report)
            job("xlsx", xlsx)
            job("store", stored)  # its rows are in; the run is recorded below, once run.json is written too
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
        checks = figures["report"]["statistics"]
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
    pass_rate = f"{manifest['pass_rate']:.0%}" if manifest["pass_rate"] is not None else "—"
    critical = int(conversations["critical"].sum()) if len(conversations) else 0
    text = (
        f"完成: {manifest['conversations']} 个会话, {manifest['agents']} 名客服, 平均分 {manifest['mean_score']}, "
        f"合格率 {pass_rate}, 红线会话 {critical}; "
        f"读取 {manifest.get('rows_read')} 行, 打分 {manifest.get('rows_scored')} 行, 拒收 {manifest.get('rows_rejected')} 行"
        + (" (见 rejects.csv)" if manifest.get("rows_rejected") else "")
        + f"\n输出: {outdir}"
        + (f"\n结果库: {store_path} (run {manifest['run_id']})" if store else "")
    )
    return {"manifest": manifest, "text": text, "statistics": checks.to_string(index=False)}


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



def _write_store(path: Path, manifest: dict, conversations, findings, agents, messages) -> None:
    with ResultStore(path) as rs:
        rs.write_run(manifest, conversations, findings, agents, messages)


def run_report(store: Path | str, outdir: Path, date_from=None, date_to=None, agent=None, check=None,
               mask: bool = True) -> dict:
    """`csqa report`: rebuild report.html and report.xlsx from a results store across any number of runs,
    with conversations.csv, findings.csv and agents.csv of the selection beside them (the columns and
    formatting `csqa score` writes; conversations by start time, findings in ledger order). OUTDIR is
    replaced as a whole, as `csqa score` replaces it."""
    started = datetime.now().astimezone()
    with OutputDir(outdir) as target:
        with ResultStore(store, read_only=True) as rs:
            sel = rs.load(date_from=date_from, date_to=date_to, agent=agent, check=check)
        filters = "，".join(x for x in (
            f"从 {date_from}" if date_from else "", f"到 {date_to}" if date_to else "",
            f"客服 {agent}" if agent else "", f"检查项 {check}" if check else "") if x)
        if sel.conversations.empty:
            raise ConfigError(f"结果库 {store} 中没有符合条件的会话 ({filters or '无筛选'})；用 `csqa report --store {store}` 不加筛选查看全部")
        runs = sel.runs
        rulebooks = sorted({f"{r.rulebook_id} ({str(r.rulebook_sha256)[:8]})" for r in runs.itertuples()})
        models = sorted({str(r.model_id) for r in runs.itertuples() if r.model_id})
        summary = {
            **_latest_report_settings(runs),
            "generated_at": started.strftime("%Y-%m-%d %H:%M"),
            "rulebook": "、".join(rulebooks),
            "model": "、".join(models) or None,
            "masked": mask,
            "source": f"结果库 {Path(store).name}: {len(runs)} 批次",
            "filters": filters,
        }
        if not sel.masked and mask:
            summary["source"] += " (库中含未打码数据，报告已重新打码)"
        html, sheets = build_report(sel.conversations, sel.findings, None, sel.messages, summary,
                                    ReportOptions(mask=mask, already_masked=bool(sel.masked)))
        findings = sel.findings
        if mask and not sel.masked:  # the CSVs are masked as the reports are
            _, findings = prepare_transcripts(sel.messages, findings, True)
        tables = {"conversations": sel.conversations, "findings": findings,
                  "agents": agents_table(sel.conversations, findings)}
        write_outputs(target, tables, None, html, sheets)
        target.publish()
    text = (f"报告: {len(sel.conversations)} 个会话, {sel.conversations['agent_id'].nunique()} 名客服, "
            f"{len(runs)} 个批次" + (f" ({filters})" if filters else "") + f"\n输出: {outdir}")
    return {"conversations": len(sel.conversations), "runs": len(runs), "text": text}


def _masked_rejects(rejects: pd.DataFrame, mask: bool) -> pd.DataFrame:
    """rejects.csv as written: the raw row and the reason (which may quote a cell) masked unless --no-mask."""
    if not mask or rejects.empty:
        return rejects
    from csqa.report.transcript import _Masker

    masker = _Masker()
    out = rejects.copy()
    for col in ("raw", "reason"):
        if col in out.columns:
            out[col] = pd.Series(masker.values(out[col].tolist()), index=out.index, dtype=out[col].dtype)
    return out


def _model_info(classifier) -> dict | None:
    if classifier is None:
        return None
    return {"id": getattr(classifier, "model_id", None), "sha256": getattr(classifier, "sha256", None),
            "threshold": getattr(classifier, "threshold", None)}


def rulebook_report_settings(rulebook) -> dict:
    """What a report needs of the rulebook that scored a run (kept in run.json and the store's runs): the pass
    mark, the time limits of its timing rules and its scorecard dimensions."""
    firsts = [r.timing.first_response_s for r in rulebook.rules if r.enabled and r.timing and r.timing.first_response_s]
    replies = [r.timing.response_s for r in rulebook.rules if r.enabled and r.timing and r.timing.response_s]
    return {"pass_mark": rulebook.settings.pass_mark,
            "first_response_limit_s": min(firsts) if firsts else None,
            "reply_limit_s": min(replies) if replies else None,
            "dimensions": [{"id": d.id, "name": d.name, "weight": d.weight} for d in rulebook.dimensions]}


def report_settings_of(rulebook_entry: dict) -> dict:
    """The report settings of a manifest's rulebook entry (older runs have none: the report's defaults)."""
    return {k: rulebook_entry[k] for k in ("pass_mark", "first_response_limit_s", "reply_limit_s", "dimensions")
            if rulebook_entry.get(k) is not None}


def _latest_report_settings(runs) -> dict:
    """The report settings of the latest run of a store selection (its rulebook is the one in force)."""
    import json

    for manifest in reversed(list(runs["manifest"])) if "manifest" in runs else ():
        try:
            settings = report_settings_of(json.loads(manifest).get("rulebook") or {})
        except (TypeError, ValueError):
            continue
        if settings:
            return settings
    return {}
