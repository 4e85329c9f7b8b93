"""Merge two blind labellers' files and the adjudicator's rulings into the development labels.

Inputs (outside the repository, they quote data text): LABELS/chats_batch{N}_{A,B}.jsonl and
LABELS/texts_batch{N}_{A,B}.jsonl written from ../shared/guidelines, plus the adjudication files
LABELS/adjudicated_chats.jsonl and LABELS/adjudicated_texts.jsonl ({"id", "field", "value"} per
disagreement a third reviewer settled). Outputs (in the repository, ids and labels only):
benchmarks/devset/chat_labels.csv and benchmarks/devset/text_labels.csv, with the split of each
item (`make_items.split_of`) and, per item, how many fields the two labellers disagreed on.

A field the labellers agree on is taken as it is; a disagreement takes the adjudicator's value,
and while none exists yet, labeller A's (such rows are counted in the `pending` column, so a
benchmark can refuse to report on unadjudicated labels).

Run: python benchmarks/devset/merge_labels.py [LABELS]
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_items import split_of  # noqa: E402

HERE = Path(__file__).resolve().parent
CHAT_FIELDS = ["greeting", "offers_help", "identity", "confirmation", "anything_else", "farewell", "complaint",
               "complaint_category", "complaint_turn", "apology", "process_told", "violations", "quality"]
TEXT_FIELDS = ["category", "severity"]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _violations(value) -> str:
    """'i:kind;…' sorted: the turn and kind of each violation (the span text stays out of the repo)."""
    return ";".join(sorted({f"{v['i']}:{v['kind']}" for v in value or []}, key=lambda s: (int(s.split(':')[0]), s)))


def _cell(value) -> str:
    if value is None:
        return "NA"
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _rulings(path: Path) -> dict[tuple[str, str], object]:
    return {(r["id"], r["field"]): r["value"] for r in _jsonl(path)} if path.exists() else {}


def merge(kind: str, fields: list[str], labels: Path) -> list[dict]:
    rulings = _rulings(labels / f"adjudicated_{kind}.jsonl")
    rows = []
    for a_path in sorted(labels.glob(f"{kind}_batch*_A.jsonl")):
        b_path = a_path.with_name(a_path.name.replace("_A.jsonl", "_B.jsonl"))
        if not b_path.exists():
            continue
        first, second = _jsonl(a_path), _jsonl(b_path)
        if len(first) != len(second):
            print(f"skipped {a_path.name}: the two labellers' files differ in length (still being written?)")
            continue
        for a, b in zip(first, second):
            assert a["id"] == b["id"], (a_path, a["id"], b["id"])
            if kind == "chats":
                a = {**a, "violations": _violations(a["violations"])}
                b = {**b, "violations": _violations(b["violations"])}
            row = {"id": a["id"]}
            disagree = pending = 0
            for f in fields:
                if a[f] == b[f]:
                    row[f] = _cell(a[f])
                    continue
                disagree += 1
                ruled = rulings.get((a["id"], f), KeyError)
                if ruled is KeyError:
                    pending += 1
                    ruled = a[f]
                elif f == "violations" and not isinstance(ruled, str):
                    ruled = _violations(ruled)
                row[f] = _cell(ruled)
            unit = a["id"].split(":")[1] if a["id"].startswith("jd:") else a["id"]
            rows.append({**row, "split": split_of(unit), "disagreements": disagree, "pending": pending})
    return rows


def write(rows: list[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def main(labels: Path) -> None:
    for kind, fields, name in (("chats", CHAT_FIELDS, "chat_labels.csv"), ("texts", TEXT_FIELDS, "text_labels.csv")):
        rows = merge(kind, fields, labels)
        if rows:
            write(rows, HERE / name)
            print(f"{name}: {len(rows)} items, {sum(r['disagreements'] > 0 for r in rows)} with a disagreement, "
                  f"{sum(r['pending'] > 0 for r in rows)} still to adjudicate")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/labelling/out"))
