"""Lifetime until loss: rounds survived per trial, Kaplan-Meier survival, mean and median.

A *lifetime* is the number of rounds a trial's data survived: the rounds verified before the
first round that could not retrieve it (``TrialRecord.survived_rounds``). A trial run until
loss stops at its first failed round, or at a safety cap C (``--max-rounds-cap``): a trial that
verified all C rounds is *censored* - its lifetime is only known to be at least C.

Estimates are censoring-aware (Kaplan-Meier). Take the loss round X = lifetime + 1; the
estimate of S(t) = P(lifetime >= t) (the fraction still retrievable after round t) is the
product over rounds j <= t of (1 - d_j / n_j), with d_j the trials lost in round j and n_j the
trials still at risk (not lost, not censored) when it starts. With every censored trial at the
common cap (as in a run until loss) this equals the plain fraction of trials with lifetime >= t
for t <= C. 95% pointwise bands use Greenwood's variance on the log(-log) scale.

- **mean**: sum over t = 1..C of S(t). With no censored trial it is the sample mean; with
  censored trials it is the mean *restricted* to C, E[min(lifetime, C)]: a lower bound of the
  true mean (``mean_restricted`` says so). Its 95% interval is normal, with the delta-method
  (Greenwood-type) variance of the restricted mean.
- **median**: the smallest lifetime m with S(m + 1) <= 0.5 (at least half the trials were lost
  by round m + 1); ``None`` when more than half the trials reached the cap. Its 95% interval
  (Brookmeyer-Crowley) is where the pointwise bands cross 0.5; an upper bound the bands do not
  reach before the cap is ``None`` (beyond C).

An unjudged trial (it stopped without judging a round, see
:mod:`rlnc_testbed.analysis.summary`) counts as lost after the rounds it verified.

Shards (:class:`~rlnc_testbed.analysis.summary.Shard` ``i/n``: the trials t with t % n == i)
of a point run until loss merge back with :func:`merge_lifetime_shards`: every draw is keyed by
(seed, trial, ...), so the merged lifetimes, and hence the summary, are those of the unsharded
run.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from statistics import NormalDist
from typing import Any

from rlnc_testbed.analysis.summary import (
    PointResult,
    Shard,
    SummaryError,
    check_shards,
    point_fields,
)
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import TrialRecord

__all__ = [
    "DEFAULT_MAX_ROUNDS_CAP",
    "MAX_ROUNDS_CAP",
    "KaplanMeier",
    "Lifetime",
    "LifetimeEstimate",
    "LifetimeResult",
    "LifetimeSummary",
    "estimate_lifetimes",
    "kaplan_meier",
    "lifetime_of",
    "merge_lifetime_shards",
    "summarize_lifetimes",
]

#: The default safety cap of a run until loss (rounds).
DEFAULT_MAX_ROUNDS_CAP = 100_000
#: The largest safety cap a run until loss may have (rounds; ``Params.rounds``' bound too).
MAX_ROUNDS_CAP = 1_000_000


@dataclass(frozen=True)
class Lifetime:
    """One trial run until loss: ``rounds`` survived, ``censored`` when it reached the cap,
    ``finish`` as in :class:`~rlnc_testbed.protocol.records.TrialRecord` (``lost`` for a trial
    the compiled simulator played, which keeps no records)."""

    trial: int
    rounds: int
    censored: bool
    finish: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "rounds_survived": self.rounds,
            "censored": self.censored,
            "finish": self.finish,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lifetime:
        return cls(
            trial=int(data["trial"]),
            rounds=int(data["rounds_survived"]),
            censored=bool(data["censored"]),
            finish=str(data.get("finish", "")),
        )


def lifetime_of(record: TrialRecord, cap: int) -> Lifetime:
    """The lifetime of a trial record of a run with ``rounds = cap``."""
    survived = record.survived_rounds
    censored = record.success and survived >= cap
    return Lifetime(record.trial, survived, censored, record.finish or record.unjudged)


@dataclass(frozen=True)
class KaplanMeier:
    """The Kaplan-Meier estimate of S(t) = P(lifetime >= t), as steps.

    ``times[i]`` is a round in which trials were lost; from it on (up to the next) S is
    ``survival[i]`` with 95% pointwise band ``[lower[i], upper[i]]``; ``at_risk[i]`` and
    ``lost[i]`` are n_j and d_j of that round. Before ``times[0]``, S is 1.
    """

    times: tuple[int, ...]
    survival: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    at_risk: tuple[int, ...]
    lost: tuple[int, ...]

    def at(self, t: int) -> float:
        """S(t): the estimated fraction of trials still retrievable after round ``t``."""
        value = 1.0
        for time, s in zip(self.times, self.survival, strict=True):
            if time > t:
                break
            value = s
        return value


def kaplan_meier(
    lifetimes: Sequence[int], censored: Sequence[bool], *, confidence: float = 0.95
) -> KaplanMeier:
    """Kaplan-Meier estimate of S(t) = P(lifetime >= t) (see the module docstring): a trial
    with lifetime L is lost in round L + 1 unless censored (then it is known to live >= L)."""
    if len(lifetimes) != len(censored):
        raise ValueError("lifetimes and censored must have the same length")
    if not lifetimes:
        raise ValueError("no lifetimes")
    for value in lifetimes:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"lifetimes must be integers >= 0; got {value!r}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    # lost in round L + 1 (at risk in rounds 1..L + 1); censored: at risk in rounds 1..L
    loss_rounds = sorted(L + 1 for L, c in zip(lifetimes, censored, strict=True) if not c)
    censored_at = sorted(L for L, c in zip(lifetimes, censored, strict=True) if c)
    losses = Counter(loss_rounds)
    s, greenwood = 1.0, 0.0
    times: list[int] = []
    surv: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    risk: list[int] = []
    lost: list[int] = []
    for t in sorted(losses):
        d = losses[t]
        n = (len(loss_rounds) - bisect_left(loss_rounds, t)) + (
            len(censored_at) - bisect_left(censored_at, t)
        )
        s *= 1.0 - d / n
        greenwood = greenwood + d / (n * (n - d)) if n > d else math.inf
        low, high = _band(s, greenwood, z)
        times.append(t)
        surv.append(s)
        lo.append(low)
        hi.append(high)
        risk.append(n)
        lost.append(d)
    return KaplanMeier(tuple(times), tuple(surv), tuple(lo), tuple(hi), tuple(risk), tuple(lost))


def _band(s: float, greenwood: float, z: float) -> tuple[float, float]:
    """The log(-log) pointwise band of S = ``s`` with Greenwood sum ``greenwood``."""
    if s <= 0.0 or math.isinf(greenwood):
        return (0.0, 0.0) if s <= 0.0 else (0.0, 1.0)
    if s >= 1.0:
        return (1.0, 1.0)
    spread = z * math.sqrt(greenwood) / abs(math.log(s))
    return (s ** math.exp(spread), s ** math.exp(-spread))


@dataclass(frozen=True)
class LifetimeSummary:
    """What one point run until loss gave (the fields of one lifetime JSON entry).

    The point fields (``scheme`` .. ``systematic``) are as in
    :class:`~rlnc_testbed.analysis.summary.PointSummary`; ``cap`` is the safety cap C.
    ``lost`` trials were lost before the cap, ``censored`` reached it. ``mean`` /
    ``mean_ci95``, ``median`` / ``median_ci95`` are as the module docstring defines them
    (``None`` where not reached before the cap). ``curve`` is the Kaplan-Meier estimate as
    ``(round, S, lower, upper)`` steps. ``unjudged`` counts unjudged trials per reason.
    """

    scheme: str
    field: int
    keep: str
    redundancy: float
    q: int
    parents: int
    beta: int
    peers: int
    symbols: int
    seed: int
    symbol_size: int
    systematic: bool
    cap: int
    trials: int
    lost: int
    censored: int
    mean: float
    mean_ci95: tuple[float, float]
    mean_restricted: bool
    median: int | None
    median_ci95: tuple[int | None, int | None]
    curve: tuple[tuple[int, float, float, float], ...]
    unjudged: tuple[tuple[str, int], ...] = ()

    @property
    def rounds(self) -> int:
        """The cap, under the name plots and tables use for R."""
        return self.cap

    def survival(self) -> KaplanMeier:
        """:attr:`curve` as a :class:`KaplanMeier` (at-risk counts not kept: 0)."""
        zeros = tuple(0 for _ in self.curve)
        return KaplanMeier(
            tuple(c[0] for c in self.curve),
            tuple(c[1] for c in self.curve),
            tuple(c[2] for c in self.curve),
            tuple(c[3] for c in self.curve),
            zeros,
            zeros,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["mean_ci95"] = list(self.mean_ci95)
        out["median_ci95"] = list(self.median_ci95)
        out["curve"] = [list(step) for step in self.curve]
        out["unjudged"] = dict(self.unjudged)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifetimeSummary:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["mean_ci95"] = tuple(values["mean_ci95"])
        values["median_ci95"] = tuple(values["median_ci95"])
        values["curve"] = tuple(tuple(step) for step in values["curve"])
        values["unjudged"] = tuple(sorted(dict(values.get("unjudged", {})).items()))
        return cls(**values)


@dataclass(frozen=True)
class LifetimeEstimate:
    """The censoring-aware estimates of some lifetimes with safety cap ``cap`` (the module
    docstring defines them): what :class:`LifetimeSummary` holds besides the point's
    parameters, and what a scenario's lifetime expectations are judged on."""

    cap: int
    trials: int
    lost: int
    censored: int
    mean: float
    mean_ci95: tuple[float, float]
    mean_restricted: bool
    median: int | None
    median_ci95: tuple[int | None, int | None]
    curve: tuple[tuple[int, float, float, float], ...]


