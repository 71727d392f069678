"""CSV files of results, for spreadsheets and data frames (written with the csv module).

Both files start with the parameter columns of the points (:func:`parameter_columns`): the
Params fields that vary among the points, or, for a single point, every Params field but
``trials`` and then ``transport``. Values are as in the JSON (``redundancy`` or ``q`` empty when
not given, ``beta`` empty for the default Q, ``failures`` space-separated peer ids).

points CSV (:data:`POINT_COLUMNS` after the parameters), one row per point:
    trials          trials summarised
    successes       trials that stayed retrievable through every round
    success_rate    successes / trials: the estimate of surviving all R rounds
    ci95_low, ci95_high   its 95% Wilson interval
    unjudged        trials that stopped without judging a round (counted as failures)
    stopped_on      only for points run with sequential stopping (--ci-width): precision or
                    cap (``trials`` is then the trials the point took)

trials CSV (:data:`TRIAL_COLUMNS` after the parameters), one row per trial of every point:
    trial           the trial index (its draws are keyed by seed and trial)
    rounds_survived rounds verified before the first failed round (R for a success)
    last_verdict    the verdict of its last round ('' if it judged none)
    success         True if every round verified
    finish          why it ended ('max-round', 'end', or the unjudged reason)

For points run until loss (:mod:`rlnc_testbed.analysis.lifetime`) the points CSV has
:data:`LIFETIME_POINT_COLUMNS` after the parameters:
    trials, lost, censored      trials; lost before the cap; reached the cap (censored)
    max_rounds_cap              the safety cap C
    mean_lifetime               Kaplan-Meier mean rounds survived (restricted to C if censored)
    mean_ci95_low, mean_ci95_high   its 95% interval
    mean_restricted             True when trials reached the cap (the mean is a lower bound)
    median_lifetime             Kaplan-Meier median ('' when more than half reached the cap)
    median_ci95_low, median_ci95_high   its 95% interval ('' when beyond the cap)
and the trials CSV :data:`LIFETIME_TRIAL_COLUMNS`: trial, rounds_survived, censored, finish.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rlnc_testbed.analysis.lifetime import LifetimeResult
from rlnc_testbed.analysis.points import PARAM_FIELDS, varying_fields
from rlnc_testbed.analysis.summary import PointResult

__all__ = [
    "LIFETIME_POINT_COLUMNS",
    "LIFETIME_TRIAL_COLUMNS",
    "POINT_COLUMNS",
    "SEQUENTIAL_COLUMNS",
    "TRIAL_COLUMNS",
    "parameter_columns",
    "point_rows",
    "trial_rows",
    "write_points_csv",
    "write_trials_csv",
]

POINT_COLUMNS = ("trials", "successes", "success_rate", "ci95_low", "ci95_high", "unjudged")
TRIAL_COLUMNS = ("trial", "rounds_survived", "last_verdict", "success", "finish")
LIFETIME_POINT_COLUMNS = (
    "trials",
    "lost",
    "censored",
    "max_rounds_cap",
    "mean_lifetime",
    "mean_ci95_low",
    "mean_ci95_high",
    "mean_restricted",
    "median_lifetime",
    "median_ci95_low",
    "median_ci95_high",
)
LIFETIME_TRIAL_COLUMNS = ("trial", "rounds_survived", "censored", "finish")
#: After POINT_COLUMNS when points ran with sequential stopping (--ci-width).
SEQUENTIAL_COLUMNS = ("stopped_on",)

Results = Sequence[PointResult] | Sequence[LifetimeResult]


def parameter_columns(results: Results) -> tuple[str, ...]:
    """The parameter columns for ``results`` (see the module docstring)."""
    if len(results) == 1:
        return (*(name for name in PARAM_FIELDS if name != "trials"), "transport")
    varying = varying_fields([r.params for r in results])
    return tuple(name for name in varying if name != "trials")


def _lifetimes(results: Results) -> bool:
    return bool(results) and isinstance(results[0], LifetimeResult)


def point_rows(results: Results) -> Iterator[list[Any]]:
    """The header, then one row per point."""
    columns = parameter_columns(results)
    if _lifetimes(results):
        yield [*columns, *LIFETIME_POINT_COLUMNS]
        for life in results:
            assert isinstance(life, LifetimeResult)
            m = life.summary
            yield [
                *_parameters(life, columns),
                m.trials,
                m.lost,
                m.censored,
                m.cap,
                m.mean,
                m.mean_ci95[0],
                m.mean_ci95[1],
                m.mean_restricted,
                _cell(m.median),
                _cell(m.median_ci95[0]),
                _cell(m.median_ci95[1]),
            ]
        return
    sequential = any(getattr(r, "stopping", None) is not None for r in results)
    yield [*columns, *POINT_COLUMNS, *(SEQUENTIAL_COLUMNS if sequential else ())]
    for result in results:
        assert isinstance(result, PointResult)
        s = result.summary
        stop = result.stopping
        yield [
            *_parameters(result, columns),
            s.trials,
            s.successes,
            s.success_rate,
            s.ci95[0],
            s.ci95[1],
            s.unjudged_trials,
            *(((stop.reason if stop else ""),) if sequential else ()),
        ]


def trial_rows(results: Results) -> Iterator[list[Any]]:
    """The header, then one row per trial of every point."""
    columns = parameter_columns(results)
    if _lifetimes(results):
        yield [*columns, *LIFETIME_TRIAL_COLUMNS]
        for life in results:
            assert isinstance(life, LifetimeResult)
            head = _parameters(life, columns)
            for one in life.lifetimes:
                yield [*head, one.trial, one.rounds, one.censored, one.finish]
        return
    yield [*columns, *TRIAL_COLUMNS]
    for result in results:
        assert isinstance(result, PointResult)
        head = _parameters(result, columns)
        for trial in result.trials:
            last = trial.rounds[-1].verdict if trial.rounds else ""
            yield [
                *head,
                trial.trial,
                trial.survived_rounds,
                last,
                trial.success,
                trial.finish,
            ]


def write_points_csv(results: Results, path: str | os.PathLike[str]) -> Path:
    """Write the points CSV to ``path``."""
    return _write(point_rows(results), path)


def write_trials_csv(results: Results, path: str | os.PathLike[str]) -> Path:
    """Write the trials CSV to ``path``."""
    return _write(trial_rows(results), path)


def _parameters(result: PointResult | LifetimeResult, columns: Sequence[str]) -> list[Any]:
    data = {**result.params.to_dict(), "transport": result.transport}
    return [_cell(data[name]) for name in columns]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(map(str, value))
    return value


def _write(rows: Iterator[list[Any]], path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    with target.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return target
