"""The fast paths of normalize / segment / build_conversations give what the plain code gives.

- width folding by replacing only the wide characters present == str.translate of the table;
- Segmenter.tokens_many (rjieba cuts many texts joined by a separator in one call) == tokens()
  of each text on its own;
- build_conversations (sort skipped when the frame is already ordered, distinct values
  factorized, one-agent conversations shortcut) == the straightforward per-message construction,
  on the bundled sample shuffled, with missing times, ties and several agents.
"""
from __future__ import annotations

import csv
import importlib
import pickle
import random
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from csqa.text.conversations import build_conversations
from csqa.core.records import AGENT, Conversation, Message
from csqa.text.segment import _GROUP_CHARS, _SEPARATOR, Segmenter, available_backend

norm_mod = importlib.import_module("csqa.text.normalize")
normalize = norm_mod.normalize


def _sample_texts(sample_csv) -> list[str]:
    with open(sample_csv, encoding="utf-8-sig", newline="") as fh:
        return [row[4] for row in list(csv.reader(fh))[1:]]


EXTRA = [
    "", " ", "\r\n", "好的\r", "\n好的", "ＯＫ，１２３！", "　全角空格　", "a\u00a0b\u2002c\u2003d\u2009e",
    "订单[订单x]已发货[玫瑰]😊👍🏻", "[数字x]", "😊", "abc", "ABC123def", "3.5折", "C++ & C#", "100%好评",
    "含分隔符\x00的文本", "\x00", "末尾空格 ", " 开头空格", "繁體字測試", "<b>加粗</b>&amp;好", "你好\t在吗",
    "谢谢～～", "a-b_c.d", "中文English混排123测试", "…", "——", "「引号」",
]


@pytest.fixture(scope="module")
def texts(sample_csv) -> list[str]:
    rng = random.Random(7)
    base = _sample_texts(sample_csv) + EXTRA
    # joined pairs: new boundaries between words, punctuation and whitespace
    joined = [rng.choice(base) + rng.choice(base) for _ in range(500)]
    return base + joined


def test_fold_width_equals_translate(texts):
    wide = "".join(chr(c) for c in norm_mod._WIDTH_TABLE)
    rng = random.Random(3)
    generated = ["".join(rng.choice(wide + "好的abc ，。") for _ in range(rng.randint(0, 30))) for _ in range(500)]
    for text in texts + generated + [wide, wide * 3]:
        assert norm_mod._fold_width(text) == text.translate(norm_mod._WIDTH_TABLE)


@pytest.mark.parametrize("backend", ["jieba", "rjieba"])
def test_tokens_many_equals_tokens(texts, backend):
    if backend == "rjieba" and available_backend("auto") != "rjieba":
        pytest.skip("rjieba not installed")
    one_by_one = Segmenter(backend=backend)
    together = Segmenter(backend=backend)
    expected = [one_by_one.tokens(normalize(t).text) for t in texts]
    normalized = [normalize(t).text for t in texts]
    assert together.tokens_many(normalized) == expected
    # cached now: the same again, and tokens() agrees with the cache tokens_many filled
    assert together.tokens_many(normalized) == expected
    assert [together.tokens(t) for t in normalized] == expected
    for toks, text in zip(expected, normalized):
        assert "".join(toks) == text


def test_tokens_many_across_groups():
    """More text than one rjieba call takes: the groups are cut apart correctly."""
    if available_backend("auto") != "rjieba":
        pytest.skip("rjieba not installed")
    rng = random.Random(11)
    words = ["您好", "请问", "订单", "什么时候", "发货", "[数字x]", "😊", "abc", "12", " ", "，", "。", "\r", "\n", "好的"]
    many = ["".join(rng.choice(words) for _ in range(rng.randint(0, 40))) for _ in range(6000)]
    assert sum(map(len, many)) > 2 * _GROUP_CHARS
    plain = Segmenter(backend="rjieba")
    fast = Segmenter(backend="rjieba")
    assert fast.tokens_many(many) == [tuple(plain._cut(t)) for t in many]


def test_separator_is_cut_alone():
    """The property _cut_many relies on: the separator is a token of its own, never joined."""
    if available_backend("auto") != "rjieba":
        pytest.skip("rjieba not installed")
    seg = Segmenter(backend="rjieba")
    for a, b in [("好的", "谢谢"), ("abc", "123"), ("\r", "\n"), (" ", " "), ("你好!", "?在吗"), ("", "")]:
        assert seg._jieba.lcut(a + _SEPARATOR + b) == seg._jieba.lcut(a) + [_SEPARATOR] + seg._jieba.lcut(b)


def test_message_clean_is_norm_text():
    norm = normalize("ＯＫ，<b>好的</b>")
    m = Message(0, "agent", "a", norm.original, norm, ("OK",), None, "")
    assert m.clean == norm.text == "OK,好的"
    again = pickle.loads(pickle.dumps(m))
    assert again == m and again.clean == m.clean and again.norm == norm


# ------------------------------------------------------------------ build_conversations


