"""The `phrases` matcher: phrase sets matched on jieba word boundaries, all phrases of a rulebook
in one automaton.

    forbid: {phrases: [靠, 滚]}

Bad (substring matching, what the commercial suites do): the forbidden word 靠 fires
inside 「这款很可靠」. Good (csqa): 靠 is only found where jieba cut it as a word, as in
「靠，又是你」. Phrases of three characters or more fall back to plain character
matching, because jieba sometimes cuts a long phrase differently from the rule writer
(「不归我管」 may come out as 不归 / 我 / 管).
"""
from __future__ import annotations

from collections.abc import Mapping
from itertools import accumulate
from types import MappingProxyType

import ahocorasick

from csqa.checks.matchers.base import Span
from csqa.core.memo import Memo

# A phrase this long or longer is matched as characters even across token boundaries.
CHAR_FALLBACK_LEN = 3
# the hits of a text without any phrase: shared, read-only
NO_HITS = MappingProxyType({})


class PhraseIndex:
    """One Aho-Corasick automaton for every phrase of every rule: `hits(text, tokens)` gives each
    phrase's occurrences in a message once, and every rule's phrase matcher reads them."""

    def __init__(self, phrases):
        self.automaton = ahocorasick.Automaton()
        self.phrases = sorted({p for p in phrases if p})
        for phrase in self.phrases:
            # the value: the phrase, its length and whether it must sit on word boundaries
            self.automaton.add_word(phrase, (phrase, len(phrase), len(phrase) < CHAR_FALLBACK_LEN))
        self._empty = not self.phrases
        if not self._empty:
            self.automaton.make_automaton()
        # canned replies recur: the hits are kept per (text, tokens); callers must not modify them
        self._hits = Memo(self._find)

    def hits(self, text: str, tokens) -> Mapping[str, list[tuple[int, int]]]:
        """Occurrences of each phrase in `text` (spans), keeping only word-aligned short phrases.
        `tokens` is the segmentation of `text`; its word boundaries are only worked out when a
        short phrase occurs."""
        return self._hits((text, tokens))

    def _find(self, key) -> Mapping[str, list[tuple[int, int]]]:
        text, tokens = key
        hits: dict[str, list[tuple[int, int]]] = {}
        if self._empty or not text:
            return NO_HITS
        bounds = None
        for end_idx, (phrase, length, short) in self.automaton.iter(text):
            end = end_idx + 1
            start = end - length
            if short:
                if bounds is None:
                    bounds = set(accumulate(map(len, tokens), initial=0))
                if start not in bounds or end not in bounds:
                    continue
            spans = hits.get(phrase)
            if spans is None:
                hits[phrase] = [(start, end)]
            else:
                spans.append((start, end))
        return hits or NO_HITS


class PhraseMatcher:
    """A block's phrases under its `mode`: any phrase (`any`), a phrase of every synonym group (`all`), or
    of `at_least` groups. A nested list is a group of synonyms.

    Bad (mode all, groups [[退款, 退钱], [到账]]): 「已经给您退款了」 — no phrase of the second group.
    Good: 「退款三天内到账」."""

    def __init__(self, phrases, mode: str = "any", at_least: int = 1):
        self.groups = phrase_groups(phrases)
        self.phrase_set = frozenset(p for group in self.groups for p in group)
        self.mode = mode
        self.at_least = at_least

    def spans(self, hits: Mapping) -> list[Span]:
        """Spans in a message, from its phrase hits (`PhraseIndex.hits`); [] when the condition fails."""
        if not hits or self.phrase_set.isdisjoint(hits):
            return []
        return match_groups(self.groups, hits, self.mode, self.at_least, self.phrase_set)


def phrase_groups(items) -> list[tuple[str, ...]]:
    """A rule's phrases as synonym groups: a plain string is a group of one."""
    return [tuple(item) if isinstance(item, list) else (item,) for item in items]


def match_groups(groups, hits, mode: str, at_least: int, phrase_set=None) -> list[tuple[int, int, str]]:
    """Spans for the groups under any / all / at_least semantics; [] when the condition fails.

    `hits` holds only the phrases present in the message, so for `any` it is cheaper to walk
    the hits than the rule's (often long) phrase list."""
    if mode == "any" and phrase_set is not None:
        found = [(s, e, p) for p, spans in hits.items() if p in phrase_set for (s, e) in spans]
        found.sort()
        return found
    found: list[tuple[int, int, str]] = []
    groups_hit = 0
    for group in groups:
        group_spans = [(s, e, p) for p in group for (s, e) in hits.get(p, ())]
        if group_spans:
            groups_hit += 1
            found.extend(group_spans)
    if mode == "all" and groups_hit < len(groups):
        return []
    if mode == "at_least" and groups_hit < at_least:
        return []
    return sorted(found)
