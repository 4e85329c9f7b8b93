"""One reader per format. A reader gives the header, then chunks of raw rows (bounded memory).

Every reader keeps the row number a user would look for: the spreadsheet / CSV row with the
header as row 1 (blank lines counted, multi-line quoted cells counting as one row), the line
number for JSONL, the 1-based record number for Parquet. Completely blank rows of a CSV or
XLSX are layout, not data: they are skipped and not counted.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from csqa.core.errors import InputError
from .columns import ColumnMapping, normalize_header
from .encoding import detect_text_encoding, file_sha256

SNIFF_CHARS = 64 * 1024
SNIFF_RECORDS = 50
DELIMITERS = (",", "\t", ";", "|")
_CSV_FIELD_LIMIT = 2**31 - 1

TITLE_ROWS = 10  # title rows with a single cell above an Excel table are skipped up to here

NO_DATA = "文件没有数据行：只有表头或空行，没有消息；请确认导出是否完整 (no data rows)"


@dataclass
class RawChunk:
    """Rows of one chunk: the values of each mapped field, their row numbers, and rows already rejected."""

    rows: list[int]
    fields: dict[str, pd.Series]  # field -> values (object or str), one per row
    raw_of: Callable[[int], str]  # raw text of the i-th row, for rejects
    bad: list[tuple[int, str, str, str]] = field(default_factory=list)  # (row, column, reason, raw)
    source: str | None = None  # overrides the file's display path (sheets of a workbook)


class Reader:
    format = ""
    encoding: str | None = None
    sha256 = ""

    def header(self) -> list[str]:
        raise NotImplementedError

    def chunks(self, mapping: ColumnMapping, chunk_rows: int) -> Iterator[RawChunk]:
        raise NotImplementedError

    def extra_info(self) -> dict:
        return {}

    def close(self) -> None:
        pass


def cell_to_str(value) -> str:
    """A cell as text: '' for missing, 123 not 123.0, dates as 2026-11-02 09:00:01."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return str(value)
        if float(value).is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(float(value))
    if isinstance(value, _dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def to_str_series(values: pd.Series) -> pd.Series:
    """Any column as str dtype with '' for missing, without 000123 -> 123 or 123 -> '123.0'."""
    dtype = values.dtype
    if pd.api.types.is_string_dtype(dtype) and dtype != object:
        return values.fillna("").astype("str")
    if pd.api.types.is_integer_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return values.astype("str")
    return pd.Series([cell_to_str(v) for v in values.to_numpy(dtype=object)], index=values.index, dtype="str")


def _blank_row(values) -> bool:
    for v in values:
        if v is None:
            continue
        if isinstance(v, str):
            if v.strip():
                return False
            continue
        return False
    return True


# --------------------------------------------------------------------------- CSV / TSV


class DelimitedReader(Reader):
    def __init__(self, path: Path, name: str, encoding: str | None):
        self.name = name
        info = detect_text_encoding(path, encoding, name)
        self.path = path
        self.encoding = info.encoding
        self.sha256 = info.sha256
        self._errors = info.errors
        self.warnings = [info.warning] if info.warning else []
        if csv.field_size_limit() < _CSV_FIELD_LIMIT:
            csv.field_size_limit(_CSV_FIELD_LIMIT)  # a 1 MB message is data, not an error
        with open(path, encoding=self.encoding, errors=self._errors, newline="") as fh:
            sample = fh.read(SNIFF_CHARS)
        self.delimiter, self.quoting = sniff_dialect(sample, path.suffix.lower())
        self.format = "tsv" if self.delimiter == "\t" else "csv"
        self._fh = open(path, encoding=self.encoding, errors=self._errors, newline="")
        self._reader = csv.reader(self._fh, delimiter=self.delimiter, quoting=self.quoting, strict=False)
        self._record = 0  # 1-based number of the last record read
        self._header: list[str] | None = None
        self._pending_bad: list[tuple[int, str, str, str]] = []
        self.arrow_records = 0  # data records the Arrow fast path read (the rest: the csv module)

    def extra_info(self) -> dict:
        info = {"delimiter": self.delimiter}
        if self.warnings:
            info["warnings"] = list(self.warnings)
        return info

    def _next_record(self):
        """Next record as a list, or None at the end; csv errors become bad rows."""
        while True:
            try:
                rec = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                self._record += 1
                self._pending_bad.append(
                    (self._record, "", f"该行无法按 CSV 解析（{exc}）：请检查引号与特殊字符 (malformed CSV row)", "")
                )
                continue
            self._record += 1
            return rec

    def header(self) -> list[str]:
        while True:
            rec = self._next_record()
            if rec is None:
                raise InputError(self.name, NO_DATA)
            if not _blank_row(rec):
                break
        self._pending_bad.clear()  # malformed lines before the header are not data
        rec[0] = rec[0].lstrip("\ufeff")
        self._header = rec
        return rec

    def chunks(self, mapping: ColumnMapping, chunk_rows: int) -> Iterator[RawChunk]:
        """Chunks of at most `chunk_rows` rows (+ rejects); Arrow's CSV parser when the file lets it.

        The fast path (`_arrow_chunks`) parses the data rows with pyarrow, gives the same chunks,
        and hands over to the csv-module loop below at the first record Arrow cannot take as it
        is (a row of another width, an unclosed quote that runs to the end…): the rest of the
        file, and the rows of the chunk being filled, are read as before.
        """
        arrow = self._arrow_reader()
        if arrow is None:
            yield from self._python_chunks(mapping, chunk_rows, [], [])
            return
        left = yield from self._arrow_chunks(arrow, mapping, chunk_rows)
        if left is not None:  # Arrow stopped: the csv module goes on where it did
            consumed, rows, records = left
            for _ in range(consumed):
                try:
                    next(self._reader)
                except StopIteration:
                    break
                except csv.Error:
                    pass  # counted like any record (Arrow took it; the two parsers agree on these)
                self._record += 1
            yield from self._python_chunks(mapping, chunk_rows, rows, records)

    def _arrow_reader(self):
        """A pyarrow streaming CSV reader over the data rows, or None when the fast path does not apply.

        It applies when the header is the file's first line (nothing before it, no line break in
        a header cell), nothing was rejected yet and the text decodes strictly. Every data record
        becomes one Arrow row of the header's width, all strings, empty cells as '': the record
        numbers are then the Arrow row numbers after the header (blank lines come as rows of
        empty cells, skipped like the csv module's empty records).
        """
        if self._record != 1 or self._pending_bad or self._errors != "strict" or _ARROW_CSV_OFF:
            return None
        if any("\n" in h or "\r" in h for h in self._header):
            return None
        try:
            import pyarrow as pa
            import pyarrow.csv as pacsv
        except ImportError:  # pragma: no cover - installed with csqa
            return None
        width = len(self._header)
        names = [f"c{i}" for i in range(width)]
        encoding = "utf8" if self.encoding in ("utf-8", "utf-8-sig") else self.encoding
        quoted = self.quoting != csv.QUOTE_NONE
        try:
            return pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=_ARROW_BLOCK,
                                               encoding=encoding, use_threads=False),
                parse_options=pacsv.ParseOptions(delimiter=self.delimiter, quote_char='"' if quoted else False,
                                                 double_quote=True, escape_char=False, newlines_in_values=True,
                                                 ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(column_types={n: pa.large_string() for n in names},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
        except (pa.ArrowException, OSError, ValueError, LookupError):
            return None  # e.g. the first block is already irregular: the csv module reads it all

    def _arrow_chunks(self, arrow, mapping: ColumnMapping, chunk_rows: int):
        """Yield the fast path's chunks; return None when done, or what the csv module must go on with.

        That is (records Arrow consumed, rows and records of the chunk being filled): the csv
        module skips the consumed records and completes the chunk, so chunks, row numbers and
        rejects are those of the csv-module loop alone.
        """
        import pyarrow as pa

        number = self._record  # the header's record number
        pending: list = []  # Arrow tables of kept rows, in order
        pending_rows: list = []  # their row numbers (numpy arrays)
        held = 0
        consumed = 0
        try:
            while True:
                try:
                    batch = arrow.read_next_batch()
                except StopIteration:
                    break
                except (pa.ArrowException, UnicodeError, ValueError):
                    rows = [int(r) for part in pending_rows for r in part]
                    records = [tuple(r) for t in pending for r in zip(*(c.to_pylist() for c in t.columns))]
                    self.arrow_records = consumed
                    return consumed, rows, records
                n = batch.num_rows
                numbers = np.arange(number + 1, number + 1 + n, dtype=np.int64)
                keep = _not_blank_rows(batch)
                table = pa.Table.from_batches([batch])
                if keep is not None:
                    table = table.filter(pa.array(keep))
                    numbers = numbers[keep]
                number += n
                consumed += n
                pending.append(table)
                pending_rows.append(numbers)
                held += table.num_rows
                while held >= chunk_rows:
                    whole = pa.concat_tables(pending)
                    all_rows = np.concatenate(pending_rows)
                    yield self._arrow_chunk(mapping, whole.slice(0, chunk_rows), all_rows[:chunk_rows])
                    pending, pending_rows = [whole.slice(chunk_rows)], [all_rows[chunk_rows:]]
                    held -= chunk_rows
        finally:
            try:
                arrow.close()
            except Exception:  # noqa: BLE001 - nothing to keep from a reader that failed
                pass
        if held:
            last = next(t for t in reversed(pending) if t.num_rows)
            last_rows = next(r for r in reversed(pending_rows) if len(r))
            if int(last_rows[-1]) == number and self._swallows_rows(last.column(last.num_columns - 1)[-1].as_py()):
                # an unclosed quote ran to the end: the csv module reads the file's last record again
                rows = [int(r) for part in pending_rows for r in part][:-1]
                records = [tuple(r) for t in pending for r in zip(*(c.to_pylist() for c in t.columns))][:-1]
                self.arrow_records = consumed - 1
                return consumed - 1, rows, records
        self._record = number
        self.arrow_records = consumed
        if held:
            yield self._arrow_chunk(mapping, pa.concat_tables(pending), np.concatenate(pending_rows))
        return None

    def _arrow_chunk(self, mapping, table, numbers) -> RawChunk:
        table = table.combine_chunks()
        fields = {}
        for name, idx in mapping.index.items():
            if idx is not None:
                # the same str Series as the csv-module loop builds from its records
                fields[name] = pd.Series(table.column(idx).combine_chunks(), dtype="str")
        delim = self.delimiter

        def raw_of(i: int) -> str:
            return delim.join(col[i].as_py() for col in table.columns)

        return RawChunk(rows=numbers.tolist(), fields=fields, raw_of=raw_of)

    def _python_chunks(self, mapping: ColumnMapping, chunk_rows: int, rows: list[int], records: list) -> Iterator[RawChunk]:
        """The csv-module loop, from the reader's current record on (rows/records: a chunk begun)."""
        width = len(self._header)
        bad: list[tuple[int, str, str, str]] = self._pending_bad
        self._pending_bad = []
        reader = self._reader
        number = self._record
        while True:
            try:
                for rec in reader:
                    number += 1
                    # records are kept as tuples: a tuple of strings drops out of the garbage
                    # collector's care, a list of 50k lists would be scanned again and again
                    if len(rec) == width and rec[0].strip():  # the usual row: complete, not blank
                        rows.append(number)
                        records.append(tuple(rec))
                    else:
                        self._odd_record(rec, number, width, rows, records, bad)
                    if len(rows) + len(bad) >= chunk_rows:
                        self._record = number
                        yield self._make_chunk(mapping, rows, records, bad)
                        rows, records, bad = [], [], []
                break
            except csv.Error as exc:
                number += 1
                bad.append((number, "", f"该行无法按 CSV 解析（{exc}）：请检查引号与特殊字符 (malformed CSV row)", ""))
        number = self._unclosed_quote_at_end(rows, records, bad, width, number)
        self._record = number
        if rows or bad:
            yield self._make_chunk(mapping, rows, records, bad)

    def _swallows_rows(self, cell) -> list | None:
        """The records after the first line break of the file's last cell, when one of them reads
        as a row of the table's width (a quote never closed); else None."""
        if not isinstance(cell, str) or "\n" not in cell:
            return None
        try:
            tail = list(csv.reader(io.StringIO(cell.partition("\n")[2]), delimiter=self.delimiter,
                                   quoting=self.quoting, strict=False))
        except csv.Error:
            return None
        width = len(self._header or ())
        return tail if any(len(rec) == width and not _blank_row(rec) for rec in tail) else None

    def _unclosed_quote_at_end(self, rows, records, bad, width: int, number: int) -> int:
        """A quote opened in the last cell of a row and never closed swallows every line after
        it into that cell (the csv module reads to the end of the file). When what it swallowed
        reads as rows of the table's width, that row is rejected and the swallowed lines are
        read as the rows they are. Returns the number of the last record."""
        if not records or rows[-1] != number:
            return number
        tail = self._swallows_rows(records[-1][-1])
        if not tail:
            return number  # (a message with line breaks, as it should be)
        first = records[-1][-1].partition("\n")[0]
        rec = records.pop()
        rows.pop()
        bad.append((number, self._header[-1] if self._header else "",
                    f"引号未闭合：该行最后一格以引号开头却没有结束引号，把其后 {len(tail)} 行都并进了这一格；"
                    f"该行已跳过，其后的行照常读取。请检查导出中的引号 (unclosed quote swallowed the following lines)",
                    self.delimiter.join(rec[:-1] + (first,))))
        for tail_rec in tail:
            number += 1
            if len(tail_rec) == width and tail_rec[0].strip():
                rows.append(number)
                records.append(tuple(tail_rec))
            else:
                self._odd_record(tail_rec, number, width, rows, records, bad)
        return number

    def _odd_record(self, rec: list[str], number: int, width: int, rows, records, bad) -> None:
        """A record of another width or with a blank first cell: trim, skip when blank, or reject."""
        n = len(rec)
        if n == width:
            if not _blank_row(rec):
                rows.append(number)
                records.append(tuple(rec))
        elif n > width and _blank_row(rec[width:]):
            rec = rec[:width]  # trailing empty cells, e.g. a delimiter at the line end
            if not _blank_row(rec):
                rows.append(number)
                records.append(tuple(rec))
        elif not _blank_row(rec):
            bad.append(
                (
                    number,
                    "",
                    f"字段数不对：本行有 {n} 个字段，表头有 {width} 个；"
                    f"请检查该行是否有多余的分隔符、未闭合的引号或换行 (wrong number of fields)",
                    self.delimiter.join(rec),
                )
            )

    def _make_chunk(self, mapping, rows, records, bad) -> RawChunk:
        import pyarrow as pa

        fields = {}
        for name, idx in mapping.index.items():
            if idx is not None:
                # via Arrow: the same str Series as pd.Series(values, dtype="str"), built faster
                fields[name] = pd.Series(pa.array([r[idx] for r in records], type=pa.large_string()), dtype="str")
        delim = self.delimiter
        return RawChunk(rows=rows, fields=fields, raw_of=lambda i: delim.join(records[i]), bad=bad)

    def close(self) -> None:
        self._fh.close()


# Arrow reads this much text per block (a record must fit in one: a longer one hands over to the csv module)
_ARROW_BLOCK = 4 << 20
# the fast path can be switched off (tests compare both paths)
_ARROW_CSV_OFF = False
# a character that is not whitespace for str.strip(): a first cell holding one is not blank
_NOT_SPACE = "[^\\t-\\r\\x{1c}-\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]"


def _not_blank_rows(batch):
    """Boolean mask of the rows to keep (not all cells blank), or None when all are kept.

    Only rows whose first cell has no non-space character are looked at one by one (the rest
    are kept, as in the csv-module loop, without a Python call per row).
    """
    import pyarrow.compute as pc

    first = batch.column(0)
    suspect = np.flatnonzero(~pc.match_substring_regex(first, _NOT_SPACE).to_numpy(zero_copy_only=False))
    if not len(suspect):
        return None
    keep = np.ones(batch.num_rows, dtype=bool)
    columns = [batch.column(j) for j in range(batch.num_columns)]
    for i in suspect.tolist():
        if _blank_row(col[i].as_py() for col in columns):
            keep[i] = False
    return keep if not keep.all() else None


def sniff_dialect(sample: str, suffix: str) -> tuple[str, int]:
    """Pick the delimiter that splits the first records into the most consistent, widest table."""
    if len(sample) >= SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rfind("\n") + 1]  # drop a partial last line
    preferred = {".tsv": "\t", ".csv": ",", ".txt": "\t"}.get(suffix, ",")
    best_key = None
    best = preferred
    for delim in DELIMITERS:
        records = []
        try:
            for rec in csv.reader(io.StringIO(sample), delimiter=delim, strict=False):
                if not _blank_row(rec):
                    records.append(rec)
                if len(records) >= SNIFF_RECORDS:
                    break
        except csv.Error:
            continue
        if not records:
            continue
        width = len(records[0])
        consistent = sum(len(r) == width for r in records) / len(records)
        key = (width > 1, round(consistent, 1), delim == preferred, width)
        if best_key is None or key > best_key:
            best_key, best = key, delim
    quoting = csv.QUOTE_MINIMAL
    if best != ",":
        # Tab/semicolon/pipe exports are often unquoted with stray quotes in the text; honour
        # quotes only when the file visibly uses them.
        quoting = csv.QUOTE_NONE
        starts_quoted = False
        for rec in csv.reader(io.StringIO(sample), delimiter=best, quoting=csv.QUOTE_NONE):
            for cell in rec:
                if cell.startswith('"'):
                    starts_quoted = True
                    if len(cell) >= 2 and cell.endswith('"'):
                        return best, csv.QUOTE_MINIMAL  # a properly quoted cell: the file quotes
        if starts_quoted:
            # Only an opening quote: real quoting of a multi-line cell, or a stray quote that
            # would swallow the following lines? Swallowed lines show up as cells holding a
            # line break and the delimiter.
            swallowed = False
            for rec in csv.reader(io.StringIO(sample), delimiter=best, strict=False):
                if any("\n" in cell and best in cell for cell in rec):
                    swallowed = True
                    break
            if not swallowed:
                quoting = csv.QUOTE_MINIMAL
    return best, quoting


# --------------------------------------------------------------------------- XLSX

# Limits of what an .xlsx may hold, checked before anything is unpacked (a workbook is a zip of
# XML parts: a small file can unpack to gigabytes). Excel itself stops at 1,048,576 rows and
# 32,767 characters a cell; openpyxl keeps the whole shared-strings part in memory.
MAX_XLSX_ROWS = 1_048_576
MAX_XLSX_CELL_CHARS = 32_767
MAX_XLSX_PART_BYTES = 1 << 30            # any one part, unpacked
MAX_XLSX_SHARED_STRINGS_BYTES = 512 << 20  # xl/sharedStrings.xml, unpacked (held in memory whole)
MAX_XLSX_TOTAL_BYTES = 4 << 30           # all parts together, unpacked
MAX_XLSX_RATIO = 200                     # a part over 16 MiB that unpacks to more than 200× its packed size
_RATIO_FROM_BYTES = 16 << 20

XLSX_TOO_BIG = ("Excel 文件解压后过大：{what}；这不是 Excel 能保存的表格，可能是损坏或恶意构造的文件（zip 炸弹）。"
                "请在 Excel 中打开后另存为 UTF-8 CSV 再试 (workbook refused: {english})")


def check_xlsx_limits(path: Path, name: str) -> None:
    """Refuse a workbook whose parts unpack too large (by the sizes its zip directory declares:
    Python's zipfile never unpacks more than that), before openpyxl opens it."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip: openpyxl says so in its own words
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        mb = f"{info.filename} 解压后 {size / (1 << 20):,.0f} MB"
        if info.filename.lower().endswith("sharedstrings.xml") and size > MAX_XLSX_SHARED_STRINGS_BYTES:
            raise InputError(name, XLSX_TOO_BIG.format(
                what=f"{mb}（文本单元格合计上限 {MAX_XLSX_SHARED_STRINGS_BYTES >> 20} MB）",
                english=f"{info.filename} unpacks to {size:,} bytes, over {MAX_XLSX_SHARED_STRINGS_BYTES:,}"))
        if size > MAX_XLSX_PART_BYTES:
            raise InputError(name, XLSX_TOO_BIG.format(
                what=f"{mb}（每个部分上限 {MAX_XLSX_PART_BYTES >> 20} MB）",
                english=f"{info.filename} unpacks to {size:,} bytes, over {MAX_XLSX_PART_BYTES:,}"))
        if size > _RATIO_FROM_BYTES and size > MAX_XLSX_RATIO * max(info.compress_size, 1):
            raise InputError(name, XLSX_TOO_BIG.format(
                what=f"{mb}，是压缩后大小的 {size // max(info.compress_size, 1):,} 倍（上限 {MAX_XLSX_RATIO} 倍）",
                english=f"{info.filename} unpacks to {size // max(info.compress_size, 1):,}x its packed size"))
    if total > MAX_XLSX_TOTAL_BYTES:
        raise InputError(name, XLSX_TOO_BIG.format(
            what=f"全部解压后 {total / (1 << 20):,.0f} MB（上限 {MAX_XLSX_TOTAL_BYTES >> 20} MB）",
            english=f"the parts unpack to {total:,} bytes, over {MAX_XLSX_TOTAL_BYTES:,}"))


def _too_many_rows(name: str, where: str) -> InputError:
    return InputError(name, f"{where}超过 Excel 的上限 {MAX_XLSX_ROWS:,} 行：这不是 Excel 能保存的表格，可能是损坏或恶意构造的文件；"
                            f"请拆分导出，或另存为 UTF-8 CSV (more rows than Excel's {MAX_XLSX_ROWS:,})")


class XlsxReader(Reader):
    format = "xlsx"

    def __init__(self, path: Path, name: str):
        import zipfile

        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        self.path = path
        self.name = name
        self.sha256 = file_sha256(path)
        check_xlsx_limits(path, name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, EOFError) as exc:
            raise InputError(
                name,
                f"无法打开 Excel 文件：文件已损坏或不是 .xlsx（{type(exc).__name__}）；"
                f"请在 Excel 中打开后另存为 .xlsx 或 UTF-8 CSV (broken or not an .xlsx file)",
            ) from None
        self._sheets: list[tuple[object, int, list]] = []  # (worksheet, header row number, header)
        self.warnings: list[str] = []

    def header(self) -> list[str]:
        first_key = None
        for ws in self._wb.worksheets:
            declared = getattr(ws, "max_row", None)  # (the sheet's own dimension, when it has one)
            if isinstance(declared, int) and declared > MAX_XLSX_ROWS:
                raise _too_many_rows(self.name, f"工作表「{ws.title}」声明有 {declared:,} 行，")
            if hasattr(ws, "reset_dimensions"):
                ws.reset_dimensions()  # some writers store a wrong size; read what is there
            found = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                    if _blank_row(values):
                        continue
                    if found is None:
                        found = (number, list(values))
                    filled = sum(1 for v in values if v is not None and str(v).strip())
                    if filled >= 2:  # a title row above the table has one (merged) cell
                        found = (number, list(values))
                        break
                    if number > TITLE_ROWS:
                        break
            if found is None:
                continue
            number, header = found
            while header and (header[-1] is None or str(header[-1]).strip() == ""):
                header.pop()
            header = [cell_to_str(h) for h in header]
            key = [normalize_header(h) for h in header]
            if first_key is None:
                first_key = key
                self._sheets.append((ws, number, header))
            elif key == first_key:
                self._sheets.append((ws, number, header))
            else:
                self.warnings.append(f"工作表「{ws.title}」的表头与第一个工作表不同，已跳过 (sheet skipped: different header)")
        if not self._sheets:
            raise InputError(self.name, NO_DATA)
        return self._sheets[0][2]

    def extra_info(self) -> dict:
        info = {"sheets": [ws.title for ws, _, _ in self._sheets]}
        if self.warnings:
            info["warnings"] = list(self.warnings)
        return info

    def chunks(self, mapping: ColumnMapping, chunk_rows: int) -> Iterator[RawChunk]:
        several = len(self._sheets) > 1
        for ws, header_row, header in self._sheets:
            width = len(header)
            source = f"{self.name}#{ws.title}" if several else None
            rows: list[int] = []
            records: list[tuple] = []
            bad: list[tuple[int, str, str, str]] = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                    if number > MAX_XLSX_ROWS:
                        raise _too_many_rows(self.name, f"工作表「{ws.title}」")
                    if number <= header_row or _blank_row(values):
                        continue
                    values = tuple(values[:width]) + (None,) * (width - len(values))
                    long_cell = next((j for j, v in enumerate(values)
                                      if isinstance(v, str) and len(v) > MAX_XLSX_CELL_CHARS), None)
                    if long_cell is not None:
                        bad.append((number, header[long_cell],
                                    f"单元格有 {len(values[long_cell]):,} 个字符，超过 Excel 每格 {MAX_XLSX_CELL_CHARS:,} "
                                    f"字符的上限：不是 Excel 保存的内容，已跳过该行 (cell longer than Excel allows)",
                                    "\t".join(cell_to_str(v)[:200] for v in values)))
                    else:
                        rows.append(number)
                        records.append(values)
                    if len(rows) + len(bad) >= chunk_rows:
                        yield self._make_chunk(mapping, rows, records, source, bad)
                        rows, records, bad = [], [], []
            if rows or bad:
                yield self._make_chunk(mapping, rows, records, source, bad)

    @staticmethod
    def _make_chunk(mapping, rows, records, source, bad=None) -> RawChunk:
        fields = {}
        for name, idx in mapping.index.items():
            if idx is not None:
                fields[name] = pd.Series([r[idx] for r in records], dtype=object)
        return RawChunk(
            rows=rows,
            fields=fields,
            raw_of=lambda i: "\t".join(cell_to_str(v) for v in records[i]),
            bad=bad or [],
            source=source,
        )

    def close(self) -> None:
        self._wb.close()


# --------------------------------------------------------------------------- JSONL


class JsonlReader(Reader):
    format = "jsonl"

    def __init__(self, path: Path, name: str, encoding: str | None, chunk_rows: int):
        self.name = name
        info = detect_text_encoding(path, encoding, name)
        self.path = path
        self.encoding = info.encoding
        self.sha256 = info.sha256
        self.warnings = [info.warning] if info.warning else []
        self._fh = open(path, encoding=self.encoding, errors=info.errors, newline=None)
        self._lines = enumerate(self._fh, start=1)
        self._chunk_rows = chunk_rows
        self._buffer: list[tuple[int, object, str]] | None = None  # (line, object or None, line text)
        self._keys: list[str] = []

    def _read(self, limit: int) -> list[tuple[int, "dict | str", str]]:
        """Up to `limit` non-blank lines: (line number, the object or why the line is refused, the line)."""
        out = []
        for number, line in self._lines:
            text = line.rstrip("\r\n")
            if number == 1:
                text = text.lstrip("\ufeff")
            if not text.strip():
                continue
            out.append((number, *_json_object(text)))
            if len(out) >= limit:
                break
        return out

    def header(self) -> list[str]:
        buffered: list[tuple[int, object, str]] = []
        while True:
            part = self._read(self._chunk_rows)
            if not part:
                break
            buffered.extend(part)
            if any(isinstance(obj, dict) for _, obj, _ in part):
                break
        if not buffered:
            raise InputError(self.name, NO_DATA)
        keys: dict[str, None] = {}
        for _, obj, _ in buffered:
            if isinstance(obj, dict):
                keys.update(dict.fromkeys(obj.keys()))
        if not keys:
            raise InputError(
                self.name,
                "没有一行是合法的 JSON 对象：请确认文件为 JSONL（每行一个 JSON 对象，如 "
                '{"会话ID": "1", "发送方": "客服", "内容": "您好"}）(no line is a JSON object)',
            )
        self._buffer = buffered
        self._keys = list(keys)
        return self._keys

    def extra_info(self) -> dict:
        return {"warnings": list(self.warnings)} if self.warnings else {}

    def chunks(self, mapping: ColumnMapping, chunk_rows: int) -> Iterator[RawChunk]:
        pending = self._buffer or []
        self._buffer = None
        while True:
            while len(pending) < chunk_rows:
                part = self._read(chunk_rows - len(pending))
                if not part:
                    break
                pending.extend(part)
            if not pending:
                return
            part, pending = pending[:chunk_rows], pending[chunk_rows:]
            yield self._make_chunk(mapping, part)

    def _make_chunk(self, mapping, part) -> RawChunk:
        good = [(n, obj, t) for n, obj, t in part if isinstance(obj, dict)]
        bad = [(n, "", obj, t) for n, obj, t in part if not isinstance(obj, dict)]  # (obj: the reason)
        fields = {}
        for name, idx in mapping.index.items():
            if idx is not None:
                key = self._keys[idx]
                fields[name] = pd.Series([obj.get(key) for _, obj, _ in good], dtype=object)
        texts = [t for _, _, t in good]
        return RawChunk(rows=[n for n, _, _ in good], fields=fields, raw_of=lambda i: texts[i], bad=bad)

    def close(self) -> None:
        self._fh.close()


NOT_A_JSON_OBJECT = ("该行不是合法的 JSON 对象：请确认每行是一个完整的 {…} 对象，没有被截断或换行拆开 "
                     "(line is not a JSON object)")
TOO_DEEP = "该行 JSON 嵌套过深，无法解析：请确认每行是一个普通的 {…} 对象 (JSON nested too deeply)"
LONE_SURROGATE = ("该行含有无效的 Unicode 转义（孤立的代理字符，如 \\ud800）：无法作为文本保存，"
                  "请检查导出程序的编码 (lone surrogate escape)")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _json_object(text: str) -> tuple["dict | str", str]:
    """(the line's object, the line), or (why it cannot be used, the line): not JSON, not an
    object, nested too deeply for the parser, or holding a lone surrogate (\\ud800 without its
    pair decodes to a character no UTF-8 file, Arrow column or report can hold)."""
    try:
        obj = json.loads(text)
    except RecursionError:
        return TOO_DEEP, text
    except ValueError:
        return NOT_A_JSON_OBJECT, text
    if not isinstance(obj, dict):
        return NOT_A_JSON_OBJECT, text
    if _SURROGATE_ESCAPE.search(text) is not None:
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return LONE_SURROGATE, text
        except (RecursionError, ValueError):
            return TOO_DEEP, text
    return obj, text


# --------------------------------------------------------------------------- Parquet


class ParquetReader(Reader):
    format = "parquet"

    def __init__(self, path: Path, name: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self.name = name
        self.sha256 = file_sha256(path)
        try:
            self._pf = pq.ParquetFile(path)
            self._names = list(self._pf.schema_arrow.names)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(
                name,
                f"无法读取 Parquet 文件：文件已损坏或不是 Parquet（{type(exc).__name__}）；"
                f"请重新导出，或另存为 UTF-8 CSV (broken or not a Parquet file)",
            ) from None

    def header(self) -> list[str]:
        if self._pf.metadata.num_rows == 0:
            raise InputError(self.name, NO_DATA)
        return self._names

    def chunks(self, mapping: ColumnMapping, chunk_rows: int) -> Iterator[RawChunk]:
        import pyarrow as pa

        start = 0
        batches = self._pf.iter_batches(batch_size=chunk_rows)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise InputError(
                    self.name,
                    f"Parquet 文件读到第 {start + 1} 行附近时出错（{type(exc).__name__}: {exc}）；"
                    f"文件可能已损坏，请重新导出 (broken Parquet file)",
                ) from None
            frame = batch.to_pandas(integer_object_nulls=True)
            n = len(frame)
            fields = {}
            for name, idx in mapping.index.items():
                if idx is not None:
                    fields[name] = frame.iloc[:, idx].reset_index(drop=True)

            def raw_of(i, frame=frame):
                return "\t".join(cell_to_str(v) for v in frame.iloc[i].tolist())

            yield RawChunk(rows=list(range(start + 1, start + n + 1)), fields=fields, raw_of=raw_of)
            start += n


__all__ = [
    "DelimitedReader",
    "XlsxReader",
    "JsonlReader",
    "ParquetReader",
    "RawChunk",
    "Reader",
    "cell_to_str",
    "to_str_series",
    "sniff_dialect",
    "NO_DATA",
]
