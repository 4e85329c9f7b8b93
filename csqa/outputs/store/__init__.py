"""The results store: every scored batch in one DuckDB file, so reports can span weeks and months.

    from csqa.outputs.store import ResultStore
    with ResultStore("results.duckdb") as store:
        run_id = store.write_run(manifest, conversations, findings, agents, messages)
        sel = store.load(date_from="2026-11-01", date_to="2026-11-30", agent="shop_小美")
        html, sheets = csqa.outputs.report.build(sel.conversations, sel.findings, None, sel.messages, summary)

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

Modules: `schema` (the tables, derived from `csqa.results.columns`), `access` (can the store be
opened and written: one clear line when not), `frames` (rows in and out of DuckDB's types),
`result_store` (`ResultStore`: writing a run, reading a selection).
"""
from csqa.outputs.store.access import check_writable
from csqa.outputs.store.frames import new_run_id
from csqa.outputs.store.result_store import PendingRun, ResultStore, Selection
from csqa.outputs.store.schema import SCHEMA_VERSION, TAGS

__all__ = ["ResultStore", "Selection", "PendingRun", "check_writable", "new_run_id", "SCHEMA_VERSION", "TAGS"]
