"""Every process `csqa score` starts ends with it — killed (SIGKILL included), interrupted or failed.

The processes: the ingest child and the scoring workers (forked from the main process), the
output stage's fork server (spawned by it) and the report / xlsx / store jobs (forked from the
fork server). Each arms `die_with_parent` first thing: on Linux the kernel sends it SIGKILL when
its parent ends (prctl PR_SET_PDEATHSIG); elsewhere a watcher thread notices that the parent is
gone (the process is re-parented) and ends the process. The jobs are the main process's
grandchildren: they also watch a pipe whose write end only the main process holds
(`Lifeline`), and end when it closes — the main process is gone, however it ended — which
does not depend on the fork server (the fork server in turn leaves once every job and the main
process have closed its own pipe). A job waiting on the main process (the xlsx job for its
small sheets, the store job for the go-ahead to record the run) also checks `parent_alive`
while it waits.

Standard library only: the ingest child arms it before anything heavy is imported.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
_armed_for: int | None = None  # the parent pid this process watches (None: not armed)


def _prctl_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        from csqa.runtime import testhook

        testhook.point("lifeline:prctl")  # (a test turns it off to try the portable way)
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no prctl (an unusual libc): the watcher thread instead
        return False


def _watch(parent: int, poll_s: float) -> None:
    while True:
        time.sleep(poll_s)
        if os.getppid() != parent:
            os._exit(1)


def die_with_parent(parent: int | None = None, poll_s: float = 0.5, thread: bool = True) -> None:
    """End this process when its parent ends. Call first thing in a child process.

    parent: the pid the child should have as its parent (default: its parent now). If that
    process is gone already — it died between the fork and this call — the child ends at once.
    thread: without prctl, watch the parent from a thread (False for a process that forks
    others and watches its parent otherwise, as the fork server does).
    """
    global _armed_for
    parent = os.getppid() if parent is None else parent
    if not _prctl_pdeathsig(signal.SIGKILL) and thread and _armed_for != parent:
        threading.Thread(target=_watch, args=(parent, poll_s), name="csqa-lifeline", daemon=True).start()
    _armed_for = parent
    if os.getppid() != parent:  # (checked after arming: no window where the parent's death is missed)
        os._exit(1)


def parent_alive() -> bool:
    """False once the parent this process armed `die_with_parent` for has gone."""
    return _armed_for is None or os.getppid() == _armed_for


class Lifeline:
    """A pipe whose write end only this process holds (make it after the last fork of processes
    that should not hold it). Give `reader` (a multiprocessing Connection: it travels with a
    process's arguments) to processes that are not this one's children; `job_init` watches it."""

    def __init__(self):
        import multiprocessing as mp

        self.reader, self._writer = mp.Pipe(duplex=False)

    def close(self) -> None:
        """Let go of the write end: watching processes still alive end now."""
        for conn in (self._writer, self.reader):
            try:
                conn.close()
            except OSError:
                pass


def _watch_pipe(reader) -> None:
    try:
        reader.recv()  # nothing is ever sent: this returns (EOFError) when every write end has closed
    except (EOFError, OSError):
        pass
    os._exit(1)


def job_init(reader=None) -> None:
    """Initializer of the output jobs' processes: `worker_init` (they die with the fork server),
    and they end when the `Lifeline` pipe of the main process closes."""
    worker_init()
    if reader is not None:
        threading.Thread(target=_watch_pipe, args=(reader,), name="csqa-lifeline-pipe", daemon=True).start()


def worker_init(parent: int | None = None) -> None:
    """Initializer of the scoring workers (parent: the main process) and the output jobs'
    processes (parent: the fork server): die with the parent; Ctrl-C and SIGTERM are the main
    process's to handle (it ends these processes itself)."""
    die_with_parent(parent)
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if not hasattr(signal, name):
            continue
        sig = getattr(signal, name)
        try:
            signal.signal(sig, signal.SIG_IGN if sig == signal.SIGINT else signal.SIG_DFL)
        except (ValueError, OSError):  # not the main thread
            pass


def end_helper_processes() -> None:
    """multiprocessing's fork server and resource tracker end with this process — before it
    exits, not a moment after (they would otherwise notice its exit on their own). Called by
    csqa's command-line entry point when the command is done; a library user's process keeps them."""
    forkserver = getattr(sys.modules.get("multiprocessing.forkserver"), "_forkserver", None)
    pid = getattr(forkserver, "_forkserver_pid", None)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)  # (it holds nothing: its jobs have ended)
        except OSError:
            pass
        try:
            forkserver._stop()  # reaps it, removes its socket
        except Exception:  # noqa: BLE001 - another Python's internals: it then ends by itself
            pass
    tracker = getattr(sys.modules.get("multiprocessing.resource_tracker"), "_resource_tracker", None)
    if getattr(tracker, "_pid", None):
        try:
            tracker._stop()  # its pipe closes: it ends, and is reaped
        except Exception:  # noqa: BLE001
            pass
