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


def test_side_by_side_takes_turns_and_pairs_each_round(bench, tmp_path, monkeypatch):
    """--old: this checkout and the other alternate which goes first; round i's ratios are paired."""
    (tmp_path / "jd_10.csv").write_text("x", encoding="utf-8")  # an export already made
    ratios = {"new": iter([0.50, 0.60, 0.55]), "old": iter([1.00, 0.50, 0.50])}
    calls = []

    def fake_pair(size, export, workdir, extra, checkout=None, label=""):
        who = "old" if label else "new"
        calls.append((who, checkout))
        return {**_pair(next(ratios[who]), 0.0), "stages": {}}

    monkeypatch.setattr(bench, "measure_pair", fake_pair)
    old = tmp_path / "old-checkout"
    result = bench.side_by_side(10, tmp_path, [], old, repeat=3)
    assert [who for who, _ in calls] == ["new", "old", "old", "new", "new", "old"]
    assert {c for who, c in calls if who == "old"} == {old}
    assert {c for who, c in calls if who == "new"} == {bench.HERE.parent}
    assert result["paired"] == pytest.approx([0.50, 1.20, 1.10])
    assert result["new"]["ratio"] == 0.55 and result["old"]["ratio"] == 0.50
