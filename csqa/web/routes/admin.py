"""/admin/users: an admin adds users, disables and enables them, sets passwords; /admin/audit: the desk's
audit trail. (The same functions as `csqa users …`, which needs the store while the desk is stopped.)"""
from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from csqa.core.errors import ConfigError
from csqa.web import accounts, queries
from csqa.web.auth import desk_of, guarded, render


def _users_page(request: Request, session, users, error: str = "", status: int = 200, form=None) -> Response:
    return render(request, "users.html", {"users": users, "roles": accounts.ROLES, "role_zh": accounts.ROLE_ZH,
                                          "error": error, "form": form or {}}, status, session)


@guarded("admin")
async def users(request: Request, session, form) -> Response:
    return _users_page(request, session, await desk_of(request).read(accounts.list_users))


@guarded("admin")
async def add_user(request: Request, session, form) -> Response:
    desk = desk_of(request)
    values = {k: str(form.get(k) or "") for k in ("username", "role", "agent_id")}
    password, again = str(form.get("password") or ""), str(form.get("password_again") or "")
    try:
        if password != again:
            raise ConfigError("两次输入的密码不一致 / the passwords differ")
        await desk.write(accounts.add_user, values["username"], values["role"], password, values["agent_id"] or None,
                         actor=session.user.username)
    except ConfigError as exc:
        return _users_page(request, session, await desk.read(accounts.list_users), str(exc), 400, values)
    return RedirectResponse("/admin/users", status_code=303)


def _switch(disabled: bool):
    @guarded("admin")
    async def switch(request: Request, session, form) -> Response:
        desk = desk_of(request)
        name = request.path_params["username"]
        if disabled and name == session.user.username:
            return _users_page(request, session, await desk.read(accounts.list_users),
                               "不能停用自己的账号 / you cannot disable yourself", 400)
        try:
            await desk.write(accounts.set_disabled, name, disabled, actor=session.user.username)
        except ConfigError as exc:
            return _users_page(request, session, await desk.read(accounts.list_users), str(exc), 404)
        return RedirectResponse("/admin/users#u-" + quote(name, safe=""), status_code=303)

    return switch


@guarded("admin")
async def audit(request: Request, session, form) -> Response:
    def load(cur):
        return {"rows": accounts.audit_rows(cur, None, 500), "review": queries.review_audit_rows(cur, 500)}

    return render(request, "audit.html", await desk_of(request).read(load), session=session)


ROUTES = [
    Route("/admin/users", users, methods=["GET"]),
    Route("/admin/users", add_user, methods=["POST"]),
    Route("/admin/users/{username}/disable", _switch(True), methods=["POST"]),
    Route("/admin/users/{username}/enable", _switch(False), methods=["POST"]),
    Route("/admin/audit", audit, methods=["GET"]),
]
