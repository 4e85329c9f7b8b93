"""Input limits: a workbook that unpacks too large or holds more rows than Excel can is refused
with one clear line (before anything is unpacked); JSONL and CSV rows that cannot be parsed are
rejected one by one with their line numbers and the rest of the file is scored."""
from __future__ import annotations

import csv
import json
import re
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import csqa.ingest.readers as readers

REPO = Path(__file__).resolve().parents[1]
HEADER = ["会话ID", "消息时间", "发送方", "客服账号", "消息内容"]


def _rows(n_conv: int = 3):
    out = []
    for c in range(n_conv):
        out += [[f"C{c}", f"2026-11-02 08:{c:02d}:00", "顾客", "shop_a", "你好，在吗"],
                [f"C{c}", f"2026-11-02 08:{c:02d}:10", "客服", "shop_a", "您好，我是客服小美，请问有什么可以帮您？"],
                [f"C{c}", f"2026-11-02 08:{c:02d}:30", "顾客", "shop_a", "好的谢谢"]]
    return out


def _workbook(path: Path, rows) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def _replace_part(src: Path, dst: Path, name: str, write) -> Path:
    """A copy of the workbook src with the part `name` written by write(stream) (streamed: no big buffer)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        for info in zin.infolist():
            if info.filename == name:
                continue
            zout.writestr(info, zin.read(info.filename))
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(info, "w", force_zip64=True) as fh:
            write(fh)
    return dst


def _csqa(*args, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """csqa as its own process: (the run, the peak RSS in MB of the largest process of that run)."""
    peak = cwd / "peak_rss_kb"
    code = ("import atexit, resource, sys\n"
            "def peak():\n"
            # VmHWM, not RUSAGE_SELF: Linux carries the forking parent's high-water mark across exec,
            # so under a big pytest process RUSAGE_SELF reports pytest's size, not csqa's.
            "    own = int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))\n"
            "    kb = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            f"    open({str(peak)!r}, 'w').write(str(kb))\n"
            "atexit.register(peak)\n"
            "from csqa.cli import main\n"
            "sys.argv[0] = 'csqa'\n"
            "main()\n")
    run = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                         timeout=600, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    return run, int(peak.read_text()) / 1024


@pytest.mark.slow
def test_a_cell_bomb_is_refused_in_one_line_without_unpacking_it(tmp_path):
    """1.2 GB of text in one shared string, packed to ~1 MB: refused from the zip directory alone."""
    plain = _workbook(tmp_path / "plain.xlsx", _rows())
    chunk = b"A" * (1 << 20)

    def bomb(fh):
        fh.write(b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                 b'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>')
        for _ in range(1200):
            fh.write(chunk)
        fh.write(b"</t></si></sst>")

    path = _replace_part(plain, tmp_path / "bomb.xlsx", "xl/sharedStrings.xml", bomb)
    assert path.stat().st_size < 8 << 20
    run, peak_mb = _csqa("score", path, "-o", "out", "--no-model", cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "sharedStrings.xml" in lines[0] and "bomb.xlsx" in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    assert peak_mb < 1024, peak_mb  # (it used to take 6 GB)
    assert not (tmp_path / "out" / "run.json").exists()


def test_limits_from_the_zip_directory(tmp_path):
    plain = _workbook(tmp_path / "plain.xlsx", _rows())
    readers.check_xlsx_limits(plain, "plain.xlsx")  # an ordinary workbook passes

    def repeated(fh):  # 40 MB of one row over and over: a thousand times smaller packed
        row = b'<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c></row>'
        block = row * ((1 << 20) // len(row))
        for _ in range(40):
            fh.write(block)

    def sheet(fh):
        fh.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                 b'spreadsheetml/2006/main"><sheetData>')
        repeated(fh)
        fh.write(b"</sheetData></worksheet>")

    ratio = _replace_part(plain, tmp_path / "ratio.xlsx", "xl/worksheets/sheet1.xml", sheet)
    with pytest.raises(readers.InputError, match="倍"):
        readers.check_xlsx_limits(ratio, "ratio.xlsx")
    with pytest.raises(readers.InputError, match="ratio.xlsx"):
        readers.XlsxReader(ratio, "ratio.xlsx")
    not_zip = tmp_path / "not.xlsx"
    not_zip.write_bytes(b"plain text")
    readers.check_xlsx_limits(not_zip, "not.xlsx")  # (openpyxl's own error says it is no workbook)


def test_a_sheet_that_declares_more_rows_than_excel_is_refused_at_once(tmp_path, run_cli):
    plain = _workbook(tmp_path / "plain.xlsx", _rows())
    with zipfile.ZipFile(plain) as z:
        xml = z.read("xl/worksheets/sheet1.xml")
    big = re.sub(rb'<dimension ref="A1:E\d+"', b'<dimension ref="A1:E7400000"', xml)
    assert big != xml
    path = _replace_part(plain, tmp_path / "rows.xlsx", "xl/worksheets/sheet1.xml", lambda fh: fh.write(big))
    run = run_cli("score", path, "--no-model", outdir=tmp_path / "out")
    assert run.exit_code == 2, (run.stdout, run.stderr)
    assert "1,048,576" in run.stderr and "7,400,000" in run.stderr and "rows.xlsx" in run.stderr


def test_rows_past_excels_last_row_are_refused(tmp_path, run_cli, monkeypatch):
    """A sheet without a (true) dimension: counted while read. (The cap lowered to keep the test small.)"""
    monkeypatch.setattr(readers, "MAX_XLSX_ROWS", 6)
    path = _workbook(tmp_path / "many.xlsx", _rows(3))  # header + 9 rows
    run = run_cli("score", path, "--no-model", outdir=tmp_path / "out")
    assert run.exit_code == 2, (run.stdout, run.stderr)
    assert "many.xlsx" in run.stderr and "6 行" in run.stderr


def test_a_cell_longer_than_excel_allows_rejects_its_row(tmp_path, run_cli):
    rows = _rows(2)
    rows[1][4] = "LONGCELL"
    plain = _workbook(tmp_path / "plain.xlsx", rows)
    with zipfile.ZipFile(plain) as z:  # (openpyxl cuts what it writes at 32,767: the XML is written here)
        xml = z.read("xl/worksheets/sheet1.xml")
    assert b"LONGCELL" in xml
    long_xml = xml.replace(b"LONGCELL", "长".encode() * 40_000)
    path = _replace_part(plain, tmp_path / "long.xlsx", "xl/worksheets/sheet1.xml", lambda fh: fh.write(long_xml))
    run = run_cli("score", path, "--no-model", outdir=tmp_path / "out")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    manifest = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert manifest["rows_rejected"] == 1 and manifest["rows_scored"] == 5
    rejects = list(csv.DictReader(open(tmp_path / "out" / "rejects.csv", encoding="utf-8-sig", newline="")))
    assert rejects[0]["row"] == "3" and "32,767" in rejects[0]["reason"] and rejects[0]["column"] == "消息内容"


def test_jsonl_lines_that_cannot_be_parsed_are_rejected_one_by_one(tmp_path, run_cli):
    good = [dict(zip(HEADER, r)) for r in _rows(2)]
    lines = [json.dumps(good[0], ensure_ascii=False),
             '{"会话ID": "C0", "消息内容": ' + "[" * 200_000 + "]" * 200_000 + "}",  # nested too deeply
             json.dumps(good[1], ensure_ascii=False),
             json.dumps(dict(good[2], 消息内容="坏的 \ud800 代理"), ensure_ascii=True),  # a lone surrogate escape
             '{"会话ID": "C0", broken',  # not JSON
             "[1, 2, 3]",  # JSON, not an object
             json.dumps(dict(good[3], 消息内容="表情 😀"), ensure_ascii=True),  # a surrogate pair: fine
             ""] + [json.dumps(g, ensure_ascii=False) for g in good[4:]]
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_cli("score", path, "--no-model", outdir=tmp_path / "out")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    manifest = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    rejects = list(csv.DictReader(open(tmp_path / "out" / "rejects.csv", encoding="utf-8-sig", newline="")))
    assert [(r["row"], r["reason"].split("(")[-1]) for r in rejects] == [
        ("2", "JSON nested too deeply)"), ("4", "lone surrogate escape)"), ("5", "line is not a JSON object)"),
        ("6", "line is not a JSON object)")]
    assert manifest["rows_rejected"] == 4 and manifest["rows_scored"] == 5
    assert manifest["rows_read"] == manifest["rows_scored"] + manifest["rows_rejected"]


def test_csv_unclosed_quote_at_the_end_rejects_its_row_and_reads_the_rest(tmp_path, run_cli):
    rows = _rows(2)
    lines = [",".join(HEADER)] + [",".join(r) for r in rows]
    lines[3] = lines[3].replace("好的谢谢", '"好的谢谢')  # row 4 opens a quote it never closes
    path = tmp_path / "x.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_cli("score", path, "--no-model", outdir=tmp_path / "out")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    manifest = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert manifest["rows_read"] == 6 and manifest["rows_rejected"] == 1 and manifest["rows_scored"] == 5
    rejects = list(csv.DictReader(open(tmp_path / "out" / "rejects.csv", encoding="utf-8-sig", newline="")))
    assert rejects[0]["row"] == "4" and "unclosed quote" in rejects[0]["reason"]
    conversations = list(csv.DictReader(open(tmp_path / "out" / "conversations.csv", encoding="utf-8-sig", newline="")))
    assert {c["conversation_id"]: c["n_messages"] for c in conversations} == {"C0": "2", "C1": "3"}


def test_a_message_with_line_breaks_at_the_end_stays_one_message(tmp_path, run_cli):
    rows = _rows(1)
    lines = [",".join(HEADER)] + [",".join(r) for r in rows[:-1]] + [",".join(rows[-1][:-1]) + ',"好的\n谢谢, 再见"']
    path = tmp_path / "x.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_cli("score", path, "--no-model", outdir=tmp_path / "out")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    manifest = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert manifest["rows_read"] == 3 and manifest["rows_rejected"] == 0
