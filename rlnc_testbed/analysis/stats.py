"""Binomial confidence intervals for success rates (the Wilson score interval)."""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["wilson_interval"]


def wilson_interval(
    successes: int, trials: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Return the Wilson score interval ``(lo, hi)`` for ``successes`` out of ``trials``.

    With p = successes / trials and z the two-sided normal quantile of ``confidence``::

        centre = (p + z^2 / 2n) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)

    The bounds lie in [0, 1] (clamped against rounding) and always contain p. With no trials
    nothing is known and the interval is ``(0.0, 1.0)``.
    """
    _check_count("successes", successes)
    _check_count("trials", trials)
    if successes > trials:
        raise ValueError(f"successes must be <= trials; got successes={successes}, trials={trials}")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise TypeError(f"confidence must be a number; got {confidence!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    if trials == 0:
        return (0.0, 1.0)
    n = float(trials)
    p = successes / n
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    lo = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    hi = 1.0 if successes == trials else min(1.0, max(p, centre + half))
    return (lo, hi)


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value}")
