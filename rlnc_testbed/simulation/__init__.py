"""In-process simulators: the full-payload reference and the compiled fast path.

:func:`simulate_trial` (``reference``) is the executable specification: it plays a trial with
full payloads through the same rule functions the networked roles call.
:func:`simulate_point` / :func:`simulate_columns` (``compiled``) play whole trials inside numba -
an independent implementation of docs/protocol.md §6 that shares only the GF(2^8) tables with
:mod:`rlnc_testbed.coding` - and must agree with the reference on every record field. The
compiled path (and numba) is imported on first use, so this package imports cheaply.
"""

from __future__ import annotations

from typing import Any

from .reference import simulate_trial

__all__ = ["simulate_columns", "simulate_point", "simulate_trial", "simulate_trials_fast"]


def __getattr__(name: str) -> Any:
    """Resolve the compiled path lazily (it imports numba)."""
    if name in ("simulate_columns", "simulate_point", "simulate_trials_fast"):
        from . import compiled

        return getattr(compiled, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
