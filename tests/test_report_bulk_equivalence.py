"""The report's fast paths give exactly what the plain computation gives.

report.html, report.xlsx and the CSVs are built in bulk (one grouping for all agents, lists
instead of per-row pandas access, column-wise xlsx cells, vectorized formula guards). Each
shortcut is compared here with the plain computation it replaced, on the sample run's real
results and on generated frames with the awkward values (ties, missing values, text that
looks like a formula, date-times that do not parse).
"""
from __future__ import annotations

import random
from datetime import datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest

from csqa.outputs.report.builder import build
from csqa.outputs.report.drilldown import _drill_ids
from csqa.outputs.report.figures import _agent_day_points, _agent_mixes, _complaint_mix, _day_range_points
from csqa.outputs.report.frames import _details, _details_pair, _prepare
from csqa.outputs.report.labels import SEVERITY_ZH, _pct, category_zh, check_zh
from csqa.outputs.report.options import ReportOptions
from csqa.outputs.report.sheets import map_distinct
from csqa.outputs.report.statistics import (_focus, _not_applicable_pairs, _rows_by_agent, _sorted_desc,
                                            agent_ranking, agent_rule_rates, rule_statistics)
from csqa.outputs.safety import excel_safe, excel_safe_list, excel_safe_series


# ---------------------------------------------------------------------------- real-looking inputs
@pytest.fixture(scope="module")
def stored(sample_run):
    from csqa.outputs.store import ResultStore

    with ResultStore(sample_run.outdir / "results.duckdb", read_only=True) as rs:
        sel = rs.load()
    return sel


@pytest.fixture(scope="module")
def prepared(stored):
    conv, fnd = _prepare(stored.conversations, stored.findings)
    return conv, fnd


