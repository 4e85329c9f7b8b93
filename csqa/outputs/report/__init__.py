"""Report stage: result tables (conversations, findings, agents) and the HTML / Excel reports.

    from csqa.outputs.report import build, ReportOptions
    html, sheets = build(conversations, findings, agents, messages, summary)   # DataFrames in
    csqa.outputs.report.xlsx.write_xlsx(path, sheets)

`build` (csqa/outputs/report/builder.py) documents the columns it reads. Everything is a function
of DataFrames, so one batch from `csqa score` and many batches from the results store
(`csqa report`) give the same report.
"""
from csqa.outputs.report.builder import build
from csqa.outputs.report.options import ReportOptions

__all__ = ["ReportOptions", "build"]
