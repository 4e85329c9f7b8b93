"""The transcripts table and masking that keeps offsets (the findings point into the text as shown).

The transcripts frame (`csqa.results.columns.TRANSCRIPTS`; the store's `messages`) has one row per
message: conversation_id, message_index, role, agent_id, timestamp, text. `message_index` is the message's position in its ordered
conversation, the same index findings carry; `span_start`/`span_end` of a finding are
offsets into that message's ORIGINAL text.

Masking changes lengths (an e-mail or address shrinks), so a masked transcript gets
its own highlight offsets: `prepare_transcripts` masks the text and adds `hl_start` /
`hl_end` to the findings — offsets into the text as it is stored and shown. A
highlight that touches a piece of personal data grows to cover the whole masked value,
so a highlight can never reveal part of a number (`csqa.outputs.report.highlight` draws them).
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from operator import attrgetter
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from csqa.checks import pii as _pii
from csqa.core.records import Conversation, ConversationResult
from csqa.results.columns import FINDINGS, REJECTS, TRANSCRIPT_COLUMNS
from csqa.results.tables import all_str, finding_columns, findings_frame, findings_table, str_column


# ---------------------------------------------------------------------------- the messages frame
def messages_table(ingested: pd.DataFrame) -> pd.DataFrame:
    """The messages frame from ingested messages (`csqa.ingest.read_inputs(...).messages`).

    Orders messages exactly as `csqa.text.conversations.build_conversations` does (conversations
    in order of first appearance, messages by time, input order on ties), so
    `message_index` matches the index findings carry (tests/test_report.py checks this
    against build_conversations on the sample).
    """
    if ingested.empty:
        return empty_transcripts()
    df = ingested
    first_seen = df.groupby("conversation_id", sort=False)["seq"].transform("min")
    ordered = df.assign(_first=first_seen).sort_values(["_first", "timestamp", "seq"], kind="stable", na_position="first")
    stamps = ordered["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    out = pd.DataFrame(
        {
            "conversation_id": ordered["conversation_id"].astype(str).to_numpy(),
            "message_index": ordered.groupby("conversation_id", sort=False).cumcount().astype("int64").to_numpy(),
            "role": ordered["role"].to_numpy(),
            "agent_id": ordered["agent_id"].fillna("").astype(str).to_numpy(),
            "timestamp": stamps.where(ordered["timestamp"].notna(), "").to_numpy(),
            "text": ordered["text"].astype(str).to_numpy(),
        }
    )
    return out[TRANSCRIPT_COLUMNS]


def empty_transcripts(columns: list[str] | None = None) -> pd.DataFrame:
    """A transcripts frame without rows (message_index int64, the rest object)."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "message_index" else "object")
                         for c in (TRANSCRIPT_COLUMNS if columns is None else columns)})


# ---------------------------------------------------------------------------- masking with offsets
@dataclass(frozen=True)
class OffsetMap:
    """Maps offsets of an original text to offsets of its masked version."""

    regions: tuple[tuple[int, int, int, int], ...] = ()  # (orig_start, orig_end, new_start, new_end)

    def start(self, pos: int) -> int:
        return self._map(pos, True)

    def end(self, pos: int) -> int:
        return self._map(pos, False)

    def _map(self, pos: int, is_start: bool) -> int:
        if not self.regions:
            return pos
        i = bisect_right([r[0] for r in self.regions], pos) - 1
        if i < 0:
            return pos
        a, b, na, nb = self.regions[i]
        if pos >= b:  # after the region: shift by its change in length
            return pos + (nb - b)
        if pos == a:
            return na
        return na if is_start else nb  # inside personal data: widen to the whole masked value


_IDENTITY = OffsetMap()  # immutable: shared by every text that masking leaves unchanged


