"""How right are csqa's checks on real chats?

1. Per-check precision / recall / F1 against the hand-labelled chat_a development set
   (benchmarks/devset/, 200 JD sessions labelled by reading; chat_b stays held out).
2. Spearman correlation of the csqa score with the STC-3 annotators' mean E
   (effectiveness) score on the Weibo helpdesk dialogues — evaluation only, nothing is fitted.

Run: python benchmarks/bench_rules.py [--no-model] [--errors CHECK]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realdata  # noqa: E402

PRESENCE_CHECKS = ["greeting", "identity", "offers_help", "confirmation", "anything_else", "farewell"]
CONDITIONAL_CHECKS = {"apology": "complaint", "process_told": "pending"}
TARGETS = {"greeting": 0.95, "offers_help": 0.90, "anything_else": 0.90, "farewell": 0.90, "identity": 0.85,
           "confirmation": 0.75, "apology": 0.75, "process_told": 0.75}


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * p * r / (p + r) if tp and (p + r) else 0.0
    return p, r, f


def score_frame_with_defaults(messages: pd.DataFrame, use_model: bool):
    """Score with the default rulebook exactly as `csqa score` does; returns (compiled book, results)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    from csqa.conversations import build_conversations
    from csqa.engines import Scorer, ScorerSetup
    from csqa.pipeline import classify_complaints
    from csqa.scoring import score_conversation

    scorer = Scorer(ScorerSetup(use_model=use_model, mask=False))
    convs = list(build_conversations(messages, scorer.segmenter))
    classify_complaints(convs, scorer.classifier)
    return scorer.book, [score_conversation(c, scorer.book) for c in convs]


def evaluate_devset(use_model: bool, show_errors: str | None) -> pd.DataFrame:
    labels = realdata.dev_labels()
    messages = realdata.load_jddc()
    messages = messages[messages["conversation_id"].isin(set(labels["session_id"]))]
    book, results = score_frame_with_defaults(messages, use_model)
    by_id = {r.conversation_id: r for r in results}
    check_of = {r.code: r.check for r in book.rules}
    rows = []
    for check in PRESENCE_CHECKS + list(CONDITIONAL_CHECKS):
        tp = fp = fn = tn = 0
        skipped = 0
        errors = []
        for _, lab in labels.iterrows():
            res = by_id[lab["session_id"]]
            truth = lab[check]
            codes = [c for c, ch in check_of.items() if ch == check]
            not_applicable = all(c in res.not_applicable for c in codes)
            if truth == "NA" or not_applicable:
                skipped += 1
                continue
            found = any(f.check == check for f in res.findings)
            pred_present = not found
            true_present = truth == "1"
            if pred_present and true_present:
                tp += 1
            elif pred_present and not true_present:
                fp += 1
                errors.append((lab["session_id"], "csqa says present, label absent"))
            elif not pred_present and true_present:
                fn += 1
                errors.append((lab["session_id"], "csqa says missing, label present"))
            else:
                tn += 1
        p, r, f = prf(tp, fp, fn)
        pv, rv, fv = prf(tn, fn, fp)  # the violation ("missing") class
        rows.append({"check": check, "n": tp + fp + fn + tn, "skipped": skipped, "precision": p, "recall": r,
                     "f1": f, "target": TARGETS.get(check), "f1_missing": fv})
        if show_errors == check:
            for sid, what in errors:
                print(f"  {check} {sid}: {what}")
    # forbidden language: per (session, message index, check)
    forbidden_checks = {"rude", "argue", "buck_passing", "bare_refusal", "over_promise", "slang", "negative_talk",
                        "privacy_leak", "off_platform"}
    truth_items = set()
    for _, lab in labels.iterrows():
        for item in filter(None, lab["forbidden"].split(";")):
            idx, check = item.split(":")
            truth_items.add((lab["session_id"], int(idx), check.strip()))
    pred_items = {(r.conversation_id, f.message_index, f.check) for r in results for f in r.findings
                  if f.check in forbidden_checks}
    tp = len(truth_items & pred_items)
    p, r, f = prf(tp, len(pred_items - truth_items), len(truth_items - pred_items))
    rows.append({"check": "forbidden (all)", "n": len(truth_items), "skipped": 0, "precision": p, "recall": r,
                 "f1": f, "target": None, "f1_missing": None})
    loose_truth = {(s, i) for s, i, _ in truth_items}
    loose_pred = {(s, i) for s, i, _ in pred_items}
    tp = len(loose_truth & loose_pred)
    p, r, f = prf(tp, len(loose_pred - loose_truth), len(loose_truth - loose_pred))
    rows.append({"check": "forbidden (any check, same message)", "n": len(loose_truth), "skipped": 0,
                 "precision": p, "recall": r, "f1": f, "target": None, "f1_missing": None})
    if show_errors == "forbidden":
        for item in sorted(pred_items - truth_items):
            print("  false positive", item)
        for item in sorted(truth_items - pred_items):
            print("  missed", item)
    return pd.DataFrame(rows)


def stc3_correlation(use_model: bool, limit: int | None) -> dict:
    messages, scores = realdata.load_stc3()
    if limit:
        keep = set(scores["conversation_id"].head(limit))
        messages = messages[messages["conversation_id"].isin(keep)]
        scores = scores[scores["conversation_id"].isin(keep)]
    _, results = score_frame_with_defaults(messages, use_model)
    ours = pd.DataFrame({"conversation_id": [r.conversation_id for r in results], "score": [r.score for r in results],
                         "n_messages": [r.n_messages for r in results]})
    merged = ours.merge(scores, on="conversation_id")
    # Longer dialogues have higher E but more applicable rules; show the relation at fixed length too.
    merged["length"] = pd.cut(merged["n_messages"], [0, 2, 4, 6, 1000], labels=["2", "3-4", "5-6", "7+"])
    by_length = {str(k): (len(g), g["score"].corr(g["E"], method="spearman"))
                 for k, g in merged.groupby("length", observed=True)}
    return {
        "by_length": by_length,
        "dialogues": len(merged),
        "spearman_E": merged["score"].corr(merged["E"], method="spearman"),
        "spearman_S": merged["score"].corr(merged["S"], method="spearman"),
        "spearman_A": merged["score"].corr(merged["A"], method="spearman"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-model", action="store_true", help="complaint cues only, no classifier")
    parser.add_argument("--errors", default=None, help="print the dev-set errors of one check (or 'forbidden')")
    parser.add_argument("--stc3-limit", type=int, default=None, help="score only the first N STC-3 dialogues")
    args = parser.parse_args()
    if not realdata.available(realdata.CHAT_A):
        print("../shared/data is absent: nothing to measure")
        return 0
    table = evaluate_devset(not args.no_model, args.errors)
    pd.set_option("display.width", 160)
    print("chat_a development set (200 hand-labelled JD sessions); presence-class P/R/F1, f1_missing = violation class")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if realdata.available(realdata.STC3_TRAIN):
        corr = stc3_correlation(not args.no_model, args.stc3_limit)
        print(f"\nSTC-3 DCH-1 train: {corr['dialogues']} dialogues, Spearman(csqa score, mean E) = {corr['spearman_E']:.3f}"
              f"  (S: {corr['spearman_S']:.3f}, A: {corr['spearman_A']:.3f})")
        for length, (n, rho) in corr["by_length"].items():
            print(f"  dialogues of {length} messages: n={n}, Spearman(score, E) = {rho:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
