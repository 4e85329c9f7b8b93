"""Are two `csqa score` output folders the same, apart from what must differ between runs?

For a restructuring that must not change results: run the old and the new code on the same export and
compare the folders. What may differ, and only that, is ignored: the run id, the start time, the
timings and peak memory, the output paths, and the generation time printed in the report.

- the CSV files: byte for byte;
- run.json: key by key, without the volatile keys;
- report.html: line by line, with the run id and generation time blanked;
- report.xlsx: every cell of every sheet (the zip's timestamps always differ);
- results.duckdb: every table and view, row by row, with run ids and times blanked.

    python benchmarks/compare_outputs.py OLD_DIR NEW_DIR      # exit 0 when the same, 1 with the differences
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

CSV_FILES = ("conversations.csv", "findings.csv", "agents.csv", "rejects.csv")
VOLATILE_KEYS = {"started_at", "finished_at", "run_id", "store", "output_dir", "timings", "peak_rss_mb",
                 "peak_rss_mb_by_stage", "timings_s", "path", "workers_peak_rss_mb", "stage_rss_mb", "outdir", "elapsed_s"}
RUN_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}")
GENERATED = re.compile(r"生成时间 \d{4}-\d\d-\d\d \d\d:\d\d|generated \d{4}-\d\d-\d\d \d\d:\d\d")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?")


def _stable_json(value):
    if isinstance(value, dict):
        return {k: _stable_json(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_stable_json(v) for v in value]
    if isinstance(value, str):
        return RUN_ID.sub("RUN", value)
    return value


def _differences_json(old: Path, new: Path) -> list[str]:
    a = _stable_json(json.loads(old.read_text(encoding="utf-8")))
    b = _stable_json(json.loads(new.read_text(encoding="utf-8")))
    out = []

    def walk(x, y, where):
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                if k not in x or k not in y:
                    out.append(f"run.json {where}/{k}: only in {'new' if k not in x else 'old'}")
                else:
                    walk(x[k], y[k], f"{where}/{k}")
        elif x != y:
            out.append(f"run.json {where}: {str(x)[:120]} != {str(y)[:120]}")

    walk(a, b, "")
    return out


def _differences_html(old: Path, new: Path) -> list[str]:
    def lines(p):
        return [GENERATED.sub("GEN", RUN_ID.sub("RUN", line)) for line in p.read_text(encoding="utf-8").splitlines()]

    a, b = lines(old), lines(new)
    if a == b:
        return []
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return [f"report.html line {i + 1}: {a[i][:160] if i < len(a) else '(end)'!r} != "
            f"{b[i][:160] if i < len(b) else '(end)'!r}"]


def _differences_xlsx(old: Path, new: Path) -> list[str]:
    from openpyxl import load_workbook

    def cells(p):
        wb = load_workbook(p, read_only=True)
        out = {}
        for ws in wb.worksheets:
            rows = [list(row) for row in ws.iter_rows(values_only=True)]
            for row in rows:  # the generation time is a label cell followed by its value
                for i, v in enumerate(row):
                    if v == "生成时间" and i + 1 < len(row):
                        row[i + 1] = "GEN"
            out[ws.title] = [tuple(GENERATED.sub("GEN", RUN_ID.sub("RUN", v)) if isinstance(v, str) else v for v in row)
                             for row in rows]
        wb.close()
        return out

    a, b = cells(old), cells(new)
    if list(a) != list(b):
        return [f"report.xlsx sheets {list(a)} != {list(b)}"]
    out = []
    for sheet in a:
        if a[sheet] != b[sheet]:
            rows = next((i for i, (x, y) in enumerate(zip(a[sheet], b[sheet])) if x != y), min(len(a[sheet]), len(b[sheet])))
            out.append(f"report.xlsx sheet {sheet} row {rows + 1} differs ({len(a[sheet])} vs {len(b[sheet])} rows)")
    return out


def _differences_store(old: Path, new: Path) -> list[str]:
    import duckdb

    def contents(p):
        con = duckdb.connect(str(p), read_only=True)
        try:
            names = [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables ORDER BY table_name").fetchall()]
            out = {}
            for name in names:
                rel = con.execute(f'SELECT * FROM "{name}"')
                cols = [d[0] for d in rel.description]
                rows = []
                for row in rel.fetchall():
                    rows.append(tuple("T" if col in ("created_at", "started_at", "finished_at", "scored_at", "recorded_at") else
                                      (TIMESTAMP.sub("T", RUN_ID.sub("RUN", v)) if isinstance(v, str) else v)
                                      for col, v in zip(cols, row)
                                      if col not in VOLATILE_KEYS and col != "manifest"))
                out[name] = (cols, sorted(rows, key=repr))
            return out
        finally:
            con.close()

    a, b = contents(old), contents(new)
    out = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            out.append(f"results.duckdb {name}: only in {'new' if name not in a else 'old'}")
        elif a[name] != b[name]:
            out.append(f"results.duckdb {name}: contents differ ({len(a[name][1])} vs {len(b[name][1])} rows)")
    return out


def compare(old: Path, new: Path) -> list[str]:
    out = []
    for name in CSV_FILES:
        if (old / name).exists() or (new / name).exists():
            if not (old / name).exists() or not (new / name).exists():
                out.append(f"{name}: missing in one folder")
            elif (old / name).read_bytes() != (new / name).read_bytes():
                out.append(f"{name}: bytes differ")
    for name, fn in (("run.json", _differences_json), ("report.html", _differences_html),
                     ("report.xlsx", _differences_xlsx), ("results.duckdb", _differences_store)):
        if (old / name).exists() and (new / name).exists():
            out.extend(fn(old / name, new / name))
        elif (old / name).exists() != (new / name).exists():
            out.append(f"{name}: missing in one folder")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    args = ap.parse_args()
    diffs = compare(args.old, args.new)
    for line in diffs:
        print(line)
    print("same" if not diffs else f"{len(diffs)} difference(s)")
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
