"""A bounded load test of csqa serve on 127.0.0.1: 20 reviewers at once, each logged in with a session of
their own, open the conversations of their queue and post verdicts (正确 / 误报 by turns, each post a change)
for LOAD_SECONDS (30 s; CSQA_DESK_LOAD_SECONDS overrides), reading pages between posts.

Asserted: no error (every post answered 303, every page 200), and — read from the store after the server
stopped — no lost and no duplicated verdict: each reviewer's recorded verdicts, finding by finding and in
order, are exactly the ones they posted. Printed, not asserted: the request count and p50/p95/max latency
(speed belongs to benchmarks, and this machine is shared).
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import threading
import time

import duckdb
import pytest

from desk_fixtures import desk_template  # noqa: F401 - fixture
from desk_helpers import DeskServer, make_users

REVIEWERS = [f"load{i:02d}" for i in range(1, 21)]
LOAD_SECONDS = float(os.environ.get("CSQA_DESK_LOAD_SECONDS", "30"))
FINDING_ROW = re.compile(r'<tr class="sev-[^"]*" id="f\d+" data-finding="([^"]+)"')
QUEUE_LINK = re.compile(r'<a href="(/conversations/[^"]+)">')


@pytest.fixture(scope="module")
def load_desk(desk_template, tmp_path_factory, run_cli):  # noqa: F811
    folder = tmp_path_factory.mktemp("desk_load")
    store = folder / "desk.duckdb"
    shutil.copyfile(desk_template, store)
    wal = desk_template.with_name(desk_template.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, store.with_name(store.name + ".wal"))
    make_users(store, [(name, "reviewer", None) for name in REVIEWERS])
    # every conversation not queued yet, split over the 20 reviewers (the review loop's own sampling)
    run = run_cli("sample", "--store", store, "--rate", "1", "--reviewers", ",".join(REVIEWERS), "--period", "all",
                  "--seed", "7", outdir=folder / "queue.xlsx")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    server = DeskServer.start(store, folder)
    yield server, store
    server.stop()


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def test_twenty_reviewers_post_verdicts_at_once_nothing_lost_or_doubled(load_desk):
    server, store = load_desk
    posted: dict[str, list[tuple[str, str]]] = {name: [] for name in REVIEWERS}  # (finding, verdict) in order
    post_ms: list[float] = []
    get_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(REVIEWERS) + 1)

    def reviewer(name: str) -> None:
        client = server.client()
        try:
            r = client.login(name)
            if r.status != 303:
                raise AssertionError(f"login {r.status}")
            pages = QUEUE_LINK.findall(client.get("/queue").text)
            work = []  # (page, finding)
            for page in dict.fromkeys(pages):
                r = client.get(page)
                if r.status != 200:
                    raise AssertionError(f"GET {page}: {r.status}")
                work += [(page, fid) for fid in FINDING_ROW.findall(r.text)]
            if not work:
                raise AssertionError("no findings in the queue")
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            with lock:
                errors.append(f"{name}: {exc}")
            ready.wait()
            return
        ready.wait()
        last: dict[str, str] = {}
        i = 0
        deadline = time.monotonic() + LOAD_SECONDS
        try:
            while time.monotonic() < deadline:
                page, fid = work[i % len(work)]
                i += 1
                verdict = "false_positive" if last.get(fid) == "correct" else "correct"
                t = time.perf_counter()
                r = client.post(page + "/verdict", {"finding_id": fid, "verdict": verdict, "comment": f"{name} {i}"})
                took = 1000 * (time.perf_counter() - t)
                if r.status != 303:
                    raise AssertionError(f"POST {page}/verdict: {r.status} {r.text[:200]}")
                last[fid] = verdict
                with lock:
                    posted[name].append((fid, verdict))
                    post_ms.append(took)
                t = time.perf_counter()
                r = client.get(page)  # the page after the post, as a browser would load it
                took = 1000 * (time.perf_counter() - t)
                if r.status != 200:
                    raise AssertionError(f"GET {page}: {r.status}")
                with lock:
                    get_ms.append(took)
        except Exception as exc:  # noqa: BLE001
            with lock:
                errors.append(f"{name}: {exc}")
        finally:
            client.close()

    threads = [threading.Thread(target=reviewer, args=(name,), daemon=True) for name in REVIEWERS]
    for t in threads:
        t.start()
    ready.wait()
    started = time.monotonic()
    for t in threads:
        t.join(timeout=LOAD_SECONDS + 300)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), "a reviewer thread did not finish"
    assert errors == []
    n_posts = sum(len(v) for v in posted.values())
    print(f"\ncsqa serve under load: {len(REVIEWERS)} reviewers, {elapsed:.1f} s, {n_posts} verdicts posted "
          f"({n_posts / elapsed:.1f}/s), {len(get_ms)} pages read; POST verdict p50 {_percentile(post_ms, 0.5):.0f} ms, "
          f"p95 {_percentile(post_ms, 0.95):.0f} ms, max {max(post_ms):.0f} ms; GET page p50 "
          f"{_percentile(get_ms, 0.5):.0f} ms, p95 {_percentile(get_ms, 0.95):.0f} ms "
          f"(mean {statistics.mean(get_ms):.0f} ms)")
    assert all(posted[name] for name in REVIEWERS), {k: len(v) for k, v in posted.items()}

    # the store, read after the server stopped: each reviewer's verdicts exactly as posted, in order
    assert server.stop() is not None
    con = duckdb.connect(str(store), read_only=True)
    try:
        for name in REVIEWERS:
            recorded = [(r[0], r[1]) for r in con.execute(
                "SELECT finding_id, verdict FROM review_verdicts WHERE reviewer = ? ORDER BY event_id", [name]).fetchall()]
            assert recorded == posted[name], (name, len(recorded), len(posted[name]))
        # and every verdict moved the human score it records from the one before (one writer, in order)
        broken = con.execute("""
            SELECT count(*) FROM (
                SELECT conversation_id, human_score_before,
                       lag(human_score_after) OVER (PARTITION BY conversation_id ORDER BY event_id) AS previous
                FROM review_verdicts WHERE reviewer LIKE 'load%')
            WHERE previous IS NOT NULL AND human_score_before IS DISTINCT FROM previous""").fetchone()[0]
        assert broken == 0
    finally:
        con.close()
