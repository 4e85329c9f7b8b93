"""Who is asking, and may they: the session cookie, CSRF tokens, roles, and the responses that say no.

Every page handler is wrapped by `guarded(*roles)`:

1. the session cookie must name a live session (expired, unknown, user disabled: a GET goes to
   /login, anything else gets 403);
2. a POST must carry the session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`),
   come from the desk's own origin when the browser says where it comes from, and have a body of at
   most 64 KiB — otherwise 403 (413) and nothing happens;
3. the user's role must be one of `roles` (403 otherwise).

The row check (may this user see this conversation, this agent's page) is the handler's, through
`csqa.web.access`. Only GET reads and only POST changes anything.
"""
from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from csqa.web import accounts
from csqa.web.db import DeskStore
from csqa.web.throttle import LoginThrottle

SESSION_COOKIE = "csqa_session"
LOGIN_COOKIE = "csqa_login"  # the login form's own CSRF token (double submit): there is no session yet
MAX_BODY = 64 * 1024


@dataclass
class Settings:
    store: str
    host: str = "127.0.0.1"
    secure_cookies: bool = False  # Secure flag (set when the desk is reachable from other machines: HTTPS only)
    idle: timedelta = timedelta(minutes=60)  # a session ends after this long without a request
    longest: timedelta = timedelta(hours=12)  # and in any case this long after login
    per_user: int = 5
    per_client: int = 20
    lock_base_s: float = 30.0
    lock_cap_s: float = 900.0


@dataclass
class Desk:
    """What the app holds for its life: settings, the store, the login throttle, the page templates."""

    settings: Settings
    store: DeskStore
    templates: object
    throttle: LoginThrottle = field(default=None)

    def __post_init__(self):
        if self.throttle is None:
            s = self.settings
            self.throttle = LoginThrottle(s.per_user, s.per_client, s.lock_base_s, s.lock_cap_s)

    async def read(self, fn, *args, **kwargs):
        return await run_in_threadpool(self.store.read, fn, *args, **kwargs)

    async def write(self, fn, *args, **kwargs):
        return await run_in_threadpool(self.store.write, fn, *args, **kwargs)

    async def apply(self, fn, *args, **kwargs):
        """A function of the review loop (its own transaction) under the one writer."""
        return await run_in_threadpool(self.store.apply, fn, *args, **kwargs)


def desk_of(request: Request) -> Desk:
    return request.app.state.desk


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def render(request: Request, name: str, context: dict | None = None, status: int = 200,
           session: accounts.Session | None = None) -> Response:
    ctx = {"user": session.user if session else None, "csrf": session.csrf_token if session else "", **(context or {})}
    return desk_of(request).templates.TemplateResponse(request, name, ctx, status_code=status)


def refuse(request: Request, status: int, message: str, session: accounts.Session | None = None,
           headers: dict | None = None) -> Response:
    resp = render(request, "error.html", {"status": status, "message": message}, status, session)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def forbidden(request: Request, session: accounts.Session | None = None,
              message: str = "没有权限查看或执行此操作 / forbidden") -> Response:
    return refuse(request, 403, message, session)


def not_found(request: Request, session: accounts.Session | None = None) -> Response:
    return refuse(request, 404, "没有找到 / not found", session)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin (Origin, else Referer)."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return True
        parts = referer.split("/")
        origin = "/".join(parts[:3]) if len(parts) >= 3 else referer
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def read_form(request: Request):
    """The POST's form (url-encoded or multipart without files), or a refusal: too large, wrong type."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        return None, 411
    if int(length) > MAX_BODY:
        return None, 413
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None, 415
    try:
        form = await request.form(max_files=0, max_fields=200, max_part_size=MAX_BODY)
    except Exception:  # noqa: BLE001 - a malformed body is the client's problem: refuse it
        return None, 400
    return form, 200


def token_matches(expected: str, given) -> bool:
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


async def current_session(request: Request) -> accounts.Session | None:
    desk = desk_of(request)
    session = await desk.read(accounts.find_session, request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    s = desk.settings
    # slide the idle timeout forward — written at most every few seconds per session, not on every request
    if (accounts.now() - session.last_seen) >= min(timedelta(seconds=30), s.idle / 4):
        await desk.write(accounts.extend_session, session, s.idle, s.longest)
    return session


def guarded(*roles: str):
    """Wrap a handler `async def h(request, session, form)`: session, CSRF and role checked first."""

    def wrap(handler):
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = await current_session(request)
            if session is None:
                if request.method in ("GET", "HEAD"):
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
                return forbidden(request, None, "未登录或登录已过期，请重新登录 / not logged in or the session expired")
            form = None
            if request.method == "POST":
                form, status = await read_form(request)
                if form is None:
                    return refuse(request, status, "请求无法处理 / the request could not be read", session)
                given = form.get("csrf_token") or request.headers.get("x-csrf-token")
                if not token_matches(session.csrf_token, given) or not same_origin(request):
                    return forbidden(request, session, "表单已失效 (CSRF 校验失败)，请刷新页面后重试 / CSRF check failed")
            if roles and session.user.role not in roles:
                return forbidden(request, session)
            return await handler(request, session, form)

        return endpoint

    return wrap


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=desk_of(request).settings.secure_cookies)


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=desk_of(request).settings.secure_cookies)


def home_of(user: accounts.User) -> str:
    if user.role == "agent":
        return "/agents/" + quote(user.agent_id or "", safe="")
    if user.role == "reviewer":
        return "/queue"
    return "/overview"


def safe_next(value) -> str | None:
    """A local path to go to after login (never another site)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(ord(ch) < 32 for ch in value) or len(value) > 2000:
        return None
    return value
