"""Phrase sets matched on jieba word boundaries, all phrases of a rulebook in one automaton.

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

from csqa.core.memo import TEXTS_PER_MEMO

# A phrase this long or longer is matched as characters even across token boundaries.
CHAR_FALLBACK_LEN = 3
# distinct texts whose phrase hits are kept (the cache is cleared when full)
CACHE_SIZE = TEXTS_PER_MEMO  # see csqa.core.memo
# the hits of a text without any phrase: shared, read-only
NO_HITS = MappingProxyType({})


class PhraseIndex:
    """One Aho-Corasick automaton for every phrase of every rule."""

    def __init__(self, phrases):
        self.automaton = ahocorasick.Automaton()
        self.phrases = sorted({p for p in phrases if p})
        for phrase in self.phrases:
            # the value: the phrase, its length and whether it must sit on word boundaries
            self.automaton.add_word(phrase, (phrase, len(phrase), len(phrase) < CHAR_FALLBACK_LEN))
        self._empty = not self.phrases
        if not self._empty:
            self.automaton.make_automaton()
        self._cache: dict[str, tuple[tuple[str, ...], dict]] = {}  # text → (tokens, hits)

    def find(self, text: str, tokens) -> Mapping[str, list[tuple[int, int]]]:
        """Occurrences of each phrase in `text` (spans), keeping only word-aligned short phrases.

        `tokens` is the segmentation of `text`; its word boundaries are only worked out when a
        short phrase occurs. Canned replies recur, so the hits are kept per text (and tokens):
        callers must not modify them."""
        cached = self._cache.get(text)
        if cached is not None and cached[0] == tokens:
            return cached[1]
        hits = self._find(text, tokens) or NO_HITS
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[text] = (tokens, hits)
        return hits

    def _find(self, text: str, tokens) -> dict[str, list[tuple[int, int]]]:
        hits: dict[str, list[tuple[int, int]]] = {}
        if self._empty or not text:
            return hits
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
        return hits


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


# ---- literals a regex cannot match without ------------------------------------------------
try:  # Python ≥ 3.11
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_MAX_ALTERNATIVES = 64  # largest set of strings tracked for one piece of a pattern
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", _sre.MAX_REPEAT)}
_GROUPS = {_sre.SUBPATTERN, getattr(_sre, "ATOMIC_GROUP", _sre.SUBPATTERN)}
_ZERO_WIDTH = {_sre.ASSERT, _sre.ASSERT_NOT, _sre.AT}


def required_substrings(pattern: str) -> frozenset[str] | None:
    """Strings of which every match of `pattern` contains at least one, or None when no such
    set is found (case-insensitive or too complex a pattern).

    A cheap literal pre-check (one automaton pass) can then skip a costly regex on text that
    holds none of them: `私下(?:交易|转账)` needs 私下交易 or 私下转账, `(?<![呼转])转(?:账|款)?给我`
    needs 转给我, 转账给我 or 转款给我."""
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception:  # noqa: BLE001 - only an optimization: no pre-check
        return None
    if parsed.state.flags & _sre.SRE_FLAG_IGNORECASE:
        return None
    try:
        return _needed(list(parsed))
    except _Unsupported:
        return None


class _Unsupported(Exception):
    pass


def _minimal(strings) -> frozenset[str]:
    """Drop every string that contains a shorter one of the set (the shorter one is needed anyway)."""
    keep: list[str] = []
    for s in sorted(set(strings), key=len):
        if not any(k in s for k in keep):
            keep.append(s)
    return frozenset(keep)


def _selectivity(strings: frozenset[str]) -> tuple[int, int]:
    """Longer and fewer strings rule out more text."""
    return (min(map(len, strings)), -len(strings))


def _exact(items) -> set[str] | None:
    """Every string a sequence of pattern items can match, if few and fixed (else None)."""
    out = {""}
    for item in items:
        options = _exact_item(item)
        if options is None:
            return None
        out = {a + b for a in out for b in options}
        if len(out) > _MAX_ALTERNATIVES:
            return None
    return out


def _exact_item(item) -> set[str] | None:
    op, av = item
    if op == _sre.LITERAL:
        return {chr(av)}
    if op == _sre.IN:
        chars: set[str] = set()
        for kind, value in av:
            if kind == _sre.LITERAL:
                chars.add(chr(value))
            elif kind == _sre.RANGE and value[1] - value[0] < _MAX_ALTERNATIVES:
                chars.update(chr(c) for c in range(value[0], value[1] + 1))
            else:  # a negated class, a category (\d, \s) or a wide range
                return None
        return chars if len(chars) <= _MAX_ALTERNATIVES else None
    if op in _GROUPS:
        _check_flags(av)
        return _exact(list(av[-1]))
    if op == _sre.BRANCH:
        out: set[str] = set()
        for alternative in av[1]:
            options = _exact(list(alternative))
            if options is None:
                return None
            out |= options
        return out if len(out) <= _MAX_ALTERNATIVES else None
    if op in _REPEATS:
        low, high, body = av
        options = _exact(list(body))
        if options is None:
            return None
        if low == 0 and high == 1:
            return options | {""}
        if low == high and len(options) ** low <= _MAX_ALTERNATIVES:
            out = {""}
            for _ in range(low):
                out = {a + b for a in out for b in options}
            return out
        return None
    if op in _ZERO_WIDTH:
        return {""}  # consumes nothing: the strings around it stay adjacent
    return None


def _check_flags(group_av) -> None:
    # a group (?i:…) changes case sensitivity: give up on the whole pattern
    if len(group_av) == 4 and group_av[1] & _sre.SRE_FLAG_IGNORECASE:
        raise _Unsupported


def _needed(items) -> frozenset[str] | None:
    """The most selective set of strings one of which every match of the sequence contains."""
    candidates: list[frozenset[str]] = []
    run = {""}  # strings matched by the current run of fixed items, joined
    for item in items:
        options = _exact_item(item)
        joined = {a + b for a in run for b in options} if options is not None else None
        if joined is None or len(joined) > _MAX_ALTERNATIVES:
            if "" not in run:
                candidates.append(_minimal(run))
            run = options if options is not None and len(options) <= _MAX_ALTERNATIVES else {""}
        else:
            run = joined
        inner = _needed_item(item)
        if inner is not None:
            candidates.append(inner)
    if "" not in run:
        candidates.append(_minimal(run))
    return max(candidates, key=_selectivity) if candidates else None


def _needed_item(item) -> frozenset[str] | None:
    op, av = item
    if op in _GROUPS:
        _check_flags(av)
        return _needed(list(av[-1]))
    if op == _sre.BRANCH:
        out: set[str] = set()
        for alternative in av[1]:
            needed = _needed(list(alternative))
            if needed is None:
                return None
            out |= needed
        return _minimal(out)
    if op in _REPEATS and av[0] >= 1:
        return _needed(list(av[2]))
    return None
