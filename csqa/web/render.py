"""What the desk borrows from the report stage: highlighting that escapes every piece of chat text,
masking that keeps highlight offsets, inline SVG charts and the Chinese names of checks, severities
and complaint categories. (One place to import them from, so the pages never build HTML from chat
text themselves.)"""
from __future__ import annotations

from csqa.checks.pii import mask_pii
from csqa.outputs.report.labels import SEVERITY_NAMES_ZH, SEVERITY_ZH, category_zh, check_zh
from csqa.outputs.report.charts import Point, line_chart
from csqa.outputs.report.highlight import Mark, highlight_html, role_zh
from csqa.results.transcripts import prepare_transcripts


def severity_zh(severity: str) -> str:
    return SEVERITY_ZH.get(severity, severity)


def complaint_severity_zh(severity) -> str:
    return SEVERITY_NAMES_ZH.get(severity, "") if isinstance(severity, str) else ""


def mask_text(value):
    return mask_pii(value) if isinstance(value, str) and value else value


__all__ = ["Mark", "highlight_html", "prepare_transcripts", "role_zh", "check_zh", "category_zh", "severity_zh",
           "complaint_severity_zh", "mask_text", "Point", "line_chart"]
