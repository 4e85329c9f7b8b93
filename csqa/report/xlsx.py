"""report.xlsx: Chinese sheets with frozen headers, filters and widths; no formula ever comes from chat text."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from csqa.report.safety import excel_safe

HEADERS_ZH = {
    "conversation_id": "会话ID", "agent_id": "客服", "agents": "参与客服", "started_at": "开始时间",
    "ended_at": "结束时间", "n_messages": "消息数", "score": "得分", "passed": "是否合格", "critical": "红线",
    "complaint": "投诉", "complaint_category": "投诉类别", "complaint_severity": "投诉严重度",
    "first_response_s": "首次响应(秒)", "mean_response_s": "平均响应(秒)", "n_findings": "问题数",
    "rule_id": "规则编号", "rule_name": "规则名称", "check": "检查项", "severity": "严重度", "points": "扣分",
    "message_index": "消息序号", "timestamp": "时间", "span_start": "起始位置", "span_end": "结束位置",
    "matched_text": "命中文本", "evidence": "证据", "explanation": "说明", "conversations": "会话数",
    "mean_score": "平均分", "pass_rate": "合格率", "critical_conversations": "红线会话", "findings": "问题数",
    "complaints": "投诉数", "serious_complaints": "重大投诉", "mean_first_response_s": "平均首响(秒)",
    "top_failed_check": "最常见问题", "rate": "占比", "item": "项目", "value": "数值",
}


def write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    with pd.ExcelWriter(path, engine="xlsxwriter", engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}}) as writer:
        for name, df in sheets.items():
            out = df.copy()
            for col in out.columns:
                if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
                    out[col] = out[col].map(excel_safe)
            out = out.rename(columns=lambda c: HEADERS_ZH.get(c, c))
            out.to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            sheet.freeze_panes(1, 0)
            if len(out.columns):
                sheet.autofilter(0, 0, max(len(out), 1), len(out.columns) - 1)
            for i, col in enumerate(out.columns):
                sample = [str(v) for v in out[col].head(200).tolist()]
                width = max([len(str(col)) * 2] + [min(len(s), 60) for s in sample]) + 2
                sheet.set_column(i, i, min(width, 62))
