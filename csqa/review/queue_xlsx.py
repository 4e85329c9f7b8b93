"""The review queue as an Excel workbook, and reading reviewers' verdict files back (XLSX or CSV).

The workbook (`write_queue`), one per reviewer:

- **待审** — one row per finding of the queued conversations (a conversation without findings
  gets one row without a finding_id): the finding, its masked evidence and explanation, and the
  reviewer's columns 判定 (a drop-down 正确 / 误报) and 备注.
- **漏检** — empty rows to add what the machine missed: conversation (drop-down of the queued
  ones), rule (drop-down of the rules), message index (a whole number), comment.
- **会话** — the transcripts: one row per message, each conversation under a heading row, the
  text of a message with a finding highlighted (the matched words in red, the row shaded), and
  two drop-downs on customer messages for complaint labels (投诉类别, 投诉严重度).
- **说明** — how to fill it in, and the sample it came from.

Every text cell is written as text (xlsxwriter `write_string`, never a formula) after
`csqa.outputs.safety.safe_cell` (control characters removed, an apostrophe before what a
spreadsheet could read as a formula); reading undoes the apostrophe. Transcripts and evidence
are masked (`csqa.checks.pii`) whatever the store holds.

`read_verdict_file(path)` reads a CSV (UTF-8 with or without BOM, GB18030…) or an XLSX edited
by a reviewer: headers may be the English keys (finding_id, verdict, comment, conversation_id,
rule_id, message_index, complaint_category, complaint_severity) or the workbook's Chinese ones;
each problem is kept with its row (工作表「待审」第 12 行) for `record_verdicts` to report.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from csqa.core.errors import InputError
from csqa.outputs.safety import safe_cell
from csqa.review.verdicts import LabelRow, VerdictRow, normalize_verdict

# the workbook's headers: Chinese, then the key the reader looks for
FINDING_HEADERS = [("finding_id", "finding_id"), ("会话 conversation_id", "conversation_id"), ("客服 agent_id", "agent_id"),
                   ("规则 rule_id", "rule_id"), ("规则名称 rule_name", "rule_name"), ("等级 level", "level"),
                   ("扣分 points", "points"), ("消息序号 message_index", "message_index"), ("证据 evidence", "evidence"),
                   ("说明 explanation", "explanation"), ("判定 verdict", "verdict"), ("备注 comment", "comment"),
                   ("抽样原因 reason", "reason"), ("机器得分 score", "score")]
MISSED_HEADERS = [("会话 conversation_id", "conversation_id"), ("规则 rule_id", "rule_id"),
                  ("消息序号 message_index", "message_index"), ("备注 comment", "comment"), ("判定 verdict", "verdict")]
TRANSCRIPT_HEADERS = [("会话 conversation_id", "conversation_id"), ("消息序号 message_index", "message_index"),
                      ("角色 role", "role"), ("客服 agent", "agent"), ("时间 time", "time"), ("内容 text", "text"),
                      ("问题 findings", "findings"), ("投诉类别 complaint_category", "complaint_category"),
                      ("投诉严重度 complaint_severity", "complaint_severity")]
HEADER_ALIASES = {
    "finding_id": "finding_id", "问题编号": "finding_id", "verdict": "verdict", "判定": "verdict", "comment": "comment",
    "备注": "comment", "conversation_id": "conversation_id", "会话": "conversation_id", "会话编号": "conversation_id",
    "rule_id": "rule_id", "规则": "rule_id", "规则编号": "rule_id", "message_index": "message_index",
    "消息序号": "message_index", "complaint_category": "complaint_category", "投诉类别": "complaint_category",
    "complaint_severity": "complaint_severity", "投诉严重度": "complaint_severity",
}
REASON_ZH = {"red_line": "红线", "serious_complaint": "重大投诉", "random": "随机抽样", "min_per_agent": "每人最少",
             "calibration": "校准 (每位复核员都审)"}
ROLE_ZH = {"agent": "客服", "customer": "顾客", "system": "系统"}
MISSED_ROWS = 200
SHEET_FINDINGS, SHEET_MISSED, SHEET_TRANSCRIPTS, SHEET_HELP, SHEET_LISTS = "待审", "漏检", "会话", "说明", "选项"


# ---------------------------------------------------------------------------- writing
@dataclass
class QueueContent:
    """What one reviewer's workbook holds (frames as `csqa.outputs.store.ResultStore.load` gives them)."""

    reviewer: str
    conversations: pd.DataFrame  # + reason, calibration
    findings: pd.DataFrame  # with finding_id, hl_start / hl_end into the messages' text
    messages: pd.DataFrame  # masked
    rules: list[tuple[str, str]]  # (code, name) for the drop-down
    sample_id: str
    notes: list[str] = field(default_factory=list)


