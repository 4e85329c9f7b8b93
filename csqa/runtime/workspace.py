"""Where a run's files live until they are done: OUTDIR replaced as a whole, temporary folders that never stay.

`OutputDir`: a run's outputs are written into a stage folder beside OUTDIR (same parent, same
file system: `.NAME.csqa-new-PID-XXXX`), then swapped in with one rename — on Linux one atomic
exchange (renameat2 RENAME_EXCHANGE), elsewhere two renames with the previous run set aside as
`.NAME.csqa-old-PID-XXXX` in between. Until the swap OUTDIR holds the previous run untouched, so
a crash or kill at any point leaves OUTDIR as the previous run or the new one, whole. Files in
OUTDIR that the run does not write (a kept store, a note of the user's) are carried over into
the stage as hard links (copies where the file system has none); sub-folders csqa did not make
are refused before scoring, so a mistaken `-o ~` cannot move a home folder.

`RunTemp`: every temporary folder of one `csqa score` (the ingest child's parts, the spools,
the staging database) goes under one folder `$TMPDIR/csqa-run-PID-XXXX`, removed on every
exit path. After a kill (nothing runs then) the next run's start removes the folders of
processes that are gone, here and beside OUTDIR, and puts back a previous run that a kill left
set aside.

Standard library only: `csqa score` creates these before its heavy imports.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from csqa.runtime import testhook
from csqa.core.errors import ConfigError, StorageError, storage_error, writing

RUN_PREFIX = "csqa-run-"
MP_PREFIX = "csqa-mp-"  # multiprocessing's own folder (the fork server's socket), one per process


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (when unsure: True, so nothing in use is removed)."""
    if os.name == "nt":  # (os.kill(pid, 0) would send CTRL_C_EVENT there)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def _owner(rest: str) -> int | None:
    """The process id in 'PID-XXXX' (None when the name is not one of ours)."""
    head = rest.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _stale(pid: int | None) -> bool:
    return pid is not None and pid != os.getpid() and not pid_alive(pid)


# ---------------------------------------------------------------------------- $TMPDIR
_active: list[Path] = []


