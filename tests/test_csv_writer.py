"""csqa.outputs.csv writes exactly the bytes of pandas' `to_csv(index=False)` of the safe cells.

The reference in every test is pandas itself, run on the same frame with every text cell
through `csqa.outputs.safety.safe_cell` (`safe_frame`: no formula, no control character, ids
included); the tests also check
that the fast path really ran (`encode_rows` is not None) where it should, so a silent fall
back to pandas cannot make them pass.
"""
from __future__ import annotations

import csv
import io
import math
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import csqa.outputs.files as outputs
from csqa.outputs.csv import LINE_END, QUOTED_CHARACTERS, encode_rows, write_csv_part
from csqa.results.spool import FrameSpool
from csqa.outputs.safety import safe_cell, safe_frame


def pandas_bytes(frame: pd.DataFrame, header: bool = True) -> bytes:
    return safe_frame(frame).to_csv(index=False, header=header).encode("utf-8")


def ours(frame: pd.DataFrame, header: bool = True) -> bytes:
    buf = io.BytesIO()
    write_csv_part(frame, buf, header)
    return buf.getvalue()


def assert_same(frame: pd.DataFrame, fast: bool = True) -> None:
    """Byte-equal to pandas, with and without the header; `fast`: encoded here, not by pandas."""
    assert (encode_rows(frame) is not None) == fast
    for header in (True, False):
        got, want = ours(frame, header), pandas_bytes(frame, header)
        assert got == want, _first_difference(got, want)


def _first_difference(got: bytes, want: bytes) -> str:
    i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return f"first difference at byte {i}: ours {got[i - 40:i + 40]!r} pandas {want[i - 40:i + 40]!r}"


# ---------------------------------------------------------------------------- the run's real tables
def pandas_csv_file(table, columns) -> bytes:
    """What `csqa.outputs.files._csv` writes, the plain way: pandas per part, every text cell made safe."""
    parts = [table] if isinstance(table, pd.DataFrame) else list(table.frames(columns))
    if not parts:  # an empty spool: the header of its empty frame
        parts = [table.empty_frame()]
    out = "\ufeff".encode("utf-8")
    for i, part in enumerate(parts):
        part = part[[c for c in columns if c in part.columns]].copy() if columns else part.copy()
        for col in part.columns:  # the reference rule cell by cell (pandas_bytes does it in bulk)
            if part[col].dtype == object or isinstance(part[col].dtype, pd.StringDtype):
                part[col] = part[col].map(safe_cell)
        out += pandas_bytes(part, header=i == 0)
    return out


@pytest.mark.parametrize("which", ["sample", "bad_rows"])
def test_run_csvs_are_pandas_bytes(which, tmp_path, monkeypatch, run_cli, sample_csv, bad_rows_csv):
    """`csqa score` on the bundled exports: each CSV file equals what pandas writes for the very
    tables (spool parts or frames) the run handed to `_csv`, and every part took the fast path.
    (The run is real; `_csv` is only wrapped to see its input before it writes.)"""
    real_csv = outputs._csv
    expected: dict[str, bytes] = {}
    fast_parts: dict[str, list[bool]] = {}

    def watching_csv(table, path, columns=None):
        expected[path.name] = pandas_csv_file(table, columns)
        parts = [table] if isinstance(table, pd.DataFrame) else list(table.frames(columns)) or [table.empty_frame()]
        fast_parts[path.name] = [encode_rows(p[[c for c in columns if c in p.columns]] if columns else p) is not None
                                 for p in parts]
        return real_csv(table, path, columns)

    monkeypatch.setattr(outputs, "_csv", watching_csv)
    source = sample_csv if which == "sample" else bad_rows_csv
    run = run_cli("score", source, "--no-model", outdir=tmp_path / "out")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    assert set(expected) == {"conversations.csv", "findings.csv", "agents.csv", "rejects.csv"}
    for name, want in expected.items():
        got = (tmp_path / "out" / name).read_bytes()
        assert got == want, (name, _first_difference(got, want))
        assert all(fast_parts[name]), name
    if which == "bad_rows":  # the rejects table has rows with raw text in it
        assert len(pd.read_csv(tmp_path / "out" / "rejects.csv", encoding="utf-8-sig")) > 0
    findings = pd.read_csv(tmp_path / "out" / "findings.csv", encoding="utf-8-sig")
    assert len(findings) > 0


# ---------------------------------------------------------------------------- edge cases by dtype
TRICKY_TEXT = ["plain", "a,b", 'say "hi"', '"', '""', "line\nbreak", "cr\rhere", "crlf\r\n", " lead", "trail ",
               "  ", "", "中文，逗号", "emoji 😀,👍🏽", "=SUM(A1)", "+1", "-2", "@x", "\ttab", "'quoted'", "a\x00b",
               "semi;colon", "back\\slash", "\u2028sep", "x" * 5000]


