"""Parse message times as found in chat exports into naive China time (UTC+8), vectorized.

Accepted: "2026-11-02 09:00:01", "2026/11/2 9:00", "2026年11月2日 09:00:01", ISO 8601 with T
and an optional zone (aware times are converted to UTC+8 and the zone dropped), epoch seconds
and milliseconds (numbers or digit strings; > 1e11 means ms; epochs are UTC, shown in UTC+8),
compact 20261102090001 / 20261102, Excel datetime cells and Excel serial day numbers, and as a
per-value fallback full-width digits and 上午/下午.

The bulk goes through pd.to_datetime with explicit formats (the format that fits a sample of the
column is tried first); only the distinct values left over go through the slow fallback.
"""
from __future__ import annotations

import datetime as _dt
import re
import unicodedata

import numpy as np
import pandas as pd

CHINA_OFFSET = pd.Timedelta(hours=8)
# Times outside this window are treated as unparseable (epoch 0, typos, out-of-range ms).
_EARLIEST = pd.Timestamp("1980-01-01")
_LATEST = pd.Timestamp("2200-01-01")

_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H:%M:%S",
    "%Y年%m月%d日%H:%M",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y年%m月%d日",
    "%Y.%m.%d",
)
_COMPACT = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}

_NUMERIC = re.compile(r"\d+(?:\.\d+)?")
# a zone at the end of an ISO time: Z, +08:00, -0500 (the parse itself checks the rest)
_ZONE_SUFFIX = r"\d(?:[Zz]|[ ]*(?:UTC|GMT)?[+-]\d\d:?\d\d)$"  # [ ] not \s: keeps it in pyarrow
_FALLBACK = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*(?:[Tt]|\s)*"
    r"(?:(上午|下午|晚上|中午|凌晨|早上|AM|PM)?\s*(\d{1,2})\s*[:时点]\s*(\d{1,2})\s*分?"
    r"(?:\s*[:]?\s*(\d{1,2}(?:\.\d+)?)\s*秒?)?\s*(AM|PM)?)?",
    re.IGNORECASE,
)


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse a column of times; returns datetime64[ns] (naive, UTC+8) with NaT where unparseable.

    Blank values give NaT too; tell them apart with is_blank().
    """
    n = len(values)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if n == 0:
        return pd.Series(out, index=values.index, dtype="datetime64[ns]")
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        out[:] = _finish(values.reset_index(drop=True))
        return pd.Series(out, index=values.index, dtype="datetime64[ns]")

    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        out[:] = _from_numbers(pd.Series(values.to_numpy(dtype="float64", na_value=np.nan)))
        return pd.Series(out, index=values.index, dtype="datetime64[ns]")
    if values.dtype != object:  # str dtype: strings or missing
        out[:] = _from_strings(values.astype("str").fillna("").reset_index(drop=True))
        return pd.Series(out, index=values.index, dtype="datetime64[ns]")
    arr = values.to_numpy(dtype=object)
    kinds = np.fromiter((_kind(v) for v in arr), dtype=np.int8, count=n)

    pos = np.flatnonzero(kinds == 1)  # datetime objects
    if len(pos):
        out[pos] = _finish(pd.Series([_datetime_object(v) for v in arr[pos]], dtype="object"))
    pos = np.flatnonzero(kinds == 2)  # numbers
    if len(pos):
        out[pos] = _from_numbers(pd.Series(arr[pos].astype("float64")))
    pos = np.flatnonzero(kinds == 3)  # strings
    if len(pos):
        out[pos] = _from_strings(pd.Series(arr[pos], dtype="str"))
    return pd.Series(out, index=values.index, dtype="datetime64[ns]")


def is_blank(values: pd.Series) -> pd.Series:
    """True where a time cell is missing or only whitespace."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.isna()
    as_str = values.astype("str")
    return values.isna() | (as_str.str.strip() == "")


def _kind(value) -> int:
    if value is None or value is pd.NA or value is pd.NaT:
        return 0
    if isinstance(value, str):
        return 3
    if isinstance(value, (bool, np.bool_)):
        return 3
    if isinstance(value, (_dt.datetime, _dt.date, np.datetime64)):
        return 0 if isinstance(value, np.datetime64) and np.isnat(value) else 1
    if isinstance(value, (int, float, np.integer, np.floating)):
        return 0 if value != value else 2  # NaN -> missing
    return 3


