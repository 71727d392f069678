"""The one place that runs experiments: points and sweeps over a chosen transport.

``sim`` runs in-process without a network (the compiled simulator, or the
full-payload reference when real data is given); ``memory`` and ``webrtc`` run the networked
roles through :class:`~rlnc_testbed.experiment.cluster.Cluster` (signaling over real
websockets either
way; data channels in memory or over aiortc). Trial records stream to a JSONL history as they
finish, so an interrupted run resumes where it stopped; a history is never replaced unless
``overwrite=True`` is given. A sweep's histories are named by their point's parameters
(:func:`~rlnc_testbed.analysis.points.point_name`), so a sweep that gains values or trials
resumes the histories it already has.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..analysis.history import HistoryError, HistoryWriter, completed_trials
from ..analysis.lifetime import Lifetime, LifetimeResult, lifetime_of, summarize_lifetimes
from ..analysis.points import point_name
from ..analysis.summary import PointResult, summarize
from ..protocol.faults import FaultPlan
from ..protocol.params import ParameterError, Params
from ..protocol.records import RoundRecord, TrialRecord
from .scenario import RUN_TRANSPORTS

__all__ = [
    "SWEEP_AXES",
    "expand_grid",
    "design_values",
    "history_path",
    "run_design",
    "run_lifetime",
    "run_lifetime_sweep",
    "run_point",
    "run_sequential",
    "run_sweep",
    "trial_indices",
]

#: Params fields a sweep may vary.
SWEEP_AXES: tuple[str, ...] = (
    "scheme",
    "field",
    "redundancy",
    "q",
    "parents",
    "keep",
    "beta",
    "peers",
    "symbols",
    "symbol_size",
    "rounds",
    "trials",
    "seed",
)
#: Trials simulated per progress update on the fast path.
_SIM_CHUNK = 250
#: A run until loss on the compiled simulator plays every trial up to this many rounds first,
#: then the survivors up to this many times more, and so on up to the cap (the first rounds of
#: a trial are the same whatever its max round, so nothing changes but the time and memory).
_LIFETIME_FIRST_ROUNDS = 64
_LIFETIME_GROWTH = 8
#: Output cells of the compiled simulator's columns per batch of a run until loss.
_LIFETIME_BATCH_CELLS = 2**22

TrialCallback = Callable[[TrialRecord], None]


def trial_indices(params: Params, *, worker: int = 0, workers: int = 1) -> list[int]:
    """Trials ``worker`` of ``workers`` runs: disjoint, covering 0..T-1 (seeds never overlap,
    since every draw is keyed by (seed, trial, ...))."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker must be in [0, {workers}); got {worker}")
    return list(range(worker, params.trials, workers))


