"""Write a run's outputs into OUTDIR atomically: everything goes to a stage folder beside OUTDIR
first, which then replaces OUTDIR in one rename (`csqa.runtime.workspace.OutputDir`), so a crash or kill
leaves OUTDIR as the previous run or the new one, whole."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd

from csqa.runtime import testhook
from csqa.csv_writer import write_csv_part
from csqa.core.errors import writing
from csqa.runtime.workspace import OutputDir

UTF8_BOM = "\ufeff".encode("utf-8")


def _contract_columns() -> dict[str, list[str]]:
    from csqa.report.tables import AGENT_COLUMNS, CONVERSATION_COLUMNS, FINDING_COLUMNS

    from csqa.review.human_score import REVIEW_AGENT_COLUMNS, REVIEW_CONVERSATION_COLUMNS

    # (the review columns only where the table has them: `csqa report` on a reviewed store)
    return {"conversations": CONVERSATION_COLUMNS + REVIEW_CONVERSATION_COLUMNS, "findings": FINDING_COLUMNS + ["finding_id"],
            "agents": AGENT_COLUMNS + REVIEW_AGENT_COLUMNS}


def _csv(table, path: Path, columns: list[str] | None = None) -> None:
    """A DataFrame, or a spool of parts (`csqa.engines.spool.FrameSpool`) written part by part.
    The bytes are pandas' `to_csv(index=False)` of the safe cells (`csqa.report.safety.safe_frame`:
    every text cell, ids included), encoded by `csqa.csv_writer` (much less CPU)."""
    parts = _slices(table) if isinstance(table, pd.DataFrame) else table.frames(columns)
    empty = table if isinstance(table, pd.DataFrame) else table.empty_frame()
    # UTF-8 with BOM so Excel opens Chinese text correctly
    with writing(path), open(path, "wb") as fh:
        testhook.point(f"write:{path.name}", path)
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


def write_outputs(outdir: Path | OutputDir, tables: dict[str, pd.DataFrame], manifest: dict | Callable[[], dict] | None,
                  html: str | None, xlsx_sheets: dict[str, pd.DataFrame] | None,
                  extra_files: dict[str, Callable[[Path], None]] | None = None) -> list[Path]:
    """tables → NAME.csv (conversations/findings/agents keep to the contract's columns),
    html → report.html, xlsx_sheets → report.xlsx, extra_files: {file name: writer(path)}
    (e.g. results.duckdb), manifest → run.json last (a callable is called then, so it can
    carry the time the other files took).

    outdir: a folder, replaced as a whole by the new files here (`OutputDir.publish`), or an
    `OutputDir` whose stage gets the files (its owner publishes it)."""
    own = not isinstance(outdir, OutputDir)
    target = OutputDir(outdir) if own else outdir
    stage = target.stage
    names: list[str] = []
    contract = _contract_columns()
    try:
        for name, df in tables.items():
            _csv(df, stage / f"{name}.csv", contract.get(name))
            names.append(f"{name}.csv")
        testhook.point("outputs:csv-written", stage)
        if html is not None:
            with writing(stage / "report.html"):
                (stage / "report.html").write_text(html, encoding="utf-8")
            names.append("report.html")
        if xlsx_sheets is not None:
            from csqa.report.xlsx import write_xlsx

            with writing(stage / "report.xlsx"):
                write_xlsx(stage / "report.xlsx", xlsx_sheets)
            names.append("report.xlsx")
        for name, writer in (extra_files or {}).items():
            writer(stage / name)
            names.append(name)
        # run.json last: its presence says the rest is complete
        if callable(manifest):
            manifest = manifest()
        if manifest is not None:
            with writing(stage / "run.json"):
                testhook.point("write:run.json", stage / "run.json")
                (stage / "run.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str),
                                                encoding="utf-8")
            names.append("run.json")
        if own:
            target.publish()
    finally:
        if own:
            target.discard()
    return [target.path / name for name in names]