def _with_ties(conv: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    """The sample's conversations with scores rounded (ties) and some days and timings missing."""
    rng = random.Random(seed)
    conv = conv.copy()
    conv["score"] = (conv["score"] // 10) * 10
    for i in rng.sample(range(len(conv)), len(conv) // 10):
        conv.loc[i, "_day"] = None
        conv.loc[i, "first_response_s"] = np.nan
        conv.loc[i, "complaint"] = pd.NA
    return conv


# ---------------------------------------------------------------------------- builder: per-agent figures
def _focus_reference(agent_rules: pd.DataFrame | None, team_rates: dict, k: int = 3) -> list[dict]:
    if agent_rules is None or agent_rules.empty:
        return []
    a = agent_rules.copy()
    a["team"] = a["rule_id"].map(team_rates).fillna(0)
    a["excess"] = a["rate"] - a["team"]
    a = a[(a["excess"] > 0.05) & (a["conversations"] >= 2)].sort_values(["excess", "conversations"], ascending=False)
    return [{"rule_id": r.rule_id, "name": r.rule_name, "check": check_zh(r.check), "k": int(r.conversations),
             "n": int(r.n), "rate": r.rate, "team": r.team,
             "text": f"{r.rule_name} {_pct(r.conversations, r.n)} ({int(r.conversations)}/{int(r.n)}) · 团队 {r.team:.0%}"}
            for r in a.head(k).itertuples()]


def test_focus_and_bar_order_match_the_dataframe_computation(prepared):
    conv, fnd = prepared
    rules = rule_statistics(conv, fnd)
    agent_rules = agent_rule_rates(conv, fnd)
    # ties in rate and conversations, a rule without a team rate
    agent_rules = agent_rules.assign(rate=(agent_rules["rate"] * 4).round() / 4)
    team = dict(zip(rules["rule_id"], rules["rate"]))
    team.pop(next(iter(team)))
    rows = _rows_by_agent(agent_rules)
    for agent, group in agent_rules.groupby("agent_id", sort=False):
        assert _focus(rows[agent], team) == _focus_reference(group, team)
        expected = group.sort_values(["rate", "conversations"], ascending=False)
        got = _sorted_desc(rows[agent], "rate", "conversations")
        assert [r["rule_id"] for r in got] == expected["rule_id"].tolist()
    assert _focus(None, team) == [] and _focus([], team) == []


def test_agent_day_points_match_grouping_each_agent(prepared):
    conv = _with_ties(prepared[0])
    days = sorted(d for d in conv["_day"].dropna().unique())
    points = _agent_day_points(conv)
    for agent, ac in conv.groupby("agent_id"):
        assert _day_range_points(None, days, points.get(agent, ([], []))) == _day_range_points(ac, days)


def test_agent_mixes_match_each_agents_complaint_mix(prepared):
    conv = _with_ties(prepared[0])
    mixes = _agent_mixes(conv)
    for agent, ac in conv.groupby("agent_id"):
        expected = _complaint_mix(ac)
        got = mixes.get(agent, {"n": 0, "rows": []})
        assert got["n"] == expected["n"] and got["rows"] == expected["rows"]
        if expected["n"]:
            assert got["complaints"] == expected["complaints"]


def _not_applicable_reference(conv: pd.DataFrame) -> pd.DataFrame:
    na = conv[["agent_id", "not_applicable"]].copy()
    na["rule_id"] = na["not_applicable"].fillna("").astype(str).str.split(";")
    pairs = na.drop(columns="not_applicable").explode("rule_id")
    pairs = pairs[pairs["rule_id"].notna() & (pairs["rule_id"] != "")]
    return pairs.reset_index().drop_duplicates(["index", "rule_id"]).drop(columns="index")


def test_not_applicable_pairs_match_split_and_explode(prepared):
    conv = prepared[0].copy()
    conv.loc[0, "not_applicable"] = "A;A;;B"
    conv.loc[1, "not_applicable"] = None
    conv.loc[2, "not_applicable"] = ";"
    got, expected = _not_applicable_pairs(conv), _not_applicable_reference(conv)
    assert list(zip(got["agent_id"], got["rule_id"])) == list(zip(expected["agent_id"], expected["rule_id"]))


def _drill_reference(conv, ranking, options):
    ordered = conv.sort_values(["score", "conversation_id"])
    chosen, seen = [], set()

    def add(ids):
        for cid in ids:
            if cid not in seen and len(chosen) < options.max_drilldown:
                seen.add(cid)
                chosen.append(cid)

    add(ordered.loc[ordered["critical"], "conversation_id"])
    add(ordered.loc[ordered["complaint_severity"] == "serious", "conversation_id"])
    for agent in ranking["agent_id"]:
        add(ordered.loc[ordered["agent_id"] == agent, "conversation_id"].head(options.drilldown_per_agent))
    return chosen


@pytest.mark.parametrize("max_drilldown", [400, 30])
def test_drill_ids_match_per_agent_selection(prepared, max_drilldown):
    conv, fnd = prepared
    conv = _with_ties(conv)
    options = ReportOptions(max_drilldown=max_drilldown)
    ranking = agent_ranking(conv, fnd, None, options)
    assert _drill_ids(conv, ranking, options) == _drill_reference(conv, ranking, options)


def test_details_pair_reads_once_and_gives_each_selection(prepared, stored, tmp_path):
    from csqa.results.spool import FrameSpool

    conv, fnd = prepared
    findings = stored.findings
    spool = FrameSpool("findings", list(findings.columns), workdir=tmp_path)
    for part in np.array_split(np.arange(len(findings)), 4):
        spool.add(findings.iloc[part].reset_index(drop=True))
    reads = []

    def finding_details(ids):
        reads.append(ids)
        return spool.select(ids) if ids is not None else pd.concat(list(spool.frames()), ignore_index=True)

    ids = conv["conversation_id"].tolist()
    # (shown, more, spool reads): one read for both, unless a selection is empty
    cases = [(ids[:40], ids[20:90], 1), (ids[:40], None, 1), (ids[:5], ["no-such-id"], 2), ([], ids[:10], 2)]
    for shown, more, n_reads in cases:
        reads.clear()
        got = _details_pair(fnd, shown, more, finding_details, conv)
        assert len(reads) == n_reads
        for part, wanted in zip(got, (shown, more)):
            pd.testing.assert_frame_equal(part, _details(fnd, wanted, finding_details, conv))
    # without a spool: the frame's own rows
    got = _details_pair(fnd, ids[:40], None, None, conv)
    pd.testing.assert_frame_equal(got[0], _details(fnd, ids[:40], None, conv))
    assert got[1] is fnd
    spool.close()


# ---------------------------------------------------------------------------- formula guard
TEXTS = ["=SUM(A1)", "+1", "-1", "@x", "\tq", "\rz", "'=already", "", "普通文本", " =also a formula", "=", "a=b", "—",
         "\u3000＝1", "a\x1bb", "\x00", "－2"]


def test_excel_safe_series_and_list_match_excel_safe():
    rng = random.Random(3)
    values = [rng.choice(TEXTS + [None]) for _ in range(500)]
    text = pd.Series(values, dtype="str")
    expected = text.map(excel_safe)
    got = excel_safe_series(text)
    assert got.isna().tolist() == expected.isna().tolist()
    assert got.fillna("<NA>").tolist() == expected.fillna("<NA>").tolist()
    mixed = pd.Series(values + [1, 2.5, True], dtype=object)
    assert excel_safe_series(mixed).tolist() == mixed.map(excel_safe).tolist()
    assert excel_safe_list(mixed.tolist()) == [excel_safe(v) for v in mixed.tolist()]
    plain = pd.Series(["a", "b"], dtype="str")
    assert excel_safe_series(plain).tolist() == ["a", "b"]


def test_csv_bytes_match_utf8_sig_and_mapped_guard(tmp_path):
    from csqa.outputs.files import _csv

    rng = random.Random(5)
    n = 300
    df = pd.DataFrame({
        "conversation_id": [f"C{i:04d}" for i in range(n)],
        "matched_text": pd.Series([rng.choice(TEXTS + [None]) for _ in range(n)], dtype="str"),
        "evidence": pd.Series([rng.choice(TEXTS) + "，逗号\"引号\"\n换行" for _ in range(n)], dtype="str"),
        "explanation": pd.Series([rng.choice(TEXTS + [None, 3]) for _ in range(n)], dtype=object),
        "points": [rng.choice([1.5, -2.0, np.nan]) for _ in range(n)],
    })
    _csv(df, tmp_path / "fast.csv")
    ref = df.copy()
    for col in ref.columns:  # every text column, ids included
        if ref[col].dtype == object or isinstance(ref[col].dtype, pd.StringDtype):
            ref[col] = ref[col].map(excel_safe)
    with open(tmp_path / "ref.csv", "w", encoding="utf-8-sig", newline="") as fh:
        ref.to_csv(fh, index=False)
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()


# ---------------------------------------------------------------------------- report.xlsx
def _write_xlsx_reference(path, sheets):
    """report.xlsx cell by cell: the plain writer the column-wise one replaced."""
    import xlsxwriter

    from csqa.outputs.report import xlsx as X

    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False, "nan_inf_to_errors": False})
    head = wb.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True, "valign": "top"})
    fmts = {"pct": wb.add_format({"num_format": "0.0%"}), "0.0": wb.add_format({"num_format": "0.0"}),
            "0.00": wb.add_format({"num_format": "0.00"}), "int": wb.add_format({"num_format": "0"}),
            "dt": wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}), "text": wb.add_format({"num_format": "@"}),
            None: None}
    for name, df in sheets.items():
        ws = wb.add_worksheet(name[:31])
        row_fmt = df["_fmt"].tolist() if "_fmt" in df.columns else None
        cols = [c for c in df.columns if c != "_fmt"]
        headers = [X.SHEET_HEADERS.get(name, {}).get(c, X.HEADERS_ZH.get(c, c)) for c in cols]
        widths = [X.display_width(h) + 4 for h in headers]
        for j, h in enumerate(headers):
            ws.write_string(0, j, h, head)
        for j, col in enumerate(cols):
            for i, v in enumerate(df[col].tolist(), start=1):
                if X._missing(v) or (isinstance(v, str) and v == ""):
                    continue
                if col in X.DATETIME_COLUMNS and (dt := X._as_datetime(v)) is not None:
                    ws.write_datetime(i, j, dt, fmts["dt"])
                    shown = "2026-01-01 00:00:00"
                elif isinstance(v, (bool, np.bool_)):
                    ws.write_string(i, j, "是" if v else "否")
                    shown = "是"
                elif isinstance(v, (int, float, np.integer, np.floating)):
                    if col == "value" and row_fmt is not None:
                        f = fmts.get(row_fmt[i - 1])
                    else:
                        f = fmts[X._number_format(col)]
                    ws.write_number(i, j, float(v), f)
                    shown = f"{float(v):.2f}"
                else:
                    shown = excel_safe(str(v))
                    if not shown:  # nothing but control characters: an empty cell
                        continue
                    ws.write_string(i, j, shown)
                if i <= 300:
                    widths[j] = max(widths[j], min(X.display_width(shown), 70) + 2)
        for j, w in enumerate(widths):
            ws.set_column(j, j, min(w, 72))
        ws.freeze_panes(1, 0)
        if cols:
            ws.autofilter(0, 0, max(len(df), 1), len(cols) - 1)
    wb.close()