def _text(ws, row: int, col: int, value, fmt=None) -> None:
    value = "" if value is None or (isinstance(value, float) and pd.isna(value)) else safe_cell(str(value))
    ws.write_string(row, col, value, fmt) if fmt is not None else ws.write_string(row, col, value)


def _num(ws, row: int, col: int, value, fmt=None) -> None:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        ws.write_blank(row, col, None, fmt)
    else:
        ws.write_number(row, col, float(value), fmt)


@dataclass
class _QueueFormats:
    """The cell formats of a queue workbook."""

    head: object
    wrap: object
    you: object
    conv_head: object
    hit_row: object
    red_row: object
    marked: object
    link: object
    points: object


def _add_formats(wb) -> _QueueFormats:
    """The workbook's cell formats (headers, wrapped text, the reviewer's cells, highlights, links)."""
    return _QueueFormats(
        head=wb.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True, "valign": "top"}),
        wrap=wb.add_format({"text_wrap": True, "valign": "top"}),
        you=wb.add_format({"bg_color": "#FFF2CC", "border": 1, "valign": "top", "text_wrap": True, "locked": False}),
        conv_head=wb.add_format({"bold": True, "bg_color": "#E2EFDA", "text_wrap": True}),
        hit_row=wb.add_format({"bg_color": "#FCE4D6", "text_wrap": True, "valign": "top"}),
        red_row=wb.add_format({"bg_color": "#F8CBAD", "text_wrap": True, "valign": "top"}),
        marked=wb.add_format({"bold": True, "font_color": "#C00000", "underline": 1}),
        link=wb.add_format({"font_color": "#1F4E79", "underline": 1, "valign": "top"}),
        points=wb.add_format({"num_format": "0.00", "valign": "top"}),
    )


