"""benchmarks/choose_complaint_model.py: reads the tune part only, and its paired bootstrap gives, on the
unresampled data, exactly the figures scikit-learn / score_predictions give."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import choose_complaint_model as choose  # noqa: E402

from csqa.complaints.model import score_predictions  # noqa: E402


def _labels(rng, n):
    cats = np.array(["none", "product", "logistics", "price", "other"])
    truth = cats[rng.integers(0, len(cats), n)]
    pred = np.where(rng.random(n) < 0.6, truth, cats[rng.integers(0, len(cats), n)])
    return truth, pred


def test_bootstrap_figures_with_every_item_once_are_the_reported_figures():
    truth, pred = _labels(np.random.default_rng(1), 200)
    once = np.ones((1, len(truth)))
    want = score_predictions(truth, pred)
    assert choose.macro_f1(once, truth, pred)[0] == pytest.approx(want["macro_f1"], abs=1e-4)
    assert choose.yes_no_f1(once, truth != "none", pred != "none")[0] == pytest.approx(want["complaint_f1"], abs=1e-4)
    flagged = pred != "none"
    assert choose.false_complaint_rate(once, truth != "none", flagged)[0] == pytest.approx(
        (flagged & (truth == "none")).sum() / (truth == "none").sum())


def test_bootstrap_weights_are_draws_with_replacement():
    w = choose.resample_weights(50, np.random.default_rng(2))
    assert w.shape == (choose.BOOTSTRAP_RESAMPLES, 50)
    assert (w.sum(axis=1) == 50).all() and (w >= 0).all()
    assert (w == 0).any() and (w >= 2).any()  # some items left out, some drawn twice


def test_a_weighted_resample_equals_the_figures_of_the_repeated_items():
    truth, pred = _labels(np.random.default_rng(3), 120)
    rng = np.random.default_rng(4)
    w = choose.resample_weights(len(truth), rng)[:5]
    for row in w:
        idx = np.repeat(np.arange(len(truth)), row.astype(int))
        want = score_predictions(truth[idx], pred[idx])
        assert choose.macro_f1(row[None, :], truth, pred)[0] == pytest.approx(want["macro_f1"], abs=1e-4)
        assert choose.yes_no_f1(row[None, :], truth != "none", pred != "none")[0] == pytest.approx(want["complaint_f1"], abs=1e-4)


def test_the_same_predictions_give_an_interval_of_zero():
    truth, pred = _labels(np.random.default_rng(5), 100)
    w = choose.resample_weights(len(truth), np.random.default_rng(6))
    same = choose.macro_f1(w, truth, pred) - choose.macro_f1(w, truth, pred.copy())
    assert choose.interval(same) == (0.0, 0.0)


def test_only_the_tune_part_is_read():
    assert choose.PART == "tune"
    with pytest.raises(SystemExit):
        choose.main(["--part", "test"])
