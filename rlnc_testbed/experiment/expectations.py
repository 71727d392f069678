"""What a scenario expects of its trials: the validated ``[expect]`` table, the check of one
shard's trials and the judgement of a scenario's merged trials. The one home of these rules.

The table (every key optional)::

    success = true            # every trial verifies (false: every trial fails cleanly)
    min_success_rate = 0.8    # the scenario's observed success rate is at least this
    max_success_rate = 0.2    # ... at most this
    verdict = "undecodable"   # every trial that does not verify ends with this verdict

``verdict = "ok"`` means every trial verifies (it is ``success = true``). A trial ending in
``error`` (an unexpected failure, not a clean verdict) is always a problem unless
``verdict = "error"`` is expected.

A scenario run until loss (``rounds = 0``; ``params.rounds`` is then the safety cap C and a
trial "succeeds" when it reaches C) may also bound its lifetimes, in rounds survived
(:mod:`rlnc_testbed.analysis.lifetime`: Kaplan-Meier estimates, censored at C)::

    min_mean_lifetime = 200   # the mean lifetime is at least this (max_mean_lifetime: at most)
    min_median_lifetime = 50  # the median lifetime is at least this (max_median_lifetime ...)

Lifetime bounds follow the rate bounds' rules below, with the point estimates (the mean, the
median) for the rate and their 95% intervals for the Wilson interval. Censoring: a mean with
censored trials is restricted to C (a lower bound of the true mean), so it can refute a
``min_mean_lifetime`` but never confirm a ``max_mean_lifetime`` (that fails, asking for a
higher cap, unless the restricted mean is already above the bound); a median beyond C (more
than half the trials reached it) passes a ``min_median_lifetime`` <= C and fails a
``max_median_lifetime``. The merged judgement reads the cap from the records (a trial that
verified every round reached it).

Rate bounds and the merged rule
-------------------------------
A rate bound is a statement about the whole scenario (all its trials), but a loop scenario is
split into shards of a few disjoint trials, possibly on different xdist workers. Two checks:

* **per shard** (:func:`check_expectations`): a shard that holds only some of the trials
  asserts only what its own data refutes: its Wilson 95% interval must reach the bound
  (upper >= min, lower <= max). It only catches gross cases early; but note that with a
  high bound it can be stricter than the merged rule (0 of 1 trials gives [0, 0.79], which
  refutes min 0.8 although the merged 5 of 6 would pass), so bounds are chosen with the
  shard layout in mind. A shard holding all trials applies the merged rule below instead.
* **merged** (:func:`judge_merged`, on the xdist controller or in a plain session, over all
  trials of the scenario): the *observed* rate ``successes / trials`` is compared with the
  bound, ``rate >= min_success_rate`` and ``rate <= max_success_rate``.

Why the point estimate and not the interval: requiring the merged Wilson interval to merely
reach the bound hardly ever fails with a scenario's few trials (min 0.5 over 6 trials fails
only if none verifies: 1 of 6 gives upper 0.56), and requiring the whole interval on the
right side (lower >= min) fails even perfect runs (6 of 6 successes give lower 0.61, below
min 0.75). The point estimate is a threshold with a known false-failure probability: for
true rate p and n trials, an honest run fails with probability ``P(Binomial(n, p) / n < min)``.
Scenario files therefore choose bounds with a wide margin from the rate the simulator
measures over many trials, so that this probability (and that of a shard's interval check
failing) is negligible; ``tests/test_expectations.py`` recomputes both for every scenario
file. And for a fixed seed the per-trial outcomes are fixed: the same seed gives the same
outcomes over every transport.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

from ..analysis.lifetime import LifetimeEstimate, estimate_lifetimes, lifetime_of
from ..analysis.stats import wilson_interval
from ..protocol.records import VERDICTS, TrialRecord

if TYPE_CHECKING:
    from ..analysis.summary import PointResult
    from ..protocol.params import Params


class ExpectingScenario(Protocol):
    """What :func:`check_expectations` reads of a scenario (a
    :class:`~rlnc_testbed.experiment.scenario.Scenario`, without importing it)."""

    @property
    def params(self) -> Params: ...

    @property
    def expectations(self) -> Expectations: ...


__all__ = [
    "EXPECT_KEYS",
    "ExpectationError",
    "ExpectingScenario",
    "Expectations",
    "Judgement",
    "LIFETIME_KEYS",
    "check_expectations",
    "final_verdict",
    "judge_merged",
]

#: The lifetime bounds (rounds survived) of a scenario run until loss.
LIFETIME_KEYS = (
    "min_mean_lifetime",
    "max_mean_lifetime",
    "min_median_lifetime",
    "max_median_lifetime",
)
#: The keys an ``[expect]`` table may hold.
EXPECT_KEYS = ("success", "min_success_rate", "max_success_rate", "verdict", *LIFETIME_KEYS)


class ExpectationError(ValueError):
    """An ``[expect]`` table is malformed; ``key`` names the offending key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"[expect] {key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class Expectations:
    """A validated ``[expect]`` table; ``None`` means the key is absent.

    Refused: a ``success`` that is not a bool; a rate that is not a finite number in [0, 1]
    (bools are not numbers here); ``min_success_rate > max_success_rate``; a lifetime bound
    that is not a finite number of rounds >= 0, or a min above its max; a ``verdict``
    outside :data:`~rlnc_testbed.protocol.records.VERDICTS`; and contradictions: ``success =
    true`` with a verdict other than ``ok`` or with ``max_success_rate < 1``, ``success =
    false`` with verdict ``ok`` or with ``min_success_rate > 0``.
    """

    success: bool | None = None
    min_success_rate: float | None = None
    max_success_rate: float | None = None
    verdict: str | None = None
    min_mean_lifetime: float | None = None
    max_mean_lifetime: float | None = None
    min_median_lifetime: float | None = None
    max_median_lifetime: float | None = None

    def __post_init__(self) -> None:
        if self.success is not None and not isinstance(self.success, bool):
            raise ExpectationError("success", f"must be true or false; got {self.success!r}")
        for key in ("min_success_rate", "max_success_rate"):
            object.__setattr__(self, key, _rate(key, getattr(self, key)))
        for key in LIFETIME_KEYS:
            object.__setattr__(self, key, _rounds(key, getattr(self, key)))
        for what in ("mean", "median"):
            low = getattr(self, f"min_{what}_lifetime")
            high = getattr(self, f"max_{what}_lifetime")
            if low is not None and high is not None and low > high:
                raise ExpectationError(
                    f"min_{what}_lifetime",
                    f"{low:g} is above max_{what}_lifetime {high:g}: nothing can pass",
                )
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise ExpectationError(
                "verdict", f"must be one of {', '.join(VERDICTS)}; got {self.verdict!r}"
            )
        lo, hi = self.min_success_rate, self.max_success_rate
        if lo is not None and hi is not None and lo > hi:
            raise ExpectationError(
                "min_success_rate", f"{lo} is above max_success_rate {hi}: nothing can pass"
            )
        if self.success is True and self.verdict not in (None, "ok"):
            raise ExpectationError(
                "verdict", f"{self.verdict!r} contradicts success = true (every trial verifies)"
            )
        if self.success is False and self.verdict == "ok":
            raise ExpectationError("verdict", "'ok' contradicts success = false")
        if self.all_verified and hi is not None and hi < 1.0:
            raise ExpectationError(
                "max_success_rate", f"{hi} contradicts every trial verifying (rate 1)"
            )
        if self.success is False and lo is not None and lo > 0.0:
            raise ExpectationError("min_success_rate", f"{lo} contradicts success = false (rate 0)")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Expectations:
        """Validate an ``[expect]`` table; :class:`ExpectationError` names the key."""
        if not isinstance(table, Mapping):
            raise ExpectationError("*", f"must be a table; got {type(table).__name__}")
        unknown = sorted(set(table) - set(EXPECT_KEYS))
        if unknown:
            raise ExpectationError(
                ", ".join(map(str, unknown)), f"unknown key (known: {', '.join(EXPECT_KEYS)})"
            )
        return cls(**table)

    def to_dict(self) -> dict[str, Any]:
        """The keys that are set, as a TOML/JSON-ready dict."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    @property
    def all_verified(self) -> bool:
        """Every trial must verify (``success = true`` or ``verdict = "ok"``)."""
        return self.success is True or self.verdict == "ok"

    @property
    def has_rates(self) -> bool:
        return self.min_success_rate is not None or self.max_success_rate is not None

    @property
    def has_lifetimes(self) -> bool:
        """Some lifetime bound is set (only a scenario run until loss may have one)."""
        return any(getattr(self, key) is not None for key in LIFETIME_KEYS)


def _rate(key: str, value: object) -> float | None:
    return _number(key, value, high=1.0, kind="a number in [0, 1]", bounds="in [0, 1]")


def _rounds(key: str, value: object) -> float | None:
    words = "a number of rounds >= 0"
    return _number(key, value, high=math.inf, kind=words, bounds=words)


def _number(key: str, value: object, *, high: float, kind: str, bounds: str) -> float | None:
    """``value`` (None: absent) as a finite float in [0, ``high``]: a bool or a non-number
    must be ``kind``, a number out of range ``bounds`` (the messages' words)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpectationError(key, f"must be {kind}; got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= high:
        raise ExpectationError(key, f"must be {bounds}; got {value!r}")
    return number


@dataclass(frozen=True)
class Judgement:
    """The merged verdict on one scenario.

    ``status`` is ``passed``, ``failed``, ``partial`` (not all the scenario's trials ran, so
    nothing was judged) or ``not judged`` (set by the caller, e.g. when a shard failed);
    ``notes`` say per expectation what was found, ``problems`` why it failed.
    """

    status: str
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def describe(self) -> str:
        """One line for a summary table."""
        if self.status == "failed":
            return "FAILED: " + "; ".join(self.problems)
        text = ", ".join(self.notes) or "-"
        return text if self.status == "passed" else f"{self.status}: {text}"


def judge_merged(
    expectations: Expectations, records: Sequence[TrialRecord], *, trials: int
) -> Judgement:
    """Judge all ``trials`` trials of a scenario (``records``, merged from every shard).

    ``partial`` when the records are not exactly trials ``0 .. trials-1``; otherwise every
    expectation is checked over all records, rate bounds with the observed rate (see the
    module docstring for why).
    """
    indices = sorted(t.trial for t in records)
    if indices != list(range(trials)):
        return Judgement("partial", (f"{len(set(indices))} of {trials} trials ran; not judged",))
    notes: list[str] = []
    problems: list[str] = []

    def note(label: str, problem: str | None, failed_word: str = "FAIL") -> None:
        notes.append(f"{label}: {'ok' if problem is None else failed_word}")
        if problem is not None:
            problems.append(problem)

    verdicts = {t.trial: final_verdict(t) for t in records}
    if expectations.verdict != "error":
        errors = _errors(records)
        if errors:
            problems.append(f"trials ended in errors, not clean verdicts: {errors}")
    if expectations.all_verified:
        failed = {i: v for i, v in verdicts.items() if v != "ok"}
        label = "success=true" if expectations.success is True else "verdict=ok"
        note(label, f"trials not verified (trial: verdict): {failed}" if failed else None)
    if expectations.success is False:
        passed = [i for i, v in verdicts.items() if v == "ok"]
        note(
            "success=false",
            f"trials verified although failure was expected: {passed}" if passed else None,
        )
    if expectations.verdict not in (None, "ok"):
        wrong = {i: v for i, v in verdicts.items() if v not in ("ok", expectations.verdict)}
        note(
            f"verdict={expectations.verdict}",
            f"expected verdict {expectations.verdict!r}; got (trial: verdict) {wrong}"
            if wrong
            else None,
        )
    successes = sum(1 for v in verdicts.values() if v == "ok")
    for label, problem, word in _rate_problems(expectations, successes, len(records)):
        note(label, problem, word)
    if expectations.has_lifetimes:
        estimate, trouble = _estimate_of_records(records)
        if estimate is None:
            problems.append(trouble)
        else:
            for label, problem, word in _lifetime_problems(expectations, estimate):
                note(label, problem, word)
    return Judgement("failed" if problems else "passed", tuple(notes), tuple(problems))


def _estimate_of_records(
    records: Sequence[TrialRecord], cap: int | None = None
) -> tuple[LifetimeEstimate | None, str]:
    """The lifetime estimate of the records of a run until loss (with ``rounds`` = ``cap``;
    None: read from the records), or None and why not."""
    if cap is None:
        reached = {len(t.rounds) for t in records if t.success}
        if len(reached) > 1:
            return None, f"trials that reached the cap ran different rounds: {sorted(reached)}"
        # no trial reached the cap: any cap above every trial's rounds gives the same estimate
        cap = reached.pop() if reached else max(len(t.rounds) for t in records) + 1
    try:
        return estimate_lifetimes([lifetime_of(t, cap) for t in records], cap=cap), ""
    except ValueError as exc:
        return None, f"records are not those of a run until loss: {exc}"


def _lifetime_words(e: LifetimeEstimate) -> str:
    lo, hi = e.mean_ci95
    median = f">{e.cap}" if e.median is None else str(e.median)
    restricted = ", restricted to the cap" if e.mean_restricted else ""
    return (
        f"mean lifetime {e.mean:.1f} rounds (95% CI [{lo:.1f}, {hi:.1f}]{restricted}), median "
        f"{median}, over {e.trials} trials ({e.censored} reached the cap {e.cap})"
    )


def _lifetime_problems(
    expectations: Expectations, e: LifetimeEstimate
) -> list[tuple[str, str | None, str]]:
    """(note label, problem or None, failure word) per lifetime bound, by the point estimates
    (module docstring: censoring)."""
    seen = _lifetime_words(e)
    out: list[tuple[str, str | None, str]] = []
    bound = expectations.min_mean_lifetime
    if bound is not None:
        problem = f"{seen}: below min_mean_lifetime {bound:g}" if e.mean < bound else None
        out.append((f"mean {e.mean:.1f} >= {bound:g}", problem, "BELOW"))
    bound = expectations.max_mean_lifetime
    if bound is not None:
        problem = None
        if e.mean > bound:
            problem = f"{seen}: above max_mean_lifetime {bound:g}"
        elif e.mean_restricted:
            problem = (
                f"{seen}: a mean restricted to the cap is only a lower bound, so it cannot show "
                f"max_mean_lifetime {bound:g} (raise max_rounds_cap)"
            )
        out.append((f"mean {e.mean:.1f} <= {bound:g}", problem, "ABOVE"))
    median = math.inf if e.median is None else float(e.median)
    shown = f">{e.cap}" if e.median is None else str(e.median)
    bound = expectations.min_median_lifetime
    if bound is not None:
        problem = None
        if median < bound:
            problem = f"{seen}: below min_median_lifetime {bound:g}"
        elif e.median is None and bound > e.cap:
            problem = f"{seen}: min_median_lifetime {bound:g} is beyond the cap {e.cap}"
        out.append((f"median {shown} >= {bound:g}", problem, "BELOW"))
    bound = expectations.max_median_lifetime
    if bound is not None:
        problem = f"{seen}: above max_median_lifetime {bound:g}" if median > bound else None
        out.append((f"median {shown} <= {bound:g}", problem, "ABOVE"))
    return out


def _rate_problems(
    expectations: Expectations, successes: int, count: int
) -> list[tuple[str, str | None, str]]:
    """(note label, problem or None, failure word) per rate bound, by the observed rate."""
    rate = successes / count
    lo, hi = wilson_interval(successes, count)
    seen = f"success rate {rate:.3f} ({successes}/{count}, 95% CI [{lo:.3f}, {hi:.3f}])"
    out: list[tuple[str, str | None, str]] = []
    bound = expectations.min_success_rate
    if bound is not None:
        problem = f"{seen} is below min_success_rate {bound}" if rate < bound else None
        out.append((f"min {bound}", problem, "BELOW"))
    bound = expectations.max_success_rate
    if bound is not None:
        problem = f"{seen} is above max_success_rate {bound}" if rate > bound else None
        out.append((f"max {bound}", problem, "ABOVE"))
    return out


def check_expectations(
    scenario: ExpectingScenario, result: PointResult, trials: Collection[int]
) -> None:
    """Assert what ``scenario.expect`` asks of one shard's ``result`` (which ran ``trials``).

    Always: the records are well-formed (the shard's trial indices, in order; at most R rounds;
    nothing after the first unverified round; no ``error`` verdict unless an error is expected).
    ``success`` and ``verdict`` hold trial by trial, so each shard checks them fully. Rate
    bounds: a shard with only some of the scenario's trials asserts that its Wilson 95%
    interval reaches the bound; a shard with all of them applies the merged rule (the observed
    rate), as :func:`judge_merged` does on the controller.
    """
    records = result.trials
    assert [t.trial for t in records] == list(trials), "records are not the shard's trials"
    for t in records:
        assert len(t.rounds) <= scenario.params.rounds, f"trial {t.trial}: bad round count"
        assert t.rounds or t.unjudged, f"trial {t.trial}: no round and no reason"
        assert t.survived_rounds >= len(t.rounds) - 1, f"trial {t.trial} went on after a failure"
    expect = scenario.expectations
    verdicts = {t.trial: final_verdict(t) for t in records}
    if expect.verdict != "error":
        errors = {i: v for i, v in verdicts.items() if v == "error"}
        assert not errors, f"trials ended in errors, not clean verdicts: {_errors(records)}"
    if expect.all_verified:
        failed = {i: v for i, v in verdicts.items() if v != "ok"}
        assert not failed, f"trials not verified (trial: verdict): {failed}"
    if expect.success is False:
        passed = [t.trial for t in records if t.success]
        assert not passed, f"trials verified although failure was expected: {passed}"
    if expect.verdict not in (None, "ok"):
        wrong = {i: v for i, v in verdicts.items() if v not in ("ok", expect.verdict)}
        assert not wrong, f"expected verdict {expect.verdict!r}; got (trial: verdict) {wrong}"
    whole = sorted(trials) == list(range(scenario.params.trials))
    if expect.has_lifetimes and records:
        estimate, trouble = _estimate_of_records(records, scenario.params.rounds)
        assert estimate is not None, trouble
        if whole:
            problems = [p for _, p, _ in _lifetime_problems(expect, estimate) if p]
            assert not problems, "; ".join(problems)
        else:
            _check_lifetime_intervals(expect, estimate)
    if not expect.has_rates:
        return
    successes = sum(1 for t in records if t.success)
    if whole:
        problems = [p for _, p, _ in _rate_problems(expect, successes, len(records)) if p]
        assert not problems, "; ".join(problems)
        return
    lo, hi = result.summary.ci95
    rate = result.summary.success_rate
    if expect.min_success_rate is not None:
        bound = expect.min_success_rate
        assert hi >= bound, (
            f"success rate {rate:.3f} (95% CI [{lo:.3f}, {hi:.3f}]) is "
            f"significantly below min_success_rate {bound}"
        )
    if expect.max_success_rate is not None:
        bound = expect.max_success_rate
        assert lo <= bound, (
            f"success rate {rate:.3f} (95% CI [{lo:.3f}, {hi:.3f}]) is "
            f"significantly above max_success_rate {bound}"
        )


def _check_lifetime_intervals(expect: Expectations, e: LifetimeEstimate) -> None:
    """A shard of some trials: each lifetime bound must be reached by the 95% interval of its
    estimate (a median interval end beyond the cap counts as infinite)."""
    seen = _lifetime_words(e)
    lo, hi = e.mean_ci95
    if expect.min_mean_lifetime is not None:
        bound = expect.min_mean_lifetime
        assert hi >= bound, f"{seen}: significantly below min_mean_lifetime {bound:g}"
    if expect.max_mean_lifetime is not None:
        bound = expect.max_mean_lifetime
        assert lo <= bound, f"{seen}: significantly above max_mean_lifetime {bound:g}"
    low, high = (math.inf if m is None else float(m) for m in e.median_ci95)
    if expect.min_median_lifetime is not None:
        bound = expect.min_median_lifetime
        assert high >= bound, f"{seen}: significantly below min_median_lifetime {bound:g}"
    if expect.max_median_lifetime is not None:
        bound = expect.max_median_lifetime
        assert low <= bound, f"{seen}: significantly above max_median_lifetime {bound:g}"


def final_verdict(trial: TrialRecord) -> str:
    """How ``trial`` ended: its first failing round's verdict; for a trial that stopped without
    judging a round (:attr:`TrialRecord.unjudged`), the reason it stopped; else ``ok``."""
    for rnd in trial.rounds:
        if not rnd.verified:
            return rnd.verdict if rnd.verdict != "ok" else "unverified"
    return trial.unjudged or "ok"


def _errors(records: Sequence[TrialRecord]) -> dict[int, str]:
    return {t.trial: r.error for t in records for r in t.rounds if r.verdict == "error"}
