"""The local engine: conversations in batches over a pool of worker processes.

The parent prepares one `Scorer` (rulebook compiled once — one phrase automaton for all
rules —, dictionary loaded, classifier loaded) and forks the workers, which inherit it.
Batches of whole conversations go out, compact tables come back; at most two batches per
worker are in flight, so memory does not grow with the input. Given `parts` (where batch i's
transcripts and findings go), each worker writes its batch's two big tables to Parquet parts
itself and sends back only the conversations: the rows are not pickled, piped and unpickled,
and the main process does not spend the scoring stage writing Parquet on a core the workers need.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
import os
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pandas as pd

from csqa.runtime import testhook
from csqa.runtime.collector import collector_paused
from csqa.engines.base import ChunkOutput, Scorer

_SCORER: Scorer | None = None  # inherited by forked workers


def _score_in_worker(frame: pd.DataFrame, parts: tuple[Path, Path] | None = None) -> ChunkOutput:
    assert _SCORER is not None, "worker started without a scorer"
    testhook.point("score:batch")
    # A batch makes ~10^5 short-lived objects (messages, hits, findings) that form no cycles worth
    # chasing mid-batch; the cyclic collector kept re-scanning them (about 10 % of a worker's time).
    # It runs once per batch instead.
    with collector_paused(collect_generation=1):
        out = _SCORER.score_frame(frame)
        return write_parts(out, *parts) if parts is not None else out


def write_parts(out: ChunkOutput, messages_path: Path, findings_path: Path) -> ChunkOutput:
    """Write a scored batch's transcripts and findings (with their ledger index) as spool parts;
    the output keeps empty frames of the same dtypes and `written` says where the rows went."""
    from csqa.results.spool import with_finding_index, write_batch_part

    t0 = time.process_time()
    out.written = {"messages": write_batch_part(out.messages, messages_path),
                   "findings": write_batch_part(with_finding_index(out.findings), findings_path)}
    out.messages, out.findings = out.written["messages"].empty, out.written["findings"].empty.drop(columns="finding_index")
    out.timings["write_parts"] = out.timings.get("write_parts", 0.0) + time.process_time() - t0
    return out


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class LocalEngine:
    """Score batches in `workers` processes (1 = in this process, no pool)."""

    name = "local"

    def __init__(self, scorer: Scorer, workers: int | None = None):
        global _SCORER
        self.scorer = scorer
        self.workers = workers or default_workers()
        self._pool = None
        if self.workers > 1 and "fork" in mp.get_all_start_methods():
            _SCORER = scorer
            # the prepared scorer (dictionary, automaton, model) is read-only from here: keep it out of
            # the workers' garbage collections, and their pages shared
            gc.collect()
            gc.freeze()
            # the workers die with this process, however it ends (`csqa.runtime.lifeline`)
            from csqa.runtime.lifeline import worker_init

            self._pool = mp.get_context("fork").Pool(self.workers, initializer=worker_init, initargs=(os.getpid(),))
        else:
            self.workers = 1

    def map(self, batches: Iterable[pd.DataFrame],
            parts: Callable[[int], tuple[Path, Path]] | None = None) -> Iterator[ChunkOutput]:
        """Results in the order of the batches. `parts(i)`: the (transcripts, findings) part paths of
        batch i, for a pool's workers to write (see `write_parts`); without a pool the frames come back."""
        if self._pool is None:
            for frame in batches:
                yield self.scorer.score_frame(frame)
            return
        in_flight: deque = deque()
        for i, frame in enumerate(batches):
            in_flight.append(self._pool.apply_async(_score_in_worker, (frame, parts(i) if parts else None)))
            if len(in_flight) >= 2 * self.workers:
                yield in_flight.popleft().get()
        while in_flight:
            yield in_flight.popleft().get()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def terminate(self) -> None:
        """End the workers now (the run was interrupted or failed)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.terminate()
