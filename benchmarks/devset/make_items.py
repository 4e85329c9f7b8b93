"""Choose the items of the blind-labelled development sets and render them for the labellers.

Only ids and labels live in the repository; the texts stay in ../shared/data and are
rendered into a folder outside the checkout (default /work/labelling/items) for the
two labellers who work blind from ../shared/guidelines.

Two sets:
- chat sessions (guidelines/rules.md): 400 chat_a sessions (never chat_b);
- customer texts (guidelines/complaint.md): chat_a customer turns with the agent turn
  before them, STC-3 first customer posts, online-shopping and food-delivery reviews.

Every item belongs to the *tune* or the *test* part by a hash of the unit it comes from
(the chat session, the STC-3 dialogue, the review row), so a chat that is in the test
part of one set is in the test part of the other too. See `split_of`.

Run: python benchmarks/devset/make_items.py [OUTDIR]
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / ".." / "shared" / "data"
CHAT_A = DATA / "jddc2019" / "chat_a.tsv"
STC3 = DATA / "stc3" / "train_data_cn.json"
SHOPPING = DATA / "reviews" / "online_shopping_10_cats.csv"
WAIMAI = DATA / "reviews" / "waimai_10k.csv"

SEED = 20261206
N_SESSIONS = 400
N_CHAT_TURNS = 300
N_STC3 = 200
N_SHOPPING = 150
N_WAIMAI = 50


def split_of(unit: str) -> str:
    """'tune' or 'test' for a unit id (chat session id, 'stc3:<dialogue id>', 'shop:<row>', …).

    Half and half by the first byte of sha256(unit); fixed forever, so the parts never mix.
    """
    return "tune" if hashlib.sha256(unit.encode("utf-8")).digest()[0] < 128 else "test"


def chat_sessions(path: Path = CHAT_A) -> dict[str, list[tuple[str, str]]]:
    """session id -> [(role, text)] in file order; one line of the TSV is one turn."""
    sessions: dict[str, list[tuple[str, str]]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 7:
                continue
            role = "agent" if parts[2] == "1" else "customer"
            sessions.setdefault(parts[0], []).append((role, "\t".join(parts[6:])))
    return sessions


def dev_session_ids(sessions: dict) -> list[str]:
    return random.Random(SEED).sample(sorted(sessions), N_SESSIONS)


def customer_turn_items(sessions: dict) -> list[dict]:
    pool = []
    for sid in sorted(sessions):
        turns = sessions[sid]
        for i, (role, text) in enumerate(turns):
            if role == "customer" and text.strip():
                before = next((t for r, t in reversed(turns[:i]) if r == "agent"), "")
                pool.append({"id": f"jd:{sid}:{i}", "unit": sid, "source": "jd_chat",
                             "context": before, "text": text})
    return random.Random(SEED + 1).sample(pool, N_CHAT_TURNS)


def stc3_items(path: Path = STC3) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    pool = []
    for dialogue in data:
        first = next((t for t in dialogue["turns"] if t["sender"] == "customer"), None)
        if first:
            did = str(dialogue["id"])
            pool.append({"id": f"stc3:{did}", "unit": f"stc3:{did}", "source": "weibo",
                         "context": "", "text": " ".join(first["utterances"])})
    pool.sort(key=lambda item: item["id"])
    return random.Random(SEED + 2).sample(pool, N_STC3)


def review_items() -> list[dict]:
    items = []
    with open(SHOPPING, encoding="utf-8-sig", newline="") as fh:
        rows = [(n, r) for n, r in enumerate(csv.DictReader(fh), start=2) if (r["review"] or "").strip()]
    rng = random.Random(SEED + 3)
    by_stratum: dict[tuple[str, str], list] = {}
    for n, r in rows:
        by_stratum.setdefault((r["cat"], r["label"]), []).append((n, r))
    strata = sorted(by_stratum)
    per = -(-N_SHOPPING // len(strata))
    chosen = []
    for key in strata:
        chosen += rng.sample(by_stratum[key], min(per, len(by_stratum[key])))
    for n, r in rng.sample(chosen, N_SHOPPING):
        items.append({"id": f"shop:{n}", "unit": f"shop:{n}", "source": "review",
                      "context": "", "text": r["review"].strip()})
    with open(WAIMAI, encoding="utf-8-sig", newline="") as fh:
        rows = [(n, r) for n, r in enumerate(csv.DictReader(fh), start=2) if (r["review"] or "").strip()]
    for n, r in random.Random(SEED + 4).sample(rows, N_WAIMAI):
        items.append({"id": f"waimai:{n}", "unit": f"waimai:{n}", "source": "review",
                      "context": "", "text": r["review"].strip()})
    return items


def text_items() -> list[dict]:
    items = customer_turn_items(chat_sessions()) + stc3_items() + review_items()
    random.Random(SEED + 5).shuffle(items)
    return items


def render_session(sid: str, turns: list[tuple[str, str]]) -> str:
    lines = [f"=== id: {sid}"]
    lines += [f"[{i}] {role}: {text}" for i, (role, text) in enumerate(turns)]
    return "\n".join(lines) + "\n"


def render_text(item: dict) -> str:
    lines = [f"=== id: {item['id']}  (source: {item['source']})"]
    if item["source"] == "jd_chat":
        lines.append(f"agent turn before it: {item['context'] or '(none)'}")
    lines.append(f"text: {item['text']}")
    return "\n".join(lines) + "\n"


def main(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    sessions = chat_sessions()
    ids = dev_session_ids(sessions)
    for b in range(4):
        part = ids[b * 100:(b + 1) * 100]
        (outdir / f"chats_batch{b + 1}.txt").write_text("\n".join(render_session(s, sessions[s]) for s in part),
                                                       encoding="utf-8")
    items = text_items()
    half = len(items) // 2
    for b, part in enumerate((items[:half], items[half:])):
        (outdir / f"texts_batch{b + 1}.txt").write_text("\n".join(render_text(i) for i in part), encoding="utf-8")
    with open(outdir / "index.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["set", "id", "unit", "split"])
        for s in ids:
            w.writerow(["chats", s, s, split_of(s)])
        for i in items:
            w.writerow(["texts", i["id"], i["unit"], split_of(i["unit"])])
    print(f"{len(ids)} sessions, {len(items)} texts -> {outdir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/labelling/items"))
