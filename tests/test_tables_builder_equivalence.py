"""The workers' table builders must give exactly the frames of the plain construction.

`conversations_table` / `findings_table` build their frames column by column from lists
(the plain way: a list of row dicts, every dtype inferred), `chunk_transcripts` reads the
messages frame off the Conversation objects and masks transcripts and findings as lists,
and `prepare_transcripts` works on lists with a memo. These tests compare each with a
straightforward reference (the plain frames, and the masking loop as it was written before
the fast path) on the bundled sample and on variants of it that reach the edge cases:
personal data in agent and customer messages, no time column, missing agents, findings
pointing at no message or at a message out of range, values of unexpected types.
Identical means the same columns, dtypes (down to Arrow's large_string), index and values.
"""
from __future__ import annotations

import copy
import csv

import numpy as np
import pandas as pd
import pytest

from csqa.checks import pii
from csqa.text.conversations import build_conversations
from csqa.engines import Scorer
from csqa.settings import ScoringSettings
from csqa.ingest import read_inputs
from csqa.core.paths import corpora_dir
from csqa.complaints.classify import classify_messages
from csqa.results import tables, transcripts as transcript
from csqa.results.tables import conversations_table, findings_table
from csqa.results.transcripts import (OffsetMap, chunk_transcripts, evidence_snippet, mask_with_offsets, messages_table,
                                    prepare_transcripts)
from csqa.scoring import score_conversation

SAMPLE = corpora_dir() / "samples" / "chat_export.csv"

PII_TEXTS = [
    "您的手机号是13812345678吗，我帮您登记",
    "收件人电话13912345678，地址是北京市朝阳区建国路88号3栋2单元501室",
    "邮箱 zhang.san@example.com 已收到，身份证110101199003074514请核对",
    "加我微信 wx_abc123 私聊，QQ 12345678 也行",
    "银行卡6222021234567890128已退款，订单号1234567890123",
    "固话010-62345678，或者０１０－６２３４５６７８",
    "订单号：13812345678，请查收",
]


# ---------------------------------------------------------------------------- the reference
def reference_prepare(messages: pd.DataFrame, findings: pd.DataFrame, mask: bool, only=None):
    """prepare_transcripts as written before the fast path: value by value over the frame's columns."""
    msgs = messages
    fnd = findings.copy()
    if only is not None:
        msgs = msgs[msgs["conversation_id"].isin(set(only))]
    msgs = msgs.copy()
    if "hl_start" not in fnd.columns:
        fnd["hl_start"] = fnd["span_start"] if "span_start" in fnd.columns else pd.NA
        fnd["hl_end"] = fnd["span_end"] if "span_end" in fnd.columns else pd.NA
    fnd["hl_start"] = fnd["hl_start"].astype("Int64")
    fnd["hl_end"] = fnd["hl_end"].astype("Int64")
    if not mask or msgs.empty:
        return msgs.reset_index(drop=True), fnd
    maps, texts, new_texts = {}, {}, []
    for cid, idx, text in zip(msgs["conversation_id"], msgs["message_index"], msgs["text"]):
        masked, omap = mask_with_offsets(text if isinstance(text, str) else "")
        new_texts.append(masked)
        maps[(str(cid), int(idx))] = omap
        texts[(str(cid), int(idx))] = masked
    msgs["text"] = new_texts
    mask_text = transcript._mask_text
    if not fnd.empty:
        starts, ends, matched, evidence = [], [], [], []
        for cid, idx, s, e, m_old, ev_old in zip(fnd["conversation_id"], fnd["message_index"], fnd["hl_start"],
                                                 fnd["hl_end"], fnd["matched_text"], fnd["evidence"]):
            idx, s, e = (transcript._int_or_none(v) for v in (idx, s, e))
            key = (str(cid), idx) if idx is not None else None
            if key is None or key not in maps:
                starts.append(s), ends.append(e)
                matched.append(mask_text(m_old)), evidence.append(mask_text(ev_old))
                continue
            omap, text = maps[key], texts[key]
            if s is not None and e is not None:
                m_masked = mask_text(m_old)
                s, e = transcript._fit(text, omap, s, e, m_masked if isinstance(m_old, str) else "")
                matched.append(text[s:e] if s is not None else m_masked)
            else:
                matched.append(mask_text(m_old))
            starts.append(s), ends.append(e)
            evidence.append(evidence_snippet(text, s, e))
        fnd["hl_start"] = pd.array(starts, dtype="Int64")
        fnd["hl_end"] = pd.array(ends, dtype="Int64")
        fnd["matched_text"] = matched
        fnd["evidence"] = evidence
        fnd["explanation"] = fnd["explanation"].map(mask_text)
    return msgs.reset_index(drop=True), fnd