def estimate_lifetimes(
    lifetimes: Sequence[Lifetime], *, cap: int, confidence: float = 0.95
) -> LifetimeEstimate:
    """Kaplan-Meier curve, mean and median (with intervals) of ``lifetimes`` under ``cap``;
    ValueError for none, or for a lifetime the cap makes impossible."""
    if not lifetimes:
        raise ValueError("no lifetimes to summarise")
    values = [life.rounds for life in lifetimes]
    flags = [life.censored for life in lifetimes]
    for life in lifetimes:
        if life.rounds > cap or (life.rounds == cap and not life.censored):
            raise ValueError(
                f"trial {life.trial}: {life.rounds} rounds survived and "
                f"{'' if life.censored else 'not '}censored, with cap {cap}"
            )
    km = kaplan_meier(values, flags, confidence=confidence)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    mean, variance = _restricted_mean(km, cap)
    half = z * math.sqrt(variance)
    censored = sum(flags)
    return LifetimeEstimate(
        cap=cap,
        trials=len(values),
        lost=len(values) - censored,
        censored=censored,
        mean=mean,
        mean_ci95=(max(0.0, mean - half), min(float(cap), mean + half)),
        mean_restricted=censored > 0,
        median=_crossing(km.times, km.survival),
        median_ci95=(_crossing(km.times, km.lower), _crossing(km.times, km.upper)),
        curve=tuple(zip(km.times, km.survival, km.lower, km.upper, strict=True)),
    )


