"""`csqa serve`: the desk on uvicorn, bound to 127.0.0.1 unless told otherwise.

The listening socket is bound here, before uvicorn starts, so a port in use is one clear line
(exit 2) and `--port 0` takes a free port (the start line says which). uvicorn's own handling of
Ctrl-C and SIGTERM stops the server gracefully: requests in flight finish, then the store is
closed (its write-ahead log checkpointed).
"""
from __future__ import annotations

import ipaddress
import socket
import sys
from datetime import timedelta

import click

from csqa.core.errors import ConfigError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"无法解析 --host {host}: {exc.strerror} / cannot resolve --host {host}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"无法监听 {host}:{port} ({exc.strerror})；端口可能已被占用，请换一个 --port / cannot listen on "
                          f"{host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(False)
    sock.listen(2048)  # listening before the start line is printed: a client that reads it can connect at once
    return sock


def serve(store: str, host: str = "127.0.0.1", port: int = 8765, session_minutes: float = 60.0,
          certfile: str | None = None, keyfile: str | None = None) -> None:
    import uvicorn

    from csqa.web import accounts
    from csqa.web.app import create_app
    from csqa.web.auth import Settings
    from csqa.web.db import DeskStore

    if bool(certfile) != bool(keyfile):
        raise ConfigError("--certfile 和 --keyfile 需要一起给出 / give both --certfile and --keyfile")
    local = is_loopback(host)
    settings = Settings(store=store, host=host, secure_cookies=not local or bool(certfile),
                        idle=timedelta(minutes=session_minutes))
    desk_store = DeskStore(store)
    try:
        sock = bind(host, port)
    except BaseException:
        desk_store.close()
        raise
    app = create_app(settings, desk_store)
    bound = sock.getsockname()[1]
    scheme = "https" if certfile else "http"
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}:{bound}/"
    if local:
        click.echo(f"csqa 质检台已启动: {url} — 只接受本机访问 ({host})；按 Ctrl-C 停止 / the review desk listens on {url} "
                   f"(this machine only); Ctrl-C stops it")
    else:
        click.echo(f"csqa 质检台已启动: {url} — 注意: 绑定到 {host}，其他机器也能访问；登录 cookie 只经 HTTPS 发送 "
                   f"(--certfile/--keyfile，或放在 HTTPS 反向代理之后) / the review desk listens on {url}: reachable from "
                   f"other machines; its cookies are sent over HTTPS only")
    n_users = desk_store.read(lambda cur: cur.execute("SELECT count(*) FROM desk_users WHERE NOT disabled").fetchone()[0])
    if not n_users:
        click.echo(f"提示: 还没有用户。先停止服务，运行 `csqa users add 用户名 --role admin --store {store}` / no users yet: "
                   "stop the desk and add one with `csqa users add NAME --role admin --store PATH`", err=True)
    click.echo(f"结果库: {store} (运行期间由本服务独占写入 / held by the desk while it runs)")
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False, server_header=False,
                            lifespan="on", ssl_certfile=certfile, ssl_keyfile=keyfile, timeout_graceful_shutdown=5,
                            timeout_keep_alive=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        desk_store.close()
    del accounts
