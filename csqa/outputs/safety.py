"""Make text safe to open: no spreadsheet formula and no control character from chat text or ids.

`safe_cell` is the one rule for every text cell csqa writes — every CSV (conversations,
findings, agents, rejects, the classifier's outputs) and every sheet of report.xlsx, ids
included (conversation_id, agent_id, agents come from the input and can hold anything):

1. control characters are removed: C0 (NUL, ESC …) except tab, line feed and carriage
   return, DEL and C1 — they have no business in a report, and terminals, spreadsheets and
   browsers act on some of them;
2. a cell that a spreadsheet would read as a formula gets a leading apostrophe (OWASP's
   advice for CSV injection): one that starts with = + - @ or a tab or carriage return, also
   when = + - @ come after leading spaces (Excel and LibreOffice trim some) or in their
   full-width / small forms (＝ ＋ － ＠ ﹦ ﹢ ﹣ ﹫, and − U+2212), which input methods
   produce and some spreadsheet locales read as the ASCII ones.

The other functions apply `safe_cell` in bulk and give the same cells (tests/test_safety.py
compares them with it over every code point and random text); `strip_controls` is step 1
alone, for report.html (HTML escaping is Jinja2's autoescape).
"""
from __future__ import annotations

import re

import pandas as pd

# kept for callers that test one character (the plain OWASP list)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMULA_START_CHARS = frozenset(FORMULA_START)

# = + - @ and their full-width and small forms, and the minus sign
FORMULA_CHARS = "=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212"
# what may stand before them and still leave the cell a formula: whitespace (str.isspace)
# and the zero-width characters
LEADING_IGNORED = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
                   + "\u2028\u2029\u202f\u205f\u3000" + "\u200b\u200c\u200d\u2060\ufeff")
# removed: C0 controls but tab, LF, CR; DEL; C1
CONTROL_CHARS = "".join(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)))

_CONTROL = re.compile("[" + re.escape(CONTROL_CHARS) + "]")
_RISKY = re.compile("[" + re.escape(LEADING_IGNORED) + "]*[" + re.escape(FORMULA_CHARS) + "]|[\t\r]")


def _re2_class(chars: str) -> str:
    return "".join(f"\\x{{{ord(c):x}}}" for c in chars)


# The same test in RE2 syntax (Arrow's regex engine): a cell that may need `safe_cell`.
RISKY_RE2 = (f"^[{_re2_class(LEADING_IGNORED)}]*[{_re2_class(FORMULA_CHARS)}]|^[\\t\\r]"
             f"|[{_re2_class(CONTROL_CHARS)}]")


def strip_controls(text: str) -> str:
    """`text` without control characters (tab, line feed and carriage return stay)."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def safe_cell(value):
    """One text cell as csqa writes it: controls removed, an apostrophe before a formula. Not a str: unchanged."""
    if not isinstance(value, str):
        return value
    if _CONTROL.search(value):
        value = _CONTROL.sub("", value)
    if _RISKY.match(value):
        return "'" + value
    return value


def excel_safe(value):
    """`safe_cell` (the name the report code has used)."""
    return safe_cell(value)


_RISKY_FIRST = frozenset(LEADING_IGNORED + FORMULA_CHARS)  # a cell can be a formula only if it starts with one


def excel_safe_list(values: list) -> list:
    """`safe_cell` over a list (the first-character test first: most cells start with a letter)."""
    control, first = _CONTROL.search, _RISKY_FIRST
    return [safe_cell(v) if isinstance(v, str) and (v[:1] in first or control(v)) else v for v in values]


def _needs_safe(value) -> bool:
    return isinstance(value, str) and (_RISKY.match(value) is not None or _CONTROL.search(value) is not None)


def excel_safe_series(values: pd.Series) -> pd.Series:
    """`values.map(safe_cell)`: only the values that need it change; missing values stay missing."""
    if not isinstance(values.dtype, pd.StringDtype):
        return values.map(safe_cell)
    risky = [_needs_safe(v) for v in values.tolist()]
    if not any(risky):
        return values
    out = values.copy()
    out[risky] = values[risky].map(safe_cell)
    return out


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell of `frame` (object, string and categorical columns, and a text index) through `safe_cell`."""
    changed = {}
    for i, dtype in enumerate(frame.dtypes):
        if dtype == object or isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype)):
            column = frame.iloc[:, i]
            if isinstance(dtype, pd.CategoricalDtype):
                column = column.astype(object)
            changed[i] = excel_safe_series(column) if isinstance(column.dtype, pd.StringDtype) else column.map(safe_cell)
    index = frame.index
    if index.dtype == object or isinstance(index.dtype, pd.StringDtype):
        index = index.map(safe_cell)
    if not changed and index is frame.index:
        return frame
    out = frame.copy()
    for i, column in changed.items():
        out.isetitem(i, column)
    out.index = index
    return out


def safe_arrow(cells):
    """`safe_cell` over an Arrow text array (nulls stay null): the cells RISKY_RE2 finds
    (every cell `safe_cell` would change, and a few more) are run through it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(cells) == 0:
        return cells
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    rows = _suspect_rows(cells) if pa.types.is_large_string(cells.type) and not cells.null_count else None
    if rows is None:
        hits = pc.fill_null(pc.match_substring_regex(cells, RISKY_RE2), False)
        rows = np.flatnonzero(hits.to_numpy(zero_copy_only=False))
    if not len(rows):
        return cells
    fixed = pa.array([safe_cell(v) for v in cells.take(pa.array(rows)).to_pylist()], cells.type)
    mask = np.zeros(len(cells), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(cells, pa.array(mask), fixed)


def _byte_table(values) -> "np.ndarray":
    import numpy as np

    table = np.zeros(256, dtype=bool)
    table[list(values)] = True
    return table


# The first byte of every character safe_cell looks at first (LEADING_IGNORED, FORMULA_CHARS)
# and of every control character, in UTF-8; a cell starting with another byte and holding no
# control character is left as it is.
_FIRST_BYTES = _byte_table({(c.encode("utf-8"))[0] for c in LEADING_IGNORED + FORMULA_CHARS + CONTROL_CHARS})
_CONTROL_BYTES = _byte_table([ord(c) for c in CONTROL_CHARS if ord(c) < 0x80])  # (C1: 0xC2 0x80-0x9F)


def _suspect_rows(cells) -> "np.ndarray":
    """Rows of a large_string array without nulls that safe_cell may change (a superset: each is
    then decided by safe_cell itself), found with one pass over the bytes."""
    import numpy as np

    _, offsets, data = cells.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64)[cells.offset: cells.offset + len(cells) + 1]
    if data is None or offsets[-1] == offsets[0]:
        return np.zeros(0, dtype=np.int64)
    raw = np.frombuffer(data, dtype=np.uint8)[offsets[0]: offsets[-1]]
    starts = offsets[:-1] - offsets[0]
    filled = offsets[1:] > offsets[:-1]
    first = np.zeros(len(cells), dtype=bool)
    first[filled] = _FIRST_BYTES[raw[starts[filled]]]
    control = _CONTROL_BYTES[raw]
    c2 = np.flatnonzero(raw[:-1] == 0xC2)
    if len(c2):
        follow = raw[c2 + 1]
        control[c2[(follow >= 0x80) & (follow <= 0x9F)]] = True
    hits = np.flatnonzero(control)
    if len(hits):
        first[np.searchsorted(starts, hits, side="right") - 1] = True
    return np.flatnonzero(first)
