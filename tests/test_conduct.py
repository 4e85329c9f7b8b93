"""The conduct model: written training replies, plain-array files, numpy = scikit-learn, the `conduct` matcher."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csqa.checks.conduct_model import KINDS, ConductModel, default_corpus_path, default_model, fit, load_conduct_model, to_linear, train
from csqa.complaints.model import input_frame
from csqa.rulebook.loader import load_rulebook
from csqa.textmodel.errors import ModelLoadError
from csqa.textmodel.files import sha256_file

REPO = Path(__file__).resolve().parents[1]
FILES = ("conduct_model.npz", "conduct_model.json", "conduct_model.card.json")


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return pd.read_csv(default_corpus_path(), dtype=str, keep_default_na=False)


def test_corpus_is_written_replies_of_every_kind(corpus):
    assert list(corpus.columns) == ["customer", "agent", "kinds", "family", "writer"]
    assert len(corpus) >= 2500 and not corpus.duplicated(["customer", "agent"]).any()
    kinds = corpus.kinds.str.split(";")
    for kind in KINDS:
        assert kinds.apply(lambda v, k=kind: k in v).sum() >= 80, kind
    assert set(corpus.family) == {"violation", "ordinary", "near_miss"}
    assert ((corpus.kinds != "") == (corpus.family == "violation")).all()
    # the evaluation replies are a separate, blind-labelled set: none of them is in the training corpus
    authored = pd.read_csv(REPO / "benchmarks" / "devset" / "authored_agent_replies.csv", dtype=str, keep_default_na=False)
    assert not set(authored.agent) & set(corpus.agent)


def test_numpy_scoring_equals_scikit_learn_and_files_reload(corpus, tmp_path):
    small = corpus.groupby("family").head(150)
    fitted = fit(small)
    model = ConductModel(to_linear(fitted))
    texts = corpus.agent.sample(300, random_state=2).tolist() + ["", "不行", "亲，这个真不行"]
    x = fitted["features"].transform(input_frame(texts))
    model.prefetch(texts)
    for kind in model.kinds:
        want = fitted[kind].predict_proba(x)[:, 1]
        got = [model.probabilities(t)[kind] for t in texts]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=kind)
    # saved and loaded (coefficients stored as float32): the same decisions, probabilities within 1e-5
    csv = tmp_path / "small.csv"
    small.to_csv(csv, index=False)
    trained, path = train(csv, tmp_path / "m")
    loaded = load_conduct_model(path)
    for t in texts[:50]:
        a, b = trained.probabilities(t), loaded.probabilities(t)
        for k in loaded.kinds:
            assert abs(a[k] - b[k]) < 1e-5


def test_training_is_reproducible_and_the_shipped_model_is_what_it_writes(tmp_path):
    """`csqa train --kind conduct` writes the shipped conduct model, bit for bit."""
    from click.testing import CliRunner

    from csqa.complaints.cli import train as train_cmd

    res = CliRunner().invoke(train_cmd, ["--kind", "conduct", "-o", str(tmp_path)])
    assert res.exit_code == 0 and "言行模型" in res.output, res.output
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (REPO / "models" / name).read_bytes(), name
    card = json.loads((REPO / "models" / "conduct_model.card.json").read_text(encoding="utf-8"))
    assert card["corpus"]["sha256"] == sha256_file(default_corpus_path())


def test_a_tampered_conduct_model_is_refused(tmp_path):
    for name in FILES:
        shutil.copy(REPO / "models" / name, tmp_path / name)
    data = bytearray((tmp_path / FILES[0]).read_bytes())
    data[len(data) // 3] ^= 0x55
    (tmp_path / FILES[0]).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256"):
        load_conduct_model(tmp_path)


def test_the_span_is_the_clause_that_carries_the_conduct():
    model = default_model()
    text = "亲，您好，已经帮您查询了。插头插好了吗？这些最基本的都不检查就来问，先自己看一下吧。"
    spans = model.spans(text, "rude", 0.5)
    assert len(spans) == 1
    start, end, clause = spans[0]
    assert text[start:end] == clause and "已经帮您查询" not in clause
    assert model.spans("好的，已经为您登记，预计明天下午送达", "rude", 0.5) == []


def test_the_conduct_matcher_in_a_rulebook(tmp_path):
    from csqa.scoring.examples import run_examples
    from csqa.text.segment import Segmenter

    book = load_rulebook().rulebook.model_dump(by_alias=True)
    rules = [r for r in book["rules"] if r["check"] == "rude"]
    rule = dict(rules[0])
    rule.update(code="RUD-900", forbid={"conduct": "rude", "conduct_threshold": 0.6, "unless_quoted": True},
                examples={"fail": ["这些最基本的都不检查就来问，先自己看一下吧"],
                          "pass": ["好的，已经为您登记，预计明天下午送达",
                                   [{"customer": "你们就是先自己看一下吧这种态度"}, {"agent": "您说“先自己看一下吧”这种态度，我们非常重视，马上为您处理"}]]})
    book["rules"] = [rule]
    from csqa.rulebook.schema import Rulebook

    results = run_examples(Rulebook.model_validate(book), Segmenter())
    assert all(r.ok for r in results), [(r.example, r.detail) for r in results if not r.ok]


def test_conduct_threshold_is_validated():
    from pydantic import ValidationError

    from csqa.rulebook.schema import Match

    with pytest.raises(ValidationError):
        Match(conduct="rude", conduct_threshold=1.5)
    with pytest.raises(ValidationError):
        Match(conduct="shouting")
