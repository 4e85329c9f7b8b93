"""`id15_birthdate`: an old 15-digit resident ID number (issued before 1999, no check digit).

All there is to check: a province code in the first two digits and a birth date 19YYMMDD in
digits 7–12.

Bad (a leak): 「身份证号 110105900307123」 — province 11, born 1990-03-07.
Good (not an ID): 「身份证号 110105901307123」 — month 13; 「运单 990105900307123」 — no province 99.
"""
from __future__ import annotations

from .id_card_checksum import PROVINCE_CODES, valid_birth_date


def id15_birthdate_ok(value: str) -> bool:
    """Old 15-digit ID (spaces ignored): province code and 19YYMMDD birth date."""
    s = value.replace(" ", "")
    if len(s) != 15 or not s.isdigit() or s[:2] not in PROVINCE_CODES:
        return False
    return valid_birth_date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12]))
