"""csqa serve over HTTP: a real server process on 127.0.0.1 (desk_fixtures.desk), real store, real users.

The authorization matrix (every role × every route and action, from the table below), CSRF, what an
agent may never see, masking and the audited unmask, security headers, the start line and binding.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import duckdb
import pytest

from desk_fixtures import PHONE, USERS, desk, desk_store, desk_template, logged_in  # noqa: F401 - fixtures
from desk_helpers import PASSWORD


@pytest.fixture(scope="module")
def ids(desk_template):
    """Conversation ids of the template store (read before any server holds a copy)."""
    con = duckdb.connect(str(desk_template), read_only=True)
    try:
        def one(sql):
            row = con.execute(sql).fetchone()
            assert row, sql
            return row[0]

        out = {
            "mei_own": one("SELECT conversation_id FROM conversations WHERE agent_id = 'shop_小美' AND agents = 'shop_小美' "
                           "AND conversation_id LIKE 'S%' AND n_findings >= 1 ORDER BY conversation_id LIMIT 1"),
            "lin_own": one("SELECT conversation_id FROM conversations WHERE agent_id = 'shop_小林' AND agents = 'shop_小林' "
                           "AND n_findings >= 1 ORDER BY conversation_id LIMIT 1"),
            "shared": one("SELECT conversation_id FROM conversations WHERE agent_id = 'shop_小美' AND agents LIKE '%shop_小林%' "
                          "ORDER BY conversation_id LIMIT 1"),
        }
        for who in ("mei", "lin"):
            fid, rule = con.execute("SELECT finding_id, rule_id FROM findings WHERE conversation_id = ? AND points > 0 "
                                    "ORDER BY finding_index LIMIT 1", [out[f"{who}_own"]]).fetchone()
            out[f"{who}_finding"], out[f"{who}_rule"] = fid, rule
        out["lin_texts"] = [r[0] for r in con.execute(
            "SELECT text FROM messages WHERE conversation_id = ? AND length(text) >= 6 ORDER BY message_index",
            [out["lin_own"]]).fetchall()]
        out["candidates"] = [r[0] for r in con.execute(
            "SELECT conversation_id FROM conversations WHERE critical OR complaint_severity = 'serious'").fetchall()]
        out["lin_score"] = con.execute("SELECT score FROM conversations WHERE conversation_id = ?",
                                       [out["lin_own"]]).fetchone()[0]
    finally:
        con.close()
    return out


# ---------------------------------------------------------------------------- the authorization matrix
# who:        anonymous, root (admin), boss (manager), rev (reviewer), mei (agent shop_小美), lin (agent shop_小林)
WHO = ("anon", "root", "boss", "rev", "mei", "lin")
MATRIX = [
    # method, path ({…} from `ids`), expected status for each of WHO
    ("GET", "/", (303, 303, 303, 303, 303, 303)),
    ("GET", "/overview", (303, 200, 200, 403, 403, 403)),
    ("GET", "/conversations/{mei_own}", (303, 200, 200, 200, 200, 404)),  # rev: in his queue
    ("GET", "/conversations/{lin_own}", (303, 200, 200, 404, 404, 200)),  # rev: not in his queue
    ("GET", "/conversations/{shared}", (303, 200, 200, 200, 200, 200)),  # lin helped in mei's conversation
    ("GET", "/conversations/NO-SUCH-ID", (303, 404, 404, 404, 404, 404)),
    ("GET", "/agents/shop_小美", (303, 200, 200, 403, 200, 403)),
    ("GET", "/agents/shop_小林", (303, 200, 200, 403, 403, 200)),
    ("GET", "/agents/NO-SUCH-AGENT", (303, 404, 404, 403, 403, 403)),
    ("GET", "/me", (303, 403, 403, 403, 303, 303)),
    ("GET", "/queue", (303, 200, 200, 200, 403, 403)),
    ("GET", "/appeals", (303, 200, 200, 403, 200, 200)),
    ("GET", "/precision", (303, 200, 200, 403, 403, 403)),
    ("GET", "/admin/users", (303, 200, 403, 403, 403, 403)),
    ("GET", "/admin/audit", (303, 200, 403, 403, 403, 403)),
    ("GET", "/static/desk.css", (200, 200, 200, 200, 200, 200)),
    ("GET", "/logout", (405, 405, 405, 405, 405, 405)),  # state changes by POST only
    ("POST", "/conversations/{mei_own}/unmask", (403, 200, 200, 403, 403, 403)),
    ("POST", "/conversations/{lin_own}/unmask", (403, 200, 200, 403, 403, 403)),
    # the review loop: verdicts and missed findings by reviewers (their queue) and managers; appeals by the
    # conversation's agent; rulings by managers (appeal 999999 does not exist: 404 for a manager)
    ("POST", "/conversations/{mei_own}/verdict", (403, 403, 303, 303, 403, 403)),
    ("POST", "/conversations/{lin_own}/verdict", (403, 403, 303, 404, 403, 403)),
    ("POST", "/conversations/{mei_own}/missed", (403, 403, 303, 303, 403, 403)),
    ("POST", "/conversations/{lin_own}/missed", (403, 403, 303, 404, 403, 403)),
    ("POST", "/conversations/{mei_own}/appeal", (403, 403, 403, 403, 303, 404)),
    ("POST", "/conversations/{lin_own}/appeal", (403, 403, 403, 403, 404, 303)),
    ("POST", "/appeals/999999/ruling", (403, 403, 404, 403, 403, 403)),
    ("POST", "/queue/sample", (403, 403, 200, 403, 403, 403)),  # shop_阿峰's conversations for victim
    ("GET", "/appeals/999999/ruling", (405, 405, 405, 405, 405, 405)),
    ("POST", "/admin/users", (403, 303, 403, 403, 403, 403)),  # add a user "new_<who>"
    ("POST", "/admin/users/victim/disable", (403, 303, 403, 403, 403, 403)),
    ("POST", "/admin/users/victim/enable", (403, 303, 403, 403, 403, 403)),
]
CASES = [(method, path, who, expected[i]) for method, path, expected in MATRIX for i, who in enumerate(WHO)]


def _client(who, desk, logged_in):  # noqa: F811
    if who == "anon":
        c = desk.client()
        c.get("/login")  # a login page's token is not a session's: POSTs must still fail
        return c
    return logged_in(who)


@pytest.mark.parametrize("method, path, who, expected", CASES, ids=[f"{w}-{m}-{p}" for m, p, w, _ in CASES])
def test_authorization_matrix(method, path, who, expected, desk, logged_in, ids):  # noqa: F811
    client = _client(who, desk, logged_in)
    url = path.format(**{k: quote(v, safe="") for k, v in ids.items() if isinstance(v, str)})
    url = quote(url, safe="/%")
    if method == "GET":
        r = client.get(url)
    elif url == "/admin/users":
        r = client.post(url, {"username": f"new_{who}", "role": "reviewer", "agent_id": "",
                              "password": PASSWORD, "password_again": PASSWORD})
    elif url.endswith(("/verdict", "/appeal")):
        own = "mei" if "{mei_own}" in path else "lin"
        r = client.post(url, {"finding_id": ids[f"{own}_finding"], "verdict": "correct", "comment": f"matrix {who}",
                              "reason": f"matrix {who}"})
    elif url.endswith("/missed"):
        own = "mei" if "{mei_own}" in path else "lin"
        r = client.post(url, {"rule_id": ids[f"{own}_rule"], "message_index": "0", "comment": f"matrix {who}"})
    elif url == "/queue/sample":
        r = client.post(url, {"reviewers": "victim", "rate": "1", "agent": "shop_阿峰", "seed": "3", "min_per_agent": "0",
                              "calibration": "0"})
    elif url.endswith("/ruling"):
        r = client.post(url, {"decision": "overturned", "comment": f"matrix {who}"})
    else:
        r = client.post(url)
    assert r.status == expected, (who, method, url, r.status, r.text[:400])
    if r.status == 303 and who == "anon":
        assert r.location.startswith("/login?next=")


def test_only_the_admin_added_a_user(desk, logged_in):  # noqa: F811
    page = logged_in("root").get("/admin/users").text
    assert "new_root" in page
    for who in WHO[2:] + ("anon",):
        assert f"new_{who}" not in page


def test_only_the_allowed_gave_verdicts_appealed_or_ruled(desk, logged_in, ids):  # noqa: F811
    """After the matrix: the review loop's audit trail holds the verdicts and missed findings of boss and rev
    only, and the appeals of mei and lin on their own conversations only; nobody ruled."""
    trail = logged_in("root").get("/admin/audit").text.split('id="review-audit"')[1]
    for who in ("boss", "rev"):
        assert f"matrix {who}" in trail
    for who in ("anon", "root"):
        assert f"matrix {who}" not in trail
    inbox = logged_in("boss").get("/appeals").text
    opened = inbox.split('id="appeals-inbox"')[1].split("</table>")[0]
    assert "matrix mei" in opened and "matrix lin" in opened
    for who in ("anon", "root", "boss", "rev"):
        assert f"matrix {who}" not in opened
    assert ids["mei_own"] in opened and ids["lin_own"] in opened
    ruled = inbox.split('id="appeals-ruled"')[1].split("</table>")[0]
    assert "matrix" not in ruled
    # each agent sees their own appeal, not the other's
    assert "matrix mei" in logged_in("mei").get("/appeals").text
    assert "matrix lin" not in logged_in("mei").get("/appeals").text


def test_an_agent_never_sees_another_agents_conversation(desk, logged_in, ids):  # noqa: F811
    mei = logged_in("mei")
    for path in (f"/conversations/{quote(ids['lin_own'], safe='')}",
                 f"/conversations/{quote(ids['lin_own'], safe='')}/",
                 f"/conversations/{quote(ids['lin_own'], safe='')}?unmask=1"):
        r = mei.get(path)
        assert r.status == 404
        assert ids["lin_own"] not in r.text
        for text in ids["lin_texts"]:
            assert text not in r.text
    # nor through the lists of her own pages
    for path in ("/me", "/agents/shop_%E5%B0%8F%E7%BE%8E", "/appeals"):
        r = mei.get(path)
        assert ids["lin_own"] not in r.text
    # the conversation she helped in is listed on lin's page as a helper's (协助)
    lin_page = logged_in("lin").get("/agents/shop_%E5%B0%8F%E6%9E%97").text
    assert ids["shared"] in lin_page and "协助" in lin_page


# ---------------------------------------------------------------------------- CSRF
def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(desk, logged_in):  # noqa: F811
    root, boss = logged_in("root"), logged_in("boss")
    form = {"username": "csrf_victim", "role": "admin", "agent_id": "", "password": PASSWORD, "password_again": PASSWORD}
    assert root.post("/admin/users", dict(form), csrf=False).status == 403
    assert root.post("/admin/users", {**form, "csrf_token": "not-the-token"}).status == 403
    assert root.post("/admin/users", {**form, "csrf_token": boss.csrf}).status == 403  # another session's token
    assert root.post("/admin/users", {**form, "csrf_token": ""}).status == 403
    # the right token from another site (the browser says where the form was)
    assert root.post("/admin/users", dict(form), headers={"Origin": "http://evil.example"}).status == 403
    assert "csrf_victim" not in root.get("/admin/users").text
    # logging out needs the token too: without it the session lives on
    assert boss.post("/logout", csrf=False).status == 403
    assert boss.get("/overview").status == 200
    # the header works as well as the form field
    r = root.request("POST", "/admin/users/victim/disable", form={}, headers={"X-CSRF-Token": root.csrf})
    assert r.status == 303
    assert root.post("/admin/users/victim/enable").status == 303


def test_unmask_without_csrf_is_refused_and_not_audited(desk, logged_in):  # noqa: F811
    boss, root = logged_in("boss"), logged_in("root")
    before = root.get("/admin/audit").text.count("conversation_unmasked")
    r = boss.post("/conversations/P-1/unmask", csrf=False)
    assert r.status == 403 and PHONE not in r.text
    r = boss.post("/conversations/P-1/unmask", {"csrf_token": "forged"})
    assert r.status == 403 and PHONE not in r.text
    assert root.get("/admin/audit").text.count("conversation_unmasked") == before


def test_the_login_form_has_its_own_csrf_token(desk):  # noqa: F811
    c = desk.client()
    c.get("/login")
    r = c.post("/login", {"username": "boss", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status == 403 and "csqa_session" not in c.cookies
    c2 = desk.client()  # no login page first: no login cookie
    r = c2.request("POST", "/login", form={"username": "boss", "password": PASSWORD, "csrf_token": "x"})
    assert r.status == 403 and "csqa_session" not in c2.cookies


def test_an_oversized_or_odd_post_is_refused(desk, logged_in):  # noqa: F811
    root = logged_in("root")
    r = root.post("/admin/users", {"username": "big", "role": "admin", "password": "x" * 70_000, "password_again": ""})
    assert r.status == 413
    r = root.request("POST", "/admin/users", body=b'{"username": "j"}',
                     headers={"Content-Type": "application/json", "X-CSRF-Token": root.csrf})
    assert r.status == 415
    users = root.get("/admin/users").text.split("<tbody>")[1].split("</tbody>")[0]
    # no user row for "big" (a row is <tr id="u-NAME"><td>NAME</td>…; the page's random CSRF tokens may hold any letters)
    assert 'id="u-big"' not in users and "<td>big</td>" not in users
    assert 'id="u-lin"' in users  # (the check reads real rows)


# ---------------------------------------------------------------------------- sessions and login
def test_login_logout_and_a_new_session_token_each_time(desk):  # noqa: F811
    c = desk.client()
    assert c.login("boss", "wrong password").status == 401
    assert "csqa_session" not in c.cookies
    r = c.login("boss")
    assert r.status == 303 and r.location == "/overview"
    first = c.cookies["csqa_session"]
    header = r.set_cookie("csqa_session").lower()
    assert "httponly" in header and "samesite=strict" in header and "secure" not in header  # loopback: plain http
    assert c.get("/overview").status == 200
    r = c.post("/logout")
    assert r.status == 303 and "csqa_session" not in c.cookies
    stale = desk.client()
    stale.cookies["csqa_session"] = first
    assert stale.get("/overview").status == 303  # the old token is gone on the server, not just in the browser
    c.login("boss")
    assert c.cookies["csqa_session"] != first


def test_login_goes_back_to_the_page_asked_for_and_never_off_site(desk):  # noqa: F811
    c = desk.client()
    r = c.get("/precision")
    assert r.status == 303 and r.location == "/login?next=%2Fprecision"
    c.get(r.location)
    r = c.post("/login", {"username": "boss", "password": PASSWORD, "next": "/precision"})
    assert r.location == "/precision"
    c2 = desk.client()
    c2.get("/login")
    r = c2.post("/login", {"username": "boss", "password": PASSWORD, "next": "//evil.example/x"})
    assert r.location == "/overview"


def test_a_disabled_user_cannot_log_in_and_loses_their_session(desk, logged_in):  # noqa: F811
    victim = desk.client()
    assert victim.login("victim").status == 303
    assert victim.get("/queue").status == 200
    root = logged_in("root")
    assert root.post("/admin/users/victim/disable").status == 303
    assert victim.get("/queue").status == 303  # back to the login page
    assert desk.client().login("victim").status == 401
    assert root.post("/admin/users/victim/enable").status == 303
    assert desk.client().login("victim").status == 303


def test_admin_adds_a_user_on_the_page_who_can_then_log_in(desk, logged_in):  # noqa: F811
    root = logged_in("root")
    r = root.post("/admin/users", {"username": "xiaofang", "role": "agent", "agent_id": "shop_阿峰",
                                   "password": PASSWORD, "password_again": PASSWORD})
    assert r.status == 303
    bad = root.post("/admin/users", {"username": "nobody", "role": "agent", "agent_id": "",
                                     "password": PASSWORD, "password_again": PASSWORD})
    assert bad.status == 400 and "agent-id" in bad.text
    differ = root.post("/admin/users", {"username": "typo", "role": "manager", "agent_id": "",
                                        "password": PASSWORD, "password_again": PASSWORD + "x"})
    assert differ.status == 400 and "不一致" in differ.text
    c = desk.client()
    r = c.login("xiaofang")
    assert r.status == 303 and r.location == "/agents/shop_%E9%98%BF%E5%B3%B0"
    assert c.get(r.location).status == 200
    audit = root.get("/admin/audit").text
    assert "user_added" in audit and "xiaofang" in audit


# ---------------------------------------------------------------------------- masking and the audited unmask
def test_personal_data_is_masked_unless_a_manager_unmasks_and_that_is_audited(desk, logged_in):  # noqa: F811
    boss, mei, root = logged_in("boss"), logged_in("mei"), logged_in("root")
    page = boss.get("/conversations/P-1")
    assert page.status == 200
    assert PHONE not in page.text and "138****5678" in page.text  # stored unmasked (--no-mask), shown masked
    assert mei.get("/conversations/P-1").status == 200 and PHONE not in mei.get("/conversations/P-1").text
    assert mei.post("/conversations/P-1/unmask").status == 403
    r = boss.post("/conversations/P-1/unmask")
    assert r.status == 200 and PHONE in r.text and "审计" in r.text
    assert r.headers["cache-control"] == "no-store"
    assert PHONE not in boss.get("/conversations/P-1").text  # one look, not a mode
    audit = root.get("/admin/audit").text
    assert "conversation_unmasked" in audit and "P-1" in audit and "boss" in audit


def test_a_masked_run_cannot_be_unmasked_and_nothing_is_audited(desk, logged_in, ids):  # noqa: F811
    boss = logged_in("boss")
    before = logged_in("root").get("/admin/audit").text.count("conversation_unmasked")
    r = boss.post(f"/conversations/{quote(ids['mei_own'], safe='')}/unmask")
    assert r.status == 200 and "无法还原" in r.text
    assert logged_in("root").get("/admin/audit").text.count("conversation_unmasked") == before


# ---------------------------------------------------------------------------- pages and headers
def test_pages_show_the_store(desk, logged_in, ids):  # noqa: F811
    boss = logged_in("boss")
    overview = boss.get("/overview").text
    for agent in ("shop_小美", "shop_小林", "shop_阿峰"):
        assert agent in overview
    conv = boss.get(f"/conversations/{quote(ids['lin_own'], safe='')}").text
    assert f"{ids['lin_score']:.2f}" in conv and "扣分明细" in conv and "100 −" in conv
    assert any(t in conv for t in ids["lin_texts"][:3] if "<" not in t and "&" not in t)
    precision = boss.get("/precision").text
    assert "CLOSE-001" in precision
    queue = boss.get("/queue").text
    assert ids["candidates"] and all(cid in queue for cid in ids["candidates"])  # red lines, serious complaints
    assert ids["mei_own"] in queue and ids["lin_own"] not in queue  # queued for rev (csqa sample --agent shop_小美)
    rev_queue = logged_in("rev").get("/queue").text
    assert ids["mei_own"] in rev_queue and ids["lin_own"] not in rev_queue


def test_security_headers_on_every_page(desk, logged_in):  # noqa: F811
    for r in (desk.client().get("/login"), logged_in("boss").get("/overview"), desk.client().get("/nope")):
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        assert "server" not in r.headers
    assert desk.client().get("/static/../accounts.py").status == 404


def test_a_foreign_host_name_is_refused_on_loopback(desk):  # noqa: F811
    """DNS rebinding: a page of another site whose name resolves to 127.0.0.1 gets nothing."""
    c = desk.client()
    assert c.get("/login", headers={"Host": "evil.example"}).status == 400
    assert c.get("/login").status == 200


def test_start_line_says_it_listens_on_loopback_only(desk):  # noqa: F811
    text = (desk.log.parent / "serve.out").read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("csqa 质检台已启动: http://127.0.0.1:") and "只接受本机访问" in first
    # the kernel's view: the listening socket is bound to 127.0.0.1, not to every address
    port_hex = f"{desk.port:04X}"
    listening = [line.split() for line in open("/proc/net/tcp").read().splitlines()[1:]]
    mine = [cols[1] for cols in listening if cols[1].endswith(":" + port_hex) and cols[3] == "0A"]
    assert mine == ["0100007F:" + port_hex]


def test_a_manager_samples_on_the_page_and_the_reviewer_finds_it_in_the_queue(desk, logged_in):  # noqa: F811
    """(after the matrix, whose manager sampled shop_阿峰's conversations for victim)"""
    boss = logged_in("boss")
    queue = boss.get("/queue").text
    table = queue.split('id="queue"')[1].split("</table>")[0]
    assert "victim" in table and "shop_阿峰" in table
    victim = desk.client()
    assert victim.login("victim").status == 303
    mine = victim.get("/queue").text
    links = re.findall(r'<a href="(/conversations/[^"]+)">', mine.split('id="queue"')[1])
    assert links
    assert victim.get(links[0]).status == 200
    assert "shop_阿峰" in victim.get(links[0]).text
    # sampling again queues nothing twice; a name that is no reviewer is refused, nothing queued
    again = boss.post("/queue/sample", {"reviewers": "victim", "rate": "1", "agent": "shop_阿峰"})
    assert again.status == 200
    after = boss.get("/queue").text.split('id="queue"')[1].split("</table>")[0]
    assert after.count("victim") == table.count("victim")
    bad = boss.post("/queue/sample", {"reviewers": "mei", "rate": "1"})
    assert bad.status == 400 and "不是可用的复核员账号" in bad.text
    bad = boss.post("/queue/sample", {"reviewers": "victim", "rate": "2"})
    assert bad.status == 400
    trail = logged_in("root").get("/admin/audit").text
    assert "web_sample" in trail