def write_queue(path: Path, content: QueueContent) -> None:
    """Write one reviewer's queue workbook at `path` (the caller makes it appear atomically)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False, "nan_inf_to_errors": False})
    try:
        fmt = _add_formats(wb)
        ws_f = wb.add_worksheet(SHEET_FINDINGS)
        ws_m = wb.add_worksheet(SHEET_MISSED)
        ws_t = wb.add_worksheet(SHEET_TRANSCRIPTS)
        ws_h = wb.add_worksheet(SHEET_HELP)
        ws_l = wb.add_worksheet(SHEET_LISTS)
        ws_l.hide()

        conv_ids = content.conversations["conversation_id"].astype(str).tolist()
        _write_drop_down_lists(ws_l, content, conv_ids)
        findings = content.findings
        by_conv = {cid: g for cid, g in findings.groupby("conversation_id", sort=False)} if len(findings) else {}
        # transcripts first: the findings sheet links to each conversation's heading row
        heading_row = _write_transcripts_sheet(ws_t, content, by_conv, fmt)
        _write_findings_sheet(ws_f, content, by_conv, heading_row, fmt)
        _write_missed_sheet(ws_m, content, conv_ids, fmt)
        _write_help_sheet(ws_h, content, conv_ids)
        ws_f.activate()
    finally:
        wb.close()


def _write_drop_down_lists(ws_l, content: QueueContent, conv_ids: list[str]) -> None:
    """The hidden sheet of drop-down values: rule codes and names, the queued conversations."""
    for r, (code, name) in enumerate(content.rules):
        _text(ws_l, r, 0, code)
        _text(ws_l, r, 1, name)
    for r, cid in enumerate(conv_ids):
        _text(ws_l, r, 2, cid)


def _conversation_heading(conv, fnd: pd.DataFrame) -> str:
    """The heading line of one conversation in the transcripts sheet (with its whole-conversation findings)."""
    cid = str(conv.conversation_id)
    whole = fnd[fnd["message_index"].isna()]
    problems = "；".join(f"{f.rule_id} {f.rule_name} (−{float(f.points):.2f})" for f in whole.itertuples())
    return (f"会话 {cid} · 客服 {conv.agent_id} · {conv.started_at or '无时间'} · 机器得分 {float(conv.score):.2f}"
            f"{' (红线)' if bool(conv.critical) else ''} · 抽样原因: {REASON_ZH.get(conv.reason, conv.reason)}"
            + (f" · 整通会话的问题: {problems}" if problems else ""))


def _write_transcripts_sheet(ws_t, content: QueueContent, by_conv: dict, fmt: _QueueFormats) -> dict[str, int]:
    """The 会话 sheet: each conversation under a heading row, findings highlighted; returns the heading rows."""
    from csqa.complaints.taxonomy import CATEGORY_NAMES_ZH, SEVERITY_NAMES_ZH

    for c, (title, _) in enumerate(TRANSCRIPT_HEADERS):
        ws_t.write_string(0, c, title, fmt.head)
    findings = content.findings
    msgs_by_conv = {cid: g for cid, g in content.messages.groupby("conversation_id", sort=False)} \
        if len(content.messages) else {}
    heading_row: dict[str, int] = {}
    row = 1
    label_rows: list[int] = []
    for conv in content.conversations.itertuples(index=False):
        cid = str(conv.conversation_id)
        fnd = by_conv.get(cid, findings.iloc[0:0])
        heading_row[cid] = row
        _text(ws_t, row, 0, cid, fmt.conv_head)
        ws_t.merge_range(row, 1, row, len(TRANSCRIPT_HEADERS) - 1, "", fmt.conv_head)
        _text(ws_t, row, 1, _conversation_heading(conv, fnd), fmt.conv_head)
        row += 1
        on_message: dict[int, list] = {}
        for f in fnd[fnd["message_index"].notna()].itertuples():
            on_message.setdefault(int(f.message_index), []).append(f)
        for m in msgs_by_conv.get(cid, content.messages.iloc[0:0]).itertuples():
            index = int(m.message_index)
            hits = on_message.get(index, [])
            cell = (fmt.red_row if any(f.severity == "critical" for f in hits) else fmt.hit_row) if hits else fmt.wrap
            _text(ws_t, row, 0, cid, cell)
            ws_t.write_number(row, 1, index, cell)
            _text(ws_t, row, 2, ROLE_ZH.get(m.role, m.role), cell)
            _text(ws_t, row, 3, m.agent_id if m.role == "agent" else "", cell)
            _text(ws_t, row, 4, m.timestamp, cell)
            _highlighted(ws_t, row, 5, str(m.text or ""), hits, cell, fmt.marked)
            _text(ws_t, row, 6, "；".join(f"{f.rule_id} {f.rule_name}: {f.explanation}" for f in hits), cell)
            if m.role == "customer":
                ws_t.write_blank(row, 7, None, fmt.you)
                ws_t.write_blank(row, 8, None, fmt.you)
                label_rows.append(row)
            row += 1
    if label_rows:
        ws_t.data_validation(1, 7, row - 1, 7, {"validate": "list", "source": list(CATEGORY_NAMES_ZH.values()),
                                               "ignore_blank": True, "error_title": "投诉类别",
                                               "error_message": "请从列表中选择投诉类别"})
        ws_t.data_validation(1, 8, row - 1, 8, {"validate": "list", "source": list(SEVERITY_NAMES_ZH.values()),
                                               "ignore_blank": True, "error_title": "投诉严重度",
                                               "error_message": "请选择 无 / 一般投诉 / 重大投诉"})
    for c, width in enumerate([18, 8, 6, 12, 19, 70, 40, 12, 12]):
        ws_t.set_column(c, c, width)
    ws_t.freeze_panes(1, 0)
    return heading_row


def _write_findings_sheet(ws_f, content: QueueContent, by_conv: dict, heading_row: dict[str, int],
                          fmt: _QueueFormats) -> None:
    """The 待审 sheet: one row per finding (one per conversation without findings) and the verdict drop-down."""
    for c, (title, _) in enumerate(FINDING_HEADERS):
        ws_f.write_string(0, c, title, fmt.head)
    findings = content.findings
    row = 1
    links = 0
    for conv in content.conversations.itertuples(index=False):
        cid = str(conv.conversation_id)
        fnd = by_conv.get(cid, findings.iloc[0:0])
        rows = list(fnd.itertuples()) or [None]
        for f in rows:
            if f is not None:
                _text(ws_f, row, 0, f.finding_id, fmt.wrap)
            if links < 60000:  # (Excel's limit is 65,530 links a sheet)
                ws_f.write_url(row, 1, f"internal:'{SHEET_TRANSCRIPTS}'!A{heading_row[cid] + 1}", fmt.link,
                               string=safe_cell(cid))
                links += 1
            else:
                _text(ws_f, row, 1, cid, fmt.wrap)
            _text(ws_f, row, 2, conv.agent_id if f is None else f.agent_id, fmt.wrap)
            if f is None:
                _text(ws_f, row, 4, "(无扣分项：看过后选 正确；有漏检请填「漏检」表)", fmt.wrap)
            else:
                _write_finding_cells(ws_f, row, f, fmt)
            ws_f.write_blank(row, 10, None, fmt.you)
            ws_f.write_blank(row, 11, None, fmt.you)
            _text(ws_f, row, 12, REASON_ZH.get(conv.reason, conv.reason), fmt.wrap)
            _num(ws_f, row, 13, conv.score, fmt.points)
            row += 1
    if row > 1:
        ws_f.data_validation(1, 10, row - 1, 10, {"validate": "list", "source": ["正确", "误报", "撤回"],
                                                 "error_title": "判定", "error_message": "请选择 正确 或 误报"})
    ws_f.autofilter(0, 0, max(row - 1, 1), len(FINDING_HEADERS) - 1)
    ws_f.freeze_panes(1, 1)
    for c, width in enumerate([22, 18, 12, 10, 16, 6, 7, 8, 40, 40, 9, 28, 12, 9]):
        ws_f.set_column(c, c, width)


def _write_finding_cells(ws_f, row: int, f, fmt: _QueueFormats) -> None:
    """One finding's own cells in the 待审 sheet: rule, level, points, message index, evidence, explanation."""
    _text(ws_f, row, 3, f.rule_id, fmt.wrap)
    _text(ws_f, row, 4, f.rule_name, fmt.wrap)
    _text(ws_f, row, 5, {"critical": "红线", "major": "重要", "minor": "一般", "bonus": "加分"}.get(
        f.severity, f.severity), fmt.wrap)
    _num(ws_f, row, 6, f.points, fmt.points)
    _num(ws_f, row, 7, None if pd.isna(f.message_index) else int(f.message_index), fmt.wrap)
    _text(ws_f, row, 8, f.evidence, fmt.wrap)
    _text(ws_f, row, 9, f.explanation, fmt.wrap)


