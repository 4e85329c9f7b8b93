"""Fixtures of the desk's tests (imported by the tests/test_web_*.py modules).

`desk_template`: a real results store, scored by `csqa score` from
  - the sample's conversations of three agents (shop_小美, shop_小林, shop_阿峰) plus two conversations
    whose chat text and agent id hold HTML, script and formula-like text (masked run), and
  - one conversation with a phone number, scored with --no-mask (the store holds it unmasked),
the conversations of shop_小美 queued for the reviewer rev (`csqa sample --agent shop_小美 --reviewers rev`),
and the users: root (admin), boss (manager), rev (reviewer), mei (agent shop_小美), lin (agent shop_小林),
victim (reviewer, to be disabled). Every module copies it (`desk_store`) before its server holds it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import write_rows
from desk_helpers import DeskServer, make_users

AGENTS = ("shop_小美", "shop_小林", "shop_阿峰")
XSS_AGENT = 'shop_"><img src=x onerror=alert(3)>'
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
FORMULA = '=HYPERLINK("http://evil.example","点我")'
SVG = "</textarea><svg onload=alert(4)>"
JS_LINK = '<a href="javascript:alert(5)">领取优惠券</a> [点我](javascript:alert(6))'
PHONE = "13812345678"
USERS = [("root", "admin", None), ("boss", "manager", None), ("rev", "reviewer", None), ("mei", "agent", "shop_小美"),
         ("lin", "agent", "shop_小林"), ("victim", "reviewer", None)]


def xss_rows():
    t = "2026-11-05 10:00:"
    x1 = [("X-1", "顾客", "shop_小美", f"{SCRIPT}在吗"),
          ("X-1", "客服", "shop_小美", f"您好，我是客服小美 {IMG} 请问有什么可以帮您"),
          ("X-1", "顾客", "shop_小美", f"{FORMULA} @SUM(1+1)"),
          ("X-1", "客服", "shop_小美", f"这个不归我管，你去问快递吧{SCRIPT}"),
          ("X-1", "顾客", "shop_小美", SVG),
          ("X-1", "客服", "shop_小美", f"活动链接 {JS_LINK}"),
          ("X-1", "客服", "shop_小美", "还有其他可以帮您的吗？祝您生活愉快，再见")]
    x2 = [("X-2", "顾客", XSS_AGENT, "你好"), ("X-2", "客服", XSS_AGENT, f"您好 {IMG}"), ("X-2", "顾客", XSS_AGENT, "好的")]
    return [[cid, f"{t}{i:02d}", role, agent, text] for i, (cid, role, agent, text) in enumerate(x1 + x2)]


def pii_rows():
    t = "2026-11-06 09:00:"
    turns = [("顾客", f"我的手机号是{PHONE}，麻烦帮我改一下地址"), ("客服", "您好，我是客服小美，已经帮您备注好了"),
             ("顾客", "谢谢"), ("客服", "不客气，还有其他可以帮您的吗？再见")]
    return [["P-1", f"{t}{i:02d}", role, "shop_小美", text] for i, (role, text) in enumerate(turns)]


@pytest.fixture(scope="session")
def desk_template(tmp_path_factory, sample_rows, run_cli) -> Path:
    header, rows = sample_rows
    keep = [r for r in rows if r[3] in AGENTS]
    folder = tmp_path_factory.mktemp("desk_template")
    store = folder / "desk.duckdb"
    masked = write_rows(folder / "export.csv", header, keep + xss_rows())
    run = run_cli("score", masked, "--store", store, "-q", outdir=folder / "out1")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    plain = write_rows(folder / "pii.csv", header, pii_rows())
    run = run_cli("score", plain, "--store", store, "--no-mask", "-q", outdir=folder / "out2")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    # the review loop's queue: every conversation of shop_小美 for the reviewer rev (csqa sample)
    run = run_cli("sample", "--store", store, "--rate", "1", "--reviewers", "rev", "--agent", "shop_小美",
                  "--period", "all", "--seed", "1", outdir=folder / "queue.xlsx")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    make_users(store, USERS)
    return store


@pytest.fixture(scope="module")
def desk_store(desk_template, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("desk_store") / "desk.duckdb"
    shutil.copyfile(desk_template, copy)
    wal = desk_template.with_name(desk_template.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
    return copy


@pytest.fixture(scope="module")
def desk(desk_store, tmp_path_factory):
    """`csqa serve` on the module's store, on a free port of 127.0.0.1, stopped after the module."""
    server = DeskServer.start(desk_store, tmp_path_factory.mktemp("desk_server"))
    yield server
    server.stop()
    assert server.proc.returncode is not None


@pytest.fixture(scope="module")
def logged_in(desk):
    """A logged-in client per user name (made on first use)."""
    clients = {}

    def get(name: str):
        if name not in clients:
            c = desk.client()
            r = c.login(name)
            assert r.status == 303, (name, r.status, r.text[:300])
            clients[name] = c
        return clients[name]

    yield get
    for c in clients.values():
        c.close()
