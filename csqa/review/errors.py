"""What the review loop's functions raise: csqa errors (one line, exit 2 on the command line), of
three kinds a web app can tell apart (400 / 404 / 403 / 409)."""
from __future__ import annotations

from csqa.core.errors import CsqaError


class ReviewError(CsqaError):
    """A request the review loop cannot take: bad value, missing reason … (HTTP 400)."""


class NotFound(ReviewError):
    """No such conversation, finding, appeal or rule in the store (HTTP 404)."""


class NotAllowed(ReviewError):
    """The user may not do this: an agent appealing another agent's finding, an arbiter ruling on
    their own appeal (HTTP 403)."""


class Conflict(ReviewError):
    """The state does not allow it: an appeal already ruled on, a finding already under appeal (HTTP 409)."""


class ImportRejected(ReviewError):
    """A verdict file with rows that cannot be taken; nothing of it was applied. `problems` lists
    (row label, column, reason) of each bad row."""

    def __init__(self, message: str, problems: list[tuple[str, str, str]]):
        super().__init__(message)
        self.problems = problems
