"""Make chat text safe to open: no Excel formulas from chat text (HTML escaping is Jinja2's autoescape)."""
from __future__ import annotations

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def excel_safe(value):
    """Neutralize a cell that Excel would read as a formula (=, +, -, @, tab, CR) by a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def excel_safe_list(values: list) -> list:
    """`excel_safe` over a list; only text whose first character can start a formula changes."""
    starts = FORMULA_START_CHARS
    return [("'" + v) if isinstance(v, str) and v[:1] in starts else v for v in values]


def excel_safe_series(values: pd.Series) -> pd.Series:
    """`values.map(excel_safe)`, vectorized for text columns: only values that start with
    a formula character get the apostrophe; missing values stay missing."""
    if not isinstance(values.dtype, pd.StringDtype):
        return values.map(excel_safe)
    risky = values.str.startswith(FORMULA_START, na=False)
    return values.where(~risky, "'" + values) if risky.any() else values


FORMULA_START_CHARS = frozenset(FORMULA_START)
