"""`csqa score`: the I/O edges around the pure pipeline (ingest in, outputs out)."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from csqa import __version__
from csqa.errors import ConfigError, CsqaError
from csqa.engines.base import Scorer
from csqa.ingest import IngestOptions, iter_input_chunks
from csqa.ingest.model import empty_rejects
from csqa.outputs import write_outputs
from csqa.pipeline import Timer
from csqa.report.builder import ReportOptions
from csqa.report.builder import build as build_report
from csqa.report.tables import agents_table, check_statistics
from csqa.report.xlsx import XlsxJob
from csqa.report.transcript import prepare_transcripts
from csqa.store import ResultStore, new_run_id

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
              workers: int | None = None, segmenter: str = "auto", batch_conversations: int = 2000) -> dict:
    """Ingest (streamed in chunks) → engine (local worker pool or Spark) → the output stage."""
    from csqa.engines import ScorerSetup, concat_outputs

    timer = Timer()
    started = datetime.now().astimezone()
    t0 = time.perf_counter()
    setup = ScorerSetup(rulebook=rulebook, select=tuple(select), ignore=tuple(ignore), model=model,
                        use_model=use_model, mask=mask, segmenter=segmenter)
    ingest_options = IngestOptions(encoding=encoding, column_map=column_map or {}, role_map=role_map or {})
    if engine == "spark":
        from csqa.engines.spark import SparkEngine, restore_order

        scorer = Scorer(setup)  # validates the rulebook and model on the driver, for run.json
        runner = SparkEngine(setup)
        sink = runner
    elif engine == "local":
        from csqa.engines.local import LocalEngine
        from csqa.engines.spool import FrameSpool, MessageSpool
        from csqa.engines.staging import MessageStage
        from csqa.report.tables import FINDING_COLUMNS

        scorer = Scorer(setup)
        runner = LocalEngine(scorer, workers)  # forks now: the workers inherit the prepared scorer
        sink = MessageStage()
        spool = MessageSpool()
        finding_spool = FrameSpool("findings", FINDING_COLUMNS + ["hl_start", "hl_end", "finding_index"])
    else:
        raise ConfigError(f"未知的引擎 {engine!r}；可选 local 或 spark")
    timer.add("setup", time.perf_counter() - t0)
    try:
        t1 = time.perf_counter()
        rejects, input_infos, rows_scored = [], [], 0
        first_seq: dict[str, int] = {}
        for messages, rejected, info in iter_input_chunks(inputs, ingest_options):
            if len(messages):
                sink.add(messages)
                rows_scored += len(messages)
                if engine == "spark":
                    for cid, seq in messages.groupby("conversation_id", sort=False)["seq"].min().items():
                        first_seq.setdefault(cid, seq)
            if len(rejected):
                rejects.append(rejected)
            if info is not None:
                input_infos.append(info)
        timer.add("ingest", time.perf_counter() - t1)
        t2 = time.perf_counter()
        if engine == "spark":
            order = pd.Series(first_seq).sort_values(kind="stable").index
            result = restore_order(runner.run(), order)
        else:
            n_convs = sink.conversation_count()
            outputs = []
            with _progress(n_convs, quiet) as bar:
                for out in runner.map(sink.batches(batch_conversations)):
                    # transcripts and findings go to disk, not into memory; conversations stay (one row each)
                    spool.add(out.messages)
                    finding_spool.add(out.findings.assign(  # ledger order, for the store
                        finding_index=out.findings.groupby("conversation_id", sort=False).cumcount().astype("int32")))
                    # (new empty frames: an empty slice would keep the whole chunk's Arrow buffers alive)
                    out.messages, out.findings = _empty_like(out.messages), _empty_like(out.findings)
                    outputs.append(out)
                    bar.update(len(out.conversations))
            result = concat_outputs(outputs)
            result.messages, result.findings = spool, finding_spool
        timer.add("score", time.perf_counter() - t2)
    except BaseException:
        if engine == "local":
            spool.close()
            finding_spool.close()
        raise
    finally:
        runner.close()
        if engine == "local":
            sink.close()
    for stage, seconds in result.timings.items():
        timer.add(f"score.{stage} (cpu, all workers)", seconds, rss=False)
    if result.peak_rss_mb:
        timer.peak_rss["score (largest worker)"] = result.peak_rss_mb
    rejects_frame = pd.concat(rejects, ignore_index=True) if rejects else empty_rejects()
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
                     "select": list(select), "ignore": list(ignore), "rules": [r.code for r in scorer.book.rules]},
        "model": _model_info(scorer.classifier),
        "options": {"encoding": encoding, "column_map": column_map or {}, "role_map": role_map or {}},
    }
    try:
        return write_run(outdir, manifest, result.conversations, result.findings, result.messages, rejects_frame,
                         mask=mask, store=store, timer=timer, t0=t0, started=started)
    finally:
        if engine == "local":
            spool.close()
            finding_spool.close()


def write_run(outdir: Path, manifest: dict, conversations: pd.DataFrame, findings: pd.DataFrame,
              messages: pd.DataFrame, rejects: pd.DataFrame, mask: bool = True, store: Path | str | None = None,
              timer: Timer | None = None, t0: float | None = None, started: datetime | None = None) -> dict:
    """The output stage of `csqa score`, a function of DataFrames whatever engine scored them.

    conversations / findings: `csqa.report.tables.conversations_table` / `findings_table`
    (findings in ledger order). messages: the transcripts (`csqa.report.transcript.messages_table`),
    as a DataFrame or a `csqa.engines.spool.MessageSpool` on disk (the local engine's, prepared already)
    with ORIGINAL text — or already passed through `prepare_transcripts` (findings then carry
    hl_start/hl_end). manifest: run.json so far (inputs, rows_*, rulebook, model, options…);
    counts, mask flag, run_id and store are added here.

    Masks transcripts, evidence and explanations (unless mask=False), builds report.html and
    report.xlsx, writes the run into the results store (OUTDIR/results.duckdb, or `store` kept
    across runs) and writes OUTDIR atomically.
    """
    timer = timer or Timer()
    t0 = time.perf_counter() if t0 is None else t0
    started = started or datetime.now().astimezone()
    t1 = time.perf_counter()
    finding_details = None
    if isinstance(findings, pd.DataFrame):
        if "hl_start" not in findings.columns:  # engines prepare transcripts in their workers already
            messages, findings = prepare_transcripts(messages, findings, mask)
        figures = findings
    else:  # spooled on disk: aggregate a few columns, read full rows only for what the report shows
        figures = findings.read(REPORT_FINDING_COLUMNS, categorical=REPORT_CATEGORICAL)
        spool = findings

        def finding_details(ids):
            return spool.select(ids) if ids is not None else pd.concat(list(spool.frames()) or [spool.empty_frame()],
                                                                        ignore_index=True)
    agents = agents_table(conversations, figures)
    checks = check_statistics(conversations, figures)
    outdir = Path(outdir)
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
        "generated_at": started.strftime("%Y-%m-%d %H:%M"),
        "rulebook": f"{rulebook.get('id')} ({str(rulebook.get('sha256') or '')[:8]})",
        "model": manifest["model"]["id"] if manifest.get("model") else None,
        "masked": mask,
        "rows_rejected": manifest.get("rows_rejected"),
        "source": f"本次运行 {manifest['run_id']}",
    }
    html, sheets = build_report(conversations, figures, agents, messages, summary,
                                ReportOptions(mask=mask, already_masked=mask), finding_details=finding_details)
    del figures
    timer.add("report", time.perf_counter() - t1)
    # report.xlsx is written by a forked process while this one writes the store and the CSVs
    outdir.mkdir(parents=True, exist_ok=True)
    xlsx_dir = Path(tempfile.mkdtemp(prefix=".csqa-xlsx-", dir=outdir))
    xlsx = XlsxJob(xlsx_dir / "report.xlsx", sheets)
    del sheets
    staging = None
    try:
        t2 = time.perf_counter()
        extra = {}
        if store_path.resolve() == default_store.resolve() and not store:
            # a fresh store of this run: built beside OUTDIR's files, moved into place with them
            staging = Path(tempfile.mkdtemp(prefix=".csqa-store-", dir=outdir))
            _write_store(staging / "results.duckdb", manifest, conversations, findings, agents, messages)
            extra["results.duckdb"] = lambda path: os.replace(staging / "results.duckdb", path)
        else:  # --store PATH (possibly OUTDIR/results.duckdb itself): add this run to it
            _write_store(store_path, manifest, conversations, findings, agents, messages)
        timer.add("store", time.perf_counter() - t2)
        t3 = time.perf_counter()

        def finished_manifest() -> dict:  # run.json is written last, after every other file
            timer.add("outputs", time.perf_counter() - t3)
            manifest["timings_s"] = {k: round(v, 3) for k, v in timer.stages.items()}
            manifest["timings_s"]["total"] = round(time.perf_counter() - t0, 3)
            manifest["peak_rss_mb"] = dict(timer.peak_rss)
            return manifest

        tables = {"conversations": conversations, "findings": findings, "agents": agents, "rejects": rejects}
        extra["report.xlsx"] = lambda path: os.replace(xlsx.wait(), path)
        write_outputs(outdir, tables, finished_manifest, html, None, extra_files=extra)
    finally:
        xlsx.cancel()
        shutil.rmtree(xlsx_dir, ignore_errors=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
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


def _empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=frame[c].dtype) for c in frame.columns})


def _write_store(path: Path, manifest: dict, conversations, findings, agents, messages) -> None:
    with ResultStore(path) as rs:
        rs.write_run(manifest, conversations, findings, agents, messages)


def run_report(store: Path | str, outdir: Path, date_from=None, date_to=None, agent=None, check=None,
               mask: bool = True) -> dict:
    """`csqa report`: rebuild report.html and report.xlsx from a results store across any number of runs."""
    started = datetime.now().astimezone()
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
        "generated_at": started.strftime("%Y-%m-%d %H:%M"),
        "rulebook": "、".join(rulebooks),
        "model": "、".join(models) or None,
        "masked": mask,
        "source": f"结果库 {Path(store).name}: {len(runs)} 批次",
        "filters": filters,
    }
    if not sel.masked and mask:
        summary["source"] += " (库中含未打码数据，报告已重新打码)"
    html, sheets = build_report(sel.conversations, sel.findings, None, sel.messages, summary, ReportOptions(mask=mask, already_masked=bool(sel.masked)))
    write_outputs(Path(outdir), {}, None, html, sheets)
    text = (f"报告: {len(sel.conversations)} 个会话, {sel.conversations['agent_id'].nunique()} 名客服, "
            f"{len(runs)} 个批次" + (f" ({filters})" if filters else "") + f"\n输出: {outdir}")
    return {"conversations": len(sel.conversations), "runs": len(runs), "text": text}


def _model_info(classifier) -> dict | None:
    if classifier is None:
        return None
    return {"id": getattr(classifier, "model_id", None), "sha256": getattr(classifier, "sha256", None),
            "threshold": getattr(classifier, "threshold", None)}
