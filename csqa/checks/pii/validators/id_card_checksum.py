"""`id_card_checksum`: an 18-digit resident ID number (GB 11643).

The first two digits are a province code (GB/T 2260), digits 7–14 a birth date between 1900 and
today, and the last character the check digit: the weighted sum of the first 17 digits mod 11,
read through "10X98765432".

Bad (a leak): 「身份证 110105199003071239」 — province 11, born 1990-03-07, check digit right.
Good (not an ID): 「单号 110105199003071231」 — the same digits with a wrong check digit, an order
number that happens to look like one (still hidden in reports: masking does not check).
"""
from __future__ import annotations

import datetime as _dt

# GB/T 2260 province-level codes (first two digits of an ID number).
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83 91".split()
)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def valid_birth_date(year: int, month: int, day: int) -> bool:
    """A real calendar date from 1900-01-01 up to today."""
    try:
        born = _dt.date(year, month, day)
    except ValueError:
        return False
    return _dt.date(1900, 1, 1) <= born <= _dt.date.today()


def id_card_checksum_ok(value: str) -> bool:
    """18-digit resident ID (spaces ignored): province code, birth date and GB 11643 check digit."""
    s = value.replace(" ", "").upper()
    if len(s) != 18 or not s[:17].isdigit() or s[17] not in "0123456789X":
        return False
    if s[:2] not in PROVINCE_CODES:
        return False
    if not valid_birth_date(int(s[6:10]), int(s[10:12]), int(s[12:14])):
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _WEIGHTS))
    return _CHECK_CHARS[total % 11] == s[17]
