"""Assemble the training corpora from the writers' files, and measure what the datasheets report.

Both corpora are written by people, one text at a time (see each DATASHEET.md); this script only validates,
de-duplicates and joins the writers' JSON Lines files; it writes no text of its own.

  python corpora/scripts/assemble.py complaints DRAFTS_DIR [--check]   # complaints/complaints.csv from W*.jsonl, R*.jsonl
  python corpora/scripts/assemble.py conduct DRAFTS_DIR [--check]      # conduct/conduct.csv from C*.jsonl

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

HERE = Path(__file__).resolve().parents[1]  # corpora/
REPO = HERE.parent
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
    for path in sorted(folder.glob("[WR]*.jsonl"), key=lambda p: (p.stem[0] != "W", int(p.stem[1:]) if p.stem[1:].isdigit() else 0)):
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
    parser.add_argument("corpus", choices=["complaints", "conduct"])
    parser.add_argument("drafts", type=Path)
    parser.add_argument("--check", action="store_true", help="print the figures, write nothing")
    args = parser.parse_args()
    if args.corpus == "conduct":
        return assemble_conduct(args.drafts, args.check)
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
    # keep the first text of each near-duplicate pair (writers' own rewordings of a short reply, mostly)
    drop = set()
    for i, j, _ in sorted(pairs):
        if i not in drop:
            drop.add(j)
    unique = [r for k, r in enumerate(unique) if k not in drop]
    left = near_pairs([r["text"] for r in unique])
    still = {i for i, j, _ in left} | {j for i, j, _ in left}
    print(f"after keeping one text of each pair ({len(drop)} dropped): {len(left)} pairs, "
          f"{len(still) / len(unique):.1%} of texts in one")
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
        write_csv(HERE / "complaints" / "complaints.csv", COLUMNS, unique)
    return 0


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows({c: r[c] for c in columns} for r in rows)
    print(f"wrote {path}")


CONDUCT_KINDS = ("rude", "argue", "buck_passing", "bare_refusal", "over_promise", "privacy_leak", "off_platform", "slang")
CONDUCT_COLUMNS = ["customer", "agent", "kinds", "family", "writer"]


def real_agent_texts() -> list[str]:
    """Every real agent turn of ../shared/data (JD chats, STC-3 helpdesk replies)."""
    if not DATA.exists():
        return []
    out = []
    for name in ("chat_a.tsv", "chat_b.tsv"):
        for line in (DATA / "jddc2019" / name).read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 7 and parts[2] == "1":
                out.append("\t".join(parts[6:]))
    for name in ("train_data_cn.json", "test_data_cn.json"):
        for d in json.loads((DATA / "stc3" / name).read_text(encoding="utf-8")):
            out += [" ".join(t["utterances"]) for t in d["turns"] if t["sender"] != "customer"]
    return out


def assemble_conduct(folder: Path, check: bool) -> int:
    """conduct/conduct.csv: agent replies (with the customer message before them) and the conduct they show."""
    rows = []
    for path in sorted(folder.glob("C*.jsonl"), key=lambda p: int(p.stem[1:]) if p.stem[1:].isdigit() else 0):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            kinds = sorted(set(item.get("kinds") or []))
            agent = str(item["agent"]).strip()
            if not agent or not set(kinds) <= set(CONDUCT_KINDS) or item.get("family") not in ("violation", "ordinary", "near_miss"):
                raise SystemExit(f"{path}:{n}: invalid item {item!r}")
            if bool(kinds) != (item["family"] == "violation"):
                raise SystemExit(f"{path}:{n}: family {item['family']} with kinds {kinds}")
            rows.append({"customer": str(item.get("customer") or "").strip(), "agent": agent, "kinds": ";".join(kinds),
                         "family": item["family"], "writer": path.stem})
    print(f"read {len(rows)} replies from {folder}")
    seen, unique = set(), []
    for r in rows:  # one reply may be fine after one message and a bare refusal after another: both stay
        if (r["customer"], r["agent"]) not in seen:
            seen.add((r["customer"], r["agent"]))
            unique.append(r)
    print(f"exact duplicates dropped: {len(rows) - len(unique)}")
    # the written evaluation replies (benchmarks/devset) stay out of training, even a one-word 不能。
    with open(REPO / "benchmarks" / "devset" / "authored_agent_replies.csv", encoding="utf-8", newline="") as fh:
        held_out = {r["agent"] for r in csv.DictReader(fh)}
    before = len(unique)
    unique = [r for r in unique if r["agent"] not in held_out]
    print(f"replies equal to an evaluation reply dropped: {before - len(unique)}")
    real = real_agent_texts()
    if real:
        closest = closest_real([r["agent"] for r in unique], real)
        dropped = [r for r, c in zip(unique, closest) if c >= NEAR and len(r["agent"]) > 6]
        print(f"closest real agent turn (5-gram Jaccard): max {max(closest):.2f}; {len(dropped)} replies ≥ {NEAR} dropped")
        unique = [r for r, c in zip(unique, closest) if c < NEAR or len(r["agent"]) <= 6]
    pairs = near_pairs([r["agent"] for r in unique])
    involved = {i for i, j, _ in pairs} | {j for i, j, _ in pairs}
    print(f"near-duplicate pairs (5-gram Jaccard ≥ {NEAR}): {len(pairs)}; replies in one: {len(involved) / len(unique):.1%}")
    print(f"rows {len(unique)}; lengths {length_summary([r['agent'] for r in unique])}")
    print("  real agent turns: lengths " + length_summary(real) if real else "")
    print("kinds: " + ", ".join(f"{k} {sum(k in r['kinds'].split(';') for r in unique)}" for k in CONDUCT_KINDS))
    for col in ("family", "writer"):
        print(f"{col}: " + ", ".join(f"{k} {v}" for k, v in Counter(r[col] for r in unique).most_common()))
    if not check:
        (HERE / "conduct").mkdir(exist_ok=True)
        write_csv(HERE / "conduct" / "conduct.csv", CONDUCT_COLUMNS, unique)
    return assemble_replies(folder, check)


REPLY_KINDS = ("answer", "deferral", "question", "filler")
REPLY_COLUMNS = ["customer", "agent", "reply", "style", "writer"]


def assemble_replies(folder: Path, check: bool) -> int:
    """conduct/replies.csv: agent replies labelled by what they do for the customer (answer, deferral, …)."""
    rows = []
    for path in sorted(folder.glob("K*.jsonl"), key=lambda p: int(p.stem[1:]) if p.stem[1:].isdigit() else 0):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            if item.get("reply") not in REPLY_KINDS or not str(item.get("agent") or "").strip():
                raise SystemExit(f"{path}:{n}: invalid item {item!r}")
            rows.append({"customer": str(item.get("customer") or "").strip(), "agent": str(item["agent"]).strip(),
                         "reply": item["reply"], "style": item.get("style", ""), "writer": path.stem})
    if not rows:
        return 0
    seen, unique = set(), []
    for r in rows:
        if r["agent"] not in seen:
            seen.add(r["agent"])
            unique.append(r)
    real = real_agent_texts()
    if real:
        closest = closest_real([r["agent"] for r in unique], real)
        dropped = sum(1 for r, c in zip(unique, closest) if c >= NEAR and len(r["agent"]) > 6)
        print(f"replies: closest real agent turn max {max(closest):.2f}; {dropped} ≥ {NEAR} dropped")
        unique = [r for r, c in zip(unique, closest) if c < NEAR or len(r["agent"]) <= 6]
    print(f"replies: {len(unique)} rows; " + ", ".join(f"{k} {v}" for k, v in Counter(r["reply"] for r in unique).most_common()))
    if not check:
        write_csv(HERE / "conduct" / "replies.csv", REPLY_COLUMNS, unique)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
