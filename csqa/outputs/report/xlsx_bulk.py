"""report.xlsx's worksheets: xlsxwriter's Worksheet keeping whole columns and writing its rows' XML in bulk.

Imported when a workbook is written (`csqa.outputs.report.xlsx`), not before: xlsxwriter is loaded then.
"""
from __future__ import annotations

import numpy as np
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import CellNumberTuple, CellStringTuple, Worksheet

from csqa.outputs.report.strip import Strip


class BulkWorksheet(Worksheet):
    """A worksheet that keeps whole columns of cells and writes its rows' XML in bulk.

    Same cells and same bytes as `write_string` / `write_number` and xlsxwriter's own
    `_write_rows` (tests/test_xlsx_job.py and tests/test_report_bulk_equivalence.py compare the parts
    byte for byte; pyproject.toml caps xlsxwriter at the versions those tests passed on).
    What goes is the per-cell overhead: xlsxwriter's checks and one cell tuple per cell
    when writing, one small XML write per cell when saving. A column of one kind (a
    `Strip`) is kept as a list and turned into its cells' XML in one comprehension at
    save time; the rows are then the columns' XML zipped together. Cells kept this way
    are not in `self.table` (xlsxwriter's `autofit` would not see them). Anything this
    fast path does not cover (row formats, comments, Excel 2010 rows, constant_memory,
    long strings, non-finite numbers, cells given one by one) goes through xlsxwriter's own
    methods and `self.table`.
    """

    _strips: dict  # column → (kind, per-row values: shared-string index / float / None, format)

    def put_column(self, col: int, cells, fmts: dict) -> None:
        """One column's cells as `_column_cells` gives them (a Strip, or [(row, kind, value, format key)])."""
        if not isinstance(cells, Strip):
            self._put_cells(col, cells, fmts)
        elif self.constant_memory or len(cells.values) >= self.xls_rowmax or col >= self.xls_colmax:
            self._put_cells(col, _strip_cells(cells), fmts)
        else:
            self._put_strip(col, cells, fmts)

    def _put_strip(self, col: int, strip: "Strip", fmts: dict) -> None:
        values = []
        if strip.kind == "str":
            shared, long_text = self.str_table._get_shared_string_index, self.xls_strmax // 2
            for k, v in enumerate(strip.values, start=1):
                if v is None:
                    values.append(None)
                elif len(v) > long_text:  # (truncation at 32k UTF-16 units): xlsxwriter's own
                    self._write_string(k, col, v)
                    values.append(None)
                else:
                    values.append(shared(v))
            fmt = None
        else:
            fmt = fmts["dt"] if strip.kind == "dt" else fmts.get(strip.fmt)
            for k, v in enumerate(strip.values, start=1):
                if v != v:
                    values.append(None)
                elif v - v != 0:  # inf: xlsxwriter's own handling (an error without nan_inf_to_errors)
                    self._write_number(k, col, v, fmt)
                    values.append(None)
                else:
                    values.append(v)
        rows = [k for k, v in enumerate(values, start=1) if v is not None]
        if rows:
            # rows come in order: the first and last cell give the dimensions every cell would
            self._check_dimensions(rows[0], col)
            self._check_dimensions(rows[-1], col)
            if not hasattr(self, "_strips"):
                self._strips = {}
            self._strips[col] = ("str" if strip.kind == "str" else "num", values, fmt)

    def _put_cells(self, col: int, cells, fmts: dict) -> None:
        for i, kind, value, f in cells:
            if kind == "str":
                self.write_string(i, col, value)
            elif kind == "num":
                self.write_number(i, col, value, fmts.get(f))
            elif isinstance(value, float):  # an Excel serial already
                self.write_number(i, col, value, fmts["dt"])
            else:
                self.write_datetime(i, col, value, fmts["dt"])

    def _strips_to_table(self) -> None:
        """Put the kept columns' cells into `self.table`, as write_string / write_number would."""
        for col, (kind, values, fmt) in getattr(self, "_strips", {}).items():
            for k, v in enumerate(values, start=1):
                if v is not None:
                    self.table[k][col] = CellStringTuple(v, None) if kind == "str" else CellNumberTuple(v, fmt)
        self._strips = {}

    def _write_rows(self) -> None:
        plain = (not self.row_info and not self.comments and self.excel_version != 2010
                 and self.default_row_height == self.original_row_height)
        if not plain:
            self._strips_to_table()
            super()._write_rows()
            return
        strips = getattr(self, "_strips", {})
        table = self.table
        rows_of_table = {r for r, cells in table.items() if cells and self.dim_rowmin <= r <= self.dim_rowmax}
        self._number_formats(strips, rows_of_table)
        strip_cols = sorted(strips)
        xml_cols, used, n = _strip_xml(strips, strip_cols)
        joined = [""] + list(map("".join, zip(*xml_cols))) if xml_cols else [""]
        strip_rows = self._set_row_spans(strip_cols, used, n, rows_of_table, joined)
        self._write_row_xml(rows_of_table, strip_rows, strip_cols, xml_cols, used, n, joined)

    def _number_formats(self, strips: dict, rows_of_table: set[int]) -> None:
        """The formats' style numbers, given in the order xlsxwriter gives them (first use, row by row)."""
        table = self.table
        first_use = [(r, c, cell.format) for r in rows_of_table for c, cell in table[r].items() if cell.format]
        first_use += [(next(k for k, v in enumerate(values, start=1) if v is not None), c, fmt)
                      for c, (_, values, fmt) in strips.items() if fmt]
        for _, _, fmt in sorted(first_use, key=lambda t: (t[0], t[1])):
            fmt._get_xf_index()

    def _set_row_spans(self, strip_cols: list[int], used: np.ndarray, n: int, rows_of_table: set[int],
                       joined: list[str]) -> list[int]:
        """`row_spans`: per block of 16 rows, the first and last column used. Returns the rows kept columns use."""
        spans: dict[int, tuple[int, int]] = {}
        if strip_cols:
            any_col = used.any(axis=0)
            n_blocks = n // 16 + 1
            padded = np.zeros((len(strip_cols), n_blocks * 16), dtype=bool)
            padded[:, :n + 1] = used
            in_block = padded.reshape(len(strip_cols), n_blocks, 16).any(axis=2)  # [column, block]
            cols_arr = np.array(strip_cols)
            last = len(strip_cols) - 1
            for b in np.flatnonzero(in_block.any(axis=0)).tolist():
                col_used = in_block[:, b]
                spans[b] = (int(cols_arr[col_used.argmax()]), int(cols_arr[last - col_used[::-1].argmax()]))
            strip_rows = np.flatnonzero(any_col).tolist()
        else:
            strip_rows = []
        for r in rows_of_table:
            cols = self.table[r].keys()
            lo, hi = min(cols), max(cols)
            if r < len(joined) and joined[r]:
                lo = min(lo, min(c for j, c in enumerate(strip_cols) if used[j, r]))
                hi = max(hi, max(c for j, c in enumerate(strip_cols) if used[j, r]))
            b = r // 16
            if b in spans:
                old = spans[b]
                spans[b] = (min(old[0], lo), max(old[1], hi))
            else:
                spans[b] = (lo, hi)
        self.row_spans = {b: f"{lo + 1}:{hi + 1}" for b, (lo, hi) in spans.items()}
        return strip_rows

    def _write_row_xml(self, rows_of_table: set[int], strip_rows: list[int], strip_cols: list[int],
                       xml_cols: list[list[str]], used: np.ndarray, n: int, joined: list[str]) -> None:
        write = self.fh.write
        row_spans = self.row_spans
        plain_rows: list[str] = []  # rows of kept columns alone, written together
        for r in sorted(rows_of_table.union(strip_rows)):
            head = f'<row r="{r + 1}" spans="{row_spans[r // 16]}">'
            if r not in rows_of_table:
                plain_rows.append(f"{head}{joined[r]}</row>")
                joined[r] = ""  # (written: its XML need not be kept)
                if len(plain_rows) == 4096:  # (written in blocks: never the whole sheet's XML in one string)
                    write("".join(plain_rows))
                    plain_rows = []
                continue
            if plain_rows:
                write("".join(plain_rows))
                plain_rows = []
            # a row with cells of both kinds: in column order
            kept = {c: xml_cols[j][r - 1] for j, c in enumerate(strip_cols) if r <= n and used[j, r]}
            self._write_mixed_row(r, head, kept)
        write("".join(plain_rows))

    def _write_mixed_row(self, r: int, head: str, kept: dict[int, str]) -> None:
        write = self.fh.write
        cells = self.table[r]
        parts = [head]
        for c in sorted(kept.keys() | cells.keys()):
            if c not in cells:
                parts.append(kept[c])
                continue
            xml = self._cell_xml(r, c, cells[c])
            if xml is None:  # any other kind of cell: xlsxwriter writes it
                write("".join(parts))
                parts = []
                self._write_cell(r, c, cells[c])
            else:
                parts.append(xml)
        parts.append("</row>")
        write("".join(parts))

    @staticmethod
    def _cell_xml(r: int, c: int, cell) -> str | None:
        """A string or number cell's XML as xlsxwriter writes it (None for any other kind)."""
        kind = cell.__class__.__name__
        fmt = cell.format
        s = f' s="{fmt._get_xf_index()}"' if fmt else ""
        if kind == "String":
            return f'<c r="{xl_col_to_name(c)}{r + 1}"{s} t="s"><v>{cell.string}</v></c>'
        if kind in ("Number", "Datetime"):
            return f'<c r="{xl_col_to_name(c)}{r + 1}"{s}><v>{cell.number:.16G}</v></c>'
        return None


