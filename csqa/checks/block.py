"""A `require` or `forbid` block: where it matches in a message — the OR of its matchers, minus its exceptions.

    forbid:
      phrases: [不归我管, 找别人]
      unless_negated: true          # 「这不是不归我管」
      unless_quoted: true           # 「您说“不归我管”，非常抱歉」
      exclude: [不归我管的话也会帮您]  # an allowed phrase that contains the match
      unless_followed_by: [帮您转接]  # the reply (or the agent's next one) redeems it

Bad: 「这个不归我管」. Good: 「这个不归我管的话也会帮您转接专员」.

Every matcher (csqa.checks.matchers) proposes spans; overlapping spans merge into the outermost; an
exception drops a span. `find` gives the spans a `forbid` rule reports; `matches` says whether a message
matches at all, which is what a `require` rule and a trigger ask, trying the cheap matchers on every message
before a costly one (exemplar similarity, the conduct model) runs on any.
"""
from __future__ import annotations

from csqa.checks import negation
from csqa.checks.matchers import ConductMatcher, PhraseMatcher, Span, outermost, text_matchers
from csqa.checks.view import ConversationView
from csqa.core.memo import Memo
from csqa.core.records import Message
from csqa.rulebook.schema import Match


class MatchBlock:
    """A `Match` ready to run. Without `models` (csqa score --no-model) its conduct matcher is left out."""

    def __init__(self, match: Match, models: bool = True):
        self.match = match
        self.phrases = PhraseMatcher(match.phrases, match.mode, match.at_least) if match.phrases else None
        self.text_matchers = text_matchers(match, models)
        self.cheap = [m for m in self.text_matchers if not m.costly]
        self.costly = [m for m in self.text_matchers if m.costly]
        self.phrase_set = self.phrases.phrase_set if self.phrases is not None else frozenset()
        self.exclude = list(match.exclude)
        self.redeemers = list(match.unless_followed_by)
        self.has_exceptions = bool(self.exclude or self.redeemers or match.unless_negated or match.unless_quoted)
        # the conduct model speaks only for the replies nothing more precise caught (its span is a clause)
        self.conduct = next((m for m in self.text_matchers if isinstance(m, ConductMatcher)), None)
        # most messages hold nothing any matcher looks for: that is known per text, once
        self.cheap_silent = Memo(lambda text: not any(m.spans(text) for m in self.cheap))
        self.costly_silent = Memo(lambda text: not any(m.spans(text) for m in self.costly))
        self.silent = Memo(lambda text: not any(m.spans(text) for m in self.text_matchers))

    def words(self) -> set[str]:
        """The block's phrases, allowed phrases and redeemers: what the rulebook's phrase index must find."""
        return set(self.phrase_set) | set(self.exclude) | set(self.redeemers)

    def may_match(self, msg: Message, view: ConversationView) -> bool:
        """False when the block certainly finds nothing in the message: it is made of phrases only and none
        of them is in it."""
        return bool(self.text_matchers) or not self.phrase_set.isdisjoint(view.phrase_hits[msg.index])

    def can_match_in(self, view: ConversationView) -> bool:
        """False when the block certainly finds nothing anywhere in the conversation (phrases only, absent)."""
        return bool(self.text_matchers) or not self.phrase_set.isdisjoint(view.present)

    # ---- forbid: every place it matches --------------------------------------------------------------
    def find(self, msg: Message, view: ConversationView, following: list[Message] = ()) -> list[Span]:
        """Spans where the block matches in `msg`, after its exceptions (`following`: the agent's next
        message, which may redeem a match)."""
        if self.phrase_set.isdisjoint(view.phrase_hits[msg.index]) and (
                not self.text_matchers or self.silent(msg.clean)):
            return []  # no matcher proposes anything (the plain path below would find nothing)
        found: list[Span] = []
        if self.phrases is not None:
            found.extend(self._kept(self.phrases.spans(view.phrase_hits[msg.index]), msg, view, following))
        for matcher in self.cheap:
            found.extend(self._kept(matcher.spans(msg.clean), msg, view, following))
        for matcher in self.costly:
            if found and matcher is self.conduct:
                break
            found.extend(self._kept(matcher.spans(msg.clean), msg, view, following))
        return outermost(found, msg.clean) if found else found

    # ---- require and triggers: whether it matches at all ----------------------------------------------
    def matches(self, msg: Message, view: ConversationView) -> bool:
        """Whether `find(msg, view)` finds something."""
        return self.matches_cheaply(msg, view) or (bool(self.costly) and self.matches_costly(msg, view))

    def occurs_in(self, msgs: list[Message], view: ConversationView) -> bool:
        """Whether the block matches in any of `msgs`: the cheap matchers on every message before the costly
        ones on any."""
        if not self.can_match_in(view):
            return False
        return any(self.matches_cheaply(m, view) for m in msgs) or (
            bool(self.costly) and any(self.matches_costly(m, view) for m in msgs))

    def matches_cheaply(self, msg: Message, view: ConversationView) -> bool:
        if self.phrase_set.isdisjoint(view.phrase_hits[msg.index]) and self.cheap_silent(msg.clean):
            return False
        spans = [m.spans(msg.clean) for m in self.cheap]
        if self.phrases is not None:
            spans.insert(0, self.phrases.spans(view.phrase_hits[msg.index]))
        return self._any_kept(spans, msg, view)

    def matches_costly(self, msg: Message, view: ConversationView) -> bool:
        if self.costly_silent(msg.clean):
            return False
        return self._any_kept([m.spans(msg.clean) for m in self.costly], msg, view)

    def _any_kept(self, span_lists, msg: Message, view) -> bool:
        for spans in span_lists:
            if spans and (not self.has_exceptions or self._kept(spans, msg, view, ())):
                return True
        return False

    # ---- exceptions ----------------------------------------------------------------------------------
    def _kept(self, spans, msg: Message, view, following) -> list[Span]:
        if not spans:
            return []
        merged = outermost(spans, msg.clean)
        if not self.has_exceptions:
            return merged
        return [sp for sp in merged if not self._excepted(sp, msg, view, following)]

    def _excepted(self, span: Span, msg: Message, view, following) -> bool:
        start, end, _ = span
        text = msg.clean
        hits = view.phrase_hits[msg.index]
        if any(s <= start and end <= e for phrase in self.exclude for s, e in hits.get(phrase, ())):
            return True  # an allowed phrase holds the match
        if self.match.unless_negated and negation.is_negated(text, start):
            return True
        if self.match.unless_quoted and negation.is_quoted(text, start, end, view.customer_texts_before(msg.index)):
            return True
        if self.redeemers:
            if any(e > start for p in self.redeemers for (s, e) in hits.get(p, ())):
                return True  # redeemed later in the same reply
            for nxt in following[:1]:
                # the next reply redeems only an answer to the same request: at most the customer's one
                # reaction (「那怎么办」) between, not a new request (「另外，发票呢」)
                if view.customer_turns_between(msg.index, nxt.index) <= 1 and any(
                        view.phrase_hits[nxt.index].get(p) for p in self.redeemers):
                    return True
        return False
