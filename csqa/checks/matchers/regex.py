"""The `regex` matcher: regular expressions, for wordings a phrase list cannot spell out.

    forbid: {regex: ['你(?:是不是|是)(?:傻|笨)']}

Bad: 「你是不是傻」. Good: 「是不是少发了一件」 (no match: 傻 is what the pattern needs).
"""
from __future__ import annotations

import re

from csqa.checks.matchers.base import Span
from csqa.core.memo import Memo

_GROUP_REFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


def any_of(patterns) -> "re.Pattern[str] | None":
    """One regex that matches somewhere in a text exactly when one of `patterns` does (their
    alternation: at each position the engine tries every alternative), or None when joining them
    could change a pattern's meaning (group references are renumbered, inline flags).

    A pre-check, measured: one search of the alternation instead of one per pattern on texts where
    none matches (most). tests/test_regex_alternation_equivalence.py holds it to the plain search."""
    if any(_GROUP_REFERENCE.search(p) or p.lstrip().startswith("(?") and not p.lstrip().startswith(("(?:", "(?=", "(?!", "(?<", "(?P<"))
           for p in patterns):
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns))
    except re.error:
        return None


class RegexMatcher:
    costly = False

    def __init__(self, patterns):
        self.regexes = [re.compile(p) for p in patterns]
        self.any_regex = any_of(patterns) if len(self.regexes) > 1 else None
        self.spans = Memo(self._spans)

    def _spans(self, text: str) -> tuple[Span, ...]:
        if self.any_regex is not None and self.any_regex.search(text) is None:
            return ()  # none of the regexes matches anywhere
        return tuple((m.start(), m.end(), m.group(0)) for rx in self.regexes for m in rx.finditer(text)
                     if m.end() > m.start())
