"""Can the store be opened and written? When not, one line that says why and what to do. And one transaction
over a connection to it, for every module that changes it (the review loop, the desk)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from csqa.core.errors import ConfigError, CsqaError, StorageError, storage_error, storage_problem


def open_error(path: Path, exc: BaseException, read_only: bool = False) -> CsqaError:
    """Why DuckDB could not open the store, in one line: in use by another process, read-only,
    not a DuckDB file, or DuckDB's own words."""
    import re

    text = str(exc)
    if "lock" in text.lower():
        pid = re.search(r"PID (\d+)", text)
        who = f" (PID {pid.group(1)})" if pid else ""
        return ConfigError(f"结果库 {path} 正被另一个进程使用{who}；请等它结束后再运行，或换一个 --store / the store is in use "
                           f"by another process{who}: wait for it to finish, or pass another --store")
    if not read_only and storage_problem(exc) in ("read-only", "denied"):
        return read_only_error(path)
    if "not a valid duckdb" in text.lower():
        return ConfigError(f"无法打开结果库 {path}: 它不是 DuckDB 结果库文件；请换一个 --store 路径 / {path} is not a DuckDB "
                           f"file: pass another --store path")
    err = storage_error(exc, path)
    if err is not None:
        return err
    return ConfigError(f"无法打开结果库 {path}: {text}")


def read_only_error(path: Path) -> StorageError:
    return StorageError(f"结果库 {path} 是只读的 (文件或其所在目录不可写)，无法写入本次结果；请让它可写，或用 --store 指定另一个结果库 "
                        f"(csqa report 可以直接读取它) / the store {path} is read-only (the file or its folder cannot be "
                        f"written): make it writable or pass another --store (csqa report reads it as it is)")


def writable(path: Path) -> bool:
    """The store file (when it exists) and its folder can be written (DuckDB writes its .wal beside it)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def check_writable(path: str | Path) -> None:
    """Before a run scores anything: the store at `path` can be written and no other process has
    it open. Raises the error opening it for writing would raise (one line, exit 2)."""
    import duckdb

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"结果库 {path} 是一个目录；--store 需要一个文件路径，例如 --store shop.duckdb / --store {path} is a "
                          f"folder: pass a file path such as shop.duckdb")
    if not writable(path):
        raise read_only_error(path)
    if not path.exists():
        return  # (created by the store job; its folder is writable)
    try:
        con = duckdb.connect(str(path), config={"threads": 1})
    except duckdb.Error as exc:
        raise open_error(path, exc) from exc
    con.close()


@contextmanager
def transaction(con):
    """BEGIN … COMMIT: everything in the block is applied, or (ROLLBACK when anything fails) nothing."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
