"""csqa serve: chat text never runs (XSS over HTTP: what the server sends), and sessions end.

The store of desk_fixtures holds conversation X-1 (chat text with <script>, <img onerror>, an <svg
onload>, javascript: links and formula-like text) and X-2 (an agent id with HTML in it). Every page
that shows them is read as a manager and as the agent concerned; the hostile text must come back
escaped (shown, not run). The browser half (that nothing runs in chromium) is in test_web_browser.py.

Session expiry runs its own server with a 6-second idle timeout (`--session-minutes 0.1`).
"""
from __future__ import annotations

import html
import re
import shutil
import time
from urllib.parse import quote

import pytest

from desk_fixtures import (FORMULA, IMG, JS_LINK, SCRIPT, SVG, XSS_AGENT, desk, desk_store, desk_template,  # noqa: F401
                           logged_in)
from desk_helpers import DeskServer

HOSTILE = (SCRIPT, IMG, SVG, JS_LINK)
# what must never appear in a page as markup (lower-cased page text)
RAW = ("<script>alert", "<img src=x", "<svg onload", 'href="javascript:', "href='javascript:",
       "<a href=\"javascript", "</textarea><svg")


def _assert_inert(page: str) -> None:
    low = page.lower()
    for raw in RAW:
        assert raw not in low, raw
    # the only script element is the desk's own file
    assert re.findall(r"<script[^>]*>", low) == ['<script src="/static/desk.js" defer>']


def test_hostile_chat_text_is_escaped_on_the_conversation_page(desk, logged_in):  # noqa: F811
    for who in ("boss", "mei"):
        r = logged_in(who).get("/conversations/X-1")
        assert r.status == 200, (who, r.status)
        _assert_inert(r.text)
        # shown as text: each hostile string is in the page once unescaped, so it was sent escaped
        shown = html.unescape(r.text)
        for text in (*HOSTILE, FORMULA):
            assert text in shown, (who, text)


def test_an_agent_id_holding_html_is_escaped_everywhere_it_shows(desk, logged_in):  # noqa: F811
    boss = logged_in("boss")
    agent_path = "/agents/" + quote(XSS_AGENT, safe="")
    for path in ("/conversations/X-2", agent_path, "/overview", "/queue", "/precision"):
        r = boss.get(path)
        assert r.status == 200, (path, r.status)
        _assert_inert(r.text)
    overview = boss.get("/overview").text
    # the link to that agent's page is a quoted path, not markup
    assert 'href="/agents/' + quote(XSS_AGENT, safe="") + '"' in overview


def test_the_agents_own_lists_of_hostile_text_are_escaped(desk, logged_in):  # noqa: F811
    mei = logged_in("mei")
    for path in ("/appeals", "/agents/" + quote("shop_小美", safe=""), "/me"):
        r = mei.get(path)
        if r.status == 303:
            r = mei.get(r.location)
        assert r.status == 200, (path, r.status)
        _assert_inert(r.text)


def test_the_error_page_does_not_echo_a_hostile_path(desk, logged_in):  # noqa: F811
    r = logged_in("boss").get("/conversations/" + quote(SCRIPT, safe=""))
    assert r.status == 404
    _assert_inert(r.text)
    r = logged_in("mei").get("/agents/" + quote(IMG, safe=""))
    assert r.status == 403
    _assert_inert(r.text)


def test_the_login_page_does_not_reflect_a_hostile_user_name_or_next(desk):  # noqa: F811
    c = desk.client()
    r = c.get("/login?next=" + quote('/x"><script>alert(7)</script>', safe=""))
    _assert_inert(r.text)
    r = c.post("/login", {"username": SCRIPT, "password": "wrong password", "next": 'javascript:alert(8)'})
    assert r.status == 401
    _assert_inert(r.text)
    assert "javascript:alert(8)" not in r.text  # not a local path: dropped, not echoed


