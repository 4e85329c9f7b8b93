"""Rows into the store's types (text times → TIMESTAMP, nullable booleans → NULL) and back into a run's frames."""
from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from csqa.core.errors import ConfigError
from csqa.outputs.store.schema import TIME_FIELDS


def on_disk(table) -> bool:
    """A spool of Parquet parts (csqa.results.spool.FrameSpool) rather than a DataFrame."""
    return not isinstance(table, pd.DataFrame) and hasattr(table, "parts")


def quoted(name: str) -> str:
    return f'"{name}"'


def _to_ts(series: pd.Series) -> pd.Series:
    """Date-times of a column (text or stamps); NaT for missing, "" and what does not parse."""
    s = series.astype("object")
    s = s.where(s.notna() & (s != ""), None)
    return pd.to_datetime(s, errors="coerce")


def store_frame(df: pd.DataFrame, fields: list[str], tags: dict) -> pd.DataFrame:
    out = pd.DataFrame({k: [v] * len(df) for k, v in tags.items()})
    for f in fields:
        col = df[f] if f in df.columns else pd.Series([None] * len(df))
        col = col.reset_index(drop=True)
        if f in TIME_FIELDS:
            col = _to_ts(col)
        elif col.dtype == "boolean" or col.dtype == bool:
            col = col.astype("object").where(col.notna(), None)
        elif str(col.dtype) in ("str", "string"):
            col = col.astype("object")
        out[f] = col
    return out


def as_run_frame(df: pd.DataFrame, table) -> pd.DataFrame:
    """Times back to the 'YYYY-MM-DD HH:MM:SS' text of the CSVs ('' when unknown); the other columns to
    their declared `read_back` dtype (`csqa.results.columns`)."""
    out = df.copy()
    for col in TIME_FIELDS & set(out.columns):
        ts = pd.to_datetime(out[col], errors="coerce")
        out[col] = ts.dt.strftime("%Y-%m-%d %H:%M:%S").where(ts.notna(), "")
    for c in table.columns:
        if c.read_back and c.name in out.columns:
            out[c.name] = out[c.name].fillna("") if c.read_back == "text" else out[c.name].astype(c.read_back)
    return out


def day(value) -> datetime:
    if isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        d = datetime.strptime(str(value).strip()[:10], "%Y-%m-%d")
    except ValueError as exc:
        raise ConfigError(f"日期 {value!r} 无法识别，请用 YYYY-MM-DD (例如 2026-11-01)") from exc
    return d


def created(manifest: dict) -> datetime:
    started = manifest.get("started_at")
    try:
        return pd.Timestamp(started).tz_localize(None).to_pydatetime() if started else datetime.now()
    except (ValueError, TypeError):
        try:
            return pd.Timestamp(started).tz_convert(None).to_pydatetime()
        except (ValueError, TypeError):
            return datetime.now()


def new_run_id() -> str:
    import secrets

    return datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
