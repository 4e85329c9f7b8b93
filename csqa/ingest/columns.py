"""Find the conversation / time / role / agent / text columns in a file's header."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from csqa.core.errors import ConfigError, InputError

# Field -> header names tried, in order of preference (compared after normalize_header).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "conversation_id": ("会话ID", "会话编号", "session_id", "conversation_id", "对话ID", "对话编号", "chat_id"),
    "timestamp": ("时间", "消息时间", "发送时间", "timestamp", "time", "日期时间", "datetime", "created_at"),
    "role": ("发送方", "角色", "sender", "role", "发送者", "发送人", "身份", "speaker"),
    # id-like names first: when a file has both 客服工号 and 客服昵称 the id is the better key
    "agent_id": ("客服ID", "客服工号", "客服账号", "agent_id", "客服", "agent", "客服昵称"),
    "text": ("内容", "消息内容", "text", "content", "message", "聊天内容", "消息文本"),
}
REQUIRED_FIELDS = ("conversation_id", "role", "text")
OPTIONAL_FIELDS = ("timestamp", "agent_id")

#: Chinese name of each field, used in messages.
FIELD_LABELS = {
    "conversation_id": "会话ID",
    "timestamp": "时间",
    "role": "发送方",
    "agent_id": "客服",
    "text": "内容",
}

# Keys accepted in IngestOptions.column_map / --map, besides the field names themselves.
_FIELD_KEY_ALIASES = {
    "conversation": "conversation_id",
    "session": "conversation_id",
    "session_id": "conversation_id",
    "会话": "conversation_id",
    "会话id": "conversation_id",
    "time": "timestamp",
    "时间": "timestamp",
    "sender": "role",
    "角色": "role",
    "发送方": "role",
    "agent": "agent_id",
    "客服": "agent_id",
    "content": "text",
    "内容": "text",
}


_IGNORED_IN_HEADERS = str.maketrans("", "", "_-.")


def normalize_header(name: object) -> str:
    """Compare headers ignoring case, full-width forms, BOMs, whitespace and _ - . (Session ID = session_id)."""
    text = "" if name is None else str(name)
    text = unicodedata.normalize("NFKC", text.replace("\ufeff", ""))
    return "".join(text.split()).lower().translate(_IGNORED_IN_HEADERS)


def canonical_field(key: str) -> str:
    norm = normalize_header(key)
    for field in FIELD_ALIASES:
        if norm == normalize_header(field):
            return field
    for alias, field in _FIELD_KEY_ALIASES.items():
        if norm == normalize_header(alias):
            return field
    raise ConfigError(
        f"--map 中的字段「{key}」无法识别；可用字段: {', '.join(FIELD_ALIASES)} "
        f"(unknown field in column map)"
    )


def canonical_column_map(column_map: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, header in (column_map or {}).items():
        out[canonical_field(key)] = str(header)
    return out


@dataclass(frozen=True)
class ColumnMapping:
    """Index (into the header) and original header name of each field found; None when absent."""

    index: dict[str, int | None]
    header: dict[str, str]

    @property
    def has_time(self) -> bool:
        return self.index.get("timestamp") is not None

    @property
    def has_agent(self) -> bool:
        return self.index.get("agent_id") is not None

    def label(self, field: str) -> str:
        """How a field is named in a reject reason: the file's own header."""
        return self.header.get(field) or FIELD_LABELS[field]


def resolve_columns(path, headers: list[str], column_map: dict[str, str]) -> ColumnMapping:
    """Map fields to header positions; raise InputError naming what is missing and how to fix it.

    column_map must already be canonical (see canonical_column_map).
    """
    normalized = [normalize_header(h) for h in headers]
    index: dict[str, int | None] = {}
    names: dict[str, str] = {}
    missing: list[str] = []
    not_found: list[str] = []
    for field, aliases in FIELD_ALIASES.items():
        if field in column_map:
            pos = _find(normalized, normalize_header(column_map[field]))
            if pos is None:
                not_found.append(field)
        else:
            pos = None
            for alias in aliases:
                pos = _find(normalized, normalize_header(alias))
                if pos is not None:
                    break
            if pos is None and field in REQUIRED_FIELDS:
                missing.append(field)
        index[field] = pos
        if pos is not None:
            names[field] = str(headers[pos]).replace("\ufeff", "").strip()
    if missing or not_found:
        raise InputError(path, _missing_message(headers, column_map, missing, not_found))
    return ColumnMapping(index=index, header=names)


def _missing_message(headers, column_map, missing: list[str], not_found: list[str]) -> str:
    shown = [_one_line(h) for h in headers if str(h).strip()]
    columns = "、".join(f"「{h}」" for h in shown[:30]) or "（无）"
    if len(shown) > 30:
        columns += f" 等 {len(shown)} 列"
    if len(shown) <= 1:
        columns += "（只找到一列：分隔符可能不对，或第一行不是表头）"
    parts = []
    if not_found:
        wanted = "、".join(f"--map {f}={column_map[f]}" for f in not_found)
        parts.append(f"{wanted} 指定的列不在文件中")
    if missing:
        parts.append("缺少必需的列" + "、".join(f"「{FIELD_LABELS[f]}」({f})" for f in missing))
    parts.append(f"文件中的列: {columns}")
    if missing:
        if len(missing) == 1:
            tried = ", ".join(FIELD_ALIASES[missing[0]])
        else:
            tried = "；".join(f"{f}: {', '.join(FIELD_ALIASES[f])}" for f in missing)
        parts.append(f"已尝试的列名: {tried}")
    fields = missing + not_found
    parts.append("可用 " + " ".join(f"--map {f}=列名" for f in fields) + " 指定")
    return "；".join(parts) + " (required column missing)"


def _one_line(header, limit: int = 30) -> str:
    text = " ".join(str(header).replace("\ufeff", "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _find(normalized: list[str], wanted: str) -> int | None:
    if not wanted:
        return None
    for i, name in enumerate(normalized):
        if name == wanted:
            return i
    return None