def run_point(
    params: Params,
    *,
    transport: str = "sim",
    trials: Sequence[int] | None = None,
    data: bytes | None = None,
    history: str | os.PathLike[str] | None = None,
    resume: bool = False,
    on_trial: TrialCallback | None = None,
    workers: int = 1,
    name: str = "",
    network: Mapping[str, Any] | None = None,
    faults: FaultPlan | None = None,
    overwrite: bool = False,
    command: Sequence[str] | None = None,
) -> PointResult:
    """Run the trials of one point (all of them unless ``trials`` is given).

    ``network`` passes ``host``, ``port`` and ``interfaces`` to each networked trial
    (:func:`rlnc_testbed.experiment.cluster.run_trial`); the ``sim`` transport ignores it.
    ``faults`` (a scenario's fault plan) is run by every networked trial. ``history`` must be
    new or empty unless ``resume`` (then it must be for the same parameters but ``trials``, and
    the same transport) or ``overwrite``; ``command`` goes into its start line."""
    if transport not in RUN_TRANSPORTS:
        raise ParameterError(
            f"transport must be one of {', '.join(RUN_TRANSPORTS)}; got {transport!r}"
        )
    if transport == "sim" and faults:
        raise ParameterError("faults run only over the memory and webrtc transports")
    if transport == "sim" and network:
        raise ParameterError(
            f"{', '.join(sorted(network))}: only for the memory and webrtc transports"
        )
    wanted = list(range(params.trials)) if trials is None else list(trials)
    done: dict[int, TrialRecord] = {}
    if history is not None and not (resume or overwrite) and _holds_something(history):
        raise HistoryError(
            f"{history} already holds a history: resume it, overwrite it or choose another path"
        )
    if history is not None and resume:
        recorded = completed_trials(history, params, transport=transport)
        done = {t: r for t, r in recorded.items() if t in wanted}
    todo = [t for t in wanted if t not in done]
    records: dict[int, TrialRecord] = dict(done)
    for record in done.values():
        if on_trial is not None:
            on_trial(record)

    writer = (
        HistoryWriter(history, params=params, resume=resume, transport=transport, command=command)
        if history is not None
        else None
    )
    try:
        streamed: set[int] = set()  # trials whose rounds were written as they ended

        def round_done(trial: int, record: RoundRecord) -> None:
            streamed.add(trial)
            if writer is not None:
                writer.round(trial, record)

        def finished(record: TrialRecord) -> None:
            records[record.trial] = record
            if writer is not None:
                if record.trial not in streamed:
                    for rnd in record.rounds:
                        writer.round(record.trial, rnd)
                writer.trial(record)
            if on_trial is not None:
                on_trial(record)

        if transport == "sim":
            _run_sim(params, todo, data=data, workers=workers, finished=finished)
        else:
            asyncio.run(
                _run_networked(
                    params,
                    todo,
                    transport=transport,
                    data=data,
                    finished=finished,
                    round_done=round_done,
                    network=dict(network or {}),
                    faults=faults,
                )
            )
        ordered = [records[t] for t in wanted]
        summary = summarize(params, ordered)
        if writer is not None:
            writer.point(summary)
    finally:
        if writer is not None:
            writer.close()
    return PointResult(
        params=params, transport=transport, trials=ordered, summary=summary, name=name
    )


def run_sequential(
    params: Params,
    *,
    ci_width: float,
    max_trials: int,
    history: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    **options: Any,
) -> PointResult:
    """Run ``params`` in batches of trials 0, 1, 2, ... until the 95% Wilson interval of its
    success rate is narrower than ``ci_width`` or ``max_trials`` trials ran
    (:mod:`rlnc_testbed.analysis.sequential`; the first batch is ``params.trials``). The
    result's ``params.trials`` is the trials run and ``stopping`` says why it stopped.
    ``on_batch(done, next_total)`` is called before each later batch; ``options`` are
    :func:`run_point`'s (a history is resumed batch after batch)."""
    from ..analysis.sequential import Stopping, check_width, next_total, stopped

    first = params.trials
    try:
        check_width(ci_width, max_trials, first)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    records: list[TrialRecord] = []
    total, batches = first, 0
    while True:
        point = params.with_(trials=total)
        result = run_point(
            point,
            trials=range(len(records), total),
            history=history,
            resume=resume or batches > 0,
            overwrite=overwrite and batches == 0,
            **options,
        )
        records.extend(result.trials)
        batches += 1
        successes = sum(1 for r in records if r.success)
        reason = stopped(successes, total, width=ci_width, max_trials=max_trials)
        if reason is not None:
            break
        following = next_total(successes, total, width=ci_width, max_trials=max_trials, batch=first)
        if on_batch is not None:
            on_batch(total, following)
        total = following
    summary = summarize(point, records)
    lo, hi = summary.ci95
    stopping = Stopping(total, batches, reason, hi - lo, ci_width, max_trials)
    return PointResult(
        params=point,
        transport=result.transport,
        trials=records,
        summary=summary,
        name=result.name,
        stopping=stopping,
    )


def _holds_something(path: str | os.PathLike[str]) -> bool:
    target = Path(path)
    return target.is_file() and target.stat().st_size > 0


