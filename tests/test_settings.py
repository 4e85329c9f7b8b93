"""One typed settings object: the command line's options plus the rulebook's settings (pass mark, time limits,
min_n), built once and handed down; agents.csv, both reports and `csqa report` read min_n from it."""
from __future__ import annotations

import json
import re

import pandas as pd

from csqa.rulebook.loader import DEFAULT_RULEBOOK, load_rulebook
from csqa.settings import DEFAULT_MIN_N, RulebookSettings, ScoreSettings, ScoringSettings


def _rulebook_with_min_n(tmp_path, min_n: int):
    text = DEFAULT_RULEBOOK.read_text(encoding="utf-8")
    text, n = re.subn(r"\n  pass_mark: ([0-9.]+)", rf"\n  pass_mark: \1\n  min_n: {min_n}", text, count=1)
    assert n == 1
    path = tmp_path / "min_n.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_score_settings_from_the_command_line_values(tmp_path):
    settings = ScoreSettings.from_options(["a.csv", tmp_path / "b.csv"], tmp_path / "out", column_map={"text": "内容"},
                                          select=["OPEN"], no_model=True, no_mask=False, engine="spark", workers=3)
    assert settings.inputs == ("a.csv", str(tmp_path / "b.csv"))
    assert settings.scoring.use_model is False and settings.mask is settings.scoring.mask is True
    assert settings.engine == "spark" and settings.workers == 3 and settings.scoring.select == ("OPEN",)
    assert hash(settings.scoring) == hash(ScoringSettings(select=("OPEN",), use_model=False))  # (Spark keys by it)
    assert settings.rulebook_settings is None and settings.min_n == DEFAULT_MIN_N


def test_rulebook_settings_round_trip_through_the_manifest():
    book = load_rulebook(None).rulebook
    settings = RulebookSettings.of_rulebook(book)
    assert settings.pass_mark == book.settings.pass_mark
    assert settings.first_response_limit_s == 30 and settings.reply_limit_s == 60
    entry = json.loads(json.dumps(settings.manifest_entry()))
    assert "min_n" not in entry  # the default rulebook does not set it: run.json stays as before
    assert RulebookSettings.of_manifest_entry(entry) == settings
    assert RulebookSettings.of_manifest_entry({}) is None  # a run of an older csqa
    newer = json.dumps({"rulebook": {"pass_mark": 60, "min_n": 3}})
    older = json.dumps({"rulebook": {"pass_mark": 70}})
    assert RulebookSettings.of_latest_run([older, newer]).min_n == 3
    assert RulebookSettings.of_latest_run([newer, "not json"]).pass_mark == 60


def test_the_rulebooks_min_n_marks_small_samples_everywhere(run_cli, sample_csv, tmp_path):
    out = tmp_path / "out"
    run = run_cli("score", sample_csv, "-q", "--no-model", "--rulebook", _rulebook_with_min_n(tmp_path, 40), outdir=out)
    assert run.exit_code == 0, (run.stderr, run.exception)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["rulebook"]["min_n"] == 40
    agents = pd.read_csv(out / "agents.csv", encoding="utf-8-sig")
    assert (agents["small_sample"] == (agents["conversations"] < 40)).all()
    assert agents["small_sample"].any() and (agents["conversations"] >= 20).any()  # (20 would mark fewer)
    assert ((agents["conversations"] >= 20) & agents["small_sample"]).any()
    assert "会话数少于 40" in (out / "report.html").read_text(encoding="utf-8")
    rebuilt = tmp_path / "rebuilt"
    run = run_cli("report", "--store", out / "results.duckdb", "-q", outdir=rebuilt)
    assert run.exit_code == 0, (run.stderr, run.exception)
    again = pd.read_csv(rebuilt / "agents.csv", encoding="utf-8-sig")
    assert (again["small_sample"] == (again["conversations"] < 40)).all()
    assert "会话数少于 40" in (rebuilt / "report.html").read_text(encoding="utf-8")


def test_a_rulebook_refuses_a_meaningless_min_n(tmp_path, run_cli, sample_csv):
    run = run_cli("score", sample_csv, "-q", "--rulebook", _rulebook_with_min_n(tmp_path, 0), outdir=tmp_path / "out")
    assert run.exit_code == 2
    assert "min_n" in run.stderr
