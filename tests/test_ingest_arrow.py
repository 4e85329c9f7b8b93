"""The Arrow CSV fast path (DelimitedReader._arrow_chunks) gives exactly what the csv-module loop gives.

Each export is read twice, once with the fast path switched off: the message frames, the
rejects (rows, columns, reasons, raw text) and the per-file infos must be equal, in any chunking
and with Arrow blocks small enough that damage in the middle of a file hands over to the csv
module mid-file. Clean exports must really go through Arrow (`arrow_records`), damaged ones
must still be read whole (rows_read = kept + rejected).
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

import pandas as pd
import pytest

import csqa.ingest.readers as readers
from csqa.ingest import IngestOptions, read_inputs
from csqa.ingest.columns import resolve_columns
from csqa.ingest.readers import DelimitedReader

HEADER = ["会话ID", "消息时间", "发送方", "客服账号", "内容"]


@pytest.fixture(scope="module")
def rows(sample_csv) -> list[list[str]]:
    with open(sample_csv, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))[1:600]


def _line(row, delimiter=",") -> str:
    out = []
    for cell in row:
        needs = any(c in cell for c in (delimiter, '"', "\n", "\r"))
        out.append('"' + cell.replace('"', '""') + '"' if needs else cell)
    return delimiter.join(out)


def _write(path: Path, lines: list[str], encoding="utf-8", newline="\n", header=HEADER, delimiter=",") -> Path:
    text = newline.join([delimiter.join(header), *lines]) + newline
    path.write_bytes(text.encode(encoding))
    return path


def _read_both(path: Path, chunk_rows: int, monkeypatch, block: int | None = None, **options):
    if block is not None:
        monkeypatch.setattr(readers, "_ARROW_BLOCK", block)
    monkeypatch.setattr(readers, "_ARROW_CSV_OFF", False)
    fast = read_inputs([path], IngestOptions(chunk_rows=chunk_rows, **options))
    monkeypatch.setattr(readers, "_ARROW_CSV_OFF", True)
    slow = read_inputs([path], IngestOptions(chunk_rows=chunk_rows, **options))
    monkeypatch.setattr(readers, "_ARROW_CSV_OFF", False)
    pd.testing.assert_frame_equal(fast.messages, slow.messages)
    pd.testing.assert_frame_equal(fast.rejects, slow.rejects)
    assert fast.inputs == slow.inputs
    info = fast.inputs[0]
    assert info["rows_read"] == len(fast.messages) + len(fast.rejects)
    return fast


def _chunks_both(path: Path, chunk_rows: int, monkeypatch, block: int | None = None, encoding=None) -> int:
    """The reader's chunks with and without the fast path are equal; the records Arrow read."""
    if block is not None:
        monkeypatch.setattr(readers, "_ARROW_BLOCK", block)
    got, fast = [], []
    for off in (False, True):
        monkeypatch.setattr(readers, "_ARROW_CSV_OFF", off)
        records, total, chunks = _arrow_records(path, chunk_rows, encoding)
        fast.append(records)
        got.append([(c.rows, c.bad, [c.raw_of(i) for i in range(len(c.rows))],
                     {k: v.tolist() for k, v in c.fields.items()}, [str(v.dtype) for v in c.fields.values()])
                    for c in chunks])
    monkeypatch.setattr(readers, "_ARROW_CSV_OFF", False)
    assert got[0] == got[1]
    assert fast[1] == 0  # switched off: the csv module read it all
    return fast[0]


def _arrow_records(path: Path, chunk_rows: int = 50, encoding=None) -> tuple[int, int, list]:
    """(records the fast path read, records read in all) for one file."""
    reader = DelimitedReader(path, str(path), encoding)
    mapping = resolve_columns(str(path), reader.header(), {})
    chunks = list(reader.chunks(mapping, chunk_rows))
    reader.close()
    return reader.arrow_records, reader._record - 1, chunks


# ------------------------------------------------------------------ clean exports: all through Arrow