def summarize_lifetimes(
    params: Params,
    lifetimes: Sequence[Lifetime],
    *,
    cap: int,
    unjudged: Mapping[str, int] | None = None,
    confidence: float = 0.95,
) -> LifetimeSummary:
    """Summarise the lifetimes of one point run until loss with safety cap ``cap``."""
    estimate = estimate_lifetimes(lifetimes, cap=cap, confidence=confidence)
    return LifetimeSummary(
        **point_fields(params),
        **{f.name: getattr(estimate, f.name) for f in fields(estimate)},
        unjudged=tuple(sorted((unjudged or {}).items())),
    )


def _restricted_mean(km: KaplanMeier, cap: int) -> tuple[float, float]:
    """sum_{t=1..cap} S(t) and its delta-method variance (module docstring)."""
    # S is 1 on [1, times[0]), survival[i] on [times[i], times[i+1]) (rounds are integers)
    edges = [*km.times, cap + 1]
    mean = (min(edges[0], cap + 1) - 1) * 1.0
    tail = []  # area from times[i] to cap, for each step
    for i, t in enumerate(km.times):
        width = min(edges[i + 1], cap + 1) - t
        tail.append(km.survival[i] * max(0, width))
    mean += sum(tail)
    variance = 0.0
    area = 0.0
    for i in reversed(range(len(km.times))):
        area += tail[i]
        n, d = km.at_risk[i], km.lost[i]
        if n > d:
            variance += area * area * d / (n * (n - d))
    return mean, variance


