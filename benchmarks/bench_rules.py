"""How close are csqa's verdicts to careful human reviewers on real chats?

Data (never copied into the repo; ids and labels only in benchmarks/devset/):
- chat_labels.csv: 400 chat_a sessions labelled by two reviewers working blind from
  ../shared/guidelines/rules.md, disagreements adjudicated by a third (devset/merge_labels.py);
- authored_agent_replies.csv: 645 agent replies written by people for the forbidden-language checks
  (violations, many without the obvious keyword, and near-misses: negation, quoting the customer,
  masked data, polite refusals…), labelled blind by two reviewers (4 disagreements settled by the
  majority of the two and the author); written text, so it lives in the repository;
- STC-3 DCH-1: the 19 annotators' mean effectiveness (E) score per Weibo helpdesk dialogue.
Every item is in the *tune* or the *test* part (devset/make_items.split_of, by a hash of its
session or dialogue). Rules, weights and thresholds are tuned on `--part tune`; `--part test` is
the untouched part the figures in the README and the rulebook docs come from. STC-3's scores are
only ever measured, never fitted.

Printed: per-check precision/recall/F1 (positive class = the agent did it), pass/fail balanced
accuracy against the reviewers' "quality ≥ 3", Spearman(score, quality), forbidden-language
precision/recall, and Spearman(score, STC-3 E). No timestamps in either data set, so only the
text counts.

Run: python benchmarks/bench_rules.py [--part tune|test] [--errors CHECK] [--no-model]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realdata  # noqa: E402

PRESENCE_CHECKS = ["greeting", "offers_help", "identity", "confirmation", "anything_else", "farewell"]
CONDITIONAL_CHECKS = ["apology", "process_told"]
TARGETS = {"greeting": 0.95, "offers_help": 0.90, "anything_else": 0.90, "farewell": 0.90, "identity": 0.85,
           "confirmation": 0.75, "apology": 0.75, "process_told": 0.75}
FORBIDDEN_CHECKS = {"rude", "argue", "buck_passing", "bare_refusal", "over_promise", "slang", "negative_talk",
                    "privacy_leak", "off_platform"}
TARGET_BALANCED_ACCURACY = 0.75
TARGET_SPEARMAN_QUALITY = 0.45
TARGET_SPEARMAN_STC3 = 0.35
TARGET_FORBIDDEN_PRECISION = 0.90
TARGET_FORBIDDEN_RECALL = 0.85


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * p * r / (p + r) if tp and (p + r) else 0.0
    return p, r, f


def score_messages(messages: pd.DataFrame, use_model: bool = True, rulebook: str | None = None):
    """Score with a rulebook (default: the shipped one) exactly as `csqa score` does.

    Returns (compiled rulebook, {conversation_id: ConversationResult})."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    from csqa.text.conversations import build_conversations
    from csqa.engines import Scorer, ScorerSetup
    from csqa.complaints.classify import classify_messages
    from csqa.scoring import score_conversation

    scorer = Scorer(ScorerSetup(use_model=use_model, mask=False, rulebook=rulebook))
    convs = list(build_conversations(messages, scorer.segmenter))
    classify_messages(convs, scorer.classifier)
    scorer.book.prepare(convs)
    return scorer.book, {c.id: score_conversation(c, scorer.book) for c in convs}


def check_verdicts(result, check: str) -> bool:
    """csqa's verdict as a reviewer reads it: the agent did it unless a finding of that check says not."""
    return not any(f.check == check for f in result.findings if f.points >= 0)


def check_table(labels: pd.DataFrame, results: dict, show_errors: str | None) -> pd.DataFrame:
    rows = []
    for check in PRESENCE_CHECKS + CONDITIONAL_CHECKS:
        tp = fp = fn = tn = 0
        na_flagged = na = 0
        errors = []
        for _, lab in labels.iterrows():
            res = results[lab["id"]]
            did = check_verdicts(res, check)
            truth = lab[check]
            if truth == "NA":
                na += 1
                na_flagged += not did
                continue
            truth = truth == "1"
            tp += did and truth
            fp += did and not truth
            fn += truth and not did
            tn += not did and not truth
            if did != truth:
                errors.append((lab["id"], "csqa: done, reviewers: not done" if did else "csqa: missing, reviewers: done"))
        p, r, f = prf(tp, fp, fn)
        _, _, f_missing = prf(tn, fn, fp)
        rows.append({"check": check, "n": tp + fp + fn + tn, "precision": p, "recall": r, "f1": f,
                     "f1_missing": f_missing, "target": TARGETS.get(check),
                     "flagged_when_NA": f"{na_flagged}/{na}" if check in CONDITIONAL_CHECKS else ""})
        if show_errors == check:
            for sid, what in errors:
                print(f"  {check} {sid}: {what}")
    return pd.DataFrame(rows)


