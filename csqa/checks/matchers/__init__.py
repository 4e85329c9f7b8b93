"""Matchers: what a rule's `require` / `forbid` block looks for in one message, one module per kind.

Each gives spans `(start, end, matched)` of a message's normalized text; all but the phrase matcher are
pure functions of the text, remembered per text (`csqa.core.memo.Memo`). A block ORs its matchers, then
applies its exceptions (csqa.checks.block).

| key in a block | module | finds |
|---|---|---|
| phrases (+ mode, at_least) | phrases.py | phrases on jieba word boundaries, one automaton for the rulebook |
| regex | regex.py | regular expressions |
| question | confirmation.py | a confirmation question (您是说…是吗) |
| off_platform | off_platform.py | contact, payment or tips off the platform |
| pii | pii.py | personal data (csqa.checks.pii) |
| similar_to (+ threshold) | exemplars.py | paraphrases of template sentences |
| conduct (+ conduct_threshold …) | conduct.py | the conduct model's kinds (rude, argue …) |
"""
from __future__ import annotations

from csqa.checks.matchers.base import Span, TextMatcher, outermost
from csqa.checks.matchers.confirmation import ConfirmationMatcher
from csqa.checks.matchers.conduct import ConductMatcher, hostility_screen
from csqa.checks.matchers.exemplars import ExemplarMatcher
from csqa.checks.matchers.off_platform import OffPlatformMatcher
from csqa.checks.matchers.phrases import PhraseIndex, PhraseMatcher
from csqa.checks.matchers.pii import PiiMatcher
from csqa.checks.matchers.regex import RegexMatcher
from csqa.rulebook.schema import Match

__all__ = ["Span", "TextMatcher", "PhraseIndex", "PhraseMatcher", "text_matchers", "outermost"]


def text_matchers(match: Match, models: bool = True) -> list[TextMatcher]:
    """A block's matchers other than its phrases, cheapest first; the conduct model last (its span is a
    whole clause: it speaks for the replies nothing more precise caught). Without `models` (csqa score
    --no-model) the conduct matcher is left out, and so is the model's screen before the exemplars."""
    found: list[TextMatcher] = []
    if match.regex:
        found.append(RegexMatcher(match.regex))
    if match.question:
        found.append(ConfirmationMatcher())
    if match.off_platform:
        found.append(OffPlatformMatcher())
    if match.pii:
        found.append(PiiMatcher(match.pii))
    conduct = match.conduct if models else None
    if match.similar_to:
        screen = (hostility_screen(match.unless_quoted, match.exclude, match.conduct_screen)
                  if conduct and match.conduct_screen > 0 else None)
        found.append(ExemplarMatcher(match.similar_to, match.threshold, polarity=match.unless_negated,
                                     skip_quoted=match.unless_quoted, screen=screen))
    if conduct:
        found.append(ConductMatcher(conduct, match.conduct_threshold, quoted=match.unless_quoted,
                                    allowed=match.exclude, min_chars=match.conduct_min_chars))
    return found
