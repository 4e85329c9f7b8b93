"""Personal data (PII) in Chinese customer-service chats: a registry of recognizers, Presidio-style.

Where things are:

    registry.yaml   one entry per kind (mobile, landline, id_card, bank_card, email, address, qq,
                    wechat, account): patterns, validator, context words, cues, mask patterns,
                    how a hidden value is shown, and the prefilters — a new kind is one new entry
    registry.py     reads it into `Recognizer` / `PatternSpec`
    validators/     one module per validator (id_card_checksum, id15_birthdate, luhn)
    masking.py      how a hidden value is shown (the styles `masking:` names)
    prefilter.py    what a prefilter asks of a text, checked before a pattern runs
    candidates.py   the one scan: patterns over a folded text, context scores
    detect.py       find_pii: did an agent leak personal data? (strict: validated, scored)
    hide.py         mask_regions / mask_pii / may_need_masking: what must a report hide? (errs
                    toward privacy: any checksum, any spelling, anything after a contact cue)

Public API::

    PiiMatch, Recognizer, PatternSpec, Prefilter, load_recognizers(path=None),
    find_pii(text, kinds=None, min_score=0.5), mask_pii(text, kinds=None),
    mask_regions(text, kinds=None), may_need_masking(text), mask_value(kind, value, keep_prefix=None)
"""
from __future__ import annotations

from typing import Optional

from .detect import DETECTION_MEMO, PiiMatch, find_pii
from .hide import mask_pii, mask_regions, may_need_masking
from .masking import show_masked
from .prefilter import Prefilter
from .registry import DEFAULT_RECOGNIZERS_PATH, PatternSpec, Recognizer, load_recognizers, parse_registry
from .registry import packaged_styles
from .text_forms import FULLWIDTH
from .validators import VALIDATORS, id15_birthdate_ok, id_card_checksum_ok, luhn_ok

# (older names some tests use)
_parse = parse_registry
_FULLWIDTH = FULLWIDTH

__all__ = [
    "PiiMatch",
    "Recognizer",
    "PatternSpec",
    "Prefilter",
    "DEFAULT_RECOGNIZERS_PATH",
    "DETECTION_MEMO",
    "VALIDATORS",
    "load_recognizers",
    "parse_registry",
    "find_pii",
    "mask_pii",
    "mask_regions",
    "may_need_masking",
    "mask_value",
    "id_card_checksum_ok",
    "id15_birthdate_ok",
    "luhn_ok",
]


def mask_value(kind: str, value: str, keep_prefix: Optional[str] = None) -> str:
    """`value` hidden the way the packaged registry shows its `kind` (fully, "****", for a kind it
    does not know)."""
    return show_masked(packaged_styles().get(kind, "hidden"), value, keep_prefix)
