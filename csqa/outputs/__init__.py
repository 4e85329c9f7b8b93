"""Output stage: a run's result tables (`csqa.results`) written out.

- `run_outputs.write_run`: the output stage of `csqa score` (OUTDIR built in a stage folder, swapped in whole);
- `report_from_store.run_report`: `csqa report`, the reports and CSVs of a store selection;
- `files`: the files of OUTDIR (CSVs, report.html, report.xlsx, run.json, run.json last);
- `csv`: the CSV encoder (pandas' bytes, Arrow's speed); `safety`: the one rule for every cell written;
- `jobs`: the report, xlsx and store jobs, each in a process of its own;
- `report/`: report.html and report.xlsx; `store/`: the results store (DuckDB).
"""
