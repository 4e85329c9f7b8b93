"""The `conduct` matcher: the conduct model (csqa.checks.conduct_model) reads the whole reply.

    forbid: {phrases: [...], conduct: argue, conduct_threshold: 0.8, unless_quoted: true}

Bad: 「这个问题我已经说过很多遍了，是您自己没有看清楚」 (P(argue) 0.9x: the clause that scores highest
is the finding). Good: 「您说“你们是不是骗子”，非常理解您的心情」 — with `unless_quoted` the model reads
the agent's own words only; `exclude` phrases (保证正品) are blanked out likewise; replies with fewer than
`conduct_min_chars` characters of their own are left to the phrase lists.
"""
from __future__ import annotations

from csqa.checks.conduct_model import default_model, own_words
from csqa.checks.matchers.base import Span
from csqa.core.memo import Memo


class ConductMatcher:
    costly = True

    def __init__(self, kind: str, threshold: float, quoted: bool = False, allowed=(), min_chars: int = 1):
        self.kind = kind
        self.threshold = threshold
        self.quoted = quoted
        self.allowed = tuple(allowed)
        self.min_chars = min_chars
        self.spans = Memo(self._spans)

    def _spans(self, text: str) -> tuple[Span, ...]:
        return tuple(default_model().spans(text, self.kind, self.threshold, quoted=self.quoted, allowed=self.allowed,
                                    min_chars=self.min_chars))

    def texts_to_score(self, texts) -> set[str]:
        """The texts whose probabilities `spans` reads: each reply as the model scores it (its own words)."""
        return {own_words(t, self.quoted, self.allowed) for t in texts}


def hostility_screen(quoted: bool, allowed, screen: float):
    """text → whether the conduct model scores the reply's own words at least `screen` for some hostile
    kind: replies below it on all are compared with no exemplar of hostile conduct."""
    allowed = tuple(allowed)

    def passes(text: str) -> bool:
        return default_model().hostility(own_words(text, quoted, allowed)) >= screen

    return passes