def _workbook_contents(path):
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        cells = [(c.coordinate, c.value, c.data_type, c.number_format, c.font.b)
                 for row in ws.iter_rows() for c in row if c.value is not None]
        widths = {k: d.width for k, d in ws.column_dimensions.items()}
        out[ws.title] = (cells, widths, ws.freeze_panes, ws.auto_filter.ref)
    return out


def _edge_case_sheet(n: int = 400, seed: int = 11) -> pd.DataFrame:
    rng = random.Random(seed)
    stamps = [rng.choice(["2026-11-20 12:31:35", "2025-01-01 00:00:00", "1900-03-01 06:00:00", "", None])
              for _ in range(n)]
    return pd.DataFrame({
        "conversation_id": pd.Series([rng.choice(TEXTS + [None, "C1"]) for _ in range(n)], dtype="str"),
        "started_at": pd.Series(stamps, dtype="str"),
        "ended_at": pd.Series([s if i % 50 else "not a time" for i, s in enumerate(stamps)], dtype="str"),
        "timestamp": pd.Series(["1900-01-01 10:00:00" if i % 7 == 0 else s for i, s in enumerate(stamps)], dtype="str"),
        "score": [rng.choice([0.0, 55.5, 100.0, np.nan]) for _ in range(n)],
        "n_messages": [rng.randrange(1, 40) for _ in range(n)],
        "message_index": pd.array([rng.choice([1, 2, None]) for _ in range(n)], dtype="Int64"),
        "rate": [rng.random() for _ in range(n)],
        "points": pd.array([rng.choice([1.5, None]) for _ in range(n)], dtype="Float64"),
        "passed": [rng.random() < 0.5 for _ in range(n)],
        "complaint": pd.array([rng.choice([True, False, None]) for _ in range(n)], dtype="boolean"),
        "note": pd.Series([rng.choice([1, "x", None, 2.5, "=1+1", True]) for _ in range(n)], dtype=object),
        "agent_id": pd.Series([rng.choice(["客服甲", "shop_a", "-dash"]) for _ in range(n)], dtype="category"),
    })