def clean_stale_temp(base: str | Path | None = None) -> list[Path]:
    """Remove the run folders in `base` (default: the temp dir) whose process is gone; returns them."""
    base = Path(base or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        for prefix in (RUN_PREFIX, MP_PREFIX):
            if entry.name.startswith(prefix) and _stale(_owner(entry.name[len(prefix):])):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
    return removed


def _multiprocessing_tempdir(base: str) -> None:
    """multiprocessing's temporary folder for this process (where the fork server's socket lives)
    made by csqa, named by the process id, so that a kill leaves nothing the next run's start does
    not recognise. It lives as long as the process (the fork server outlasts a run when csqa is
    used as a library) and is removed at exit, as multiprocessing removes its own."""
    try:
        from multiprocessing import process, util

        config = process.current_process()._config
    except (ImportError, AttributeError):  # (another multiprocessing: it makes its own folder)
        return
    if config.get("tempdir"):
        return
    folder = tempfile.mkdtemp(prefix=f"{MP_PREFIX}{os.getpid()}-", dir=base)
    config["tempdir"] = folder
    util.Finalize(None, shutil.rmtree, args=(folder, True), exitpriority=-100)


class RunTemp:
    """`with RunTemp():` — this process's temporary folders (tempfile's) go under one run folder,
    removed at the end; stale run folders of killed runs are removed first. Nested: the outer one counts."""

    def __init__(self):
        self.root: Path | None = None
        self._previous = None

    def __enter__(self) -> "RunTemp":
        if _active:
            return self
        base = tempfile.gettempdir()
        clean_stale_temp(base)
        with writing(base):
            self.root = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir=base))
            _multiprocessing_tempdir(base)
        self._previous = tempfile.tempdir
        tempfile.tempdir = str(self.root)  # forked children inherit it
        _active.append(self.root)
        return self

    def __exit__(self, *exc) -> None:
        if self.root is None:
            return
        tempfile.tempdir = self._previous
        _active.remove(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


# ---------------------------------------------------------------------------- OUTDIR
def _rename_exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); OSError ENOSYS/EINVAL where unsupported."""
    testhook.point("swap:exchange", b)
    if not sys.platform.startswith("linux"):
        raise OSError(errno.ENOSYS, "renameat2 is Linux only")
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        raise OSError(errno.ENOSYS, "no renameat2 in this C library") from None
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)}


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:  # no hard links here (FAT, some network shares): a copy
        shutil.copy2(src, dst)


class OutputDir:
    """OUTDIR, replaced as a whole when the run is done (see the module docstring).

    Created before the run does any work: that checks OUTDIR (a folder, not a mount point, no
    sub-folders of someone else's, writable) and its parent (the stage folder is made there),
    and repairs what a killed run left. Write the outputs into `stage` (scratch files into
    `work`, removed before the swap), then `publish()`; `discard()` (or leaving the `with`
    block without publishing) removes the stage and leaves OUTDIR as it was.
    """

    def __init__(self, outdir: str | Path):
        self.requested = Path(outdir)
        self.path = Path(os.path.realpath(outdir))  # a symlinked OUTDIR: the folder it points at is replaced
        self.parent = self.path.parent
        name = self.path.name
        if len(name) > 60:  # (names of these folders stay short; the hash keeps them apart)
            name = name[:40] + "~" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        self._prefix = f".{name}.csqa-"
        self.published = False
        shown = self.requested
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"输出目录 {shown} 是一个文件，不是目录；请用 -o 指定一个目录 / OUTDIR {shown} is a file: pass a folder")
        if self.path == Path(os.path.realpath(os.getcwd())):
            raise ConfigError(f"输出目录 {shown} 是当前目录；csqa 会整体替换输出目录，请用一个子目录，例如 -o out/ / "
                              f"OUTDIR is the current folder, which csqa would replace as a whole: use a sub-folder such as -o out/")
        if self.path.is_dir() and os.path.ismount(self.path):
            raise ConfigError(f"输出目录 {shown} 是一个挂载点，无法整体替换；请用其中的一个子目录 / OUTDIR {shown} is a mount "
                              f"point and cannot be replaced: use a folder inside it")
        with writing(self.parent):
            self.parent.mkdir(parents=True, exist_ok=True)
        self.recover()
        if self.path.is_dir():
            self._check_existing()
        try:
            self.stage = _new_folder(self.parent, f"{self._prefix}new-{os.getpid()}-")
        except OSError as exc:  # (named as the folder OUTDIR is in, not as the hidden stage folder)
            err = storage_error(OSError(exc.errno, exc.strerror, str(self.parent)))
            if err is None:
                raise
            raise err from exc
        self._work: Path | None = None

    # ------------------------------------------------------------------ checks and repairs
    def _check_existing(self) -> None:
        shown = self.requested
        if not os.access(self.path, os.W_OK | os.X_OK):
            # its files go when the new run replaces it: it must be writable
            raise storage_error(OSError(errno.EROFS if _read_only(self.path) else errno.EACCES, "", str(self.path)))
        for entry in os.scandir(self.path):
            if entry.is_dir(follow_symlinks=False) and not _ours(entry.name):
                raise ConfigError(
                    f"输出目录 {shown} 里有不是 csqa 写的子目录 {entry.name}；csqa 每次整体替换输出目录，请指定一个新的或空的目录 / "
                    f"OUTDIR {shown} holds a folder csqa did not write ({entry.name}); csqa replaces OUTDIR as a whole: "
                    f"pass a new or empty folder")

    def recover(self) -> None:
        """What killed runs left beside OUTDIR: a previous run set aside goes back (when OUTDIR is
        missing), the rest (unfinished stages, runs already replaced) is removed."""
        try:
            entries = [e for e in os.scandir(self.parent) if e.name.startswith(self._prefix)]
        except OSError:
            return
        for entry in entries:
            kind, _, rest = entry.name[len(self._prefix):].partition("-")
            if kind not in ("new", "old") or not _stale(_owner(rest)):
                continue
            if kind == "old" and not os.path.lexists(self.path):
                try:
                    os.rename(entry.path, self.path)
                    continue
                except OSError:
                    pass
            shutil.rmtree(entry.path, ignore_errors=True)

    # ------------------------------------------------------------------ writing
    @property
    def work(self) -> Path:
        """Scratch space on OUTDIR's disk (the output jobs' spools and hand-overs), removed before the swap."""
        if self._work is None:
            self._work = self.stage / ".csqa-work"
            with writing(self._work):
                self._work.mkdir(exist_ok=True)
        return self._work

    def _carry_over(self) -> None:
        """Entries of the current OUTDIR this run does not write, into the stage (links, not copies),
        and OUTDIR's permissions."""
        if not self.path.is_dir():
            return
        try:
            shutil.copymode(self.path, self.stage)
        except OSError:
            pass
        written = {p.name for p in self.stage.iterdir()}
        for entry in os.scandir(self.path):
            name = entry.name
            if _ours(name) or name in written:
                continue
            if name.endswith(".wal") and name[:-4] in written:  # a replaced database's log must not follow it
                continue
            target = self.stage / name
            with writing(target):
                if entry.is_symlink():
                    os.symlink(os.readlink(entry.path), target)
                elif entry.is_dir():
                    shutil.copytree(entry.path, target, symlinks=True, copy_function=_link_or_copy)
                else:
                    _link_or_copy(entry.path, target)

    def publish(self) -> Path:
        """Put the stage in OUTDIR's place in one rename, then remove the previous run."""
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None
        self._carry_over()
        testhook.point("outputs:before-swap", self.path)
        previous = None
        with writing(self.parent):
            if os.path.lexists(self.path):
                previous = self._swap()
            else:
                os.rename(self.stage, self.path)
        self.published = True
        testhook.point("outputs:after-swap", self.path)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        return self.path

    def _swap(self) -> Path:
        """Exchange stage and OUTDIR; returns where the previous run now is."""
        try:
            _rename_exchange(self.stage, self.path)
            return self.stage  # (it holds the previous run now)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
        # two renames; a kill between them leaves OUTDIR missing and the previous run under the
        # "old" name, which the next run's start (`recover`) puts back
        old = _new_folder(self.parent, f"{self._prefix}old-{os.getpid()}-")
        os.rmdir(old)
        os.rename(self.path, old)
        testhook.point("swap:between-renames", self.path)
        try:
            os.rename(self.stage, self.path)
        except BaseException:
            os.rename(old, self.path)
            raise
        return old

    def discard(self) -> None:
        if not self.published:
            shutil.rmtree(self.stage, ignore_errors=True)

    def __enter__(self) -> "OutputDir":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new folder `parent/prefixXXXXXXXX` with the usual permissions (OUTDIR's, once swapped in;
    mkdtemp would make it private)."""
    import secrets

    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            os.mkdir(path, 0o777)  # (less the umask)
            return path
        except FileExistsError:
            continue


def _ours(name: str) -> bool:
    """Names csqa's own scratch folders have had inside OUTDIR (never carried over)."""
    return name.startswith(".csqa-") or name.endswith(".duckdb.tmp")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


__all__ = ["OutputDir", "RunTemp", "StorageError", "clean_stale_temp", "pid_alive"]