def _write_missed_sheet(ws_m, content: QueueContent, conv_ids: list[str], fmt: _QueueFormats) -> None:
    """The 漏检 sheet: empty rows with drop-downs to add what the machine missed."""
    for c, (title, _) in enumerate(MISSED_HEADERS):
        ws_m.write_string(0, c, title, fmt.head)
    for r in range(1, MISSED_ROWS + 1):
        for c in range(len(MISSED_HEADERS)):
            ws_m.write_blank(r, c, None, fmt.you)
    if conv_ids:
        ws_m.data_validation(1, 0, MISSED_ROWS, 0, {"validate": "list", "source": f"='{SHEET_LISTS}'!$C$1:$C${len(conv_ids)}",
                                                   "error_title": "会话", "error_message": "请选择本队列中的会话"})
    if content.rules:
        ws_m.data_validation(1, 1, MISSED_ROWS, 1, {"validate": "list", "source": f"='{SHEET_LISTS}'!$A$1:$A${len(content.rules)}",
                                                   "error_title": "规则", "error_message": "请选择规则编号"})
    ws_m.data_validation(1, 2, MISSED_ROWS, 2, {"validate": "integer", "criteria": ">=", "value": 0,
                                               "error_title": "消息序号", "error_message": "消息序号是从 0 开始的整数 (见「会话」表)"})
    ws_m.data_validation(1, 4, MISSED_ROWS, 4, {"validate": "list", "source": ["漏检", "撤回"]})
    for c, width in enumerate([20, 12, 10, 40, 9]):
        ws_m.set_column(c, c, width)
    ws_m.freeze_panes(1, 0)