def assert_identical(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.to_dict() == want.dtypes.to_dict()
    assert type(got.index) is type(want.index) and got.index.equals(want.index)
    for col in got.columns:
        a, b = got[col].array, want[col].array
        if hasattr(b, "_pa_array"):
            assert a._pa_array.type == b._pa_array.type, col
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.equals(want)


# ---------------------------------------------------------------------------- inputs
@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(ScoringSettings(use_model=True))


def _score(scorer: Scorer, frame: pd.DataFrame):
    convs = list(build_conversations(frame, scorer.segmenter))
    classify_messages(convs, scorer.classifier)
    return convs, [score_conversation(c, scorer.book, scorer.mask) for c in convs]


def _variant(tmp_path, name: str, *, drop_time=False, blank_agents=False, pii_texts=False) -> pd.DataFrame:
    with open(SAMPLE, encoding="utf-8-sig", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    rows = rows[:900]
    if pii_texts:  # personal data in agent and customer messages (the PII rule flags the agent ones)
        rows = [r[:4] + [PII_TEXTS[i % len(PII_TEXTS)] + r[4]] if i % 5 == 0 else r for i, r in enumerate(rows)]
    if blank_agents:
        rows = [r[:3] + [""] + r[4:] if i % 3 == 0 else r for i, r in enumerate(rows)]
    if drop_time:
        header, rows = header[:1] + header[2:], [r[:1] + r[2:] for r in rows]
    path = tmp_path / f"{name}.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return read_inputs([path]).messages


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> dict[str, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("tables_fast")
    return {
        "sample": read_inputs([SAMPLE]).messages,
        "pii": _variant(tmp, "pii", pii_texts=True),
        "no_time": _variant(tmp, "no_time", drop_time=True, pii_texts=True),
        "blank_agents": _variant(tmp, "blank_agents", blank_agents=True, pii_texts=True),
    }


def _check_chunk(frame, convs, results, mask):
    pii.DETECTION_MEMO.clear()  # the memo must not matter
    got_msgs, got_fnd = chunk_transcripts(frame, convs, results, mask)
    want_msgs, want_fnd = reference_prepare(messages_table(frame), tables._findings_table_plain(results), mask)
    assert_identical(got_msgs, want_msgs)
    assert_identical(got_fnd, want_fnd)
    assert_identical(conversations_table(results), tables._conversations_table_plain(results))
    assert_identical(findings_table(results), tables._findings_table_plain(results))


# ---------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("mask", [True, False])
@pytest.mark.parametrize("name", ["sample", "pii", "no_time", "blank_agents"])
def test_chunk_tables_are_the_plain_frames(scorer, frames, name, mask):
    frame = frames[name]
    convs, results = _score(scorer, frame)
    _check_chunk(frame, convs, results, mask)
    if name == "pii":  # the variant reaches the masking: spans that touch personal data move
        _, fnd = chunk_transcripts(frame, convs, results, True)
        moved = fnd[fnd["hl_start"].notna() & (fnd["hl_start"] != fnd["span_start"])]
        assert len(moved) and fnd["check"].eq("privacy_leak").any()


def test_a_scorer_chunk_is_the_plain_frames(scorer, frames):
    """score_frame itself (what the workers run) against the plain construction."""
    frame = frames["pii"]
    out = scorer.score_frame(frame)
    convs, results = _score(scorer, frame)
    want_msgs, want_fnd = reference_prepare(messages_table(frame), tables._findings_table_plain(results), True)
    assert_identical(out.messages, want_msgs)
    from csqa.results.finding_ids import add_finding_ids  # (issue 17: the chunk's findings carry their stable ids)

    want_fnd = add_finding_ids(want_fnd, scorer.loaded.sha256, getattr(scorer.classifier, "sha256", None))
    assert_identical(out.findings, want_fnd)
    assert_identical(out.conversations, tables._conversations_table_plain(results))


def _edited(results, edit):
    results = copy.deepcopy(results)
    for r in results:
        for f in r.findings:
            edit(f)
    return results


@pytest.mark.parametrize("case", ["index_out_of_range", "negative_index", "no_spans", "matched_none",
                                  "points_int", "spans_everywhere"])
def test_unusual_findings_give_the_plain_frames(scorer, frames, case):
    frame = frames["pii"]
    convs, results = _score(scorer, frame)
    n = {"i": 0}

    def edit(f):
        n["i"] += 1
        if n["i"] % 4:
            return
        if case == "index_out_of_range" and f.message_index is not None:
            f.message_index += 1000
        elif case == "negative_index":
            f.message_index = -1
        elif case == "no_spans":
            f.span_start = f.span_end = None
        elif case == "matched_none":
            f.matched_text = None
        elif case == "points_int":
            f.points = int(f.points)
        elif case == "spans_everywhere":  # a span on every finding with a message, also on PII
            if f.message_index is not None:
                f.span_start, f.span_end = 0, 6
                f.matched_text = f.matched_text or "x"

    _check_chunk(frame, convs, _edited(results, edit), True)


def test_unusual_conversations_give_the_plain_frames(scorer, frames):
    frame = frames["sample"]
    convs, results = _score(scorer, frame)
    for edit in (lambda r: setattr(r, "score", int(r.score)), lambda r: setattr(r, "complaint", None),
                 lambda r: setattr(r, "mean_response_s", None), lambda r: setattr(r, "findings", [])):
        edited = copy.deepcopy(results)
        for r in edited[::3]:
            edit(r)
        _check_chunk(frame, convs, edited, True)
    _check_chunk(frame.iloc[0:0], [], [], True)  # an empty chunk


def test_messages_of_unexpected_types_take_the_plain_way(scorer, frames):
    frame = frames["sample"].copy()
    frame.loc[frame.index[::11], "agent_id"] = np.nan  # a Message keeps NaN (`nan or ""`), the frame says ""
    convs, results = _score(scorer, frame)
    assert any(type(m.agent_id) is float for c in convs for m in c.messages)
    for got, want in zip(chunk_transcripts(frame, convs, results, True),
                         reference_prepare(messages_table(frame), tables._findings_table_plain(results), True)):
        assert_identical(got, want)
    # a text that is not a str (never from ingest): the plain frame decides
    odd = copy.deepcopy(convs)
    odd[1].messages[0].text = None
    got, _ = chunk_transcripts(frame, odd, results, True)
    want, _ = reference_prepare(messages_table(frame), findings_table(results), True)
    assert_identical(got, want)


@pytest.mark.parametrize("mask", [True, False])
def test_prepare_transcripts_is_the_reference(scorer, frames, mask):
    """Every caller's path: the whole chunk, a drill-down (`only`), and findings read back from a store."""
    frame = frames["pii"]
    convs, results = _score(scorer, frame)
    messages, findings = messages_table(frame), findings_table(results)
    ids = list(dict.fromkeys(messages["conversation_id"]))[::7]
    for kwargs in ({}, {"only": ids}, {"only": []}):
        for got, want in zip(prepare_transcripts(messages, findings, mask, **kwargs),
                             reference_prepare(messages, findings, mask, **kwargs)):
            assert_identical(got, want)
    # from a store: hl_start / hl_end present, categorical text columns, object text with a missing value
    stored = findings.assign(hl_start=findings["span_start"], hl_end=findings["span_end"],
                             check=findings["check"].astype("category"))
    odd_msgs = messages.astype({"text": object})
    odd_msgs.loc[odd_msgs.index[3], "text"] = None
    for got, want in zip(prepare_transcripts(odd_msgs, stored, mask), reference_prepare(odd_msgs, stored, mask)):
        assert_identical(got, want)


def _texts(frames) -> list[str]:
    texts = list(dict.fromkeys(t for f in frames.values() for t in f["text"]))
    rng = np.random.default_rng(7)
    extra = []
    for _ in range(400):  # PII values spliced into real texts, with and without context words
        a, b = rng.choice(len(texts), 2)
        v = PII_TEXTS[int(rng.integers(len(PII_TEXTS)))]
        extra.append(texts[a][: int(rng.integers(0, 20))] + v + texts[b][: int(rng.integers(0, 20))])
    return texts + extra


def test_masking_leaves_the_detection_cache_alone(frames):
    """Transcript masking decides with mask_regions and adds nothing to the detection scan cache
    (nearly every transcript text is distinct: storing them would push the checks' entries out)."""
    texts = _texts(frames)
    for warm in (False, True):
        pii.DETECTION_MEMO.clear()
        if warm:
            for t in texts[::2]:
                pii.find_pii(t)
        before = set(pii.DETECTION_MEMO)
        got = [transcript.mask_with_offsets(t)[0] for t in texts]
        assert set(pii.DETECTION_MEMO) == before  # nothing added
        assert got == [pii.mask_pii(t) for t in texts]
    assert any(g != t for g, t in zip(got, texts))


def test_masker_is_mask_with_offsets_and_mask_pii(frames):
    texts = _texts(frames) + ["", "13812345678"] * 3
    masker = transcript._Masker()
    shown, maps = masker.texts(texts)
    for t, s, m in zip(texts, shown, maps):
        want_s, want_m = mask_with_offsets(t)
        assert (s, m) == (want_s, want_m)
        assert s == pii.mask_pii(t) if t else s == t
        assert isinstance(m, OffsetMap)
    values = texts[:50] + [None, float("nan"), pd.NA, ""]
    assert masker.values(values)[:50] == [transcript._mask_text(v) for v in values[:50]]
    assert masker.values(values)[50] is None and masker.values(values)[52] is pd.NA


def test_string_columns_are_what_pandas_infers():
    values = ["a", "文本", "", "x" * 100]
    got, want = pd.Series(tables.str_column(values)), pd.Series(values)
    assert got.dtype == want.dtype and got.equals(want)
    assert got.array._pa_array.type == want.array._pa_array.type
    ints = [None, 3, 0, None, 7]
    got_i, want_i = pd.Series(tables.frame_column(ints, "Int64")), pd.Series(pd.array(ints, dtype="Int64"))
    assert got_i.equals(want_i) and got_i.dtype == want_i.dtype


def test_agents_table_groups_categorical_findings_to_the_same_table(sample_run, tmp_path):
    """The output stage passes findings with categorical columns (compact at 200k conversations):
    grouped as categories, the per-agent table is the one plain text gives, agents without
    findings included."""
    from csqa.results.spool import FrameSpool
    from csqa.results.tables import agents_table
    from csqa.outputs.store import ResultStore

    with ResultStore(sample_run.outdir / "results.duckdb", read_only=True) as rs:
        stored = rs.load()
    conv, fnd = stored.conversations, stored.findings
    cols = ["agent_id", "check", "severity"]
    with FrameSpool("findings", list(fnd.columns), workdir=tmp_path) as spool:
        half = len(fnd) // 2
        spool.add(fnd.iloc[:half])
        spool.add(fnd.iloc[half:])
        compact = spool.read(cols, categorical=cols)
    assert all(compact[c].dtype == "category" for c in cols)
    plain = fnd[cols].astype(str)
    expected = agents_table(conv, plain)
    pd.testing.assert_frame_equal(agents_table(conv, compact), expected)
    # an agent whose findings are all gone still has a row, with 0 findings and no top check
    some = conv["agent_id"].iloc[0]
    without = compact[compact["agent_id"] != some]
    row = agents_table(conv, without).set_index("agent_id").loc[some]
    assert row["findings"] == 0 and row["top_failed_check"] == ""
