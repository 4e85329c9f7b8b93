"""`ResultStore`: a run written into the store (rows first, invisible; then recorded in one transaction)
and a selection read back (see the package docstring for the tables and the replacement key)."""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from csqa.core.errors import ConfigError, storage_error, writing
from csqa.outputs.store.access import open_error, read_only_error, writable
from csqa.outputs.store.frames import as_run_frame, created, day, new_run_id, on_disk, quoted, store_frame
from csqa.outputs.store.review_tables import create_review_tables, fill_finding_ids, record_rulebook
from csqa.results.finding_ids import add_finding_ids
from csqa.outputs.store.schema import (ADDED_LATER, AGENT_FIELDS, CONVERSATION_FIELDS, DDL, FINDING_FIELDS,
                                       MESSAGE_FIELDS, PER_RUN_TABLES, SCHEMA_EXTENSIONS, SCHEMA_VERSION, TAGS,
                                       TIME_FIELDS)
from csqa.results.columns import CONVERSATIONS, FINDINGS, TRANSCRIPTS


@dataclass
class Selection:
    """What `ResultStore.load` returns: frames shaped like a run's tables (times as text)."""

    conversations: pd.DataFrame
    findings: pd.DataFrame
    messages: pd.DataFrame
    runs: pd.DataFrame

    @property
    def masked(self) -> bool:
        """True when every run that contributed rows masked personal data."""
        return bool(self.runs["masked"].all()) if len(self.runs) else True


@dataclass
class PendingRun:
    """A run whose rows are in the store, not yet recorded (`ResultStore.stage_run`): the
    transaction that records it is open; `commit_run` commits it, `discard_run` drops it all."""

    run_id: str


