"""Phrase sets matched on jieba word boundaries, all phrases of a rulebook in one automaton.

Bad (substring matching, what the commercial suites do): the forbidden word 靠 fires
inside 「这款很可靠」. Good (csqa): 靠 is only found where jieba cut it as a word, as in
「靠，又是你」. Phrases of three characters or more fall back to plain character
matching, because jieba sometimes cuts a long phrase differently from the rule writer
(「不归我管」 may come out as 不归 / 我 / 管).
"""
from __future__ import annotations

from collections import defaultdict

import ahocorasick

# A phrase this long or longer is matched as characters even across token boundaries.
CHAR_FALLBACK_LEN = 3


class PhraseIndex:
    """One Aho-Corasick automaton for every phrase of every rule."""

    def __init__(self, phrases):
        self.automaton = ahocorasick.Automaton()
        self.phrases = sorted({p for p in phrases if p})
        for phrase in self.phrases:
            self.automaton.add_word(phrase, phrase)
        self._empty = not self.phrases
        if not self._empty:
            self.automaton.make_automaton()

    def find(self, text: str, bounds: set[int]) -> dict[str, list[tuple[int, int]]]:
        """Occurrences of each phrase in `text` (spans), keeping only word-aligned short phrases."""
        hits: dict[str, list[tuple[int, int]]] = defaultdict(list)
        if self._empty or not text:
            return hits
        for end_idx, phrase in self.automaton.iter(text):
            end = end_idx + 1
            start = end - len(phrase)
            if len(phrase) < CHAR_FALLBACK_LEN and not (start in bounds and end in bounds):
                continue
            hits[phrase].append((start, end))
        return hits


def phrase_groups(items) -> list[tuple[str, ...]]:
    """A rule's phrases as synonym groups: a plain string is a group of one."""
    return [tuple(item) if isinstance(item, list) else (item,) for item in items]


def match_groups(groups, hits, mode: str, at_least: int, phrase_set=None) -> list[tuple[int, int, str]]:
    """Spans for the groups under any / all / at_least semantics; [] when the condition fails.

    `hits` holds only the phrases present in the message, so for `any` it is cheaper to walk
    the hits than the rule's (often long) phrase list."""
    if mode == "any" and phrase_set is not None:
        return sorted((s, e, p) for p, spans in hits.items() if p in phrase_set for (s, e) in spans)
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
