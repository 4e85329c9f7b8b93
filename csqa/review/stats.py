"""How far each rule can be trusted, learnt from the verdicts; how far reviewers agree.

**Precision** of a rule: of its findings people judged, the share that were right —
correct / (correct + false_positive), with the 95 % Wilson interval
(`csqa.report.stats.wilson_interval`: few verdicts give a wide interval). A finding's judgement
is an arbiter's ruling on an appeal (upheld = correct, overturned = false positive), else the
latest reviewer verdict on it. ``missed`` counts the findings reviewers added for the rule (the
rule's misses: what precision cannot show). A rule whose precision is under the floor is flagged.

**Agreement** between reviewers, on the calibration conversations every reviewer got
(`csqa sample --calibration N`): the units of a rule are its machine findings there and the
misses any reviewer added there; a reviewer's rating of a unit is 1 (the finding stands: correct,
or they reported the miss) or 0 (false positive, or they reviewed the conversation and did not
report the miss). Cohen's kappa for two reviewers (for more: the mean over pairs), Fleiss' kappa
over the units every reviewer rated — both by their textbook definitions:

    Cohen (1960):  κ = (p_o − p_e) / (1 − p_e),  p_o = share of units both rate alike,
                   p_e = Σ_k p_A(k) · p_B(k)  (each rater's own share of category k)
    Fleiss (1971): κ = (P̄ − P̄_e) / (1 − P̄_e),  P_i = (Σ_k n_ik² − n) / (n (n − 1)),
                   P̄ = mean P_i,  p_k = Σ_i n_ik / (N n),  P̄_e = Σ_k p_k²

(undefined — None — when P_e is 1: every rating in one category.)
"""
from __future__ import annotations

from itertools import combinations

import pandas as pd

from csqa.report.stats import Z95, wilson_interval
from csqa.review.ids import is_missed_id

DEFAULT_FLOOR = 0.8
SMALL_SAMPLE = 20
PRECISION_COLUMNS = ["rule_id", "rule_name", "reviewed", "correct", "false_positive", "missed", "precision",
                     "precision_low", "precision_high", "below_floor", "small_sample"]
AGREEMENT_COLUMNS = ["rule_id", "raters", "units", "complete_units", "agreement", "cohen_kappa", "fleiss_kappa"]
ALL_RULES = "(全部)"


# ---------------------------------------------------------------------------- textbook statistics
def cohen_kappa(a: list, b: list) -> float | None:
    """Cohen's kappa of two raters' labels of the same units (any categories). None when undefined."""
    if len(a) != len(b):
        raise ValueError("cohen_kappa: both raters must rate the same units")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    categories = set(a) | set(b)
    expected = sum((a.count(k) / n) * (b.count(k) / n) for k in categories)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts: list[list[int]]) -> float | None:
    """Fleiss' kappa of N units × k categories, counts[i][j] = raters who put unit i in category j
    (every unit rated by the same number n ≥ 2 of raters). None when undefined."""
    if not counts:
        return None
    n = sum(counts[0])
    if n < 2 or any(sum(row) != n for row in counts):
        raise ValueError("fleiss_kappa: every unit needs the same number (≥ 2) of ratings")
    big_n = len(counts)
    p_i = [(sum(c * c for c in row) - n) / (n * (n - 1)) for row in counts]
    p_bar = sum(p_i) / big_n
    k = len(counts[0])
    p_j = [sum(row[j] for row in counts) / (big_n * n) for j in range(k)]
    p_e = sum(p * p for p in p_j)
    if p_e >= 1:
        return None
    return (p_bar - p_e) / (1 - p_e)


# ---------------------------------------------------------------------------- per-rule precision
def judged_findings(con) -> pd.DataFrame:
    """One row per judged finding: finding_id, rule_id, conversation_id, outcome (correct /
    false_positive / missed) — rulings over verdicts, each finding's latest."""
    from csqa.review.tables import has_review_tables

    if not has_review_tables(con):
        return pd.DataFrame(columns=["finding_id", "rule_id", "conversation_id", "outcome"])
    latest = con.execute("SELECT finding_id, rule_id, conversation_id, verdict FROM review_finding_verdicts").fetchall()
    rulings = {r[0]: (r[1], r[2], r[3]) for r in con.execute(
        "SELECT finding_id, status, rule_id, conversation_id FROM review_appeal_state WHERE status <> 'open'").fetchall()}
    rows = {}
    for fid, rule, cid, verdict in latest:
        missed = is_missed_id(fid)
        if missed:
            outcome = "missed" if verdict in ("missed", "correct") else None
        else:
            outcome = verdict if verdict in ("correct", "false_positive") else None
        rows[fid] = [fid, rule, cid, outcome]
    for fid, (status, rule, cid) in rulings.items():
        missed = is_missed_id(fid)
        if status == "upheld":
            outcome = "missed" if missed else "correct"
        else:
            outcome = None if missed else "false_positive"
        rows[fid] = [fid, rule, cid, outcome]
    frame = pd.DataFrame([r for r in rows.values() if r[3] is not None],
                         columns=["finding_id", "rule_id", "conversation_id", "outcome"])
    return frame