def test_text_with_special_characters_and_missing_values():
    for dtype in ("str", "string", object):
        values = TRICKY_TEXT + [None]
        frame = pd.DataFrame({"text": pd.Series(values, dtype=dtype), "n": range(len(values))})
        assert_same(frame)
        assert_same(frame[["n", "text"]])  # special text in the last column too


def test_empty_string_and_missing_are_both_empty_fields():
    frame = pd.DataFrame({"a": pd.Series(["", None, np.nan, "x"], dtype=object), "b": [1, 2, 3, 4]})
    assert_same(frame)
    assert ours(frame, header=False) == f",1{LINE_END},2{LINE_END},3{LINE_END}x,4{LINE_END}".encode()


def test_object_column_of_only_missing_values():
    assert_same(pd.DataFrame({"a": [None, None], "b": [1.5, 2.5]}))


def test_floats_like_python_repr():
    values = [0.0, -0.0, 9.0, 1.5, 64.72, 0.1 + 0.2, 1e-7, 1e-4, 0.001, 9.999e-4, 123456.789, 1e15, 1e16, 1e22,
              -1e16, 1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, float("nan"), float("inf"),
              float("-inf"), 999999999999999.9, 0.30000000000000004, -123.456, 2 ** 53, 1 / 3]
    frame = pd.DataFrame({"x": values, "y": [-v for v in values]})
    assert_same(frame)
    lines = ours(frame, header=False).decode().split(LINE_END)
    assert lines[0] == "0.0,-0.0" and lines[2] == "9.0,-9.0" and lines[6] == "1e-07,-1e-07"
    assert lines[18] == "," and lines[19] == "inf,-inf"
    small = [v for v in values if not abs(v) < math.inf or abs(v) < 3e38]  # what float32 holds
    assert_same(pd.DataFrame({"x": np.array(small, dtype="float32"), "y": 1}))


def test_ints_bools_and_nullable_columns():
    frame = pd.DataFrame({
        "i64": np.array([0, -1, 2 ** 63 - 1, -(2 ** 63)], dtype="int64"),
        "u8": np.array([0, 1, 200, 255], dtype="uint8"),
        "i32": np.array([5, -5, 7, 0], dtype="int32"),
        "nullable": pd.array([1, None, -3, 2 ** 40], dtype="Int64"),
        "all_na": pd.array([None] * 4, dtype="Int32"),
        "flag": [True, False, True, False],
        "maybe": pd.array([True, None, False, None], dtype="boolean"),
        "score": [64.72, np.nan, 51.0, 0.5],
    })
    assert_same(frame)
    assert ours(frame, header=False).decode().split(LINE_END)[1] == "-1,1,-5,,,False,,"


