"""/login, /logout and / (each user's home page)."""
from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from csqa.web import accounts
from csqa.web.auth import (LOGIN_COOKIE, SESSION_COOKIE, client_of, clear_session_cookie, current_session, desk_of,
                           guarded, home_of, read_form, refuse, render, safe_next, same_origin, set_session_cookie,
                           token_matches)


def _login_form(request: Request, status: int = 200, error: str = "", username: str = "", next_path: str = "",
                headers: dict | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    resp = render(request, "login.html", {"login_csrf": token, "error": error, "username": username,
                                          "next": safe_next(next_path) or ""}, status)
    resp.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/login", httponly=True, samesite="strict",
                    secure=desk_of(request).settings.secure_cookies)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


async def login_page(request: Request) -> Response:
    session = await current_session(request)
    if session is not None:
        return RedirectResponse(home_of(session.user), status_code=303)
    return _login_form(request, next_path=request.query_params.get("next", ""))


def _log_in(cur, user: accounts.User, old_token: str | None, client: str, settings) -> tuple[str, str]:
    accounts.end_session(cur, old_token)  # a new token at every login (no session fixation)
    token, csrf = accounts.start_session(cur, user, settings.idle, settings.longest, client)
    accounts.audit(cur, user.username, "login", user.username, {"client": client})
    return token, csrf


async def login_submit(request: Request) -> Response:
    desk = desk_of(request)
    form, status = await read_form(request)
    if form is None:
        return refuse(request, status, "请求无法处理 / the request could not be read")
    if not token_matches(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf_token")) or not same_origin(request):
        return refuse(request, 403, "登录表单已失效，请刷新登录页后重试 / the login form expired: reload the page")
    username = str(form.get("username") or "").strip()[:64]
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    next_path = str(form.get("next") or "")
    client = client_of(request)
    wait = desk.throttle.wait(username, client)
    if wait > 0:
        seconds = int(wait) + 1
        return _login_form(request, 429, f"登录失败次数过多，请 {seconds} 秒后再试 / too many failed logins: try again in "
                                         f"{seconds} s", username, next_path, {"Retry-After": str(seconds)})
    user = None
    if username and 0 < len(password) <= accounts.MAX_PASSWORD:
        user = await desk.read(accounts.authenticate, username, password)
    if user is None:
        desk.throttle.failed(username, client)
        await desk.write(accounts.audit, username or "?", "login_failed", username, {"client": client})
        return _login_form(request, 401, "用户名或密码错误 / wrong user name or password", username, next_path)
    desk.throttle.succeeded(username)
    token, _ = await desk.write(_log_in, user, request.cookies.get(SESSION_COOKIE), client, desk.settings)
    resp = RedirectResponse(safe_next(next_path) or home_of(user), status_code=303)
    set_session_cookie(resp, request, token)
    resp.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict",
                       secure=desk.settings.secure_cookies)
    return resp


@guarded()
async def logout(request: Request, session, form) -> Response:
    desk = desk_of(request)

    def log_out(cur):
        accounts.end_session(cur, request.cookies.get(SESSION_COOKIE))
        accounts.audit(cur, session.user.username, "logout", session.user.username, {})

    await desk.write(log_out)
    resp = RedirectResponse("/login", status_code=303)
    clear_session_cookie(resp, request)
    return resp


@guarded()
async def home(request: Request, session, form) -> Response:
    return RedirectResponse(home_of(session.user), status_code=303)


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
