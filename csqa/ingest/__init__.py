"""Ingest: read chat exports (CSV/TSV, XLSX, JSONL, Parquet; files or folders) into one message table.

    from csqa.ingest import read_inputs, IngestOptions
    result = read_inputs(["export.csv", "folder/"], IngestOptions(column_map={"text": "聊天内容"}))
    result.messages   # MESSAGE_COLUMNS, one row per usable message
    result.rejects    # REJECT_COLUMNS, one row per unusable row, with a Chinese reason
    result.inputs     # per file: path, sha256, format, encoding, rows_read, rows_rejected, has_time

Nothing is lost: for every file rows_read == kept + rejected. File-level problems raise
csqa.core.errors.InputError (one line naming the file and what to do); bad options ConfigError.
"""
from __future__ import annotations

from importlib import import_module

# The names load with their submodules on first use (PEP 562): `csqa.ingest.background` must be
# importable without pandas (it runs before the heavy imports, see its docstring).
_EXPORTS = {
    "FIELD_ALIASES": "columns",
    "FIELD_LABELS": "columns",
    "REQUIRED_FIELDS": "columns",
    "MESSAGE_COLUMNS": "model",
    "REJECT_COLUMNS": "model",
    "IngestOptions": "model",
    "IngestResult": "model",
    "EXPLICIT_EXTENSIONS": "pipeline",
    "FOLDER_EXTENSIONS": "pipeline",
    "ROLE_HINT": "pipeline",
    "expand_paths": "pipeline",
    "iter_input_chunks": "pipeline",
    "read_inputs": "pipeline",
    "build_role_table": "roles",
    "parse_timestamps": "timestamps",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
