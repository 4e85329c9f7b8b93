"""How the complaint classifier's features and estimators were chosen: on real text, the TUNE part only.

Reads the TUNE part of the blind-labelled real development set (benchmarks/devset/text_labels.csv and
chat_labels.csv, split == "tune"; the texts and chats themselves from ../shared/data) and never the test part:
there is no option to read it. Each variant is the shipped configuration (csqa.complaints.model.DEFAULT_CONFIG)
with one thing changed, fitted on the whole written corpus in memory (csqa.complaints.model.fit, seed
DEFAULT_SEED: the same figures on every run with the same library versions) and measured as
benchmarks/bench_complaints.py measures a model:

- texts (333 in the tune part): complaint yes/no F1, 8-way macro-F1, serious-complaint recall
  (bench_complaints.text_items / text_figures);
- chats (191 chat_a sessions in the tune part): conversation-level complaint F1, category accuracy on the
  conversations both call a complaint, and the share of conversations without a complaint that are flagged
  (bench_complaints.conversation_figures: the rulebook's min_probability decides a conversation).

Every variant is measured at thresholds 0.3, 0.4 and 0.5 (no refit: the threshold only reads P(dissatisfied)).
Noise: every (variant, threshold) is set against the shipped configuration at its threshold with a 95 % paired
bootstrap interval of the difference (2,000 resamples with a fixed seed; texts resampled for yes/no F1 and
macro-F1, sessions for conversation F1 and the false-complaint rate; both models judged on the same resample).
"Clearly better" = at least one of those four figures better with its interval clear of 0 and none worse with
its interval clear of 0. With a few hundred items a difference of 0.02–0.04 is often within noise, and with
~45 comparisons a few intervals clear 0 by chance: a candidate also has to make sense across the table
(neighbouring thresholds, the other figures), not win one cell. The conversation figures are also shown at
other min_probability values of the rulebook's complaint trigger (0.5–0.8), for the estimators: their
probabilities are on different scales.

    python benchmarks/choose_complaint_model.py --save /tmp/tune.json   # every variant (≈ 30 min on 2 cores)
    python benchmarks/choose_complaint_model.py --report /tmp/tune.json # the tables again, without fitting
    python benchmarks/choose_complaint_model.py --only shipped,no-lexicon
    python benchmarks/choose_complaint_model.py --list
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import bench_complaints  # noqa: E402
import realdata  # noqa: E402

PART = "tune"  # the only part this script reads
THRESHOLDS = (0.3, 0.4, 0.5)
MIN_PROBABILITIES = (0.5, 0.6, 0.7, 0.8)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261124

# (name, what changes, config overrides): one thing at a time from the shipped configuration
VARIANTS: list[tuple[str, str, dict]] = [
    ("shipped", "LogisticRegression C=4, char 1–3 + words + lexicon + context", {}),
    ("linearsvc-C0.25", "estimator LinearSVC C=0.25 (Platt / temperature)", {"estimator": "linearsvc", "C_dissatisfied": 0.25, "C_aspect": 0.25}),
    ("linearsvc-C1", "estimator LinearSVC C=1 (Platt / temperature)", {"estimator": "linearsvc", "C_dissatisfied": 1.0, "C_aspect": 1.0}),
    ("linearsvc-C4", "estimator LinearSVC C=4 (Platt / temperature)", {"estimator": "linearsvc"}),
    ("complementnb", "estimator ComplementNB α=1", {"estimator": "complementnb"}),
    ("complementnb-a0.1", "estimator ComplementNB α=0.1", {"estimator": "complementnb", "nb_alpha": 0.1}),
    ("multinomialnb", "estimator MultinomialNB α=1", {"estimator": "multinomialnb"}),
    ("multinomialnb-a0.1", "estimator MultinomialNB α=0.1", {"estimator": "multinomialnb", "nb_alpha": 0.1}),
    ("no-lexicon", "features without the lexicon block", {"lexicon": False}),
    ("no-context", "features without the context block (agent turn before)", {"context": False}),
    ("char-1-2", "character 1–2-grams", {"char_ngrams": [1, 2]}),
    ("char-2-4", "character 2–4-grams", {"char_ngrams": [2, 4]}),
    ("no-words", "no word block (characters only)", {"word_max_features": 0}),
    ("C1", "C=1 (dissatisfied and aspect)", {"C_dissatisfied": 1.0, "C_aspect": 1.0}),
    ("C16", "C=16 (dissatisfied and aspect)", {"C_dissatisfied": 16.0, "C_aspect": 16.0}),
]


class FittedReference:
    """The scikit-learn objects of a fit as a classifier with ComplaintClassifier's decisions, for a variant the
    numpy scorer cannot hold (character 4-grams): the same predict / verdicts code, probabilities from
    scikit-learn's predict_proba instead of the plain arrays."""

    @staticmethod
    def make(fitted: dict, settings: dict):
        from csqa.complaints.model import _BINARY_CLASSES, ComplaintClassifier, input_frame
        from csqa.textmodel.linear import TEXT

        heads = {}
        for name in ("dissatisfied", "aspect", "severity"):
            est = fitted.get(name)
            if est is not None:
                classes = _BINARY_CLASSES[name] if name in _BINARY_CLASSES else [str(c) for c in est.classes_]
                heads[name] = SimpleNamespace(classes=list(classes))

        class _Reference(ComplaintClassifier):
            def _heads_proba(self, texts, contexts):
                frame = input_frame(texts, contexts)
                x = fitted["features"].transform(frame)
                return frame[TEXT].tolist(), {h: fitted[h].predict_proba(x) for h in heads}

        return _Reference(SimpleNamespace(heads=heads), settings)