def _write_help_sheet(ws_h, content: QueueContent, conv_ids: list[str]) -> None:
    """The 说明 sheet: how to fill the workbook in, and the sample it came from."""
    help_lines = [
        f"复核队列 — 复核员 {content.reviewer or '(未指定)'} · 抽样 {content.sample_id} · {len(conv_ids)} 个会话，"
        f"{len(content.findings)} 个机器发现的问题",
        "",
        "1. 「待审」表：每行一个机器发现的问题。在「判定」列选 正确 (问题属实) 或 误报 (不该扣分)，需要时写「备注」。",
        "   点「会话」列的编号跳到「会话」表里的完整对话；标红的文字是触发规则的内容，整行底色表示该消息有问题。",
        "   没有扣分项的会话也有一行：看过后选 正确。不要改动 finding_id 列。",
        "2. 「漏检」表：机器没发现、但应扣分的问题，每行填 会话、规则、消息序号 (「会话」表第二列；针对整通会话的规则如"
        "开场问候可不填)。",
        "3. 「会话」表：顾客消息旁可选「投诉类别」和「投诉严重度」，用于改进投诉识别模型 (可选)。",
        "4. 保存后导入: csqa review import 本文件.xlsx --store 结果库.duckdb --reviewer 你的名字",
        "   任何一行有问题，整个文件都不会导入，并列出行号和原因；改正后重新导入即可 (已导入且未改动的行不会重复记录)。",
        "",
        "个人信息已打码。文件中的文字都按文本写入，不会被当作公式执行。",
        *content.notes,
    ]
    for r, line in enumerate(help_lines):
        _text(ws_h, r, 0, line)
    ws_h.set_column(0, 0, 120)


def _highlighted(ws, row: int, col: int, text: str, hits, fmt, marked) -> None:
    """The message text with the spans of its findings in red (rich text), as plain text otherwise."""
    safe = safe_cell(text)
    spans = sorted({(int(f.hl_start), int(f.hl_end)) for f in hits
                    if not pd.isna(getattr(f, "hl_start", None)) and not pd.isna(getattr(f, "hl_end", None))})
    if safe != text or not spans:  # (made safe: the offsets no longer fit)
        ws.write_string(row, col, safe, fmt)
        return
    parts, at = [], 0
    for start, end in spans:
        start, end = max(start, at), min(end, len(text))
        if end <= start:
            continue
        if start > at:
            parts.append(text[at:start])
        parts += [marked, text[start:end]]
        at = end
    if at < len(text):
        parts.append(text[at:])
    if sum(isinstance(p, str) for p in parts) < 2:  # (a rich string needs two pieces of text)
        ws.write_string(row, col, safe, fmt)
        return
    ws.write_rich_string(row, col, *parts, fmt)


# ---------------------------------------------------------------------------- reading
@dataclass
class VerdictFile:
    rows: list[VerdictRow]
    labels: list[LabelRow]
    problems: list[tuple[str, str, str]]
    blank: int
    read: int


def from_cell(value):
    """A cell as csqa wrote it, back: the apostrophe `safe_cell` put before a formula-like text removed."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("'") and safe_cell(value[1:]) == value:
            return value[1:]
    return value


def _key(header) -> str | None:
    text = "" if header is None else str(header).strip()
    if not text:
        return None
    if text in HEADER_ALIASES:
        return HEADER_ALIASES[text]
    for token in re.split(r"[\s()（）/]+", text):
        if token.lower() in HEADER_ALIASES:
            return HEADER_ALIASES[token.lower()]
        if token in HEADER_ALIASES:
            return HEADER_ALIASES[token]
    return None


def _index(value) -> int | None:
    """A message index cell: blank → None; ValueError when not a whole number ≥ 0."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        value = int(value)
    if isinstance(value, str):
        value = int(value.strip())
    if not isinstance(value, int) or value < 0:
        raise ValueError(value)
    return value


def _cell_text(value) -> str:
    value = from_cell(value)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _take(table: list[tuple[str, int, dict]], kind: str, out: VerdictFile) -> None:
    """Rows of one table (where, row number, {key: cell}) into verdicts and labels."""
    for where, number, cells in table:
        out.read += 1
        verdict_text = _cell_text(cells.get("verdict"))
        fid = _cell_text(cells.get("finding_id")) or None
        cid = _cell_text(cells.get("conversation_id")) or None
        rule = _cell_text(cells.get("rule_id")) or None
        comment = _cell_text(cells.get("comment"))
        category = _cell_text(cells.get("complaint_category"))
        severity = _cell_text(cells.get("complaint_severity"))
        if kind == "missed" and not verdict_text and (rule or cells.get("message_index") not in (None, "")):
            verdict_text = "漏检"
        if not verdict_text and not category and not severity:
            if kind == "verdicts":  # (a finding left undecided; empty miss rows and unlabelled messages are not counted)
                out.blank += 1
            continue
        try:
            index = _index(from_cell(cells.get("message_index")))
        except (ValueError, TypeError):
            out.problems.append((where, "message_index", f"消息序号 {cells.get('message_index')!r} 不是从 0 开始的整数"))
            continue
        if category or severity:
            if cid is None or index is None:
                out.problems.append((where, "complaint_category", "投诉标注需要 conversation_id 和 message_index"))
            else:
                out.labels.append(LabelRow(cid, index, category, severity, where, number))
        if not verdict_text:
            continue
        try:
            verdict = normalize_verdict(verdict_text)
        except ValueError as exc:
            out.problems.append((where, "verdict", str(exc)))
            continue
        out.rows.append(VerdictRow(verdict, fid, comment, cid, rule, index, where, number))


