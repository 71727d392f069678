"""One scalable unit for every wait in rlnc-testbed.

Every ``await`` that can block on the network is bounded by ``asyncio.timeout(n * unit())``.
The unit defaults to one second and is scaled by the ``RLNC_TIMEOUT_FACTOR`` environment
variable (or the pytest option ``--rlnc-timeout-factor``, which sets that variable), so a slow
CI machine can stretch all waits at once without editing code.
"""

from __future__ import annotations

import os

__all__ = ["TIMEOUT_UNIT", "timeout_factor", "unit"]

#: Base unit of time, in seconds, before scaling.
TIMEOUT_UNIT = 1.0


def timeout_factor() -> float:
    """Return the factor read from ``RLNC_TIMEOUT_FACTOR`` (default 1.0)."""
    raw = os.environ.get("RLNC_TIMEOUT_FACTOR", "1")
    try:
        factor = float(raw)
    except ValueError:
        raise ValueError(f"RLNC_TIMEOUT_FACTOR must be a number, got {raw!r}") from None
    if not factor > 0:
        raise ValueError(f"RLNC_TIMEOUT_FACTOR must be positive, got {raw!r}")
    return factor


def unit() -> float:
    """Return one scaled timeout unit, in seconds."""
    return TIMEOUT_UNIT * timeout_factor()
