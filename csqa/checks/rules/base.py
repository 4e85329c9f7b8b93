"""What every kind of rule gives and reads: a `Hit` (a raw finding, no points yet) and the `Situation` of
the conversation (where the complaint and the pending issue start, its outcome)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from csqa.rulebook.schema import Rule


@dataclass(slots=True)
class Hit:
    """A rule's raw result on one conversation: where, what, and why (no points yet)."""

    rule: Rule
    explanation: str
    message_index: int | None = None
    span: tuple[int, int] | None = None  # in the normalized text of the message
    matched: str = ""


@dataclass(slots=True)
class Situation:
    """Where the conversation's triggers fire, and its outcome (worked out when an outcome rule first asks)."""

    complaint_at: int | None
    pending_at: int | None
    analyse_outcome: Callable[[], object]
    _outcome: object = field(default=None)

    def trigger_for(self, rule: Rule) -> int | None:
        """The message a rule scoped `after` a trigger counts from."""
        return self.complaint_at if rule.scope.after == "complaint" else self.pending_at

    @property
    def outcome(self):
        if self._outcome is None:
            self._outcome = self.analyse_outcome()
        return self._outcome


def explain(rule: Rule, default: str, matched: str = "") -> str:
    """The rule's own explanation template, or the default; {matched} is the matched text."""
    return (rule.explanation or default).replace("{matched}", matched)
