"""One rule for every text cell csqa writes (`csqa.outputs.safety.safe_cell`): no spreadsheet
formula, no control character — in every CSV and every sheet of report.xlsx, ids included,
and no control character in report.html."""
from __future__ import annotations

import csv
import json
import random

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csqa.outputs.safety import (CONTROL_CHARS, FORMULA_CHARS, LEADING_IGNORED, excel_safe_list, excel_safe_series,
                                safe_arrow, safe_cell, safe_frame, strip_controls)

from conftest import write_rows

FORMULAS = ["=HYPERLINK(\"http://x\",\"点我\")", "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\r=1",
            "  =1+1", "\u3000＝1+1", "＋1", "－1", "＠SUM(A1)", "\u00a0=1", "\u200b=1", "\ufeff@x", "−1", "\x00=1",
            "\x1b=1"]


def is_risky(text: str) -> bool:
    """What a spreadsheet could take for a formula: the OWASP characters first, or after whitespace."""
    body = text.lstrip(LEADING_IGNORED)
    return text[:1] in ("\t", "\r") or (body[:1] != "" and body[:1] in FORMULA_CHARS)


def has_control(text: str) -> bool:
    return any(c in CONTROL_CHARS for c in text)


def test_safe_cell_examples():
    for text in FORMULAS:
        out = safe_cell(text)
        assert out.startswith("'") and not has_control(out), (text, out)
    assert safe_cell("a\x1b[31mb\x00c\x7f\x85d") == "a[31mbcd"
    assert safe_cell("第一行\n第二行\t制表\r") == "第一行\n第二行\t制表\r"  # tab, LF, CR stay inside a cell
    for text in ["普通文本", "a=b", "'=already", "", " 空格开头", "(=1)", "１２３", "—"]:
        assert safe_cell(text) == text
    assert safe_cell(None) is None and safe_cell(3) == 3
    assert strip_controls("<p>\x00a\x1b</p>\n") == "<p>a</p>\n"


def _every_code_point() -> list[str]:
    return [chr(i) for i in range(0x10000) if not 0xD800 <= i < 0xE000] + ["😀", "\U00020000"]


def test_the_bulk_forms_equal_safe_cell_for_every_character():
    """safe_arrow (Arrow/RE2), excel_safe_list and excel_safe_series give safe_cell's cells for
    every code point first, after a space, after a full-width space and inside a text."""
    texts = []
    for ch in _every_code_point():
        texts += [ch, f"{ch}x", f" {ch}1", f"\u3000{ch}", f"a{ch}b"]
    want = [safe_cell(t) for t in texts]
    assert safe_arrow(pa.array(texts, pa.large_string())).to_pylist() == want
    assert excel_safe_list(texts) == want
    assert excel_safe_series(pd.Series(texts, dtype="str")).tolist() == want
    for t, w in zip(texts, want):
        assert not has_control(w) and (not is_risky(w) or w.startswith("'")), (t, w)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(list(FORMULA_CHARS + LEADING_IGNORED[:8] + "\x00\x1b\x9fa中'\u3000"))),
                          st.text()), max_size=20))
def test_random_texts(values):
    values = [v if v is None else v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for v in values]
    want = [safe_cell(v) for v in values]
    assert safe_arrow(pa.array(values, pa.large_string())).to_pylist() == want  # (nulls: the RE2 search)
    filled = [v or "" for v in values]  # no nulls: the byte scan
    assert safe_arrow(pa.array(filled, pa.large_string())).to_pylist() == [safe_cell(v) for v in filled]
    assert safe_arrow(pa.array(filled, pa.string())).to_pylist() == [safe_cell(v) for v in filled]
    assert excel_safe_list(values) == want
    for w in want:
        assert w is None or (not has_control(w) and (not is_risky(w) or w.startswith("'")))


def test_safe_frame_covers_object_string_categorical_and_index():
    frame = pd.DataFrame({"a": pd.Series(["=1", None], dtype="str"), "b": pd.Series(["+x", 2], dtype=object),
                          "c": pd.Categorical(["@c", "ok"]), "n": [1.0, 2.0]})
    frame.index = pd.Index(["-i", "j"])
    out = safe_frame(frame)
    assert out["a"].tolist()[0] == "'=1" and pd.isna(out["a"].tolist()[1])
    assert out["b"].tolist() == ["'+x", 2] and out["c"].tolist() == ["'@c", "ok"]
    assert out.index.tolist() == ["'-i", "j"] and out["n"].tolist() == [1.0, 2.0]
    assert frame["a"].tolist()[0] == "=1"  # (a copy: the caller's frame is left alone)