def _datetime_object(value):
    if isinstance(value, _dt.datetime):
        ts = pd.Timestamp(value)
    elif isinstance(value, _dt.date):
        ts = pd.Timestamp(value.year, value.month, value.day)
    else:
        ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None) + CHINA_OFFSET
    return ts


def _finish(parsed: pd.Series, shift: pd.Timedelta | None = None) -> np.ndarray:
    """Drop zones (to UTC+8), shift, blank out implausible times, return datetime64[ns] values."""
    if parsed.dtype == object:
        parsed = pd.to_datetime(parsed, errors="coerce")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None) + CHINA_OFFSET
    if shift is not None:
        parsed = parsed + shift
    parsed = parsed.where((parsed >= _EARLIEST) & (parsed < _LATEST))
    return parsed.to_numpy(dtype="datetime64[ns]")


def _from_numbers(nums: pd.Series) -> np.ndarray:
    """Epoch seconds (1e8..1e11), epoch ms (1e11..1e14), Excel serial days (20000..100000)."""
    out = np.full(len(nums), np.datetime64("NaT"), dtype="datetime64[ns]")
    x = nums.to_numpy(dtype="float64")
    for lo, hi, unit, origin, shift in (
        (1e11, 1e14, "ms", "unix", CHINA_OFFSET),
        (1e8, 1e11, "s", "unix", CHINA_OFFSET),
        (2e4, 1e5, "D", "1899-12-30", None),
    ):
        pos = np.flatnonzero((x >= lo) & (x < hi))
        if len(pos):
            parsed = pd.to_datetime(pd.Series(x[pos]), unit=unit, origin=origin, errors="coerce")
            if unit == "D":
                parsed = parsed.dt.round("ms")
            out[pos] = _finish(parsed, shift)
    return out