def _run_sim(
    params: Params, trials: list[int], *, data: bytes | None, workers: int, finished: TrialCallback
) -> None:
    if data is not None:
        from ..simulation.reference import simulate_trial

        for t in trials:
            finished(simulate_trial(params, t, data=data))
        return
    from ..simulation.compiled import simulate_point

    for start in range(0, len(trials), _SIM_CHUNK):
        chunk = trials[start : start + _SIM_CHUNK]
        for record in simulate_point(params, trials=chunk, workers=workers):
            finished(record)


async def _run_networked(
    params: Params,
    trials: list[int],
    *,
    transport: str,
    data: bytes | None,
    finished: TrialCallback,
    round_done: Callable[[int, RoundRecord], None],
    network: Mapping[str, Any],
    faults: FaultPlan | None = None,
) -> None:
    from .cluster import run_trial

    for t in trials:

        def on_round(record: RoundRecord, trial: int = t) -> None:
            round_done(trial, record)

        record = await run_trial(
            params, t, transport=transport, data=data, on_round=on_round, faults=faults, **network
        )
        finished(record)


def expand_grid(base: Params, axes: Mapping[str, Iterable[Any]]) -> list[Params]:
    """Every combination of ``axes`` values applied to ``base`` (validated; invalid
    combinations, e.g. P > N - 1, raise naming the point).

    ``q`` and ``redundancy`` both fix K (K = N Q, or ceil(r k)), so they cannot both be axes:
    with Q fixed every r would be the same experiment. A ``redundancy`` axis replaces the
    base's ``q``, a ``q`` axis its ``redundancy``."""
    unknown = sorted(set(axes) - set(SWEEP_AXES))
    if unknown:
        raise ParameterError(f"cannot sweep over {', '.join(unknown)}")
    if "q" in axes and "redundancy" in axes:
        raise ParameterError(
            "q and redundancy both set K (K = N * Q, or ceil(r * k)): sweep one of them; "
            "with Q fixed every r is the same experiment (the r column shows the effective "
            "N * Q / k)"
        )
    names = list(axes)
    values = [list(axes[n]) for n in names]
    for n, v in zip(names, values, strict=True):
        if not v:
            raise ParameterError(f"sweep axis {n} has no values")
    points = []
    for combo in itertools.product(*values):
        changes = dict(zip(names, combo, strict=True))
        if "q" in changes and changes["q"] is not None:
            changes.setdefault("redundancy", None)
        if "redundancy" in changes:
            changes.setdefault("q", None)
        try:
            points.append(base.with_(**changes))
        except ParameterError as exc:
            point = ", ".join(f"{k}={v}" for k, v in zip(names, combo, strict=True))
            raise ParameterError(f"invalid sweep point ({point}): {exc}") from None
    return points


def history_path(history_dir: str | os.PathLike[str], params: Params) -> Path:
    """Where a sweep keeps the history of ``params``: ``DIR/<point_name>.jsonl``."""
    return Path(history_dir) / f"{point_name(params)}.jsonl"


