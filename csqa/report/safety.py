"""Make chat text safe to open: no Excel formulas from chat text (HTML escaping is Jinja2's autoescape)."""
from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def excel_safe(value):
    """Neutralize a cell that Excel would read as a formula (=, +, -, @, tab, CR) by a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
