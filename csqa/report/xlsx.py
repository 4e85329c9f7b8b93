"""report.xlsx: Chinese sheets with frozen headers, filters and widths; no formula ever comes from chat text.

Every cell is written with an explicit type: numbers as numbers (rates formatted as %),
times as Excel date-times, and text with `write_string` after `excel_safe`, so text that
starts with = + - @ can never become a formula (and carries a leading apostrophe in CSVs
and here alike).
"""
from __future__ import annotations

import functools
import unicodedata
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from csqa.report.safety import excel_safe, excel_safe_list

HEADERS_ZH = {
    "conversation_id": "会话ID", "agent_id": "客服", "agents": "参与客服", "started_at": "开始时间",
    "ended_at": "结束时间", "n_messages": "消息数", "score": "得分", "passed": "是否合格", "critical": "红线",
    "complaint": "投诉", "complaint_category": "投诉类别", "complaint_severity": "投诉严重度",
    "first_response_s": "首次响应(秒)", "mean_response_s": "平均响应(秒)", "n_findings": "问题数",
    "rule_id": "规则编号", "rule_name": "规则名称", "check": "检查项", "check_zh": "检查项", "severity": "严重度",
    "points": "扣分", "message_index": "消息序号", "timestamp": "时间", "span_start": "起始位置", "span_end": "结束位置",
    "matched_text": "命中文本", "evidence": "证据", "explanation": "说明", "conversations": "会话数",
    "mean_score": "平均分", "pass_rate": "合格率", "critical_conversations": "红线会话", "findings": "问题数",
    "complaints": "投诉数", "serious_complaints": "重大投诉", "normal_complaints": "一般投诉",
    "mean_first_response_s": "平均首响(秒)", "median_first_response_s": "首响中位数(秒)",
    "median_response_s": "回复中位数(秒)", "top_failed_check": "最常见问题", "rate": "命中率", "item": "项目",
    "value": "数值", "n": "n", "note": "说明", "rank": "排名", "small_sample": "样本少", "passed_n": "合格会话",
    "pass_rate_low95": "合格率95%下限", "pass_rate_high95": "合格率95%上限", "focus": "主要问题(本人 vs 团队)",
    "hit_conversations": "命中会话", "points_lost": "扣分合计", "category": "投诉类别",
    "category_conversations": "会话数", "share": "占比", "team_rate": "团队命中率",
}
# the sheet "客服排名" counts passed conversations in `passed`
SHEET_HEADERS = {"客服排名": {"passed": "合格会话"}}
PERCENT_COLUMNS = {"pass_rate", "pass_rate_low95", "pass_rate_high95", "rate", "share", "team_rate"}
DATETIME_COLUMNS = {"started_at", "ended_at", "timestamp"}
ONE_DECIMAL = {"mean_score", "score", "mean_first_response_s", "mean_response_s", "median_first_response_s",
               "median_response_s", "first_response_s"}
TWO_DECIMALS = {"points", "points_lost"}