def _reference_conversations(messages: pd.DataFrame, segmenter: Segmenter) -> list[Conversation]:
    """The plain construction: sort, then one Message per row, agents counted per conversation."""
    df = messages
    first = df.groupby("conversation_id", sort=False)["seq"].transform("min")
    ordered = df.assign(_first=first).sort_values(["_first", "timestamp", "seq"], kind="stable", na_position="first")
    out = []
    for cid, group in ordered.groupby("conversation_id", sort=False):
        msgs = []
        for i, row in enumerate(group.itertuples(index=False)):
            ts = row.timestamp
            has = not pd.isna(ts)
            norm = normalize(row.text)
            msgs.append(Message(
                i, row.role, row.agent_id or "", row.text, norm, segmenter.tokens(norm.text),
                (ts - pd.Timestamp(0)) / pd.Timedelta(seconds=1) if has else None,
                ts.strftime("%Y-%m-%d %H:%M:%S") if has else "",
            ))
        counts = Counter(m.agent_id for m in msgs if m.role == AGENT and m.agent_id)
        if not counts:
            counts = Counter(m.agent_id for m in msgs if m.agent_id)
        order = [a for a in dict.fromkeys(m.agent_id for m in msgs) if a and a in counts]
        primary = max(order, key=counts.__getitem__) if order else ""
        out.append(Conversation(cid, msgs, order, primary, all(m.time is not None for m in msgs)))
    return out


def _frame(sample_csv, shuffle: bool) -> pd.DataFrame:
    from csqa.ingest import read_inputs

    df = read_inputs([sample_csv]).messages
    rng = np.random.default_rng(5)
    n = len(df)
    ts = df["timestamp"].copy()
    ts[rng.random(n) < 0.05] = pd.NaT  # some messages without a time
    dup = rng.random(n) < 0.1
    ts[dup] = ts.shift(1)[dup]  # ties broken by input order
    agents = df["agent_id"].copy()
    second = rng.random(n) < 0.1
    agents[second] = "agent_" + pd.Series(rng.integers(0, 3, n)).astype(str)[second]  # several agents
    agents[rng.random(n) < 0.05] = ""
    roles = df["role"].copy()
    df = df.assign(timestamp=ts, agent_id=agents.astype("str"), role=roles)
    if shuffle:
        df = df.iloc[rng.permutation(n)].reset_index(drop=True)  # conversations interleaved
    return df


@pytest.mark.parametrize("shuffle", [False, True])
def test_build_conversations_equals_reference(sample_csv, shuffle):
    segmenter = Segmenter(backend=available_backend("auto"))
    df = _frame(sample_csv, shuffle)
    got = list(build_conversations(df, segmenter))
    want = _reference_conversations(df, segmenter)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.id, g.agents, g.primary_agent, g.has_time) == (w.id, w.agents, w.primary_agent, w.has_time)
        assert g.messages == w.messages
        assert [m.clean for m in g.messages] == [m.clean for m in w.messages]


def test_build_conversations_staged_order(sample_csv):
    """Frames from the staging area arrive ordered: the sort is skipped, the result the same."""
    from csqa.engines.staging import MessageStage

    segmenter = Segmenter(backend=available_backend("auto"))
    df = _frame(sample_csv, shuffle=True)
    with MessageStage() as stage:
        stage.add(df)
        batches = list(stage.batches(conversations_per_batch=7))
    got = [c for b in batches for c in build_conversations(b, segmenter)]
    want = _reference_conversations(df, segmenter)
    assert [(c.id, c.agents, c.primary_agent, c.messages) for c in got] == [
        (c.id, c.agents, c.primary_agent, c.messages) for c in want
    ]


def test_build_conversations_without_times():
    segmenter = Segmenter(backend=available_backend("auto"))
    df = pd.DataFrame({
        "conversation_id": pd.Series(["b", "a", "b", "a"], dtype="str"),
        "timestamp": pd.Series([pd.NaT] * 4, dtype="datetime64[ns]"),
        "role": pd.Series(["customer", "agent", "agent", "customer"], dtype="str"),
        "agent_id": pd.Series(["", "x", "y", "y"], dtype="str"),
        "text": pd.Series(["在吗", "您好", "您好", "在吗"], dtype="str"),
        "source": pd.Series(["f"] * 4, dtype="str"),
        "source_row": pd.Series([2, 3, 4, 5], dtype="int64"),
        "seq": pd.Series([0, 1, 2, 3], dtype="int64"),
    })
    got = list(build_conversations(df, segmenter))
    want = _reference_conversations(df, segmenter)
    assert [(c.id, c.agents, c.primary_agent, c.has_time, c.messages) for c in got] == [
        (c.id, c.agents, c.primary_agent, c.has_time, c.messages) for c in want
    ]
    # "a": only x wrote as the agent (y is named on a customer line), so x alone is its agent
    assert [(c.id, c.agents, c.primary_agent, c.has_time) for c in got] == [("b", ["y"], "y", False), ("a", ["x"], "x", False)]
