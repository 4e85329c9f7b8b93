"""Running a registry's patterns over one folded text: candidates with their context score.

`find_candidates` is the one scan both detection and masking use. Given the text's facts it runs
only the patterns whose declared prefilters the text passes; given none, every pattern (the plain
path the prefilters are tested against). A `Scanner` is a registry ready for it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple, Optional

from .prefilter import TextFacts, WordFinder, quick_check, text_facts
from .registry import PatternSpec, Recognizer
from .validators import VALIDATORS


@dataclass
class Candidate:
    rec: Recognizer
    start: int
    end: int
    score: float
    note: str
    keep_end: Optional[int]  # for addresses: keep text[start:keep_end] when masking


def _last_hit(window: str, words: Iterable[str]) -> tuple[int, str]:
    """End position of the last occurrence of any word in window (-1 if none)."""
    best, best_word = -1, ""
    low = window.lower()
    for w in words:
        i = low.rfind(w.lower())
        if i >= 0 and i + len(w) > best:
            best, best_word = i + len(w), w
    return best, best_word


def _first_hit(window: str, words: Iterable[str]) -> tuple[int, str]:
    best, best_word = len(window) + 1, ""
    low = window.lower()
    for w in words:
        i = low.find(w.lower())
        if 0 <= i < best:
            best, best_word = i, w
    return (best if best_word else -1), best_word


def context_score(norm: str, start: int, end: int, rec: Recognizer, base: float) -> tuple[float, str]:
    """Nearest context word wins: positive raises, order-number words lower."""
    before = norm[max(0, start - rec.window_before):start]
    pos, pos_w = _last_hit(before, rec.context)
    neg, neg_w = _last_hit(before, rec.negative_context)
    if neg > pos:
        return base - rec.negative_penalty, f"（附近有“{neg_w}”，疑似单号，已降低置信度）"
    if pos >= 0:
        return base + rec.context_boost, f"（上下文提示：“{pos_w}”）"
    after = norm[end:end + rec.window_after]
    pos, pos_w = _first_hit(after, rec.context)
    neg, neg_w = _first_hit(after, rec.negative_context)
    if neg >= 0 and (pos < 0 or neg < pos):
        return base - rec.negative_penalty, f"（附近有“{neg_w}”，疑似单号，已降低置信度）"
    if pos >= 0:
        return base + rec.context_boost, f"（上下文提示：“{pos_w}”）"
    return base, ""


def scan_regions(norm: str, rec: Recognizer) -> list[tuple[int, int]]:
    """Slices of ``norm`` to scan: the whole text, or merged windows around the hits of the
    recognizer's ``requires`` (keeps heavy patterns linear on long texts)."""
    if rec.requires is None:
        return [(0, len(norm))]
    before, after = rec.requires_window
    spans: list[tuple[int, int]] = []
    for m in rec.requires.finditer(norm):
        lo, hi = max(0, m.start() - before), min(len(norm), m.end() + after)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def find_candidates(norm: str, recognizers: Iterable[Recognizer], wanted: Optional[set[str]] = None) -> list[Candidate]:
    """Every candidate of the wanted recognizers in the folded text `norm`, in recognizer / pattern /
    match order, any score: every pattern run (the plain path)."""
    cands: list[Candidate] = []
    for rec in recognizers:
        if wanted is None or rec.id in wanted:
            run_patterns(norm, rec, rec.patterns, cands)
    return cands


def run_patterns(norm: str, rec: Recognizer, patterns: Iterable[PatternSpec], out: list) -> None:
    """The candidates of some of `rec`'s patterns, appended to `out`."""
    regions = None
    for pat in patterns:
        if regions is None:
            regions = scan_regions(norm, rec)
        for lo, hi in regions:
            _pattern_candidates(norm, rec, pat, lo, hi, out)


