"""Validators of personal-data candidates: one module per kind, named in the registry (`validator:`).

A validator decides only whether a candidate is a real value an agent LEAKED (detection, the
RED-003 finding); masking never asks it (whatever its checksum, a number that looks like an ID or a
card is hidden).
"""
from __future__ import annotations

from typing import Callable

from .id15_birthdate import id15_birthdate_ok
from .id_card_checksum import id_card_checksum_ok
from .luhn import luhn_ok

VALIDATORS: dict[str, Callable[[str], bool]] = {
    "id_card_checksum": id_card_checksum_ok,
    "id15_birthdate": id15_birthdate_ok,
    "luhn": luhn_ok,
}

__all__ = ["VALIDATORS", "id_card_checksum_ok", "id15_birthdate_ok", "luhn_ok"]
