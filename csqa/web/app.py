"""The desk's ASGI app: `create_app(settings)` → a Starlette app serving the pages of csqa/web/routes,
the files of csqa/web/static and nothing else (no CDN: every file it serves ships in the package)."""
from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from csqa.web import accounts
from csqa.web.auth import Desk, Settings, refuse
from csqa.web.db import DeskStore
from csqa.web.render import category_zh, complaint_severity_zh

HERE = Path(__file__).resolve().parent
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

# no script, style, image or frame from anywhere but the desk itself; nothing inline. Referrer-Policy
# same-origin (not no-referrer): under no-referrer a browser sends `Origin: null` with the desk's own forms,
# which the CSRF check must refuse; same-origin still sends nothing to other sites.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY"),
           (b"cross-origin-opener-policy", b"same-origin"), (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]


class SecurityHeaders:
    """Every response: the headers above; pages also `Cache-Control: no-store` (they hold personal data)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control" or static]
                headers += HEADERS
                headers.append((b"cache-control", b"no-cache" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _pct(v, digits: int = 0) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.{digits}f}%"


def _num(v, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(q=lambda v: quote(str(v), safe=""), pct=_pct, num=_num, category_zh=category_zh,
                       complaint_zh=complaint_severity_zh)
    env.globals.update(role_zh=accounts.ROLE_ZH)
    return Jinja2Templates(env=env)


async def _not_found(request: Request, exc):
    return refuse(request, 404, "没有找到 / not found")


async def _not_allowed(request: Request, exc):
    return refuse(request, 405, "不支持的请求方法 / method not allowed")


def create_app(settings: Settings, store: DeskStore | None = None) -> Starlette:
    """The app over the store at settings.store (opened here unless given); the store closes with the app."""
    store = store or DeskStore(settings.store)
    from contextlib import asynccontextmanager

    from csqa.web.routes import ROUTES

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            store.close()

    hosts = ["*"] if settings.host not in LOOPBACK_HOSTS else ["127.0.0.1", "localhost", "[::1]"]
    app = Starlette(
        routes=[*ROUTES, Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")],
        middleware=[Middleware(SecurityHeaders), Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
        exception_handlers={404: _not_found, 405: _not_allowed},
        lifespan=lifespan,
    )
    app.state.desk = Desk(settings, store, templates())
    return app
