"""The complaint classifier's fast path gives exactly the scikit-learn pipelines' results.

Compiled models (csqa.complaints.linear) must reproduce ``pipeline[1:].predict_proba`` bit
for bit; model files load without importing scikit-learn; older (format 1) files still load;
the verdict cache never changes an answer.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csqa.complaints import load_classifier, train
from csqa.complaints.features import char_ngrams, normalize_batch, word_tokens
from csqa.complaints.linear import SharedFeaturizer, compile_pipeline
from csqa.complaints.model import (
    VERIFY_TEXTS,
    ComplaintClassifier,
    card_path_for,
    compile_verified,
    default_model_path,
    sha256_file,
)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpora" / "complaints" / "complaints.csv"
SAMPLE = REPO / "corpora" / "samples" / "chat_export.csv"

EDGE_TEXTS = [
    "", " ", "\t", "a  b\t\tc\n\nd", "ＯＫ，１２３", "OK ok Ok", "İstanbul ǅ ß", "😡😡😡!!!", "👍🏻👨‍👩‍👧",
    "[订单x] [微笑] [数字x]12345678", "這個東西還沒發貨嗎?謝謝", "&lt;b&gt;坏了&lt;/b&gt;", "<br>太慢<br/>了",
    "退款" * 400, "x" * 5000, "a b c d e f g", "，。！？",
]


@pytest.fixture(scope="module")
def shipped() -> ComplaintClassifier:
    return load_classifier()


@pytest.fixture(scope="module")
def pipelines(shipped):
    return shipped.category_model, shipped.severity_model


def _texts() -> list[str]:
    corpus = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)["text"].tolist()
    chats = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    chat_texts = chats[chats.columns[-1]].drop_duplicates().tolist()
    return corpus[::3] + chat_texts + EDGE_TEXTS


def test_shipped_model_is_compiled(shipped):
    assert shipped.compiled
    assert shipped.card.get("compiled") is True


def test_compiled_probabilities_are_bit_identical(pipelines):
    cat, sev = pipelines
    cat_c, sev_c = compile_pipeline(cat), compile_pipeline(sev)
    assert cat_c is not None and sev_c is not None
    texts = _texts()
    for fast in (True, False):  # the vectorized analyzers and the string fallback
        fz = SharedFeaturizer([cat_c, sev_c], fast=fast)
        for start in range(0, len(texts), 1500):
            norm = normalize_batch(texts[start : start + 1500])
            data = fz.analyze(norm)
            np.testing.assert_array_equal(fz.predict_proba(cat_c, data), cat[1:].predict_proba(norm))
            np.testing.assert_array_equal(fz.predict_proba(sev_c, data), sev[1:].predict_proba(norm))
            subset = np.arange(1, len(norm), 4)
            np.testing.assert_array_equal(
                fz.predict_proba(sev_c, data, subset=subset), sev[1:].predict_proba([norm[i] for i in subset])
            )


def test_predictions_identical_to_sklearn_path(shipped, pipelines):
    cat, sev = pipelines
    slow = ComplaintClassifier(cat, sev, threshold=shipped.threshold, severity_rules=shipped.severity_rules)
    assert not slow.compiled
    texts = _texts()
    pd.testing.assert_frame_equal(shipped.predict(texts), slow.predict(texts))
    assert shipped.predict_proba(texts)[0] == slow.predict_proba(texts)[0]
    np.testing.assert_array_equal(shipped.predict_proba(texts)[1], slow.predict_proba(texts)[1])


def test_verdict_cache_gives_the_same_answers(shipped, monkeypatch):
    import csqa.complaints.model as model

    texts = _texts()[:300]
    want = shipped.predict(texts)
    want = list(zip(want.complaint_category, want.complaint_severity, want.complaint_probability, want.is_complaint))
    clf = load_classifier()
    monkeypatch.setattr(model, "VERDICT_CACHE_SIZE", 50)  # evictions on the way
    assert clf.verdicts(texts[:120]) == want[:120]
    assert clf.verdicts(texts[60:]) == want[60:]
    assert clf.verdicts(texts) == want
    assert len(clf._verdicts) <= 50
    assert clf.verdicts(texts[::-1]) == want[::-1]


def test_char_ngrams_match_sklearn():
    from sklearn.feature_extraction.text import TfidfVectorizer

    for ngram_range in ((1, 3), (2, 3), (1, 1), (2, 4)):
        analyze = TfidfVectorizer(analyzer="char", ngram_range=ngram_range, lowercase=True).build_analyzer()
        for t in EDGE_TEXTS + ["好的", "Ab  Cd\u3000ef"]:
            assert char_ngrams(t, ngram_range) == analyze(t), (t, ngram_range)


def test_word_tokens_unchanged():
    from csqa.complaints.features import _SKIP
    from csqa.text import segment

    for t in normalize_batch(EDGE_TEXTS + ["快递一个星期还没到,什么情况?", "好的 谢谢 !!", "Wi-Fi 连不上 OK"]):
        toks = [x.lower() for x in segment(t) if not _SKIP.match(x)]
        assert word_tokens(t) == toks + [a + " " + b for a, b in zip(toks, toks[1:])]


def test_scoring_load_never_imports_sklearn():
    code = (
        "import sys; from csqa.complaints import load_classifier; c = load_classifier(); "
        "c.predict(['快递一个星期还没到', '好的']); "
        "print(c.compiled, 'sklearn' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False"]


def test_pipelines_load_lazily_and_equal_the_fitted_ones(tmp_path):
    corpus = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    small = pd.concat([g.head(40 if c == "none" else 20) for c, g in corpus.groupby("category")])
    path = tmp_path / "small.csv"
    small.to_csv(path, index=False)
    clf, model_path = train(path, tmp_path / "m", seed=5, cv_folds=0)
    assert clf.compiled and clf.card["compiled"] is True and clf.card["payload_format"] == 2
    loaded = load_classifier(model_path)
    assert loaded.compiled and loaded._pipelines is not None  # not unpickled yet
    texts = small["text"].tolist()[:50] + list(VERIFY_TEXTS)
    pd.testing.assert_frame_equal(loaded.predict(texts), clf.predict(texts))
    norm = normalize_batch(texts)
    for fitted, lazy in ((clf.category_model, loaded.category_model), (clf.severity_model, loaded.severity_model)):
        np.testing.assert_array_equal(lazy[1:].predict_proba(norm), fitted[1:].predict_proba(norm))
        for (_, a), (_, b) in zip(fitted[1].transformer_list, lazy[1].transformer_list):
            assert a.vocabulary_ == b.vocabulary_
            assert {type(v) for v in b.vocabulary_.values()} == {type(v) for v in a.vocabulary_.values()}
            np.testing.assert_array_equal(a.idf_, b.idf_)


def test_format_1_model_file_still_loads(tmp_path, shipped, pipelines):
    """Model files written before the compiled form existed: joblib pickles of the pipelines."""
    import joblib

    cat, sev = pipelines
    dst = tmp_path / "complaint_classifier.joblib"
    joblib.dump({"format": 1, "category_model": cat, "severity_model": sev, "threshold": 0.5, "severity_rules": True}, dst, compress=3)
    card = json.loads(card_path_for(default_model_path()).read_text(encoding="utf-8"))
    card["model_sha256"] = sha256_file(dst)
    card_path_for(dst).write_text(json.dumps(card), encoding="utf-8")
    old = load_classifier(dst)
    assert old.compiled  # compiled and verified at load
    texts = _texts()[:400]
    pd.testing.assert_frame_equal(old.predict(texts), shipped.predict(texts))


def test_unsupported_pipeline_falls_back_to_sklearn(pipelines):
    from sklearn.pipeline import Pipeline

    cat, sev = pipelines
    assert compile_pipeline(Pipeline(cat.steps[1:])) is None  # no normalize step: not the known shape
    assert compile_verified(cat, sev, ["好的"]) is not None


def test_copied_model_keeps_its_hash(tmp_path):
    dst = tmp_path / "complaint_classifier.joblib"
    shutil.copy(default_model_path(), dst)
    shutil.copy(card_path_for(default_model_path()), card_path_for(dst))
    assert load_classifier(dst).sha256 == sha256_file(dst)


def test_classifier_pickles(shipped):
    import pickle

    texts = _texts()[:100]
    copy = pickle.loads(pickle.dumps(shipped))
    assert copy.compiled
    pd.testing.assert_frame_equal(copy.predict(texts), shipped.predict(texts))
