"""The complaint classifier on real text, as careful reviewers label it.

Data (read from ../shared/data; ids and labels only in benchmarks/devset/):
- text_labels.csv: 700 customer texts labelled blind by two reviewers from
  ../shared/guidelines/complaint.md and adjudicated — 300 chat_a customer messages (judged with the
  agent turn before them), 200 STC-3 first Weibo posts, 150 online-shopping and 50 food-delivery reviews;
- chat_labels.csv: 400 chat_a sessions labelled from ../shared/guidelines/rules.md — whether the
  customer complained, about what — for the conversation-level decision (csqa.complaints.conversation).
Every item is in the tune or the test part (devset/make_items.split_of). Features, estimators, C and the
threshold are chosen on `--part tune`; `--part test` is the untouched part the reported figures come from.

Printed: per-class F1, 8-way macro-F1, complaint yes/no F1, serious recall (texts); conversation-level
complaint F1, category accuracy and the false-complaint rate on conversations that hold none (chats).

    python benchmarks/bench_complaints.py [--part tune|test] [--model DIR] [--errors N]
    python benchmarks/bench_complaints.py --train '{"C_dissatisfied": 2}'   # fit on the corpus in memory
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))
import realdata  # noqa: E402
from devset.make_items import chat_sessions, review_items, stc3_items  # noqa: E402

TARGETS = {"macro_f1": 0.75, "complaint_f1": 0.90, "serious_recall": 0.70, "conversation_f1": 0.80,
           "category_accuracy": 0.75, "false_complaint_rate": 0.10}


def text_items(part: str) -> pd.DataFrame:
    """The labelled texts of one part with their text and context looked up in ../shared/data."""
    labels = pd.read_csv(HERE / "devset" / "text_labels.csv", dtype=str, keep_default_na=False)
    labels = labels[labels["split"] == part]
    sessions = chat_sessions()
    found = {i["id"]: i for i in stc3_items() + review_items()}
    rows = []
    for _, lab in labels.iterrows():
        if lab["id"].startswith("jd:"):
            _, sid, idx = lab["id"].split(":")
            turns = sessions[sid]
            i = int(idx)
            context = next((t for r, t in reversed(turns[:i]) if r == "agent"), "")
            rows.append({**lab, "source": "jd_chat", "text": turns[i][1], "context": context})
        else:
            item = found[lab["id"]]
            rows.append({**lab, "source": item["source"], "text": item["text"], "context": ""})
    return pd.DataFrame(rows)


def text_figures(clf, items: pd.DataFrame, errors: int = 0) -> dict:
    from csqa.complaints.model import score_predictions

    pred = clf.predict(items["text"].tolist(), items["context"].tolist())
    out = {"all": score_predictions(items["category"], pred["complaint_category"], items["severity"], pred["complaint_severity"])}
    for source, idx in items.groupby("source").groups.items():
        sub = items.loc[idx]
        p = pred.loc[idx]
        out[source] = score_predictions(sub["category"], p["complaint_category"], sub["severity"], p["complaint_severity"])
    if errors:
        wrong = items.assign(pred=pred["complaint_category"].to_numpy(), p=pred["complaint_probability"].to_numpy())
        wrong = wrong[wrong["category"] != wrong["pred"]]
        print(f"\n{len(wrong)} texts wrong (showing {min(errors, len(wrong))}):")
        for _, r in wrong.head(errors).iterrows():
            ctx = f"  [agent: {r['context'][:30]}]" if r["context"] else ""
            print(f"  {r['category']:>9} → {r['pred']:<9} p={r['p']:.2f} {r['source']}: {r['text'][:80]}{ctx}")
    return out


def conversation_figures(clf, part: str) -> dict:
    """Conversation-level complaint decisions on the labelled chat_a sessions of one part."""
    from csqa.complaints.conversation import decide
    from csqa.text.conversations import build_conversations
    from csqa.complaints.classify import classify_messages
    from csqa.text.segment import Segmenter

    labels = pd.read_csv(HERE / "devset" / "chat_labels.csv", dtype=str, keep_default_na=False)
    labels = labels[labels["split"] == part].set_index("id")
    messages = realdata.load_jddc()
    messages = messages[messages["conversation_id"].isin(set(labels.index))]
    convs = list(build_conversations(messages, Segmenter()))
    classify_messages(convs, clf)
    tp = fp = fn = tn = 0
    same_category = both = 0
    from csqa.rulebook.loader import load_rulebook

    trigger = load_rulebook().rulebook.triggers.get("complaint")
    for conv in convs:
        d = decide([m for m in conv.messages if m.role == "customer"],
                   min_probability=trigger.min_probability if trigger is not None else 0.0)
        truth = labels.loc[conv.id, "complaint"] == "1"
        tp += d.is_complaint and truth
        fp += d.is_complaint and not truth
        fn += truth and not d.is_complaint
        tn += not d.is_complaint and not truth
        if d.is_complaint and truth:
            both += 1
            same_category += d.category == labels.loc[conv.id, "complaint_category"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"n": len(convs), "complaints": tp + fn, "precision": precision, "recall": recall,
            "conversation_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "category_accuracy": same_category / both if both else 0.0,
            "false_complaint_rate": fp / (fp + tn) if fp + tn else 0.0}


def _target(key: str, value: float) -> str:
    want = TARGETS.get(key)
    if want is None or value is None:
        return ""
    ok = value <= want if key == "false_complaint_rate" else value >= want
    return f" (target {'≤' if key == 'false_complaint_rate' else '≥'} {want}: {'met' if ok else 'NOT met'})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["tune", "test"], default="tune")
    parser.add_argument("--model", default=None, help="a model folder or .npz (default: the shipped model)")
    parser.add_argument("--train", default=None, help="JSON config overrides: train on the corpus in memory instead")
    parser.add_argument("--corpus", default=None, help="with --train: another corpus CSV")
    parser.add_argument("--errors", type=int, default=0, help="show N misclassified texts (tune part only)")
    args = parser.parse_args(argv)
    if not realdata.available(realdata.CHAT_A):
        print("../shared/data is absent: nothing to measure")
        return 0
    if args.errors and args.part == "test":
        parser.error("--errors reads the tune part only: the test part is for measuring")
    from csqa.complaints.model import ComplaintClassifier, DEFAULT_CONFIG, default_corpus_path, fit, load_classifier, read_corpus, to_linear

    if args.train is not None:
        cfg = {**DEFAULT_CONFIG, **json.loads(args.train)}
        df = read_corpus(args.corpus or default_corpus_path())
        clf = ComplaintClassifier(to_linear(fit(df, cfg)), {k: cfg[k] for k in ("threshold", "serious_threshold", "severity_rules")})
        print(f"trained in memory on {len(df)} corpus texts with {json.dumps(json.loads(args.train), ensure_ascii=False)}")
    else:
        clf = load_classifier(args.model)
        print(f"model {clf.model_id}")
    items = text_items(args.part)
    figures = text_figures(clf, items, args.errors)
    a = figures["all"]
    print(f"\nreal customer texts, {args.part} part: {a['n']} labelled blind by two reviewers")
    print(f"  8-way macro-F1 {a['macro_f1']:.3f}{_target('macro_f1', a['macro_f1'])}")
    print(f"  complaint yes/no F1 {a['complaint_f1']:.3f}{_target('complaint_f1', a['complaint_f1'])}")
    sr = a.get("serious_recall")
    print(f"  serious-complaint recall {sr if sr is None else f'{sr:.3f}'}{_target('serious_recall', sr)}"
          f" (precision {a.get('serious_precision')})")
    print("  per class F1: " + ", ".join(f"{c} {v['f1']:.2f} (n={v['support']})" for c, v in a["per_class"].items()))
    for source in ("jd_chat", "weibo", "review"):
        if source in figures:
            s = figures[source]
            print(f"  {source:8s} n={s['n']:3d}: macro-F1 {s['macro_f1']:.3f}, yes/no F1 {s['complaint_f1']:.3f}")
    c = conversation_figures(clf, args.part)
    print(f"\nreal chats (chat_a), {args.part} part: {c['n']} sessions, {c['complaints']} with a complaint")
    print(f"  conversation-level complaint F1 {c['conversation_f1']:.3f}{_target('conversation_f1', c['conversation_f1'])}"
          f" (precision {c['precision']:.2f}, recall {c['recall']:.2f})")
    print(f"  category accuracy {c['category_accuracy']:.3f}{_target('category_accuracy', c['category_accuracy'])}")
    print(f"  complaint flagged on {c['false_complaint_rate']:.1%} of conversations that hold none"
          f"{_target('false_complaint_rate', c['false_complaint_rate'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
