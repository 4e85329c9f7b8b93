"""`csqa score` from end to end: ingest (streamed in chunks, or read by the background child) → an engine
(`csqa.engines`: local worker pool or Spark) → the output stage (`csqa.outputs.run_outputs.write_run`)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from csqa import __version__
from csqa.core.errors import ConfigError
from csqa.engines.base import Scorer
from csqa.ingest import IngestOptions, iter_input_chunks
from csqa.ingest.model import empty_rejects
from csqa.outputs.jobs import OutputPool
from csqa.outputs.run_outputs import write_run
from csqa.outputs.store import check_writable
from csqa.results.spool import FrameSpool, MessageSpool, with_finding_index, write_batch_part
from csqa.results.transcripts import mask_rejects
from csqa.runtime.measure import Timer
from csqa.runtime.workspace import OutputDir, RunTemp
from csqa.settings import RulebookSettings, ScoreSettings


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, disable=disable, unit="会话", desc="质检", file=sys.stderr, leave=False)


def run_score(settings: ScoreSettings, background=None) -> dict:
    """Ingest (streamed in chunks) → engine (local worker pool or Spark) → the output stage, as `settings` say
(`csqa.settings.ScoreSettings`, built by the CLI; the rulebook's own settings are added once it is loaded).

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
            _outdir_check(settings.outdir, settings.store)
            with OutputDir(settings.outdir) as target:
                return _run_score(settings, target, background)
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


@dataclass
class _Scoring:
    """What scoring a run holds: the scorer, the engine running it, where its messages are staged
    (`sink`: the local engine's MessageStage, or the Spark engine itself) and the spools its
    transcripts and findings go to, batch by batch (bucket by bucket)."""

    engine: str
    scorer: Scorer
    runner: object
    sink: object | None
    spool: MessageSpool
    finding_spool: FrameSpool

    def close_spools(self) -> None:
        self.spool.close()
        self.finding_spool.close()


def _run_score(settings: ScoreSettings, target: OutputDir, background) -> dict:
    engine, mask, store = settings.engine, settings.mask, settings.store

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
    setup = settings.scoring
    ingest_options = IngestOptions(encoding=settings.encoding, column_map=settings.column_map,
                                   role_map=settings.role_map)
    if engine not in ("local", "spark"):
        if background is not None:
            background.close()
        raise ConfigError(f"未知的引擎 {engine!r}；可选 local 或 spark")
    OutputPool.warm()  # the output jobs' modules are imported beside the set-up (csqa.outputs.jobs)
    run = _set_up(engine, setup, settings.workers, background)
    settings = settings.with_rulebook(RulebookSettings.of_rulebook(run.scorer.loaded.rulebook))
    # the output jobs' pool (its fork server, warmed above, has imported what they need); no fork from here on
    pool = OutputPool().start()
    timer.add("setup", time.perf_counter() - t_setup)
    try:
        if store:  # before scoring: the store can be written and no other process has it
            check_writable(store)
        rejects, input_infos, rows_scored = _ingest(run, list(settings.inputs), ingest_options, background, timer)
        t2 = time.perf_counter()
        result = _score_batches(run, settings.batch_conversations, settings.quiet)
        timer.add("score", time.perf_counter() - t2)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # interrupted: the workers and jobs end now
            getattr(run.runner, "terminate", run.runner.close)()
            pool.terminate()
        pool.close(cancel=True)
        run.close_spools()
        raise
    finally:
        run.runner.close()
        if engine == "local" and run.sink is not None:
            run.sink.close()
        if background is not None:
            background.close()  # the parts are read: removed now, not at exit
    for stage, seconds in result.timings.items():
        timer.add(f"score.{stage} (cpu, all workers)", seconds, rss=False)
    if result.peak_rss_mb:
        timer.peak_rss["score (largest worker)"] = result.peak_rss_mb
    rejects_frame = mask_rejects(pd.concat(rejects, ignore_index=True) if rejects else empty_rejects(), mask)
    manifest = _manifest(run, settings, started, input_infos, rows_scored, len(rejects_frame))
    try:
        return write_run(target, manifest, result.conversations, result.findings, result.messages, rejects_frame,
                         mask=mask, store=store, timer=timer, t0=t0, started=started, pool=pool,
                         rulebook=settings.rulebook_settings)
    finally:
        pool.close(cancel=True)
        run.close_spools()


def _set_up(engine: str, setup, workers: int | None, background) -> _Scoring:
    """The scorer and the engine (the local one forks its workers now: they inherit the prepared scorer)."""
    from csqa.results.columns import FINDING_COLUMNS

    spool = MessageSpool()
    finding_spool = FrameSpool("findings", FINDING_COLUMNS + ["hl_start", "hl_end", "finding_index"])
    try:
        scorer = Scorer(setup)  # (Spark: validates the rulebook and model on the driver, for run.json)
        if engine == "spark":
            from csqa.engines.spark import SparkEngine

            runner = SparkEngine(setup)
            return _Scoring(engine, scorer, runner, runner, spool, finding_spool)
        from csqa.engines.local import LocalEngine
        from csqa.engines.staging import MessageStage

        runner = LocalEngine(scorer, workers)
        return _Scoring(engine, scorer, runner, MessageStage() if background is None else None, spool, finding_spool)
    except BaseException:
        spool.close()
        finding_spool.close()
        if background is not None:
            background.close()
        raise


def _ingest(run: _Scoring, inputs, ingest_options: IngestOptions, background, timer: Timer) -> tuple[list, list, int]:
    """The inputs into the engine's sink: read by the background child (waited for here), or read now.
    Returns (reject frames, input infos, rows scored)."""
    t1 = time.perf_counter()
    if background is not None:
        from csqa.engines.staging import MessageStage

        done = background.wait()
        timer.add("waiting for ingest", time.perf_counter() - t1)
        timer.add("ingest", done.seconds, rss=False)  # the child's own time, overlapping the setup
        timer.add("ingest (cpu, own process)", done.cpu_seconds, rss=False)
        timer.peak_rss["ingest (own process)"] = done.peak_rss_mb
        run.sink = MessageStage.over_parts(done.parts)
        return done.rejects, done.inputs, done.rows_scored
    rejects, input_infos, rows_scored = [], [], 0
    for messages, rejected, info in iter_input_chunks(inputs, ingest_options):
        if len(messages):
            run.sink.add(messages)
            rows_scored += len(messages)
        if len(rejected):
            rejects.append(rejected)
        if info is not None:
            input_infos.append(info)
    timer.add("ingest", time.perf_counter() - t1)
    return rejects, input_infos, rows_scored


def _score_batches(run: _Scoring, batch_conversations: int, quiet: bool):
    """Score every batch; transcripts and findings go to the spools, numbered by batch (not into memory),
    conversations stay (one row each). Returns the run's ChunkOutput with the spools as its frames."""
    from csqa.engines import concat_outputs

    spool, finding_spool = run.spool, run.finding_spool

    def part_paths(i: int):
        return spool.part_path(i), finding_spool.part_path(i)

    if run.engine == "spark":
        scored, n_convs = run.runner.run(), None  # (bucket, output) as Spark finishes them
    else:
        n_convs = run.sink.conversation_count()
        scored = enumerate(run.runner.map(run.sink.batches(batch_conversations), parts=part_paths))
    outputs: list[tuple[int, object]] = []
    with _progress(n_convs, quiet) as bar:
        for index, out in scored:
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
    return result


def _manifest(run: _Scoring, settings: ScoreSettings, started: datetime, input_infos: list, rows_scored: int,
              rows_rejected: int) -> dict:
    """run.json so far (the output stage adds the counts, run id, store and timings)."""
    scorer = run.scorer
    return {
        "csqa_version": __version__,
        "started_at": started.isoformat(timespec="seconds"),
        "engine": run.engine,
        "workers": int(getattr(run.runner, "workers", 1)),
        "segmenter": scorer.segmenter.backend,
        "inputs": input_infos,
        "rows_read": int(rows_scored + rows_rejected),
        "rows_scored": int(rows_scored),
        "rows_rejected": int(rows_rejected),
        "rulebook": {"id": scorer.loaded.rulebook.id, "path": scorer.loaded.path, "sha256": scorer.loaded.sha256,
                     "select": list(settings.scoring.select), "ignore": list(settings.scoring.ignore),
                     "rules": [r.code for r in scorer.book.rules], **settings.rulebook_settings.manifest_entry()},
        "model": _model_info(scorer.classifier),
        "options": {"encoding": settings.encoding, "column_map": settings.column_map, "role_map": settings.role_map},
    }


def _model_info(classifier) -> dict | None:
    if classifier is None:
        return None
    return {"id": getattr(classifier, "model_id", None), "sha256": getattr(classifier, "sha256", None),
            "threshold": getattr(classifier, "threshold", None)}