class Chats:
    """The labelled chat_a sessions of the tune part, built once; per-session complaint decisions for a
    classifier (the loop of bench_complaints.conversation_figures, kept per session for the bootstrap)."""

    def __init__(self):
        from csqa.rulebook.loader import load_rulebook
        from csqa.text.conversations import build_conversations
        from csqa.text.segment import Segmenter

        labels = pd.read_csv(HERE / "devset" / "chat_labels.csv", dtype=str, keep_default_na=False)
        self.labels = labels[labels["split"] == PART].set_index("id")
        messages = realdata.load_jddc()
        messages = messages[messages["conversation_id"].isin(set(self.labels.index))]
        self.convs = list(build_conversations(messages, Segmenter()))
        trigger = load_rulebook().rulebook.triggers.get("complaint")
        self.rulebook_min_probability = trigger.min_probability if trigger is not None else 0.0

    def outcomes(self, clf, min_probabilities) -> dict[float, pd.DataFrame]:
        """{min_probability: frame (truth, flagged, same_category) per session}."""
        from csqa.complaints.conversation import decide
        from csqa.complaints.classify import classify_messages

        classify_messages(self.convs, clf)
        out = {}
        for mp in min_probabilities:
            rows = []
            for conv in self.convs:
                d = decide([m for m in conv.messages if m.role == "customer"], min_probability=mp)
                truth = self.labels.loc[conv.id, "complaint"] == "1"
                rows.append((truth, bool(d.is_complaint), bool(d.is_complaint) and truth
                             and d.category == self.labels.loc[conv.id, "complaint_category"]))
            out[mp] = pd.DataFrame(rows, columns=["truth", "flagged", "same_category"])
        return out


def conversation_summary(o: pd.DataFrame) -> dict:
    t, f = o["truth"].to_numpy(), o["flagged"].to_numpy()
    tp, fp, fn, tn = (t & f).sum(), (~t & f).sum(), (t & ~f).sum(), (~t & ~f).sum()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"conversation_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "category_accuracy": o["same_category"].sum() / tp if tp else 0.0,
            "false_complaint_rate": fp / (fp + tn) if fp + tn else 0.0, "precision": precision, "recall": recall}


