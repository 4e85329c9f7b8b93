"""Each result table is declared once (`csqa.results.columns`): the CSV files, the store's tables,
report.xlsx's headers and the frames the scoring builds all follow the declaration."""
from __future__ import annotations

import csv

import duckdb
import pytest
from openpyxl import load_workbook

from csqa.results.columns import AGENTS, CONVERSATIONS, FINDINGS, REJECTS, TABLES, TRANSCRIPTS, Column, Table


def header_of(path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


def test_csv_files_have_the_declared_columns(sample_run):
    for table in (CONVERSATIONS, FINDINGS, AGENTS, REJECTS):
        assert header_of(sample_run.outdir / f"{table.name}.csv") == table.csv_columns, table.name


def test_store_tables_have_the_declared_columns_and_types(sample_run):
    con = duckdb.connect(str(sample_run.outdir / "results.duckdb"), read_only=True)
    try:
        for table in (CONVERSATIONS, FINDINGS, AGENTS, TRANSCRIPTS):
            described = con.execute(f"DESCRIBE {table.name}_rows").fetchall()
            got = [(name, kind) for name, kind, *_ in described]
            want = [(t, "VARCHAR") for t in ("run_id", "rulebook_sha256", "model_sha256")] + [
                (c, table[c].store_type) for c in table.store_columns]
            assert got == want, table.name
    finally:
        con.close()


def test_store_keeps_older_schemas_column_order():
    """Columns a later store schema added come after the older ones (as ALTER TABLE left them)."""
    assert CONVERSATIONS.store_columns[-2:] == ["resolved", "unhappy_end"]
    assert AGENTS.store_columns[-2:] == ["resolution_rate", "unhappy_rate"]
    assert CONVERSATIONS.csv_columns.index("resolved") < CONVERSATIONS.csv_columns.index("first_response_s")


def test_workbook_headers_are_the_declared_ones(sample_run):
    book = load_workbook(sample_run.outdir / "report.xlsx", read_only=True)
    sheet = book["会话评分"]
    headers = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    declared = {c.header for c in CONVERSATIONS.columns}
    assert "得分" in headers and "首次响应(秒)" in headers
    assert set(headers) <= declared | {"检查项", "严重度"}
    detail = [cell.value for cell in next(book["违规明细"].iter_rows(max_row=1))]
    assert FINDINGS["evidence"].header in detail and FINDINGS["rule_id"].header in detail


def test_conversation_columns_come_from_the_results():
    """Every declared conversation column is a ConversationResult attribute or one of the three derived ones."""
    from csqa.results.tables import conversations_table
    from csqa.core.records import ConversationResult

    import dataclasses

    fields = {f.name for f in dataclasses.fields(ConversationResult)}
    for c in CONVERSATIONS.columns:
        assert c.name in fields or c.name in ("agents", "n_findings", "not_applicable")
    frame = conversations_table([])
    assert list(frame.columns) == CONVERSATIONS.names


def test_masked_columns_are_declared():
    assert FINDINGS.masked == ["matched_text", "evidence", "explanation"]
    assert TRANSCRIPTS.masked == ["text"]
    assert set(REJECTS.masked) == {"raw", "reason"}


def test_rejects_declaration_matches_ingest():
    from csqa.ingest.model import REJECT_COLUMNS

    assert REJECTS.names == REJECT_COLUMNS


def test_a_new_column_is_one_declaration():
    """A table derives its CSV, store and masked columns from its columns alone."""
    extended = Table("findings", FINDINGS.columns + (Column("reviewer_note", "text", "复核备注", masked=True,
                                                            store_since=4),))
    assert extended.csv_columns == FINDINGS.csv_columns + ["reviewer_note"]
    assert extended.store_columns == FINDINGS.store_columns + ["reviewer_note"]
    assert extended.masked == FINDINGS.masked + ["reviewer_note"]
    assert extended["reviewer_note"].store_type == "VARCHAR"
    with pytest.raises(ValueError):
        Column("x", "decimal", "x")


def test_every_table_is_registered():
    assert set(TABLES) == {"conversations", "findings", "agents", "messages", "rejects"}
