"""Normalize chat text for matching while keeping a map back to the original.

Steps, in order: HTML tags removed and entities decoded, full-width ASCII folded
to half-width (ＯＫ，１２３ → OK,123; the ideographic space → space), traditional
characters converted to simplified (OpenCC t2s) so shops writing 繁體 meet the same
rules. Emoji, platform emoticons ([微笑]) and masks ([数字x]) are left intact; the
segmenter keeps them as single tokens.

Every normalized character remembers the index of the original character it came
from, so a finding's span can be shown on the text the agent really wrote.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache

from csqa.core.memo import Memo
from csqa.core.records import NormalizedText

_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_BLOCK_TAGS = re.compile(r"</?(?:br|p|div|li|tr)\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


# One character to one character, so offsets are unchanged by width folding.
_WIDTH_TABLE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_WIDTH_TABLE.update({0x3000: 0x20, 0x00A0: 0x20, 0x2002: 0x20, 0x2003: 0x20, 0x2009: 0x20})


def _strip_html(text: str) -> tuple[str, list[int]]:
    """Remove tags (block tags become a space) and decode entities, with offsets."""
    out: list[str] = []
    offsets: list[int] = []
    pos = 0
    pattern = re.compile(_TAG.pattern + "|" + _ENTITY.pattern)
    for m in pattern.finditer(text):
        for i in range(pos, m.start()):
            out.append(text[i])
            offsets.append(i)
        token = m.group(0)
        if token.startswith("&"):
            decoded = html.unescape(token)
        else:
            decoded = " " if _BLOCK_TAGS.match(token) else ""
        for ch in decoded:
            out.append(ch)
            offsets.append(m.start())
        pos = m.end()
    for i in range(pos, len(text)):
        out.append(text[i])
        offsets.append(i)
    return "".join(out), offsets


@lru_cache(maxsize=1)
def _traditional_chars() -> "re.Pattern[str]":
    """A character class of every CJK character OpenCC would change (computed once)."""
    chars = "".join(chr(c) for c in range(0x3400, 0xA000))
    converted = _t2s().convert(chars)
    if len(converted) != len(chars):  # phrase rules changed lengths: compare one by one
        changed = [ch for ch in chars if _t2s().convert(ch) != ch]
    else:
        changed = [a for a, b in zip(chars, converted) if a != b]
    return re.compile("[" + "".join(re.escape(c) for c in changed) + "]")


def _to_simplified(text: str) -> str:
    if not _traditional_chars().search(text):
        return text  # most chats are already simplified: skip OpenCC
    converted = _t2s().convert(text)
    if len(converted) == len(text):
        return converted
    # Phrase conversion changed the length: convert character by character so the
    # offset map stays one-to-one.
    return "".join(c if len(c := _t2s().convert(ch)) == 1 else ch for ch in text)


_CJK = re.compile("[\u3400-\u9fff]")
# every character _WIDTH_TABLE changes
_WIDE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_WIDTH_TABLE)) + "]")
_MARKUP = re.compile("[<&]")


_FOLD = {chr(code): chr(to) for code, to in _WIDTH_TABLE.items()}


def _fold_width(text: str) -> str:
    """text.translate(_WIDTH_TABLE), about 3x faster on chat text.

    str.translate looks every character up in the table (a miss costs an exception); replacing
    only the wide characters present gives the same string, since no folded character (ASCII
    or a space) is itself folded.
    """
    for ch in set(_WIDE.findall(text)):
        text = text.replace(ch, _FOLD[ch])
    return text


def _has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def normalize(text: str) -> NormalizedText:
    """Normalize one message; see the module docstring for the steps. A pure function of its text, and chats
    repeat lines endlessly: remembered per text (NormalizedText is immutable, so sharing one is safe)."""
    return _NORMALIZED("" if text is None else text)


def _normalize(text: str) -> NormalizedText:
    offsets: list[int] | None = None
    work = text
    if _MARKUP.search(work) is not None:
        stripped, offs = _strip_html(work)
        if stripped != work:
            work, offsets = stripped, offs
    folded = _fold_width(work)
    # every character OpenCC changes is CJK: one search for them, no separate CJK test
    folded = _to_simplified(folded)
    return NormalizedText(text, folded, tuple(offsets) if offsets is not None else None)


def normalize_text(text: str) -> str:
    """The normalized string only (for classifiers and other callers without spans)."""
    return normalize(text).text


_NORMALIZED = Memo(_normalize)
