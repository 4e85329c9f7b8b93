"""Masking: what must a report hide? (`mask_regions`, `mask_pii`, `may_need_masking`.)

Errs toward privacy: every match of a kind's mask patterns — any checksum, any spacing,
full-width or Chinese-numeral digits, e-mails written (at) / # / 艾特, anything account-like after a
contact cue — and, for a kind without mask patterns (the address), its detection patterns without
validators at any score. Validators and scores decide only detection (`find_pii`).

Bad (left visible): 「我电话138.2468.1357」, 「打我一三八二四六八一三五七」, 「卡号 6222020000000006」 (fails
Luhn, still a card number). Good: 「我电话138****1357」, 「卡号 ****0006」.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from typing import Iterable, Optional

from .candidates import Candidate, Scanner, find_candidates, plan, run_plans
from .masking import show_masked
from .prefilter import text_facts
from .registry import PatternSpec, Recognizer, load_recognizers, style_of
from .text_forms import fold_fullwidth, fold_numerals


def hide_recognizer(rec: Recognizer) -> Recognizer:
    """What masking runs for one kind: its mask_patterns (each with its own prefilter; no validator,
    no context scoring, no 'requires'); a kind without mask_patterns (the address): its detection
    patterns without validators, every score."""
    if rec.mask_patterns:
        return dataclasses.replace(rec, patterns=rec.mask_patterns, validator=None, requires=None, context=(),
                                   negative_context=(), mask_patterns=(), prefilter=None)
    return dataclasses.replace(rec, patterns=tuple(dataclasses.replace(p, validator=None) for p in rec.patterns),
                               validator=None, mask_patterns=())


def _digits_only(rec: Recognizer, pat: PatternSpec) -> int:
    """For a plain digit chain (a pattern whose prefilter asks only for digits, with no groups,
    flags or scan window): the digits a match holds at least; else 0."""
    p = pat.prefilter
    if (p is None or p.any_of or not p.needs_digit or rec.prefilter is not None or rec.requires is not None
            or pat.regex.groups or pat.regex.flags & ~re.UNICODE):
        return 0
    return max(p.digits, p.digit_run)


class HideScanner(Scanner):
    """The masking scan of a registry. Digit chains (phone, ID, card …) are first searched as one
    alternation: a text with many digits seldom holds one, and then none of them is run."""

    def __init__(self, recognizers: Iterable[Recognizer]):
        super().__init__(tuple(hide_recognizer(r) for r in recognizers), numerals=True)
        chains, others = [], []
        self.chain_digits = 1 << 30
        for rec in self.recognizers:  # each kind split in its chains and the rest
            needs = [_digits_only(rec, p) for p in rec.patterns]
            chained = tuple(p for p, n in zip(rec.patterns, needs) if n)
            rest = tuple(p for p, n in zip(rec.patterns, needs) if not n)
            if chained:
                chains.append(dataclasses.replace(rec, patterns=chained))
                self.chain_digits = min(self.chain_digits, *(n for n in needs if n))
            if rest or not chained:
                others.append(dataclasses.replace(rec, patterns=rest) if chained else rec)
        self.chain_plans, self.other_plans = tuple(map(plan, chains)), tuple(map(plan, others))
        joined = "|".join(f"(?:{p.regex.pattern})" for rec in chains for p in rec.patterns)
        self.chain_rx = re.compile(joined) if chains else None

    def candidates(self, folded: str, wanted: Optional[set[str]] = None, prefiltered: bool = True) -> list[Candidate]:
        if not prefiltered:
            return find_candidates(folded, self.recognizers, wanted)
        facts = text_facts(folded, self.find_words)
        out: list[Candidate] = []
        run_plans(folded, self.other_plans, wanted, facts, out)
        if self.chain_plans and facts.digits >= self.chain_digits and self.chain_rx.search(folded) is not None:
            run_plans(folded, self.chain_plans, wanted, facts, out)
        return out


@functools.lru_cache(maxsize=1)
def packaged_hide_scanner() -> HideScanner:
    return HideScanner(load_recognizers())


def may_need_masking(text: str) -> bool:
    """Cheap pre-check: False when `mask_pii` (packaged recognizers) certainly leaves `text` as it is."""
    return bool(text) and packaged_hide_scanner().may_match(text)


def mask_regions(text: str, kinds: "set[str] | None" = None, *,
                 recognizers: Optional[Iterable[Recognizer]] = None,
                 prefiltered: bool = True) -> list[tuple[int, int, str]]:
    """What masking hides in `text`: [(start, end, masked value)], sorted, not overlapping.

    Every match of the wanted kinds' mask patterns on the text with full-width characters and runs
    of Chinese numerals folded; overlapping matches are hidden together (as the kind of the
    longest). `prefiltered=False`: every pattern on the text (the plain path). No memo: its callers
    memoize by text."""
    if not text:
        return []
    hide = packaged_hide_scanner() if recognizers is None else HideScanner(recognizers)
    if prefiltered and not hide.may_match(text):
        return []
    wanted = set(kinds) if kinds is not None else None
    norm = fold_fullwidth(text)
    folded = fold_numerals(norm)
    cands = hide.candidates(folded, wanted, prefiltered)
    if folded is not norm:  # (Chinese numerals next to a number: what the plain text shows counts too)
        cands += hide.candidates(norm, wanted, prefiltered)
    if not cands:
        return []
    return _cover(text, folded, cands, hide.order)


def _cover(text: str, folded: str, cands: list[Candidate], order: dict) -> list[tuple[int, int, str]]:
    """Group overlapping candidates; each group is hidden as its longest member (then the higher
    score, the earlier start, the kind first in the registry, the one keeping an address's
    district), over the whole span the group covers."""
    cands.sort(key=lambda c: (c.start, -c.end))
    out: list[tuple[int, int, str]] = []
    group: list[Candidate] = []
    hi = -1
    for c in cands + [None]:
        if c is not None and group and c.start < hi:
            group.append(c)
            hi = max(hi, c.end)
            continue
        if group:
            out.append(_hide_group(text, folded, group, hi, order))
        if c is not None:
            group, hi = [c], c.end
    return out


def _hide_group(text: str, folded: str, group: list[Candidate], hi: int, order: dict) -> tuple[int, int, str]:
    lo = group[0].start
    best = min(group, key=lambda g: (-(g.end - g.start), -g.score, g.start, order.get(g.rec.id, 0),
                                     -(g.keep_end if g.keep_end is not None else -1)))
    keep = text[lo:best.keep_end] if best.keep_end is not None and best.start == lo else None
    return lo, hi, show_masked(style_of(best.rec), folded[lo:hi], keep)


def mask_pii(text: str, kinds: "set[str] | None" = None, *,
             recognizers: Optional[Iterable[Recognizer]] = None) -> str:
    """Return ``text`` with everything that looks like personal data hidden (`mask_regions`):
    138****5678, 110***********123X, ****1234, a***@qq.com, 北京市朝阳区****, ab****.

    Errs toward privacy: whatever its checksum or score, in any spacing, full-width or
    Chinese-numeral form, e-mails written (at) / # / 艾特, and account-like strings after a
    contact cue (微信, vx, QQ, 加我, 卡号, 银行卡, 支付宝 …). Detection (`find_pii`, the
    RED-003 finding) stays strict: validated values only.
    """
    regions = mask_regions(text, kinds, recognizers=recognizers)
    if not regions:
        return text
    parts = []
    pos = 0
    for start, end, masked in regions:
        parts.append(text[pos:start])
        parts.append(masked)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)
