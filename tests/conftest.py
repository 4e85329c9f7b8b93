"""Shared fixtures: the bundled sample, one CLI run over it, the default rulebook, and
helpers that build small conversations the way `csqa rules test` does.

Expensive things are session-scoped: the sample is scored through `csqa score` once
(`sample_run`) and through the pipeline functions once (`sample_results`); tests reuse them.
Real data lives in <repo>/../shared/data and is skipped cleanly when that folder is absent.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "corpora" / "samples"
SAMPLE_CSV = SAMPLES / "chat_export.csv"
BAD_ROWS_CSV = SAMPLES / "bad_rows_export.csv"
SPECIAL_CASES_JSON = SAMPLES / "special_cases.json"
SHARED_DATA = REPO / ".." / "shared" / "data"


# ---------------------------------------------------------------------------- paths and data
@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """<repo>/../shared/data, or skip the test when it is absent (as on a user's machine)."""
    path = SHARED_DATA.resolve()
    if not path.is_dir():
        pytest.skip(f"real data not available: {path} is absent")
    return path


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def bad_rows_csv() -> Path:
    return BAD_ROWS_CSV


@pytest.fixture(scope="session")
def special_cases() -> dict:
    """special_cases.json as loaded: {"special_cases": {key: {...}}, "bad_rows_defects": [...]}."""
    return json.loads(SPECIAL_CASES_JSON.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def special_ids(special_cases) -> dict[str, str]:
    """Special-case key → conversation ID."""
    return {k: v["conversation_id"] for k, v in special_cases["special_cases"].items()}


@pytest.fixture(scope="session")
def sample_rows() -> tuple[list[str], list[list[str]]]:
    """The sample's header and data rows, read with the csv module (quoted newlines kept)."""
    with open(SAMPLE_CSV, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_rows(path: Path, header, rows, encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def special_export(tmp_path_factory, sample_rows, special_ids) -> Path:
    """A small export: only the special-case conversations of the sample (same header)."""
    header, rows = sample_rows
    wanted = set(special_ids.values())
    keep = [r for r in rows if r[0] in wanted]
    return write_rows(tmp_path_factory.mktemp("special") / "special.csv", header, keep)


# ---------------------------------------------------------------------------- CLI
@dataclass
class CliRun:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    outdir: Path | None = None

    def manifest(self) -> dict:
        return json.loads((self.outdir / "run.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def run_cli():
    """Run the csqa CLI in-process (click's CliRunner): run_cli(*args) → CliRun."""
    from click.testing import CliRunner

    from csqa.cli import cli

    def _run(*args, outdir: Path | None = None) -> CliRun:
        argv = [str(a) for a in args]
        if outdir is not None:
            argv += ["-o", str(outdir)]
        result = CliRunner().invoke(cli, argv, catch_exceptions=True)
        return CliRun(result.exit_code, result.stdout, result.stderr, result.exception, outdir)

    return _run


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory, run_cli) -> CliRun:
    """`csqa score corpora/samples/chat_export.csv -o OUT` with default options, run once."""
    out = tmp_path_factory.mktemp("sample_run") / "out"
    run = run_cli("score", SAMPLE_CSV, outdir=out)
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    return run


# ---------------------------------------------------------------------------- pipeline
@pytest.fixture(scope="session")
def segmenter():
    """The checks' segmenter for the sample (gets the default rulebook's phrases; the classifier's
    default segmenter stays untouched, as in `csqa.engines.Scorer`)."""
    from csqa.text.segment import Segmenter

    return Segmenter(backend="auto")


@pytest.fixture(scope="session")
def default_book():
    from csqa.rulebook.loader import load_rulebook

    return load_rulebook().rulebook


@pytest.fixture(scope="session")
def sample_messages():
    from csqa.ingest import read_inputs

    return read_inputs([SAMPLE_CSV]).messages


@pytest.fixture(scope="session")
def scored_sample(segmenter, sample_messages):
    """The sample scored by the pipeline functions without a classifier: (compiled book, results)."""
    from csqa.scoring.stages import ScoreOptions, mask_function, prepare_rulebook, score_frame

    options = ScoreOptions(use_model=False)
    _, book = prepare_rulebook(options, segmenter)
    results = score_frame(sample_messages, book, None, mask_function(True), segmenter)
    return book, results


@pytest.fixture(scope="session")
def check_segmenter():
    """A segmenter of its own for hand-built conversations and custom rulebooks, so the words
    those rulebooks add to jieba never change how the sample is segmented in other tests."""
    from csqa.text.segment import Segmenter

    return Segmenter()


@pytest.fixture(scope="session")
def make_conv(check_segmenter):
    """make_conv(turns) → Conversation; turns as in rulebook examples ([{customer: …}, {agent: …, time: …}])
    or a plain string (one agent reply after 「你好，在吗」)."""
    from csqa.text.conversations import build_conversations
    from csqa.scoring.examples import example_frame

    def _make(turns):
        return next(build_conversations(example_frame(turns, None), check_segmenter))

    return _make


@pytest.fixture(scope="session")
def compile_book(check_segmenter):
    """compile_book(rulebook, select=None, ignore=None) → CompiledRulebook with its words added to jieba."""
    from csqa.checks.engine import CompiledRulebook

    def _compile(rulebook, select=None, ignore=None):
        book = CompiledRulebook(rulebook, select=select, ignore=ignore)
        check_segmenter.add_words(w for w in book.vocabulary() if len(w) >= 2)
        return book

    return _compile