def _crossing(times: Sequence[int], curve: Sequence[float]) -> int | None:
    """The lifetime m = t - 1 of the first step t where ``curve`` is <= 0.5 (None if never)."""
    for t, s in zip(times, curve, strict=True):
        if s <= 0.5:
            return t - 1
    return None


@dataclass
class LifetimeResult:
    """All trials of one point run until loss (or of one :class:`Shard` of them), and their
    summary; ``params.rounds`` is the cap."""

    params: Params
    transport: str
    lifetimes: list[Lifetime]
    summary: LifetimeSummary
    name: str = ""
    #: The shard these trials are (None: every trial of the point).
    shard: Shard | None = None

    @classmethod
    def of_point(cls, result: PointResult, cap: int) -> LifetimeResult:
        """The lifetimes of a point's records, run with ``rounds = cap`` (its shard kept)."""
        lifetimes = [lifetime_of(record, cap) for record in result.trials]
        summary = summarize_lifetimes(
            result.params, lifetimes, cap=cap, unjudged=dict(result.summary.unjudged)
        )
        return cls(result.params, result.transport, lifetimes, summary, result.name, result.shard)

    def to_dict(self, *, trials: bool = True) -> dict[str, Any]:
        scenario = {"name": self.name, "transport": self.transport, **self.params.to_dict()}
        scenario["until_loss"] = True
        scenario["max_rounds_cap"] = self.summary.cap
        out: dict[str, Any] = {"scenario": scenario, "lifetime": self.summary.to_dict()}
        if self.shard is not None:
            out["shard"] = self.shard.to_json()
        if trials:
            out["lifetimes"] = [life.to_dict() for life in self.lifetimes]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifetimeResult:
        """Build from :meth:`to_dict` output (a ``run --until-loss --json`` file); it must hold
        the per-trial ``lifetimes``. :class:`SummaryError` names what is missing or wrong."""
        try:
            scenario = dict(data["scenario"])
            extra = ("name", "transport", "until_loss", "max_rounds_cap")
            params = Params.from_dict({k: v for k, v in scenario.items() if k not in extra})
            summary = LifetimeSummary.from_dict(data["lifetime"])
            lifetimes = [Lifetime.from_dict(life) for life in data["lifetimes"]]
        except KeyError as exc:
            raise SummaryError(f"a lifetime result needs {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise SummaryError(f"not a lifetime result: {exc}") from None
        return cls(
            params=params,
            transport=str(scenario.get("transport", "")),
            lifetimes=lifetimes,
            summary=summary,
            name=str(scenario.get("name", "")),
            shard=Shard.from_json(data.get("shard")),
        )


def merge_lifetime_shards(
    parts: Sequence[tuple[str, LifetimeResult]],
) -> tuple[LifetimeResult, tuple[int, ...]]:
    """Merge shard results of one point run until loss, each labelled (e.g. by its file name),
    into one result over all their trials, and the shard indices missing (empty when complete).

    As :func:`~rlnc_testbed.analysis.summary.merge_shards` does for fixed rounds, what
    :func:`~rlnc_testbed.analysis.summary.check_shards` refuses is refused with
    :class:`SummaryError` naming the labels (results of different points: any parameter,
    ``rounds`` - the cap - too). The merged summary is the unsharded run's: the same
    lifetimes, the unjudged counts summed."""
    missing = check_shards(parts, lambda _, result: (life.trial for life in result.lifetimes))
    first = parts[0][1]
    by_trial = {life.trial: life for _, result in parts for life in result.lifetimes}
    lifetimes = [by_trial[t] for t in sorted(by_trial)]
    unjudged: Counter[str] = Counter()
    for _, result in parts:
        unjudged.update(dict(result.summary.unjudged))
    summary = summarize_lifetimes(
        first.params, lifetimes, cap=first.summary.cap, unjudged=dict(unjudged)
    )
    merged = LifetimeResult(first.params, first.transport, lifetimes, summary, first.name)
    return merged, missing
