"""Sequential stopping: how many trials a point needs for a success-rate interval of a given
width.

A point runs in batches of trials with the deterministic indices 0, 1, 2, ... (so a longer
run's first trials are a shorter run's trials). After each batch the 95% Wilson interval of
all its trials so far is computed; the point stops on **precision** when the interval is
narrower than the target width W (``hi - lo < W``), or on the **cap** when it has run
``max_trials``. The first batch is T trials (the point's ``trials``); each later batch aims at
the total the current width predicts (a Wilson width shrinks like 1 / sqrt(n), so
n * (width / W)^2, plus 10%), at least T more trials and at most four times the trials so far,
never beyond the cap. Which trials run depends only on the outcomes, never on time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rlnc_testbed.analysis.stats import wilson_interval

__all__ = ["CAP", "PRECISION", "Stopping", "check_width", "next_total", "stopped"]

#: Why a point stopped: its interval got narrower than the width, or it ran max_trials.
PRECISION = "precision"
CAP = "cap"


@dataclass(frozen=True)
class Stopping:
    """How a sequential point ended: ``trials`` run in ``batches``, ``reason``
    (:data:`PRECISION` or :data:`CAP`), the interval ``width`` reached and the target."""

    trials: int
    batches: int
    reason: str
    width: float
    target: float
    max_trials: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "batches": self.batches,
            "stopped_on": self.reason,
            "ci95_width": self.width,
            "ci_width_target": self.target,
            "max_trials": self.max_trials,
        }

    def describe(self) -> str:
        """e.g. ``precision after 400 trials (width 0.049 < 0.05)``."""
        if self.reason == PRECISION:
            return f"precision after {self.trials} (width {self.width:.3f} < {self.target:g})"
        return f"cap of {self.trials} (width {self.width:.3f} >= {self.target:g})"


def check_width(width: float, max_trials: int, first: int) -> None:
    """Refuse a width outside (0, 1) or a cap below the first batch."""
    if isinstance(width, bool) or not isinstance(width, int | float) or not 0 < width < 1:
        raise ValueError(f"the CI width must be in (0, 1); got {width!r}")
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < first:
        raise ValueError(
            f"the maximum trials must be an integer >= the first batch ({first}); "
            f"got {max_trials!r}"
        )


def stopped(successes: int, trials: int, *, width: float, max_trials: int) -> str | None:
    """The reason to stop after ``trials`` with ``successes`` (None: go on)."""
    lo, hi = wilson_interval(successes, trials)
    if hi - lo < width:
        return PRECISION
    if trials >= max_trials:
        return CAP
    return None


def next_total(successes: int, trials: int, *, width: float, max_trials: int, batch: int) -> int:
    """The total number of trials to have after the next batch (module docstring)."""
    lo, hi = wilson_interval(successes, trials)
    current = hi - lo
    predicted = math.ceil(trials * (current / width) ** 2 * 1.1)
    total = max(trials + batch, min(predicted, 4 * trials))
    return min(max_trials, total)
