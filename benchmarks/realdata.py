"""Loaders for the real research data in ../shared/data (never copied into the repo).

Each returns an ingested-messages frame (csqa.ingest.MESSAGE_COLUMNS) so benchmarks and
tests can push real chats through the same pipeline as a user's export.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
DATA = SHARED / "data"
CHAT_A = DATA / "jddc2019" / "chat_a.tsv"
STC3_TRAIN = DATA / "stc3" / "train_data_cn.json"


def available(path: Path) -> bool:
    return Path(path).exists()


def load_jddc(path: Path = CHAT_A) -> pd.DataFrame:
    """JDDC 2019 chats: one row per turn; no timestamps and no agent ids (agent = 'jd_agent')."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for seq, line in enumerate(fh):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 7:
                continue
            sid, _customer, is_agent, *_rest = parts
            text = "\t".join(parts[6:])
            rows.append((sid, is_agent == "1", text, seq))
    df = pd.DataFrame(rows, columns=["conversation_id", "is_agent", "text", "seq"])
    return pd.DataFrame(
        {
            "conversation_id": df["conversation_id"],
            "timestamp": pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]"),
            "role": df["is_agent"].map({True: "agent", False: "customer"}),
            "agent_id": df["is_agent"].map({True: "jd_agent", False: ""}),
            "text": df["text"],
            "source": str(path),
            "source_row": df["seq"] + 1,
            "seq": df["seq"],
        }
    )


def load_stc3(path: Path = STC3_TRAIN) -> tuple[pd.DataFrame, pd.DataFrame]:
    """STC-3 DCH-1 Weibo helpdesk dialogues and the annotators' mean A/S/E scores per dialogue."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows, scores = [], []
    seq = 0
    for dialogue in data:
        did = str(dialogue["id"])
        for turn in dialogue["turns"]:
            role = "agent" if turn["sender"] == "helpdesk" else "customer"
            rows.append((did, role, " ".join(turn["utterances"]), seq))
            seq += 1
        q = pd.DataFrame([a["quality"] for a in dialogue["annotations"]])
        scores.append({"conversation_id": did, "A": q["A"].mean(), "S": q["S"].mean(), "E": q["E"].mean()})
    df = pd.DataFrame(rows, columns=["conversation_id", "role", "text", "seq"])
    msgs = pd.DataFrame(
        {
            "conversation_id": df["conversation_id"],
            "timestamp": pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]"),
            "role": df["role"],
            "agent_id": df["role"].map({"agent": "helpdesk", "customer": ""}),
            "text": df["text"],
            "source": str(path),
            "source_row": df["seq"] + 1,
            "seq": df["seq"],
        }
    )
    return msgs, pd.DataFrame(scores)


def dev_labels() -> pd.DataFrame:
    here = Path(__file__).resolve().parent / "devset"
    parts = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(here.glob("chat_a_labels_part*.csv"))]
    return pd.concat(parts, ignore_index=True)
