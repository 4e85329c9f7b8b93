"""The local engine: conversations in batches over a pool of worker processes.

The parent prepares one `Scorer` (rulebook compiled once — one phrase automaton for all
rules —, dictionary loaded, classifier loaded) and forks the workers, which inherit it.
Batches of whole conversations go out, compact tables come back; at most two batches per
worker are in flight, so memory does not grow with the input.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections import deque
from typing import Iterable, Iterator

import pandas as pd

from csqa.engines.base import ChunkOutput, Scorer

_SCORER: Scorer | None = None  # inherited by forked workers


def _score_in_worker(frame: pd.DataFrame) -> ChunkOutput:
    assert _SCORER is not None, "worker started without a scorer"
    # A batch makes ~10^5 short-lived objects (messages, hits, findings) that form no cycles worth
    # chasing mid-batch; the cyclic collector kept re-scanning them (about 10 % of a worker's time).
    # It runs once per batch instead.
    gc.disable()
    try:
        return _SCORER.score_frame(frame)
    finally:
        gc.enable()
        gc.collect(1)


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
            self._pool = mp.get_context("fork").Pool(self.workers)
        else:
            self.workers = 1

    def map(self, batches: Iterable[pd.DataFrame]) -> Iterator[ChunkOutput]:
        """Results in the order of the batches."""
        if self._pool is None:
            for frame in batches:
                yield self.scorer.score_frame(frame)
            return
        in_flight: deque = deque()
        for frame in batches:
            in_flight.append(self._pool.apply_async(_score_in_worker, (frame,)))
            if len(in_flight) >= 2 * self.workers:
                yield in_flight.popleft().get()
        while in_flight:
            yield in_flight.popleft().get()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
