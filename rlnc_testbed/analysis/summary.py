"""Per-point summaries: success rate, Wilson CI, survival curve and traffic, from trial records.

A point is one :class:`~rlnc_testbed.protocol.params.Params`; its trials may come from several
xdist workers or from a resumed history, so :func:`merge_trials` concatenates record groups,
keeps one copy of a trial seen twice with the same decided outcome, and refuses two copies that
disagree. Byte and time counters are measured, not decided, so they may differ between copies;
the first copy is kept.

How a trial that stopped without judging a round counts (an *unjudged* trial,
:attr:`~rlnc_testbed.protocol.records.TrialRecord.unjudged`: e.g. a ``setup-timeout`` before
round 1, a lost signaling server or an ``error`` between rounds): it is one of ``trials``, it is
not a success (so it lowers ``success_rate`` and its Wilson interval), it survived only the
rounds it verified (0 for a trial with no rounds, so survival counts it as lost from round 1),
and ``unjudged`` lists it apart, as a count per reason. Traffic means are over the rounds that
ran, so a trial with no rounds adds nothing to them (they are 0.0 when no round ran at all).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from rlnc_testbed.analysis.sequential import Stopping
from rlnc_testbed.analysis.stats import wilson_interval
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import TrialRecord

__all__ = ["PointResult", "PointSummary", "SummaryError", "merge", "merge_trials", "summarize"]


class SummaryError(ValueError):
    """Raised for trial records that cannot be summarised; the message says which and why."""


@dataclass(frozen=True)
class PointSummary:
    """What one experiment point gave: the fields of one sweep JSON entry.

    ``redundancy`` is the effective K / k when the point was given by ``q``; ``q`` and ``beta``
    are the effective Q and beta. ``survival[r - 1]`` is the fraction of trials still
    retrievable after round r (``survived_rounds >= r``). Traffic figures are means over every
    round run, in bytes (0.0 when none ran). ``unjudged`` counts the trials that stopped without
    judging a round, per reason (e.g. ``{"setup-timeout": 1}``); they are also among ``trials``
    and count as failures (see the module docstring). ``seed``, ``symbol_size`` and
    ``systematic`` are the point's (None when read from a summary written before they were
    recorded).
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
    rounds: int
    trials: int
    successes: int
    success_rate: float
    ci95: tuple[float, float]
    survival: tuple[float, ...]
    repair_bytes_per_round: float
    mean_collect_bytes_per_round: float
    #: (reason, count) pairs sorted by reason; :meth:`to_dict` gives a ``{reason: count}`` dict.
    unjudged: tuple[tuple[str, int], ...] = ()
    seed: int | None = None
    symbol_size: int | None = None
    systematic: bool | None = None

    @property
    def unjudged_trials(self) -> int:
        """How many of the trials stopped without judging a round."""
        return sum(count for _, count in self.unjudged)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``ci95`` and ``survival`` as lists, ``unjudged`` a dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["ci95"] = list(self.ci95)
        out["survival"] = list(self.survival)
        out["unjudged"] = dict(self.unjudged)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PointSummary:
        """Build from :meth:`to_dict` output, naming missing or unknown keys (``unjudged``,
        ``seed``, ``symbol_size`` and ``systematic`` may be missing, as in older histories, and
        then are empty or None)."""
        if not isinstance(data, Mapping):
            raise SummaryError(f"a point summary must be a mapping; got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        data = {"unjudged": {}, "seed": None, "symbol_size": None, "systematic": None, **data}
        missing = [name for name in names if name not in data]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            raise SummaryError(
                f"point summary keys do not match: missing {missing or 'none'}, "
                f"unknown {unknown or 'none'}"
            )
        values = {name: data[name] for name in names}
        try:
            lo, hi = values["ci95"]
            values["ci95"] = (float(lo), float(hi))
            values["survival"] = tuple(float(s) for s in values["survival"])
        except (TypeError, ValueError) as exc:
            raise SummaryError(f"bad ci95 or survival in point summary: {exc}") from None
        values["unjudged"] = _unjudged_pairs(values["unjudged"])
        return cls(**values)


def summarize(params: Params, trials: Sequence[TrialRecord]) -> PointSummary:
    """Summarise the trials of one point (duplicates are merged as in :func:`merge_trials`).

    Every trial must have run at most ``params.rounds`` rounds and must stop at its first
    unverified round, after ``params.rounds`` rounds, or unjudged (with no rounds, or with a
    ``finish`` reason that is not normal); unjudged trials count as the module docstring says.
    """
    if not isinstance(params, Params):
        raise TypeError(f"params must be a Params; got {type(params).__name__}")
    records = merge_trials(trials)
    if not records:
        raise SummaryError("no trial records to summarise")
    for record in records:
        _check_trial(params, record)
    count = len(records)
    successes = sum(1 for record in records if record.success)
    survived = [record.survived_rounds for record in records]
    survival = tuple(
        sum(1 for s in survived if s >= r) / count for r in range(1, params.rounds + 1)
    )
    all_rounds = [r for record in records for r in record.rounds]
    unjudged = Counter(record.unjudged for record in records if record.unjudged)
    redundancy = (
        float(params.redundancy)
        if params.redundancy is not None
        else params.total_packets_made / params.symbols
    )
    return PointSummary(
        scheme=params.scheme,
        field=params.field,
        keep=params.keep,
        redundancy=redundancy,
        q=params.per_peer,
        parents=params.parents,
        beta=params.upload,
        peers=params.peers,
        symbols=params.symbols,
        rounds=params.rounds,
        trials=count,
        successes=successes,
        success_rate=successes / count,
        ci95=wilson_interval(successes, count),
        survival=survival,
        repair_bytes_per_round=_mean([r.repair_bytes for r in all_rounds]),
        mean_collect_bytes_per_round=_mean([r.collect_bytes for r in all_rounds]),
        unjudged=tuple(sorted(unjudged.items())),
        seed=params.seed,
        symbol_size=params.symbol_size,
        systematic=params.systematic,
    )


def _mean(values: Sequence[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def _unjudged_pairs(value: object) -> tuple[tuple[str, int], ...]:
    """``{reason: count}`` as sorted (reason, count) pairs, refusing anything else."""
    if not isinstance(value, Mapping):
        raise SummaryError(f"unjudged must map reasons to counts; got {value!r}")
    for reason, count in value.items():
        if (
            not isinstance(reason, str)
            or isinstance(count, bool)
            or not isinstance(count, int)
            or count < 1
        ):
            raise SummaryError(f"unjudged must map reasons to counts >= 1; got {value!r}")
    return tuple(sorted(value.items()))


def merge_trials(*groups: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Concatenate groups of trial records (e.g. one per xdist worker), sorted by trial index.

    A trial index seen twice keeps its first copy if both copies decided the same (seed and
    each round's outcome and verdict, and why it ended unjudged, if it did); otherwise
    :class:`SummaryError` names the trial.
    """
    kept: dict[int, TrialRecord] = {}
    for group in groups:
        for record in group:
            if not isinstance(record, TrialRecord):
                raise TypeError(f"expected TrialRecord; got {type(record).__name__}")
            if isinstance(record.trial, bool) or not isinstance(record.trial, int):
                raise SummaryError(f"trial index must be an integer; got {record.trial!r}")
            if record.trial < 0:
                raise SummaryError(f"trial index must be >= 0; got {record.trial}")
            first = kept.setdefault(record.trial, record)
            if first is not record:
                difference = _decided_difference(first, record)
                if difference:
                    raise SummaryError(
                        f"conflicting duplicates of trial {record.trial}: {difference}"
                    )
    return [kept[index] for index in sorted(kept)]


def merge(params: Params, *groups: Iterable[TrialRecord]) -> PointSummary:
    """Summarise one point from several groups of trial records (see :func:`merge_trials`)."""
    return summarize(params, merge_trials(*groups))


def _decided(record: TrialRecord) -> list[tuple[Any, ...]]:
    return [(*r.outcome(), r.verdict) for r in record.rounds]


def _decided_difference(a: TrialRecord, b: TrialRecord) -> str:
    if a.seed != b.seed:
        return f"seed {a.seed} != {b.seed}"
    if a.unjudged != b.unjudged:
        return f"unjudged {a.unjudged or 'no'!r} != {b.unjudged or 'no'!r}"
    if len(a.rounds) != len(b.rounds):
        return f"{len(a.rounds)} rounds != {len(b.rounds)} rounds"
    for ra, rb in zip(_decided(a), _decided(b), strict=True):
        if ra != rb:
            return f"round {ra[0]} differs: {ra} != {rb}"
    return ""


def _check_trial(params: Params, record: TrialRecord) -> None:
    n = len(record.rounds)
    if n > params.rounds:
        raise SummaryError(
            f"trial {record.trial} has {n} rounds but the point has rounds = {params.rounds}"
        )
    if record.survived_rounds < n - 1:
        raise SummaryError(
            f"trial {record.trial} went on after its first unverified round "
            f"(round {record.survived_rounds + 1} of {n})"
        )
    if record.success and n < params.rounds:
        finish = f"finish {record.finish!r}" if record.finish else "no finish reason"
        raise SummaryError(
            f"trial {record.trial} is incomplete: {n} verified rounds of {params.rounds} and "
            f"{finish} (a trial cut short must say why in its finish)"
        )


@dataclass
class PointResult:
    """All trials of one parameter point, and their summary."""

    params: Params
    transport: str
    trials: list[TrialRecord]
    summary: PointSummary
    name: str = ""
    #: How a point run with sequential stopping ended (``--ci-width``), else None.
    stopping: Stopping | None = None

    def to_dict(self) -> dict[str, Any]:
        scenario = {"name": self.name, "transport": self.transport, **self.params.to_dict()}
        out: dict[str, Any] = {
            "scenario": scenario,
            "summary": self.summary.to_dict(),
            "trials": [t.to_dict() for t in self.trials],
        }
        if self.stopping is not None:
            out["stopping"] = self.stopping.to_dict()
        return out
