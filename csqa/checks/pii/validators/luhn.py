"""`luhn`: a bank card number (at least 12 digits) whose Luhn check digit is right.

From the right, every second digit is doubled (minus 9 when over 9); the sum of all is a
multiple of 10. Separators are ignored.

Bad (a leak): 「卡号 6222 0200 0000 0007」 — passes Luhn.
Good (not a card): 「卡号 6222 0200 0000 0006」 — fails Luhn (a typo or an order number; still
hidden in reports: masking does not check).
"""
from __future__ import annotations


def luhn_ok(value: str) -> bool:
    """The digits of `value` (anything else ignored) pass the Luhn check; fewer than 12: False."""
    digits = [int(c) for c in value if c.isdigit()]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0
