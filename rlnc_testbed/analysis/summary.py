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

A *shard* ``i/n`` of a point (:class:`Shard`) is its trials t with t % n == i, run anywhere
(``run``/``sweep --shard``): every draw is keyed by (seed, trial, ...), so the same trial gives
the same record on any machine. :func:`merge_shards` puts shard results of one point back
together, refusing shards that overlap, that were cut for another n, that hold trials not
theirs, or whose points differ.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar

from rlnc_testbed.analysis.sequential import Stopping
from rlnc_testbed.analysis.stats import wilson_interval
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import TrialRecord

__all__ = [
    "PointResult",
    "PointSummary",
    "Shard",
    "ShardedResult",
    "SummaryError",
    "check_shards",
    "merge",
    "merge_shards",
    "merge_trials",
    "point_fields",
    "summarize",
]


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
    return PointSummary(
        **point_fields(params),
        rounds=params.rounds,
        trials=count,
        successes=successes,
        success_rate=successes / count,
        ci95=wilson_interval(successes, count),
        survival=survival,
        repair_bytes_per_round=_mean([r.repair_bytes for r in all_rounds]),
        mean_collect_bytes_per_round=_mean([r.collect_bytes for r in all_rounds]),
        unjudged=tuple(sorted(unjudged.items())),
    )