def _pattern_candidates(norm: str, rec: Recognizer, pat: PatternSpec, lo: int, hi: int, out: list) -> None:
    vname = pat.validator or rec.validator
    validator = VALIDATORS[vname] if vname else None
    has_value = "value" in pat.regex.groupindex
    has_admin = "admin" in pat.regex.groupindex
    for m in pat.regex.finditer(norm, lo, hi):
        if has_value and m.group("value") is not None:
            start, end = m.span("value")
        else:
            start, end = m.span()
        if start == end or (validator is not None and not validator(norm[start:end])):
            continue
        keep_end = None
        if has_admin and m.group("admin"):
            keep_end = m.end("admin")
            # trim unrelated leading characters up to a province name
            admin = norm[start:keep_end]
            hits = [i for i in (admin.find(a) for a in rec.anchors) if i >= 0]
            if hits and min(hits) > 0:
                start += min(hits)
            while keep_end > start and norm[keep_end - 1] == " ":
                keep_end -= 1
        score, note = context_score(norm, start, end, rec, pat.score)
        out.append(Candidate(rec, start, end, round(max(0.0, min(1.0, score)), 2), note, keep_end))


class _Plan(NamedTuple):
    """One recognizer's patterns with the prefilters each must pass, merged: the most digits and
    the longest run any of them asks, and every word set (one word of each must occur)."""

    digits: int                 # the fewest any of its patterns asks
    run: int
    words: Optional[frozenset]  # the recognizer's own word set (asked of every pattern)
    rec: Recognizer
    patterns: tuple[tuple[int, int, tuple[frozenset, ...], PatternSpec], ...]


def plan(rec: Recognizer) -> _Plan:
    pats = []
    for pat in rec.patterns:
        given = [p for p in (rec.prefilter, pat.prefilter) if p is not None]
        pats.append((max((p.digits for p in given), default=0), max((p.digit_run for p in given), default=0),
                     tuple(frozenset(p.any_of) for p in given if p.any_of), pat))
    words = frozenset(rec.prefilter.any_of) if rec.prefilter is not None and rec.prefilter.any_of else None
    return _Plan(min((p[0] for p in pats), default=0), min((p[1] for p in pats), default=0), words, rec, tuple(pats))


def run_plans(norm: str, plans: Iterable[_Plan], wanted: Optional[set[str]], facts: TextFacts, out: list) -> None:
    """`run_patterns` for the patterns whose prefilters the text's facts pass."""
    digits, run, words = facts
    for least, longest, rec_words, rec, patterns in plans:
        if least > digits or longest > run or (rec_words is not None and rec_words.isdisjoint(words)):
            continue
        if wanted is not None and rec.id not in wanted:
            continue
        live = []
        for d, r, sets, pat in patterns:
            if d > digits or r > run:
                continue
            for s in sets:
                if s.isdisjoint(words):
                    break
            else:
                live.append(pat)
        if live:
            run_patterns(norm, rec, live, out)


class Scanner:
    """A registry ready to scan: its prefilter words found with one pass, and a quick check on the
    text as written that rules out texts none of its patterns' prefilters can pass."""

    def __init__(self, recognizers: Iterable[Recognizer], numerals: bool = False):
        self.recognizers = tuple(recognizers)
        self.plans = tuple(plan(rec) for rec in self.recognizers)
        conditions = [(rec.prefilter, pat.prefilter) for rec in self.recognizers for pat in rec.patterns]
        self.find_words = WordFinder(w for p in self.plans for _, _, sets, _ in p.patterns for s in sets for w in s)
        self.quick = quick_check(conditions, numerals=numerals)
        self.order: dict[str, int] = {}
        for rec in self.recognizers:
            self.order.setdefault(rec.id, len(self.order))

    def may_match(self, text: str) -> bool:
        """False only when no pattern can match the folded form of `text` (the text as written)."""
        return self.quick is None or self.quick(text)

    def candidates(self, norm: str, wanted: Optional[set[str]] = None, prefiltered: bool = True) -> list[Candidate]:
        """The candidates in the folded text `norm`; `prefiltered=False`: every pattern run."""
        if not prefiltered:
            return find_candidates(norm, self.recognizers, wanted)
        out: list[Candidate] = []
        run_plans(norm, self.plans, wanted, text_facts(norm, self.find_words), out)
        return out
