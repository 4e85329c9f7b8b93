"""Clear, early errors: OUTDIR, its parent and the store are checked before anything is scored; a
full disk, a read-only file system or a missing permission is one line naming the path and saying
what to do (exit 2, never "internal error"), and leaves OUTDIR and the store as they were.

Read-only and full file systems are real where the machine allows a private mount namespace
(`unshare -rm`: a tmpfs of a few hundred KB, a read-only bind mount) — as root, chmod does not stop
writes, a read-only mount does. Where it does not, those tests skip and say why; a test hook
(`csqa.runtime.testhook`) then still injects ENOSPC into the CSV writer. `mark@score:batch` tells whether
scoring had begun: a refused run must not get that far.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import duckdb
import pytest

from csqa_proc import ON_PROC, Csqa, exports, previous, setup_previous, snapshot, store_state  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not ON_PROC, reason="finds a run's processes through /proc (Linux)")


def _private_mounts(tmp_path) -> str | None:
    """None when `unshare -rm` may mount a tmpfs here, else why not."""
    if not shutil.which("unshare"):
        return "unshare is not installed"
    probe = tmp_path / "mount-probe"
    probe.mkdir()
    res = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$1"', "sh", str(probe)],
                         capture_output=True, text=True)
    probe.rmdir()
    return None if res.returncode == 0 else f"no private mount namespace here: {res.stderr.strip()}"


@pytest.fixture
def mounts(tmp_path):
    why = _private_mounts(tmp_path)
    if why:
        pytest.skip(why)


def read_only(folder) -> tuple:
    """A command prefix: run in a mount namespace where `folder` is mounted read-only."""
    return ("unshare", "-rm", "sh", "-c", 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"',
            "sh", str(folder))


def tiny_tmpfs(folder, size_kb: int, listing) -> tuple:
    """A command prefix: `folder` becomes an empty tmpfs of `size_kb` (then gets `folder`'s old content
    copied in); after the command, what the tmpfs holds is written to `listing` (it goes with the namespace)."""
    script = ('cp -a "$1" "$1.copy" && mount -t tmpfs -o size=$2k tmpfs "$1" && cp -a "$1.copy/." "$1/" '
              '&& rm -rf "$1.copy" && shift 3 && "$@"; rc=$?; (cd "$0" && find . -mindepth 1 | sort) > "$LISTING"; exit $rc')
    return ("env", f"LISTING={listing}", "unshare", "-rm", "sh", "-c", script, str(folder), str(folder), str(size_kb), "x")


def assert_one_clear_line(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stderr)
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "内部错误" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


# ---------------------------------------------------------------------------- the store
def test_a_store_in_use_is_refused_before_scoring(previous, exports, tmp_path):
    out, store = setup_previous(previous, tmp_path)
    old_out = snapshot(out)
    csqa = Csqa(tmp_path)
    holder = duckdb.connect(str(store))  # another process has the store open for writing
    try:
        res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model", hook="mark@score:batch")
    finally:
        holder.close()
    assert_one_clear_line(res, str(store), "正被另一个进程使用", f"PID {os.getpid()}")
    assert not (csqa.hooks / "score_batch").exists()
    assert snapshot(out) == old_out and csqa.leftovers(out) == []


def test_a_read_only_store_is_called_read_only_before_scoring_and_report_still_reads_it(mounts, previous, exports,
                                                                                       tmp_path):
    out, store = setup_previous(previous, tmp_path)
    kept = tmp_path / "kept"
    kept.mkdir()
    store = shutil.move(store, kept / "store.duckdb")
    old_out, old_store = snapshot(out), store_state(store)
    csqa = Csqa(tmp_path)
    res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model", hook="mark@score:batch",
                   prefix=read_only(kept))
    assert_one_clear_line(res, str(store), "只读", "read-only")
    assert "另一个进程" not in res.stderr and "another process" not in res.stderr
    assert not (csqa.hooks / "score_batch").exists()
    assert snapshot(out) == old_out and store_state(store) == old_store and csqa.leftovers(out) == []
    res = csqa.run("report", "--store", store, "-o", tmp_path / "weekly", "-q", prefix=read_only(kept))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "weekly" / "report.html").exists()


# ---------------------------------------------------------------------------- OUTDIR
def test_a_read_only_outdir_is_refused_before_scoring(mounts, previous, exports, tmp_path):
    parent = tmp_path / "site"
    parent.mkdir()
    out, store = setup_previous(previous, parent)
    old_out = snapshot(out)
    csqa = Csqa(tmp_path)
    res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model", hook="mark@score:batch",
                   prefix=read_only(parent))
    assert_one_clear_line(res, str(out), "只读")
    assert not (csqa.hooks / "score_batch").exists()
    assert snapshot(out) == old_out and csqa.leftovers(out) == []
    # a new OUTDIR in a read-only folder: the folder is named
    res = csqa.run("score", exports[1], "-o", parent / "new", "-q", "--no-model", hook="mark@score:batch",
                   prefix=read_only(parent))
    assert_one_clear_line(res, str(parent), "只读")
    assert not (csqa.hooks / "score_batch").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="as root, chmod does not stop writes (the read-only mount tests cover this)")
def test_an_outdir_without_write_permission_is_refused_before_scoring(previous, exports, tmp_path):
    out, store = setup_previous(previous, tmp_path)
    os.chmod(out, 0o555)
    try:
        csqa = Csqa(tmp_path)
        res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model", hook="mark@score:batch")
    finally:
        os.chmod(out, 0o755)
    assert_one_clear_line(res, str(out), "没有权限")
    assert not (csqa.hooks / "score_batch").exists()


# ---------------------------------------------------------------------------- a full disk
def test_disk_full_in_the_csv_writer_names_the_file_and_leaves_everything_as_it_was(previous, exports, tmp_path):
    out, store = setup_previous(previous, tmp_path)
    old_out, old_store = snapshot(out), store_state(store)
    csqa = Csqa(tmp_path)
    res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model", hook="enospc@write:findings.csv")
    assert_one_clear_line(res, str(out / "findings.csv"), "磁盘空间不足", "disk full")
    state = store_state(store)
    assert (state["runs"], state["seen"]) == (old_store["runs"], old_store["seen"])
    assert snapshot(out) == old_out and csqa.leftovers(out) == []


def test_a_full_output_disk_is_one_clear_error_and_the_previous_run_stays(mounts, previous, exports, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    out, _ = setup_previous(previous, site)
    (site / "store.duckdb").unlink()
    old_out = snapshot(out)
    size_kb = sum(p.stat().st_size for p in out.iterdir()) // 1024 + 256  # the previous run fits, the new one not
    listing = tmp_path / "listing.txt"
    csqa = Csqa(tmp_path)
    res = csqa.run("score", exports[1], "-o", out, "-q", "--no-model", prefix=tiny_tmpfs(site, size_kb, listing))
    assert_one_clear_line(res, "磁盘空间不足", str(site))
    # the tmpfs held the previous run, whole, and nothing else (no stage, no work folder)
    assert listing.read_text().split() == ["./out"] + [f"./out/{name}" for name in sorted(old_out)]


def test_a_full_temporary_folder_is_one_clear_error(mounts, previous, exports, tmp_path):
    out, store = setup_previous(previous, tmp_path)
    old_out = snapshot(out)
    listing = tmp_path / "listing.txt"
    csqa = Csqa(tmp_path)
    res = csqa.run("score", exports[1], "-o", out, "--store", store, "-q", "--no-model",
                   prefix=tiny_tmpfs(csqa.tmp, 64, listing))
    assert_one_clear_line(res, "磁盘空间不足", str(csqa.tmp))
    assert listing.read_text().split() == []  # the run folder went, whatever had been written
    assert snapshot(out) == old_out
