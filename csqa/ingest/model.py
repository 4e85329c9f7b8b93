"""Ingest data model: options, result, column lists and the empty frames every chunk is built on."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from csqa.core.errors import ConfigError

MESSAGE_COLUMNS = [
    "conversation_id",
    "timestamp",
    "role",
    "agent_id",
    "text",
    "source",
    "source_row",
    "seq",
]
REJECT_COLUMNS = ["source", "row", "column", "reason", "raw"]

ROLES = ("agent", "customer", "system")

#: A reject's raw row is cut to this many characters.
RAW_LIMIT = 2_000


@dataclass
class IngestOptions:
    """How to read chat exports.

    encoding: force a text encoding (e.g. "gbk", "utf-8"); None = detect.
    column_map: {field: header in the file}; fields are conversation_id, timestamp, role,
        agent_id, text (aliases accepted: conversation, time, agent, and 会话ID/时间/角色/客服/内容).
    role_map: {value in the role column: "agent" | "customer" | "system"}; adds to / overrides
        the built-in table (客服→agent, 顾客→customer, 系统→system, …).
    chunk_rows: rows per chunk when streaming (bounds memory).
    max_text_chars: messages longer than this are rejected (“消息过长”).
    """

    encoding: str | None = None
    column_map: dict[str, str] = field(default_factory=dict)
    role_map: dict[str, str] = field(default_factory=dict)
    chunk_rows: int = 50_000
    max_text_chars: int = 100_000

    def __post_init__(self) -> None:
        if self.column_map is None:
            self.column_map = {}
        if self.role_map is None:
            self.role_map = {}
        if not isinstance(self.chunk_rows, int) or self.chunk_rows < 1:
            raise ConfigError(f"chunk_rows 必须是正整数，收到 {self.chunk_rows!r} (chunk_rows must be a positive integer)")
        if not isinstance(self.max_text_chars, int) or self.max_text_chars < 1:
            raise ConfigError(
                f"max_text_chars 必须是正整数，收到 {self.max_text_chars!r} (max_text_chars must be a positive integer)"
            )


@dataclass
class IngestResult:
    """All messages read, every row that could not be used, and one info dict per input file."""

    messages: pd.DataFrame
    rejects: pd.DataFrame
    inputs: list[dict]
    #: files found in folders but not read (unknown extension, Office lock files, hidden files)
    skipped: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Data rows read from all inputs; always len(messages) + len(rejects)."""
        return len(self.messages) + len(self.rejects)


def empty_messages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": pd.Series([], dtype="str"),
            "timestamp": pd.Series([], dtype="datetime64[ns]"),
            "role": pd.Series([], dtype="str"),
            "agent_id": pd.Series([], dtype="str"),
            "text": pd.Series([], dtype="str"),
            "source": pd.Series([], dtype="str"),
            "source_row": pd.Series([], dtype="int64"),
            "seq": pd.Series([], dtype="int64"),
        },
        columns=MESSAGE_COLUMNS,
    )


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": pd.Series([], dtype="str"),
            "row": pd.Series([], dtype="int64"),
            "column": pd.Series([], dtype="str"),
            "reason": pd.Series([], dtype="str"),
            "raw": pd.Series([], dtype="str"),
        },
        columns=REJECT_COLUMNS,
    )


def truncate_raw(text: str) -> str:
    if len(text) <= RAW_LIMIT:
        return text
    return text[: RAW_LIMIT - 1] + "…"