def run_sweep(
    points: Sequence[Params],
    *,
    transport: str = "sim",
    on_point: Callable[[PointResult], None] | None = None,
    on_trial: TrialCallback | None = None,
    history_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    workers: int = 1,
    overwrite: bool = False,
    command: Sequence[str] | None = None,
    ci_width: float | None = None,
    max_trials: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[PointResult]:
    """Run every point in order; ``history_dir`` gets one JSONL history per point, named by
    :func:`history_path` (points that differ only in ``trials`` share one: the later ones
    resume it, since their first trials are the same trials). ``resume``, ``overwrite`` and
    ``command`` are as in :func:`run_point`; with ``ci_width`` (and ``max_trials``) every
    point runs with sequential stopping (:func:`run_sequential`)."""
    results = []
    written: set[Path] = set()
    for params in points:
        history = None
        if history_dir is not None:
            Path(history_dir).mkdir(parents=True, exist_ok=True)
            history = history_path(history_dir, params)
        again = history in written
        if history is not None:
            written.add(history)
        options: dict[str, Any] = {
            "transport": transport,
            "history": history,
            "resume": resume or again,
            "overwrite": overwrite and not again,
            "on_trial": on_trial,
            "workers": workers,
            "command": command,
        }
        if ci_width is not None:
            result = run_sequential(
                params,
                ci_width=ci_width,
                max_trials=params.trials if max_trials is None else max_trials,
                on_batch=on_batch,
                **options,
            )
        else:
            result = run_point(params, **options)
        if on_point is not None:
            on_point(result)
        results.append(result)
    return results


def run_lifetime(
    params: Params,
    *,
    cap: int,
    transport: str = "sim",
    trials: Sequence[int] | None = None,
    data: bytes | None = None,
    on_trial: Callable[[Lifetime], None] | None = None,
    workers: int = 1,
    name: str = "",
    network: Mapping[str, Any] | None = None,
    faults: FaultPlan | None = None,
    history: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    command: Sequence[str] | None = None,
) -> LifetimeResult:
    """Run the trials of one point until the data is lost, or for ``cap`` rounds (the safety
    cap: such a trial is censored, see :mod:`rlnc_testbed.analysis.lifetime`).

    ``params.rounds`` is ignored (the result's params have ``rounds = cap``). On the ``sim``
    transport without ``data`` the compiled simulator plays the trials in passes of growing
    max round and keeps only each trial's rounds survived (no per-round records, no history);
    otherwise every trial is a :func:`run_point` trial with ``rounds = cap``, ``history`` and
    the other options as there."""
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ParameterError(f"the max rounds cap must be an integer >= 1; got {cap!r}")
    point = params.with_(rounds=cap)
    wanted = list(range(point.trials)) if trials is None else list(trials)
    if transport == "sim" and data is None:
        if history is not None:
            raise ParameterError(
                "a run until loss on the sim transport keeps no history (it records no "
                "rounds): drop --history/--history-dir, or run over memory or webrtc"
            )
        if faults or network:
            raise ParameterError("faults and network options run only over memory and webrtc")
        lifetimes = _sim_lifetimes(point, wanted, workers=workers, on_trial=on_trial)
        unjudged: dict[str, int] = {}
    else:

        def finished(record: TrialRecord) -> None:
            if on_trial is not None:
                on_trial(lifetime_of(record, cap))

        result = run_point(
            point,
            transport=transport,
            trials=wanted,
            data=data,
            history=history,
            resume=resume,
            on_trial=finished,
            workers=workers,
            name=name,
            network=network,
            faults=faults,
            overwrite=overwrite,
            command=command,
        )
        lifetimes = [lifetime_of(record, cap) for record in result.trials]
        unjudged = dict(result.summary.unjudged)
    summary = summarize_lifetimes(point, lifetimes, cap=cap, unjudged=unjudged)
    return LifetimeResult(
        params=point, transport=transport, lifetimes=lifetimes, summary=summary, name=name
    )


def _sim_lifetimes(
    params: Params,
    trials: list[int],
    *,
    workers: int,
    on_trial: Callable[[Lifetime], None] | None,
) -> list[Lifetime]:
    """Rounds survived per trial on the compiled simulator, in passes of growing max round."""
    import numpy as np

    from ..simulation.compiled import simulate_columns

    cap = params.rounds
    survived: dict[int, int] = {}
    todo = np.array(trials, dtype=np.int64)
    rounds = min(cap, _LIFETIME_FIRST_ROUNDS)
    while todo.size:
        point = params.with_(rounds=rounds)
        batch = max(workers, _LIFETIME_BATCH_CELLS // (rounds * (6 + params.parents)))
        alive = []
        for start in range(0, todo.size, batch):
            columns = simulate_columns(point, todo[start : start + batch], workers=workers)
            lived = columns.survived_rounds
            for trial, value in zip(columns.trials.tolist(), lived.tolist(), strict=True):
                if value < rounds or rounds == cap:
                    survived[trial] = value
                    if on_trial is not None:
                        on_trial(Lifetime(trial, value, value >= cap, _finish(value, cap)))
            alive.append(columns.trials[lived >= rounds])
            del columns
        todo = np.concatenate(alive) if rounds < cap else todo[:0]
        rounds = min(cap, rounds * _LIFETIME_GROWTH)
    return [Lifetime(t, survived[t], survived[t] >= cap, _finish(survived[t], cap)) for t in trials]


def _finish(survived: int, cap: int) -> str:
    return "max-round" if survived >= cap else "lost"


def run_lifetime_sweep(
    points: Sequence[Params],
    *,
    cap: int,
    transport: str = "sim",
    on_trial: Callable[[Lifetime], None] | None = None,
    workers: int = 1,
    history_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    command: Sequence[str] | None = None,
) -> list[LifetimeResult]:
    """:func:`run_lifetime` for every point in order (histories as in :func:`run_sweep`, for
    the networked transports only)."""
    results = []
    for params in points:
        history = None
        if history_dir is not None:
            Path(history_dir).mkdir(parents=True, exist_ok=True)
            history = history_path(history_dir, params.with_(rounds=cap))
        results.append(
            run_lifetime(
                params,
                cap=cap,
                transport=transport,
                on_trial=on_trial,
                workers=workers,
                history=history,
                resume=resume,
                overwrite=overwrite,
                command=command,
            )
        )
    return results


def design_values(base: Params, vary: str, values: Sequence[Any] | None) -> list[Any]:
    """The ordered values a design searches: ``values`` sorted and deduplicated, or by
    default every valid one (parents 1..N-1, beta 1..Q, q 1..k; redundancy needs values)."""
    from ..analysis.design import DESIGN_AXES

    if vary not in DESIGN_AXES:
        raise ParameterError(f"--vary must be one of {', '.join(DESIGN_AXES)}; got {vary!r}")
    if values is None:
        defaults = {
            "parents": range(1, base.peers),
            "beta": range(1, base.per_peer + 1),
            "q": range(1, base.symbols + 1),
        }
        if vary not in defaults:
            raise ParameterError(f"--vary {vary} needs --values (e.g. 1.5 2 2.5 3)")
        values = list(defaults[vary])
    chosen = sorted(set(values))
    for value in chosen:
        _design_point(base, vary, value)  # invalid values raise, naming the value
    return chosen


def _design_point(base: Params, vary: str, value: Any, trials: int | None = None) -> Params:
    changes: dict[str, Any] = {vary: value}
    if vary == "redundancy":
        changes["q"] = None
    if vary == "q":
        changes["redundancy"] = None
    if trials is not None:
        changes["trials"] = trials
    try:
        return base.with_(**changes)
    except ParameterError as exc:
        raise ParameterError(f"{vary} = {value:g}: {exc}") from None


def run_design(
    base: Params,
    *,
    vary: str,
    target: float,
    values: Sequence[Any] | None = None,
    confidence: float = 0.95,
    batch: int = 100,
    max_trials: int = 10_000,
    transport: str = "sim",
    workers: int = 1,
    on_trial: TrialCallback | None = None,
    on_probe: Callable[[Any], None] | None = None,
) -> Any:
    """Find the smallest ``vary`` value of ``base`` whose success over ``base.rounds`` rounds
    is >= ``target`` with ``confidence`` (:mod:`rlnc_testbed.analysis.design`); returns the
    :class:`~rlnc_testbed.analysis.design.Design` with every probed value's evidence."""
    from ..analysis.design import Design, search

    chosen = design_values(base, vary, values)

    def run(value: Any, start: int, stop: int) -> int:
        point = _design_point(base, vary, value, trials=stop)
        result = run_point(
            point, transport=transport, trials=range(start, stop), workers=workers,
            on_trial=on_trial,
        )  # fmt: skip
        return sum(1 for record in result.trials if record.success)

    try:
        answer, probes = search(
            chosen,
            run,
            target=target,
            confidence=confidence,
            batch=batch,
            max_trials=max_trials,
            on_probe=on_probe,
        )
    except ValueError as exc:
        if isinstance(exc, ParameterError):
            raise
        raise ParameterError(str(exc)) from None
    return Design(
        vary=vary,
        values=chosen,
        target=target,
        confidence=confidence,
        rounds=base.rounds,
        answer=answer,
        probes=probes,
    )
