"""Assemble complaints.csv from the writers' files, and measure what the datasheet reports.

The corpus is written by people, one text at a time (see DATASHEET.md): each writer's JSON Lines file
holds {text, context, style, domain, category, severity, family, hard}. This script only validates,
de-duplicates and joins them; it writes no text of its own.

  python corpora/complaints/assemble.py DRAFTS_DIR            # writes complaints.csv + prints the figures
  python corpora/complaints/assemble.py DRAFTS_DIR --check    # the figures only

Figures (for DATASHEET.md): counts per category / severity / style / family, the near-duplicate share
(pairs of texts whose character 5-gram sets have Jaccard ≥ 0.6), vocabulary size, length distribution
next to the real development texts', and — when ../shared/data is present — the largest 5-gram Jaccard
of any corpus text with any real text (a text too close to a real one is dropped: no dataset text may
enter the corpus, not even paraphrased).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATA = REPO.parent / "shared" / "data"
CATEGORIES = ("none", "product", "logistics", "service", "payment", "system", "price", "other")
SEVERITIES = ("none", "normal", "serious")
STYLES = ("chat", "review", "weibo")
COLUMNS = ["text", "context", "category", "severity", "style", "domain", "family", "writer"]
NEAR = 0.6
GRAM = 5


def grams(text: str, n: int = GRAM) -> frozenset[str]:
    t = "".join(text.split())
    return frozenset(t[i:i + n] for i in range(len(t) - n + 1)) if len(t) >= n else frozenset([t])


def read_drafts(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("W*.jsonl"), key=lambda p: int(p.stem[1:]) if p.stem[1:].isdigit() else 0):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            text, cat, sev = str(item["text"]).strip(), item["category"], item["severity"]
            if not text or cat not in CATEGORIES or sev not in SEVERITIES or item["style"] not in STYLES:
                raise SystemExit(f"{path}:{n}: invalid item {item!r}")
            if (cat == "none") != (sev == "none"):
                raise SystemExit(f"{path}:{n}: category {cat} with severity {sev}")
            rows.append({"text": text, "context": str(item.get("context") or "").strip(), "category": cat,
                         "severity": sev, "style": item["style"], "domain": item.get("domain", ""),
                         "family": item.get("family", ""), "writer": path.stem})
    return rows


def near_pairs(texts: list[str], threshold: float = NEAR) -> list[tuple[int, int, float]]:
    """Pairs (i, j, Jaccard) of texts with 5-gram Jaccard ≥ threshold (an inverted index finds candidates)."""
    sets = [grams(t) for t in texts]
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for g in s:
            index[g].append(i)
    pairs = []
    for i, s in enumerate(sets):
        shared: Counter = Counter()
        for g in s:
            for j in index[g]:
                if j > i:
                    shared[j] += 1
        for j, k in shared.items():
            jac = k / (len(s) + len(sets[j]) - k)
            if jac >= threshold:
                pairs.append((i, j, jac))
    return pairs


def real_texts() -> dict[str, list[str]]:
    """Every real text of ../shared/data by set (for the contamination check and the length comparison)."""
    out: dict[str, list[str]] = {}
    if not DATA.exists():
        return out
    for name, path in (("reviews", DATA / "reviews" / "online_shopping_10_cats.csv"), ("waimai", DATA / "reviews" / "waimai_10k.csv")):
        with open(path, encoding="utf-8-sig", newline="") as fh:
            out[name] = [r["review"].strip() for r in csv.DictReader(fh) if (r.get("review") or "").strip()]
    stc = json.loads((DATA / "stc3" / "train_data_cn.json").read_text(encoding="utf-8"))
    stc += json.loads((DATA / "stc3" / "test_data_cn.json").read_text(encoding="utf-8"))
    out["stc3"] = [" ".join(t["utterances"]) for d in stc for t in d["turns"] if t["sender"] == "customer"]
    jd = []
    for name in ("chat_a.tsv", "chat_b.tsv"):
        for line in (DATA / "jddc2019" / name).read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 7 and parts[2] == "0":
                jd.append("\t".join(parts[6:]))
    out["jd_chat"] = jd
    return out


def closest_real(texts: list[str], real: list[str]) -> list[float]:
    """For each text, the largest 5-gram Jaccard with any real text."""
    index: dict[str, list[int]] = defaultdict(list)
    sizes = []
    for j, r in enumerate(real):
        s = grams(r)
        sizes.append(len(s))
        for g in s:
            index[g].append(j)
    best = []
    for t in texts:
        s = grams(t)
        shared: Counter = Counter()
        for g in s:
            for j in index.get(g, ()):
                shared[j] += 1
        best.append(max((k / (len(s) + sizes[j] - k) for j, k in shared.items()), default=0.0))
    return best


def length_summary(texts: list[str]) -> str:
    lengths = sorted(len(t) for t in texts)
    q = lambda p: lengths[min(len(lengths) - 1, int(p * len(lengths)))]  # noqa: E731
    return f"n={len(lengths)}, median {q(0.5)}, p10 {q(0.1)}, p90 {q(0.9)}, max {lengths[-1]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("drafts", type=Path)
    parser.add_argument("--check", action="store_true", help="print the figures, write nothing")
    args = parser.parse_args()
    rows = read_drafts(args.drafts)
    print(f"read {len(rows)} texts from {args.drafts}")
    seen: set[tuple[str, str]] = set()
    unique = []
    for r in rows:
        key = (r["text"], r["context"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    print(f"exact duplicates dropped: {len(rows) - len(unique)}")
    real = real_texts()
    if real:
        every_real = [t for ts in real.values() for t in ts]
        closest = closest_real([r["text"] for r in unique], every_real)
        close = [(r, c) for r, c in zip(unique, closest) if c >= NEAR]
        dropped = [r for r, c in close if len(r["text"]) > 6]
        print(f"closest real text (5-gram Jaccard): {len(close)} texts ≥ {NEAR}; the {len(close) - len(dropped)} of ≤ 6 "
              f"characters are everyday words (好的, 在吗, 没有了) and stay; {len(dropped)} longer ones dropped")
        unique = [r for r, c in zip(unique, closest) if c < NEAR or len(r["text"]) <= 6]
    pairs = near_pairs([r["text"] for r in unique])
    involved = {i for i, j, _ in pairs} | {j for i, j, _ in pairs}
    print(f"near-duplicate pairs (5-gram Jaccard ≥ {NEAR}): {len(pairs)}; texts in one: {len(involved)} "
          f"({len(involved) / len(unique):.1%})")
    from csqa.textmodel.features import word_tokens
    from csqa.text.normalize import normalize_text

    vocab = Counter(w for r in unique for w in word_tokens(normalize_text(r["text"])) if " " not in w)
    print(f"rows {len(unique)}; vocabulary {len(vocab)} words; lengths {length_summary([r['text'] for r in unique])}")
    for name, ts in real.items():
        print(f"  real {name}: lengths {length_summary(ts)}")
    for col in ("category", "severity", "style", "family", "writer"):
        print(f"{col}: " + ", ".join(f"{k} {v}" for k, v in Counter(r[col] for r in unique).most_common()))
    print(f"with context: {sum(1 for r in unique if r['context'])}")
    if not args.check:
        with open(HERE / "complaints.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows({c: r[c] for c in COLUMNS} for r in unique)
        print(f"wrote {HERE / 'complaints.csv'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
