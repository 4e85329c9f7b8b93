"""Ingest: read chat exports (CSV/TSV, XLSX, JSONL, Parquet; files or folders) into one message table.

    from csqa.ingest import read_inputs, IngestOptions
    result = read_inputs(["export.csv", "folder/"], IngestOptions(column_map={"text": "聊天内容"}))
    result.messages   # MESSAGE_COLUMNS, one row per usable message
    result.rejects    # REJECT_COLUMNS, one row per unusable row, with a Chinese reason
    result.inputs     # per file: path, sha256, format, encoding, rows_read, rows_rejected, has_time

Nothing is lost: for every file rows_read == kept + rejected. File-level problems raise
csqa.errors.InputError (one line naming the file and what to do); bad options ConfigError.
"""
from __future__ import annotations

from .columns import FIELD_ALIASES, FIELD_LABELS, REQUIRED_FIELDS
from .model import MESSAGE_COLUMNS, REJECT_COLUMNS, IngestOptions, IngestResult
from .pipeline import (
    EXPLICIT_EXTENSIONS,
    FOLDER_EXTENSIONS,
    ROLE_HINT,
    expand_paths,
    iter_input_chunks,
    read_inputs,
)
from .roles import build_role_table
from .timestamps import parse_timestamps

__all__ = [
    "EXPLICIT_EXTENSIONS",
    "FIELD_ALIASES",
    "FIELD_LABELS",
    "FOLDER_EXTENSIONS",
    "IngestOptions",
    "IngestResult",
    "MESSAGE_COLUMNS",
    "REJECT_COLUMNS",
    "REQUIRED_FIELDS",
    "ROLE_HINT",
    "build_role_table",
    "expand_paths",
    "iter_input_chunks",
    "parse_timestamps",
    "read_inputs",
]
