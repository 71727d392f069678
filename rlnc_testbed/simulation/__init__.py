"""In-process simulator: a full-payload reference trial and a coefficient-only fast path.

:func:`simulate_trial` (reference) is the executable spec of a trial's round semantics;
:func:`simulate_trials_fast` and :func:`simulate_point` give the same round outcomes from the
same seeded draws, coefficients only, with numba kernels (and optionally worker processes).
The fast path (and numba) is imported on first use, so this package imports cheaply.
"""

from __future__ import annotations

from typing import Any

from .reference import simulate_trial

__all__ = ["simulate_point", "simulate_trial", "simulate_trials_fast"]


def __getattr__(name: str) -> Any:
    """Resolve the fast path lazily (it imports numba)."""
    if name in ("simulate_point", "simulate_trials_fast"):
        from . import fast

        return getattr(fast, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