def forbidden_table(labels: pd.DataFrame, results: dict, show_errors: str | None) -> pd.DataFrame:
    truth, pred = set(), set()
    for _, lab in labels.iterrows():
        for item in filter(None, lab["violations"].split(";")):
            idx, check = item.split(":")
            truth.add((lab["id"], int(idx), check))
        for f in results[lab["id"]].findings:
            if f.check in FORBIDDEN_CHECKS:
                pred.add((lab["id"], f.message_index, f.check))
    rows = []
    for name, t, p in (("same message and kind", truth, pred),
                       ("same message, any kind", {x[:2] for x in truth}, {x[:2] for x in pred})):
        tp = len(t & p)
        pr, rc, f1 = prf(tp, len(p - t), len(t - p))
        rows.append({"forbidden language (chats)": name, "labelled": len(t), "flagged": len(p), "precision": pr,
                     "recall": rc, "f1": f1})
    if show_errors == "forbidden":
        for item in sorted(pred - truth):
            print("  false alarm", item)
        for item in sorted(truth - pred):
            print("  missed", item)
    return pd.DataFrame(rows)


def authored_figures(part: str, use_model: bool, rulebook: str | None, show_errors: str | None) -> pd.DataFrame:
    """Forbidden language on the written agent replies (violations and near-misses), message by message."""
    items = pd.read_csv(Path(__file__).resolve().parent / "devset" / "authored_agent_replies.csv", dtype=str,
                        keep_default_na=False)
    items = items[items["split"] == part].reset_index(drop=True)
    rows = []
    for i, it in items.iterrows():
        for j, (role, text) in enumerate((("customer", it["customer"]), ("agent", it["agent"]))):
            rows.append({"conversation_id": it["id"], "timestamp": pd.NaT, "role": role,
                         "agent_id": "authored" if role == "agent" else "", "text": text, "source": "authored",
                         "source_row": 2 * i + j + 1, "seq": 2 * i + j})
    frame = pd.DataFrame(rows)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    _, results = score_messages(frame, use_model, rulebook)
    truth = {it["id"]: set(filter(None, it["kinds"].split(";"))) for _, it in items.iterrows()}
    flagged = {cid: {f.check for f in r.findings if f.check in FORBIDDEN_CHECKS and f.message_index == 1}
               for cid, r in results.items()}
    out = []
    kinds = sorted({k for v in truth.values() for k in v})
    for kind in ["any"] + kinds:
        if kind == "any":
            t = {i for i, v in truth.items() if v}
            p = {i for i, v in flagged.items() if v}
        else:
            t = {i for i, v in truth.items() if kind in v}
            p = {i for i, v in flagged.items() if kind in v}
        tp = len(t & p)
        pr, rc, f1 = prf(tp, len(p - t), len(t - p))
        out.append({"kind": kind, "labelled": len(t), "flagged": len(p), "precision": pr, "recall": rc, "f1": f1})
    near = [i for i, v in truth.items() if not v]
    out.append({"kind": "near-misses flagged", "labelled": len(near), "flagged": sum(bool(flagged[i]) for i in near),
                "precision": float("nan"), "recall": float("nan"), "f1": float("nan")})
    if show_errors == "authored":
        for _, it in items.iterrows():
            t, p = truth[it["id"]], flagged[it["id"]]
            if t != p:
                print(f"  {it['id']}: labelled {sorted(t) or '-'}, csqa {sorted(p) or '-'}: {it['agent'][:70]}")
    return pd.DataFrame(out)


def spearman(a, b) -> float:
    return pd.Series(list(a)).corr(pd.Series(list(b)), method="spearman")


def quality_figures(labels: pd.DataFrame, results: dict, show_errors: str | None) -> dict:
    quality = labels["quality"].astype(int).tolist()
    scores = [results[i].score for i in labels["id"]]
    passed = [results[i].passed for i in labels["id"]]
    adequate = [q >= 3 for q in quality]
    tpr = sum(p and a for p, a in zip(passed, adequate)) / max(1, sum(adequate))
    tnr = sum((not p) and (not a) for p, a in zip(passed, adequate)) / max(1, len(adequate) - sum(adequate))
    if show_errors == "quality":
        for sid, q, s, p in sorted(zip(labels["id"], quality, scores, passed), key=lambda x: (x[1], x[2])):
            if p != (q >= 3):
                print(f"  quality {q}, score {s:.1f} {'pass' if p else 'fail'}: {sid}")
    return {"n": len(quality), "adequate_share": sum(adequate) / len(adequate), "pass_share": sum(passed) / len(passed),
            "balanced_accuracy": (tpr + tnr) / 2, "pass_recall": tpr, "fail_recall": tnr,
            "spearman_quality": spearman(scores, quality)}