def display_width(text: str) -> int:
    """Columns a string takes in Excel: CJK and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, (float, np.floating)) and np.isnan(v)


def _as_datetime(v):
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.to_pydatetime()
    if isinstance(v, datetime):
        return v
    if isinstance(v, str) and v:
        try:
            return pd.Timestamp(v).to_pydatetime()
        except (ValueError, TypeError):
            return None
    return None


def _shown_and_kind(col: str, v, row_fmt: str | None):
    """How one cell is written: (kind, value, format key, text for the width) or None for an empty cell.

    This is the reference rule for every cell; `_column_cells` applies it per column in bulk.
    kind is "dt" (an Excel date-time), "str" or "num".
    """
    if _missing(v) or (isinstance(v, str) and v == ""):
        return None
    if col in DATETIME_COLUMNS and (dt := _as_datetime(v)) is not None:
        return "dt", dt, "dt", "2026-01-01 00:00:00"
    if isinstance(v, (bool, np.bool_)):
        return "str", "是" if v else "否", None, "是"
    if isinstance(v, (int, float, np.integer, np.floating)):
        if col == "value" and row_fmt is not None:
            f = row_fmt
        elif col in PERCENT_COLUMNS:
            f = "pct"
        elif col in ONE_DECIMAL:
            f = "0.0"
        elif col in TWO_DECIMALS:
            f = "0.00"
        else:
            f = None
        return "num", float(v), f, f"{float(v):.2f}"
    text = excel_safe(str(v))
    return "str", text, None, text


def _number_format(col: str) -> str | None:
    return "pct" if col in PERCENT_COLUMNS else "0.0" if col in ONE_DECIMAL else "0.00" if col in TWO_DECIMALS else None


_EXCEL_EPOCH = np.datetime64("1899-12-31T00:00:00", "us")
_FIRST_PLAIN_DAY = pd.Timestamp("1900-03-01")


def _excel_serials(stamps: pd.Series) -> list:
    """Excel serial date-times of parsed naive timestamps (NaN where NaT), computed as
    xlsxwriter's write_datetime does: days + (seconds + microseconds / 1e6) / 86400, +1 past
    1900-02-28 (Excel's leap-year bug); the same float operations give the same numbers."""
    us = (stamps.to_numpy(dtype="datetime64[us]") - _EXCEL_EPOCH).astype("int64")
    days, rest = np.divmod(us, 86_400_000_000)
    seconds, micros = np.divmod(rest, 1_000_000)
    serial = days + (seconds.astype(float) + micros.astype(float) / 1e6) / (60 * 60 * 24)
    serial = np.where(serial > 59, serial + 1, serial)
    return np.where(pd.isna(stamps).to_numpy(), np.nan, serial).tolist()


def _column_cells(col: str, series: pd.Series, row_fmt: list | None):
    """[(row, kind, value, format key)] of one column, the same cells `_shown_and_kind` gives.

    Columns of one plain dtype take a bulk path (numbers: NaN is empty; text: "" and NaN
    are empty, the rest goes through the formula guard; date-time text parsed in one go);
    anything else (object columns, date-times that do not parse as one format) goes cell by cell.
    """
    dtype = series.dtype
    if col == "value" and row_fmt is not None:
        pass  # per-row formats: the generic path
    elif dtype.kind in "iuf" and not isinstance(dtype, pd.CategoricalDtype):
        # numpy ints/floats, nullable Int64/Float64: as floats, missing (<NA>) as NaN, NaN is empty
        f = _number_format(col)
        numbers = series.to_numpy(dtype=float, na_value=np.nan).tolist()
        return [(i, "num", v, f) for i, v in enumerate(numbers, start=1) if v == v]
    elif isinstance(dtype, pd.StringDtype) and col not in DATETIME_COLUMNS:
        return [(i, "str", v, None) for i, v in enumerate(excel_safe_list(series.tolist()), start=1)
                if isinstance(v, str) and v]
    elif isinstance(dtype, pd.StringDtype):
        stamps = pd.to_datetime(series, format="%Y-%m-%d %H:%M:%S", errors="coerce")
        parsed = stamps.notna()
        text = series.notna() & (series != "")
        # every non-empty stamp in the one format we write, and past Excel's 1900 quirks (xlsxwriter
        # shifts 1900-01-01 and before 1900-03-01 differently)
        if bool((parsed == text).all()) and not bool((stamps < _FIRST_PLAIN_DAY).any()):
            serials = _excel_serials(stamps)
            return [(i, "dt", s, "dt") for i, s in enumerate(serials, start=1) if s == s]
    cells = []
    for i, v in enumerate(series.tolist(), start=1):
        cell = _shown_and_kind(col, v, row_fmt[i - 1] if row_fmt is not None else None)
        if cell is not None:
            cells.append((i, cell[0], cell[1], cell[2]))
    return cells


def write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """Write {sheet name: DataFrame} (English column names, mapped to Chinese headers).

    The 总览 sheet may carry a `_fmt` column: per row, how to show `value`
    (int, 0.0, pct, text); it is not written.
    """
    with XlsxReport(path, list(sheets)) as book:
        for name, df in sheets.items():
            book.fill(name, df)


class XlsxReport:
    """report.xlsx with its sheets added in order up front and filled in any order later.

    Why: the output stage writes the two big sheets (违规明细, 会话评分) in a process of its own
    while another process is still computing the small ones (`csqa.output_jobs`); xlsxwriter
    keeps every cell until `close` (no constant_memory), so a sheet can be filled after the
    ones behind it, and the workbook's sheet order is the order of `names`. The cells are the
    same whatever order the sheets are filled in (only the shared-string numbering follows it).

    Automatic garbage collection is off while the workbook is open: ~a million small objects
    (cells, their XML) are made and hardly any is part of a cycle, so collections would only
    re-scan them and the caller's heap.
    """

    def __init__(self, path: Path, names: list[str]):
        import gc

        import xlsxwriter

        self.wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                                 "strings_to_numbers": False, "nan_inf_to_errors": False})
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        wb = self.wb
        self.head = wb.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True, "valign": "top"})
        self.fmts = {
            "pct": wb.add_format({"num_format": "0.0%"}),
            "0.0": wb.add_format({"num_format": "0.0"}),
            "0.00": wb.add_format({"num_format": "0.00"}),
            "int": wb.add_format({"num_format": "0"}),
            "dt": wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            "text": wb.add_format({"num_format": "@"}),
            None: None,
        }
        self.sheets = {name: wb.add_worksheet(name[:31], worksheet_class=_bulk_worksheet_class()) for name in names}

    def fill(self, name: str, df: pd.DataFrame) -> None:
        """Write one sheet's header and cells (once per sheet)."""
        ws = self.sheets[name]
        row_fmt = df["_fmt"].tolist() if "_fmt" in df.columns else None
        cols = [c for c in df.columns if c != "_fmt"]
        names = SHEET_HEADERS.get(name, {})
        headers = [names.get(c, HEADERS_ZH.get(c, c)) for c in cols]
        widths = [display_width(h) + 4 for h in headers]
        for j, h in enumerate(headers):
            ws.write_string(0, j, h, self.head)
        for j, col in enumerate(cols):
            # widths follow what the first 300 rows show
            for i, v in enumerate(df[col].iloc[:300].tolist(), start=1):
                cell = _shown_and_kind(col, v, row_fmt[i - 1] if row_fmt is not None else None)
                if cell is not None:
                    widths[j] = max(widths[j], min(display_width(cell[3]), 70) + 2)
            ws.put_column(j, _column_cells(col, df[col], row_fmt), self.fmts)
        for j, w in enumerate(widths):
            ws.set_column(j, j, min(w, 72))
        ws.freeze_panes(1, 0)
        if cols:
            ws.autofilter(0, 0, max(len(df), 1), len(cols) - 1)

    def close(self) -> None:
        """Write the workbook (xlsxwriter writes everything here)."""
        try:
            self.wb.close()
        finally:
            self._restore_gc()

    def discard(self) -> None:
        """Give up without writing the file (xlsxwriter writes nothing before `close`)."""
        self.sheets.clear()
        self._restore_gc()

    def _restore_gc(self) -> None:
        import gc

        if self._gc_was_enabled:
            gc.enable()
            self._gc_was_enabled = False

    def __enter__(self) -> "XlsxReport":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:  # (a half-filled workbook is no use to anyone)
            self.discard()