@pytest.mark.parametrize(
    "encoding,newline",
    [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("gb18030", "\n"), ("utf-16", "\r\n"), ("utf-16-le", "\n")],
)
def test_clean_export_same_and_through_arrow(tmp_path, rows, monkeypatch, encoding, newline):
    if encoding == "utf-16-le":  # no BOM: detection cannot tell; name it like a user would
        path = _write(tmp_path / "x.csv", [_line(r) for r in rows], "utf-16-le", newline)
        given = "utf-16-le"
    else:
        path = _write(tmp_path / "x.csv", [_line(r) for r in rows], encoding, newline)
        given = None
    for chunk_rows in (1, 7, 50_000):
        assert _chunks_both(path, chunk_rows, monkeypatch, encoding=given) == len(rows)
    result = _read_both(path, 100, monkeypatch, encoding=given)
    assert len(result.messages) == len(rows) and len(result.rejects) == 0
    fast, total, _ = _arrow_records(path, encoding=given)
    assert fast == total == len(rows)


def test_multiline_cells_blank_lines_and_empty_rows_stay_in_arrow(tmp_path, rows, monkeypatch):
    rng = random.Random(3)
    lines = []
    for row in rows:
        kind = rng.random()
        if kind < 0.05:
            lines.append("")  # a blank line: counted, skipped
        elif kind < 0.08:
            lines.append(",,,,")  # a row of empty cells: counted, skipped
        elif kind < 0.10:
            lines.append(_line([" ", "", "\u3000", "", ""]))  # blank first cell, blank row
        elif kind < 0.13:
            lines.append(_line([" "] + row[1:]))  # blank id, the rest filled: rejected (missing id)
        elif kind < 0.18:
            lines.append(_line(row[:4] + ['多行\n"引号"，内容\r\n第三行']))  # quoted multi-line cell
        elif kind < 0.20:
            lines.append(_line(["\u2003" + row[0]] + row[1:]))  # a space-like first character
        else:
            lines.append(_line(row))
    path = _write(tmp_path / "m.csv", lines)
    for chunk_rows in (1, 5, 64, 50_000):
        for block in (2048, None):
            assert _chunks_both(path, chunk_rows, monkeypatch, block=block) == len(rows)
    result = _read_both(path, 64, monkeypatch, block=2048)
    assert len(result.rejects) > 0
    assert (result.rejects["reason"].str.contains("missing conversation id")).all()


# ------------------------------------------------------------------ damaged exports: handed over


def _damaged(rows, at: float, seed: int) -> list[str]:
    """Clean lines, then from `at` (fraction of the file) on short/long rows, trailing delimiters, bad quotes."""
    rng = random.Random(seed)
    start = int(len(rows) * at)
    lines = [_line(r) for r in rows[:start]]
    for row in rows[start:]:
        kind = rng.random()
        if kind < 0.05:
            row = row[:3]  # too few fields
        elif kind < 0.08:
            row = row + ["extra"]  # too many
        elif kind < 0.11:
            row = row + ["", ""]  # trailing delimiters (trimmed)
        elif kind < 0.13:
            lines.append("   ")  # whitespace only
            continue
        elif kind < 0.14:
            lines.append(row[0] + ',"2026-11-02,客服,a,unclosed ' + row[4])  # an unclosed quote ...
            continue
        lines.append(_line(row))
    return lines


@pytest.mark.parametrize("at", [0.0, 0.5, 0.97])
def test_damage_anywhere_same_as_the_csv_module(tmp_path, rows, monkeypatch, at):
    path = _write(tmp_path / "d.csv", _damaged(rows, at, seed=int(at * 100)))
    for chunk_rows in (1, 3, 50, 50_000):
        for block in (1024, 8192, None):
            _chunks_both(path, chunk_rows, monkeypatch, block=block)
    result = _read_both(path, 50, monkeypatch, block=1024)
    assert len(result.rejects) > 0
    # with small blocks the clean start really went through Arrow, then the csv module took over
    monkeypatch.setattr(readers, "_ARROW_BLOCK", 1024)
    fast, total, chunks = _arrow_records(path, 50)
    assert total >= len(rows) * at and fast < total
    if at >= 0.5:
        assert fast > 0


