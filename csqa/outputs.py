"""Write a run's outputs into OUTDIR atomically: everything goes to a temporary folder first,
then each file is moved into place, so a crash never leaves half-written files."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd

from csqa.csv_writer import write_csv_part

UTF8_BOM = "\ufeff".encode("utf-8")


def _contract_columns() -> dict[str, list[str]]:
    from csqa.report.tables import AGENT_COLUMNS, CONVERSATION_COLUMNS, FINDING_COLUMNS

    return {"conversations": CONVERSATION_COLUMNS, "findings": FINDING_COLUMNS, "agents": AGENT_COLUMNS}


def _csv(table, path: Path, columns: list[str] | None = None) -> None:
    """A DataFrame, or a spool of parts (`csqa.engines.spool.FrameSpool`) written part by part.
    The bytes are pandas' `to_csv(index=False)` of the safe cells (`csqa.report.safety.safe_frame`:
    every text cell, ids included), encoded by `csqa.csv_writer` (much less CPU)."""
    parts = _slices(table) if isinstance(table, pd.DataFrame) else table.frames(columns)
    empty = table if isinstance(table, pd.DataFrame) else table.empty_frame()
    # UTF-8 with BOM so Excel opens Chinese text correctly
    with open(path, "wb") as fh:
        fh.write(UTF8_BOM)
        header = True
        for df in parts:
            _csv_part(df, fh, columns, header)
            header = False
        if header:
            _csv_part(empty, fh, columns, True)


# A large frame (conversations.csv at 200k conversations) is encoded this many rows at a time:
# the encoder's text buffers then stay small however long the run.
ROWS_PER_SLICE = 50_000


def _slices(frame: pd.DataFrame):
    """The frame in row slices, which encode to the same bytes as the whole frame — unless a
    column is a datetime (pandas picks one format for a whole datetime column): then whole."""
    if len(frame) <= ROWS_PER_SLICE or any(pd.api.types.is_datetime64_any_dtype(t) for t in frame.dtypes):
        yield frame
        return
    for start in range(0, len(frame), ROWS_PER_SLICE):
        yield frame.iloc[start:start + ROWS_PER_SLICE]


def _csv_part(df: pd.DataFrame, fh, columns: list[str] | None, header: bool) -> None:
    out = df[[c for c in columns if c in df.columns]] if columns else df
    write_csv_part(out, fh, header)  # (every text cell made safe there: csqa.report.safety.safe_cell)


def write_outputs(outdir: Path, tables: dict[str, pd.DataFrame], manifest: dict | Callable[[], dict] | None, html: str | None,
                  xlsx_sheets: dict[str, pd.DataFrame] | None,
                  extra_files: dict[str, Callable[[Path], None]] | None = None) -> list[Path]:
    """tables → NAME.csv (conversations/findings/agents keep to the contract's columns),
    html → report.html, xlsx_sheets → report.xlsx, extra_files: {file name: writer(path)}
    (e.g. results.duckdb), manifest → run.json last (a callable is called then, so it can
    carry the time the other files took). All moved into OUTDIR at the end."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".csqa-tmp-", dir=outdir))
    written: list[Path] = []
    contract = _contract_columns()
    try:
        for name, df in tables.items():
            _csv(df, tmp / f"{name}.csv", contract.get(name))
        if html is not None:
            (tmp / "report.html").write_text(html, encoding="utf-8")
        if xlsx_sheets is not None:
            from csqa.report.xlsx import write_xlsx

            write_xlsx(tmp / "report.xlsx", xlsx_sheets)
        for name, writer in (extra_files or {}).items():
            writer(tmp / name)
        # run.json last: its presence says the rest is complete
        if callable(manifest):
            manifest = manifest()
        if manifest is not None:
            (tmp / "run.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        for item in sorted(tmp.iterdir(), key=lambda p: p.name == "run.json"):
            target = outdir / item.name
            os.replace(item, target)
            written.append(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written
