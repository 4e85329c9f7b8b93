"""Pick the chat_a development sessions that are labelled by hand.

Deterministic: the sorted session ids of ../shared/data/jddc2019/chat_a.tsv,
sampled with a fixed seed. Only ids are stored in the repository, never text.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

SEED = 20261123
SIZE = 200
CHAT_A = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "jddc2019" / "chat_a.tsv"


def session_ids(path: Path = CHAT_A) -> list[str]:
    seen: dict[str, None] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            seen.setdefault(line.split("\t", 1)[0], None)
    return sorted(seen)


def dev_sessions(path: Path = CHAT_A, size: int = SIZE) -> list[str]:
    return random.Random(SEED).sample(session_ids(path), size)


if __name__ == "__main__":
    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    ids = dev_sessions()
    if part == "1":
        ids = ids[:100]
    elif part == "2":
        ids = ids[100:]
    print("\n".join(ids))
