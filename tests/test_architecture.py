"""The tree reads as the pipeline (ARCHITECTURE.md): no module imports from a later stage, no function is
longer than a screen."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "csqa"

# csqa's top-level packages and modules in pipeline order; each may import from its own stage and earlier
# ones only. Command-line parsing (click) lives in csqa/cli/ only.
STAGES = [
    ("", "core", "runtime", "settings"),  # shared records, errors, paths, memo; processes, workspaces, measures; settings
    ("ingest",),  # files → one messages frame, rejects with reasons
    ("text",),  # normalize, segment, messages → conversations
    ("textmodel",),  # the linear text models' features and safe files
    ("rulebook",),  # the rulebook's schema, loading, lint
    ("complaints",),  # the complaint classifier and a conversation's complaint decision
    ("checks",),  # matchers, rules, the compiled rulebook
    ("scoring",),  # the scorecard and the stage sequence (stages.Judge)
    ("results",),  # the output tables, declared once
    ("outputs",),  # writing: CSV, report, store, the output jobs
    ("engines",),  # where the stages run: this process, workers, Spark
    ("runner",),  # a run from inputs to outputs
    ("review",),  # the review loop over the store
    ("web",),  # csqa serve
    ("cli", "__main__"),  # parsing only
]
MAX_FUNCTION_LINES = 80
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts


def _stage(parts: tuple[str, ...]) -> str:
    return "" if parts == ("__init__",) else parts[0]


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "csqa":
                yield node.lineno, tuple(parts[1:])


def test_every_top_level_module_has_a_stage():
    unknown = {_stage(parts) for _, parts in _modules()} - set(RANK)
    assert not unknown, f"add these to STAGES in pipeline order: {sorted(unknown)}"


def test_no_module_imports_from_a_later_stage():
    wrong = []
    for path, parts in _modules():
        own = RANK.get(_stage(parts))
        for line, target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if not target:
                continue
            stage = _stage(target) if (PACKAGE / Path(*target)).with_suffix(".py").exists() else target[0]
            if stage in RANK and own is not None and RANK[stage] > own:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports csqa.{'.'.join(target)} ({stage})")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_the_order_test_sees_a_backward_import(tmp_path):
    """The check itself: a scoring module that imported the runner would be reported."""
    tree = ast.parse("from csqa.runner import run_score\nimport csqa.text.segment\n")
    targets = [t for _, t in _imports(tree)]
    assert ("runner",) in targets and ("text", "segment") in targets
    assert RANK[_stage(("runner",))] > RANK[_stage(("scoring", "stages"))]


def test_commands_are_defined_in_the_cli_package_only():
    """Each sub-command is a module of csqa/cli/ (ruff's layout); the stages below it print, never parse."""
    defining = []
    for path, parts in _modules():
        if parts[0] == "cli":
            continue
        text = path.read_text(encoding="utf-8")
        if "@click.command" in text or "@click.group" in text or "@click.option" in text:
            defining.append(str(path.relative_to(PACKAGE.parent)))
    assert not defining, f"move these commands into csqa/cli/: {defining}"


@pytest.mark.parametrize("path", [p for p, _ in _modules()], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_function_is_longer_than_a_screen(path):
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"split into named steps: {long}"
