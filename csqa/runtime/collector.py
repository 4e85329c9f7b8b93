"""Pausing Python's cyclic garbage collector around work that builds many long- or short-lived objects.

Loading the rulebook, the models and the dictionary builds about a million objects that live for the whole
run; scoring a batch builds ~10^5 short-lived ones that form no cycles worth chasing. Left on, the collector
re-scans them again and again while they are built (measured: about 0.15 s of a run's set-up, about 10 % of
a worker's time). Within `collector_paused()` it does not run; afterwards it is on again (if it was) and,
when asked, one generation is collected.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def collector_paused(collect_generation: int | None = None):
    """Within: no automatic cyclic collection. On exit the collector is as it was, then
    `collect_generation` (0–2), if given, is collected."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        if collect_generation is not None:
            gc.collect(collect_generation)
