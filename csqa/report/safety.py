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
    hits = pc.fill_null(pc.match_substring_regex(cells, RISKY_RE2), False)
    if not pc.any(hits).as_py():
        return cells
    if isinstance(cells, pa.ChunkedArray):
        cells, hits = cells.combine_chunks(), hits.combine_chunks() if isinstance(hits, pa.ChunkedArray) else hits
    rows = np.flatnonzero(hits.to_numpy(zero_copy_only=False))
    fixed = pa.array([safe_cell(v) for v in cells.take(pa.array(rows)).to_pylist()], cells.type)
    return pc.replace_with_mask(cells, hits, fixed)
