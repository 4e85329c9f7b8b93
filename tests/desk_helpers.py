"""Helpers for the desk's tests (csqa serve): a real server process on 127.0.0.1, and a small HTTP client
that keeps its cookies and reads the CSRF token from the pages (standard library only, keep-alive).

`DeskServer.start(store, …)` runs `csqa serve --store STORE --port 0` as a process of its own (own
process group), reads the URL from its start line and `stop()` ends it with SIGTERM (SIGKILL for the
group if it does not end), so no process outlives a test. `make_users(store, …)` adds users through
the real accounts functions while no server holds the store.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse 9"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')
START_LINE = re.compile(r"(https?://[^\s/]+)/")

CLI = "import sys; from csqa.cli import main; sys.argv[0] = 'csqa'; main()"


def csqa_env(tmp: Path | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return env


def make_users(store: Path, users: list[tuple[str, str, str | None]], password: str = PASSWORD) -> None:
    """users: (name, role, agent_id) each, added in one transaction."""
    from csqa.web import accounts
    from csqa.web.db import open_store

    with open_store(store) as rs, accounts.transaction(rs.con):
        for name, role, agent_id in users:
            accounts.add_user(rs.con, name, role, password, agent_id, actor="test")


class DeskServer:
    def __init__(self, proc: subprocess.Popen, url: str, log: Path):
        self.proc, self.url, self.log = proc, url, log
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port

    @classmethod
    def start(cls, store: Path, workdir: Path, *extra: str, timeout: float = 60.0) -> "DeskServer":
        out, err = workdir / "serve.out", workdir / "serve.err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen([sys.executable, "-c", CLI, "serve", "--store", str(store), "--port", "0", *extra],
                                    stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=csqa_env(),
                                    start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = out.read_text(encoding="utf-8", errors="replace")
            found = START_LINE.search(text)
            if found:
                return cls(proc, found.group(1), err)
            if proc.poll() is not None:
                raise RuntimeError(f"csqa serve ended ({proc.returncode}): {err.read_text(encoding='utf-8', errors='replace')}")
            time.sleep(0.05)
        cls(proc, "http://127.0.0.1:1", err).stop()
        raise RuntimeError("csqa serve did not start in time")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        try:  # anything left in its process group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.proc.returncode

    def client(self) -> "Client":
        return Client(self.host, self.port)


class Response:
    def __init__(self, status: int, headers: dict, body: bytes, set_cookies: list[str] | None = None):
        self.status, self.headers, self.body = status, headers, body
        self.set_cookies = set_cookies or []  # every Set-Cookie header (headers keeps only the last)

    def set_cookie(self, name: str) -> str | None:
        """The Set-Cookie header that sets `name`."""
        return next((h for h in self.set_cookies if h.split("=", 1)[0].strip() == name), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def location(self) -> str | None:
        return self.headers.get("location")

    def csrf(self) -> str | None:
        found = CSRF_FIELD.search(self.text)
        return found.group(1) if found else None


class Client:
    """One browser-like user: cookies kept, CSRF token taken from the last page that had one."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None,
                body: bytes | None = None) -> Response:
        hdrs = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urlencode(form).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if body is not None or method == "POST":
            hdrs["Content-Length"] = str(len(body or b""))
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # a kept-alive connection the server closed meanwhile: once more on a new one
                if attempt == 2:
                    raise
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                if "max-age=0" in value.lower() or 'expires=thu, 01 jan 1970' in value.lower() or val in ('""', ""):
                    self.cookies.pop(key.strip(), None)
                else:
                    self.cookies[key.strip()] = val.strip()
        out = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data,
                       [v for k, v in resp.getheaders() if k.lower() == "set-cookie"])
        token = out.csrf() if "text/html" in out.headers.get("content-type", "") else None
        if token:
            self.csrf = token
        return out

    def get(self, path: str, **kw) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, form: dict | None = None, csrf: bool = True, **kw) -> Response:
        form = dict(form or {})
        if csrf and "csrf_token" not in form:
            form["csrf_token"] = self.csrf or ""
        return self.request("POST", path, form=form, **kw)

    def login(self, username: str, password: str = PASSWORD) -> Response:
        self.get("/login")
        return self.post("/login", {"username": username, "password": password})
