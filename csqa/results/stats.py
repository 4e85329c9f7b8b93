"""Honest statistics for small samples: every rate comes with its n, rankings use the Wilson bound.

A raw pass rate ranks an agent with 3 of 3 conversations passed (100 %) above one with
45 of 50 (90 %). The Wilson score interval is the standard fix: its lower bound is what
the pass rate is *at least* with 95 % confidence, so few conversations pull it down.
"""
from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(k: int | float, n: int | float, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion k/n (None when n is 0).

    >>> lo, hi = wilson_interval(45, 50); round(lo, 3), round(hi, 3)
    (0.786, 0.957)
    """
    n = float(n)
    k = float(k)
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval: need 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the edges, no rounding noise
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def wilson_lower(k: int | float, n: int | float, z: float = Z95) -> float | None:
    """Lower bound of the 95 % Wilson interval (None when n is 0)."""
    ci = wilson_interval(k, n, z)
    return None if ci is None else ci[0]


def rate_text(k: int | float, n: int | float, digits: int = 0) -> str:
    """'35% (12/34)': a rate never travels without its n."""
    if not n:
        return "— (0/0)"
    return f"{100 * k / n:.{digits}f}% ({int(k)}/{int(n)})"