def test_handover_keeps_row_numbers_of_the_rejects(tmp_path, rows, monkeypatch):
    lines = [_line(r) for r in rows[:300]] + ["only,three,fields"] + [_line(r) for r in rows[300:]]
    path = _write(tmp_path / "h.csv", lines)
    monkeypatch.setattr(readers, "_ARROW_BLOCK", 4096)
    result = _read_both(path, 50, monkeypatch)
    assert result.rejects["row"].tolist() == [302]  # header is row 1
    assert result.rejects["raw"].tolist() == ["only,three,fields"]
    assert len(result.messages) == len(rows)


def test_unclosed_quote_at_the_end(tmp_path, rows, monkeypatch):
    lines = [_line(r) for r in rows[:50]] + ['X1,2026-11-02 09:00:00,客服,a,"never closed', "X1,2026-11-02 09:00:01,客服,a,swallowed"]
    path = _write(tmp_path / "q.csv", lines)
    result = _read_both(path, 7, monkeypatch)
    # the quote swallowed the last line: its row is rejected and the line read as the row it is
    assert result.messages["text"].iloc[-1] == "swallowed"
    assert result.rejects["row"].tolist() == [52] and "unclosed quote" in result.rejects["reason"].iloc[0]
    assert "never closed" in result.rejects["raw"].iloc[0]


def test_tsv_without_quoting_and_stray_quotes(tmp_path, rows, monkeypatch):
    lines = ["\t".join(r[:4] + ['他说"好的' + r[4]]) for r in rows]
    path = _write(tmp_path / "t.tsv", lines, delimiter="\t")
    result = _read_both(path, 40, monkeypatch)
    assert len(result.messages) == len(rows) and result.messages["text"].str.contains('"').all()
    fast, total, _ = _arrow_records(path)
    assert fast == total


def test_files_arrow_does_not_take(tmp_path, rows, monkeypatch):
    # a blank line before the header, a damaged UTF-8 byte (decoded with replacement)
    lead = tmp_path / "lead.csv"
    lead.write_text("\n" + ",".join(HEADER) + "\n" + "\n".join(_line(r) for r in rows) + "\n", encoding="utf-8")
    _read_both(lead, 50, monkeypatch)
    assert _arrow_records(lead)[0] == 0
    broken = tmp_path / "broken.csv"
    data = (",".join(HEADER) + "\n" + "\n".join(_line(r) for r in rows) + "\n").encode("utf-8")
    broken.write_bytes(data[:3000] + b"\xff" + data[3000:])
    result = _read_both(broken, 50, monkeypatch)
    assert "warnings" in result.inputs[0]
    assert _arrow_records(broken)[0] == 0


# ------------------------------------------------------------------ UTF-8 check through Arrow


@pytest.mark.parametrize("block", [1, 2, 3, 5, 64, 1 << 20])
def test_utf8_scan_same_as_decoding(tmp_path, monkeypatch, block):
    import csqa.ingest.encoding as encoding

    text = "会话ID,内容\n" + "".join(f"c{i},客服您好😀é{i}\n" for i in range(40))
    good = text.encode("utf-8")
    cases = {
        "good": good,
        "bom": b"\xef\xbb\xbf" + good,
        "surrogate": good[:50] + b"\xed\xa0\x80" + good[50:],
        "overlong": good[:70] + b"\xc0\x80" + good[70:],
        "past U+10FFFF": good[:90] + b"\xf4\x90\x80\x80" + good[90:],
        "cut at the end": good + "中".encode("utf-8")[:2],
        "stray continuation": good[:33] + b"\x80" + good[33:],
        "nul": good[:40] + b"\x00" + good[40:],
        "gb18030": text.encode("gb18030"),
    }
    monkeypatch.setattr(encoding, "BLOCK", block)
    for name, data in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(data)
        for enc in ("utf-8", "utf-8-sig"):
            for nul in (False, True):
                fast = encoding._scan(path, enc, reject_nul=nul)
                with monkeypatch.context() as m:
                    m.setattr(encoding, "_scan_utf8", lambda *a: None)
                    slow = encoding._scan(path, enc, reject_nul=nul)
                assert fast == slow, (name, enc, nul)
                if name in ("good", "bom") and not nul:
                    assert encoding._scan_utf8(path, nul) is not None  # the fast check really ran
