"""Killed, interrupted or failing at any point of the output stage, `csqa score` leaves OUTDIR as the
previous run or the new one (whole), the store without half a run, no process of its own and, by the
next run's start at the latest, no temporary folder.

Real processes: `csqa score` runs as a subprocess with its own TMPDIR; a test hook
(`CSQA_TEST_HOOK=pause@POINT`, `csqa.runtime.testhook`) holds one of its processes at a named point, the test
kills the main process with os.kill, then looks at /proc, OUTDIR, its parent, TMPDIR and the store.
A run's processes are found by an environment variable only they carry.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from csqa_proc import ON_PROC, Csqa, exports, previous, setup_previous, snapshot, store_state  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not ON_PROC, reason="finds a run's processes through /proc (Linux)")


# ---------------------------------------------------------------------------- kill -9 at each point
# (point, hooks, what OUTDIR shows after the kill, whether the store has recorded the new run)
KILL_POINTS = [
    ("score:batch", "", "old", False),  # a worker mid-batch
    ("outputs:csv-written", "", "old", False),  # the CSVs in the stage, the jobs running
    ("store:rows-inserted", "", "old", False),  # the store job has the rows in, not recorded
    ("outputs:before-go", "", "old", False),  # every output complete in the stage, run.json too
    ("outputs:before-swap", "", "old", True),  # the run recorded, OUTDIR not yet swapped
    ("swap:between-renames", "einval@swap:exchange", "missing", True),  # without renameat2: between the renames
    ("outputs:after-swap", "", "new", True),  # swapped, the previous run not yet removed
]


@pytest.mark.parametrize("point, extra_hook, shows, recorded", KILL_POINTS, ids=[p[0] for p in KILL_POINTS])
def test_kill_at_each_point_leaves_old_or_new_whole_and_no_process(point, extra_hook, shows, recorded, previous,
                                                                   exports, tmp_path):
    out, store = setup_previous(previous, tmp_path)
    old_out, old_store = snapshot(out), store_state(store)
    csqa = Csqa(tmp_path)
    hook = ",".join(x for x in (f"pause@{point}", extra_hook) if x)
    proc = csqa.start("score", exports[1], "-o", out, "--store", store, "-q", "--no-model", hook=hook)
    try:
        csqa.wait_marker(point, proc)
        assert len(csqa.processes()) >= 3  # the main process, and the workers or the fork server and its jobs
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert csqa.wait_gone() == [], "processes of the killed run are still alive"

    # the store: no half run — the previous runs as they were, plus the new one only once it was recorded
    state = store_state(store)
    if recorded:
        assert set(old_store["runs"]) < set(state["runs"])
        new_run = (set(state["runs"]) - set(old_store["runs"])).pop()
        assert state["seen"]["conversations"][new_run] == 60
    else:
        assert (state["runs"], state["seen"]) == (old_store["runs"], old_store["seen"])
    # OUTDIR: the previous run or the new one, whole
    if shows == "old":
        assert snapshot(out) == old_out
    elif shows == "new":
        manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
        assert manifest["inputs"][0]["path"].endswith("b.csv") and state["runs"].count(manifest["run_id"]) == 1
        assert set(snapshot(out)) == set(old_out)
    else:  # between the two renames OUTDIR is briefly missing; the previous run waits beside it
        assert not out.exists() and [p for p in tmp_path.iterdir() if ".out.csqa-old-" in p.name]

    # the next run's start repairs what the kill left (here a run that then fails: its input is missing)
    res = csqa.run("score", tmp_path / "missing.csv", "-o", out, "--store", store, "-q", "--no-model")
    assert res.returncode == 2 and "missing.csv" in res.stderr, res.stderr
    assert csqa.leftovers(out) == []
    if shows in ("old", "missing"):
        assert snapshot(out) == old_out  # put back whole
    if point in ("store:rows-inserted", "outputs:after-swap"):
        # and a run that succeeds: OUTDIR new and whole, the unfinished run's rows gone from the store
        res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model")
        assert res.returncode == 0, res.stderr
        state = store_state(store)
        assert state["rows"] == {t: sum(state["seen"][t].values()) for t in state["rows"]}
        manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
        assert manifest["run_id"] in state["runs"] and set(snapshot(out)) == set(old_out)
        assert csqa.leftovers(out) == []


@pytest.mark.parametrize("point", ["score:batch", "outputs:csv-written"])
def test_without_the_parent_death_signal_the_processes_still_end_with_the_main_one(point, previous, exports, tmp_path):
    """The portable way (no prctl): children watch their parent, the jobs a pipe of the main process."""
    out, store = setup_previous(previous, tmp_path)
    old_out, old_store = snapshot(out), store_state(store)
    csqa = Csqa(tmp_path)
    proc = csqa.start("score", exports[1], "-o", out, "--store", store, "-q", "--no-model",
                      hook=f"pause@{point},einval@lifeline:prctl")
    try:
        csqa.wait_marker(point, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert csqa.wait_gone() == []
    state = store_state(store)
    assert (state["runs"], state["seen"]) == (old_store["runs"], old_store["seen"])
    assert snapshot(out) == old_out


@pytest.mark.parametrize("sig, code, last_line", [(signal.SIGINT, 130, "已中断 (interrupted)"),
                                                  (signal.SIGTERM, 143, "已终止 (terminated)"),
                                                  (signal.SIGHUP, 129, "已终止 (terminated)")])
def test_ctrl_c_sigterm_or_sighup_in_the_output_stage_ends_every_job_and_cleans_up_at_once(sig, code, last_line, previous,
                                                                                   exports, tmp_path):
    out, store = setup_previous(previous, tmp_path)
    old_out, old_store = snapshot(out), store_state(store)
    csqa = Csqa(tmp_path)
    proc = csqa.start("score", exports[1], "-o", out, "--store", store, "-q", "--no-model",
                      hook="pause@store:rows-inserted")
    try:
        csqa.wait_marker("store:rows-inserted", proc)
        os.kill(proc.pid, sig)
        _, err = csqa.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == last_line and "Traceback" not in err
    assert csqa.wait_gone() == []
    state = store_state(store)
    assert (state["runs"], state["seen"]) == (old_store["runs"], old_store["seen"])
    assert snapshot(out) == old_out
    assert csqa.leftovers(out) == []  # removed on the way out, not only at the next start


def test_a_run_is_recorded_in_the_store_only_once_its_outputs_are_complete(previous, exports, tmp_path):
    """The report job fails (a hook: permission denied on report.html): the store job had its rows in,
    but the run is not recorded, and OUTDIR stays the previous run."""
    out, store = setup_previous(previous, tmp_path)
    old_out, old_store = snapshot(out), store_state(store)
    csqa = Csqa(tmp_path)
    res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model",
                   hook="eacces@write:report.html,mark@store:rows-inserted")
    assert res.returncode == 2, res.stderr
    assert "没有权限" in res.stderr and str(out / "report.html") in res.stderr and "Traceback" not in res.stderr
    assert (csqa.hooks / "store_rows-inserted").exists()
    state = store_state(store)
    assert (state["runs"], state["seen"]) == (old_store["runs"], old_store["seen"])
    assert state["rows"] == {t: sum(state["seen"][t].values()) for t in state["rows"]}  # its rows dropped again
    assert snapshot(out) == old_out and csqa.leftovers(out) == []


# ---------------------------------------------------------------------------- OUTDIR as a whole
def test_outdir_keeps_files_the_run_does_not_write_and_refuses_foreign_folders(previous, exports, tmp_path):
    out, store = setup_previous(previous, tmp_path)
    (out / "notes.txt").write_text("我的备注", encoding="utf-8")
    os.chmod(out, 0o750)
    csqa = Csqa(tmp_path)
    res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model")
    assert res.returncode == 0, res.stderr
    assert (out / "notes.txt").read_text(encoding="utf-8") == "我的备注"
    assert out.stat().st_mode & 0o777 == 0o750  # the new OUTDIR keeps the folder's permissions
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["inputs"][0]["path"].endswith("b.csv")

    (out / "photos").mkdir()
    before = snapshot(out)
    res = csqa.run("score", exports[0], "-o", out, "-q", "--no-model", hook="mark@score:batch")
    assert res.returncode == 2 and "photos" in res.stderr and "Traceback" not in res.stderr
    assert not (csqa.hooks / "score_batch").exists()  # refused before scoring
    assert snapshot(out) == before and csqa.leftovers(out) == []

    res = csqa.run("score", exports[0], "-o", out / "notes.txt", "-q", "--no-model")
    assert res.returncode == 2 and "notes.txt" in res.stderr
    res = csqa.run("score", exports[0], "-o", out, "--store", out / "photos" / "s.duckdb", "-q", "--no-model")
    assert res.returncode == 2 and "s.duckdb" in res.stderr


def test_without_an_atomic_exchange_the_two_renames_give_the_same_result(previous, exports, tmp_path):
    out, store = setup_previous(previous, tmp_path)
    csqa = Csqa(tmp_path)
    res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model", hook="einval@swap:exchange")
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["inputs"][0]["path"].endswith("b.csv")
    assert csqa.leftovers(out) == []


def test_stale_folders_of_dead_processes_go_at_the_start_those_of_live_ones_stay(previous, exports, tmp_path):
    out, store = setup_previous(previous, tmp_path)
    csqa = Csqa(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead, alive = gone.pid, os.getpid()
    stale = [csqa.tmp / f"csqa-run-{dead}-abcd", csqa.tmp / f"csqa-mp-{dead}-abcd", tmp_path / f".out.csqa-new-{dead}-ab"]
    kept = [csqa.tmp / f"csqa-run-{alive}-abcd", tmp_path / f".out.csqa-new-{alive}-ab", csqa.tmp / "someone-else"]
    for folder in stale + kept:
        folder.mkdir()
        (folder / "x").write_text("x")
    res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model")
    assert res.returncode == 0, res.stderr
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
