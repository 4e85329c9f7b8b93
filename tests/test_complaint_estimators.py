"""The complaint classifier's estimators (config "estimator"): each trains, is saved as a plain linear head and
gives the probabilities scikit-learn's predict_proba gives, before and after the model files are written."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csqa.complaints import load_classifier, train
from csqa.complaints.model import (
    DEFAULT_CONFIG,
    ESTIMATORS,
    card_path_for,
    default_model_path,
    fit,
    input_frame,
    to_linear,
)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpora" / "complaints" / "complaints.csv"

# written probes, with and without the agent turn before them
PROBES = [
    ("快递三天了还没到，到底怎么回事", ""),
    ("没有了", "请问还有其他问题吗"),
    ("没有了", "配件都在吗"),
    ("物流很快，包装也好", ""),
    ("发票开错了能重开吗", ""),
    ("刚买就降价了，能保价吗", ""),
    ("", ""),
    ("好的谢谢", "已经为您登记了"),
]


def _corpus() -> pd.DataFrame:
    return pd.read_csv(CORPUS, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """A stratified slice of the written corpus (every category, serious ones included)."""
    df = _corpus()
    parts = [g.head(80 if c == "none" else 40) for c, g in df.groupby("category")]
    path = tmp_path_factory.mktemp("corpus") / "small.csv"
    pd.concat(parts).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def probe_frame() -> pd.DataFrame:
    df = _corpus().sample(300, random_state=5)
    texts = df.text.tolist() + [t for t, _ in PROBES]
    contexts = df.context.tolist() + [c for _, c in PROBES]
    return input_frame(texts, contexts)


def _assert_heads_equal_scikit_learn(fitted: dict, model, frame: pd.DataFrame, atol: float = 1e-9) -> None:
    x = fitted["features"].transform(frame)
    for head in ("dissatisfied", "aspect", "severity"):
        if fitted.get(head) is None:
            continue
        want = fitted[head].predict_proba(x)
        got = model.predict_proba(head, frame["text"].tolist(), frame["context"].tolist())
        assert got.shape == want.shape, head
        np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=head)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_every_estimator_trains_and_round_trips_through_to_linear(estimator, small_corpus, probe_frame, tmp_path):
    clf, path = train(small_corpus, tmp_path, seed=3, config={"estimator": estimator})
    fitted = clf.fitted
    expected = {"logreg": "LogisticRegression", "linearsvc": "CalibratedClassifierCV",
                "complementnb": "ComplementNB", "multinomialnb": "MultinomialNB"}[estimator]
    assert type(fitted["dissatisfied"]).__name__ == expected
    assert type(fitted["aspect"]).__name__ == expected
    assert type(fitted["severity"]).__name__ == "LogisticRegression"  # severity: always a logistic regression
    # the plain arrays give scikit-learn's probabilities, for every head
    _assert_heads_equal_scikit_learn(fitted, clf.model, probe_frame)
    # … and so does the model read back from its files (coefficients stored as float32)
    loaded = load_classifier(path)
    texts, contexts = probe_frame["text"].tolist(), probe_frame["context"].tolist()
    np.testing.assert_allclose(loaded.predict_proba(texts, contexts)[1], clf.predict_proba(texts, contexts)[1],
                               rtol=0, atol=1e-5)
    card = json.loads(card_path_for(path).read_text(encoding="utf-8"))
    assert card["config"]["estimator"] == estimator


def test_linearsvc_probability_is_platt_scaled_svm_decision(small_corpus, probe_frame):
    """The yes/no probability is a sigmoid of the SVM's own decision: the same order, and P = 0.5 where the
    calibrated decision crosses zero (a threshold on it is a probability)."""
    df = pd.read_csv(small_corpus, dtype=str, keep_default_na=False)
    fitted = fit(df, {"estimator": "linearsvc"}, seed=3)
    x = fitted["features"].transform(probe_frame)
    calibrated = fitted["dissatisfied"].calibrated_classifiers_[0]
    assert calibrated.method == "sigmoid" and fitted["aspect"].calibrated_classifiers_[0].method == "temperature"
    decision = calibrated.estimator.decision_function(x)
    p = fitted["dissatisfied"].predict_proba(x)[:, 1]
    order = np.argsort(decision, kind="stable")
    assert calibrated.calibrators[0].a_ < 0  # P(dissatisfied) = 1 / (1 + exp(a·f + c)) rises with the decision f
    assert np.all(np.diff(p[order]) >= -1e-12)
    assert 0.0 < p.min() < 0.5 < p.max() < 1.0
    # the aspect keeps the SVM's choice
    aspect = fitted["aspect"]
    svm = aspect.calibrated_classifiers_[0].estimator  # fitted on the encoded labels 0 … k-1
    svm_choice = svm.decision_function(x).argmax(axis=1)
    assert (aspect.predict_proba(x).argmax(axis=1) == svm_choice).all()
    assert len(set(svm_choice)) > 1  # not one class for every probe


@pytest.mark.parametrize("estimator", ["linearsvc", "logreg", "complementnb"])
def test_two_aspects_keep_their_names_and_round_trip(estimator, small_corpus, probe_frame):
    """A shop's labels with only two complaint categories: the aspect head is binary (for the SVM,
    temperature-scaled) and keeps the category names, not yes/no."""
    df = pd.read_csv(small_corpus, dtype=str, keep_default_na=False)
    df = df[df.category.isin(["none", "logistics", "product"])]
    fitted = fit(df, {"estimator": estimator}, seed=3)
    assert list(fitted["aspect"].classes_) == ["logistics", "product"]
    model = to_linear(fitted)
    assert model.heads["aspect"].coef.shape[0] == 1 and model.heads["aspect"].classes == ["logistics", "product"]
    _assert_heads_equal_scikit_learn(fitted, model, probe_frame)


def test_naive_bayes_balanced_class_weight_is_sample_weights(small_corpus):
    """The corpus is 2:1 none vs each complaint class; 'balanced' gives the classes equal weight, so the
    multinomial prior is uniform, and without it the prior follows the counts."""
    df = pd.read_csv(small_corpus, dtype=str, keep_default_na=False)
    balanced = fit(df, {"estimator": "multinomialnb"}, seed=3)["dissatisfied"]
    np.testing.assert_allclose(np.exp(balanced.class_log_prior_), [0.5, 0.5], atol=1e-12)
    plain = fit(df, {"estimator": "multinomialnb", "class_weight": None}, seed=3)["dissatisfied"]
    share_none = (df.category == "none").mean()
    np.testing.assert_allclose(np.exp(plain.class_log_prior_), [share_none, 1 - share_none], atol=1e-12)


def test_unknown_estimator_is_refused(small_corpus):
    df = pd.read_csv(small_corpus, dtype=str, keep_default_na=False)
    with pytest.raises(ValueError, match="unknown estimator 'forest'.*logreg"):
        fit(df, {"estimator": "forest"}, seed=3)


def test_word_block_can_be_left_out(small_corpus, probe_frame):
    df = pd.read_csv(small_corpus, dtype=str, keep_default_na=False)
    fitted = fit(df, {"word_max_features": 0}, seed=3)
    model = to_linear(fitted)
    assert [b.name for b in model.blocks] == ["char", "lexicon", "context"]
    _assert_heads_equal_scikit_learn(fitted, model, probe_frame)


def test_character_ngrams_the_numpy_scorer_cannot_read_are_refused(small_corpus):
    df = pd.read_csv(small_corpus, dtype=str, keep_default_na=False)
    fitted = fit(df, {"char_ngrams": [2, 4]}, seed=3)
    with pytest.raises(ValueError, match="up to 3 characters, not 4"):
        to_linear(fitted)


def test_shipped_model_uses_the_default_estimator():
    assert DEFAULT_CONFIG["estimator"] == "logreg"
    card = json.loads(card_path_for(default_model_path()).read_text(encoding="utf-8"))
    assert card["config"]["estimator"] == DEFAULT_CONFIG["estimator"]
