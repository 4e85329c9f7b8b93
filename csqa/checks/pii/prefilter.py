"""Prefilters: what a text must hold for a pattern to match anywhere in it, declared in the registry.

A recognizer or one of its patterns declares ``prefilter: {digits: N, digit_run: N, any_of: [...]}``
(registry.yaml). Before a pattern's regex runs on a text, the text's facts (how many digits, the
longest run of digits, which registry words occur) are checked against it; a pattern whose
prefilter the text fails cannot match, so it is not run. A prefilter is a promise the registry
makes, not something worked out from the regex: tests/test_pii_prefilter_equivalence.py holds the
registry to it by scanning real and written texts with and without prefilters.

Bad prefilter (breaks the promise): ``{any_of: [微信]}`` on a pattern that also matches "vx abc123"
— the text without 微信 would be skipped and the id left visible.
Good: ``{any_of: [微信, vx, VX, ...]}`` listing every cue the regex starts with; ``{digits: 11}`` on
a phone pattern (a match holds 11 digits, so a text with fewer cannot hold one).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Optional

from .text_forms import NUMERAL_RUN, written_forms

_DIGIT_RUNS = re.compile(r"\d+")


class TextFacts(NamedTuple):
    """What prefilters ask of one (folded) text."""

    digits: int                 # \d characters in all
    run: int                    # the longest run of consecutive \d characters
    words: frozenset            # the registry's prefilter words that occur in the text


@dataclass(frozen=True)
class Prefilter:
    """A necessary condition for a match: every field given must hold (0 / empty: not asked)."""

    digits: int = 0                     # the text holds at least this many \d characters
    digit_run: int = 0                  # … and a run of at least this many consecutive ones
    any_of: tuple[str, ...] = ()        # … and one of these strings (case-sensitive)
    _word_set: frozenset = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_word_set", frozenset(self.any_of))

    @property
    def needs_digit(self) -> bool:
        return self.digits > 0 or self.digit_run > 0

    def admits(self, facts: TextFacts) -> bool:
        if self.digits > facts.digits or self.digit_run > facts.run:
            return False
        return not self._word_set or not self._word_set.isdisjoint(facts.words)


def parse_prefilter(data, cues: tuple[str, ...], where: str) -> Optional[Prefilter]:
    """A registry ``prefilter:`` mapping; ``any_of: cues`` stands for the recognizer's cue words."""
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) - {"digits", "digit_run", "any_of"}:
        raise ValueError(f"pii registry: {where}: prefilter takes digits, digit_run and any_of only")
    words = data.get("any_of") or ()
    if words == "cues":
        if not cues:
            raise ValueError(f"pii registry: {where}: prefilter any_of: cues, but the entry has no cues")
        words = cues
    if isinstance(words, str) or not all(isinstance(w, str) and w for w in words):
        raise ValueError(f"pii registry: {where}: prefilter any_of must be a list of non-empty strings or 'cues'")
    return Prefilter(digits=int(data.get("digits", 0)), digit_run=int(data.get("digit_run", 0)),
                     any_of=tuple(dict.fromkeys(words)))


class WordFinder:
    """Finds which of a fixed set of words occur in a text, with one Aho-Corasick pass."""

    def __init__(self, words: Iterable[str]):
        self.words = frozenset(words)
        self._iter = None
        if self.words:
            import ahocorasick

            automaton = ahocorasick.Automaton()
            for w in self.words:
                automaton.add_word(w, w)
            automaton.make_automaton()
            self._iter = automaton.iter

    def __call__(self, text: str) -> frozenset:
        if self._iter is None:
            return frozenset()
        return frozenset(w for _, w in self._iter(text))

    def first(self, text: str):
        """One word found in `text`, or None."""
        return None if self._iter is None else next(self._iter(text), None)


def text_facts(text: str, find_words: WordFinder) -> TextFacts:
    runs = _DIGIT_RUNS.findall(text)
    if not runs:
        return TextFacts(0, 0, find_words(text))
    lengths = list(map(len, runs))
    return TextFacts(sum(lengths), max(lengths), find_words(text))


def quick_check(conditions: Iterable[tuple[Optional[Prefilter], ...]], numerals: bool = False):
    """A test of the text AS WRITTEN that is true whenever any of the conditions can pass on its
    folded form (each condition: the prefilters one pattern must pass). None when some pattern
    declares no prefilter (then every text must be scanned).

    A condition asking for a digit is served by ``\\d`` (and, with `numerals`, a run of Chinese
    numerals, which masking folds into digits); one asking only for words, by those words written
    in any form that folds into them (full-width letters, the ideographic space), found with one
    search (a regex for a few spellings, an Aho-Corasick automaton for many)."""
    need_digit = False
    words: set[str] = set()
    for prefilters in conditions:
        given = [p for p in prefilters if p is not None]
        if any(p.needs_digit for p in given):
            need_digit = True
            continue
        worded = [p for p in given if p.any_of]
        if not worded:
            return None
        words.update(min(worded, key=lambda p: len(p.any_of)).any_of)
    if not need_digit and not words:
        return None
    digit = None
    if need_digit:
        digit = re.compile(r"\d|" + NUMERAL_RUN.pattern if numerals else r"\d").search
    variants = sorted({v for w in words for v in _written_variants(w, numerals)}, key=lambda v: (-len(v), v))
    if len(variants) <= _FEW_WORDS:  # (a few: one regex search is quicker than an automaton)
        word = re.compile("|".join(map(re.escape, variants))).search if variants else None
    else:
        word = WordFinder(variants).first
    if digit is None:
        return lambda text: word(text) is not None
    if word is None:
        return lambda text: digit(text) is not None
    return lambda text: digit(text) is not None or word(text) is not None


_FEW_WORDS = 200  # spellings up to which one regex beats the automaton (measured on jd_20000)


def _written_variants(word: str, numerals: bool) -> list[str]:
    """Every spelling of `word` that folds into it (a word of n letters: 2**n)."""
    out = [""]
    for c in word:
        out = [head + f for head in out for f in written_forms(c, numerals=numerals and c.isdigit())]
    return out
