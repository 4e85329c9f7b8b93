"""Imported by the output jobs' fork server (`csqa.outputs.jobs._PRELOAD`): report.html's template is
compiled there once, before the server forks the report job, instead of in every report job."""
from csqa.outputs.report.builder import report_template

report_template()
