"""Transcripts for the drill-down: the messages frame, masking that keeps offsets, safe highlighting.

The messages frame has one row per message: conversation_id, message_index, role,
agent_id, timestamp, text. `message_index` is the message's position in its ordered
conversation, the same index findings carry; `span_start`/`span_end` of a finding are
offsets into that message's ORIGINAL text.

Masking changes lengths (an e-mail or address shrinks), so a masked transcript gets
its own highlight offsets: `prepare_transcripts` masks the text and adds `hl_start` /
`hl_end` to the findings — offsets into the text as it is stored and shown. A
highlight that touches a piece of personal data grows to cover the whole masked value,
so a highlight can never reveal part of a number.

`highlight_html` builds the highlighted message by escaping every piece separately:
chat text never reaches the page unescaped.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Iterable

import pandas as pd
from markupsafe import Markup, escape

from csqa.checks import pii as _pii

MESSAGE_COLUMNS = ["conversation_id", "message_index", "role", "agent_id", "timestamp", "text"]


# ---------------------------------------------------------------------------- the messages frame
def messages_table(ingested: pd.DataFrame) -> pd.DataFrame:
    """The messages frame from ingested messages (`csqa.ingest.read_inputs(...).messages`).

    Orders messages exactly as `csqa.conversations.build_conversations` does (conversations
    in order of first appearance, messages by time, input order on ties), so
    `message_index` matches the index findings carry (tests/test_report.py checks this
    against build_conversations on the sample).
    """
    if ingested.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "message_index" else "object") for c in MESSAGE_COLUMNS})
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
    return out[MESSAGE_COLUMNS]


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


def mask_with_offsets(text: str) -> tuple[str, OffsetMap]:
    """`csqa.checks.pii.mask_pii(text)` plus the map from original to masked offsets."""
    if not text:
        return text, _IDENTITY
    cands = _pii._scan(text, None, 0.5, None)  # exactly what mask_pii(text) masks (cheap no-PII pre-check inside)
    if not cands:
        return text, _IDENTITY
    parts: list[str] = []
    regions = []
    pos = 0
    new_len = 0
    for c in cands:
        keep = text[pos:c.start]
        parts.append(keep)
        new_len += len(keep)
        masked = _pii._masked_for(text, c)
        parts.append(masked)
        regions.append((c.start, c.end, new_len, new_len + len(masked)))
        new_len += len(masked)
        pos = c.end
    parts.append(text[pos:])
    return "".join(parts), OffsetMap(tuple(regions))


def _mask_text(value):
    return _pii.mask_pii(value) if isinstance(value, str) and value else value


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
    maps: dict[tuple[str, int], OffsetMap] = {}
    texts: dict[tuple[str, int], str] = {}
    new_texts = []
    for cid, idx, text in zip(msgs["conversation_id"], msgs["message_index"], msgs["text"]):
        masked, omap = mask_with_offsets(text if isinstance(text, str) else "")
        new_texts.append(masked)
        key = (str(cid), int(idx))
        maps[key] = omap
        texts[key] = masked
    msgs["text"] = new_texts
    if not fnd.empty:
        starts, ends, matched, evidence = [], [], [], []
        for cid, idx, s, e, m_old, ev_old in zip(fnd["conversation_id"], fnd["message_index"], fnd["hl_start"],
                                                 fnd["hl_end"], fnd["matched_text"], fnd["evidence"]):
            idx, s, e = _int_or_none(idx), _int_or_none(s), _int_or_none(e)
            key = (str(cid), idx) if idx is not None else None
            if key is None or key not in maps:
                starts.append(s), ends.append(e)
                matched.append(_mask_text(m_old)), evidence.append(_mask_text(ev_old))
                continue
            omap, text = maps[key], texts[key]
            if s is not None and e is not None:
                m_masked = _mask_text(m_old)
                s, e = _fit(text, omap, s, e, m_masked if isinstance(m_old, str) else "")
                matched.append(text[s:e] if s is not None else m_masked)
            else:
                matched.append(_mask_text(m_old))
            starts.append(s), ends.append(e)
            evidence.append(evidence_snippet(text, s, e))
        fnd["hl_start"] = pd.array(starts, dtype="Int64")
        fnd["hl_end"] = pd.array(ends, dtype="Int64")
        fnd["matched_text"] = matched
        fnd["evidence"] = evidence
        fnd["explanation"] = fnd["explanation"].map(_mask_text)
    return msgs.reset_index(drop=True), fnd


def mask_findings_text(findings: pd.DataFrame) -> pd.DataFrame:
    """Mask matched_text / evidence / explanation of findings without their transcripts."""
    out = findings.copy()
    for col in ("matched_text", "evidence", "explanation"):
        if col in out.columns:
            out[col] = out[col].map(_mask_text)
    return out


# ---------------------------------------------------------------------------- highlighting
@dataclass(frozen=True)
class Mark:
    start: int
    end: int
    label: str  # the finding's number in the ledger
    title: str  # tooltip: rule, explanation, points
    css: str = "hl"


def highlight_html(text: str, marks: Iterable[Mark]) -> Markup:
    """The message text as HTML with each mark highlighted; every piece of text is escaped.

    Overlapping marks split the text at every boundary; a piece covered by several marks
    carries all their labels in its tooltip. The number of each mark follows its end.
    """
    text = text or ""
    marks = [m for m in marks if 0 <= m.start <= m.end <= len(text)]
    if not marks:
        return Markup(escape(text))
    bounds = sorted({0, len(text)} | {m.start for m in marks} | {m.end for m in marks})
    out: list[Markup] = []
    ends_at: dict[int, list[Mark]] = {}
    for m in marks:
        ends_at.setdefault(m.end, []).append(m)
    for m in ends_at.pop(0, []):  # empty marks at the very start
        out.append(Markup('<sup class="fn" title="{}">{}</sup>').format(m.title, m.label))
    for a, b in zip(bounds, bounds[1:] + [None]):
        if b is not None and a < b:
            piece = text[a:b]
            covering = [m for m in marks if m.start <= a and b <= m.end and m.start < m.end]
            if covering:
                worst = "hl-critical" if any(m.css == "hl-critical" for m in covering) else covering[0].css
                out.append(Markup('<mark class="{}" title="{}">{}</mark>').format(
                    worst, "\n".join(m.title for m in covering), piece))
            else:
                out.append(escape(piece))
        pos = b if b is not None else a
        for m in ends_at.pop(pos, []):
            out.append(Markup('<sup class="fn" title="{}">{}</sup>').format(m.title, m.label))
    return Markup("").join(out)


ROLE_ZH = {"agent": "客服", "customer": "顾客", "system": "系统"}


def role_zh(role: str) -> str:
    return ROLE_ZH.get(role, role)