def stc3_figures(part: str, use_model: bool, rulebook: str | None, limit: int | None = None) -> dict:
    from devset.make_items import split_of

    messages, scores = realdata.load_stc3()
    scores = scores[[split_of(f"stc3:{c}") == part for c in scores["conversation_id"]]]
    if limit:
        scores = scores.head(limit)
    messages = messages[messages["conversation_id"].isin(set(scores["conversation_id"]))]
    _, results = score_messages(messages, use_model, rulebook)
    merged = scores.assign(score=[results[c].score for c in scores["conversation_id"]],
                           n_messages=[results[c].n_messages for c in scores["conversation_id"]])
    merged["length"] = pd.cut(merged["n_messages"], [0, 2, 4, 6, 1000], labels=["2", "3-4", "5-6", "7+"])
    by_length = {str(k): (len(g), spearman(g["score"], g["E"])) for k, g in merged.groupby("length", observed=True)}
    return {"dialogues": len(merged), "spearman_E": spearman(merged["score"], merged["E"]),
            "spearman_S": spearman(merged["score"], merged["S"]), "spearman_A": spearman(merged["score"], merged["A"]),
            "by_length": by_length}


def chat_labels(part: str) -> pd.DataFrame:
    labels = pd.read_csv(Path(__file__).resolve().parent / "devset" / "chat_labels.csv", dtype=str,
                         keep_default_na=False)
    return labels[labels["split"] == part].reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["tune", "test"], default="tune",
                        help="tune: the part rules are tuned on (default); test: the untouched part results come from")
    parser.add_argument("--no-model", action="store_true", help="complaint cues only, no classifier")
    parser.add_argument("--rulebook", default=None, help="another rulebook (default: the shipped one)")
    parser.add_argument("--errors", default=None,
                        help="print the errors of one check, 'forbidden', 'authored' or 'quality' (tune part only)")
    parser.add_argument("--no-stc3", action="store_true", help="skip STC-3")
    parser.add_argument("--stc3-limit", type=int, default=None, help="score only the first N STC-3 dialogues")
    args = parser.parse_args()
    if not realdata.available(realdata.CHAT_A):
        print("../shared/data is absent: nothing to measure")
        return 0
    if args.errors and args.part == "test":
        parser.error("--errors shows the tune part only: the test part is for measuring, not for reading errors")
    use_model = not args.no_model
    labels = chat_labels(args.part)
    pending = int((labels["pending"].astype(int) > 0).sum())
    messages = realdata.load_jddc()
    messages = messages[messages["conversation_id"].isin(set(labels["id"]))]
    _, results = score_messages(messages, use_model, args.rulebook)
    pd.set_option("display.width", 180)
    fmt = {"float_format": lambda v: f"{v:.3f}"}
    print(f"chat_a development set, {args.part} part: {len(labels)} sessions labelled blind by two reviewers"
          + (f" ({pending} with disagreements not yet adjudicated: labeller A's value used)" if pending else ""))
    print(check_table(labels, results, args.errors).to_string(index=False, **fmt))
    print()
    print(forbidden_table(labels, results, args.errors).to_string(index=False, **fmt))
    a = authored_figures(args.part, use_model, args.rulebook, args.errors)
    print(f"\nforbidden language on written agent replies ({args.part} part; violations and near-misses, labelled blind by "
          f"two reviewers; target precision ≥ {TARGET_FORBIDDEN_PRECISION}, recall ≥ {TARGET_FORBIDDEN_RECALL})")
    print(a.to_string(index=False, **fmt))
    q = quality_figures(labels, results, args.errors)
    print(f"\noverall quality: {q['n']} sessions, reviewers call {q['adequate_share']:.0%} adequate or better (≥ 3), "
          f"csqa passes {q['pass_share']:.0%}")
    print(f"  pass/fail balanced accuracy vs quality ≥ 3: {q['balanced_accuracy']:.3f} (target ≥ {TARGET_BALANCED_ACCURACY}; "
          f"adequate passed {q['pass_recall']:.2f}, poor failed {q['fail_recall']:.2f})")
    print(f"  Spearman(score, quality): {q['spearman_quality']:.3f} (target ≥ {TARGET_SPEARMAN_QUALITY})")
    if not args.no_stc3 and realdata.available(realdata.STC3_TRAIN):
        s = stc3_figures(args.part, use_model, args.rulebook, args.stc3_limit)
        print(f"\nSTC-3 DCH-1 train, {args.part} part: {s['dialogues']} dialogues, Spearman(score, mean E) = "
              f"{s['spearman_E']:.3f} (target ≥ {TARGET_SPEARMAN_STC3}; S {s['spearman_S']:.3f}, A {s['spearman_A']:.3f})")
        for length, (n, rho) in s["by_length"].items():
            print(f"  dialogues of {length} messages: n={n}, Spearman(score, E) = {rho:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
