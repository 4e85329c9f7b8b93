"""The review loop: people check the machine's findings, and csqa learns from them.

A plain Python API over the results store (DuckDB), used by the ``csqa sample`` / ``csqa review``
/ ``csqa rules stats`` commands (`csqa.cli.review`) and by a web desk. Every function takes
``store``: a path to the store file, an open `csqa.outputs.store.ResultStore`, or a DuckDB connection
to one (a web app keeps one connection). Errors are `csqa.review.errors` classes — `ReviewError`
(bad request, HTTP 400), `NotFound` (404), `NotAllowed` (403), `Conflict` (409),
`ImportRejected` (a verdict file with bad rows: ``.problems`` lists (row, column, reason);
nothing of the file was applied) — each with a one-line Chinese/English message.

Queue (who reviews what)
    sample(store, out_xlsx, SampleOptions(rate=0.05, min_per_agent=0, reviewers=[("a", None)],
           calibration=0, seed="0", period="week"), assigned_by="") -> SampleResult
    queue_of(store, reviewer=None) -> DataFrame   # queued conversations, with `reviewed` per reviewer

Verdicts (正确 / 误报 / 漏检 / 撤回)
    set_verdict(store, reviewer, finding_id, verdict, comment="") -> ImportResult
    add_missed(store, reviewer, conversation_id, rule_id, message_index, comment="") -> str (its id)
    mark_reviewed(store, reviewer, conversation_id, comment="") -> ImportResult
    import_verdict_file(store, path, reviewer) -> ImportResult   # CSV or XLSX; all rows or none
    current_verdicts(store, conversation_id=None, reviewer=None) -> DataFrame

Human score (the machine's ledger with people's decisions, priced by the same scorecard)
    conversation_review(store, conversation_id) -> HumanScore   # .lines: machine and human points per finding

Appeals (an agent disputes, an arbiter rules once; final)
    file_appeal(store, agent, finding_id, reason) -> Appeal
    rule_on_appeal(store, arbiter, appeal_id, decision, comment="") -> Appeal   # decision: upheld / overturned
    list_appeals(store, status=None, agent=None, conversation_id=None) -> list[Appeal]

Audit and statistics
    audit_trail(store, conversation_id=None, finding_id=None) -> DataFrame   # every event, append-only
    rule_precision(store, floor=0.8) -> DataFrame   # per rule, Wilson 95 % interval
    reviewer_agreement(store) -> DataFrame          # Cohen's / Fleiss' kappa on calibration conversations
"""
from __future__ import annotations

# The names below are imported when first used (PEP 562): `csqa.cli` wires the review commands in
# without importing pandas and the rest before `csqa score` forks its background reader.
_EXPORTS = {
    "csqa.review.appeals": ["Appeal", "audit_trail", "file_appeal", "list_appeals", "rule_on_appeal"],
    "csqa.review.errors": ["Conflict", "ImportRejected", "NotAllowed", "NotFound", "ReviewError"],
    "csqa.review.human_score": ["HumanScore", "LedgerLine", "conversation_review"],
    "csqa.results.finding_ids": ["finding_id", "missed_id"],
    "csqa.review.sampling": ["SampleOptions", "SampleResult", "parse_reviewers", "queue_of", "sample"],
    "csqa.review.stats": ["reviewer_agreement", "rule_precision"],
    "csqa.review.verdicts": ["ImportResult", "add_missed", "current_verdicts", "mark_reviewed", "record_verdicts",
                             "set_verdict"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'csqa.review' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def import_verdict_file(store, path, reviewer: str):
    """Read a reviewer's CSV or XLSX (`csqa.review.queue_xlsx.read_verdict_file`) and record it:
    every row, or — when any row cannot be taken — none (`ImportRejected` lists them). Returns an
    `ImportResult`."""
    from pathlib import Path

    from csqa.review.queue_xlsx import read_verdict_file
    from csqa.review.verdicts import record_verdicts

    found = read_verdict_file(path)
    return record_verdicts(store, reviewer, found.rows, found.labels, source=Path(path).name,
                           problems=found.problems, skipped_blank=found.blank)


__all__ = ["Appeal", "Conflict", "HumanScore", "ImportRejected", "ImportResult", "LedgerLine", "NotAllowed", "NotFound",
           "ReviewError", "SampleOptions", "SampleResult", "add_missed", "audit_trail", "conversation_review",
           "current_verdicts", "file_appeal", "finding_id", "import_verdict_file", "list_appeals", "mark_reviewed",
           "missed_id", "parse_reviewers", "queue_of", "record_verdicts", "reviewer_agreement", "rule_on_appeal",
           "rule_precision", "sample", "set_verdict"]