def mask_with_offsets(text: str, regions_of=None) -> tuple[str, OffsetMap]:
    """`csqa.checks.pii.mask_pii(text)` plus the map from original to masked offsets.

    `regions_of`: what decides what is hidden, `_pii.mask_regions`' result for the text (default: mask_regions itself).
    """
    if not text:
        return text, _IDENTITY
    # exactly what mask_pii(text) hides (cheap pre-checks inside)
    found = regions_of(text) if regions_of is not None else _pii.mask_regions(text)
    if not found:
        return text, _IDENTITY
    parts: list[str] = []
    regions = []
    pos = 0
    new_len = 0
    for start, end, masked in found:
        keep = text[pos:start]
        parts.append(keep)
        new_len += len(keep)
        parts.append(masked)
        regions.append((start, end, new_len, new_len + len(masked)))
        new_len += len(masked)
        pos = end
    parts.append(text[pos:])
    return "".join(parts), OffsetMap(tuple(regions))


def _mask_text(value):
    return _pii.mask_pii(value) if isinstance(value, str) and value else value


class _Masker:
    """`mask_with_offsets` / `_mask_text` with a memo for one call of the table builders.

    Both are pure functions of the text (the PII scan caches by text for the same reason),
    and a chunk repeats many texts: greetings and templates in the transcripts, the fixed
    explanations and snippets of the findings.
    """

    def __init__(self):
        self._masked: dict[str, str] = {}  # texts that hold personal data -> masked text
        self._maps: dict[str, OffsetMap] = {}
        self._values: dict[str, str] = {}

    def texts(self, texts: list[str]) -> tuple[list[str], list[OffsetMap]]:
        """`mask_with_offsets(t)` for each t (str), as two lists: the masked texts and their offset maps."""
        masked, maps = self._masked, self._maps
        for t in dict.fromkeys(texts):
            if t not in masked and t:
                shown, omap = mask_with_offsets(t)
                if omap is not _IDENTITY:
                    masked[t], maps[t] = shown, omap
        # any other text: mask_with_offsets(t) == (t, identity). (Two flat lists, no tuple per
        # message: a chunk's worth of new containers would cost full garbage collections.)
        return [masked.get(t, t) for t in texts], [maps.get(t, _IDENTITY) for t in texts]

    def values(self, values: list) -> list:
        """`[_mask_text(v) for v in values]`: each distinct text masked once (a value that is not a str stays)."""
        memo = self._values
        for v in set(v for v in values if type(v) is str).difference(memo):
            memo[v] = _mask_text(v)
        return [memo[v] if type(v) is str else _mask_text(v) for v in values]


def _int_or_none(v) -> int | None:
    return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else int(v)


def _fit(text: str, omap: OffsetMap, s: int, e: int, expected: str) -> tuple[int | None, int | None]:
    """Map a finding's span onto the text as shown, and make sure it still covers the evidence.

    When this function masked the text itself, the offset map is exact (a span touching
    personal data widens to the whole masked value). When the text arrived masked already
    (e.g. an engine that masked transcripts with mask_pii) the original offsets may be off
    by the length a mask removed: then the span is moved to the nearest occurrence of the
    matched text, or dropped (no highlight) if it cannot be found.
    """
    s2, e2 = omap.start(s), omap.end(e)
    touches_pii = any(a < e and s < b for a, b, _, _ in omap.regions)
    if touches_pii or not expected or text[s2:e2] == expected:
        return s2, e2
    hits = [m.start() for m in re.finditer(re.escape(expected), text)]
    if not hits:
        return None, None
    best = min(hits, key=lambda i: abs(i - s2))
    return best, best + len(expected)


def evidence_snippet(text: str, start: int | None, end: int | None, context: int = 20) -> str:
    """The evidence format of findings.csv: the span with 20 characters either side, or the first 60."""
    if start is None or end is None:
        return text[:60] + ("…" if len(text) > 60 else "")
    left, right = max(0, start - context), min(len(text), end + context)
    return ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")


