"""Errors csqa reports to its users as one clear line (the CLI prints them without a traceback)."""
from __future__ import annotations


class CsqaError(Exception):
    """Base class: the message is shown to the user as is; it says what went wrong and what to do."""

    exit_code = 2


class InputError(CsqaError):
    """An input file cannot be used at all (missing, unreadable, wrong format, required column missing)."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class RulebookError(CsqaError):
    """A rulebook file is invalid; the message names the file, the line and what is wrong."""


class ConfigError(CsqaError):
    """A command-line option or setting is invalid."""


class StorageError(CsqaError):
    """A file or folder csqa must write cannot be written: the disk is full, the file system is
    read-only or permission is denied. The message names the path and says what to do."""


_NO_SPACE = ("no space left on device", "disk quota exceeded", "errno 28", "errno 122", "not enough space")
_READ_ONLY = ("read-only file system", "errno 30")
_DENIED = ("permission denied", "operation not permitted", "errno 13")


def storage_problem(exc: BaseException) -> str | None:
    """'full', 'read-only' or 'denied' when `exc` (an OSError, or a DuckDB / Arrow error that says
    so in its text) is a disk-full, read-only or permission error; None otherwise."""
    import errno

    code = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "full"
    if code == errno.EROFS:
        return "read-only"
    if code in (errno.EACCES, errno.EPERM):
        return "denied"
    text = str(exc).lower()
    for kind, needles in (("full", _NO_SPACE), ("read-only", _READ_ONLY), ("denied", _DENIED)):
        if any(n in text for n in needles):
            return kind
    return None


def _path_in(text: str) -> str | None:
    import re

    m = re.search(r"""["'](/[^"']+|[A-Za-z]:\\[^"']+)["']""", text)
    return m.group(1) if m else None


def named_path(exc: BaseException) -> str | None:
    """The path an error names: an OSError's file name, else one quoted in its text."""
    where = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
    return str(where) if where else _path_in(str(exc))


def storage_error(exc: BaseException, path=None, verb: tuple[str, str] = ("写入", "writing")) -> StorageError | None:
    """`exc` as a StorageError naming the path (the error's own file name, else `path`, else one
    quoted in its text; `named_path`) and what to do; None when it is not a disk-full / read-only / permission error.
    verb: what was being done, in Chinese and English (default: writing)."""
    if isinstance(exc, StorageError):
        return exc
    kind = storage_problem(exc)
    if kind is None:
        return None
    where = named_path(exc) or (str(path) if path is not None else None) or "?"
    if kind == "full":
        text = (f"磁盘空间不足，无法{verb[0]} {where} — 请清理该磁盘，或把输出目录 (-o)、结果库 (--store)、临时目录 (TMPDIR) "
                f"放到空间足够的磁盘上 / disk full {verb[1]} {where}: free space there or choose another disk")
    elif kind == "read-only":
        text = (f"{where} 在只读文件系统上，无法{verb[0]} — 请换一个可写的位置 / {where} is on a read-only file system: "
                f"choose a writable location")
    else:
        text = (f"没有权限{verb[0]} {where} — 请修改它的权限，或换一个可写的位置 / permission denied {verb[1]} {where}: "
                f"fix its permissions or choose another location")
    return StorageError(text)


class writing:
    """`with writing(path): …` — a disk-full, read-only or permission error inside becomes a
    StorageError naming `path` (when the error does not name its own file)."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, CsqaError) or not isinstance(exc, Exception):
            return False
        err = storage_error(exc, self.path)
        if err is None:
            return False
        raise err from exc