# ---------------------------------------------------------------------------- every file of a run
@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, run_cli, sample_rows):
    """`csqa score` on an export whose ids, agent names and texts are formulas and control characters."""
    header, rows = sample_rows
    first = rows[0][0]
    conv = [r for r in rows if r[0] == first]
    hostile = []
    for k, cid in enumerate(["=HYPERLINK(\"http://evil\",\"x\")", "+cmd|' /C calc'!A0", "\u3000＝1+1", "-2+3"]):
        for j, r in enumerate(conv):
            text = "=1+1 " + r[4] if j == 0 else r[4]
            hostile.append([cid, r[1], r[2], ["@SUM(A1)", "－客服", "\tshop", " +x"][k], text])
    hostile[1][4] = "\x1b[31m" + hostile[1][4]  # (a raw control or two: more would make the file look binary)
    hostile.append(["=bad", "不是时间", "顾客", "@a", "=2+2\x1b"])  # a reject with a formula in its raw text
    tmp = tmp_path_factory.mktemp("hostile")
    path = write_rows(tmp / "hostile.csv", header, hostile)
    # NUL reaches the text through a JSON escape (a raw NUL byte makes a CSV look binary)
    jsonl = tmp / "hostile.jsonl"
    jsonl.write_text("\n".join(json.dumps(dict(zip(header, ["\x00=nul" + r[0], r[1], r[2], "\x07" + r[3], "\x1b[2J" + r[4] + "\x00"])),
                                           ensure_ascii=True) for r in conv), encoding="utf-8")
    run = run_cli("score", path, jsonl, "--no-model", outdir=tmp / "out")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    return tmp / "out"


def test_every_csv_cell_is_safe(hostile_run):
    seen = 0
    for name in ("conversations.csv", "findings.csv", "agents.csv", "rejects.csv"):
        with open(hostile_run / name, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) > 1, name
        for row in rows[1:]:
            for cell in row:
                assert not has_control(cell), (name, cell)
                assert not is_risky(cell) or cell.startswith("'"), (name, cell)
                seen += cell.startswith("'")
    conversations = pd.read_csv(hostile_run / "conversations.csv", encoding="utf-8-sig", dtype=str)
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in conversations["conversation_id"].tolist()
    assert "'@SUM(A1)" in conversations["agent_id"].tolist()
    assert "'＝1+1" in conversations["conversation_id"].tolist()  # (ingest trims the id's space)
    assert seen >= 8


def test_every_xlsx_cell_is_safe(hostile_run):
    import openpyxl

    wb = openpyxl.load_workbook(hostile_run / "report.xlsx")
    texts = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    assert not has_control(cell.value), (ws.title, cell.value)
                    assert not is_risky(cell.value) or cell.value.startswith("'"), (ws.title, cell.value)
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in texts


def test_report_html_has_no_control_characters(hostile_run):
    html = (hostile_run / "report.html").read_text(encoding="utf-8")
    assert not has_control(html)
    assert "[31m" in html  # the rest of the text is there


def test_store_keeps_the_text_as_read(hostile_run):
    """The store holds data, not a sheet: ids stay as they were (joins and later runs need them)."""
    import duckdb

    con = duckdb.connect(str(hostile_run / "results.duckdb"), read_only=True)
    ids = {r[0] for r in con.execute("SELECT conversation_id FROM conversations").fetchall()}
    con.close()
    assert "=HYPERLINK(\"http://evil\",\"x\")" in ids


def test_classify_output_is_safe(tmp_path, run_cli):
    source = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["=HYPERLINK(\"http://evil\")", "\x1b[2J快递太慢了，我要投诉", "+1 好的"]}).to_csv(source, index=False)
    run = run_cli("classify", source, "--text-column", "text", "-o", tmp_path / "out.csv")
    if run.exit_code != 0:
        pytest.skip(f"classify not available here: {run.stderr or run.exception}")
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as fh:
        for row in list(csv.reader(fh))[1:]:
            for cell in row:
                assert not has_control(cell) and (not is_risky(cell) or cell.startswith("'")), cell


def test_random_ids_round_trip_through_safe_cell():
    rng = random.Random(1)
    for _ in range(200):
        text = "".join(rng.choice(FORMULA_CHARS + " \u3000a中\x1b") for _ in range(rng.randint(0, 6)))
        out = safe_cell(text)
        assert safe_cell(out) == out  # once safe, stays as it is
