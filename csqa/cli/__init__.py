"""csqa command line: score, report, rules, the complaint model's train / classify / evaluate, the review
loop's sample / review / rescore, and the review desk's serve / users.

One module per sub-command (score.py, report.py, rules.py; the models' train / classify / evaluate in
models.py; sample / review / rescore / rules stats in review.py; serve / users in serve.py), each only
parsing and handing down; group.py holds the group, its error handling, `--debug` (an option of every
command) and the commands loaded only when named.

Exit codes: 0 success · 1 unexpected internal error · 2 bad input, rulebook or option
(one clear line on stderr; `--debug` shows the traceback) · 141 the reader of the output
closed the pipe (`csqa rules list | head`): quietly, as a Unix tool would.

Imports are kept light here and made where a command runs: `csqa score` forks its ingest child
(`csqa.ingest.background`) first thing, while the process holds only the standard library and
click — before pandas, jieba, DuckDB or Arrow are imported (they start thread pools, and a fork
must not copy a process with threads running).
"""
from __future__ import annotations

from csqa.cli.group import CsqaGroup, Terminated, cli
from csqa.cli import report, rules, score as _score_command  # noqa: F401 - the commands register with `cli`

score = _score_command.score


def main() -> None:
    from csqa.runtime.lifeline import end_helper_processes

    try:
        cli(prog_name="csqa")
    finally:
        end_helper_processes()  # no process of csqa's outlives the command


__all__ = ["CsqaGroup", "Terminated", "cli", "main", "score"]