def _from_strings(texts: pd.Series) -> np.ndarray:
    out = np.full(len(texts), np.datetime64("NaT"), dtype="datetime64[ns]")
    s = texts.str.strip()
    todo = (s != "").to_numpy(dtype=bool).copy()
    if not todo.any():
        return out
    likely, other = _split_formats(s[todo])

    def try_formats(formats) -> None:
        for fmt in formats:
            if not todo.any():
                return
            pos = np.flatnonzero(todo)
            parsed = pd.to_datetime(s.iloc[pos], format=fmt, errors="coerce").reset_index(drop=True)
            hit = parsed.notna().to_numpy(dtype=bool)
            if hit.any():
                out[pos[hit]] = _finish(parsed[hit])
                todo[pos[hit]] = False

    try_formats(likely)  # usually one format parses the whole column

    if todo.any():
        pos = np.flatnonzero(todo)
        numeric = s.iloc[pos].str.fullmatch(_NUMERIC.pattern).fillna(False).to_numpy(dtype=bool)
        if numeric.any():
            sub = pos[numeric]
            out[sub] = _from_digit_strings(s.iloc[sub].reset_index(drop=True))
            todo[sub] = False

    if todo.any():
        pos = np.flatnonzero(todo)
        aware = s.iloc[pos].str.contains(_ZONE_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
        if aware.any():
            sub = pos[aware]
            parsed = pd.to_datetime(s.iloc[sub], format="ISO8601", utc=True, errors="coerce")
            parsed = parsed.reset_index(drop=True).astype("datetime64[us, UTC]")
            missed = np.flatnonzero(parsed.isna().to_numpy(dtype=bool))
            if len(missed):  # "… 09:00:01 +0800", "…UTC+08:00", "…z": tidy, then retry
                tidy = pd.Series([_tidy_zone(v) for v in s.iloc[sub[missed]]], dtype="str")
                retry = pd.to_datetime(tidy, format="ISO8601", utc=True, errors="coerce")
                parsed.iloc[missed] = retry.astype("datetime64[us, UTC]").to_numpy()
            out[sub] = _finish(parsed)
            todo[sub] = False

    if todo.any():  # leftovers in another format: only formats that fit a sample of them
        try_formats(_split_formats(s[todo], other)[0])

    if todo.any():  # slow path, once per distinct leftover value
        pos = np.flatnonzero(todo)
        leftovers = s.iloc[pos]
        cache = {u: _parse_one(u) for u in pd.unique(leftovers)}
        out[pos] = np.array([cache[v] for v in leftovers], dtype="datetime64[ns]")
    return out


def _tidy_zone(text: str) -> str:
    text = re.sub(r"\s*(?:UTC|GMT)", "", text)
    text = re.sub(r"(\d)\s+([+-]\d)", r"\1\2", text)
    return text[:-1] + "Z" if text.endswith("z") else text


def _split_formats(values: pd.Series, formats=_FORMATS) -> tuple[list[str], list[str]]:
    """Formats that parse some values of a sample (most hits first), and the rest."""
    if len(values) > 200:
        sample = pd.concat([values.iloc[:100], values.iloc[np.linspace(100, len(values) - 1, 100).astype(int)]])
    else:
        sample = values
    present = set("".join(v for v in sample.tolist() if isinstance(v, str)))
    present |= {c.lower() for c in present}  # a literal T also matches t
    scored = []
    for i, fmt in enumerate(formats):
        if _literals(fmt) <= present:
            hits = int(pd.to_datetime(sample, format=fmt, errors="coerce").notna().sum())
        else:  # a separator the format needs is in no sampled value: it parses none (saves the parse)
            hits = 0
        scored.append((-hits, i, fmt))
    scored.sort()
    return [f for h, _, f in scored if h < 0], [f for h, _, f in scored if h == 0]


def _literals(fmt: str) -> frozenset:
    """The characters a value must contain for `fmt` to parse it: the format's literal characters
    but digits and spaces (spaces match any run of whitespace), letters lower-cased (they match
    either case). `_split_formats` compares them with the characters of the sample folded alike."""
    found = _LITERALS.get(fmt)
    if found is None:
        bare = re.sub(r"%.", "", fmt)
        found = _LITERALS[fmt] = frozenset(c.lower() for c in bare if not c.isdigit() and not c.isspace())
    return found


_LITERALS: dict[str, frozenset] = {}


def _from_digit_strings(s: pd.Series) -> np.ndarray:
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
    lengths = s.str.len().to_numpy()
    is_int = ~s.str.contains(".", regex=False).to_numpy(dtype=bool)
    done = np.zeros(len(s), dtype=bool)
    for length, fmt in _COMPACT.items():
        pos = np.flatnonzero(is_int & (lengths == length) & s.str.match(r"(?:19|2\d)").to_numpy(dtype=bool))
        if len(pos):
            parsed = pd.to_datetime(s.iloc[pos], format=fmt, errors="coerce").reset_index(drop=True)
            hit = parsed.notna().to_numpy()
            out[pos[hit]] = _finish(parsed[hit])
            done[pos[hit]] = True
    rest = np.flatnonzero(~done)
    if len(rest):
        out[rest] = _from_numbers(pd.to_numeric(s.iloc[rest], errors="coerce").reset_index(drop=True))
    return out


def _parse_one(text: str):
    """Fallback for one value: full-width forms, 上午/下午, AM/PM, stray spaces; NaT if hopeless."""
    t = unicodedata.normalize("NFKC", text).strip()
    if t != text.strip():  # full-width digits etc.: the fast path may handle the folded text
        again = _from_strings(pd.Series([t], dtype="str"))[0]
        if not np.isnat(again):
            return again
    m = _FALLBACK.fullmatch(t)
    if not m:
        return np.datetime64("NaT")
    year, month, day, ampm, hour, minute, second, ampm2 = m.groups()
    try:
        h = int(hour) if hour else 0
        marker = (ampm or ampm2 or "").lower()
        if marker in ("下午", "晚上", "pm") and h < 12:
            h += 12
        elif marker in ("中午",) and h < 11:
            h += 12
        elif marker in ("am", "上午", "凌晨", "早上") and h == 12:
            h = 0
        sec = float(second) if second else 0.0
        ts = pd.Timestamp(
            year=int(year), month=int(month), day=int(day), hour=h, minute=int(minute or 0),
            second=int(sec), microsecond=int(round((sec - int(sec)) * 1e6)),
        )
    except (ValueError, OverflowError):
        return np.datetime64("NaT")
    if not (_EARLIEST <= ts < _LATEST):
        return np.datetime64("NaT")
    return ts.to_datetime64().astype("datetime64[ns]")
