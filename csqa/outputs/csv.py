"""Write a DataFrame as CSV bytes exactly as pandas would, but with the work done in Arrow.

Why: the run's CSV files (findings.csv is ~6 rows per conversation, 14 columns) were written
with `DataFrame.to_csv`, which hands every row to Python's csv module as a list of Python
objects; at 20k conversations that cost ≈ 3 s of CPU in the main process, while the output
jobs compete for the same cores. Here each column becomes an Arrow string array of finished
cells (formatted, quoted where needed), the columns and rows are joined by Arrow compute
kernels in C, and the joined buffer goes to the file as it is.

Contract: `write_csv_part(frame, fh, header)` writes to the binary file `fh` exactly the bytes
of `safe_frame(frame).to_csv(index=False, header=header).encode("utf-8")` — every text cell
through `csqa.outputs.safety.safe_cell` (no formula, no control character), then pandas' default options:
`na_rep=""`, no float_format, `lineterminator=os.linesep`, `csv.QUOTE_MINIMAL`, `quotechar='"'`,
doubled inner quotes). Columns of these dtypes are encoded here:

- text: pandas `str`/`string` dtypes and object columns holding only str (missing → "")
- float64/float32: Python/NumPy repr (`9.0`, `1e-07`, `inf`, `-0.0`), NaN → ""
- int/uint (NumPy) and the nullable Int*/UInt* dtypes (missing → "")
- bool and the nullable `boolean` dtype (`True`/`False`, missing → "")

A frame with any other column dtype (datetimes, categoricals, mixed objects, …), with a
single column (the csv module quotes a lone empty field as `""`), without columns, or whose
column labels are not all text is written by pandas itself: correct first, fast second.
tests/test_csv_writer.py compares the bytes with pandas on real run tables and edge cases.
"""
from __future__ import annotations

import csv
import io
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from csqa.outputs.safety import safe_arrow, safe_frame

LINE_END = os.linesep  # pandas' default lineterminator
_TEXT = pa.large_string()


def _lit(text: str) -> pa.Scalar:
    """A text scalar of the cells' type (compute kernels do not mix string and large_string)."""
    return pa.scalar(text, _TEXT)


def _csv_writer(buf: io.StringIO):
    """The csv writer pandas uses for `to_csv` with default options."""
    return csv.writer(buf, lineterminator=LINE_END, delimiter=",", quotechar='"',
                      quoting=csv.QUOTE_MINIMAL, doublequote=True, escapechar=None)


def _quoted_characters() -> tuple[str, ...]:
    """Which characters make QUOTE_MINIMAL quote a field, asked of this Python's csv module
    (3.11 quotes ',', '"' and the line terminator's characters, but not a lone '\\r' when the
    terminator is '\\n'; later versions may differ). tests/test_csv_writer.py checks every
    code point against the csv module."""
    found = []
    for ch in dict.fromkeys(',"\r\n' + LINE_END):
        buf = io.StringIO()
        _csv_writer(buf).writerow([f"a{ch}b", "x"])
        if buf.getvalue().startswith('"'):
            found.append(ch)
    return tuple(found)


QUOTED_CHARACTERS = _quoted_characters()


def csv_bytes_pandas(frame: pd.DataFrame, header: bool) -> bytes:
    """The reference: what pandas writes of the safe cells (also the fallback for what this module does not encode)."""
    return safe_frame(frame).to_csv(None, index=False, header=header).encode("utf-8")


def write_csv_part(frame: pd.DataFrame, fh, header: bool) -> None:
    """Append `frame` as CSV to the binary file `fh` (with its header line when `header`)."""
    body = encode_rows(frame)
    if body is None:
        fh.write(csv_bytes_pandas(frame, header))
        return
    if header:
        fh.write(header_line(frame.columns).encode("utf-8"))
    if body:
        fh.write(body)


def header_line(columns) -> str:
    buf = io.StringIO()
    _csv_writer(buf).writerow(list(columns))
    return buf.getvalue()


def encode_rows(frame: pd.DataFrame) -> pa.Buffer | bytes | None:
    """The data rows as UTF-8 bytes, or None when the frame needs pandas (see the module docstring)."""
    if frame.shape[1] < 2 or not all(isinstance(c, str) for c in frame.columns):
        return None
    if len(frame) == 0:
        return b""
    cells = []
    for i in range(frame.shape[1]):
        column = _cells(frame.iloc[:, i])
        if column is None:
            return None
        cells.append(column)
    try:
        rows = pc.binary_join_element_wise(*cells, _lit(","))
        rows = pc.binary_join_element_wise(rows, _lit(""), _lit(LINE_END))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a kernel refused: pandas writes the part
        return None
    return _data_bytes(rows)


