"""Helpers for tests that run `csqa score` / `csqa report` as real processes and look at what a
killed or failing run leaves: the run's processes (found through /proc by an environment variable
only they carry), OUTDIR, its parent, TMPDIR and the store. Used by test_crash_safety.py and
test_early_errors.py (the fixtures are imported there)."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from conftest import write_rows

REPO = Path(__file__).resolve().parents[1]
ON_PROC = Path("/proc/self/environ").exists() and os.name == "posix"


@pytest.fixture(scope="module")
def exports(tmp_path_factory, sample_rows):
    """Two small exports: A (the previous run) and B (the run that gets killed: other ids)."""
    header, rows = sample_rows
    ids = list(dict.fromkeys(r[0] for r in rows))[:60]
    keep = [r for r in rows if r[0] in set(ids)]
    folder = tmp_path_factory.mktemp("exports")
    a = write_rows(folder / "a.csv", header, keep)
    b = write_rows(folder / "b.csv", header, [["B-" + r[0], *r[1:]] for r in keep])
    return a, b


class Csqa:
    """`csqa score`/`report` as subprocesses of one test: own TMPDIR, hook folder and process tag."""

    def __init__(self, tmp_path: Path):
        self.root = tmp_path
        self.tmp = tmp_path / "tmp"
        self.hooks = tmp_path / "hooks"
        self.tmp.mkdir(exist_ok=True)
        self.hooks.mkdir(exist_ok=True)
        self.tag = uuid.uuid4().hex

    def env(self, hook: str | None) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "CSQA_TEST_HOOK"}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["TMPDIR"] = str(self.tmp)
        env["CSQA_TEST_HOOK_DIR"] = str(self.hooks)
        env["CSQA_TEST_RUN"] = self.tag  # every process of the run inherits it
        if hook:
            env["CSQA_TEST_HOOK"] = hook
        return env

    def start(self, *args, hook: str | None = None, prefix: tuple = ()) -> subprocess.Popen:
        # output to files, not pipes: a process that outlived the run would hold a pipe open
        self.n = getattr(self, "n", 0) + 1
        with open(self.hooks / f"{self.n}.out", "w") as out, open(self.hooks / f"{self.n}.err", "w") as err:
            proc = subprocess.Popen([*prefix, sys.executable, "-m", "csqa", *map(str, args)], env=self.env(hook),
                                    cwd=self.root, stdout=out, stderr=err)
        proc.n = self.n
        return proc

    def finish(self, proc: subprocess.Popen) -> tuple[str, str]:
        """Wait for the main process; its stdout and stderr."""
        proc.wait()
        return tuple((self.hooks / f"{proc.n}.{kind}").read_text(encoding="utf-8") for kind in ("out", "err"))

    def run(self, *args, hook: str | None = None, prefix: tuple = ()) -> subprocess.CompletedProcess:
        proc = self.start(*args, hook=hook, prefix=prefix)
        out, err = self.finish(proc)
        assert self.wait_gone(patience_s=0) == [], "a process of the run outlived it"
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def processes(self) -> list[int]:
        """Live processes carrying this test's tag (zombies included until reaped: they hold nothing)."""
        found = []
        needle = f"CSQA_TEST_RUN={self.tag}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state not in ("Z", "X"):
                        found.append(int(entry.name))
            except OSError:
                continue
        return found

    def wait_gone(self, patience_s: float = 60.0) -> list[int]:
        """The run's processes still alive once they had `patience_s` to end (a kill is asynchronous)."""
        deadline = time.monotonic() + patience_s
        left = self.processes()
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = self.processes()
        for pid in left:  # never leave them behind, even when the test fails
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return left

    def wait_marker(self, point: str, proc: subprocess.Popen) -> int:
        from csqa.runtime.testhook import marker

        mark = marker(self.hooks, point)
        while not mark.exists():
            if proc.poll() is not None:
                out, err = self.finish(proc)
                pytest.fail(f"csqa ended (exit {proc.returncode}) before reaching {point}: {err}")
            time.sleep(0.02)
        return int(mark.read_text(encoding="utf-8"))

    def leftovers(self, outdir: Path) -> list[str]:
        """Temporary folders of csqa's in TMPDIR and beside OUTDIR."""
        return sorted([p.name for p in self.tmp.iterdir()] +
                      [p.name for p in outdir.parent.iterdir() if ".csqa-" in p.name])


def snapshot(outdir: Path) -> dict[str, str] | None:
    if not outdir.exists():
        return None
    return {p.name: "folder" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(outdir.iterdir())}


def store_state(store: Path) -> dict:
    """What every query sees (the views), per run; and the rows tables' totals."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        runs = con.execute("SELECT run_id, conversations, findings, superseded_by FROM runs ORDER BY run_id").fetchall()
        seen = {t: dict(con.execute(f"SELECT run_id, count(*) FROM {t} GROUP BY run_id").fetchall())
                for t in ("conversations", "findings", "messages", "agents")}
        rows = {t: con.execute(f"SELECT count(*) FROM {t}_rows").fetchone()[0]
                for t in ("conversations", "findings", "messages", "agents")}
    finally:
        con.close()
    # no half run: each recorded run has exactly the conversations and findings it says it has (a run
    # superseded by a later scoring of the same input has none left)
    for run_id, n_conv, n_fnd, superseded in runs:
        if superseded:
            continue
        assert seen["conversations"].get(run_id, 0) == n_conv and seen["findings"].get(run_id, 0) == n_fnd, run_id
    return {"runs": [r[0] for r in runs], "seen": seen, "rows": rows}


@pytest.fixture(scope="module")
def previous(tmp_path_factory, exports):
    """The previous run of A into OUTDIR and a kept store: copied into each test's folder."""
    folder = tmp_path_factory.mktemp("previous")
    csqa = Csqa(folder)
    res = csqa.run("score", exports[0], "-o", folder / "out", "--store", folder / "store.duckdb", "-q", "--no-model")
    assert res.returncode == 0, res.stderr
    return folder


def setup_previous(previous: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(previous / "out", tmp_path / "out")
    shutil.copy2(previous / "store.duckdb", tmp_path / "store.duckdb")
    return tmp_path / "out", tmp_path / "store.duckdb"