@functools.cache
def _bulk_worksheet_class():
    from xlsxwriter.utility import xl_col_to_name
    from xlsxwriter.worksheet import CellNumberTuple, CellStringTuple, Worksheet

    class BulkWorksheet(Worksheet):
        """A worksheet that stores a column of cells and writes its rows' XML in bulk.

        Same cells and same bytes as `write_string` / `write_number` and xlsxwriter's own
        `_write_rows` (tests/test_xlsx_job.py compares the parts byte for byte; pyproject.toml caps xlsxwriter at the versions that test passed on); what goes
        is the per-cell overhead of those calls (argument checks, dimension updates, one
        small XML write per cell), about two thirds of report.xlsx's time. Anything this
        fast path does not cover (row formats, comments, Excel 2010 rows, long strings,
        non-finite numbers) goes through xlsxwriter's own methods.
        """

        def put_column(self, col: int, cells, fmts: dict) -> None:
            """Cells [(row, kind, value, format key)] of one column, as `_column_cells` gives them."""
            if self.constant_memory or not cells or cells[-1][0] >= self.xls_rowmax or col >= self.xls_colmax:
                self._put_one_by_one(col, cells, fmts)
                return
            table, shared = self.table, self.str_table._get_shared_string_index
            long_text = self.xls_strmax // 2
            dt = fmts["dt"]
            for i, kind, value, f in cells:
                if kind == "str":
                    if len(value) > long_text:
                        self._write_string(i, col, value)  # (truncation at 32k UTF-16 units)
                    else:
                        table[i][col] = CellStringTuple(shared(value), None)
                elif kind == "num" or isinstance(value, float):
                    if value - value != 0:  # inf: xlsxwriter's own handling (an error without nan_inf_to_errors)
                        self._write_number(i, col, value, fmts.get(f) if kind == "num" else dt)
                    else:
                        table[i][col] = CellNumberTuple(value, fmts.get(f) if kind == "num" else dt)
                else:
                    self.write_datetime(i, col, value, dt)
            # rows come in order: the first and last cell give the dimensions every cell would
            self._check_dimensions(cells[0][0], col)
            self._check_dimensions(cells[-1][0], col)

        def _put_one_by_one(self, col: int, cells, fmts: dict) -> None:
            for i, kind, value, f in cells:
                if kind == "str":
                    self.write_string(i, col, value)
                elif kind == "num":
                    self.write_number(i, col, value, fmts.get(f))
                elif isinstance(value, float):  # an Excel serial already
                    self.write_number(i, col, value, fmts["dt"])
                else:
                    self.write_datetime(i, col, value, fmts["dt"])

        def _write_rows(self) -> None:
            plain = (not self.row_info and not self.comments and self.excel_version != 2010
                     and self.default_row_height == self.original_row_height)
            if not plain:
                super()._write_rows()
                return
            table = self.table
            rows = sorted(r for r, cells in table.items() if cells and self.dim_rowmin <= r <= self.dim_rowmax)
            spans: dict[int, tuple[int, int]] = {}  # per block of 16 rows: first and last column used
            for r in rows:
                cols = table[r].keys()
                lo, hi = min(cols), max(cols)
                b = r // 16
                if b in spans:
                    old = spans[b]
                    spans[b] = (min(old[0], lo), max(old[1], hi))
                else:
                    spans[b] = (lo, hi)
            self.row_spans = {b: f"{lo + 1}:{hi + 1}" for b, (lo, hi) in spans.items()}
            names = {}
            xf = {}
            write = self.fh.write
            for r in rows:
                cells = table[r]
                row_no = str(r + 1)
                parts = [f'<row r="{row_no}" spans="{self.row_spans[r // 16]}">']
                for c in sorted(cells):
                    cell = cells[c]
                    kind = cell.__class__.__name__
                    name = names.get(c)
                    if name is None:
                        name = names[c] = xl_col_to_name(c)
                    fmt = cell.format
                    if fmt:
                        s = xf.get(id(fmt))
                        if s is None:
                            s = xf[id(fmt)] = f' s="{fmt._get_xf_index()}"'
                    else:
                        s = ""
                    if kind == "String":
                        parts.append(f'<c r="{name}{row_no}"{s} t="s"><v>{cell.string}</v></c>')
                    elif kind in ("Number", "Datetime"):
                        parts.append(f'<c r="{name}{row_no}"{s}><v>{cell.number:.16G}</v></c>')
                    else:  # any other kind of cell: xlsxwriter writes it
                        write("".join(parts))
                        parts = []
                        self._write_cell(r, c, cell)
                parts.append("</row>")
                write("".join(parts))

    return BulkWorksheet

