"""The review desk's people: users with a role, server-side sessions and the desk's audit rows.

Kept in the results store itself (tables `desk_users`, `desk_sessions`, `desk_audit`, created
through `csqa.outputs.store.schema.register_schema` whenever the store is opened for writing), so one file holds
the scores and who may see them.

- **users**: username, role (admin / manager / reviewer / agent), agent_id (an agent sees the
  conversations of this id), the password as an scrypt hash with its own random salt
  (`hashlib.scrypt`, compared in constant time), disabled or not.
- **sessions**: a random token (32 bytes) lives only in the browser's cookie; the store keeps its
  sha256, the user, the session's CSRF token, when it started, when it was last used and when it
  expires (idle timeout, and an absolute one). Disabling a user or setting a password ends the
  user's sessions.
- **audit**: append-only rows (when, who, what, about which row, details as JSON) for what the desk
  itself does: users added, disabled, enabled, passwords set, a conversation unmasked. Nothing is
  updated or deleted there.

Every function takes a DuckDB connection (or cursor) and runs no transaction of its own: the caller
wraps a change in `transaction(con)` (the server does that under its one writer lock).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from csqa.core.errors import ConfigError
from csqa.outputs.store.access import transaction  # noqa: F401 - the desk takes it from here
from csqa.outputs.store.schema import register_schema

ROLES = ("admin", "manager", "reviewer", "agent")
ROLE_ZH = {"admin": "管理员", "manager": "主管", "reviewer": "质检员", "agent": "客服"}

DDL = """
CREATE TABLE IF NOT EXISTS desk_users (
    username VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, agent_id VARCHAR, password_hash VARCHAR NOT NULL,
    disabled BOOLEAN NOT NULL, created_at TIMESTAMP NOT NULL, created_by VARCHAR
);
CREATE TABLE IF NOT EXISTS desk_sessions (
    token_sha256 VARCHAR PRIMARY KEY, username VARCHAR NOT NULL, csrf_token VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL, last_seen TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL, client VARCHAR
);
CREATE TABLE IF NOT EXISTS desk_audit (
    happened_at TIMESTAMP NOT NULL, actor VARCHAR NOT NULL, action VARCHAR NOT NULL, subject VARCHAR, detail VARCHAR
);
"""
register_schema("desk", DDL)

USERNAME = re.compile(r"^[\w.@-]{1,64}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

# scrypt: N=2^15, r=8, p=1 (32 MiB, ~0.1 s here). At most two hashes at once in a process, so twenty
# people logging in together cannot take 20 × 32 MiB.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
_HASHING = threading.BoundedSemaphore(2)


# ---------------------------------------------------------------------------- passwords
def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    with _HASHING:
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * n * r * 2, dklen=32)


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` (hex), with a new random 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(stored: str, password: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        mine = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(mine, bytes.fromhex(digest))


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A hash to check unknown or disabled users' passwords against: every login costs the same."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(secrets.token_hex(16)))
    return _DUMMY_HASH[0]


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"密码至少 {MIN_PASSWORD} 个字符 / the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ConfigError(f"密码最长 {MAX_PASSWORD} 个字符 / the password is longer than {MAX_PASSWORD} characters")


# ---------------------------------------------------------------------------- users
@dataclass(frozen=True)
class User:
    username: str
    role: str
    agent_id: str | None
    disabled: bool = False
    created_at: datetime | None = None

    @property
    def role_zh(self) -> str:
        return ROLE_ZH.get(self.role, self.role)


def now() -> datetime:
    return datetime.now().replace(microsecond=0)




def validate_user(username: str, role: str, agent_id: str | None) -> tuple[str, str, str | None]:
    username = (username or "").strip()
    if not USERNAME.match(username):
        raise ConfigError(f"用户名 {username!r} 不可用：1–64 个字母、数字、汉字或 . _ - @ / the user name must be 1–64 letters, "
                          "digits or . _ - @")
    if role not in ROLES:
        raise ConfigError(f"角色 {role!r} 不存在：请用 {' / '.join(ROLES)} / unknown role")
    agent_id = (agent_id or "").strip() or None
    if role == "agent" and not agent_id:
        raise ConfigError("客服账号需要 --agent-id (结果库里该客服的 agent_id，例如 shop_小美) / an agent needs --agent-id")
    if role != "agent" and agent_id:
        raise ConfigError(f"只有 agent 角色使用 --agent-id (收到角色 {role}) / --agent-id is for the agent role only")
    return username, role, agent_id


def get_user(con, username: str) -> User | None:
    row = con.execute("SELECT username, role, agent_id, disabled, created_at FROM desk_users WHERE username = ?",
                      [username]).fetchone()
    return User(*row) if row else None


def add_user(con, username: str, role: str, password: str, agent_id: str | None = None, actor: str = "cli") -> User:
    username, role, agent_id = validate_user(username, role, agent_id)
    check_password_rules(password)
    if get_user(con, username) is not None:
        raise ConfigError(f"用户 {username} 已存在；改密码用 `csqa users password {username}` / user {username} exists")
    con.execute("INSERT INTO desk_users VALUES (?, ?, ?, ?, false, ?, ?)",
                [username, role, agent_id, hash_password(password), now(), actor])
    audit(con, actor, "user_added", username, {"role": role, "agent_id": agent_id})
    return get_user(con, username)


def list_users(con) -> list[User]:
    rows = con.execute("SELECT username, role, agent_id, disabled, created_at FROM desk_users ORDER BY username").fetchall()
    return [User(*r) for r in rows]


def _known(con, username: str) -> User:
    user = get_user(con, username)
    if user is None:
        raise ConfigError(f"没有用户 {username}；用 `csqa users list` 查看 / no user {username}")
    return user


def set_disabled(con, username: str, disabled: bool, actor: str = "cli") -> User:
    _known(con, username)
    con.execute("UPDATE desk_users SET disabled = ? WHERE username = ?", [disabled, username])
    if disabled:
        con.execute("DELETE FROM desk_sessions WHERE username = ?", [username])
    audit(con, actor, "user_disabled" if disabled else "user_enabled", username, {})
    return get_user(con, username)


def set_password(con, username: str, password: str, actor: str = "cli") -> None:
    _known(con, username)
    check_password_rules(password)
    con.execute("UPDATE desk_users SET password_hash = ? WHERE username = ?", [hash_password(password), username])
    con.execute("DELETE FROM desk_sessions WHERE username = ?", [username])
    audit(con, actor, "password_set", username, {})


def authenticate(con, username: str, password: str) -> User | None:
    """The user, when the name exists, is enabled and the password matches; None otherwise (the same work
    either way)."""
    row = con.execute("SELECT password_hash, disabled FROM desk_users WHERE username = ?", [username]).fetchone()
    ok = verify_password(row[0] if row else _dummy_hash(), password)
    if not row or row[1] or not ok:
        return None
    return get_user(con, username)


# ---------------------------------------------------------------------------- sessions
@dataclass(frozen=True)
class Session:
    token_sha256: str
    user: User
    csrf_token: str
    last_seen: datetime
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start_session(con, user: User, idle: timedelta, longest: timedelta, client: str | None) -> tuple[str, str]:
    """A new session for `user`: (cookie token, CSRF token). Expired sessions of everyone are removed."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    t = now()
    con.execute("DELETE FROM desk_sessions WHERE expires_at <= ?", [t])
    con.execute("INSERT INTO desk_sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                [_token_hash(token), user.username, csrf, t, t, min(t + idle, t + longest), client])
    return token, csrf


def find_session(con, token: str | None) -> Session | None:
    """The live session of a cookie token (not expired, user enabled), or None."""
    if not token or len(token) > 200:
        return None
    row = con.execute(
        """SELECT s.token_sha256, s.csrf_token, s.last_seen, s.expires_at, u.username, u.role, u.agent_id, u.disabled
           FROM desk_sessions s JOIN desk_users u USING (username)
           WHERE s.token_sha256 = ? AND s.expires_at > ? AND NOT u.disabled""", [_token_hash(token), now()]).fetchone()
    if row is None:
        return None
    return Session(row[0], User(row[4], row[5], row[6], row[7]), row[1], row[2], row[3])


def extend_session(con, session: Session, idle: timedelta, longest: timedelta) -> None:
    """Slide the idle timeout forward (never past `longest` after the session started)."""
    t = now()
    con.execute("""UPDATE desk_sessions SET last_seen = ?, expires_at = least(? , created_at + ?)
                   WHERE token_sha256 = ? AND expires_at > ?""", [t, t + idle, longest, session.token_sha256, t])


def end_session(con, token: str | None) -> None:
    if token:
        con.execute("DELETE FROM desk_sessions WHERE token_sha256 = ?", [_token_hash(token)])


# ---------------------------------------------------------------------------- audit
def audit(con, actor: str, action: str, subject: str | None, detail: dict | None = None) -> None:
    """One append-only row of the desk's audit trail."""
    con.execute("INSERT INTO desk_audit VALUES (?, ?, ?, ?, ?)",
                [datetime.now(), actor, action, subject, json.dumps(detail or {}, ensure_ascii=False, default=str)])


def audit_rows(con, action: str | None = None, limit: int = 200) -> list[dict]:
    sql = "SELECT happened_at, actor, action, subject, detail FROM desk_audit"
    params: list = []
    if action:
        sql += " WHERE action = ?"
        params.append(action)
    sql += " ORDER BY happened_at DESC LIMIT ?"
    params.append(limit)
    cols = ("happened_at", "actor", "action", "subject", "detail")
    return [dict(zip(cols, r)) for r in con.execute(sql, params).fetchall()]
