"""The results store as the desk holds it: one DuckDB connection for the life of the server.

DuckDB lets one process write a database file; inside that process one connection is shared by
threads through cursors (a cursor per thread: a DuckDB connection object is not thread-safe). So:

- **reads** run on a cursor of the thread that handles the request (Starlette runs blocking work in
  a pool of threads): readers do not wait for each other;
- **writes** all go through `DeskStore.write(fn)`: one lock, one writer cursor, one transaction per
  call — so two reviewers posting at the same moment are applied one after the other, each whole,
  and DuckDB never sees two of our writes racing (no conflict aborts, nothing lost or doubled).

While the desk runs, no other process can open the store for writing (`csqa score --store`,
`csqa users add` say that it is in use): stop the desk first, or manage users on its admin page.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, TypeVar

from csqa.core.errors import ConfigError
from csqa.web import accounts  # noqa: F401 - registers the desk's tables with the store's schema

T = TypeVar("T")


def open_store(path: str | Path):
    """An existing csqa results store opened for writing (the desk's tables made if missing)."""
    from csqa.outputs.store import ResultStore

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"结果库 {path} 不存在；先用 `csqa score 导出文件 -o 输出目录 --store {path}` 写入评分结果 / "
                          f"store {path} not found: score an export into it first")
    store = ResultStore(path)
    return store


class DeskStore:
    """One connection to the store; thread-local cursors for reads, one locked writer for writes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._store = open_store(self.path)
        self.con = self._store.con
        self.con.execute("SET enable_progress_bar=false")
        self._writer = self.con.cursor()
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._cursors = []
        self._cursors_lock = threading.Lock()
        self.closed = False

    def cursor(self):
        """This thread's read cursor."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            if self.closed:
                raise RuntimeError("store closed")
            cur = self.con.cursor()
            self._local.cursor = cur
            with self._cursors_lock:
                self._cursors.append(cur)
        return cur

    @staticmethod
    def _fresh(cur):
        """The cursor with no half-read result left from its last use (DuckDB refuses `register()` on a
        connection whose last result was read with fetchone() and not to the end)."""
        cur.execute("SELECT 1").fetchall()
        return cur

    def read(self, fn: Callable[..., T], *args, **kwargs) -> T:
        return fn(self._fresh(self.cursor()), *args, **kwargs)

    def write(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """fn(cursor, …) in one transaction, one writer at a time."""
        with self._write_lock:
            if self.closed:
                raise RuntimeError("store closed")
            with accounts.transaction(self._fresh(self._writer)):
                return fn(self._writer, *args, **kwargs)

    def apply(self, fn: Callable[..., T], *args, audit: tuple | None = None, **kwargs) -> T:
        """fn(cursor, …) that runs its own transaction (the review loop's functions: csqa.review), one writer
        at a time; then, when it succeeded, `audit` = (actor, action, subject, detail) as a desk audit row."""
        with self._write_lock:
            if self.closed:
                raise RuntimeError("store closed")
            result = fn(self._fresh(self._writer), *args, **kwargs)
            if audit is not None:
                with accounts.transaction(self._fresh(self._writer)):
                    accounts.audit(self._writer, *audit)
            return result

    def close(self) -> None:
        with self._write_lock:
            if self.closed:
                return
            self.closed = True
            with self._cursors_lock:
                for cur in self._cursors:
                    try:
                        cur.close()
                    except Exception:  # noqa: BLE001 - (already closed with its thread)
                        pass
            self._writer.close()
            self._store.close()
