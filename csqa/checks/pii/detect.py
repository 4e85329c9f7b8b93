"""Detection: did an agent write out personal data? (`find_pii`, the RED-003 finding.)

Strict: a pattern match counts only if its validator (ID checksum, Luhn …) accepts it and its
score after context words reaches ``min_score``; overlaps go to the higher score, then the longer
span. Texts are scanned on their full-width-folded form; a text the registry's prefilters rule out
is not scanned at all, and the candidates of the packaged registry are remembered per text.

Bad (found): 「您的手机号是13812345678对吧」. Good (not found): 「订单号 2026110212345678」 (no
checksum of a card, an order-number word next to it), 「您尾号5678的手机」.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Optional

from csqa.core.memo import Memo

from .candidates import Candidate, Scanner
from .masking import show_masked
from .registry import Recognizer, load_recognizers, style_of
from .text_forms import fold_fullwidth


@dataclass(frozen=True)
class PiiMatch:
    kind: str          # recognizer id, e.g. "mobile"
    name: str          # Chinese name, e.g. "手机号"
    start: int         # offsets into the text passed to find_pii
    end: int
    text: str          # the raw matched value (never put it in reports; use mask_pii)
    score: float
    explanation: str   # Chinese, contains only the masked value


@functools.lru_cache(maxsize=1)
def packaged_scanner() -> Scanner:
    """The scanner of the packaged registry (built once)."""
    return Scanner(load_recognizers())


def _packaged_candidates(norm: str) -> tuple[Candidate, ...]:
    return tuple(packaged_scanner().candidates(norm))


# Candidates of the packaged registry by folded text, before the kinds / min_score filter and the
# overlap resolution (cheap, redone per call): an agent's templates come back, and a message is
# scanned by the PII rule and again when its evidence is masked.
DETECTION_MEMO: Memo = Memo(_packaged_candidates)


def scan(text: str, kinds: Optional[Iterable[str]] = None, min_score: float = 0.5,
         recognizers: Optional[Iterable[Recognizer]] = None, *, prefiltered: bool = True) -> list[Candidate]:
    """The candidates `find_pii` reports. `prefiltered=False`: every pattern on the text (no quick
    check, no prefilters, no memo) — the plain path."""
    if not text:
        return []
    wanted = set(kinds) if kinds is not None else None
    scan_with = packaged_scanner() if recognizers is None else Scanner(recognizers)
    if not prefiltered:
        return resolve(scan_with.candidates(fold_fullwidth(text), wanted, prefiltered=False), wanted, min_score)
    if scan_with.quick is not None and not scan_with.quick(text):
        return []
    if recognizers is not None:
        return resolve(scan_with.candidates(fold_fullwidth(text), wanted), wanted, min_score)
    return resolve(DETECTION_MEMO(fold_fullwidth(text)), wanted, min_score)


def resolve(raw: Iterable[Candidate], wanted: Optional[set[str]], min_score: float) -> list[Candidate]:
    """Keep the wanted kinds scoring at least min_score, then resolve overlaps: higher score
    first, then longer span, then earlier start (ties: recognizer order, then pattern order)."""
    cands = [c for c in raw if not c.score < min_score and (wanted is None or c.rec.id in wanted)]
    if len(cands) <= 1:
        return cands
    cands.sort(key=lambda c: (-c.score, -(c.end - c.start), c.start))
    chosen: list[Candidate] = []
    for c in cands:
        if all(c.end <= o.start or c.start >= o.end for o in chosen):
            chosen.append(c)
    chosen.sort(key=lambda c: (c.start, c.end))
    return chosen


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return ""


def find_pii(text: str, kinds: "set[str] | None" = None, min_score: float = 0.5, *,
             recognizers: Optional[Iterable[Recognizer]] = None) -> list[PiiMatch]:
    """Find personal data in ``text``.

    ``kinds`` restricts to recognizer ids (mobile, landline, id_card,
    bank_card, email, address, qq, wechat).  Results are sorted by start;
    overlaps are resolved by higher score, then longer span.
    """
    return [_match(text, c) for c in scan(text, kinds, min_score, recognizers)]


def _match(text: str, c: Candidate) -> PiiMatch:
    keep = text[c.start:c.keep_end] if c.keep_end is not None else None
    masked = show_masked(style_of(c.rec), text[c.start:c.end], keep)
    expl = c.rec.explanation.format_map(_SafeDict(
        name=c.rec.name, masked=masked, score=f"{c.score:.2f}", context_note=c.note, reason=c.rec.reason,
    ))
    return PiiMatch(kind=c.rec.id, name=c.rec.name, start=c.start, end=c.end,
                    text=text[c.start:c.end], score=c.score, explanation=expl)