def read_verdict_file(path: str | Path) -> VerdictFile:
    """A reviewer's CSV or XLSX, as verdict rows, label rows and the problems of unreadable cells."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "找不到文件；请检查路径 (file not found)")
    out = VerdictFile([], [], [], 0, 0)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        for title, kind, table in _xlsx_tables(path):
            _take(table, kind, out)
    else:
        _take(_csv_table(path), "verdicts", out)
    return out


def _columns(path: Path, where: str, header: list) -> dict[int, str]:
    keys = {}
    for i, h in enumerate(header):
        k = _key(h)
        if k is not None and k not in keys.values():
            keys[i] = k
    return keys


def _csv_table(path: Path) -> list[tuple[str, int, dict]]:
    from csqa.ingest.encoding import detect_text_encoding

    info = detect_text_encoding(path)
    with open(path, encoding=info.encoding, errors=info.errors, newline="") as fh:
        sample = fh.read(65536)
        fh.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(fh, dialect)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(path, "文件是空的；需要表头 finding_id, verdict, comment (empty file)") from None
        keys = _columns(path, "", header)
        if "verdict" not in keys.values() and "complaint_category" not in keys.values():
            raise InputError(path, f"缺少列 verdict (判定)；需要 finding_id, verdict, comment，漏检另需 conversation_id, "
                                   f"rule_id, message_index (现有列: {', '.join(map(str, header[:15]))})")
        table = []
        for number, record in enumerate(reader, start=2):
            if not any(v.strip() for v in record):
                continue
            table.append((f"第 {number} 行", number, {k: record[i] if i < len(record) else None for i, k in keys.items()}))
    return table


def _xlsx_tables(path: Path):
    import warnings
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    from csqa.ingest.readers import MAX_XLSX_ROWS, check_xlsx_limits

    check_xlsx_limits(path, str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # (formulas as their text: a reviewer's "=…" comment is kept as written, never evaluated or lost)
            wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, EOFError) as exc:
        raise InputError(path, f"无法打开 Excel 文件：文件已损坏或不是 .xlsx（{type(exc).__name__}）；"
                               f"请在 Excel 中打开后另存为 .xlsx 或 UTF-8 CSV") from None
    found = []
    try:
        for ws in wb.worksheets:
            if ws.sheet_state != "visible":  # (the hidden list of drop-down values)
                continue
            declared = getattr(ws, "max_row", None)
            if isinstance(declared, int) and declared > MAX_XLSX_ROWS:
                raise InputError(path, f"工作表「{ws.title}」超过 Excel 的上限 {MAX_XLSX_ROWS:,} 行")
            if hasattr(ws, "reset_dimensions"):
                ws.reset_dimensions()
            rows = ws.iter_rows(values_only=True)
            header, header_at = None, 0
            for number, values in enumerate(rows, start=1):
                if values and any(v is not None and str(v).strip() for v in values):
                    header, header_at = list(values), number
                    break
            if header is None:
                continue
            keys = _columns(path, ws.title, header)
            names = set(keys.values())
            if "finding_id" in names or ("verdict" in names and "rule_id" not in names):
                kind = "verdicts"
            elif ws.title == SHEET_MISSED or {"conversation_id", "rule_id"} <= names and "complaint_category" not in names:
                kind = "missed"
            elif "complaint_category" in names:
                kind = "labels"
            else:
                continue
            table = []
            for number, values in enumerate(rows, start=header_at + 1):
                if not values or not any(v is not None and str(v).strip() for v in values):
                    continue
                cells = {k: values[i] if i < len(values) else None for i, k in keys.items()}
                if kind == "labels":  # (heading rows of the transcript sheet: no message index)
                    if cells.get("message_index") in (None, "") and not cells.get("complaint_category"):
                        continue
                    cells.pop("verdict", None)
                table.append((f"工作表「{ws.title}」第 {number} 行", number, cells))
            found.append((ws.title, kind, table))
    finally:
        wb.close()
    if not found:
        raise InputError(path, "没有找到可导入的工作表 (需要表头含 finding_id / verdict (判定) 的「待审」表，或「漏检」表)")
    return found
