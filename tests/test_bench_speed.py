"""The speed benchmark's own arithmetic: which pair it shows, and its measure of other load."""
import importlib
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("bench_speed")
    finally:
        sys.path.remove(str(BENCH))


def _pair(ratio, load):
    return {"ratio": ratio, "other_load": load, "size": 10}


def test_median_pair_shows_the_middle_run_and_keeps_run_order(bench):
    chosen = bench.median_pair([_pair(0.61, 1.2), _pair(0.44, 0.0), _pair(0.52, 0.3)])
    assert chosen["ratio"] == 0.52 and chosen["other_load"] == 0.3
    assert chosen["ratios"] == [0.61, 0.44, 0.52]
    assert chosen["other_loads"] == [1.2, 0.0, 0.3]


def test_median_of_an_even_count_is_never_the_luckier_pair(bench):
    assert bench.median_pair([_pair(0.40, 0), _pair(0.55, 0)])["ratio"] == 0.55
    assert bench.median_pair([_pair(0.7, 0)])["ratio"] == 0.7


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="Linux /proc/stat only")
def test_busy_cpu_seconds_counts_this_process_spinning(bench):
    before = bench.busy_cpu_seconds()
    cpu0 = time.process_time()
    while time.process_time() - cpu0 < 0.3:
        pass
    after = bench.busy_cpu_seconds()
    # the machine was busy at least as long as this process spun (clock ticks: allow one tick)
    assert after - before >= 0.3 - 0.02
