"""`Strip`: one column of report.xlsx's cells in bulk, as `csqa.outputs.report.xlsx` makes it and its bulk
worksheet (`csqa.outputs.report.xlsx_bulk`) writes it (a module of its own: the worksheet loads xlsxwriter,
which the report imports only when a workbook is written)."""
from __future__ import annotations

from typing import NamedTuple


class Strip(NamedTuple):
    """One column's cells in bulk: values[k] is the cell of row k + 1 (None / NaN: empty).

    kind "str": text already through the formula guard; "num": floats shown with number
    format key `fmt`; "dt": Excel serial date-times (format "dt")."""

    kind: str
    values: list
    fmt: str | None = None