def _strip_xml(strips: dict, strip_cols: list[int]) -> tuple[list[list[str]], np.ndarray, int]:
    """Per kept column its cells' XML, one string per row 1..n ("" where empty); which cells are used
    ([column, row]); n."""
    n = max((len(values) for _, values, _ in strips.values()), default=0)
    xml_cols = []
    used = np.zeros((len(strip_cols), n + 1), dtype=bool)  # [column, row]
    row_numbers = [str(k) for k in range(2, n + 2)]  # table row k - 1 is row k in the XML
    for j, c in enumerate(strip_cols):
        kind, values, fmt = strips[c]
        name = xl_col_to_name(c)
        if kind == "str":
            xml = [f'<c r="{name}{k}" t="s"><v>{v}</v></c>' if v is not None else ""
                   for k, v in zip(row_numbers, values)]
        else:
            s = f' s="{fmt._get_xf_index()}"' if fmt else ""
            if _whole_numbers(values):  # (what "%.16G" shows of them, made faster)
                xml = [f'<c r="{name}{k}"{s}><v>{int(v)}</v></c>' if v is not None else ""
                       for k, v in zip(row_numbers, values)]
            else:
                xml = [f'<c r="{name}{k}"{s}><v>{v:.16G}</v></c>' if v is not None else ""
                       for k, v in zip(row_numbers, values)]
        xml.extend([""] * (n - len(xml)))
        xml_cols.append(xml)
        used[j, 1:len(values) + 1] = [v is not None for v in values]
    return xml_cols, used, n


def _whole_numbers(values: list) -> bool:
    """True when every number (None: empty) is a whole number that "%.16G" writes as its digits alone
    (below 1e15 in size, no -0.0)."""
    a = np.array([0.0 if v is None else v for v in values], dtype=float)
    return bool(np.all((a == np.floor(a)) & (np.abs(a) < 1e15) & ~((a == 0) & np.signbit(a))))


def _strip_cells(strip: Strip) -> list:
    """A Strip's cells one by one [(row, kind, value, format key)], for xlsxwriter's own methods."""
    return [(k, strip.kind, v, strip.fmt) for k, v in enumerate(strip.values, start=1)
            if v is not None and (strip.kind == "str" or v == v)]
