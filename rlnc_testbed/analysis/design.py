"""Target search: the smallest value of one parameter whose success rate reaches a target
with a given confidence, and the evidence for it.

The values (e.g. parents 1..N-1) are searched in order by bisection, assuming success does
not drop as the value grows (more parents, redundancy or upload never hurt). Each probed value
gets trials in batches (deterministic trial indices 0, 1, 2, ...; the first batch ``batch``
trials, then doubling, at most ``max_trials``) until it is decided:

- **pass**: the one-sided lower Wilson bound at ``confidence`` is >= the target (the rate is
  at least the target with that confidence);
- **fail**: the one-sided upper bound is < the target (it is below the target with that
  confidence);
- **undecided**: neither after ``max_trials`` trials; for the search it counts as not
  passing (the target is not shown to be met).

So trials go where the decision is uncertain: values far below the target fail after one
batch, values near it take more. The answer is the smallest value that passed, with every
probed value's trials, successes, bounds and decision; it is ``None`` when no value passed.
(One-sided bounds at confidence c are the two-sided Wilson interval at 2c - 1.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlnc_testbed.analysis.stats import wilson_interval

__all__ = [
    "DESIGN_AXES",
    "FAIL",
    "PASS",
    "UNDECIDED",
    "Design",
    "Probe",
    "bounds",
    "decide",
    "search",
]

#: The parameters a design may vary (``Params`` fields); success must not drop as they grow.
DESIGN_AXES = ("parents", "redundancy", "q", "beta")
PASS, FAIL, UNDECIDED = "pass", "fail", "undecided"


def bounds(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """One-sided lower and upper Wilson bounds, each at ``confidence``."""
    return wilson_interval(successes, trials, confidence=2 * confidence - 1)


def decide(successes: int, trials: int, *, target: float, confidence: float) -> str | None:
    """:data:`PASS`, :data:`FAIL`, or None when the bounds straddle the target."""
    lo, hi = bounds(successes, trials, confidence)
    if lo >= target:
        return PASS
    if hi < target:
        return FAIL
    return None


@dataclass(frozen=True)
class Probe:
    """The evidence at one value: ``trials``, ``successes``, the one-sided bounds and the
    ``decision`` (:data:`PASS`, :data:`FAIL` or :data:`UNDECIDED`), in probe ``order``."""

    value: Any
    trials: int
    successes: int
    lower: float
    upper: float
    decision: str
    order: int = 0

    @property
    def rate(self) -> float:
        return self.successes / self.trials

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "trials": self.trials,
            "successes": self.successes,
            "success_rate": self.rate,
            "lower": self.lower,
            "upper": self.upper,
            "decision": self.decision,
            "order": self.order,
        }


@dataclass
class Design:
    """A finished search: the ``answer`` (None when no value passed) and its evidence."""

    vary: str
    values: list[Any]
    target: float
    confidence: float
    rounds: int
    answer: Any
    probes: list[Probe] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vary": self.vary,
            "values": list(self.values),
            "target": self.target,
            "confidence": self.confidence,
            "rounds": self.rounds,
            "answer": self.answer,
            "trials": sum(p.trials for p in self.probes),
            "probes": [p.to_dict() for p in sorted(self.probes, key=lambda p: p.order)],
        }

    def sentence(self) -> str:
        """The answer as one line."""
        what = (
            f"P(success over {self.rounds} rounds) >= {self.target:g} with "
            f"{self.confidence:.0%} confidence"
        )
        if self.answer is None:
            return f"no {self.vary} of {_values(self.values)} gives {what}"
        return f"smallest {self.vary} with {what}: {self.vary} = {self.answer:g}"


def _values(values: Sequence[Any]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def search(
    values: Sequence[Any],
    run: Callable[[Any, int, int], int],
    *,
    target: float,
    confidence: float,
    batch: int,
    max_trials: int,
    on_probe: Callable[[Probe], None] | None = None,
) -> tuple[Any, list[Probe]]:
    """Bisection over the ordered ``values`` (module docstring). ``run(value, start, stop)``
    plays trials ``start..stop - 1`` at ``value`` and returns how many succeeded. Returns the
    answer (None: no value passed) and the probes in the order they ran."""
    if not values:
        raise ValueError("no values to search")
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1); got {target!r}")
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be in (0.5, 1); got {confidence!r}")
    if batch < 1 or max_trials < batch:
        raise ValueError(f"need 1 <= batch <= max_trials; got {batch} and {max_trials}")
    probes: dict[int, Probe] = {}

    def probe(index: int) -> Probe:
        if index in probes:
            return probes[index]
        value = values[index]
        trials, successes = 0, 0
        total = batch
        while True:
            successes += run(value, trials, total)
            trials = total
            decision = decide(successes, trials, target=target, confidence=confidence)
            if decision is not None or trials >= max_trials:
                break
            total = min(max_trials, 2 * trials)
        lo, hi = bounds(successes, trials, confidence)
        done = Probe(value, trials, successes, lo, hi, decision or UNDECIDED, len(probes))
        probes[index] = done
        if on_probe is not None:
            on_probe(done)
        return done

    lo, hi = 0, len(values) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if probe(mid).decision == PASS:
            hi = mid
        else:
            lo = mid + 1
    answer = values[lo] if probe(lo).decision == PASS else None
    return answer, sorted(probes.values(), key=lambda p: p.order)
