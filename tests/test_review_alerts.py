"""Alerts (issue 17 part 10) against a real HTTP receiver on 127.0.0.1 that fails, recovers,
is slow, refuses or is down: every red-line conversation and serious complaint is delivered or
written to OUTDIR/alerts_undelivered.jsonl, with masked evidence; the run never fails for it."""
from __future__ import annotations

import json
import re
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from conftest import SAMPLE_CSV
from review_fixtures import scored  # noqa: F401 - fixture

from csqa.review.alerts import DEAD_LETTER, AlertOptions, send_alerts


class Receiver:
    """A webhook receiver: `plan` gives, per request number (0, 1, …), what to do: an HTTP status,
    ("slow", seconds) then 200, or ("reply", dict) with 200."""

    def __init__(self, plan):
        self.plan = plan
        self.bodies: list[dict] = []  # accepted
        self.requests = 0
        self.paths: list[str] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    n = outer.requests
                    outer.requests += 1
                    outer.paths.append(self.path)
                action = outer.plan(n)
                reply = {}
                if isinstance(action, tuple) and action[0] == "slow":
                    time.sleep(action[1])
                    action = 200
                elif isinstance(action, tuple) and action[0] == "reply":
                    reply, action = action[1], 200
                try:
                    self.send_response(action)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps(reply).encode())
                except OSError:
                    return  # (the client gave up: a timeout)
                if action == 200 and not reply.get("errcode"):
                    with lock:
                        outer.bodies.append(json.loads(body.decode("utf-8")))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _expected(outdir) -> set[str]:
    conv = pd.read_csv(outdir / "conversations.csv", dtype={"conversation_id": str}, encoding="utf-8-sig")
    return set(conv.loc[conv["critical"] | conv["complaint_severity"].eq("serious"), "conversation_id"])


def _no_personal_data(text: str) -> bool:
    return not re.search(r"1[3-9]\d{9}", text)


def test_score_sends_alerts_to_a_receiver_that_fails_then_recovers(run_cli, tmp_path):
    with Receiver(lambda n: 500 if n < 2 else 200) as receiver:
        run = run_cli("score", SAMPLE_CSV, "-q", "--no-mask", "--alert-webhook", receiver.url + "?access_token=SECRET",
                      "--alert-format", "dingtalk", "--alert-link", "https://desk.example/c/{conversation_id}",
                      outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr
    expected = _expected(tmp_path / "out")
    assert len(expected) >= 5
    assert receiver.requests == len(expected) + 2  # two failures, retried
    texts = [b["markdown"]["text"] for b in receiver.bodies]
    assert all(b["msgtype"] == "markdown" for b in receiver.bodies)
    ids = [re.search(r"会话 (\S+)", t).group(1) for t in texts]
    assert set(ids) == expected
    assert all("https://desk.example/c/" + cid in t for cid, t in zip(ids, texts))
    assert all(_no_personal_data(t) for t in texts)  # masked even though the run was --no-mask
    assert not (tmp_path / "out" / DEAD_LETTER).exists()


def _copy(scored, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(scored.outdir, out)
    return out


def test_a_receiver_that_is_down_leaves_every_alert_in_the_dead_letter_file(scored, tmp_path):
    out = _copy(scored, tmp_path)
    with Receiver(lambda n: 200) as receiver:
        url = receiver.url + "?token=SECRET"
    # (closed now: nothing listens on that port)
    result = send_alerts(out, AlertOptions(url, "json", timeout=1, retries=2, backoff=0.01, give_up_after=2))
    expected = _expected(out)
    assert (result.alerts, result.delivered, result.undelivered) == (len(expected), 0, len(expected))
    assert result.attempts == 2 * 3  # two alerts tried three times each, then the receiver counts as down
    rows = [json.loads(line) for line in (out / DEAD_LETTER).read_text(encoding="utf-8").splitlines()]
    assert {r["alert"]["conversation_id"] for r in rows} == expected
    assert all("SECRET" not in json.dumps(r) and r["url"].endswith("/hook") for r in rows)
    assert all(r["alert"]["rules"] and _no_personal_data(json.dumps(r, ensure_ascii=False)) for r in rows)


def test_a_slow_receiver_times_out_and_the_retry_gets_through(scored, tmp_path):
    out = _copy(scored, tmp_path)
    with Receiver(lambda n: ("slow", 1.5) if n == 0 else 200) as receiver:
        result = send_alerts(out, AlertOptions(receiver.url, "wecom", timeout=0.3, retries=2, backoff=0.01))
    n = len(_expected(out))
    assert (result.delivered, result.undelivered, result.attempts) == (n, 0, n + 1)
    assert all(b["msgtype"] == "markdown" and "质检告警" in b["markdown"]["content"] for b in receiver.bodies)


def test_refusals_and_error_codes_are_dead_lettered(scored, tmp_path):
    out = _copy(scored, tmp_path)
    with Receiver(lambda n: 400) as receiver:  # refused: not retried
        refused = send_alerts(out, AlertOptions(receiver.url, "json", retries=3, backoff=0.01, give_up_after=99))
    n = len(_expected(out))
    assert (refused.undelivered, refused.attempts) == (n, n)
    assert "HTTP 400" in (out / DEAD_LETTER).read_text(encoding="utf-8")
    with Receiver(lambda n: ("reply", {"code": 19001, "msg": "bad token"})) as receiver:  # feishu says no
        coded = send_alerts(out, AlertOptions(receiver.url, "feishu", retries=1, backoff=0.01, give_up_after=1))
    assert coded.delivered == 0 and coded.attempts == 2 and "19001" in coded.errors[0]


def test_bad_webhook_is_refused_before_the_run(run_cli, tmp_path):
    run = run_cli("score", SAMPLE_CSV, "-q", "--alert-webhook", "ftp://x/y", outdir=tmp_path / "out")
    assert run.exit_code == 2 and "http" in run.stderr and not (tmp_path / "out").exists()
