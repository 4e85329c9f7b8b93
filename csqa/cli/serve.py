"""`csqa serve` and `csqa users …`: the review desk's commands (loaded by csqa/cli/group.py when named: the web
packages load only then). Each only parses and hands down to `csqa.web`."""
from __future__ import annotations

import json
import sys

import click

from csqa.core.errors import ConfigError

STORE_HELP = "结果库 (DuckDB) 路径"


@click.command()
@click.option("--store", required=True, type=click.Path(dir_okay=False), help=STORE_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址 (默认只接受本机访问)")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="端口 (0: 任选一个空闲端口)")
@click.option("--session-minutes", default=60.0, show_default=True, type=click.FloatRange(min=0.01),
              help="多久没有操作后需要重新登录 (分钟; 最长 12 小时)")
@click.option("--certfile", default=None, type=click.Path(dir_okay=False, exists=True), help="HTTPS 证书 (PEM)")
@click.option("--keyfile", default=None, type=click.Path(dir_okay=False, exists=True), help="HTTPS 私钥 (PEM)")
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def serve(store, host, port, session_minutes, certfile, keyfile, debug):
    """启动网页质检台: csqa serve --store PATH [--host 127.0.0.1] [--port 8765]"""
    from csqa.web.server import serve as run

    run(store, host, port, session_minutes, certfile, keyfile)


@click.group()
def users() -> None:
    """质检台用户: add / list / disable / enable / password"""


def _open(store: str):
    from csqa.web.db import open_store

    return open_store(store)


def _read_password() -> str:
    """From a prompt that asks twice, or the first line of stdin when it is not a terminal."""
    if sys.stdin is not None and sys.stdin.isatty():
        return click.prompt("密码 / password", hide_input=True, confirmation_prompt="再输入一次 / repeat")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.rstrip("\r\n")
    if not password:
        raise ConfigError("没有读到密码：在终端里运行会提示输入，或把密码写在标准输入的第一行 / no password: "
                          "give it on the first line of stdin")
    return password


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "manager", "reviewer", "agent"]), help="角色")
@click.option("--agent-id", default=None, help="客服在结果库里的 agent_id (仅 agent 角色)")
@click.option("--store", required=True, type=click.Path(dir_okay=False), help=STORE_HELP)
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def users_add(name, role, agent_id, store, debug):
    """添加用户 (密码: 终端提示输入两次，或标准输入第一行)"""
    from csqa.web import accounts

    accounts.validate_user(name, role, agent_id)  # before asking for a password
    password = _read_password()
    accounts.check_password_rules(password)
    with _open(store) as rs, accounts.transaction(rs.con):
        user = accounts.add_user(rs.con, name, role, password, agent_id, actor="cli")
    click.echo(f"已添加用户 {user.username} ({user.role_zh}{', 客服账号 ' + user.agent_id if user.agent_id else ''}) / "
               f"user {user.username} added ({user.role})")


@users.command("list")
@click.option("--store", required=True, type=click.Path(dir_okay=False), help=STORE_HELP)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def users_list(store, fmt, debug):
    """列出用户"""
    from csqa.web import accounts

    with _open(store) as rs:
        people = accounts.list_users(rs.con)
    if fmt == "json":
        click.echo(json.dumps([{"username": u.username, "role": u.role, "agent_id": u.agent_id, "disabled": u.disabled,
                                "created_at": str(u.created_at)} for u in people], ensure_ascii=False, indent=2))
        return
    if not people:
        click.echo("还没有用户 / no users")
    for u in people:
        click.echo(f"{u.username:<16} {u.role:<9} {u.agent_id or '':<16} {'已停用 disabled' if u.disabled else '正常 active'}")


def _switch(name: str, store: str, disabled: bool) -> None:
    from csqa.web import accounts

    with _open(store) as rs, accounts.transaction(rs.con):
        accounts.set_disabled(rs.con, name, disabled, actor="cli")
    click.echo(f"已停用用户 {name} (其登录会话已结束) / user {name} disabled" if disabled else f"已启用用户 {name} / user {name} enabled")


@users.command("disable")
@click.argument("name")
@click.option("--store", required=True, type=click.Path(dir_okay=False), help=STORE_HELP)
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def users_disable(name, store, debug):
    """停用用户 (立即结束其登录会话)"""
    _switch(name, store, True)


@users.command("enable")
@click.argument("name")
@click.option("--store", required=True, type=click.Path(dir_okay=False), help=STORE_HELP)
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def users_enable(name, store, debug):
    """重新启用用户"""
    _switch(name, store, False)


@users.command("password")
@click.argument("name")
@click.option("--store", required=True, type=click.Path(dir_okay=False), help=STORE_HELP)
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def users_password(name, store, debug):
    """设置新密码 (结束其登录会话)"""
    from csqa.web import accounts

    password = _read_password()
    with _open(store) as rs, accounts.transaction(rs.con):
        accounts.set_password(rs.con, name, password, actor="cli")
    click.echo(f"已为 {name} 设置新密码 / password set for {name}")