class ResultStore:
    """A DuckDB results store (see the module docstring for tables and the replacement key)."""

    # the store is written by a process of its own while the report is built (csqa.outputs.jobs):
    # at 200k conversations 512 MB cost ~140 MB more peak memory; without insertion order the
    # inserts from Parquet are as fast at 128 MB (reads order explicitly, see `load`)
    write_memory_limit = "128MB"

    def __init__(self, path: str | Path, read_only: bool = False, temp_directory: str | Path | None = None):
        """temp_directory: where DuckDB spills past its memory limit (default: beside the file)."""
        import duckdb

        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise ConfigError(f"结果库 {self.path} 不存在；先用 `csqa score … --store {self.path}` 写入 / store not found")
        if not read_only:
            if not writable(self.path):
                raise read_only_error(self.path)
            with writing(self.path.parent):
                self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:  # locked by another process, read-only, not a DuckDB file …
            raise open_error(self.path, exc, read_only) from exc
        if temp_directory is not None:
            spill = str(Path(temp_directory) / "duckdb").replace("'", "''")
            self.con.execute(f"SET temp_directory = '{spill}'")
        kinds = self._kinds()
        if not read_only:
            try:
                self._prepare(kinds)
            except duckdb.Error as exc:
                self.con.close()
                err = storage_error(exc, self.path)
                if err is None:
                    raise
                raise err from exc
            kinds = self._kinds()
        elif not {"runs", "conversations", "findings", "messages"} <= set(kinds):
            self.con.close()
            raise ConfigError(f"{self.path} 不是 csqa 结果库 (缺少 runs/conversations/findings/messages 表)")
        # the tables holding the rows (schema 1: the per-run tables themselves, read with the same filters)
        self._rows = {t: f"{t}_rows" if f"{t}_rows" in kinds else t for t in PER_RUN_TABLES}

    def _kinds(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT table_name, table_type FROM information_schema.tables "
                                     "WHERE table_schema = 'main'").fetchall())

    def _prepare(self, kinds: dict[str, str]) -> None:
        """Create or convert the schema, then drop the rows of writes a kill interrupted."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for t in PER_RUN_TABLES:  # schema 1: the rows were in the tables the views now show
                if kinds.get(t) == "BASE TABLE" and f"{t}_rows" not in kinds:
                    con.execute(f"ALTER TABLE {t} RENAME TO {t}_rows")
            con.execute(DDL)
            for ddl in SCHEMA_EXTENSIONS.values():
                con.execute(ddl)
            # schema 3 added the outcome columns (store_since=3): older tables get them (unknown for their rows), the views are
            # made again so that they show them
            added = False
            for table, columns in ADDED_LATER.items():
                have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
                for name, kind in columns:
                    if name not in have:
                        con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                        added = True
            if added:
                for t in PER_RUN_TABLES:
                    con.execute(f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM {t}_rows "
                                "WHERE run_id IN (SELECT run_id FROM runs)")
            fill_finding_ids(con)  # schema 4: the rows written before it get their stable ids
            create_review_tables(con)  # the review loop's tables (verdicts, appeals, rulings …)
            con.execute("INSERT OR REPLACE INTO csqa_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._rows = {t: f"{t}_rows" for t in PER_RUN_TABLES}
        self._drop_orphans()

    # ------------------------------------------------------------------ context manager
    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ writing
    def write_run(self, manifest: dict, conversations: pd.DataFrame, findings: pd.DataFrame, agents: pd.DataFrame,
                  messages: pd.DataFrame) -> str:
        """Add one run; rows of the same conversation_id (or of an earlier run with the same input
        sha256 set) are replaced. Returns the run_id (manifest["run_id"], or a new one).

        conversations, findings, messages: DataFrames, or spools of Parquet parts
        (csqa.results.spool) that DuckDB reads itself (no pandas conversion on the way).

        findings: in ledger order per conversation; `hl_start`/`hl_end` (offsets into
        messages.text) default to span_start/span_end. messages: as they should be stored
        (masked unless --no-mask).

        The same as `stage_run` then `commit_run` (the output stage of `csqa score` commits
        only once the run's other outputs are complete).
        """
        pending = self.stage_run(manifest, conversations, findings, agents, messages)
        self.commit_run(pending)
        return pending.run_id

    def stage_run(self, manifest: dict, conversations, findings, agents: pd.DataFrame, messages) -> PendingRun:
        """Insert the run's rows (invisible: no runs row yet) and prepare, in an open transaction,
        the replacements and the runs row. Then `commit_run` or `discard_run`."""
        run_id = manifest.get("run_id") or new_run_id()
        model = manifest.get("model") or {}
        rulebook = manifest.get("rulebook") or {}
        tags = {"run_id": run_id, "rulebook_sha256": rulebook.get("sha256"), "model_sha256": model.get("sha256")}
        agents_frame = store_frame(agents, AGENT_FIELDS, tags)
        conversations_frame = None if on_disk(conversations) else store_frame(conversations, CONVERSATION_FIELDS, tags)
        self._settings_for_writing()
        # The rows go in first, part by part, each insert committed: one transaction holding a whole
        # large run keeps it all in memory. They are invisible until the runs row exists (the views,
        # `load`); if anything fails they are removed again.
        try:
            self._insert_rows(tags, conversations, conversations_frame, findings, messages)
            fill_finding_ids(self.con, run_id)  # (parts written without ids)
        except BaseException:
            self._drop_run_rows(run_id)
            raise
        # the replacements and the runs row, in one transaction left open until `commit_run`: the
        # expensive part (finding the rows to replace) is done now, the commit is quick
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            inputs = manifest.get("inputs") or []
            inputs_sha = ",".join(sorted(str(i.get("sha256", "")) for i in inputs))
            self._replace_earlier_rows(run_id, inputs_sha)
            record_rulebook(con, manifest)  # the rulebook's text, for human scores (csqa.review)
            self._insert_frame("agents", agents_frame)
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [run_id, created(manifest), manifest.get("csqa_version"), json.dumps(inputs, ensure_ascii=False, default=str),
                 inputs_sha, rulebook.get("id"), rulebook.get("sha256"), model.get("id"), model.get("sha256"),
                 bool(manifest.get("masked", True)), len(conversations), len(findings),
                 json.dumps(manifest, ensure_ascii=False, default=str)])
            self._supersede_emptied_runs(run_id)
        except BaseException:
            con.execute("ROLLBACK")
            self._drop_run_rows(run_id)
            raise
        return PendingRun(run_id)

    def _settings_for_writing(self) -> None:
        con = self.con
        # a large run streams through; DuckDB spills to disk past this instead of taking 80 % of RAM
        con.execute(f"SET memory_limit='{self.write_memory_limit}'")
        con.execute("SET preserve_insertion_order=false")
        # one thread: the store is written beside three other processes on few cores, where DuckDB's
        # threads cost more CPU than they save time (~0.25 s of 1.5 s at 20k conversations); and no
        # progress bar on stderr for a long insert
        con.execute("SET threads=1")
        con.execute("SET enable_progress_bar=false")

    def _insert_rows(self, tags: dict, conversations, conversations_frame: pd.DataFrame | None, findings,
                     messages) -> None:
        """The run's conversations, findings and messages: spools of Parquet parts (csqa.results.spool), which
        DuckDB reads itself in one statement each, or DataFrames (findings and messages: or iterables of parts)."""
        for table, spool, fields in (("conversations", conversations, CONVERSATION_FIELDS),
                                     ("findings", findings, FINDING_FIELDS), ("messages", messages, MESSAGE_FIELDS)):
            if on_disk(spool):
                self._insert_parquet(self._rows[table], spool.parts, fields, tags)

        def parts(table) -> list | object:
            return [table] if isinstance(table, pd.DataFrame) else ([] if on_disk(table) else table.frames())

        incoming = itertools.chain(
            [("conversations", conversations_frame)] if conversations_frame is not None else [],
            (("findings", _findings_store_frame(part, tags)) for part in parts(findings)),
            (("messages", store_frame(part, MESSAGE_FIELDS, tags)) for part in parts(messages)))
        for table, frame in incoming:
            self._insert_frame(table, frame)

    def _insert_frame(self, table: str, frame: pd.DataFrame) -> None:
        cols = ", ".join(quoted(c) for c in frame.columns)
        self.con.register("incoming", frame)
        self.con.execute(f"INSERT INTO {self._rows[table]} ({cols}) SELECT {cols} FROM incoming")
        self.con.unregister("incoming")

    def _replace_earlier_rows(self, run_id: str, inputs_sha: str) -> None:
        """Delete the other rows of every conversation the run holds, and every row of earlier runs of the same
        inputs (their sha256 set), and this run's agents and runs rows if it was recorded before."""
        con, rows = self.con, self._rows
        con.execute(f"CREATE OR REPLACE TEMP TABLE new_ids AS SELECT DISTINCT conversation_id FROM {rows['conversations']} "
                    "WHERE run_id = ?", [run_id])
        others = con.execute("SELECT count(*) FROM runs WHERE run_id <> ?", [run_id]).fetchone()[0]
        same_input = [r[0] for r in con.execute(
            "SELECT run_id FROM runs WHERE inputs_sha256 = ? AND inputs_sha256 <> '' AND run_id <> ?",
            [inputs_sha, run_id]).fetchall()]
        for table in ("conversations", "findings", "messages"):
            if not others:  # (a new store: nothing to replace; orphans went when it was opened)
                break
            con.execute(f"DELETE FROM {rows[table]} WHERE run_id <> ? AND conversation_id IN "
                        "(SELECT conversation_id FROM new_ids)", [run_id])
            if same_input:
                con.execute(f"DELETE FROM {rows[table]} WHERE list_contains(?, run_id)", [same_input])
        con.execute("DROP TABLE new_ids")
        con.execute(f"DELETE FROM {rows['agents']} WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])

    def _supersede_emptied_runs(self, run_id: str) -> None:
        """Earlier runs left without rows are superseded by this one (and their agents snapshots go)."""
        rows = self._rows
        self.con.execute(
            f"""UPDATE runs SET superseded_by = ? WHERE run_id <> ? AND superseded_by IS NULL
               AND run_id NOT IN (SELECT DISTINCT run_id FROM {rows['conversations']})""", [run_id, run_id])
        self.con.execute(f"DELETE FROM {rows['agents']} WHERE run_id IN (SELECT run_id FROM runs WHERE superseded_by IS NOT NULL)")

    def commit_run(self, pending: PendingRun) -> str:
        """Record the run: its rows count from now on, the rows it replaces are gone."""
        try:
            self.con.execute("COMMIT")
        except BaseException:
            self.discard_run(pending)
            raise
        return pending.run_id

    def discard_run(self, pending: PendingRun) -> None:
        """Drop a staged run: the transaction rolls back, its rows go."""
        try:
            self.con.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - (no transaction open any more)
            pass
        self._drop_run_rows(pending.run_id)

    def _insert_parquet(self, table: str, parts: list, fields: list[str], tags: dict) -> None:
        files = [str(p) for p in parts]
        if not files:
            return
        present = {r[0] for r in self.con.execute(
            "SELECT name FROM parquet_schema(?)", [files[0]]).fetchall()}
        exprs = []
        for f in fields:
            if f == "finding_index" and f not in present:  # ledger order within each conversation (a sort: the
                # runner spools finding_index with the parts instead)
                exprs.append("CAST(row_number() OVER (PARTITION BY conversation_id ORDER BY filename, file_row_number) - 1 AS INTEGER)")
            elif f in ("hl_start", "hl_end") and f not in present:
                exprs.append(quoted("span_start" if f == "hl_start" else "span_end"))
            elif f not in present:
                exprs.append("NULL")
            elif f in TIME_FIELDS:
                exprs.append(f"TRY_CAST(NULLIF(CAST({quoted(f)} AS VARCHAR), '') AS TIMESTAMP)")
            else:
                exprs.append(quoted(f))
        cols = ", ".join(quoted(c) for c in list(tags) + fields)
        # the file and row columns only when finding_index is computed from them (they cost ~15 % of the insert)
        order = ", filename = true, file_row_number = true" if "finding_index" in fields and "finding_index" not in present else ""
        self.con.execute(
            f"INSERT INTO {table} ({cols}) SELECT ?, ?, ?, {', '.join(exprs)} "
            f"FROM read_parquet(?, union_by_name = true{order})",
            [*tags.values(), files])

    def _drop_run_rows(self, run_id: str) -> None:
        for table in PER_RUN_TABLES:
            self.con.execute(f"DELETE FROM {self._rows[table]} WHERE run_id = ?", [run_id])

    def _drop_orphans(self) -> None:
        """Rows of a run whose write never finished (no runs row): an interrupted `csqa score`."""
        for table in PER_RUN_TABLES:
            self.con.execute(f"DELETE FROM {self._rows[table]} WHERE run_id NOT IN (SELECT run_id FROM runs)")

    # ------------------------------------------------------------------ reading
    def runs(self) -> pd.DataFrame:
        return self.con.execute("SELECT * EXCLUDE (manifest) FROM runs ORDER BY created_at, run_id").df()

    def counts(self) -> dict[str, int]:
        """Rows of recorded runs per table (what every query sees)."""
        recorded = "WHERE run_id IN (SELECT run_id FROM runs)"
        return {t: self.con.execute(f"SELECT count(*) FROM {self._rows.get(t, t)} {recorded if t != 'runs' else ''}").fetchone()[0]
                for t in ("runs", *PER_RUN_TABLES)}

    def load(self, date_from: str | date | None = None, date_to: str | date | None = None, agent: str | None = None,
             check: str | None = None, with_messages: bool = True) -> Selection:
        """Conversations (with their findings and messages) matching every filter given.

        date_from/date_to: inclusive days on started_at (conversations without a time are
        left out when either is given). agent: the conversation's primary agent. check: a
        check name (e.g. apology) or rule code/prefix (e.g. COMP-001, RED): conversations
        with at least one such finding — with all their findings, so ledgers still add up.

        Only rows of recorded runs are read, and a conversation's findings and messages are
        those of the run that scored it (joined by conversation_id and run_id).
        """
        rows = self._rows
        where, params = [], []
        if date_from:
            where.append("c.started_at >= ?")
            params.append(day(date_from))
        if date_to:
            where.append("c.started_at < ? + INTERVAL 1 DAY")
            params.append(day(date_to))
        if agent:
            where.append("c.agent_id = ?")
            params.append(agent)
        if check:
            where.append(f"""EXISTS (SELECT 1 FROM {rows['findings']} f
                            WHERE f.conversation_id = c.conversation_id AND f.run_id = c.run_id
                            AND f.severity <> 'bonus' AND (f."check" = ? OR upper(f.rule_id) = upper(?)
                            OR starts_with(upper(f.rule_id), upper(?) || '-')))""")
            params += [check, check, check]
        where.append("c.run_id IN (SELECT run_id FROM runs)")  # not the rows of a write in progress or interrupted
        sql_where = "WHERE " + " AND ".join(where)
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE sel AS SELECT c.* FROM {rows['conversations']} c {sql_where}", params)
        conv = con.execute("SELECT * FROM sel ORDER BY started_at NULLS LAST, conversation_id").df()
        fnd = con.execute(f"""SELECT f.* FROM {rows['findings']} f JOIN sel USING (conversation_id, run_id)
                             ORDER BY f.conversation_id, f.finding_index""").df()
        msgs = (con.execute(f"""SELECT m.* FROM {rows['messages']} m JOIN sel USING (conversation_id, run_id)
                               ORDER BY m.conversation_id, m.message_index""").df()
                if with_messages else pd.DataFrame(columns=TAGS + MESSAGE_FIELDS))
        runs = con.execute("""SELECT * FROM runs
                              WHERE run_id IN (SELECT DISTINCT run_id FROM sel) ORDER BY created_at""").df()
        con.execute("DROP TABLE IF EXISTS sel")
        return Selection(as_run_frame(conv, CONVERSATIONS), as_run_frame(fnd, FINDINGS), as_run_frame(msgs, TRANSCRIPTS),
                         runs)


def _findings_store_frame(part: pd.DataFrame, tags: dict) -> pd.DataFrame:
    """A part of the findings as stored: with finding_index (ledger order; a conversation's findings are never
    split across parts) and hl_start / hl_end (default: the span)."""
    fnd = part.copy()
    if "finding_index" not in fnd.columns:
        fnd["finding_index"] = fnd.groupby("conversation_id", sort=False).cumcount() if len(fnd) else []
    if "hl_start" not in fnd.columns:
        fnd["hl_start"], fnd["hl_end"] = fnd.get("span_start"), fnd.get("span_end")
    if "finding_id" not in fnd.columns:
        fnd = add_finding_ids(fnd, tags["rulebook_sha256"], tags["model_sha256"])
    return store_frame(fnd, FINDING_FIELDS, tags)
