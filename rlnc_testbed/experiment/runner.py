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
from ..analysis.points import point_name
from ..analysis.summary import PointResult, summarize
from ..protocol.faults import FaultPlan
from ..protocol.params import ParameterError, Params
from ..protocol.records import RoundRecord, TrialRecord
from .scenario import RUN_TRANSPORTS

__all__ = [
    "SWEEP_AXES",
    "expand_grid",
    "history_path",
    "run_point",
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
) -> list[PointResult]:
    """Run every point in order; ``history_dir`` gets one JSONL history per point, named by
    :func:`history_path` (points that differ only in ``trials`` share one: the later ones
    resume it, since their first trials are the same trials). ``resume``, ``overwrite`` and
    ``command`` are as in :func:`run_point`."""
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
        result = run_point(
            params,
            transport=transport,
            history=history,
            resume=resume or again,
            overwrite=overwrite and not again,
            on_trial=on_trial,
            workers=workers,
            command=command,
        )
        if on_point is not None:
            on_point(result)
        results.append(result)
    return results
