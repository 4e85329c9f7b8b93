"""Opening the store for the review loop: every function takes a store path, an open
`csqa.outputs.store.ResultStore` or a DuckDB connection to one (a web app keeps one connection, the
command line opens the file per command)."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from csqa.core.errors import ConfigError
from csqa.outputs.store.review_tables import one  # noqa: F401 - the review modules' helper, defined with the tables
from csqa.outputs.store.access import transaction  # noqa: F401 - the review modules take it from here


@contextmanager
def connect(store, write: bool = False):
    """A DuckDB connection to the store with the review tables (created when opened for writing)."""
    from csqa.outputs.store import ResultStore

    if isinstance(store, (str, Path)):
        rs = ResultStore(store, read_only=not write)
        try:
            yield rs.con
        finally:
            rs.close()
    elif isinstance(store, ResultStore):
        yield store.con
    else:
        yield store




def require_review_tables(con) -> None:
    from csqa.outputs.store.review_tables import has_review_tables

    if not has_review_tables(con):
        raise ConfigError("结果库还没有复核表 (由旧版本写入且只读打开)；先用任意写入命令 (如 csqa review import) 打开一次 / "
                          "the store has no review tables yet: open it once for writing")


def where_clause(conditions: list[str] | None = None, **equal) -> tuple[str, list]:
    """(" WHERE a = ? AND …", [values]) for the filters given (None leaves one out) and any extra
    conditions; ("", []) when there is none."""
    where, params = list(conditions or []), []
    for column, value in equal.items():
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def now() -> datetime:
    """Event times: local wall-clock time to the microsecond, as the store's other times."""
    return datetime.now()


def name_of(user: str, what: str) -> str:
    """A user name as given (reviewer, agent, arbiter): required, one line, at most 100 characters."""
    from csqa.review.errors import ReviewError

    name = (user or "").strip()
    if not name:
        raise ReviewError(f"缺少{what}名字 / a {what} name is required")
    if len(name) > 100 or any(c in name for c in "\r\n\t") or any(ord(c) < 32 for c in name):
        raise ReviewError(f"{what}名字无效 (须为一行，最多 100 个字符): {name[:40]!r}")
    return name

