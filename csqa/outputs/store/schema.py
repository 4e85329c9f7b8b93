"""The store's tables: `runs`, and per result table (`csqa.results.columns`) a `NAME_rows` table with the
run's tags and the declared columns in their DuckDB types, shown through the view NAME (rows of recorded runs)."""
from __future__ import annotations

from csqa.results.columns import AGENTS, CONVERSATIONS, FINDINGS, TRANSCRIPTS

SCHEMA_VERSION = 4  # 4: finding_id and the review loop's tables (csqa.outputs.store.review_tables)
TAGS = ["run_id", "rulebook_sha256", "model_sha256"]
PER_RUN_TABLES = ("conversations", "findings", "agents", "messages")

TABLES = {"conversations": CONVERSATIONS, "findings": FINDINGS, "agents": AGENTS, "messages": TRANSCRIPTS}


def _rows_ddl(table) -> str:
    """The store's table of a declared result table (`csqa.results.columns`): the tags, then its columns."""
    columns = [f"{tag} VARCHAR" for tag in TAGS] + [f'"{c}" {table[c].store_type}' for c in table.store_columns]
    return f"CREATE TABLE IF NOT EXISTS {table.name}_rows (\n    " + ", ".join(columns) + "\n);"


DDL = """
CREATE TABLE IF NOT EXISTS csqa_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, csqa_version VARCHAR, inputs VARCHAR,
    inputs_sha256 VARCHAR, rulebook_id VARCHAR, rulebook_sha256 VARCHAR, model_id VARCHAR, model_sha256 VARCHAR,
    masked BOOLEAN, conversations INTEGER, findings INTEGER, manifest VARCHAR, superseded_by VARCHAR
);
""" + "\n".join(_rows_ddl(TABLES[t]) for t in PER_RUN_TABLES) + "".join(f"""
CREATE VIEW IF NOT EXISTS {t} AS SELECT * FROM {t}_rows WHERE run_id IN (SELECT run_id FROM runs);""" for t in PER_RUN_TABLES)

# columns a later schema added: older stores get them (unknown for their rows)
ADDED_LATER = {f"{t}_rows": [(c.name, c.store_type) for c in TABLES[t].columns if c.store_since > 1]
                for t in PER_RUN_TABLES}
CONVERSATION_FIELDS = CONVERSATIONS.store_columns
FINDING_FIELDS = FINDINGS.store_columns
AGENT_FIELDS = AGENTS.store_columns
MESSAGE_FIELDS = TRANSCRIPTS.store_columns
TIME_FIELDS = {c.name for t in TABLES.values() for c in t.columns if c.kind == "time"}

# Tables other parts of csqa keep in the same file (csqa.web.accounts: the review desk's users, sessions
# and audit rows): name -> DDL (CREATE … IF NOT EXISTS), run with the schema whenever the store is opened
# for writing. A module registers its tables when it is imported (`register_schema`).
SCHEMA_EXTENSIONS: dict[str, str] = {}


def register_schema(name: str, ddl: str) -> None:
    """Have `ddl` run (in the schema's transaction) each time a store is opened for writing."""
    SCHEMA_EXTENSIONS[name] = ddl
