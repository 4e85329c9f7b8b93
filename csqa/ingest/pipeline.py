"""read_inputs / iter_input_chunks: files and folders in, messages and rejected rows out."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from csqa.core.errors import ConfigError, CsqaError, InputError
from .columns import ColumnMapping, canonical_column_map, resolve_columns
from .model import (
    MESSAGE_COLUMNS,
    REJECT_COLUMNS,
    IngestOptions,
    IngestResult,
    empty_messages,
    empty_rejects,
    truncate_raw,
)
from .readers import (
    NO_DATA,
    DelimitedReader,
    JsonlReader,
    ParquetReader,
    RawChunk,
    Reader,
    XlsxReader,
    to_str_series,
)
from .roles import build_role_table, map_roles
from .timestamps import is_blank, parse_timestamps

#: extensions read when found in a folder
FOLDER_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
#: extensions read only when the file is named explicitly
EXPLICIT_EXTENSIONS = {**FOLDER_EXTENSIONS, ".txt": "csv"}
SUPPORTED = ".csv .tsv .xlsx .jsonl .parquet"

#: how the CLI lets a user name an unknown role value; used in reject reasons
ROLE_HINT = "--role-map {value}=agent|customer|system"

_MAGIC = (
    (b"PK\x03\x04", "文件内容是 Excel（.xlsx）或压缩包，而扩展名是文本格式；若是 Excel 请把扩展名改为 .xlsx"),
    (b"PAR1", "文件内容是 Parquet，而扩展名是文本格式；请把扩展名改为 .parquet"),
    (b"\xd0\xcf\x11\xe0", "文件是旧版 Excel（.xls）；请在 Excel 中另存为 .xlsx 或 UTF-8 CSV"),
)


def read_inputs(paths, options: IngestOptions | None = None) -> IngestResult:
    """Read every file (folders are searched recursively) into one table of messages.

    Raises InputError (naming the file and what to do) when a file cannot be used at all and
    ConfigError for invalid options; rows that cannot be used go to result.rejects.
    """
    files, skipped = expand_paths(paths)
    messages: list[pd.DataFrame] = []
    rejects: list[pd.DataFrame] = []
    inputs: list[dict] = []
    for msg, rej, info in _iter_files(files, options or IngestOptions()):
        if len(msg):
            messages.append(msg)
        if len(rej):
            rejects.append(rej)
        if info is not None:
            inputs.append(info)
    return IngestResult(
        messages=_concat(messages, empty_messages()),
        rejects=_concat(rejects, empty_rejects()),
        inputs=inputs,
        skipped=skipped,
    )


def iter_input_chunks(paths, options: IngestOptions | None = None) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, dict | None]]:
    """Stream (messages_chunk, rejects_chunk, None) per chunk of at most options.chunk_rows rows;
    after the last chunk of each file, one (empty, empty, input_info) closes that file."""
    files, _ = expand_paths(paths)
    yield from _iter_files(files, options or IngestOptions())


def expand_paths(paths) -> tuple[list[tuple[Path, str]], list[str]]:
    """Files to read as (path, shown name), and files skipped in folders; InputError if one is missing."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[tuple[Path, str]] = []
    skipped: list[str] = []
    seen: set[str] = set()

    def add(path: Path, shown: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append((path, shown))

    for given in paths:
        path = Path(given)
        shown = str(given)
        if not path.exists():
            raise InputError(shown, "文件或文件夹不存在：请检查路径和文件名 (no such file or folder)")
        if path.is_dir():
            found = []
            for sub in sorted(path.rglob("*"), key=lambda p: p.relative_to(path).as_posix()):
                if not sub.is_file():
                    continue
                rel = sub.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or sub.name.startswith("~$"):
                    skipped.append(str(sub))  # hidden files, Office lock files
                    continue
                if sub.suffix.lower() in FOLDER_EXTENSIONS:
                    found.append(sub)
                else:
                    skipped.append(str(sub))
            if not found:
                raise InputError(
                    shown,
                    f"文件夹中没有可读取的聊天记录文件（支持 {SUPPORTED}）；请检查路径 (folder has no readable files)",
                )
            for sub in found:
                add(sub, str(sub))
        else:
            add(path, shown)
    if not files:
        raise ConfigError("没有指定输入文件：请给出聊天记录文件或文件夹 (no input files given)")
    return files, skipped


# --------------------------------------------------------------------------- per file


def _iter_files(files, options: IngestOptions):
    column_map = canonical_column_map(options.column_map)
    role_table = build_role_table(options.role_map)
    state = {"seq": 0}
    for path, shown in files:
        yield from _iter_one(path, shown, options, column_map, role_table, state)


def _open_reader(path: Path, shown: str, options: IngestOptions) -> Reader:
    suffix = path.suffix.lower()
    kind = EXPLICIT_EXTENSIONS.get(suffix)
    if kind is None:
        if suffix == ".xls":
            message = "不支持旧版 Excel（.xls）：请在 Excel 中另存为 .xlsx 或 UTF-8 CSV (.xls is not supported)"
        elif suffix == ".json":
            message = "不支持 .json：请转换为 JSONL（每行一个 JSON 对象，扩展名 .jsonl）(.json is not supported, use JSONL)"
        else:
            message = f"不支持的文件类型「{suffix or '无扩展名'}」：支持 {SUPPORTED} (unsupported file type)"
        raise InputError(shown, message)
    if not path.is_file():
        raise InputError(shown, "不是普通文件，无法读取 (not a regular file)")
    if path.stat().st_size == 0:
        raise InputError(shown, "文件为空（0 字节）：请确认导出是否成功 (empty file)")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if kind in ("csv", "jsonl"):
        for magic, message in _MAGIC:
            if head.startswith(magic):
                raise InputError(shown, message + " (content does not match the extension)")
        if kind == "csv":
            return DelimitedReader(path, shown, options.encoding)
        return JsonlReader(path, shown, options.encoding, options.chunk_rows)
    if kind == "xlsx":
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise InputError(shown, "文件是旧版 Excel（.xls）格式：请在 Excel 中另存为 .xlsx 或 UTF-8 CSV (old .xls format)")
        return XlsxReader(path, shown)
    return ParquetReader(path, shown)


def _iter_one(path: Path, shown: str, options, column_map, role_table, state):
    reader: Reader | None = None
    info = {
        "path": shown,
        "sha256": "",
        "format": "",
        "encoding": None,
        "rows_read": 0,
        "rows_rejected": 0,
        "has_time": False,
    }
    try:
        reader = _open_reader(path, shown, options)
        info.update(sha256=reader.sha256, format=reader.format, encoding=reader.encoding)
        headers = reader.header()
        mapping = resolve_columns(shown, headers, column_map)
        info["has_time"] = mapping.has_time
        for raw in reader.chunks(mapping, options.chunk_rows):
            messages, rejects = _process_chunk(raw, mapping, shown, options, role_table, state)
            info["rows_read"] += len(messages) + len(rejects)
            info["rows_rejected"] += len(rejects)
            if len(messages) or len(rejects):
                yield messages, rejects, None
        if info["rows_read"] == 0:
            raise InputError(shown, NO_DATA)
        info.update(reader.extra_info())
    except CsqaError:
        raise
    except Exception as exc:  # never let a library's exception reach the user as a traceback
        detail = " ".join(str(exc).split())[:300]
        raise InputError(
            shown,
            f"读取文件失败（{type(exc).__name__}: {detail}）；请确认文件未损坏、内容格式与扩展名一致，"
            f"或另存为 UTF-8 CSV (failed to read file)",
        ) from exc
    finally:
        if reader is not None:
            try:
                reader.close()
            except Exception:
                pass
    yield empty_messages(), empty_rejects(), info


class _Rejections:
    """Per row of a chunk: the first reason it is rejected for (None: kept) and the column that holds it."""

    def __init__(self, n: int, mapping: ColumnMapping):
        self.reasons = np.full(n, None, dtype=object)
        self.columns = np.full(n, "", dtype=object)
        self.mapping = mapping

    def reject(self, mask: np.ndarray, field: str, make_reason) -> None:
        pos = np.flatnonzero(mask & (self.reasons == None))  # noqa: E711 - elementwise
        for i in pos:
            self.reasons[i] = make_reason(i)
            self.columns[i] = self.mapping.label(field)

    @property
    def kept(self) -> np.ndarray:
        return self.reasons == None  # noqa: E711


def _process_chunk(raw: RawChunk, mapping: ColumnMapping, shown: str, options, role_table, state):
    """Validate one chunk: rows that pass become messages, the others rejects with a reason."""
    source = raw.source or shown
    n = len(raw.rows)
    check = _Rejections(n, mapping)
    fields = raw.fields
    conv = to_str_series(fields["conversation_id"]).str.strip() if n else pd.Series([], dtype="str")
    role_raw = to_str_series(fields["role"]) if n else pd.Series([], dtype="str")
    text = to_str_series(fields["text"]) if n else pd.Series([], dtype="str")
    roles = map_roles(role_raw, role_table) if n else pd.Series([], dtype="str")
    if mapping.has_agent and n:
        agent = to_str_series(fields["agent_id"]).str.strip()
    else:
        agent = pd.Series([""] * n, dtype="str")

    label = mapping.label
    check.reject(
        (conv == "").to_numpy(dtype=bool),
        "conversation_id",
        lambda i: f"会话ID为空（列「{label('conversation_id')}」）：请补全该行的会话ID (missing conversation id)",
    )
    role_values = _objects(role_raw)
    check.reject(
        (roles == "").to_numpy(dtype=bool),
        "role",
        lambda i: _role_reason(role_values(i), label("role")),
    )
    timestamps = _checked_times(fields, mapping, n, check)
    _check_texts(text, options.max_text_chars, label, check)

    keep_pos = np.flatnonzero(check.kept)
    seq0 = state["seq"]
    state["seq"] += len(keep_pos)
    rows = np.asarray(raw.rows, dtype="int64")

    def kept(series: pd.Series) -> pd.Series:
        if len(keep_pos) == n:
            return series.reset_index(drop=True).astype("str")
        return series.iloc[keep_pos].reset_index(drop=True).astype("str")

    messages = pd.DataFrame(
        {
            "conversation_id": kept(conv),
            "timestamp": pd.Series(timestamps.to_numpy(dtype="datetime64[ns]")[keep_pos], dtype="datetime64[ns]"),
            "role": kept(roles),
            "agent_id": kept(agent),
            "text": kept(text),
            "source": pd.Series([source] * len(keep_pos), dtype="str"),
            "source_row": pd.Series(rows[keep_pos], dtype="int64"),
            "seq": pd.Series(np.arange(seq0, seq0 + len(keep_pos), dtype="int64")),
        },
        columns=MESSAGE_COLUMNS,
    )
    return messages, _rejects_frame(raw, rows, check, source)


def _checked_times(fields, mapping: ColumnMapping, n: int, check: _Rejections) -> pd.Series:
    """The chunk's times (NaT without a time column); a blank or unparseable time rejects its row."""
    if not (mapping.has_time and n):
        return pd.Series(np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"))
    label = mapping.label
    time_values = fields["timestamp"]
    timestamps = parse_timestamps(time_values.reset_index(drop=True))
    blank = is_blank(time_values.reset_index(drop=True)).to_numpy(dtype=bool)
    unparsed = timestamps.isna().to_numpy(dtype=bool)
    time_objects = _objects(time_values)
    check.reject(blank, "timestamp", lambda i: f"时间为空（列「{label('timestamp')}」）：请补全该行的时间 (missing time)")
    check.reject(
        unparsed & ~blank,
        "timestamp",
        lambda i: (
            f"无法解析时间「{_short(time_objects(i))}」（列「{label('timestamp')}」）："
            f"请使用 2026-11-02 09:00:01 这样的格式 (unparseable time)"
        ),
    )
    return timestamps


def _check_texts(text: pd.Series, limit: int, label, check: _Rejections) -> None:
    """An empty text, or one longer than `limit` characters, rejects its row."""
    check.reject(
        (text.str.strip() == "").to_numpy(dtype=bool),
        "text",
        lambda i: f"内容为空（列「{label('text')}」）：该行没有消息文本，请补全或删除该行 (empty text)",
    )
    lengths = text.str.len().to_numpy()
    check.reject(
        lengths > limit,
        "text",
        lambda i: (
            f"消息过长（{lengths[i]} 字，上限 {limit} 字）（列「{label('text')}」）："
            f"请检查该行是否把多条消息或整个文件读进了一个单元格 (message too long)"
        ),
    )


def _rejects_frame(raw: RawChunk, rows: np.ndarray, check: _Rejections, source: str) -> pd.DataFrame:
    """The chunk's rejects: the rows its reader could not split (`raw.bad`) and the rows rejected here, by row."""
    reject_rows = [(r, c, reason, truncate_raw(text_)) for r, c, reason, text_ in raw.bad]
    for i in np.flatnonzero(~check.kept):
        reject_rows.append((int(rows[i]), check.columns[i], check.reasons[i], truncate_raw(raw.raw_of(i))))
    reject_rows.sort(key=lambda r: r[0])
    return pd.DataFrame(
        {
            "source": pd.Series([source] * len(reject_rows), dtype="str"),
            "row": pd.Series([r[0] for r in reject_rows], dtype="int64"),
            "column": pd.Series([r[1] for r in reject_rows], dtype="str"),
            "reason": pd.Series([r[2] for r in reject_rows], dtype="str"),
            "raw": pd.Series([r[3] for r in reject_rows], dtype="str"),
        },
        columns=REJECT_COLUMNS,
    )


def _objects(values: pd.Series):
    """values.to_numpy(dtype=object)[i] as a function of i, converted only if a reject needs it."""
    converted: list[np.ndarray] = []

    def get(i: int):
        if not converted:
            converted.append(values.to_numpy(dtype=object))
        return converted[0][i]

    return get


def _role_reason(value, column: str) -> str:
    shown = _short(value)
    if not shown.strip():
        return f"角色为空（列「{column}」）：请填写 客服、顾客 或 系统 (missing role)"
    return (
        f"无法识别的角色「{shown}」（列「{column}」）：请改为 客服、顾客 或 系统，"
        f"或用 {ROLE_HINT.format(value=shown.strip())} 指定 (unknown role)"
    )


def _short(value, limit: int = 40) -> str:
    from .readers import cell_to_str

    text = cell_to_str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _concat(frames: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    if not frames:
        return empty
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    return pd.concat(frames, ignore_index=True)