def _data_bytes(strings: pa.Array) -> pa.Buffer:
    """The concatenated values of a large_string array without nulls, without copying."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)
    start, end = int(offsets[strings.offset]), int(offsets[strings.offset + len(strings)])
    return strings.buffers()[2][start:end] if end > start else b""


def _cells(series: pd.Series) -> pa.Array | None:
    """One column's finished cells (formatted, quoted when needed) as large_string, no nulls."""
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype) or dtype == object:
        cells = _text_cells(series)
        return None if cells is None else _quote(safe_arrow(cells))
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return _float_cells(series.to_numpy())
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pc.cast(pa.array(series.to_numpy()), _TEXT)
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return pc.if_else(pa.array(series.to_numpy()), _lit("True"), _lit("False"))
    values = series.array
    if isinstance(values, pd.arrays.IntegerArray):  # nullable Int*/UInt*
        return pc.fill_null(pc.cast(pa.array(values), _TEXT), _lit(""))
    if isinstance(values, pd.arrays.BooleanArray):
        return pc.fill_null(pc.if_else(pa.array(values), _lit("True"), _lit("False")), _lit(""))
    return None  # nullable floats, datetimes, categoricals, Arrow-typed numbers, …: pandas writes them


def _text_cells(series: pd.Series) -> pa.Array | None:
    """Text as it is, missing values as "" (what pandas writes with na_rep="")."""
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None  # e.g. an object column mixing text and numbers
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_null(arr.type):
        return pa.array([""] * len(arr), _TEXT)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    arr = arr.cast(_TEXT)
    return pc.fill_null(arr, _lit("")) if arr.null_count else arr


def _quote(cells: pa.Array | None) -> pa.Array | None:
    """QUOTE_MINIMAL: fields holding a special character are put in quotes, inner quotes doubled.

    The special characters are ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte
    character, so one scan of the column's byte buffer finds them; the rows they fall in
    (by the offsets) are the only ones rewritten."""
    if cells is None or not QUOTED_CHARACTERS:
        return cells
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    validity, offsets, data = cells.buffers()
    if data is None or len(cells) == 0:
        return cells
    offsets = np.frombuffer(offsets, dtype=np.int64)[cells.offset: cells.offset + len(cells) + 1]
    raw = np.frombuffer(data, dtype=np.uint8)[offsets[0]: offsets[-1]]
    special = np.zeros(len(raw), dtype=bool)
    for ch in QUOTED_CHARACTERS:
        special |= raw == ord(ch)
    hits = np.flatnonzero(special)
    if not len(hits):
        return cells
    rows = np.unique(np.searchsorted(offsets, hits + offsets[0], side="right") - 1)
    picked = cells.take(pa.array(rows))
    quoted = pc.binary_join_element_wise(_lit('"'), pc.replace_substring(picked, '"', '""'), _lit('"'), _lit(""))
    mask = np.zeros(len(cells), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(cells, pa.array(mask), quoted)


def _float_cells(values: np.ndarray) -> pa.Array:
    """NumPy's str() of each float (what pandas writes), NaN → "".

    Arrow's float→text cast gives the same shortest round-trip digits but writes 9.0 as "9"
    and chooses between positional and exponent notation by other rules than Python; so
    values in [1e-3, 1e15) (and zeros) that Arrow writes positionally take Arrow's text plus
    ".0" where it has no point, everything else (tiny, huge, 17 digits, inf) takes NumPy's
    str() — few values in practice."""
    nan = np.isnan(values)
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        plain = ((magnitude >= 1e-3) & (magnitude < 1e15)) | (values == 0)
    text = pc.cast(pa.array(values), _TEXT)
    # Arrow switches to an exponent for some values in that range too (999999999999999.9)
    exponent = pc.match_substring(text, "e").to_numpy(zero_copy_only=False)
    text = pc.if_else(pc.match_substring(text, "."), text,
                      pc.binary_join_element_wise(text, _lit(".0"), _lit("")))
    fix = nan | ~plain | exponent
    if fix.any():
        picked = values[fix]
        replacement = np.where(np.isnan(picked), "", picked.astype(str)).astype(object)
        text = pc.replace_with_mask(text, pa.array(fix), pa.array(replacement, _TEXT))
    return text
