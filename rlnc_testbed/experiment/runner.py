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

Beyond one machine: a :class:`~rlnc_testbed.analysis.summary.Shard` ``i/n`` runs only the trials
t with t % n == i (of every point of a sweep), and its history's start line, result and JSON say
so; :func:`~rlnc_testbed.analysis.summary.merge_shards` puts shards back together. A sweep given
an executor (:mod:`rlnc_testbed.experiment.executors`: here, or Dask distributed) runs as chunks,
a point and a range of its trials each (:func:`run_chunk`); the records come back here, where
they are written to the histories. Every draw is keyed by (seed, trial, ...), so neither changes
a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.history import HistoryError, HistoryWriter, completed_trials
from ..analysis.lifetime import Lifetime, LifetimeResult, lifetime_of, summarize_lifetimes
from ..analysis.points import point_name
from ..analysis.summary import PointResult, Shard, summarize
from ..protocol.faults import FaultPlan
from ..protocol.params import ParameterError, Params
from ..protocol.records import RoundRecord, TrialRecord
from .scenario import RUN_TRANSPORTS

if TYPE_CHECKING:
    from .executors import Executor

__all__ = [
    "CHUNK_TRIALS",
    "SWEEP_AXES",
    "SweepNetwork",
    "expand_grid",
    "design_values",
    "history_path",
    "recorded_shard",
    "run_chunk",
    "run_design",
    "run_lifetime",
    "run_lifetime_sweep",
    "run_point",
    "run_sequential",
    "run_sweep",
    "shard_trials",
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
#: A sweep's ``network`` options: the same for every point, or chosen per point (where its
#: browser pages and hosts are).
SweepNetwork = Mapping[str, Any] | Callable[[Params], Mapping[str, Any]]


def trial_indices(params: Params, *, worker: int = 0, workers: int = 1) -> list[int]:
    """Trials ``worker`` of ``workers`` runs: disjoint, covering 0..T-1 (seeds never overlap,
    since every draw is keyed by (seed, trial, ...))."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker must be in [0, {workers}); got {worker}")
    return list(range(worker, params.trials, workers))


def shard_trials(
    params: Params, shard: Shard | None, trials: Sequence[int] | None = None
) -> list[int]:
    """The trials of ``params`` (of ``trials``, if given) that ``shard`` runs, all of them
    without one; a shard left with no trial is refused."""
    wanted = list(range(params.trials)) if trials is None else list(trials)
    if shard is None:
        return wanted
    chosen = shard.select(wanted)
    if not chosen:
        raise ParameterError(
            f"shard {shard} has no trials (trials = {params.trials}): use at most "
            f"{params.trials} shards"
        )
    return chosen


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
    shard: Shard | None = None,
) -> PointResult:
    """Run the trials of one point (all of them unless ``trials`` is given).

    ``network`` passes ``host``, ``port`` and ``interfaces`` to each networked trial
    (:func:`rlnc_testbed.experiment.cluster.run_trial`); the ``sim`` transport ignores it.
    ``faults`` (a scenario's fault plan) is run by every networked trial. ``history`` must be
    new or empty unless ``resume`` (then it must be for the same parameters but ``trials``, and
    the same transport) or ``overwrite``; ``command`` goes into its start line. ``shard``
    (:class:`~rlnc_testbed.analysis.summary.Shard`) keeps only its trials (t % n == i); the
    history's start line and the result then say which shard they are."""
    run = _PointRun(
        params,
        transport=transport,
        trials=trials,
        shard=shard,
        history=history,
        resume=resume,
        overwrite=overwrite,
        on_trial=on_trial,
        command=command,
        name=name,
        network=network,
        faults=faults,
    )
    try:
        if transport == "sim":
            _run_sim(params, run.todo, data=data, workers=workers, finished=run.finished)
        else:
            asyncio.run(
                _run_networked(
                    params,
                    run.todo,
                    transport=transport,
                    data=data,
                    finished=run.finished,
                    round_done=run.round_done,
                    network=dict(network or {}),
                    faults=faults,
                )
            )
        return run.result()
    finally:
        run.close()


class _ShardHistory(HistoryWriter):
    """A history whose start (and resume) line also says which shard its trials are."""

    def __init__(self, path: str | os.PathLike[str], *, shard: Shard, **options: Any) -> None:
        self._shard = shard
        super().__init__(path, **options)

    def _write(self, event: dict[str, Any]) -> None:
        if event.get("event") in ("start", "resume"):
            event = {**event, "shard": self._shard.to_json()}
        super()._write(event)


def recorded_shard(path: str | os.PathLike[str]) -> Shard | None:
    """The shard the history at ``path`` was written for (its latest start or resume line's
    ``shard``), None for a history of every trial (or a missing or empty file)."""
    if not _holds_something(path):
        return None
    from ..analysis.history import read_history

    shard = None
    for event in read_history(path).events:
        if event.get("event") in ("start", "resume"):
            try:
                shard = Shard.from_json(event.get("shard"))
            except ValueError as exc:
                raise HistoryError(f"{path}: {exc}") from None
    return shard


class _PointRun:
    """One point's trials while they run: what is left to do, the history they stream to,
    the records so far; :meth:`result` summarises them (used by :func:`run_point` and by an
    executor's sweep, whose chunks come back in any order)."""

    def __init__(
        self,
        params: Params,
        *,
        transport: str,
        trials: Sequence[int] | None,
        shard: Shard | None,
        history: str | os.PathLike[str] | None,
        resume: bool,
        overwrite: bool,
        on_trial: TrialCallback | None,
        command: Sequence[str] | None,
        name: str,
        network: Mapping[str, Any] | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
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
        wanted = shard_trials(params, shard, trials)
        done: dict[int, TrialRecord] = {}
        if history is not None and not (resume or overwrite) and _holds_something(history):
            raise HistoryError(
                f"{history} already holds a history: resume it, overwrite it or choose another path"
            )
        if history is not None and resume:
            held = recorded_shard(history)
            if _holds_something(history) and held != shard:
                raise HistoryError(
                    f"{history} holds {_shard_words(held)}; this run is {_shard_words(shard)}: "
                    "give each shard its own history"
                )
            recorded = completed_trials(history, params, transport=transport)
            done = {t: r for t, r in recorded.items() if t in wanted}
        self.params, self.transport, self.name, self.shard = params, transport, name, shard
        self.wanted = wanted
        self.todo = [t for t in wanted if t not in done]
        self.records: dict[int, TrialRecord] = dict(done)
        self._on_trial = on_trial
        self._streamed: set[int] = set()  # trials whose rounds were written as they ended
        for record in done.values():
            if on_trial is not None:
                on_trial(record)
        self.writer: HistoryWriter | None = None
        if history is not None:
            options: dict[str, Any] = {
                "params": params, "resume": resume, "transport": transport, "command": command,
            }  # fmt: skip
            self.writer = (
                HistoryWriter(history, **options)
                if shard is None
                else _ShardHistory(history, shard=shard, **options)
            )

    def round_done(self, trial: int, record: RoundRecord) -> None:
        self._streamed.add(trial)
        if self.writer is not None:
            self.writer.round(trial, record)

    def finished(self, record: TrialRecord) -> None:
        self.records[record.trial] = record
        if self.writer is not None:
            if record.trial not in self._streamed:
                for rnd in record.rounds:
                    self.writer.round(record.trial, rnd)
            self.writer.trial(record)
        if self._on_trial is not None:
            self._on_trial(record)

    def result(self) -> PointResult:
        """The summary of every wanted trial (each must have finished); written to the
        history as its ``point`` line."""
        ordered = [self.records[t] for t in self.wanted]
        summary = summarize(self.params, ordered)
        if self.writer is not None:
            self.writer.point(summary)
        return PointResult(
            params=self.params,
            transport=self.transport,
            trials=ordered,
            summary=summary,
            name=self.name,
            shard=self.shard,
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _shard_words(shard: Shard | None) -> str:
    return "every trial" if shard is None else f"the trials of shard {shard}"


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

    if options.get("shard") is not None:
        raise ParameterError(
            "sequential stopping (--ci-width) cannot run in shards: when a point stops "
            "depends on the outcome of every trial"
        )
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

    async with contextlib.AsyncExitStack() as stack:
        if (network.get("browser_peers") or network.get("browser_newcomers")) and not network.get(
            "browser"
        ):
            # One Chromium for the whole run (a page per browser node per trial).
            from ..browser import Chromium

            network = {**network, "browser": await stack.enter_async_context(Chromium())}
        for t in trials:

            def on_round(record: RoundRecord, trial: int = t) -> None:
                round_done(trial, record)

            record = await run_trial(
                params, t, transport=transport, data=data, on_round=on_round, faults=faults,
                **network,
            )  # fmt: skip
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


def history_path(
    history_dir: str | os.PathLike[str], params: Params, shard: Shard | None = None
) -> Path:
    """Where a sweep keeps the history of ``params``: ``DIR/<point_name>.jsonl``, or
    ``DIR/<point_name>-shard<i>of<n>.jsonl`` for shard i/n (so shards may share DIR)."""
    suffix = "" if shard is None else f"-shard{shard.index}of{shard.count}"
    return Path(history_dir) / f"{point_name(params)}{suffix}.jsonl"


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
    shard: Shard | None = None,
    network: SweepNetwork | None = None,
    executor: Executor | None = None,
) -> list[PointResult]:
    """Run every point in order; ``history_dir`` gets one JSONL history per point, named by
    :func:`history_path` (points that differ only in ``trials`` share one: the later ones
    resume it, since their first trials are the same trials). ``resume``, ``overwrite``,
    ``command`` and ``shard`` are as in :func:`run_point`; with ``ci_width`` (and
    ``max_trials``) every point runs with sequential stopping (:func:`run_sequential`).
    ``network`` is :func:`run_point`'s, or a function of the point giving it (e.g. where a
    point's browser peers and hosts run).

    With an ``executor`` (:mod:`rlnc_testbed.experiment.executors`) the sweep is cut into
    chunks (a point and a range of its trials, :func:`run_chunk`) that the executor runs
    anywhere, in any order; records, histories and ``on_trial`` calls happen here as chunks
    come back, ``on_point`` when a point's last chunk did. The records are the same as
    without one (every draw is keyed by seed and trial)."""
    if executor is not None:
        if ci_width is not None:
            raise ParameterError(
                "an executor runs fixed trials per point: not with sequential stopping "
                "(--ci-width), whose batches depend on the trials before"
            )
        if network is not None:
            raise ParameterError(
                "an executor runs chunks in other processes, with no network options: browser "
                "pages and emulated hosts run only without one"
            )
        return _run_sweep_chunked(
            points,
            executor=executor,
            transport=transport,
            on_point=on_point,
            on_trial=on_trial,
            history_dir=history_dir,
            resume=resume,
            workers=workers,
            overwrite=overwrite,
            command=command,
            shard=shard,
        )
    results = []
    written: set[Path] = set()
    for params in points:
        history = None
        if history_dir is not None:
            Path(history_dir).mkdir(parents=True, exist_ok=True)
            history = history_path(history_dir, params, shard)
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
            "network": _point_network(network, params),
        }
        if shard is not None:
            options["shard"] = shard
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


def _point_network(network: SweepNetwork | None, params: Params) -> Mapping[str, Any] | None:
    """A sweep's ``network`` options for the point ``params``."""
    return network(params) if callable(network) else network


#: Trials per chunk of an executor's sweep, per transport (a sim chunk is a fraction of a
#: second of the compiled simulator; a networked trial takes ~0.1-1 s).
CHUNK_TRIALS: Mapping[str, int] = {"sim": _SIM_CHUNK, "memory": 4, "webrtc": 2}


def run_chunk(
    params: Params, transport: str, trials: Sequence[int], workers: int = 1
) -> list[TrialRecord]:
    """The records of ``trials`` of ``params`` over ``transport``: one chunk of an executor's
    sweep, run wherever the executor puts it (a module-level function, so it pickles by
    name)."""
    records: list[TrialRecord] = []
    wanted = list(trials)
    if transport == "sim":
        _run_sim(params, wanted, data=None, workers=workers, finished=records.append)
    else:
        asyncio.run(
            _run_networked(
                params,
                wanted,
                transport=transport,
                data=None,
                finished=records.append,
                round_done=lambda trial, record: None,
                network={},
            )
        )
    return records


def _run_sweep_chunked(
    points: Sequence[Params],
    *,
    executor: Executor,
    transport: str,
    on_point: Callable[[PointResult], None] | None,
    on_trial: TrialCallback | None,
    history_dir: str | os.PathLike[str] | None,
    resume: bool,
    workers: int,
    overwrite: bool,
    command: Sequence[str] | None,
    shard: Shard | None,
) -> list[PointResult]:
    # Points sharing a history (they differ only in trials) run as one: the largest trials.
    runs: list[_PointRun] = []
    by_history: dict[Path, int] = {}
    which: list[int] = []  # per point, its run
    for params in points:
        history = None
        if history_dir is not None:
            Path(history_dir).mkdir(parents=True, exist_ok=True)
            history = history_path(history_dir, params, shard)
            if history in by_history:
                which.append(by_history[history])
                continue
        runs.append(
            _PointRun(
                _widest(points, params, history, history_dir, shard),
                transport=transport,
                trials=None,
                shard=shard,
                history=history,
                resume=resume,
                overwrite=overwrite,
                on_trial=on_trial,
                command=command,
                name="",
            )
        )
        which.append(len(runs) - 1)
        if history is not None:
            by_history[history] = len(runs) - 1
    try:
        size = CHUNK_TRIALS[transport]
        chunks: list[tuple[int, list[int]]] = [
            (i, run.todo[start : start + size])
            for i, run in enumerate(runs)
            for start in range(0, len(run.todo), size)
        ]
        left = [0] * len(runs)
        for i, _ in chunks:
            left[i] += 1
        done: dict[int, PointResult] = {}

        def point_done(i: int) -> None:
            done[i] = runs[i].result()
            for j, params in enumerate(points):
                if which[j] != i:
                    continue
                result = _narrowed(done[i], params)
                if result is not done[i] and on_trial is not None:
                    for record in result.trials:  # as run_sweep's resumed narrower point
                        on_trial(record)
                if on_point is not None:
                    on_point(result)

        for i, count in enumerate(left):
            if count == 0:
                point_done(i)

        def chunk_done(index: int, records: list[TrialRecord]) -> None:
            i = chunks[index][0]
            for record in records:
                runs[i].finished(record)
            left[i] -= 1
            if left[i] == 0:
                point_done(i)

        tasks = [(runs[i].params, transport, trials, workers) for i, trials in chunks]
        executor.run(run_chunk, tasks, chunk_done)
        return [_narrowed(done[which[j]], params) for j, params in enumerate(points)]
    finally:
        for run in runs:
            run.close()


def _widest(
    points: Sequence[Params],
    params: Params,
    history: Path | None,
    history_dir: str | os.PathLike[str] | None,
    shard: Shard | None,
) -> Params:
    """``params`` with the most trials of the points sharing its history (just ``params``
    without a history directory)."""
    if history is None or history_dir is None:
        return params
    same = [p for p in points if history_path(history_dir, p, shard) == history]
    return max(same, key=lambda p: p.trials)


def _narrowed(result: PointResult, params: Params) -> PointResult:
    """``result`` cut down to the trials of ``params`` (a point sharing a wider history)."""
    if result.params == params:
        return result
    keep = [r for r in result.trials if r.trial < params.trials]
    return PointResult(
        params=params,
        transport=result.transport,
        trials=keep,
        summary=summarize(params, keep),
        name=result.name,
        shard=result.shard,
    )


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
    shard: Shard | None = None,
) -> LifetimeResult:
    """Run the trials of one point until the data is lost, or for ``cap`` rounds (the safety
    cap: such a trial is censored, see :mod:`rlnc_testbed.analysis.lifetime`).

    ``params.rounds`` is ignored (the result's params have ``rounds = cap``). On the ``sim``
    transport without ``data`` the compiled simulator plays the trials in passes of growing
    max round and keeps only each trial's rounds survived (no per-round records, no history);
    otherwise every trial is a :func:`run_point` trial with ``rounds = cap``, ``history`` and
    the other options as there. ``shard`` keeps only its trials (t % n == i): the result says
    which shard it is, and so does the history's start line."""
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ParameterError(f"the max rounds cap must be an integer >= 1; got {cap!r}")
    point = params.with_(rounds=cap)
    if transport == "sim" and data is None:
        if history is not None:
            raise ParameterError(
                "a run until loss on the sim transport keeps no history (it records no "
                "rounds): drop --history/--history-dir, or run over memory or webrtc"
            )
        if faults or network:
            raise ParameterError("faults and network options run only over memory and webrtc")
        wanted = shard_trials(point, shard, trials)
        lifetimes = _sim_lifetimes(point, wanted, workers=workers, on_trial=on_trial)
        summary = summarize_lifetimes(point, lifetimes, cap=cap, unjudged={})
        return LifetimeResult(point, transport, lifetimes, summary, name=name, shard=shard)

    def finished(record: TrialRecord) -> None:
        if on_trial is not None:
            on_trial(lifetime_of(record, cap))

    result = run_point(
        point,
        transport=transport,
        trials=trials,
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
        shard=shard,
    )
    return LifetimeResult.of_point(result, cap)


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
    shard: Shard | None = None,
    network: SweepNetwork | None = None,
) -> list[LifetimeResult]:
    """:func:`run_lifetime` for every point in order (histories as in :func:`run_sweep`, for
    the networked transports only; ``shard`` and ``network`` as there)."""
    results = []
    for params in points:
        history = None
        if history_dir is not None:
            Path(history_dir).mkdir(parents=True, exist_ok=True)
            history = history_path(history_dir, params.with_(rounds=cap), shard)
        results.append(
            run_lifetime(
                params,
                cap=cap,
                transport=transport,
                on_trial=on_trial,
                workers=workers,
                network=_point_network(network, params),
                history=history,
                resume=resume,
                overwrite=overwrite,
                command=command,
                shard=shard,
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
