"""Ingest in a child process while `csqa score` starts up (the local engine).

Reading and staging the input takes about as long as the main process's start-up (imports,
rulebook, model, segmenters, forking the workers), and both used to run one after the other on
one core. `BackgroundIngest.start` forks a child at the very beginning of the command, while the
process is still small and single-threaded (only the standard library and click imported: no
numpy, DuckDB or Arrow thread pools yet, so forking cannot inherit a half-held lock). The child
reads the inputs in chunks (`iter_input_chunks`, memory bounded as before) and writes each
chunk's messages as a Parquet part in a temporary folder; the main process, once its scorer is
ready, waits for the child and stages the parts (`MessageStage.over_parts`), which serves the
same batches in the same order as when the chunks were added to DuckDB directly.

The child also notes whether the export is already in the order the stage serves (one
conversation after the other, each in time order: `csqa.ingest.order`); then the stage reads the
parts as written instead of sorting them. What comes back besides the parts is small: the rejected rows, the per-file input infos, the
row count, the child's own time and peak memory — one pickle written when the child is done.
An error in the child (InputError, ConfigError…) is raised again in the main process with the
same message and class, so the CLI prints the same one line and exit code.

The child ignores Ctrl-C (the main process handles it and ends the child); it also stops by
itself if the main process goes away (killed with it: `csqa.runtime.lifeline`). `close()` ends the child and removes the folder, whatever
happened. This module imports only the standard library: it runs before the heavy imports.
"""
from __future__ import annotations

import importlib
import os
import pickle
import shutil
import signal
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

_RESULT = "result.pickle"
PART_GLOB = "part-*.parquet"


@dataclass
class IngestDone:
    """What the child read: Parquet parts of the messages, plus the small things."""

    parts: Path  # folder of part-NNNNNN.parquet (MESSAGE_COLUMNS), in input order
    rejects: list = field(default_factory=list)  # reject frames (REJECT_COLUMNS), in input order
    inputs: list[dict] = field(default_factory=list)  # one info per file
    rows_scored: int = 0  # messages kept (rows in the parts)
    seconds: float = 0.0  # the child's own wall time, fork to done
    cpu_seconds: float = 0.0  # the child's CPU time (imports included)
    peak_rss_mb: float = 0.0  # the child's peak memory


# the parts' schema, fixed: a chunk whose column is all missing must not change a column's type
def _part_schema():
    import pyarrow as pa

    text = pa.large_string()
    return pa.schema([("conversation_id", text), ("timestamp", pa.timestamp("ns")), ("role", text),
                      ("agent_id", text), ("text", text), ("source", text), ("source_row", pa.int64()),
                      ("seq", pa.int64())])


def write_part(messages, path: Path) -> None:
    """One ingested chunk (MESSAGE_COLUMNS) as a Parquet part, for `MessageStage.over_parts`.

    Here, not in `csqa.engines`: the child must not import the scoring side (0.4 s of imports).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from csqa.ingest.model import MESSAGE_COLUMNS

    table = pa.Table.from_pandas(messages[MESSAGE_COLUMNS], schema=_part_schema(), preserve_index=False)
    # the cheapest to write (the child is on the way to the first batch): no compression (the parts
    # take about the input's size on disk, for minutes), no dictionaries (mostly distinct texts),
    # no statistics (nothing filters on them)
    pq.write_table(table, path, compression="none", use_dictionary=False, write_statistics=False)


class ChildTraceback(Exception):
    """The child's traceback, chained to an error raised again in the main process (for --debug)."""


