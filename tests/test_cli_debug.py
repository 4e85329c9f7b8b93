"""`--debug` is an option of every command (parsed by click, not read from sys.argv), and `python -m csqa`
runs the command line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def csqa(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "csqa", *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_python_dash_m_csqa_runs_the_command_line():
    run = csqa("rules", "list")
    assert run.returncode == 0, run.stderr
    assert "OPEN-001" in run.stdout


@pytest.mark.parametrize("args", [["rules", "list", "--debug"], ["--debug", "rules", "list"],
                                  ["rules", "--debug", "list"]])
def test_debug_is_accepted_anywhere(run_cli, args):
    run = run_cli(*args)
    assert run.exit_code == 0, (run.stderr, run.exception)
    assert "OPEN-001" in run.stdout


def test_debug_shows_the_traceback_of_a_csqa_error():
    plain = csqa("rules", "show", "NO-SUCH-RULE")
    assert plain.returncode == 2
    assert plain.stderr.startswith("错误: 没有规则") and "Traceback" not in plain.stderr
    debug = csqa("rules", "show", "NO-SUCH-RULE", "--debug")
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def test_debug_is_not_read_from_the_value_of_another_option(tmp_path):
    """"--debug" given as the value of --map is that option's (bad) value: one line, no traceback."""
    run = csqa("score", str(tmp_path / "missing.csv"), "--map", "--debug", "-q", "-o", str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "--map" in run.stderr


def test_commands_loaded_on_demand_get_debug_too():
    from click.testing import CliRunner

    from csqa.cli import cli

    result = CliRunner().invoke(cli, ["train", "--help"])
    assert result.exit_code == 0
    assert "--debug" in result.output