def test_hostile_comments_reasons_and_rulings_are_escaped_too(desk, logged_in):  # noqa: F811
    """What people type on the desk (a verdict's comment, a missed finding's comment, an appeal's reason, a
    ruling's comment) is shown escaped wherever it appears."""
    boss, mei = logged_in("boss"), logged_in("mei")
    page = boss.get("/conversations/X-1").text
    findings = re.findall(r'data-finding="([^"]+)"', page)
    assert len(findings) >= 2
    r = boss.post("/conversations/X-1/verdict", {"finding_id": findings[0], "verdict": "correct", "comment": SCRIPT})
    assert r.status == 303
    rule = re.search(r'<option value="([A-Z]+-\d+)"', page).group(1)
    r = boss.post("/conversations/X-1/missed", {"rule_id": rule, "message_index": "1", "comment": IMG})
    assert r.status == 303
    assert mei.get("/conversations/X-1").status == 200  # (the page, and its form's token)
    r = mei.post("/conversations/X-1/appeal", {"finding_id": findings[1], "reason": SVG})
    assert r.status == 303
    inbox = boss.get("/appeals").text
    _assert_inert(inbox)
    appeal_id = re.search(r'action="/appeals/(\d+)/ruling"', inbox).group(1)
    r = boss.post(f"/appeals/{appeal_id}/ruling", {"decision": "upheld", "comment": JS_LINK})
    assert r.status == 303
    for client, path in ((boss, "/conversations/X-1"), (mei, "/conversations/X-1"), (boss, "/appeals"),
                         (mei, "/appeals"), (logged_in("root"), "/admin/audit")):
        r = client.get(path)
        assert r.status == 200
        _assert_inert(r.text)
        shown = html.unescape(r.text)
        assert any(t in shown for t in (SCRIPT, IMG, SVG, JS_LINK)), path


def test_review_actions_need_the_csrf_token(desk, logged_in):  # noqa: F811
    boss = logged_in("boss")
    page = boss.get("/conversations/X-2").text
    finding = re.findall(r'data-finding="([^"]+)"', page)[0]
    for token in (None, "forged"):
        form = {"finding_id": finding, "verdict": "false_positive", "comment": "csrf probe"}
        if token:
            form["csrf_token"] = token
        r = boss.post("/conversations/X-2/verdict", form, csrf=token is not None)
        assert r.status == 403
    r = boss.post("/conversations/X-2/verdict", {"finding_id": finding, "verdict": "false_positive", "comment": "x"},
                  headers={"Origin": "http://evil.example"})
    assert r.status == 403
    assert "csrf probe" not in boss.get("/conversations/X-2").text
    assert "未复核" in boss.get("/conversations/X-2").text


# ---------------------------------------------------------------------------- sessions end
IDLE_S = 6.0


@pytest.fixture(scope="module")
def short_desk(desk_template, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("desk_short")
    store = folder / "desk.duckdb"
    shutil.copyfile(desk_template, store)
    wal = desk_template.with_name(desk_template.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, store.with_name(store.name + ".wal"))
    server = DeskServer.start(store, folder, "--session-minutes", str(IDLE_S / 60))
    yield server
    server.stop()


def test_a_session_slides_while_used_and_ends_when_idle(short_desk):
    c = short_desk.client()
    assert c.login("boss").status == 303
    token = c.cookies["csqa_session"]
    # used every second for longer than the idle timeout: still logged in (the timeout slides)
    started = time.monotonic()
    while time.monotonic() - started < IDLE_S + 3:
        assert c.get("/overview").status == 200
        time.sleep(1.0)
    csrf = c.csrf
    time.sleep(IDLE_S + 2.5)  # then left alone longer than the timeout
    r = c.get("/overview")
    assert r.status == 303 and r.location == "/login?next=%2Foverview"
    # a form posted from the page left open is refused and changes nothing
    r = c.post("/admin/users/victim/disable", {"csrf_token": csrf})
    assert r.status == 403 and "登录已过期" in r.text
    # the old cookie stays dead: logging in again gives a new token
    assert c.cookies.get("csqa_session") == token
    assert c.get("/overview").status == 303
    assert c.login("boss").status == 303 and c.cookies["csqa_session"] != token
    assert c.get("/overview").status == 200
    root = short_desk.client()
    assert root.login("root").status == 303
    assert "已停用" not in root.get("/admin/users").text  # the refused post disabled nobody