def fork_is_safe() -> bool:
    """Forking copies only the calling thread: allowed only while no other thread runs."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        return False  # Windows: the sequential path
    try:
        return len(os.listdir("/proc/self/task")) == 1  # OS threads, not only Python's (what 3.12 warns about)
    except OSError:
        return threading.active_count() == 1


class BackgroundIngest:
    """A forked child reading the inputs; `wait()` for its result, `close()` always."""

    def __init__(self, process, folder: Path, started: float):
        self.process = process
        self.folder = folder
        self.parts = folder / "parts"
        self.started = started  # time.perf_counter() at the fork (the run's start)

    @classmethod
    def start(cls, inputs, encoding=None, column_map=None, role_map=None,
              chunk_rows: int | None = None) -> "BackgroundIngest | None":
        """Fork the ingest child now; None when that is not safe here (the caller ingests itself)."""
        if not fork_is_safe():
            return None
        import multiprocessing as mp

        started = time.perf_counter()
        folder = Path(tempfile.mkdtemp(prefix="csqa-ingest-"))
        (folder / "parts").mkdir()
        ctx = mp.get_context("fork")
        process = ctx.Process(target=_child_main, name="csqa-ingest", daemon=True,
                              args=(folder, list(inputs), encoding, dict(column_map or {}), dict(role_map or {}),
                                    chunk_rows, os.getpid(), started))
        # the child is born ignoring Ctrl-C (no window where it could print a traceback); the main
        # process handles it and ends the child
        try:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            previous = None
        try:
            process.start()
            return cls(process, folder, started)  # (Ctrl-C is held off until the caller has the handle)
        except BaseException:
            if process.pid is not None:
                process.kill()
                process.join()
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def wait(self) -> IngestDone:
        """Block until the child is done; its result, or its error raised again here."""
        self.process.join()
        try:
            with open(self.folder / _RESULT, "rb") as fh:
                kind, payload = pickle.load(fh)
        except FileNotFoundError:
            raise RuntimeError(f"读取输入的子进程意外退出 (ingest child exit code {self.process.exitcode})") from None
        if kind == "error":
            raise _rebuild(payload)
        payload.parts = self.parts
        return payload

    def close(self) -> None:
        """End the child if it still runs and remove its folder (idempotent)."""
        if self.process.is_alive():
            self.process.kill()  # it holds nothing to clean up (the folder is removed here); SIGKILL also ends a stopped one
        self.process.join()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _child_main(folder: Path, inputs, encoding, column_map, role_map, chunk_rows, parent: int, started: float) -> None:
    """The child: read, write parts, write the result pickle; never a traceback on stderr."""
    from csqa.runtime.lifeline import die_with_parent

    die_with_parent(parent)  # killed with the main process, even mid-chunk
    for name in ("SIGTERM", "SIGHUP"):  # (the main process's handlers for these are not the child's)
        try:
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        except (ValueError, AttributeError):
            pass
    try:
        result = ("ok", _ingest(folder / "parts", inputs, encoding, column_map, role_map, chunk_rows, parent, started))
    except _ParentGone:
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(1)
    except BaseException as exc:  # noqa: BLE001 - every error goes to the main process
        result = ("error", _describe(exc))
    tmp = folder / (_RESULT + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, folder / _RESULT)


class _ParentGone(Exception):
    pass


def _ingest(parts: Path, inputs, encoding, column_map, role_map, chunk_rows, parent: int, started: float) -> IngestDone:
    import json

    from csqa.core.errors import writing
    from csqa.ingest import IngestOptions, iter_input_chunks
    from csqa.ingest.order import ORDER_FILE, OrderCheck
    from csqa.runtime.measure import peak_rss_mb

    options = IngestOptions(encoding=encoding, column_map=column_map, role_map=role_map)
    if chunk_rows is not None:
        options.chunk_rows = chunk_rows
    done = IngestDone(parts)
    order = OrderCheck()
    n = 0
    for messages, rejected, info in iter_input_chunks(inputs, options):
        if os.getppid() != parent:
            raise _ParentGone()  # the main process died (killed): nobody will read or remove this
        if len(messages):
            order.add(messages["conversation_id"].to_numpy(dtype=object), messages["timestamp"].to_numpy())
            with writing(parts):  # a full or read-only temporary folder: one line naming it
                write_part(messages, parts / f"part-{n:06d}.parquet")
            n += 1
            done.rows_scored += len(messages)
        if len(rejected):
            done.rejects.append(rejected)
        if info is not None:
            done.inputs.append(info)
    # beside the parts: lets the stage serve them as written when the export is already in order
    (parts / ORDER_FILE).write_text(json.dumps(order.as_dict()), encoding="utf-8")
    done.seconds = time.perf_counter() - started
    done.cpu_seconds = time.process_time()  # a forked child's CPU clock starts at zero
    done.peak_rss_mb = peak_rss_mb()
    return done


def _describe(exc: BaseException) -> tuple:
    """An exception as plain data (csqa errors' __init__ takes other arguments than their args)."""
    state = {k: v for k, v in vars(exc).items() if _picklable(v)}
    text = "".join(traceback.format_exception(exc))
    return type(exc).__module__, type(exc).__qualname__, tuple(a for a in exc.args if _picklable(a)), state, text


def _picklable(value) -> bool:
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001
        return False
    return True


def _rebuild(payload: tuple) -> BaseException:
    module, qualname, args, state, text = payload
    try:
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(qualname)
        exc = cls.__new__(cls)
        exc.args = args
        vars(exc).update(state)
    except Exception:  # noqa: BLE001 - an error class that cannot be rebuilt here
        exc = RuntimeError(f"{qualname}: {args[0] if args else ''}")
    exc.__cause__ = ChildTraceback("\n" + text)
    return exc

