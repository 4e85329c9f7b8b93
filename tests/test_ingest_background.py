"""`csqa score` reads its inputs in a forked child while it starts up (csqa.ingest.background).

The CLI runs here as a real command (a subprocess): the child is forked only from a process
with a single thread, which a pytest process is not. Its outputs must be byte-identical to the
in-process run that ingests after the setup (the old order), its errors the same one line,
and neither its child nor its temporary files may outlive it — also on Ctrl-C.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import BAD_ROWS_CSV, REPO, SAMPLE_CSV

CSVS = ("conversations.csv", "findings.csv", "agents.csv", "rejects.csv")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows: the sequential path runs")


def _csqa(tmp_path: Path, *args, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run `python -m csqa ARGS` with this checkout and a private temp folder (tmp_path/tmp)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp))
    argv = [sys.executable, "-m", "csqa", *map(str, args)]
    if popen:
        return subprocess.Popen(argv, env=env, cwd=REPO, **popen)
    return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "tmp").iterdir())


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line holds `text` (a forked child keeps its parent's command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_outputs_match_the_in_process_run_byte_for_byte(tmp_path, run_cli):
    # the bad-rows export: rejects, an unusual encoding and two files, in both orders of reading
    inputs = [BAD_ROWS_CSV, SAMPLE_CSV]
    forked = _csqa(tmp_path, "score", *inputs, "-o", tmp_path / "forked", "-q", "--role-map", "坐席=agent")
    assert forked.returncode == 0, forked.stderr
    inline = run_cli("score", *inputs, "-q", "--role-map", "坐席=agent", outdir=tmp_path / "inline")
    assert inline.exit_code == 0, (inline.stderr, inline.exception)
    for name in CSVS:
        assert (tmp_path / "forked" / name).read_bytes() == (tmp_path / "inline" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "forked" / "run.json").read_text(encoding="utf-8"))
    # this run did ingest in its child: the child's own time and peak, and how long the main process waited
    assert {"start-up", "setup", "ingest", "waiting for ingest"} <= set(manifest["timings_s"])
    assert manifest["peak_rss_mb"]["ingest (own process)"] > 0
    assert manifest["rows_rejected"] > 0
    assert manifest["rows_read"] == manifest["rows_scored"] + manifest["rows_rejected"]
    expected = inline.manifest()
    for key in ("inputs", "rows_read", "rows_scored", "rows_rejected", "conversations", "findings"):
        assert manifest[key] == expected[key], key
    # the run starts at the fork: the total covers the child's time as well as the main process's stages
    timings = manifest["timings_s"]
    assert timings["total"] >= timings["ingest"]
    assert timings["total"] >= timings["start-up"] + timings["setup"] + timings["waiting for ingest"] + timings["score"]
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("case", ["missing", "no_text_column", "bad_option"])
def test_input_errors_are_the_same_one_line_and_exit_code(tmp_path, run_cli, case):
    if case == "missing":
        args = [tmp_path / "nope.csv"]
    elif case == "no_text_column":
        bad = tmp_path / "bad.csv"
        bad.write_text("会话ID,时间,角色,客服\nc1,2024-01-01 10:00,顾客,a1\n", encoding="utf-8")
        args = [bad]
    else:  # a --map naming a field that does not exist: raised while reading, in the child
        args = [SAMPLE_CSV, "--map", "nonsense=聊天内容"]
    forked = _csqa(tmp_path, "score", *args, "-o", tmp_path / "forked", "-q")
    inline = run_cli("score", *args, "-q", outdir=tmp_path / "inline")
    assert inline.exit_code == 2, (inline.stderr, inline.exception)
    assert forked.returncode == 2, forked.stderr
    lines = forked.stderr.strip().splitlines()
    assert lines == inline.stderr.strip().splitlines() and len(lines) == 1 and lines[0].startswith("错误: ")
    assert "Traceback" not in forked.stderr + forked.stdout
    assert not (tmp_path / "forked").exists() or not (tmp_path / "forked" / "run.json").exists()
    assert _leftovers(tmp_path) == []


def test_debug_shows_the_childs_traceback(tmp_path):
    run = _csqa(tmp_path, "score", tmp_path / "nope.csv", "-o", tmp_path / "out", "--debug")
    assert run.returncode != 0
    assert "InputError" in run.stderr and "expand_paths" in run.stderr  # where the child raised it
    assert _leftovers(tmp_path) == []


def test_rulebook_error_comes_first_and_ends_the_child(tmp_path):
    # a bad rulebook is reported (as before: the setup comes before ingest) even though the input is
    # also missing; the child, already forked, is ended and its folder removed
    book = tmp_path / "book.yaml"
    book.write_text("id: x\nrules: [\n", encoding="utf-8")
    run = _csqa(tmp_path, "score", tmp_path / "nope.csv", "-o", tmp_path / "out", "--rulebook", book)
    assert run.returncode == 2
    assert str(book) in run.stderr and "YAML" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert _leftovers(tmp_path) == []


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_ends_the_child_and_removes_its_files(tmp_path, sample_rows):
    from conftest import write_rows

    header, rows = sample_rows
    big = write_rows(tmp_path / "big.csv", header, [[f"{r[0]}-{k}", *r[1:]] for k in range(10) for r in rows])
    out = tmp_path / f"out-{os.getpid()}"
    proc = _csqa(tmp_path, "score", big, "-o", out, "-q", "--workers", "2",
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        child = None
        while child is None and time.monotonic() < deadline:
            child = next(iter(_children(proc.pid)), None)
        assert child is not None, "the ingest child was not started"
        os.kill(child, signal.SIGSTOP)  # hold it mid-ingest: still running when Ctrl-C comes
        state = Path("/proc") / str(child) / "stat"
        while state.read_text().rsplit(")", 1)[1].split()[0] != "T" and time.monotonic() < deadline:
            time.sleep(0.01)  # (a signal is delivered asynchronously)
        # Ctrl-C once the main process has forked its workers (it is then at or near the wait)
        while len(_children(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "已中断 (interrupted)"
    time.sleep(0.2)
    left = _processes_mentioning(str(out))
    for pid in left:  # do not leave them behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert left == []
    assert _leftovers(tmp_path) == []


def test_parts_serve_the_same_batches_as_the_table(tmp_path):
    """Staging through Parquet parts (the child's way) gives the batches of staging in DuckDB."""
    from csqa.engines.staging import MessageStage
    from csqa.ingest.background import write_part
    from csqa.ingest import IngestOptions, iter_input_chunks

    parts = tmp_path / "parts"
    parts.mkdir()
    # small chunks: conversations cut across parts, a part per chunk
    chunks = [m for m, _, _ in iter_input_chunks([BAD_ROWS_CSV, SAMPLE_CSV], IngestOptions(chunk_rows=37))
              if len(m)]
    assert len(chunks) > 3
    with MessageStage() as table:
        for i, chunk in enumerate(chunks):
            table.add(chunk)
            write_part(chunk, parts / f"part-{i:06d}.parquet")
        expected = list(table.batches(7))
        count = table.conversation_count()
    with MessageStage.over_parts(parts) as staged:
        got = list(staged.batches(7))
        assert staged.conversation_count() == count
        with pytest.raises(RuntimeError):
            staged.add(chunks[0])
    assert len(got) == len(expected) > 1
    for a, b in zip(got, expected):
        pd.testing.assert_frame_equal(a, b)
    assert sorted(p.name for p in parts.iterdir()) == [f"part-{i:06d}.parquet" for i in range(len(chunks))]
    with MessageStage.over_parts(tmp_path / "empty") as nothing:
        assert nothing.conversation_count() == 0 and list(nothing.batches()) == []


def test_a_part_keeps_its_types_when_a_column_is_all_missing(tmp_path):
    from csqa.engines.staging import MessageStage
    from csqa.ingest.background import write_part

    frame = pd.DataFrame({
        "conversation_id": ["c1", "c1"], "timestamp": pd.to_datetime([None, None]), "role": ["agent", "customer"],
        "agent_id": [None, None], "text": ["您好", "在吗"], "source": ["x.csv", "x.csv"],
        "source_row": [2, 3], "seq": [0, 1]})
    write_part(frame, tmp_path / "part-000000.parquet")
    write_part(frame.assign(conversation_id="c2", seq=[2, 3], agent_id=["a", "b"],
                            timestamp=pd.to_datetime(["2024-01-01 10:00", None])), tmp_path / "part-000001.parquet")
    with MessageStage.over_parts(tmp_path) as stage:
        (batch,) = list(stage.batches(10))
    assert batch["conversation_id"].tolist() == ["c1", "c1", "c2", "c2"]
    assert batch["agent_id"].isna().tolist() == [True, True, False, False]
    assert str(batch["timestamp"].dtype) == "datetime64[ns]"


def test_an_error_comes_back_as_the_same_class_and_message():
    from csqa.core.errors import InputError
    from csqa.ingest.background import ChildTraceback, _describe, _rebuild

    try:
        raise InputError("a.csv", "文件没有数据行")
    except InputError as exc:
        original = exc
    again = _rebuild(_describe(original))
    assert type(again) is InputError and str(again) == str(original) and again.path == "a.csv"
    assert again.exit_code == 2
    assert isinstance(again.__cause__, ChildTraceback) and "InputError" in str(again.__cause__)


def test_not_forked_from_a_process_with_threads():
    """pytest has threads by now (numpy, DuckDB): the CLI then ingests in-process, the old way."""
    from csqa.ingest.background import BackgroundIngest, fork_is_safe

    import threading

    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert not fork_is_safe()
        assert BackgroundIngest.start([SAMPLE_CSV]) is None
    finally:
        stop.set()
        helper.join()
