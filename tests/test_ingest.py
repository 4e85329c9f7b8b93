"""Ingest: every format, encoding, header style, timestamp form, reject reason and file-level error.

Fixtures are written to tmp_path by the tests themselves; the real-data test reads the JD chats
from <repo>/../shared/data and is skipped when that folder is absent.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from csqa.core.errors import ConfigError, CsqaError, InputError
from csqa.ingest import (
    MESSAGE_COLUMNS,
    REJECT_COLUMNS,
    IngestOptions,
    IngestResult,
    iter_input_chunks,
    parse_timestamps,
    read_inputs,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

HEADER_ZH = ["会话ID", "时间", "发送方", "客服", "内容"]
ROWS = [
    ["000123", "2026-11-02 09:00:01", "顾客", "", "你好，我的快递三天了还没到"],
    ["000123", "2026-11-02 09:00:30", "客服", "007", "您好，很高兴为您服务"],
    ["000124", "2026-11-02 10:00:00", "买家", "", "怎么退货"],
    ["000124", "2026-11-02 10:01:00", "卖家", "A01", "亲，您在订单页点申请退货即可"],
]


def write_csv(path: Path, header, rows, *, encoding="utf-8", delimiter=",") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def write_jsonl(path: Path, lines: list) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n")
    return path


def check_invariants(result: IngestResult) -> None:
    """What the lead builds on: column lists, dtypes and nothing lost."""
    assert list(result.messages.columns) == MESSAGE_COLUMNS
    assert list(result.rejects.columns) == REJECT_COLUMNS
    m = result.messages
    assert str(m["timestamp"].dtype) == "datetime64[ns]"
    assert str(m["source_row"].dtype) == "int64" and str(m["seq"].dtype) == "int64"
    assert str(result.rejects["row"].dtype) == "int64"
    assert set(m["role"]) <= {"agent", "customer", "system"}
    assert not m["conversation_id"].isna().any() and not m["agent_id"].isna().any()
    assert result.rows_read == len(m) + len(result.rejects)
    assert result.rows_read == sum(i["rows_read"] for i in result.inputs)
    assert len(result.rejects) == sum(i["rows_rejected"] for i in result.inputs)
    assert list(m["seq"]) == list(range(len(m)))
    assert (result.rejects["raw"].str.len() <= 2000).all()
    for info in result.inputs:
        assert {"path", "sha256", "format", "encoding", "rows_read", "rows_rejected", "has_time"} <= set(info)
        assert len(info["sha256"]) == 64


def read(paths, **options) -> IngestResult:
    result = read_inputs(paths, IngestOptions(**options))
    check_invariants(result)
    return result


def only_reject(result: IngestResult) -> dict:
    assert len(result.rejects) == 1, result.rejects.to_dict("records")
    return result.rejects.iloc[0].to_dict()


# --------------------------------------------------------------------------- CSV basics


def test_csv_chinese_headers(tmp_path):
    path = write_csv(tmp_path / "export.csv", HEADER_ZH, ROWS)
    result = read([path])
    m = result.messages
    assert len(m) == 4 and result.rejects.empty
    assert list(m["conversation_id"]) == ["000123", "000123", "000124", "000124"]  # leading zeros kept
    assert list(m["role"]) == ["customer", "agent", "customer", "agent"]
    assert list(m["agent_id"]) == ["", "007", "", "A01"]
    assert m["text"].iloc[0] == ROWS[0][4]
    assert m["timestamp"].iloc[1] == pd.Timestamp("2026-11-02 09:00:30")
    assert list(m["source_row"]) == [2, 3, 4, 5]  # header is row 1
    assert set(m["source"]) == {str(path)}
    info = result.inputs[0]
    assert info["format"] == "csv" and info["encoding"] == "utf-8" and info["has_time"] is True
    assert info["rows_read"] == 4 and info["rows_rejected"] == 0


def test_csv_english_headers_case_space_and_bom(tmp_path):
    header = ["Session_ID", " TimeStamp ", "ROLE", "Agent_Id", "Content"]
    rows = [["s1", "2026-11-02 09:00:01", "Customer", "", "hello"], ["s1", "2026-11-02 09:00:02", "Agent", "a7", "hi"]]
    path = write_csv(tmp_path / "en.csv", header, rows, encoding="utf-8-sig")
    result = read(path)  # a single path, not a list
    assert list(result.messages["role"]) == ["customer", "agent"]
    assert list(result.messages["agent_id"]) == ["", "a7"]
    assert result.inputs[0]["encoding"] == "utf-8-sig"


def test_no_agent_column_gives_empty_agent_id(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["会话编号", "角色", "消息内容"], [["1", "客服", "您好"]])
    m = read(path).messages
    assert list(m["agent_id"]) == [""]


@pytest.mark.parametrize(
    "delimiter,suffix", [(",", ".csv"), ("\t", ".tsv"), ("\t", ".csv"), (";", ".csv"), ("|", ".csv"), ("\t", ".txt")]
)
def test_delimiters_are_sniffed(tmp_path, delimiter, suffix):
    rows = [r[:] for r in ROWS]
    rows[0][4] = "带逗号,分号;竖线|的内容"
    path = write_csv(tmp_path / f"d{suffix}", HEADER_ZH, rows, delimiter=delimiter)
    result = read(path)
    assert len(result.messages) == 4 and result.rejects.empty
    assert result.messages["text"].iloc[0] == "带逗号,分号;竖线|的内容"
    assert result.inputs[0]["delimiter"] == delimiter
    assert result.inputs[0]["format"] == ("tsv" if delimiter == "\t" else "csv")


def test_tsv_with_stray_quotes_is_not_swallowed(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text('会话ID\t发送方\t内容\n1\t顾客\t"怎么还没到\n1\t客服\t您说的"那个"订单\n', encoding="utf-8")
    m = read(path).messages
    assert list(m["text"]) == ['"怎么还没到', '您说的"那个"订单']


def test_quoted_multiline_cell_counts_as_one_row(tmp_path):
    path = tmp_path / "ml.csv"
    path.write_text('会话ID,发送方,内容\n1,顾客,"第一行\n第二行"\n1,客服,好的\n', encoding="utf-8")
    m = read(path).messages
    assert list(m["text"]) == ["第一行\n第二行", "好的"]
    assert list(m["source_row"]) == [2, 3]


def test_blank_lines_are_skipped_but_row_numbers_stay_true(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("会话ID,发送方,内容\n\n1,顾客,你好\n,,\n1,客服,您好\n", encoding="utf-8")
    result = read(path)
    assert list(result.messages["source_row"]) == [3, 5]
    assert result.rows_read == 2


def test_trailing_delimiter_is_tolerated(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("会话ID,发送方,内容\n1,顾客,你好,\n", encoding="utf-8")
    result = read(path)
    assert len(result.messages) == 1 and result.rejects.empty


def test_text_is_kept_original_and_ids_stripped(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["会话ID", "发送方", "客服ID", "内容"], [["  42 ", " 客服 ", " 9 ", "  您好  "]])
    m = read(path).messages
    assert m.iloc[0]["conversation_id"] == "42" and m.iloc[0]["agent_id"] == "9"
    assert m.iloc[0]["text"] == "  您好  "


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    "encoding,expected",
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gb18030", "gb18030"),
        ("gbk", "gb18030"),
        ("utf-16", "utf-16"),
    ],
)
def test_encodings_are_detected(tmp_path, encoding, expected):
    rows = [r[:] for r in ROWS]
    if encoding == "gb18030":
        rows[0][4] = "生僻字𠀀与欧元€"  # outside GBK, inside GB18030
    path = write_csv(tmp_path / f"{encoding}.csv", HEADER_ZH, rows, encoding=encoding)
    result = read(path)
    assert result.inputs[0]["encoding"] == expected
    assert list(result.messages["text"]) == [r[4] for r in rows]
    assert list(result.messages["conversation_id"])[0] == "000123"


def test_utf16_tab_separated(tmp_path):
    path = write_csv(tmp_path / "u16.txt", HEADER_ZH, ROWS, encoding="utf-16", delimiter="\t")
    result = read(path)
    assert len(result.messages) == 4 and result.inputs[0]["delimiter"] == "\t"


def test_forced_encoding(tmp_path):
    path = write_csv(tmp_path / "g.csv", HEADER_ZH, ROWS, encoding="gbk")
    result = read(path, encoding="GBK")
    assert result.inputs[0]["encoding"] == "gb18030"
    assert result.messages["text"].iloc[0] == ROWS[0][4]


def test_forced_wrong_encoding_is_input_error(tmp_path):
    path = write_csv(tmp_path / "g.csv", HEADER_ZH, ROWS, encoding="gb18030")
    with pytest.raises(InputError) as err:
        read(path, encoding="utf-8")
    assert str(path) in str(err.value) and "--encoding" in str(err.value)


def test_unknown_forced_encoding_is_config_error(tmp_path):
    path = write_csv(tmp_path / "g.csv", HEADER_ZH, ROWS)
    with pytest.raises(ConfigError, match="未知的编码"):
        read(path, encoding="no-such-codec")


def test_utf8_with_a_damaged_byte_stays_utf8(tmp_path):
    path = write_csv(tmp_path / "d.csv", HEADER_ZH, ROWS * 5)
    data = path.read_bytes().replace("怎么退货".encode("utf-8"), "怎么".encode("utf-8") + b"\xff\xfe", 1)
    path.write_bytes(data)
    result = read(path)
    assert result.inputs[0]["encoding"] == "utf-8"
    assert len(result.messages) == 20 and result.rejects.empty
    assert result.messages["text"].iloc[2] == "怎么\ufffd\ufffd"
    assert result.messages["text"].iloc[0] == ROWS[0][4]
    assert "UTF-8" in result.inputs[0]["warnings"][0]


def test_binary_junk_is_input_error(tmp_path):
    path = tmp_path / "junk.csv"
    path.write_bytes(random.Random(7).randbytes(8192))
    with pytest.raises(InputError) as err:
        read(path)
    message = str(err.value)
    assert str(path) in message and "无法识别文件编码或格式" in message and "--encoding" in message


# --------------------------------------------------------------------------- columns and --map


def test_missing_required_column_lists_found_and_tried(tmp_path):
    path = write_csv(tmp_path / "m.csv", ["会话ID", "发送方", "聊天记录"], [["1", "客服", "您好"]])
    with pytest.raises(InputError) as err:
        read(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert "缺少必需的列「内容」(text)" in message
    assert "聊天记录" in message  # columns found
    assert "消息内容" in message and "content" in message  # names tried
    assert "--map text=列名" in message


def test_header_spelling_variants(tmp_path):
    path = write_csv(tmp_path / "v.csv", ["Session ID", "Time-Stamp", "SENDER", "Agent ID", "Ｃｏｎｔｅｎｔ"],
                     [["s1", "2026-11-02 09:00:01", "staff", "a1", "hi"]])
    m = read(path).messages
    assert m.iloc[0][["conversation_id", "role", "agent_id", "text"]].tolist() == ["s1", "agent", "a1", "hi"]
    assert m.iloc[0]["timestamp"] == pd.Timestamp("2026-11-02 09:00:01")


def test_column_map_override(tmp_path):
    path = write_csv(tmp_path / "m.csv", ["会话ID", "发送方", "聊天记录", "内容"], [["1", "客服", "真正的消息", "备注"]])
    m = read(path, column_map={"text": "聊天记录"}).messages
    assert list(m["text"]) == ["真正的消息"]
    m = read(path, column_map={"内容": " 聊天记录 "}).messages  # Chinese field alias, spaces ignored
    assert list(m["text"]) == ["真正的消息"]


def test_column_map_to_missing_header_is_input_error(tmp_path):
    path = write_csv(tmp_path / "m.csv", HEADER_ZH, ROWS)
    with pytest.raises(InputError, match="--map text=聊天内容"):
        read(path, column_map={"text": "聊天内容"})


def test_column_map_unknown_field_is_config_error(tmp_path):
    path = write_csv(tmp_path / "m.csv", HEADER_ZH, ROWS)
    with pytest.raises(ConfigError, match="无法识别"):
        read(path, column_map={"colour": "内容"})


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    "value,role",
    [
        ("客服", "agent"), ("坐席", "agent"), ("商家", "agent"), ("卖家", "agent"), ("Agent", "agent"),
        ("STAFF", "agent"), ("service", "agent"), ("顾客", "customer"), ("买家", "customer"),
        ("用户", "customer"), ("客户", "customer"), (" Customer ", "customer"), ("user", "customer"),
        ("buyer", "customer"), ("访客", "customer"), ("ＵＳＥＲ", "customer"), ("系统", "system"),
        ("机器人", "system"), ("System", "system"), ("bot", "system"), ("ROBOT", "system"),
        ("客 服", "agent"),
    ],
)
def test_role_values(tmp_path, value, role):
    path = write_csv(tmp_path / "r.csv", ["会话ID", "发送方", "内容"], [["1", value, "消息"]])
    assert list(read(path).messages["role"]) == [role]


def test_role_map_adds_and_overrides(tmp_path):
    rows = [["1", "1", "客服说"], ["1", "0", "顾客说"], ["1", "商家", "其实是系统"]]
    path = write_csv(tmp_path / "r.csv", ["会话ID", "is_agent", "内容"], rows)
    m = read(path, column_map={"role": "is_agent"}, role_map={"1": "agent", "0": "顾客", "商家": "system"}).messages
    assert list(m["role"]) == ["agent", "customer", "system"]


def test_role_map_bad_target_is_config_error(tmp_path):
    path = write_csv(tmp_path / "r.csv", HEADER_ZH, ROWS)
    with pytest.raises(ConfigError, match="agent、customer 或 system"):
        read(path, role_map={"坐席": "boss"})


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2026-11-02 09:00:01", "2026-11-02 09:00:01"),
        ("2026/11/2 9:00", "2026-11-02 09:00:00"),
        ("2026/11/02 09:00:01", "2026-11-02 09:00:01"),
        ("2026年11月2日 09:00:01", "2026-11-02 09:00:01"),
        ("2026年11月2日 下午3:05", "2026-11-02 15:05:00"),
        ("２０２６－１１－０２ ０９：００：０１", "2026-11-02 09:00:01"),
        ("2026-11-02T09:00:01", "2026-11-02 09:00:01"),
        ("2026-11-02T09:00:01.250", "2026-11-02 09:00:01.250"),
        ("2026-11-02T01:00:01Z", "2026-11-02 09:00:01"),
        ("2026-11-02T09:00:01+08:00", "2026-11-02 09:00:01"),
        ("2026-11-02T10:00:01+09:00", "2026-11-02 09:00:01"),
        ("2026-11-01T20:00:01-05:00", "2026-11-02 09:00:01"),
        ("2026-11-02 01:00:01 +0000", "2026-11-02 09:00:01"),
        ("2026-11-02T01:00:01.5z", "2026-11-02 09:00:01.500"),
        ("1793581201", "2026-11-02 09:00:01"),  # epoch seconds (UTC) shown in UTC+8
        ("1793581201500", "2026-11-02 09:00:01.500"),  # epoch milliseconds
        ("20261102090001", "2026-11-02 09:00:01"),
        ("46328.375", "2026-11-02 09:00:00"),  # Excel serial day number
    ],
)
def test_timestamp_forms_in_csv(tmp_path, value, expected):
    path = write_csv(tmp_path / "t.csv", ["会话ID", "时间", "发送方", "内容"], [["1", value, "客服", "您好"]])
    result = read(path)
    assert result.rejects.empty, result.rejects.to_dict("records")
    assert result.messages["timestamp"].iloc[0] == pd.Timestamp(expected)


def test_parse_timestamps_mixed_column_and_numbers():
    values = pd.Series(
        ["2026-11-02 09:00:01", "2026/11/2 9:00", None, "  ", "昨天下午", 1793581201, 1793581201500.0,
         dt.datetime(2026, 11, 2, 9, 0, 1), "2026"],
        dtype=object,
    )
    got = parse_timestamps(values)
    assert str(got.dtype) == "datetime64[ns]"
    assert got.iloc[0] == pd.Timestamp("2026-11-02 09:00:01")
    assert got.iloc[1] == pd.Timestamp("2026-11-02 09:00")
    assert got.iloc[2:5].isna().all()
    assert got.iloc[5] == pd.Timestamp("2026-11-02 09:00:01")
    assert got.iloc[6] == pd.Timestamp("2026-11-02 09:00:01.500")
    assert got.iloc[7] == pd.Timestamp("2026-11-02 09:00:01")
    assert pd.isna(got.iloc[8])  # a bare year is not a message time


def test_parse_timestamps_large_column_mixed_formats():
    n = 30_000
    base = pd.Timestamp("2026-11-02 09:00:00")
    stamps = [base + pd.Timedelta(seconds=i) for i in range(n)]
    values = pd.Series(
        [t.strftime("%Y-%m-%d %H:%M:%S") if i % 3 else t.strftime("%Y年%m月%d日 %H:%M:%S") for i, t in enumerate(stamps)],
        dtype="str",
    )
    got = parse_timestamps(values)
    assert got.notna().all()
    assert (got.to_numpy() == pd.Series(stamps).to_numpy(dtype="datetime64[ns]")).all()


def test_no_time_column_is_valid(tmp_path):
    path = write_csv(tmp_path / "n.csv", ["会话ID", "发送方", "内容"], [["1", "客服", "您好"], ["1", "顾客", "你好"]])
    result = read(path)
    assert result.messages["timestamp"].isna().all()
    assert result.inputs[0]["has_time"] is False


# --------------------------------------------------------------------------- row-level rejects


def test_each_reject_reason(tmp_path):
    rows = [
        ["1", "2026-11-02 09:00:01", "顾客", "", "正常消息"],  # row 2 kept
        ["1", "2026-11-02 09:00:02", "顾客", "", "   "],  # row 3 empty text
        ["1", "2026-11-02 09:00:03", "外星人", "", "你好"],  # row 4 unknown role
        ["1", "昨天下午", "客服", "", "您好"],  # row 5 bad time
        ["", "2026-11-02 09:00:05", "客服", "", "您好"],  # row 6 missing conversation id
        ["1", "", "客服", "", "您好"],  # row 7 missing time
        ["1", "2026-11-02 09:00:07", "", "", "您好"],  # row 8 missing role
        ["1", "2026-11-02 09:00:08", "客服", "", "x" * 51],  # row 9 too long (limit 50)
        ["1", "2026-11-02 09:00:09", "客服"],  # row 10 wrong number of fields
    ]
    path = write_csv(tmp_path / "bad.csv", HEADER_ZH, rows)
    result = read(path, max_text_chars=50)
    assert list(result.messages["source_row"]) == [2]
    rejects = result.rejects.set_index("row")
    assert list(rejects.index) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert rejects.loc[3, "column"] == "内容" and "内容为空" in rejects.loc[3, "reason"]
    assert rejects.loc[4, "column"] == "发送方" and "无法识别的角色「外星人」" in rejects.loc[4, "reason"]
    assert "--role-map 外星人=agent" in rejects.loc[4, "reason"]
    assert rejects.loc[5, "column"] == "时间" and "无法解析时间「昨天下午」" in rejects.loc[5, "reason"]
    assert rejects.loc[6, "column"] == "会话ID" and "会话ID为空" in rejects.loc[6, "reason"]
    assert rejects.loc[7, "column"] == "时间" and "时间为空" in rejects.loc[7, "reason"]
    assert rejects.loc[8, "column"] == "发送方" and "角色为空" in rejects.loc[8, "reason"]
    assert rejects.loc[9, "column"] == "内容" and "消息过长" in rejects.loc[9, "reason"]
    assert "字段数不对" in rejects.loc[10, "reason"] and "3 个字段" in rejects.loc[10, "reason"]
    assert rejects.loc[5, "raw"] == "1,昨天下午,客服,,您好"
    assert rejects.loc[10, "raw"] == "1,2026-11-02 09:00:09,客服"
    assert result.inputs[0]["rows_read"] == 9 and result.inputs[0]["rows_rejected"] == 8


def test_too_many_fields_is_rejected_not_dropped(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("会话ID,发送方,内容\n1,顾客,你好\n1,客服,您好,多出来的\n", encoding="utf-8")
    result = read(path)
    reject = only_reject(result)
    assert reject["row"] == 3 and "字段数不对" in reject["reason"] and reject["raw"] == "1,客服,您好,多出来的"


def test_megabyte_message_is_kept_or_rejected_never_crashes(tmp_path):
    big = "很长的消息" * 210_000  # 1,050,000 characters, > 3 MB in UTF-8
    path = write_csv(tmp_path / "big.csv", ["会话ID", "发送方", "内容"], [["1", "顾客", big], ["1", "客服", "您好"]])
    kept = read(path, max_text_chars=2_000_000)
    assert kept.messages["text"].iloc[0] == big
    default = read(path)  # default limit 100,000 characters
    reject = only_reject(default)
    assert "消息过长" in reject["reason"] and len(reject["raw"]) == 2000
    assert list(default.messages["text"]) == ["您好"]


# --------------------------------------------------------------------------- XLSX


def test_xlsx_types_and_rows(tmp_path):
    sheet = [
        ["会话ID", "时间", "发送方", "客服工号", "内容"],
        ["000123", dt.datetime(2026, 11, 2, 9, 0, 1), "顾客", None, "你好"],
        [None, None, None, None, None],  # blank row: skipped, still counted for numbering
        [124, "2026/11/2 9:05", "客服", 7, "您好"],
        [125.0, 46328.375, "系统", 8.0, "会话已转接"],
        [126, "下周", "客服", None, "x"],
    ]
    path = write_xlsx(tmp_path / "e.xlsx", {"Sheet1": sheet})
    result = read(path)
    m = result.messages
    assert list(m["conversation_id"]) == ["000123", "124", "125"]
    assert list(m["agent_id"]) == ["", "7", "8"]
    assert list(m["source_row"]) == [2, 4, 5]
    assert list(m["timestamp"]) == [
        pd.Timestamp("2026-11-02 09:00:01"), pd.Timestamp("2026-11-02 09:05"), pd.Timestamp("2026-11-02 09:00")
    ]
    reject = only_reject(result)
    assert reject["row"] == 6 and "无法解析时间「下周」" in reject["reason"]
    assert reject["raw"].startswith("126\t下周\t客服")
    assert result.inputs[0]["format"] == "xlsx" and result.inputs[0]["encoding"] is None


def test_xlsx_first_sheet_with_data_and_sheets_with_same_header(tmp_path):
    header = ["会话ID", "发送方", "内容"]
    path = write_xlsx(
        tmp_path / "multi.xlsx",
        {
            "空白": [],
            "一月": [header, ["1", "客服", "一月消息"]],
            "二月": [[" 会话id ", "发送方", "内容"], ["2", "顾客", "二月消息"]],
            "说明": [["备注"], ["这是说明"]],
        },
    )
    result = read(path)
    m = result.messages
    assert list(m["text"]) == ["一月消息", "二月消息"]
    assert list(m["source"]) == [f"{path}#一月", f"{path}#二月"]
    assert result.inputs[0]["sheets"] == ["一月", "二月"]
    assert any("说明" in w for w in result.inputs[0]["warnings"])


def test_xlsx_title_row_above_header_and_numeric_roles(tmp_path):
    sheet = [
        ["2026年11月 聊天记录导出"],
        [None],
        ["会话ID", "发送方", "内容"],
        [1, 1, "您好"],
        [1, 0, "你好"],
    ]
    path = write_xlsx(tmp_path / "title.xlsx", {"导出": sheet})
    result = read(path, role_map={"1": "agent", "0": "customer"})
    assert list(result.messages["role"]) == ["agent", "customer"]
    assert list(result.messages["source_row"]) == [4, 5]
    assert list(result.messages["conversation_id"]) == ["1", "1"]


def test_broken_xlsx_is_input_error(tmp_path):
    good = write_xlsx(tmp_path / "good.xlsx", {"S": [["会话ID", "发送方", "内容"], ["1", "客服", "您好"]]})
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(good.read_bytes()[:300])  # corrupted zip
    with pytest.raises(InputError) as err:
        read(broken)
    assert str(broken) in str(err.value) and "另存为" in str(err.value)


def test_csv_text_saved_as_xlsx_is_input_error(tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_text("会话ID,发送方,内容\n1,客服,您好\n", encoding="utf-8")
    with pytest.raises(InputError, match="Excel"):
        read(path)


# --------------------------------------------------------------------------- JSONL


def test_jsonl_objects_and_bad_lines(tmp_path):
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            {"session_id": "000123", "timestamp": 1793581201, "role": "customer", "content": "你好"},
            "",
            '{"session_id": "000123", "timestamp": "2026-11-02 09:00:05", "role": "agent", "agent_id": 7, "content": "您好"',
            ["not", "an", "object"],
            {"session_id": 124, "timestamp": 1793581201000, "role": "bot", "content": {"type": "card"}},
        ],
    )
    result = read(path)
    m = result.messages
    assert list(m["conversation_id"]) == ["000123", "124"]
    assert list(m["source_row"]) == [1, 5]
    assert list(m["timestamp"]) == [pd.Timestamp("2026-11-02 09:00:01")] * 2
    assert m["text"].iloc[1] == '{"type": "card"}'
    assert list(result.rejects["row"]) == [3, 4]
    assert all("不是合法的 JSON 对象" in r for r in result.rejects["reason"])
    assert result.rejects["raw"].iloc[1] == '["not", "an", "object"]'
    assert result.inputs[0]["format"] == "jsonl" and result.inputs[0]["rows_read"] == 4


def test_jsonl_chunk_of_only_bad_lines(tmp_path):
    lines = [{"会话ID": "1", "发送方": "客服", "内容": "您好"}] + ["{broken"] * 3 + [{"会话ID": "1", "发送方": "顾客", "内容": "好"}]
    path = write_jsonl(tmp_path / "b.jsonl", lines)
    result = read(path, chunk_rows=2)
    assert list(result.messages["source_row"]) == [1, 5]
    assert list(result.rejects["row"]) == [2, 3, 4]


def test_jsonl_with_no_object_is_input_error(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", ["not json", "[1, 2]"])
    with pytest.raises(InputError, match="JSONL"):
        read(path)


# --------------------------------------------------------------------------- Parquet


def test_parquet(tmp_path):
    frame = pd.DataFrame(
        {
            "conversation_id": pd.array([123, 124, None], dtype="Int64"),
            "time": pd.to_datetime(["2026-11-02 01:00:01", "2026-11-02 01:00:02", "2026-11-02 01:00:03"]).tz_localize("UTC"),
            "role": ["顾客", "客服", "客服"],
            "agent_id": ["", "a1", "a1"],
            "message": ["你好", "您好", "孤儿消息"],
        }
    )
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    result = read(path)
    m = result.messages
    assert list(m["conversation_id"]) == ["123", "124"]
    assert list(m["timestamp"]) == [pd.Timestamp("2026-11-02 09:00:01"), pd.Timestamp("2026-11-02 09:00:02")]
    assert list(m["source_row"]) == [1, 2]
    reject = only_reject(result)
    assert reject["row"] == 3 and "会话ID为空" in reject["reason"]
    assert result.inputs[0]["format"] == "parquet"


def test_broken_parquet_is_input_error(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame({"会话ID": ["1"], "发送方": ["客服"], "内容": ["您好"]}).to_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        read(path)
    assert str(path) in str(err.value) and "Parquet" in str(err.value)


# --------------------------------------------------------------------------- files and folders


def test_folder_recursive_sorted_known_extensions_only(tmp_path):
    folder = tmp_path / "exports"
    (folder / "b").mkdir(parents=True)
    write_csv(folder / "b" / "2.csv", ["会话ID", "发送方", "内容"], [["2", "客服", "二"]])
    write_csv(folder / "a.csv", ["会话ID", "发送方", "内容"], [["1", "客服", "一"]])
    write_jsonl(folder / "c.jsonl", [{"会话ID": "3", "发送方": "客服", "内容": "三"}])
    (folder / "README.md").write_text("说明", encoding="utf-8")
    (folder / "~$a.xlsx").write_bytes(b"lock")
    result = read_inputs([folder])
    check_invariants(result)
    assert list(result.messages["text"]) == ["一", "二", "三"]
    assert [Path(i["path"]).name for i in result.inputs] == ["a.csv", "2.csv", "c.jsonl"]
    assert sorted(Path(p).name for p in result.skipped) == ["README.md", "~$a.xlsx"]


def test_several_files_and_duplicates(tmp_path):
    a = write_csv(tmp_path / "a.csv", HEADER_ZH, ROWS)
    b = write_csv(tmp_path / "b.csv", ["会话ID", "发送方", "内容"], [["9", "客服", "您好"], ["9", "火星人", "?"]])
    result = read([a, b, a])
    assert [i["path"] for i in result.inputs] == [str(a), str(b)]
    assert [i["rows_read"] for i in result.inputs] == [4, 2]
    assert [i["rows_rejected"] for i in result.inputs] == [0, 1]
    assert result.inputs[1]["has_time"] is False
    assert list(result.messages["seq"]) == [0, 1, 2, 3, 4]


def test_empty_folder_is_input_error(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.md").write_text("x", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_inputs([folder])
    assert str(folder) in str(err.value) and "没有可读取" in str(err.value)


def test_no_inputs_is_config_error():
    with pytest.raises(ConfigError):
        read_inputs([])


def test_missing_path_is_input_error(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(InputError) as err:
        read_inputs([path])
    assert str(path) in str(err.value) and "不存在" in str(err.value)


def test_zero_byte_file_is_input_error(tmp_path):
    path = tmp_path / "zero.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="文件为空"):
        read_inputs([path])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx"])
def test_header_only_is_input_error(tmp_path, suffix):
    path = tmp_path / f"h{suffix}"
    if suffix == ".csv":
        path.write_text("会话ID,发送方,内容\n\n", encoding="utf-8")
    elif suffix == ".jsonl":
        path.write_text("\n\n", encoding="utf-8")
    else:
        write_xlsx(path, {"S": [["会话ID", "发送方", "内容"]]})
    with pytest.raises(InputError) as err:
        read_inputs([path])
    assert str(path) in str(err.value) and "文件没有数据行" in str(err.value)


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("chat.doc", b"x", "不支持的文件类型"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xlsx"),
        ("data.json", b'[{"a": 1}]', "JSONL"),
        ("zip.csv", b"PK\x03\x04" + b"\0" * 100, ".xlsx"),
    ],
)
def test_unsupported_files_are_input_errors(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_inputs([path])
    assert str(path) in str(err.value) and expected in str(err.value)


def test_errors_are_csqa_errors_one_line(tmp_path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(CsqaError) as err:
        read_inputs([path])
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- streaming


def test_iter_input_chunks_bounded_and_equal_to_read_inputs(tmp_path):
    rows = [[str(i // 4), f"2026-11-02 09:{i // 60:02d}:{i % 60:02d}", "客服" if i % 2 else "顾客", "", f"消息{i}"] for i in range(23)]
    rows[10][2] = "未知"
    a = write_csv(tmp_path / "a.csv", HEADER_ZH, rows)
    b = write_jsonl(tmp_path / "b.jsonl", [{"会话ID": "x", "发送方": "客服", "内容": f"j{i}"} for i in range(5)])
    options = IngestOptions(chunk_rows=4)
    chunks = list(iter_input_chunks([a, b], options))
    infos = [info for _, _, info in chunks if info is not None]
    assert [Path(i["path"]).name for i in infos] == ["a.csv", "b.jsonl"]
    for messages, rejects, info in chunks:
        assert len(messages) + len(rejects) <= 4
        if info is not None:
            assert messages.empty and rejects.empty
    streamed = pd.concat([m for m, _, _ in chunks], ignore_index=True)
    whole = read_inputs([a, b], IngestOptions(chunk_rows=4))
    check_invariants(whole)
    pd.testing.assert_frame_equal(streamed, whole.messages)
    assert len(whole.messages) == 27 and len(whole.rejects) == 1
    assert whole.rejects["row"].iloc[0] == 12


# --------------------------------------------------------------------------- real data


@pytest.mark.skipif(not (SHARED / "jddc2019" / "chat_a.tsv").exists(), reason="shared research data not present")
def test_real_jd_chats_as_gb18030_export(tmp_path):
    with open(SHARED / "jddc2019" / "chat_a.tsv", encoding="utf-8", newline="") as fh:
        source = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    path = tmp_path / "jd_export.csv"
    with open(path, "w", encoding="gb18030", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["会话编号", "发送方", "内容"])
        for session, _customer, is_agent, *_rest, text in source:
            writer.writerow([session, "客服" if is_agent == "1" else "顾客", text])
    result = read(path)
    assert result.rejects.empty
    assert len(result.messages) == 11_861
    assert result.messages["conversation_id"].nunique() == 966
    assert list(result.messages["text"]) == [r[6] for r in source]
    assert result.inputs[0]["encoding"] == "gb18030" and result.inputs[0]["has_time"] is False
    assert result.messages["timestamp"].isna().all()
    assert (result.messages["role"] == "agent").sum() == sum(r[2] == "1" for r in source)


SAMPLES = Path(__file__).resolve().parents[1] / "corpora" / "samples"


@pytest.mark.skipif(not (SAMPLES / "bad_rows_export.csv").exists(), reason="bundled sample not generated")
def test_bundled_bad_rows_sample():
    """The project's own sample: GB18030, CRLF, 30 rows, the 4 defects listed in special_cases.json."""
    result = read(SAMPLES / "bad_rows_export.csv")
    defects = json.loads((SAMPLES / "special_cases.json").read_text(encoding="utf-8"))["bad_rows_defects"]
    assert list(result.rejects["row"]) == [d["line"] for d in defects]
    assert list(result.rejects["column"]) == ["内容", "角色", "时间", "会话编号"]
    assert len(result.messages) == 26 and result.inputs[0]["encoding"] == "gb18030"
    assert result.messages["conversation_id"].nunique() == 5
