"""The results store: every scored batch in one DuckDB file, so reports can span weeks and months.

    from csqa.store import ResultStore
    with ResultStore("results.duckdb") as store:
        run_id = store.write_run(manifest, conversations, findings, agents, messages)
        sel = store.load(date_from="2026-11-01", date_to="2026-11-30", agent="shop_小美")
        html, sheets = csqa.report.build(sel.conversations, sel.findings, None, sel.messages, summary)

Tables (each row tagged with run_id, rulebook_sha256 and model_sha256):

- runs: one row per `csqa score` run: run_id, created_at, csqa_version, inputs (JSON),
  inputs_sha256 (the sorted set of input file hashes), rulebook id/sha256, model id/sha256,
  masked, counts, the whole run.json (manifest), superseded_by.
- conversations: the conversations.csv columns plus not_applicable; started_at/ended_at
  are TIMESTAMPs (NULL without a time column).
- findings: the findings.csv columns plus finding_index (ledger order in its conversation)
  and hl_start/hl_end (highlight offsets into messages.text as stored).
- agents: agents.csv as the run wrote it (a per-run snapshot; reports recompute agent
  figures from conversations and findings, so replaced rows never count twice).
- messages: conversation_id, message_index, role, agent_id, timestamp, text — masked
  unless the run used --no-mask (runs.masked says which).

The key: a conversation is identified by its **conversation_id**. Writing a run inserts
its rows (part by part for spooled findings and transcripts, so a large run is never held in
memory), then in one transaction deletes, in all per-conversation tables, the other rows of
every conversation_id it contains and every row of earlier runs with the same input sha256
set, and records the run in `runs`. So re-scoring the same export (or a later export that
repeats some conversations) replaces them instead of counting them twice, and the latest
scoring of a conversation wins.

A run's rows count only with its `runs` row. The rows live in the tables `conversations_rows`,
`findings_rows`, `agents_rows` and `messages_rows`; `conversations`, `findings`, `agents` and
`messages` are views of the rows of recorded runs, so every query — csqa's own (`load`, which
also joins a conversation's findings and messages by conversation_id AND run_id) or anyone's
SQL — sees whole runs only, never the rows of a write in progress or of one a kill
interrupted. Rows of a write that failed are removed at once, those of a killed process when
the store is next opened for writing. (A store of schema 1, written before, is converted when
it is opened for writing; read-only, it is read with the same filters.) An earlier run left without rows is marked superseded_by the new run
and its agents snapshot is removed. Use one store per shop/export system: ids from
different systems that happen to be equal would replace each other.
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from csqa.core.errors import ConfigError, CsqaError, StorageError, storage_error, storage_problem, writing

SCHEMA_VERSION = 4
TAGS = ["run_id", "rulebook_sha256", "model_sha256"]
PER_RUN_TABLES = ("conversations", "findings", "agents", "messages")

_DDL = """
CREATE TABLE IF NOT EXISTS csqa_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, csqa_version VARCHAR, inputs VARCHAR,
    inputs_sha256 VARCHAR, rulebook_id VARCHAR, rulebook_sha256 VARCHAR, model_id VARCHAR, model_sha256 VARCHAR,
    masked BOOLEAN, conversations INTEGER, findings INTEGER, manifest VARCHAR, superseded_by VARCHAR
);
CREATE TABLE IF NOT EXISTS conversations_rows (
    run_id VARCHAR, rulebook_sha256 VARCHAR, model_sha256 VARCHAR,
    conversation_id VARCHAR, agent_id VARCHAR, agents VARCHAR, started_at TIMESTAMP, ended_at TIMESTAMP,
    n_messages INTEGER, score DOUBLE, passed BOOLEAN, critical BOOLEAN, complaint BOOLEAN,
    complaint_category VARCHAR, complaint_severity VARCHAR, first_response_s DOUBLE, mean_response_s DOUBLE,
    n_findings INTEGER, not_applicable VARCHAR, resolved BOOLEAN, unhappy_end BOOLEAN
);
CREATE TABLE IF NOT EXISTS findings_rows (
    run_id VARCHAR, rulebook_sha256 VARCHAR, model_sha256 VARCHAR,
    conversation_id VARCHAR, finding_index INTEGER, agent_id VARCHAR, rule_id VARCHAR, rule_name VARCHAR,
    "check" VARCHAR, severity VARCHAR, points DOUBLE, message_index INTEGER, "timestamp" TIMESTAMP,
    span_start INTEGER, span_end INTEGER, matched_text VARCHAR, evidence VARCHAR, explanation VARCHAR,
    hl_start INTEGER, hl_end INTEGER, finding_id VARCHAR
);
CREATE TABLE IF NOT EXISTS agents_rows (
    run_id VARCHAR, rulebook_sha256 VARCHAR, model_sha256 VARCHAR,
    agent_id VARCHAR, conversations INTEGER, mean_score DOUBLE, pass_rate DOUBLE, passed INTEGER,
    critical_conversations INTEGER, findings INTEGER, complaints INTEGER, serious_complaints INTEGER,
    mean_first_response_s DOUBLE, mean_response_s DOUBLE, top_failed_check VARCHAR,
    pass_rate_low95 DOUBLE, small_sample BOOLEAN, resolution_rate DOUBLE, unhappy_rate DOUBLE
);
CREATE TABLE IF NOT EXISTS messages_rows (
    run_id VARCHAR, rulebook_sha256 VARCHAR, model_sha256 VARCHAR,
    conversation_id VARCHAR, message_index INTEGER, role VARCHAR, agent_id VARCHAR, "timestamp" TIMESTAMP,
    text VARCHAR
);
""" + "".join(f"""
CREATE VIEW IF NOT EXISTS {t} AS SELECT * FROM {t}_rows WHERE run_id IN (SELECT run_id FROM runs);""" for t in PER_RUN_TABLES)

_ADDED_COLUMNS = {"conversations_rows": [("resolved", "BOOLEAN"), ("unhappy_end", "BOOLEAN")],
               "agents_rows": [("resolution_rate", "DOUBLE"), ("unhappy_rate", "DOUBLE")],
               # schema 4: stable finding ids (csqa.review.ids), filled in for the rows of older runs
               "findings_rows": [("finding_id", "VARCHAR")]}
CONVERSATION_FIELDS = ["conversation_id", "agent_id", "agents", "started_at", "ended_at", "n_messages", "score",
                       "passed", "critical", "complaint", "complaint_category", "complaint_severity",
                       "first_response_s", "mean_response_s", "n_findings", "not_applicable", "resolved", "unhappy_end"]
FINDING_FIELDS = ["conversation_id", "finding_index", "agent_id", "rule_id", "rule_name", "check", "severity",
                  "points", "message_index", "timestamp", "span_start", "span_end", "matched_text", "evidence",
                  "explanation", "hl_start", "hl_end", "finding_id"]
AGENT_FIELDS = ["agent_id", "conversations", "mean_score", "pass_rate", "passed", "critical_conversations",
                "findings", "complaints", "serious_complaints", "mean_first_response_s", "mean_response_s",
                "top_failed_check", "pass_rate_low95", "small_sample", "resolution_rate", "unhappy_rate"]
MESSAGE_FIELDS = ["conversation_id", "message_index", "role", "agent_id", "timestamp", "text"]
TIME_FIELDS = {"started_at", "ended_at", "timestamp"}

# Tables other parts of csqa keep in the same file (csqa.web.accounts: the review desk's users, sessions
# and audit rows): name -> DDL (CREATE … IF NOT EXISTS), run with the schema whenever the store is opened
# for writing. A module registers its tables when it is imported (`register_schema`).
SCHEMA_EXTENSIONS: dict[str, str] = {}


def register_schema(name: str, ddl: str) -> None:
    """Have `ddl` run (in the schema's transaction) each time a store is opened for writing."""
    SCHEMA_EXTENSIONS[name] = ddl


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


def _on_disk(table) -> bool:
    """A spool of Parquet parts (csqa.engines.spool.FrameSpool) rather than a DataFrame."""
    return not isinstance(table, pd.DataFrame) and hasattr(table, "parts")


def _q(name: str) -> str:
    return f'"{name}"'


def _to_ts(series: pd.Series) -> pd.Series:
    """Date-times of a column (text or stamps); NaT for missing, "" and what does not parse."""
    s = series.astype("object")
    s = s.where(s.notna() & (s != ""), None)
    return pd.to_datetime(s, errors="coerce")


def _frame(df: pd.DataFrame, fields: list[str], tags: dict) -> pd.DataFrame:
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


@dataclass
class PendingRun:
    """A run whose rows are in the store, not yet recorded (`ResultStore.stage_run`): the
    transaction that records it is open; `commit_run` commits it, `discard_run` drops it all."""

    run_id: str


def open_error(path: Path, exc: BaseException, read_only: bool = False) -> CsqaError:
    """Why DuckDB could not open the store, in one line: in use by another process, read-only,
    not a DuckDB file, or DuckDB's own words."""
    import re

    text = str(exc)
    if "lock" in text.lower():
        pid = re.search(r"PID (\d+)", text)
        who = f" (PID {pid.group(1)})" if pid else ""
        return ConfigError(f"结果库 {path} 正被另一个进程使用{who}；请等它结束后再运行，或换一个 --store / the store is in use "
                           f"by another process{who}: wait for it to finish, or pass another --store")
    if not read_only and storage_problem(exc) in ("read-only", "denied"):
        return read_only_error(path)
    if "not a valid duckdb" in text.lower():
        return ConfigError(f"无法打开结果库 {path}: 它不是 DuckDB 结果库文件；请换一个 --store 路径 / {path} is not a DuckDB "
                           f"file: pass another --store path")
    err = storage_error(exc, path)
    if err is not None:
        return err
    return ConfigError(f"无法打开结果库 {path}: {text}")


def read_only_error(path: Path) -> StorageError:
    return StorageError(f"结果库 {path} 是只读的 (文件或其所在目录不可写)，无法写入本次结果；请让它可写，或用 --store 指定另一个结果库 "
                        f"(csqa report 可以直接读取它) / the store {path} is read-only (the file or its folder cannot be "
                        f"written): make it writable or pass another --store (csqa report reads it as it is)")


def _writable(path: Path) -> bool:
    """The store file (when it exists) and its folder can be written (DuckDB writes its .wal beside it)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def check_writable(path: str | Path) -> None:
    """Before a run scores anything: the store at `path` can be written and no other process has
    it open. Raises the error opening it for writing would raise (one line, exit 2)."""
    import duckdb

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"结果库 {path} 是一个目录；--store 需要一个文件路径，例如 --store shop.duckdb / --store {path} is a "
                          f"folder: pass a file path such as shop.duckdb")
    if not _writable(path):
        raise read_only_error(path)
    if not path.exists():
        return  # (created by the store job; its folder is writable)
    try:
        con = duckdb.connect(str(path), config={"threads": 1})
    except duckdb.Error as exc:
        raise open_error(path, exc) from exc
    con.close()


class ResultStore:
    """A DuckDB results store (see the module docstring for tables and the replacement key)."""

    # the store is written by a process of its own while the report is built (csqa.output_jobs):
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
            if not _writable(self.path):
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
            con.execute(_DDL)
            for ddl in SCHEMA_EXTENSIONS.values():
                con.execute(ddl)
            # schema 3 added the outcome columns: older tables get them (unknown for their rows), the views are
            # made again so that they show them
            added = False
            for table, columns in _ADDED_COLUMNS.items():
                have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
                for name, kind in columns:
                    if name not in have:
                        con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                        added = True
            if added:
                for t in PER_RUN_TABLES:
                    con.execute(f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM {t}_rows "
                                "WHERE run_id IN (SELECT run_id FROM runs)")
            from csqa.review.tables import create_review_tables, fill_finding_ids

            fill_finding_ids(con)  # rows written before schema 4
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
        (csqa.engines.spool) that DuckDB reads itself (no pandas conversion on the way).

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
        inputs = manifest.get("inputs") or []
        inputs_sha = ",".join(sorted(str(i.get("sha256", "")) for i in inputs))
        rows = self._rows

        def findings_frame(part: pd.DataFrame) -> pd.DataFrame:
            fnd = part.copy()
            if "finding_index" not in fnd.columns:  # a conversation's findings are never split across parts
                fnd["finding_index"] = fnd.groupby("conversation_id", sort=False).cumcount() if len(fnd) else []
            if "hl_start" not in fnd.columns:
                fnd["hl_start"], fnd["hl_end"] = fnd.get("span_start"), fnd.get("span_end")
            if "finding_id" not in fnd.columns:
                from csqa.review.ids import add_finding_ids

                fnd = add_finding_ids(fnd, tags["rulebook_sha256"], tags["model_sha256"])
            return _frame(fnd, FINDING_FIELDS, tags)

        frames = {"agents": _frame(agents, AGENT_FIELDS, tags)}
        if not _on_disk(conversations):
            frames["conversations"] = _frame(conversations, CONVERSATION_FIELDS, tags)
        # findings and messages: one DataFrame each, or spools of parts (csqa.engines.spool) inserted part by part
        finding_parts = [findings] if isinstance(findings, pd.DataFrame) else ([] if _on_disk(findings) else findings.frames())
        message_parts = [messages] if isinstance(messages, pd.DataFrame) else ([] if _on_disk(messages) else messages.frames())
        con = self.con
        # a large run streams through; DuckDB spills to disk past this instead of taking 80 % of RAM
        con.execute(f"SET memory_limit='{self.write_memory_limit}'")
        con.execute("SET preserve_insertion_order=false")
        # one thread: the store is written beside three other processes on few cores, where DuckDB's
        # threads cost more CPU than they save time (~0.25 s of 1.5 s at 20k conversations); and no
        # progress bar on stderr for a long insert
        con.execute("SET threads=1")
        con.execute("SET enable_progress_bar=false")
        # The rows go in first, part by part, each insert committed: one transaction holding a whole
        # large run keeps it all in memory. They are invisible until the runs row exists (the views,
        # `load`); if anything fails they are removed again.
        try:
            incoming = itertools.chain(frames.items(),
                                       (("findings", findings_frame(part)) for part in finding_parts),
                                       (("messages", _frame(part, MESSAGE_FIELDS, tags)) for part in message_parts))
            for table, spool, fields in (("conversations", conversations, CONVERSATION_FIELDS),
                                         ("findings", findings, FINDING_FIELDS), ("messages", messages, MESSAGE_FIELDS)):
                if _on_disk(spool):  # Parquet parts: DuckDB reads them itself, in one statement
                    self._insert_parquet(rows[table], spool.parts, fields, tags)
            for table, frame in incoming:
                if table == "agents":
                    continue  # with the runs row, below
                cols = ", ".join(_q(c) for c in frame.columns)
                con.register("incoming", frame)
                con.execute(f"INSERT INTO {rows[table]} ({cols}) SELECT {cols} FROM incoming")
                con.unregister("incoming")
            from csqa.review.tables import fill_finding_ids

            fill_finding_ids(con, run_id)  # (parts written without ids)
        except BaseException:
            self._drop_run_rows(run_id)
            raise
        # the replacements and the runs row, in one transaction left open until `commit_run`: the
        # expensive part (finding the rows to replace) is done now, the commit is quick
        con.execute("BEGIN TRANSACTION")
        try:
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
            from csqa.review.tables import record_rulebook

            record_rulebook(con, manifest)  # the rulebook's text, for human scores (csqa.review)
            agents_frame = frames["agents"]
            cols = ", ".join(_q(c) for c in agents_frame.columns)
            con.register("incoming", agents_frame)
            con.execute(f"INSERT INTO {rows['agents']} ({cols}) SELECT {cols} FROM incoming")
            con.unregister("incoming")
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [run_id, _created(manifest), manifest.get("csqa_version"), json.dumps(inputs, ensure_ascii=False, default=str),
                 inputs_sha, rulebook.get("id"), rulebook.get("sha256"), model.get("id"), model.get("sha256"),
                 bool(manifest.get("masked", True)), len(conversations), len(findings),
                 json.dumps(manifest, ensure_ascii=False, default=str)])
            # earlier runs left without rows are superseded by this one
            con.execute(
                f"""UPDATE runs SET superseded_by = ? WHERE run_id <> ? AND superseded_by IS NULL
                   AND run_id NOT IN (SELECT DISTINCT run_id FROM {rows['conversations']})""", [run_id, run_id])
            con.execute(f"DELETE FROM {rows['agents']} WHERE run_id IN (SELECT run_id FROM runs WHERE superseded_by IS NOT NULL)")
        except BaseException:
            con.execute("ROLLBACK")
            self._drop_run_rows(run_id)
            raise
        return PendingRun(run_id)

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
                exprs.append(_q("span_start" if f == "hl_start" else "span_end"))
            elif f not in present:
                exprs.append("NULL")
            elif f in TIME_FIELDS:
                exprs.append(f"TRY_CAST(NULLIF(CAST({_q(f)} AS VARCHAR), '') AS TIMESTAMP)")
            else:
                exprs.append(_q(f))
        cols = ", ".join(_q(c) for c in list(tags) + fields)
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
            params.append(_day(date_from))
        if date_to:
            where.append("c.started_at < ? + INTERVAL 1 DAY")
            params.append(_day(date_to))
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
        return Selection(_as_run_frame(conv), _as_run_frame(fnd), _as_run_frame(msgs), runs)


def _as_run_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Times back to the 'YYYY-MM-DD HH:MM:SS' text of the CSVs ('' when unknown); Int64 offsets."""
    out = df.copy()
    for col in TIME_FIELDS & set(out.columns):
        ts = pd.to_datetime(out[col], errors="coerce")
        out[col] = ts.dt.strftime("%Y-%m-%d %H:%M:%S").where(ts.notna(), "")
    for col in ("message_index", "span_start", "span_end", "hl_start", "hl_end", "finding_index"):
        if col in out.columns:
            out[col] = out[col].astype("Int64")
    for col in ("passed", "critical"):
        if col in out.columns:
            out[col] = out[col].astype(bool)
    if "complaint" in out.columns:
        out["complaint"] = out["complaint"].astype("boolean")
    for col in ("not_applicable", "complaint_category", "complaint_severity", "matched_text", "evidence", "explanation"):
        if col in out.columns:
            out[col] = out[col].fillna("")
    return out


def _day(value) -> datetime:
    if isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        d = datetime.strptime(str(value).strip()[:10], "%Y-%m-%d")
    except ValueError as exc:
        raise ConfigError(f"日期 {value!r} 无法识别，请用 YYYY-MM-DD (例如 2026-11-01)") from exc
    return d


def _created(manifest: dict) -> datetime:
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


__all__ = ["ResultStore", "Selection", "PendingRun", "check_writable", "new_run_id", "register_schema", "SCHEMA_VERSION"]