def point_fields(params: Params) -> dict[str, Any]:
    """What a summary says of its point (a fixed-rounds or an until-loss one): the scheme
    and its parameters as derived (Q, beta; r given, or K / k when Q was given), the seed."""
    redundancy = (
        float(params.redundancy)
        if params.redundancy is not None
        else params.total_packets_made / params.symbols
    )
    return {
        "scheme": params.scheme,
        "field": params.field,
        "keep": params.keep,
        "redundancy": redundancy,
        "q": params.per_peer,
        "parents": params.parents,
        "beta": params.upload,
        "peers": params.peers,
        "symbols": params.symbols,
        "seed": params.seed,
        "symbol_size": params.symbol_size,
        "systematic": params.systematic,
    }


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


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` of a point's trials: those t with t % count == index.

    Written ``i/n`` (0-based, ``0/2`` and ``1/2`` are the two halves) on the command line and
    ``[i, n]`` in JSON and history start lines. ``Shard(0, 1)`` is every trial."""

    index: int
    count: int

    def __post_init__(self) -> None:
        for value in (self.index, self.count):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SummaryError(
                    f"a shard is two integers i/n; got {self.index!r}/{self.count!r}"
                )
        if self.count < 1 or not 0 <= self.index < self.count:
            raise SummaryError(
                f"a shard i/n needs 0 <= i < n (0-based: 0/2 and 1/2 are the two halves); got "
                f"{self.index}/{self.count}"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"i/n"`` -> ``Shard(i, n)``."""
        head, slash, tail = text.strip().partition("/")
        if not slash or not head.strip().isdigit() or not tail.strip().isdigit():
            raise SummaryError(f"a shard is written i/n, e.g. 0/4; got {text!r}")
        return cls(int(head), int(tail))

    @classmethod
    def from_json(cls, value: object) -> Shard | None:
        """``[i, n]`` (as written by :meth:`to_json`) or None -> a Shard or None."""
        if value is None:
            return None
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise SummaryError(f"a shard is written [i, n] in JSON; got {value!r}")
        return cls(*value)

    def to_json(self) -> list[int]:
        return [self.index, self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, trial: int) -> bool:
        """True for the trials of this shard."""
        return trial % self.count == self.index

    def select(self, trials: Iterable[int]) -> list[int]:
        """The trials of ``trials`` this shard runs, in order."""
        return [t for t in trials if self.owns(t)]


@dataclass
class PointResult:
    """All trials of one parameter point (or of one :class:`Shard` of them), and their summary."""

    params: Params
    transport: str
    trials: list[TrialRecord]
    summary: PointSummary
    name: str = ""
    #: How a point run with sequential stopping ended (``--ci-width``), else None.
    stopping: Stopping | None = None
    #: The shard these trials are (``--shard``); None for every trial of the point.
    shard: Shard | None = None

    def to_dict(self) -> dict[str, Any]:
        scenario = {"name": self.name, "transport": self.transport, **self.params.to_dict()}
        out: dict[str, Any] = {
            "scenario": scenario,
            "summary": self.summary.to_dict(),
            "trials": [t.to_dict() for t in self.trials],
        }
        if self.stopping is not None:
            out["stopping"] = self.stopping.to_dict()
        if self.shard is not None:
            out["shard"] = self.shard.to_json()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PointResult:
        """Read back :meth:`to_dict` output (a run's JSON); ``stopping`` is not read back."""
        if not isinstance(data, Mapping) or not isinstance(data.get("scenario"), Mapping):
            raise SummaryError("not a run's result (no 'scenario' object)")
        scenario = dict(data["scenario"])
        name, transport = scenario.pop("name", ""), scenario.pop("transport", "")
        try:
            params = Params.from_dict(scenario)
            trials = [TrialRecord.from_dict(t) for t in data.get("trials") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise SummaryError(f"bad scenario or trials: {exc}") from None
        return cls(
            params=params,
            transport=str(transport),
            trials=trials,
            summary=PointSummary.from_dict(data["summary"]),
            name=str(name),
            shard=Shard.from_json(data.get("shard")),
        )


class ShardedResult(Protocol):
    """What :func:`check_shards` reads of a result: its point, its transport and its shard."""

    params: Params
    transport: str
    shard: Shard | None


_Result = TypeVar("_Result", bound=ShardedResult)


def check_shards(
    parts: Sequence[tuple[str, _Result]], trials_of: Callable[[str, _Result], Iterable[int]]
) -> tuple[int, ...]:
    """The checks shard results of one point pass before they merge (:func:`merge_shards`, and
    :func:`~rlnc_testbed.analysis.lifetime.merge_lifetime_shards` for runs until loss); the
    shard indices missing (empty when complete).

    ``parts`` are the results, each labelled (e.g. by its file name); ``trials_of(label,
    result)`` gives a result's trial indices, and is called first for each result, so it may
    refuse one (with :class:`SummaryError`) for reasons of its own. Refused with
    :class:`SummaryError` naming the labels: no results, results of different points (any
    parameter, ``trials`` included, or the transport), shards of different splits (0/2 with
    1/3), the same shard twice (or a whole result with anything else: they overlap), and a
    trial that is not its shard's."""
    if not parts:
        raise SummaryError("no results to merge")
    first_label, first = parts[0]
    seen: dict[int, str] = {}
    count = (first.shard or Shard(0, 1)).count
    for label, result in parts:
        trials = list(trials_of(label, result))
        if result.transport != first.transport or result.params != first.params:
            old, new = first.params.to_dict(), result.params.to_dict()
            diffs = [f"{k} {old[k]!r} != {new[k]!r}" for k in old if old[k] != new[k]]
            if result.transport != first.transport:
                diffs.insert(0, f"transport {first.transport!r} != {result.transport!r}")
            raise SummaryError(
                f"{first_label} and {label} are not shards of the same point: {', '.join(diffs)}"
            )
        shard = result.shard or Shard(0, 1)
        if shard.count != count:
            raise SummaryError(
                f"{first_label} is shard {first.shard or Shard(0, 1)} but {label} is shard "
                f"{shard}: shards of different splits cannot be merged"
            )
        if shard.index in seen:
            what = "the whole run" if count == 1 else f"shard {shard}"
            raise SummaryError(
                f"{seen[shard.index]} and {label} overlap: both are {what} of the same point"
            )
        seen[shard.index] = label
        stray = [t for t in trials if not shard.owns(t)]
        if stray:
            raise SummaryError(
                f"{label} is shard {shard} but holds trial {stray[0]} (t % {count} = "
                f"{stray[0] % count})"
            )
    return tuple(i for i in range(count) if i not in seen)


def merge_shards(
    parts: Sequence[tuple[str, PointResult]],
) -> tuple[PointResult, tuple[int, ...]]:
    """Merge shard results of one point, each labelled (e.g. by its file name), into one
    result over all their trials, and the shard indices missing (empty when complete).

    Refused with :class:`SummaryError` naming the labels: what :func:`check_shards` refuses,
    and results of sequential stopping (whose trials depend on every trial)."""
    missing = check_shards(parts, _unstopped_trials)
    first = parts[0][1]
    records = merge_trials(*(result.trials for _, result in parts))
    merged = PointResult(
        params=first.params,
        transport=first.transport,
        trials=records,
        summary=summarize(first.params, records),
        name=first.name,
    )
    return merged, missing


def _unstopped_trials(label: str, result: PointResult) -> list[int]:
    """The trial indices of a shard result, refusing one of sequential stopping."""
    if result.stopping is not None:
        raise SummaryError(f"{label}: a point run with --ci-width cannot be merged")
    return [r.trial for r in result.trials]