def test_chat_text_gets_excel_prefix_and_bom_through_outputs(tmp_path):
    frame = pd.DataFrame({"conversation_id": ["c1", "c2", "c3"], "evidence": ["=HYPERLINK(\"x\")", "正常, 文本", None],
                          "points": [1.0, np.nan, 2.5]})
    path = tmp_path / "findings.csv"
    outputs._csv(frame, path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data == b"\xef\xbb\xbf" + pandas_bytes(frame)
    assert "'=HYPERLINK" in data.decode("utf-8-sig")


def test_empty_frames_and_empty_spool_write_the_header(tmp_path):
    frame = pd.DataFrame({"a": pd.Series(dtype="str"), "b": pd.Series(dtype="float64"),
                          "needs, quotes": pd.Series(dtype="Int64")})
    assert_same(frame)
    assert ours(frame) == b'a,b,"needs, quotes"' + LINE_END.encode()
    with FrameSpool("findings", ["a", "b"], workdir=tmp_path) as spool:
        spool.add(frame[["a", "b"]])  # no rows: no part, but the dtypes for the header
        outputs._csv(spool, tmp_path / "empty.csv", ["a", "b"])
    assert (tmp_path / "empty.csv").read_bytes() == "\ufeffa,b".encode() + LINE_END.encode()


def test_spool_parts_append_without_repeating_the_header(tmp_path):
    rng = np.random.default_rng(7)
    with FrameSpool("findings", ["id", "v"], workdir=tmp_path) as spool:
        frames = [pd.DataFrame({"id": [f"c{i},{j}" for j in range(5)], "v": rng.normal(size=5)}) for i in range(3)]
        for f in frames:
            spool.add(f)
        outputs._csv(spool, tmp_path / "parts.csv", ["id", "v"])
        whole = pd.concat(list(spool.frames()), ignore_index=True)
    assert (tmp_path / "parts.csv").read_bytes() == "\ufeff".encode() + pandas_bytes(whole)


def test_unsupported_dtypes_fall_back_to_pandas():
    n = pd.Series([1, 2, 3])
    cases = {
        "datetime": pd.DataFrame({"t": pd.to_datetime(["2026-01-01 10:00", None, "2026-01-02 00:00"]), "n": n}),
        "category": pd.DataFrame({"c": pd.Categorical(["a", "b,c", None]), "n": n}),
        "mixed objects": pd.DataFrame({"o": pd.Series(["a", 1.5, None], dtype=object), "n": n}),
        "nullable float": pd.DataFrame({"f": pd.array([1.0, None, 0.1], dtype="Float64"), "n": n}),
        "one column": pd.DataFrame({"only": ["", None, "x"]}),
        "no columns": pd.DataFrame(index=range(2)),
        "number labels": pd.DataFrame({0: ["a", "b", "c"], 1: n}),
    }
    for name, frame in cases.items():
        assert encode_rows(frame) is None, name
        assert ours(frame) == pandas_bytes(frame), name


# ---------------------------------------------------------------------------- quoting and properties
def test_quoting_matches_the_csv_module_for_every_character():
    """The characters that make this Python's csv module quote a field are exactly
    QUOTED_CHARACTERS, over all of Unicode's BMP (and a few astral characters)."""
    chars = [chr(i) for i in range(0x10000) if not 0xD800 <= i < 0xE000] + ["😀", "\U00020000", "\U0010FFFF"]
    quoted = set()
    for ch in chars:
        buf = io.StringIO()
        csv.writer(buf, lineterminator=LINE_END).writerow([f"a{ch}b", "x"])
        if buf.getvalue().startswith('"'):
            quoted.add(ch)
    assert quoted == set(QUOTED_CHARACTERS)
    frame = pd.DataFrame({"text": [f"a{ch}b" for ch in chars], "n": range(len(chars))})
    assert_same(frame)


def _random_doubles(rng, size: int) -> np.ndarray:
    """Doubles from random bit patterns (every magnitude, subnormals, inf, NaN) and random decimals."""
    bits = rng.integers(0, 2 ** 64, size=size, dtype=np.uint64).view(np.float64)
    places = 10.0 ** rng.integers(0, 6, size=size)  # like the scores' round(x, 2)
    decimals = np.round(rng.normal(scale=10.0 ** rng.integers(-8, 20, size=size)) * places) / places
    return np.concatenate([bits, decimals, rng.integers(-10 ** 6, 10 ** 6, size=size).astype(float)])


def test_random_floats_match_numpy_text():
    rng = np.random.default_rng(20261123)
    values = _random_doubles(rng, 30_000)
    assert_same(pd.DataFrame({"x": values, "y": values[::-1].copy()}))


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(st.one_of(st.none(), st.text(alphabet=st.sampled_from(list(',"\r\n \t=\'a中😀\x00'))
                                                                                    | st.characters(blacklist_categories=["Cs"]))),
                               st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
                               st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
                               st.booleans()), max_size=30))
def test_random_rows_match_pandas(rows):
    frame = pd.DataFrame({
        "text": pd.Series([r[0] for r in rows], dtype="str"),
        "value": pd.Series([math.nan if r[1] is None else r[1] for r in rows], dtype="float64"),
        "count": pd.Series([r[2] for r in rows], dtype="int64"),
        "flag": pd.Series([r[3] for r in rows], dtype="bool"),
    })
    assert_same(frame)


def test_line_end_is_pandas_default():
    """pandas writes os.linesep; the module says the same, so the bytes match on any platform."""
    assert pandas_bytes(pd.DataFrame({"a": [1], "b": [2]})).endswith(LINE_END.encode())
    assert sys.platform == "win32" or LINE_END == "\n"


def test_a_large_frame_is_written_in_slices_with_the_same_bytes(tmp_path, monkeypatch):
    """conversations.csv at 200k conversations goes out ROWS_PER_SLICE rows at a time (bounded
    buffers) and reads as one pandas to_csv; a datetime column keeps the frame whole."""
    monkeypatch.setattr(outputs, "ROWS_PER_SLICE", 7)
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"conversation_id": [f"C{i:05d}" for i in range(30)], "score": rng.normal(60, 20, 30).round(2),
                          "evidence": ["=1+1" if i % 9 == 0 else f"第{i}条, \"引号\"" for i in range(30)]})
    slices = list(outputs._slices(frame))
    assert [len(s) for s in slices] == [7, 7, 7, 7, 2]
    outputs._csv(frame, tmp_path / "sliced.csv")
    assert (tmp_path / "sliced.csv").read_bytes() == b"\xef\xbb\xbf" + pandas_bytes(frame)
    assert "'=1+1" in (tmp_path / "sliced.csv").read_text(encoding="utf-8-sig")
    # pandas formats a datetime column as a whole (fractions for all, if one has them): never sliced
    timed = frame.assign(at=pd.Timestamp("2026-11-23 10:00:00") + pd.to_timedelta(np.arange(30) * 1.5, unit="s"))
    assert len(list(outputs._slices(timed))) == 1
    outputs._csv(timed, tmp_path / "timed.csv")
    assert (tmp_path / "timed.csv").read_bytes() == b"\xef\xbb\xbf" + pandas_bytes(timed)