def rule_precision(store, floor: float = DEFAULT_FLOOR, min_n: int = SMALL_SAMPLE) -> pd.DataFrame:
    """Per rule: reviewed (= correct + false_positive), correct, false_positive, missed, precision with
    its 95 % Wilson interval, below_floor (precision < floor), small_sample (reviewed < min_n)."""
    from csqa.review.db import connect

    with connect(store) as con:
        judged = judged_findings(con)
        names = dict(con.execute("SELECT rule_id, any_value(rule_name) FROM findings GROUP BY rule_id").fetchall())
    if judged.empty:
        return pd.DataFrame(columns=PRECISION_COLUMNS)
    counts = judged.groupby(["rule_id", "outcome"]).size().unstack(fill_value=0)
    for col in ("correct", "false_positive", "missed"):
        if col not in counts:
            counts[col] = 0
    rows = []
    for rule_id, c in counts.sort_index().iterrows():
        correct, fp, missed = int(c["correct"]), int(c["false_positive"]), int(c["missed"])
        reviewed = correct + fp
        ci = wilson_interval(correct, reviewed, Z95)
        precision = correct / reviewed if reviewed else None
        rows.append({"rule_id": rule_id, "rule_name": names.get(rule_id, ""), "reviewed": reviewed, "correct": correct,
                     "false_positive": fp, "missed": missed,
                     "precision": None if precision is None else round(precision, 4),
                     "precision_low": None if ci is None else round(ci[0], 4),
                     "precision_high": None if ci is None else round(ci[1], 4),
                     "below_floor": bool(precision is not None and precision < floor),
                     "small_sample": reviewed < min_n})
    return pd.DataFrame(rows, columns=PRECISION_COLUMNS)


# ---------------------------------------------------------------------------- reviewer agreement
def calibration_ratings(con) -> pd.DataFrame:
    """Every (rule, unit, reviewer, rating) on the calibration conversations (see the module docstring)."""
    from csqa.review.tables import has_review_tables

    empty = pd.DataFrame(columns=["rule_id", "unit", "reviewer", "rating"])
    if not has_review_tables(con):
        return empty
    conversations = [r[0] for r in con.execute(
        "SELECT DISTINCT conversation_id FROM review_assignments WHERE calibration").fetchall()]
    if not conversations:
        return empty
    con.register("review_calibration", pd.DataFrame({"conversation_id": pd.Series(conversations, dtype=object)}))
    try:
        verdicts = con.execute("""SELECT v.conversation_id, v.finding_id, v.rule_id, v.reviewer, v.verdict
                                  FROM review_reviewer_verdicts v JOIN review_calibration USING (conversation_id)""").fetchall()
        machine = con.execute("""SELECT f.conversation_id, f.finding_id, f.rule_id FROM findings f
                                 JOIN conversations c USING (conversation_id, run_id)
                                 JOIN review_calibration USING (conversation_id)""").fetchall()
    finally:
        con.unregister("review_calibration")
    reviewers_of: dict[str, set[str]] = {}
    said: dict[tuple[str, str], str] = {}
    missed_units: dict[str, tuple[str, str]] = {}
    for cid, fid, rule, reviewer, verdict in verdicts:
        reviewers_of.setdefault(cid, set()).add(reviewer)
        if fid is not None:
            said[(fid, reviewer)] = verdict
            if is_missed_id(fid):
                missed_units[fid] = (cid, rule)
    rows = []
    for cid, fid, rule in machine:
        for reviewer in sorted(reviewers_of.get(cid, ())):
            verdict = said.get((fid, reviewer))
            if verdict in ("correct", "false_positive"):
                rows.append((rule, fid, reviewer, 1 if verdict == "correct" else 0))
    for fid, (cid, rule) in missed_units.items():
        for reviewer in sorted(reviewers_of.get(cid, ())):
            verdict = said.get((fid, reviewer))
            rows.append((rule, fid, reviewer, 0 if verdict == "false_positive" else 1 if verdict in ("missed", "correct") else 0))
    return pd.DataFrame(rows, columns=["rule_id", "unit", "reviewer", "rating"]) if rows else empty


def _agreement_row(rule_id: str, ratings: pd.DataFrame) -> dict:
    raters = sorted(ratings["reviewer"].unique())
    by_unit = {u: dict(zip(g["reviewer"], g["rating"])) for u, g in ratings.groupby("unit")}
    pair_kappas, agree, compared = [], 0, 0
    for a, b in combinations(raters, 2):
        both = [(r[a], r[b]) for r in by_unit.values() if a in r and b in r]
        if both:
            agree += sum(x == y for x, y in both)
            compared += len(both)
            k = cohen_kappa([x for x, _ in both], [y for _, y in both])
            if k is not None:
                pair_kappas.append(k)
    m = len(raters)
    complete = [r for r in by_unit.values() if len(r) == m]
    fleiss = fleiss_kappa([[sum(1 for v in r.values() if v == 0), sum(1 for v in r.values() if v == 1)] for r in complete]) \
        if m >= 2 and complete else None
    return {"rule_id": rule_id, "raters": m, "units": len(by_unit), "complete_units": len(complete),
            "agreement": round(agree / compared, 4) if compared else None,
            "cohen_kappa": round(sum(pair_kappas) / len(pair_kappas), 4) if pair_kappas else None,
            "fleiss_kappa": None if fleiss is None else round(fleiss, 4)}


def reviewer_agreement(store) -> pd.DataFrame:
    """Per rule (and over all rules, ``(全部)``): raters, units, complete_units (rated by every rater),
    observed agreement over rater pairs, Cohen's kappa (two raters; more: the mean over pairs) and
    Fleiss' kappa (over the complete units)."""
    from csqa.review.db import connect

    with connect(store) as con:
        ratings = calibration_ratings(con)
    if ratings.empty:
        return pd.DataFrame(columns=AGREEMENT_COLUMNS)
    rows = [_agreement_row(rule, g) for rule, g in ratings.groupby("rule_id", sort=True)]
    rows.append(_agreement_row(ALL_RULES, ratings))
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
