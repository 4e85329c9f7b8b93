"""Per-rule precision with its Wilson 95 % interval and reviewer agreement (Cohen's / Fleiss' kappa)
on calibration conversations (issue 17 part 7), from verdicts recorded in a real store."""
from __future__ import annotations

import json
import math

import pytest

from review_fixtures import q, qdf, scored, store  # noqa: F401 - fixtures

import csqa.review as review
from csqa.review.stats import cohen_kappa, fleiss_kappa
from csqa.review.verdicts import VerdictRow


def test_kappas_by_their_textbook_examples():
    # Fleiss (1971) as worked in the literature: 10 subjects, 14 raters, 5 categories → κ = 0.210
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-4)
    # Cohen: 50 units, both yes 20, A yes B no 5, A no B yes 10, both no 15 → p_o 0.7, p_e 0.5, κ = 0.4
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa([1, 1, 1], [1, 1, 1]) is None  # undefined: every rating alike
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 1], [3, 0]])  # units rated by different numbers of raters


def _wilson(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_rules_stats_counts_verdicts_and_rulings_with_wilson_intervals(store, run_cli):
    f = qdf(store, "SELECT finding_id, rule_id, conversation_id, agent_id FROM findings ORDER BY conversation_id, finding_index")
    by_rule = f.groupby("rule_id")["finding_id"].apply(list)
    rule_a, rule_b = by_rule.index[by_rule.str.len().argsort()[::-1][:2]]
    a_ids, b_ids = by_rule[rule_a][:25], by_rule[rule_b][:6]
    rows = [VerdictRow("false_positive" if i % 5 == 0 else "correct", fid) for i, fid in enumerate(a_ids)]
    rows += [VerdictRow("correct", fid) for fid in b_ids]
    review.record_verdicts(store, "a", rows)
    # an overturned appeal counts as a false positive of its rule
    target = f[f["finding_id"] == b_ids[0]].iloc[0]
    appeal = review.file_appeal(store, target.agent_id, target.finding_id, "理由")
    review.rule_on_appeal(store, "主管", appeal.appeal_id, "overturned")
    run = run_cli("rules", "stats", "--store", store, "--format", "json")
    assert run.exit_code == 0, run.stderr
    stats = {r["rule_id"]: r for r in json.loads(run.stdout)["rules"]}
    assert set(stats) == {rule_a, rule_b}
    expected = {rule_a: (20, 5), rule_b: (5, 1)}
    for rule, (correct, fp) in expected.items():
        row = stats[rule]
        assert (row["reviewed"], row["correct"], row["false_positive"], row["missed"]) == (correct + fp, correct, fp, 0)
        low, high = _wilson(correct, correct + fp)
        assert row["precision"] == pytest.approx(correct / (correct + fp), abs=1e-4)
        assert (row["precision_low"], row["precision_high"]) == pytest.approx((low, high), abs=1e-4)
        assert row["below_floor"] == (correct / (correct + fp) < 0.8)
    text = run_cli("rules", "stats", "--store", store, "--floor", "0.9")
    assert "⚠" in text.stdout and rule_a in text.stdout


def test_reviewer_agreement_on_calibration_conversations(store, run_cli, tmp_path):
    from sklearn.metrics import cohen_kappa_score

    run = run_cli("sample", "--store", store, "-o", tmp_path / "q.xlsx", "--rate", "0", "--reviewers", "a,b",
                  "--calibration", "12", "--seed", "3")
    assert run.exit_code == 0, run.stderr
    calibration = [r[0] for r in q(store, "SELECT DISTINCT conversation_id FROM review_assignments WHERE calibration")]
    assert len(calibration) == 12
    assert q(store, "SELECT count(DISTINCT reviewer) FROM review_assignments WHERE calibration") == [(2,)]
    f = qdf(store, "SELECT finding_id, rule_id FROM findings WHERE conversation_id IN (SELECT conversation_id FROM "
                   "review_assignments WHERE calibration) ORDER BY conversation_id, finding_index")
    a = [0 if i % 4 == 0 else 1 for i in range(len(f))]
    b = [0 if i % 3 == 0 else 1 for i in range(len(f))]
    for name, ratings in (("a", a), ("b", b)):
        review.record_verdicts(store, name, [VerdictRow("correct" if r else "false_positive", fid)
                                             for fid, r in zip(f["finding_id"], ratings)])
    agreement = review.reviewer_agreement(store).set_index("rule_id")
    overall = agreement.loc["(全部)"]
    assert overall["units"] == len(f) and overall["raters"] == 2
    assert overall["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-4)
    assert overall["agreement"] == pytest.approx(sum(x == y for x, y in zip(a, b)) / len(f), abs=1e-4)
    for rule, group in f.assign(a=a, b=b).groupby("rule_id"):
        expected = cohen_kappa_score(group["a"], group["b"]) if len(set(group["a"]) | set(group["b"])) > 1 else None
        got = agreement.loc[rule, "cohen_kappa"]
        if expected is None or math.isnan(expected):
            assert got is None or math.isnan(got)
        else:
            assert got == pytest.approx(expected, abs=1e-4), rule