def _point_findings(locate: Callable[[str, int], int | None], shown: list[str], maps: list[OffsetMap],
                    masker: _Masker, cids: list, idxs: list, starts: list, ends: list, matched_old: list,
                    evidence_old: list) -> tuple[list, list, list, list]:
    """Highlight offsets, matched text and evidence of findings against the masked transcripts.

    `locate(conversation id, message index)`: the message's position in `shown` (masked
    texts) and `maps` (their offset maps), None if there is no such message. Returns the
    lists hl_start, hl_end, matched_text, evidence.

    A finding without a message keeps its span and has its matched text and evidence
    masked; one with a message gets its span mapped onto the masked text (`_fit`), the
    matched text read from there, and the evidence rebuilt from the masked text.
    """
    def as_int(values: list) -> list:  # _int_or_none of each value (an int or None is already one)
        return [v if v is None or type(v) is int else _int_or_none(v) for v in values]

    idxs, hl_starts, hl_ends = as_int(idxs), as_int(starts), as_int(ends)
    positions = [None if idx is None else locate(cid if type(cid) is str else str(cid), idx)
                 for cid, idx in zip(cids, idxs)]
    matched = masker.values(matched_old)  # the matched text of a finding without a highlight
    # evidence: masked for findings without a message, rebuilt below for the others (None here)
    evidence = masker.values([ev if pos is None else None for ev, pos in zip(evidence_old, positions)])
    for i, pos in enumerate(positions):
        if pos is None:
            continue
        text, omap = shown[pos], maps[pos]
        s, e = hl_starts[i], hl_ends[i]
        if s is not None and e is not None:
            s, e = _fit(text, omap, s, e, matched[i] if isinstance(matched_old[i], str) else "")
            if s is not None:
                matched[i] = text[s:e]
            hl_starts[i], hl_ends[i] = s, e
        evidence[i] = evidence_snippet(text, s, e)
    return hl_starts, hl_ends, matched, evidence