def _object_times_sheet() -> pd.DataFrame:
    values = [pd.Timestamp("2026-01-02 03:04:05"), datetime(2026, 5, 6, 7, 8, 9), "2026-01-02 03:04", "x", None, ""]
    return pd.DataFrame({"started_at": pd.Series(values * 5, dtype=object),
                         "ended_at": pd.to_datetime(pd.Series(["2026-01-02 03:04:05", None] * 15))})


def test_xlsx_matches_the_cell_by_cell_writer(tmp_path, stored):
    sheets = build(stored.conversations, stored.findings, None, stored.messages,
                     {"generated_at": "2026-01-01 00:00", "masked": True, "rows_rejected": 0})[1]
    sheets["边界"] = _edge_case_sheet()
    sheets["对象时间"] = _object_times_sheet()
    from csqa.outputs.report.xlsx import write_xlsx

    write_xlsx(tmp_path / "fast.xlsx", sheets)
    _write_xlsx_reference(tmp_path / "ref.xlsx", sheets)
    assert _workbook_contents(tmp_path / "fast.xlsx") == _workbook_contents(tmp_path / "ref.xlsx")


def _zip_parts(path) -> dict[str, bytes]:
    """The workbook's parts, but docProps/core.xml (it carries the time of writing)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def test_xlsx_parts_are_byte_identical_to_the_cell_by_cell_writer(tmp_path):
    """Same cells written in the same order: the sheets' XML and the shared strings are the same bytes
    (so Excel serial date-times computed in bulk equal xlsxwriter's own, to the last digit)."""
    from csqa.outputs.report.xlsx import write_xlsx

    rng = random.Random(2)
    stamps = [f"{rng.randrange(1900, 2100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} "
              f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}" for _ in range(2000)]
    sheets = {"时间": pd.DataFrame({"started_at": pd.Series(stamps, dtype="str"), "score": [rng.random() * 100 for _ in stamps]}),
              "边界": _edge_case_sheet(), "对象时间": _object_times_sheet()}
    write_xlsx(tmp_path / "fast.xlsx", sheets)
    _write_xlsx_reference(tmp_path / "ref.xlsx", sheets)
    assert _zip_parts(tmp_path / "fast.xlsx") == _zip_parts(tmp_path / "ref.xlsx")


def test_xlsx_long_text_sparse_and_mixed_rows_are_byte_identical(tmp_path):
    """Cells the bulk column store hands to xlsxwriter (text past 16k characters, truncated past
    32k) beside bulk ones in the same rows, rows left empty by every column, a column of whole
    numbers next to one of fractions and -0.0, and a sheet that is empty: the same parts as the
    cell-by-cell writer."""
    from csqa.outputs.report.xlsx import write_xlsx

    n = 60
    long_texts = {3: "长" * 20_000, 17: "x" * 40_000, 18: "=" + "y" * 17_000}
    sheets = {
        "长文本": pd.DataFrame({
            "evidence": pd.Series([long_texts.get(i, None if i % 5 == 0 else f"t{i}") for i in range(n)], dtype="str"),
            "note": pd.Series([None if i % 5 == 0 else (i if i % 2 else "文") for i in range(n)], dtype=object),
            "n_messages": pd.array([None if i % 5 == 0 else i * 1000 for i in range(n)], dtype="Int64"),
            "points": [np.nan if i % 5 == 0 else (-0.0 if i == 7 else i / 3) for i in range(n)],
        }),
        "空": pd.DataFrame({"score": pd.Series([], dtype=float)}),
    }
    write_xlsx(tmp_path / "fast.xlsx", sheets)
    _write_xlsx_reference(tmp_path / "ref.xlsx", sheets)
    assert _zip_parts(tmp_path / "fast.xlsx") == _zip_parts(tmp_path / "ref.xlsx")


@pytest.mark.parametrize("values, f", [
    (pd.Series(["apology", None, "", "greeting", "apology"], dtype="str"), check_zh),
    (pd.Series(["critical", "minor", None, "other"], dtype="str"), lambda s: SEVERITY_ZH.get(s, s)),
    (pd.Series(pd.array([True, None, False, True], dtype="boolean")), lambda v: "" if v is pd.NA else ("是" if v else "否")),
    (pd.Series(["refund", "", "refund", None], dtype="str"), lambda c: category_zh(c) if c else ""),
    (pd.Series(["a", "b", "a"], dtype="category"), str.upper),
    (pd.Series([], dtype="str"), check_zh),
])
def test_map_distinct_is_map(values, f):
    """The big sheets' name columns: f once per distinct value gives what Series.map gives."""
    pd.testing.assert_series_equal(map_distinct(values, f), values.map(f))


def test_spool_read_categories_are_those_of_all_rows(tmp_path):
    """The report's figures read part by part as categories (parts with different, missing or no
    values) equal the whole column made categorical at once: same codes, same sorted categories."""
    from csqa.results.spool import FrameSpool

    parts = [pd.DataFrame({"rule_id": pd.Series(ids, dtype="str"), "points": [float(i) for i in range(len(ids))],
                           "check": pd.Series(checks, dtype="str")})
             for ids, checks in ((["B-2", "A-1", None], ["x", "x", "x"]), (["C-3"], [None]), (["A-1", "Z", "B-2", "C-3"], ["y", "x", "甲", "y"]))]
    with FrameSpool("findings", ["rule_id", "points", "check"], workdir=tmp_path) as spool:
        for part in parts:
            spool.add(part)
        got = spool.read(["check", "rule_id", "points"], categorical=("rule_id", "check"))
    whole = pd.concat(parts, ignore_index=True)[["check", "rule_id", "points"]]
    for c in ("rule_id", "check"):
        whole[c] = whole[c].astype("category")
    pd.testing.assert_frame_equal(got, whole)
