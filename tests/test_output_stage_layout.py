"""The output stage lives under csqa/outputs and the result tables under csqa/results: engines and the
results stage build their tables without importing the output stage."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "csqa"


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_engines_and_results_do_not_import_the_output_stage():
    for folder in ("engines", "results"):
        for path in (PACKAGE / folder).rglob("*.py"):
            bad = {m for m in imported_modules(path) if m == "csqa.outputs" or m.startswith("csqa.outputs.")}
            assert not bad, (path, bad)


def test_the_old_scattered_modules_are_gone():
    for name in ("csqa.report", "csqa.store", "csqa.output_jobs", "csqa.csv_writer", "csqa.engines.spool"):
        assert importlib.util.find_spec(name) is None, name
    for name in ("csqa.outputs.run_outputs", "csqa.outputs.report_from_store", "csqa.outputs.csv", "csqa.outputs.jobs",
                 "csqa.outputs.report.builder", "csqa.outputs.store.result_store", "csqa.results.columns",
                 "csqa.results.spool", "csqa.cli.score", "csqa.cli.report", "csqa.cli.rules", "csqa.__main__"):
        assert importlib.util.find_spec(name) is not None, name
