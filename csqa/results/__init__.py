"""Results stage: the tables a run produces, declared once (`csqa.results.columns`) and built from the
scored conversations (`tables`, `transcripts`), spooled to disk while a run is scored (`spool`).

Engines build their result tables here; the output stage (`csqa.outputs`: CSV files, report.html,
report.xlsx, the results store) writes them.
"""