# --------------------------------------------------------------------------- paired bootstrap
def resample_weights(n: int, rng) -> np.ndarray:
    """(BOOTSTRAP_RESAMPLES, n): how often each item is drawn in each resample (n draws with replacement)."""
    idx = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    w = np.zeros((BOOTSTRAP_RESAMPLES, n))
    np.add.at(w, (np.arange(BOOTSTRAP_RESAMPLES)[:, None], idx), 1.0)
    return w


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)


def yes_no_f1(w: np.ndarray, truth: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Complaint yes/no F1 of every resample (truth, flagged: boolean per item)."""
    return _ratio(2 * (w @ (truth & flagged)), w @ truth + w @ flagged)


def macro_f1(w: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """8-way macro-F1 of every resample, over the classes present in the resample's truth (as score_predictions)."""
    f1s, present = [], []
    for c in np.unique(truth):
        t, p = truth == c, pred == c
        support = w @ t
        f1s.append(_ratio(2 * (w @ (t & p)), support + w @ p))
        present.append(support > 0)
    f1s, present = np.array(f1s), np.array(present)
    return (f1s * present).sum(0) / np.maximum(present.sum(0), 1)


def false_complaint_rate(w: np.ndarray, truth: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    return _ratio(w @ (~truth & flagged), w @ ~truth)


def interval(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- measuring
def measure(name: str, overrides: dict, corpus: pd.DataFrame, items: pd.DataFrame, chats: Chats) -> dict:
    from csqa.complaints.model import DEFAULT_CONFIG, DEFAULT_SEED, ComplaintClassifier, fit, score_predictions, to_linear

    cfg = {**DEFAULT_CONFIG, **overrides}
    start = time.perf_counter()
    fitted = fit(corpus, cfg, DEFAULT_SEED)
    seconds = time.perf_counter() - start
    try:
        model, scorer = to_linear(fitted), "numpy"
    except ValueError as exc:  # e.g. character 4-grams: scored by scikit-learn itself
        model, scorer = None, f"scikit-learn ({exc})"
    rows = {}
    for threshold in THRESHOLDS:
        settings = {"threshold": threshold, "serious_threshold": cfg["serious_threshold"],
                    "severity_rules": cfg["severity_rules"]}
        clf = ComplaintClassifier(model, settings) if model is not None else FittedReference.make(fitted, settings)
        pred = clf.predict(items["text"].tolist(), items["context"].tolist())
        texts = score_predictions(items["category"], pred["complaint_category"], items["severity"], pred["complaint_severity"])
        minps = sorted({chats.rulebook_min_probability, *MIN_PROBABILITIES})
        outcomes = chats.outcomes(clf, minps)
        sessions = outcomes[chats.rulebook_min_probability]
        conv = conversation_summary(sessions)
        if threshold == cfg["threshold"] and name == "shipped":  # the same figures as bench_complaints' own code
            same_texts = bench_complaints.text_figures(clf, items)["all"]
            same = bench_complaints.conversation_figures(clf, PART)
            assert same_texts["complaint_f1"] == texts["complaint_f1"] and same_texts["macro_f1"] == texts["macro_f1"]
            for key in ("conversation_f1", "category_accuracy", "false_complaint_rate"):
                assert abs(same[key] - conv[key]) < 1e-12, (name, key, same[key], conv[key])
        rows[str(threshold)] = {
            "complaint_f1": texts["complaint_f1"], "macro_f1": texts["macro_f1"],
            "serious_recall": texts.get("serious_recall"), **{k: float(v) for k, v in conv.items()},
            "pred_category": pred["complaint_category"].astype(str).tolist(),
            "by_min_probability": {str(mp): {k: float(v) for k, v in conversation_summary(o).items()}
                                   for mp, o in outcomes.items()},
            "sessions": {k: sessions[k].astype(bool).tolist() for k in ("truth", "flagged", "same_category")},
        }
    return {"name": name, "overrides": overrides, "fit_seconds": seconds, "scorer": scorer, "rows": rows}


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def report(saved: dict) -> None:
    results, truth_category = saved["results"], np.asarray(saved["truth_category"])
    shipped_threshold = str(saved["shipped_threshold"])
    base = results[0]
    assert base["name"] == "shipped"
    b = base["rows"][shipped_threshold]
    print(f"\nTUNE part only: {len(truth_category)} texts, {len(b['sessions']['truth'])} chat_a sessions; "
          f"conversation decided at the rulebook's min_probability {saved['rulebook_min_probability']}.")
    header = ("| variant | change | threshold | yes/no F1 | 8-way macro-F1 | serious recall | conversation F1 | "
              "category accuracy | false-complaint rate (chats) |")
    print("\n" + header)
    print("|---" * (header.count("|") - 1) + "|")
    for r in results:
        for threshold, row in r["rows"].items():
            mark = "**" if (r["name"] == "shipped" and threshold == shipped_threshold) else ""
            print(f"| {mark}{r['name']}{mark} | {r['what']} | {threshold} | {_fmt(row['complaint_f1'])} | {_fmt(row['macro_f1'])} | "
                  f"{_fmt(row['serious_recall'])} | {_fmt(row['conversation_f1'])} | {_fmt(row['category_accuracy'])} | "
                  f"{row['false_complaint_rate']:.1%} |")

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    w_texts = resample_weights(len(truth_category), rng)
    st = np.asarray(b["sessions"]["truth"])
    w_sessions = resample_weights(len(st), rng)
    t_yes = truth_category != "none"
    b_pred = np.asarray(b["pred_category"])
    b_flag = np.asarray(b["sessions"]["flagged"])
    base_stats = (yes_no_f1(w_texts, t_yes, b_pred != "none"), macro_f1(w_texts, truth_category, b_pred),
                  yes_no_f1(w_sessions, st, b_flag), false_complaint_rate(w_sessions, st, b_flag))
    print(f"\nΔ = variant − shipped (threshold {shipped_threshold}) with its 95 % paired bootstrap interval "
          f"({BOOTSTRAP_RESAMPLES} resamples of the tune texts / sessions, seed {BOOTSTRAP_SEED}). "
          "Clearly better = at least one of the four figures better with its interval clear of 0, none worse with "
          "its interval clear of 0.")
    print("| variant | threshold | Δ yes/no F1 | Δ 8-way macro-F1 | Δ conversation F1 | Δ false-complaint rate | clearly better |")
    print("|---|---|---|---|---|---|---|")
    clear_winners = []
    for r in results:
        for threshold, row in r["rows"].items():
            if r["name"] == "shipped" and threshold == shipped_threshold:
                continue
            pred = np.asarray(row["pred_category"])
            flag = np.asarray(row["sessions"]["flagged"])
            stats = (yes_no_f1(w_texts, t_yes, pred != "none"), macro_f1(w_texts, truth_category, pred),
                     yes_no_f1(w_sessions, st, flag), false_complaint_rate(w_sessions, st, flag))
            point = (row["complaint_f1"] - b["complaint_f1"], row["macro_f1"] - b["macro_f1"],
                     row["conversation_f1"] - b["conversation_f1"], row["false_complaint_rate"] - b["false_complaint_rate"])
            cells, better, worse = [], False, False
            for k, (s_new, s_base) in enumerate(zip(stats, base_stats)):
                lo, hi = interval(s_new - s_base)
                good_sign = -1 if k == 3 else 1  # a lower false-complaint rate is better
                better |= (lo > 0) if good_sign > 0 else (hi < 0)
                worse |= (hi < 0) if good_sign > 0 else (lo > 0)
                fmt = "{:+.1%}" if k == 3 else "{:+.3f}"
                cells.append(f"{fmt.format(point[k])} [{fmt.format(lo)}, {fmt.format(hi)}]")
            verdict = "yes" if better and not worse else ("worse" if worse and not better else ("mixed" if better else "no"))
            if verdict == "yes":
                clear_winners.append((r["name"], threshold))
            print(f"| {r['name']} | {threshold} | " + " | ".join(cells) + f" | {verdict} |")
    print("\nclearly better than the shipped configuration on tune: "
          + (", ".join(f"{n} at threshold {t}" for n, t in clear_winners) if clear_winners else "none"))

    print(f"\nconversation F1 / false-complaint rate by the rulebook's min_probability (threshold {shipped_threshold}):")
    print("| variant | " + " | ".join(f"min_probability {mp}" for mp in MIN_PROBABILITIES) + " |")
    print("|---|" + "---|" * len(MIN_PROBABILITIES))
    for r in results:
        if r["name"] != "shipped" and not r["overrides"].get("estimator"):
            continue
        by = r["rows"][shipped_threshold]["by_min_probability"]
        print(f"| {r['name']} | " + " | ".join(f"{by[str(mp)]['conversation_f1']:.3f} / {by[str(mp)]['false_complaint_rate']:.1%}"
                                              for mp in MIN_PROBABILITIES) + " |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=None, help="comma-separated variant names (shipped is always measured)")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--save", default=None, help="also write the per-item results (JSON) to this file")
    parser.add_argument("--report", default=None, help="print the tables from a file --save wrote, without fitting")
    args = parser.parse_args(argv)
    if args.list:
        for name, what, overrides in VARIANTS:
            print(f"{name:20s} {what}  {overrides}")
        return 0
    if args.report:
        report(json.loads(Path(args.report).read_text(encoding="utf-8")))
        return 0
    if not realdata.available(realdata.CHAT_A):
        print("../shared/data is absent: nothing to measure")
        return 0
    chosen = VARIANTS
    if args.only:
        wanted = {"shipped", *args.only.split(",")}
        unknown = wanted - {n for n, _, _ in VARIANTS}
        if unknown:
            parser.error(f"unknown variants {sorted(unknown)}; see --list")
        chosen = [v for v in VARIANTS if v[0] in wanted]

    from csqa.complaints.model import DEFAULT_CONFIG, DEFAULT_SEED, default_corpus_path, read_corpus

    corpus = read_corpus(default_corpus_path())
    items = bench_complaints.text_items(PART)
    chats = Chats()
    print(f"part read: {PART} only — {len(items)} labelled texts, {len(chats.convs)} labelled chat_a sessions "
          f"({int((chats.labels['complaint'] == '1').sum())} with a complaint); corpus {len(corpus)} written texts; "
          f"seed {DEFAULT_SEED}", flush=True)

    results = []
    for name, what, overrides in chosen:
        r = measure(name, overrides, corpus, items, chats)
        r["what"] = what
        results.append(r)
        row = r["rows"][str(DEFAULT_CONFIG["threshold"])]
        print(f"  {name:20s} fit {r['fit_seconds']:5.0f} s  yes/no F1 {row['complaint_f1']:.3f}  macro-F1 {row['macro_f1']:.3f}  "
              f"conv F1 {row['conversation_f1']:.3f}  false {row['false_complaint_rate']:.1%}  [{r['scorer'][:40]}]", flush=True)
        saved = {"part": PART, "shipped_threshold": DEFAULT_CONFIG["threshold"],
                 "rulebook_min_probability": chats.rulebook_min_probability,
                 "truth_category": items["category"].tolist(), "results": results}
        if args.save:  # after every variant: a long run stopped half-way keeps what it measured
            tmp = Path(args.save).with_suffix(".partial")
            tmp.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
            tmp.replace(args.save)
    report(saved)
    return 0


if __name__ == "__main__":
    sys.exit(main())
