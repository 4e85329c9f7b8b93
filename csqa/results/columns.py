"""Every result table csqa writes, declared once: its columns, their types, Chinese headers and policies.

A table is a list of `Column`s in the order of its CSV file. Each column says

- `kind`: what its values are, which fixes the pandas dtype of the frames the scoring builds
  (`csqa.results.tables`), the DuckDB type of the store (`csqa.outputs.store.schema`) and how
  report.xlsx writes a cell (`csqa.outputs.report.xlsx`):

  ======== ============================== ========= ==========================
  kind     frame dtype                    DuckDB    xlsx
  ======== ============================== ========= ==========================
  text     str (Arrow large_string)       VARCHAR   text (made safe)
  time     str 'YYYY-MM-DD HH:MM:SS' / '' TIMESTAMP date-time
  int      int64                          INTEGER   number
  Int64    nullable Int64                 INTEGER   number
  float    float64                        DOUBLE    number
  float?   float64, NaN when unknown      DOUBLE    number
  bool     bool                           BOOLEAN   是/否
  boolean  nullable boolean               BOOLEAN   是/否
  ======== ============================== ========= ==========================

- `header`: its Chinese header in report.xlsx;
- `number_format`: "percent", "0.0" or "0.00" in report.xlsx (numbers only);
- `csv`: False for a column the store and the report keep but the CSV file does not;
- `store_since`: the store schema that added the column (older stores get it as unknown, and it
  comes after the older columns in the store's table);
- `read_back`: the dtype a column read back from the store is turned into (`"text"`: missing → "");
- `masked`: personal data in it is masked unless `--no-mask` (`csqa.results.transcripts`);
- `derived`: worked out from the other columns once the table is built (finding_id: `csqa.results.finding_ids`),
  not an attribute of the record.

Neutralizing: csqa never lets chat text run as a formula, HTML or script. Every text and time
cell of every table goes through `csqa.outputs.safety.safe_cell` in CSVs and report.xlsx (no
formula, no control character) and is escaped in report.html; the store keeps text as read.

A new column of the findings: one `Column` in `FINDINGS` below (and the attribute of the same
name on `csqa.core.records.Finding`); the frames, the CSV, the store and the workbook follow.
"""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("text", "time", "int", "Int64", "float", "float?", "bool", "boolean")
STORE_TYPES = {"text": "VARCHAR", "time": "TIMESTAMP", "int": "INTEGER", "Int64": "INTEGER", "float": "DOUBLE",
               "float?": "DOUBLE", "bool": "BOOLEAN", "boolean": "BOOLEAN"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    header: str
    number_format: str | None = None
    csv: bool = True
    store_since: int = 1
    read_back: str | None = None
    masked: bool = False
    derived: bool = False  # worked out from the table's other columns, not a record's attribute

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")

    @property
    def store_type(self) -> str:
        return STORE_TYPES[self.kind]

    @property
    def neutralized(self) -> bool:
        """Made safe (no formula, no control character) in every CSV and workbook cell."""
        return self.kind in ("text", "time")


@dataclass(frozen=True)
class Table:
    name: str  # NAME.csv, the store's NAME view (NAME_rows table)
    columns: tuple[Column, ...]

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """All columns, in the table's order."""
        return [c.name for c in self.columns]

    @property
    def csv_columns(self) -> list[str]:
        """The columns of NAME.csv, in order."""
        return [c.name for c in self.columns if c.csv]

    @property
    def store_columns(self) -> list[str]:
        """The columns of the store's table, in its order (later schemas' columns after the older ones)."""
        return [c.name for c in sorted(self.columns, key=lambda c: c.store_since)]  # (stable)

    @property
    def masked(self) -> list[str]:
        return [c.name for c in self.columns if c.masked]

    def of_kind(self, *kinds: str) -> list[str]:
        return [c.name for c in self.columns if c.kind in kinds]

    @property
    def headers(self) -> dict[str, str]:
        return {c.name: c.header for c in self.columns}


def _table(name: str, *columns: Column) -> Table:
    return Table(name, tuple(columns))


C = Column
CONVERSATIONS = _table(
    "conversations",
    C("conversation_id", "text", "会话ID"),
    C("agent_id", "text", "客服"),  # the primary agent: most messages
    C("agents", "text", "参与客服"),  # ";"-joined
    C("started_at", "time", "开始时间"),
    C("ended_at", "time", "结束时间"),
    C("n_messages", "int", "消息数"),
    C("score", "float", "得分", "0.0"),
    C("passed", "bool", "是否合格", read_back="bool"),
    C("critical", "bool", "红线", read_back="bool"),
    C("complaint", "boolean", "投诉", read_back="boolean"),
    C("complaint_category", "text", "投诉类别", read_back="text"),
    C("complaint_severity", "text", "投诉严重度", read_back="text"),
    C("resolved", "boolean", "一次解决", store_since=3),
    C("unhappy_end", "boolean", "顾客不满结束", store_since=3),
    C("first_response_s", "float?", "首次响应(秒)", "0.0"),
    C("mean_response_s", "float?", "平均响应(秒)", "0.0"),
    C("n_findings", "int", "问题数"),
    # the rule codes that did not apply (";"-joined): each check's rate is over the conversations it applied to
    C("not_applicable", "text", "不适用规则", csv=False, read_back="text"),
)

FINDINGS = _table(
    "findings",
    C("conversation_id", "text", "会话ID"),
    C("finding_index", "int", "序号", csv=False, read_back="Int64"),  # place in the conversation's ledger
    C("agent_id", "text", "客服"),  # the sender, for message-level findings
    C("rule_id", "text", "规则编号"),
    C("rule_name", "text", "规则名称"),
    C("check", "text", "检查项"),
    C("severity", "text", "严重度"),
    C("points", "float", "扣分", "0.00"),
    C("message_index", "Int64", "消息序号", read_back="Int64"),
    C("timestamp", "time", "时间"),
    C("span_start", "Int64", "起始位置", read_back="Int64"),  # offsets into the message's original text
    C("span_end", "Int64", "结束位置", read_back="Int64"),
    C("matched_text", "text", "命中文本", read_back="text", masked=True),
    C("evidence", "text", "证据", read_back="text", masked=True),
    C("explanation", "text", "说明", read_back="text", masked=True),
    # highlight offsets into the transcript's text as stored and shown (masked)
    C("hl_start", "Int64", "高亮起点", csv=False, read_back="Int64"),
    C("hl_end", "Int64", "高亮终点", csv=False, read_back="Int64"),
    # stable id: the same input, rulebook and model give the same ids (csqa.results.finding_ids; the review loop)
    C("finding_id", "text", "发现编号", store_since=4, read_back="text", derived=True),
)

AGENTS = _table(
    "agents",
    C("agent_id", "text", "客服"),
    C("conversations", "int", "会话数"),
    C("mean_score", "float", "平均分", "0.0"),
    C("pass_rate", "float", "合格率", "percent"),
    C("passed", "int", "合格会话"),
    C("critical_conversations", "int", "红线会话"),
    C("findings", "int", "问题数"),
    C("complaints", "int", "投诉数"),
    C("serious_complaints", "int", "重大投诉"),
    C("resolution_rate", "float", "一次解决率", "percent", store_since=3),
    C("unhappy_rate", "float", "不满结束率", "percent", store_since=3),
    C("mean_first_response_s", "float", "平均首响(秒)", "0.0"),
    C("mean_response_s", "float", "平均响应(秒)", "0.0"),
    C("top_failed_check", "text", "最常见问题"),
    C("pass_rate_low95", "float", "合格率95%下限", "percent"),  # 95 % Wilson lower bound: what the ranking sorts by
    C("small_sample", "bool", "样本少"),
)

# the transcripts: the store's `messages`, the report's drill-down (not a CSV)
TRANSCRIPTS = _table(
    "messages",
    C("conversation_id", "text", "会话ID"),
    C("message_index", "int", "消息序号", read_back="Int64"),  # position in the ordered conversation, as findings carry it
    C("role", "text", "角色"),
    C("agent_id", "text", "客服"),
    C("timestamp", "time", "时间"),
    C("text", "text", "内容", masked=True),
)

# every input row that was not scored (the columns of `csqa.ingest.model.REJECT_COLUMNS`)
REJECTS = _table(
    "rejects",
    C("source", "text", "文件"),
    C("row", "int", "行"),
    C("column", "text", "列"),
    C("reason", "text", "原因", masked=True),  # (may quote a cell)
    C("raw", "text", "原始内容", masked=True),
)

TABLES = {t.name: t for t in (CONVERSATIONS, FINDINGS, AGENTS, TRANSCRIPTS, REJECTS)}

CONVERSATION_COLUMNS = CONVERSATIONS.csv_columns
FINDING_COLUMNS = FINDINGS.csv_columns
FINDING_RECORD_COLUMNS = [c for c in FINDING_COLUMNS if not FINDINGS[c].derived]  # a Finding's attributes
AGENT_COLUMNS = AGENTS.csv_columns
TRANSCRIPT_COLUMNS = TRANSCRIPTS.names
