"""Rulebook: the default rulebook, validation errors with file and line, `csqa rules …`, lint, --select/--ignore."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from csqa.core.errors import RulebookError
from csqa.rulebook.loader import DEFAULT_RULEBOOK, load_rulebook, parse_rulebook
from csqa.rulebook.schema import FORBIDDEN_CHECKS, OUTCOME_CHECKS, REQUIRED_CHECKS, STANDARD_CHECKS, Rulebook
from csqa.rulebook.lint import lint

SEED_DOC = re.compile(r"(?<!\d)00[0-4](?!\d)")


# ---------------------------------------------------------------------------- the default rulebook
def test_default_rulebook_loads_and_validates():
    loaded = load_rulebook()
    assert isinstance(loaded.rulebook, Rulebook)
    assert Path(loaded.path) == DEFAULT_RULEBOOK
    assert len(loaded.sha256) == 64
    book = loaded.rulebook
    assert book.rules
    assert len({r.code for r in book.rules}) == len(book.rules)
    # the same text validates through parse_rulebook too
    assert parse_rulebook(DEFAULT_RULEBOOK.read_text(encoding="utf-8")) == book


def test_default_dimension_weights_sum_to_100(default_book):
    assert sum(d.weight for d in default_book.dimensions) == pytest.approx(100)


def test_every_rule_cites_a_seed_clause(default_book):
    for rule in default_book.rules:
        assert rule.clause.strip(), rule.code
        assert SEED_DOC.search(rule.clause), f"{rule.code}: clause {rule.clause!r} cites no seed doc 000–004"


def test_default_rulebook_covers_every_standard_check(default_book):
    covered = {r.check for r in default_book.rules}
    assert set(STANDARD_CHECKS) <= covered, sorted(set(STANDARD_CHECKS) - covered)
    assert set(STANDARD_CHECKS) == set(REQUIRED_CHECKS) | set(FORBIDDEN_CHECKS) | set(OUTCOME_CHECKS)


def test_every_rule_has_fail_examples(default_book):
    for rule in default_book.rules:
        assert rule.examples.fail, rule.code


# ---------------------------------------------------------------------------- csqa rules …
def test_rules_test_passes_every_example(run_cli, default_book):
    n_examples = sum(len(r.examples.fail) + len(r.examples.pass_) for r in default_book.rules)
    run = run_cli("rules", "test")
    assert run.exit_code == 0, run.stdout
    assert run.stdout.strip().splitlines()[-1] == f"{n_examples} passed, 0 failed"
    assert "FAIL" not in run.stdout


def test_rules_lint_is_clean_on_default(run_cli):
    run = run_cli("rules", "lint")
    assert run.exit_code == 0, run.stdout
    assert lint(load_rulebook().rulebook) == []


def test_rules_list_contains_every_code_and_clause(run_cli, default_book):
    run = run_cli("rules", "list")
    assert run.exit_code == 0
    for rule in default_book.rules:
        line = next(l for l in run.stdout.splitlines() if l.startswith(rule.code + " "))
        assert rule.clause in line
        assert rule.check in line


def test_rules_show_contains_clause_and_examples(run_cli, default_book):
    rule = next(r for r in default_book.rules if r.code == "OPEN-001")
    run = run_cli("rules", "show", "OPEN-001")
    assert run.exit_code == 0
    assert rule.clause in run.stdout
    assert "OPEN-001" in run.stdout and rule.name in run.stdout
    for example in rule.examples.fail + rule.examples.pass_:
        if isinstance(example, str):
            assert example in run.stdout
        else:  # a whole conversation: every turn is shown
            assert all(next(iter(turn.values())) in run.stdout for turn in example)


def test_rules_show_unknown_code_is_a_clean_error(run_cli):
    run = run_cli("rules", "show", "NOPE-999")
    assert run.exit_code == 2
    assert len(run.stderr.strip().splitlines()) == 1
    assert "NOPE-999" in run.stderr


# ---------------------------------------------------------------------------- lint on a crafted rulebook
CRAFTED = textwrap.dedent(
    """\
    id: crafted
    name: crafted
    dimensions:
      - {id: handling, name: 处理, weight: 60}
      - {id: redline, name: 红线, weight: 40}
    rules:
      - code: HAND-001
        name: 推诿
        check: buck_passing
        dimension: handling
        severity: major
        points: 10
        clause: "004 §3(二)5"
        forbid:
          phrases: [不归我管, 你找别人]
        examples:
          fail: ["不归我管"]
      - code: HAND-002
        name: 推诿 (copy)
        check: buck_passing
        dimension: handling
        severity: major
        points: 10
        clause: "004 §3(二)5"
        forbid:
          phrases: [不归我管, 你找别人]
        examples:
          fail: ["不归我管"]
      - code: RED-001
        name: 不文明
        check: rude
        dimension: redline
        severity: critical
        points: 10
        clause: "000 §2.2.3"
        forbid:
          phrases: [白痴, 滚]
          exclude: [滚]
        examples:
          fail: ["白痴"]
    """
)


def test_lint_reports_duplicates_and_conflicts(tmp_path, run_cli):
    path = tmp_path / "crafted.yaml"
    path.write_text(CRAFTED, encoding="utf-8")
    problems = lint(load_rulebook(path).rulebook)
    duplicate = [p for p in problems if "HAND-002" in p and "HAND-001" in p and "重复" in p]
    assert duplicate, problems
    conflict = [p for p in problems if "RED-001" in p and "conflict" in p and "滚" in p]
    assert conflict, problems
    overlap = [p for p in problems if "不归我管" in p]
    assert overlap, problems

    run = run_cli("rules", "lint", "--rulebook", path)
    assert run.exit_code == 1
    for p in problems:
        assert p in run.stdout
    assert f"{len(problems)} 个问题" in run.stdout


# ---------------------------------------------------------------------------- bad rulebooks
GOOD_RULE = textwrap.dedent(
    """\
    id: bad
    name: bad
    dimensions:
      - {id: handling, name: 处理, weight: 100}
    rules:
      - code: HAND-001
        name: 拒绝
        check: bare_refusal
        dimension: handling
        severity: major
        points: 5
        clause: "000 §3.3"
        forbid:
          phrases: [不行]
    """
)


def _line_of(text: str, needle: str) -> int:
    """1-based line number of the first line containing `needle`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _bad(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_rule_template_is_valid():
    assert parse_rulebook(GOOD_RULE).rules[0].code == "HAND-001"


def _assert_error(path: Path, line: int, *words: str) -> str:
    with pytest.raises(RulebookError) as info:
        load_rulebook(path)
    message = str(info.value)
    assert str(path) in message
    assert re.search(rf"{re.escape(str(path))}:(?:第 )?{line}(?!\d)", message), message
    rest = message.replace(str(path), "")
    for word in words:
        assert word in rest, message
    return message


def test_unknown_check_names_file_and_line(tmp_path):
    text = GOOD_RULE.replace("check: bare_refusal", "check: bogus_check")
    path = _bad(tmp_path, "rule_c.yaml", text)
    _assert_error(path, _line_of(text, "check: bogus_check"), "bogus_check", "HAND-001")


def test_missing_clause_names_file_and_line(tmp_path):
    text = GOOD_RULE.replace('    clause: "000 §3.3"\n', "")
    path = _bad(tmp_path, "rule_a.yaml", text)
    with pytest.raises(RulebookError) as info:
        load_rulebook(path)
    message = str(info.value)
    assert str(path) in message
    # the rule's own line (the clause key is absent, so the rule that lacks it is the place to fix)
    assert re.search(rf"{re.escape(str(path))}:{_line_of(text, '- code: HAND-001')}(?!\d)", message), message
    assert "HAND-001" in message


def test_missing_clause_message_names_the_field(tmp_path):
    text = GOOD_RULE.replace('    clause: "000 §3.3"\n', "")
    path = _bad(tmp_path, "rule_a.yaml", text)
    with pytest.raises(RulebookError) as info:
        load_rulebook(path)
    assert "clause" in str(info.value).replace(str(path), "")


def test_empty_clause_is_rejected(tmp_path):
    text = GOOD_RULE.replace('clause: "000 §3.3"', 'clause: ""')
    path = _bad(tmp_path, "rule_b.yaml", text)
    _assert_error(path, _line_of(text, 'clause: ""'), "clause")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    text = GOOD_RULE.replace("    name: 拒绝\n", "    name: 拒绝: 又一个冒号\n")
    path = _bad(tmp_path, "syntax.yaml", text)
    _assert_error(path, _line_of(text, "又一个冒号"), "YAML")


def test_yaml_bad_indentation_names_file_and_line(tmp_path):
    text = GOOD_RULE.replace("    severity: major\n", "     severity: major\n")
    path = _bad(tmp_path, "indent.yaml", text)
    _assert_error(path, _line_of(text, "     severity: major"), "YAML")


def test_yaml_unterminated_quote_points_at_its_line(tmp_path):
    text = GOOD_RULE.replace('clause: "000 §3.3"', 'clause: "000 §3.3')
    path = _bad(tmp_path, "quote.yaml", text)
    _assert_error(path, _line_of(text, 'clause: "000 §3.3'), "YAML")


def test_undefined_dimension_names_file_rule_and_dimension(tmp_path):
    text = GOOD_RULE.replace("dimension: handling", "dimension: nowhere")
    path = _bad(tmp_path, "rule_d.yaml", text)
    with pytest.raises(RulebookError) as info:
        load_rulebook(path)
    message = str(info.value)
    assert str(path) in message
    assert "nowhere" in message and "HAND-001" in message


def test_undefined_dimension_points_at_its_line(tmp_path):
    text = GOOD_RULE.replace("dimension: handling", "dimension: nowhere")
    path = _bad(tmp_path, "rule_d.yaml", text)
    _assert_error(path, _line_of(text, "dimension: nowhere"), "nowhere")


def test_missing_rulebook_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(RulebookError) as info:
        load_rulebook(path)
    assert str(path) in str(info.value)


def test_bad_rulebook_via_cli_is_one_clean_line(tmp_path, run_cli, sample_csv):
    text = GOOD_RULE.replace("check: bare_refusal", "check: bogus_check")
    path = _bad(tmp_path, "bad.yaml", text)
    out = tmp_path / "out"
    run = run_cli("score", sample_csv, "--rulebook", path, "--no-model", outdir=out)
    assert run.exit_code == 2
    assert isinstance(run.exception, SystemExit)  # a clean exit, not an escaped exception
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert str(path) in lines[0]
    assert f":{_line_of(text, 'bogus_check')}" in lines[0]
    assert "Traceback" not in run.stderr + run.stdout
    assert not (out / "run.json").exists()


def test_bad_rulebook_via_cli_subprocess_has_no_traceback(tmp_path, sample_csv):
    """One real process end to end: exit 2, one line on stderr, no traceback."""
    import subprocess
    import sys

    text = GOOD_RULE.replace("- {id: handling, name: 处理, weight: 100}", "- {id: handling, name: 处理, weight: 100")
    path = _bad(tmp_path, "syntax.yaml", text)
    proc = subprocess.run(
        [sys.executable, "-m", "csqa.cli", "score", str(sample_csv), "-o", str(tmp_path / "out"),
         "--rulebook", str(path), "--no-model"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith(("Building prefix", "Loading model", "Prefix dict"))]
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0]
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------- --select / --ignore
@pytest.fixture(scope="module")
def selection_runs(tmp_path_factory, run_cli, special_export):
    """The special-case conversations scored with several --select / --ignore settings."""
    base = tmp_path_factory.mktemp("select")
    variants = {
        "all": [],
        "select_codes": ["--select", "OPEN-001,RED-003"],
        "select_check": ["--select", "privacy_leak", "--select", "farewell"],
        "select_prefix": ["--select", "RED"],
        "ignore_codes": ["--ignore", "OPEN-001", "--ignore", "RED-003"],
        "ignore_check": ["--ignore", "farewell,privacy_leak"],
    }
    runs = {}
    for name, args in variants.items():
        run = run_cli("score", special_export, "--no-model", "-q", *args, outdir=base / name)
        assert run.exit_code == 0, (name, run.stderr, run.exception)
        findings = pd.read_csv(base / name / "findings.csv", encoding="utf-8-sig")
        runs[name] = (run.manifest()["rulebook"], set(findings["rule_id"]))
    return runs


def test_select_ignore_baseline_has_the_rules_we_filter(selection_runs, default_book):
    rulebook, found = selection_runs["all"]
    assert rulebook["rules"] == [r.code for r in default_book.rules]
    assert {"OPEN-001", "RED-003", "CLOSE-002"} <= found


def test_select_by_code(selection_runs):
    rulebook, found = selection_runs["select_codes"]
    assert rulebook["rules"] == ["OPEN-001", "RED-003"]
    assert rulebook["select"] == ["OPEN-001", "RED-003"]
    assert found == {"OPEN-001", "RED-003"}


def test_select_by_check_name(selection_runs):
    rulebook, found = selection_runs["select_check"]
    assert rulebook["rules"] == ["CLOSE-002", "RED-003"]
    assert found == {"CLOSE-002", "RED-003"}


def test_select_by_prefix(selection_runs, default_book):
    rulebook, found = selection_runs["select_prefix"]
    assert rulebook["rules"] == [r.code for r in default_book.rules if r.code.startswith("RED-")]
    assert found and all(code.startswith("RED-") for code in found)


def test_ignore_by_code(selection_runs, default_book):
    rulebook, found = selection_runs["ignore_codes"]
    assert rulebook["ignore"] == ["OPEN-001", "RED-003"]
    assert rulebook["rules"] == [r.code for r in default_book.rules if r.code not in ("OPEN-001", "RED-003")]
    assert not found & {"OPEN-001", "RED-003"}
    assert found == selection_runs["all"][1] - {"OPEN-001", "RED-003"}


def test_ignore_by_check_name(selection_runs, default_book):
    rulebook, found = selection_runs["ignore_check"]
    assert rulebook["rules"] == [r.code for r in default_book.rules if r.check not in ("farewell", "privacy_leak")]
    assert not found & {"CLOSE-002", "RED-003"}
    assert found == selection_runs["all"][1] - {"CLOSE-002", "RED-003"}
