"""report.xlsx: Chinese sheets with frozen headers, filters and widths; no formula ever comes from chat text.

Every cell is written with an explicit type: numbers as numbers (rates formatted as %),
times as Excel date-times, and text with `write_string` after `excel_safe`, so text that
starts with = + - @ can never become a formula (and carries a leading apostrophe in CSVs
and here alike).
"""
from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from csqa.report.safety import excel_safe

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


def write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """Write {sheet name: DataFrame} (English column names, mapped to Chinese headers).

    The 总览 sheet may carry a `_fmt` column: per row, how to show `value`
    (int, 0.0, pct, text); it is not written.
    """
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False, "nan_inf_to_errors": False})
    try:
        head = wb.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True, "valign": "top"})
        fmts = {
            "pct": wb.add_format({"num_format": "0.0%"}),
            "0.0": wb.add_format({"num_format": "0.0"}),
            "0.00": wb.add_format({"num_format": "0.00"}),
            "int": wb.add_format({"num_format": "0"}),
            "dt": wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            "text": wb.add_format({"num_format": "@"}),
            None: None,
        }
        for name, df in sheets.items():
            ws = wb.add_worksheet(name[:31])
            row_fmt = df["_fmt"].tolist() if "_fmt" in df.columns else None
            cols = [c for c in df.columns if c != "_fmt"]
            names = SHEET_HEADERS.get(name, {})
            headers = [names.get(c, HEADERS_ZH.get(c, c)) for c in cols]
            widths = [display_width(h) + 4 for h in headers]
            for j, h in enumerate(headers):
                ws.write_string(0, j, h, head)
            for j, col in enumerate(cols):
                values = df[col].tolist()
                for i, v in enumerate(values, start=1):
                    if _missing(v) or (isinstance(v, str) and v == ""):
                        continue
                    shown = ""
                    if col in DATETIME_COLUMNS and (dt := _as_datetime(v)) is not None:
                        ws.write_datetime(i, j, dt, fmts["dt"])
                        shown = "2026-01-01 00:00:00"
                    elif isinstance(v, (bool, np.bool_)):
                        ws.write_string(i, j, "是" if v else "否")
                        shown = "是"
                    elif isinstance(v, (int, float, np.integer, np.floating)):
                        if col == "value" and row_fmt is not None:
                            f = fmts.get(row_fmt[i - 1])
                        elif col in PERCENT_COLUMNS:
                            f = fmts["pct"]
                        elif col in ONE_DECIMAL:
                            f = fmts["0.0"]
                        elif col in TWO_DECIMALS:
                            f = fmts["0.00"]
                        else:
                            f = None
                        ws.write_number(i, j, float(v), f)
                        shown = f"{float(v):.2f}"
                    else:
                        text = excel_safe(str(v))
                        ws.write_string(i, j, text)
                        shown = text
                    if i <= 300:
                        widths[j] = max(widths[j], min(display_width(shown), 70) + 2)
            for j, w in enumerate(widths):
                ws.set_column(j, j, min(w, 72))
            ws.freeze_panes(1, 0)
            if cols:
                ws.autofilter(0, 0, max(len(df), 1), len(cols) - 1)
    finally:
        wb.close()


class XlsxJob:
    """report.xlsx written in a forked process while the parent writes the store and the CSVs.

    Where fork is not available (Windows, macOS spawn) it is written in this process when
    `wait` is called. `wait` raises CsqaError with the writer's message if it failed.
    """

    def __init__(self, path: Path, sheets: dict[str, pd.DataFrame]):
        import multiprocessing as mp

        self.path = Path(path)
        self.sheets = sheets
        self._error = self.path.with_name(self.path.name + ".error")
        self._proc = None
        if "fork" in mp.get_all_start_methods():
            self._proc = mp.get_context("fork").Process(target=self._run, name="csqa-xlsx", daemon=True)
            self._proc.start()
            self.sheets = None  # the child has its own copy

    def _run(self) -> None:
        try:
            write_xlsx(self.path, self.sheets)
        except BaseException as exc:  # reported by the parent
            self._error.write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
            raise SystemExit(1)

    def wait(self) -> Path:
        from csqa.errors import CsqaError

        if self._proc is None:
            write_xlsx(self.path, self.sheets)
            return self.path
        self._proc.join()
        if self._proc.exitcode != 0:
            detail = self._error.read_text(encoding="utf-8") if self._error.exists() else f"exit code {self._proc.exitcode}"
            raise CsqaError(f"写 report.xlsx 失败 / writing report.xlsx failed: {detail}")
        return self.path

    def cancel(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
            self._proc.join()
