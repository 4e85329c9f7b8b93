"""The fast paths of the text stage change nothing: normalize's cache and skips, the
segmenter's no-protected-token path, token_bounds, and build_conversations' shared work
against a plain per-row reference implementation."""
from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from csqa.text.conversations import build_conversations
from csqa.core.records import AGENT
from csqa.text.normalize import _normalize, normalize
from csqa.text.segment import PROTECTED, Segmenter, token_bounds

REPO = Path(__file__).resolve().parents[1]
normalize_module = importlib.import_module("csqa.text.normalize")  # csqa.text.normalize is also the function

TEXTS = [
    "", "好的", "ＯＫ，１２３", "好的\u3000亲", "您好<br>亲&nbsp;在的&amp;都可以", "&lt;不是标签&gt;", "請問這件衣服有貨嗎",
    "穿什麼尺碼 ＯＫ", "plain ascii", "[订单x]到了吗[微笑]", "好评👍🏻👍", "a\u00a0b\u2003c", "<b>重要</b>提示", "x & y < z",
]


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return Segmenter()


def test_normalize_cache_returns_what_the_work_gives():
    normalize_module._NORMALIZED.clear()
    for t in TEXTS * 2:
        assert normalize(t) == _normalize(t)
    assert normalize(TEXTS[3]) is normalize(TEXTS[3])  # shared, immutable
    assert normalize(None) == _normalize("")


def _reference_cut(seg: Segmenter, text: str) -> list[str]:
    tokens, pos = [], 0
    for m in PROTECTED.finditer(text):
        if m.start() > pos:
            tokens.extend(seg._jieba.lcut(text[pos : m.start()], HMM=seg.hmm))
        tokens.append(m.group(0))
        pos = m.end()
    if pos < len(text):
        tokens.extend(seg._jieba.lcut(text[pos:], HMM=seg.hmm))
    return tokens


def test_segmenter_fast_path_matches_the_general_one(seg):
    for t in TEXTS:
        norm = normalize(t).text
        assert list(seg.tokens(norm)) == _reference_cut(seg, norm)
        assert "".join(seg.tokens(norm)) == norm


def test_token_bounds():
    assert token_bounds(()) == [0]
    assert token_bounds(("您好", "，", "[订单x]", "到了")) == [0, 2, 3, 8, 10]


def _reference_build(messages: pd.DataFrame, segmenter: Segmenter):
    """build_conversations as it was first written: one row at a time."""
    df = messages
    first_seen = df.groupby("conversation_id", sort=False)["seq"].transform("min")
    ordered = df.assign(_first=first_seen, has_ts=df["timestamp"].notna()).sort_values(
        ["_first", "timestamp", "seq"], kind="stable", na_position="first"
    )
    out = []
    for cid, group in ordered.groupby("conversation_id", sort=False):
        msgs = []
        for i, row in enumerate(group.itertuples(index=False)):
            norm = normalize(row.text)
            has = bool(row.has_ts)
            t = (row.timestamp - pd.Timestamp(0)) / pd.Timedelta(seconds=1) if has else None
            msgs.append((i, row.role, row.agent_id or "", row.text, norm.text, tuple(segmenter.tokens(norm.text)),
                         float(t) if t is not None else None, row.timestamp.strftime("%Y-%m-%d %H:%M:%S") if has else ""))
        senders = Counter(m[2] for m in msgs if m[1] == AGENT and m[2]) or Counter(m[2] for m in msgs if m[2])
        order: list[str] = []
        for m in msgs:
            if m[2] and m[2] in senders and m[2] not in order:
                order.append(m[2])
        primary = max(order, key=lambda a: (senders[a], -order.index(a))) if order else ""
        out.append((cid, msgs, order, primary, all(group["has_ts"])))
    return out


def _frame(rows):
    df = pd.DataFrame(rows, columns=["conversation_id", "timestamp", "role", "agent_id", "text"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["source"], df["source_row"], df["seq"] = "t", range(1, len(df) + 1), range(len(df))
    return df


def _built(messages, segmenter):
    return [
        (c.id, [(m.index, m.role, m.agent_id, m.text, m.norm.text, m.tokens, m.time, m.timestamp) for m in c.messages],
         c.agents, c.primary_agent, c.has_time)
        for c in build_conversations(messages, segmenter)
    ]


def test_build_conversations_matches_reference(seg):
    rows = [
        ("B", "2026-11-01 10:00:05", "customer", "", "在吗"),
        ("A", "2026-11-01 09:00:00", "customer", "bob", "好的"),  # a customer row names an agent first
        ("A", "2026-11-01 09:00:10", "agent", "amy", "您好,请问有什么可以帮您"),
        ("B", "2026-11-01 10:00:01", "agent", "cat", "您好"),
        ("A", "2026-11-01 09:00:20", "agent", "bob", "好的"),
        ("A", "2026-11-01 09:00:20", "agent", "amy", "ＯＫ"),  # tie on time: input order
        ("B", None, "customer", "", "好的"),
        ("C", "2026-11-01 11:00:00", "customer", "dan", "請問"),  # no agent message: any named sender
        ("A", "2026-11-01 09:00:30", "agent", "bob", "还有什么可以帮您"),
    ]
    df = _frame(rows)
    assert _built(df, seg) == _reference_build(df, seg)


def test_build_conversations_matches_reference_on_the_sample(seg):
    from csqa.ingest import read_inputs

    messages = read_inputs([REPO / "corpora" / "samples" / "chat_export.csv"]).messages
    assert _built(messages, seg) == _reference_build(messages, seg)