def prepare_transcripts(messages: pd.DataFrame, findings: pd.DataFrame, mask: bool,
                        only: Iterable[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mask the transcripts (when `mask`) and point every finding at the text as shown.

    Returns (messages, findings): messages with `text` masked; findings with `hl_start` /
    `hl_end` (offsets into messages.text as returned) and, when masking, `matched_text`,
    `evidence` and `explanation` rebuilt from / run through the masked text. Findings that
    already carry hl_start/hl_end (read back from a store) are remapped through the mask.
    `only`: restrict the work to these conversation ids (the report's drill-down).
    """
    msgs = messages
    fnd = findings.copy()
    if only is not None:
        keep = set(only)
        msgs = msgs[msgs["conversation_id"].isin(keep)]
    msgs = msgs.copy()
    if "hl_start" not in fnd.columns:
        fnd["hl_start"] = fnd["span_start"] if "span_start" in fnd.columns else pd.NA
        fnd["hl_end"] = fnd["span_end"] if "span_end" in fnd.columns else pd.NA
    fnd["hl_start"] = fnd["hl_start"].astype("Int64")
    fnd["hl_end"] = fnd["hl_end"].astype("Int64")
    if not mask or msgs.empty:
        return msgs.reset_index(drop=True), fnd
    masker = _Masker()
    # the columns as Python lists once (iterating an Arrow-backed column value by value is slow)
    texts = [t if isinstance(t, str) else "" for t in msgs["text"].tolist()]
    shown, maps = masker.texts(texts)
    msgs["text"] = shown
    if not fnd.empty:
        position = {(str(cid), int(idx)): pos for pos, (cid, idx) in
                    enumerate(zip(msgs["conversation_id"].tolist(), msgs["message_index"].tolist()))}
        starts, ends, matched, evidence = _point_findings(
            lambda cid, idx: position.get((cid, idx)), shown, maps, masker, fnd["conversation_id"].tolist(),
            fnd["message_index"].tolist(), fnd["hl_start"].tolist(), fnd["hl_end"].tolist(),
            fnd["matched_text"].tolist(), fnd["evidence"].tolist())
        fnd["hl_start"] = pd.array(starts, dtype="Int64")
        fnd["hl_end"] = pd.array(ends, dtype="Int64")
        fnd["matched_text"] = matched
        fnd["evidence"] = evidence
        fnd["explanation"] = masker.values(fnd["explanation"].tolist())
    return msgs.reset_index(drop=True), fnd


def chunk_transcripts(ingested: pd.DataFrame, conversations: list[Conversation], results: list[ConversationResult],
                      mask: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`prepare_transcripts(messages_table(ingested), findings_table(results), mask)`, built from the objects.

    `conversations` are `build_conversations(ingested)` and `results` their scores, in the
    same order. build_conversations orders the messages exactly as `messages_table` does, and
    a Message keeps its position (`index`), role, agent, formatted time and text as written:
    the messages frame is read off the objects instead of sorting and grouping the ingested
    frame again, the findings are masked as plain lists, and each frame is built once.
    Anything unexpected (a value that is not a str where the frames hold text, a conversation
    id seen twice, rows missing) takes the plain way, which decides the result as before.
    """
    columns = finding_columns(results)
    msgs = [m for c in conversations for m in c.messages]
    cids = [c.id for c in conversations for _ in c.messages]
    texts, roles, stamps, index, agents = (list(map(attrgetter(a), msgs))
                                           for a in ("text", "role", "timestamp", "index", "agent_id"))
    # messages_table fills a missing agent with "" (a Message may keep NaN: `nan or ""` is nan)
    if not all_str(agents):
        agents = [a if type(a) is str else "" if a is None or (type(a) is float and a != a) else None
                  for a in agents]
    # message i of a conversation is at first[id] + i: its messages are contiguous, index = position
    first, pos = {}, 0
    for c in conversations:
        first[c.id] = pos
        pos += len(c.messages)
    sizes = {c.id: len(c.messages) for c in conversations}
    plain = (
        not msgs or len(msgs) != len(ingested) or len(first) != len(conversations)
        or (columns is None and any(r.findings for r in results))
        or not (all_str(cids) and all_str(texts) and all_str(roles) and all_str(stamps) and all_str(agents))
        or any(m.index != i for c in conversations for i, m in enumerate(c.messages))
    )
    if plain:
        return prepare_transcripts(messages_table(ingested), findings_table(results), mask)

    if mask:
        masker = _Masker()
        texts, maps = masker.texts(texts)
    if columns is None:  # no findings: the plain (empty) frame
        findings = findings_table(results)
        findings["hl_start"] = findings["span_start"].astype("Int64")
        findings["hl_end"] = findings["span_end"].astype("Int64")
    else:
        if mask:
            def locate(cid: str, idx: int) -> int | None:
                return first[cid] + idx if 0 <= idx < sizes.get(cid, 0) else None

            hl_start, hl_end, columns["matched_text"], columns["evidence"] = _point_findings(
                locate, texts, maps, masker, columns["conversation_id"], columns["message_index"],
                columns["span_start"], columns["span_end"], columns["matched_text"], columns["evidence"])
            columns["explanation"] = masker.values(columns["explanation"])
        else:
            hl_start, hl_end = columns["span_start"], columns["span_end"]
        columns["hl_start"], columns["hl_end"] = hl_start, hl_end
        findings = findings_frame(columns)
    messages = pd.DataFrame({
        "conversation_id": str_column(cids), "message_index": np.array(index, dtype="int64"),
        "role": str_column(roles), "agent_id": str_column(agents), "timestamp": str_column(stamps),
        "text": str_column(texts),
    }, copy=False)
    return messages, findings


def mask_findings_text(findings: pd.DataFrame) -> pd.DataFrame:
    """Mask the masked columns of findings (matched_text, evidence, explanation) without their transcripts."""
    out = findings.copy()
    for col in FINDINGS.masked:
        if col in out.columns:
            out[col] = out[col].map(_mask_text)
    return out


def mask_rejects(rejects: pd.DataFrame, mask: bool) -> pd.DataFrame:
    """rejects.csv as written: its masked columns (the raw row, and the reason, which may quote a cell)
    masked unless --no-mask."""
    if not mask or rejects.empty:
        return rejects
    masker = _Masker()
    out = rejects.copy()
    for col in REJECTS.masked:
        if col in out.columns:
            out[col] = pd.Series(masker.values(out[col].tolist()), index=out.index, dtype=out[col].dtype)
    return out
