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

trials CSV (:data:`TRIAL_COLUMNS` after the parameters), one row per trial of every point:
    trial           the trial index (its draws are keyed by seed and trial)
    rounds_survived rounds verified before the first failed round (R for a success)
    last_verdict    the verdict of its last round ('' if it judged none)
    success         True if every round verified
    finish          why it ended ('max-round', 'end', or the unjudged reason)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rlnc_testbed.analysis.points import PARAM_FIELDS, varying_fields
from rlnc_testbed.analysis.summary import PointResult

__all__ = [
    "POINT_COLUMNS",
    "TRIAL_COLUMNS",
    "parameter_columns",
    "point_rows",
    "trial_rows",
    "write_points_csv",
    "write_trials_csv",
]

POINT_COLUMNS = ("trials", "successes", "success_rate", "ci95_low", "ci95_high", "unjudged")
TRIAL_COLUMNS = ("trial", "rounds_survived", "last_verdict", "success", "finish")


def parameter_columns(results: Sequence[PointResult]) -> tuple[str, ...]:
    """The parameter columns for ``results`` (see the module docstring)."""
    if len(results) == 1:
        return (*(name for name in PARAM_FIELDS if name != "trials"), "transport")
    varying = varying_fields([r.params for r in results])
    return tuple(name for name in varying if name != "trials")


def point_rows(results: Sequence[PointResult]) -> Iterator[list[Any]]:
    """The header, then one row per point."""
    columns = parameter_columns(results)
    yield [*columns, *POINT_COLUMNS]
    for result in results:
        s = result.summary
        yield [
            *_parameters(result, columns),
            s.trials,
            s.successes,
            s.success_rate,
            s.ci95[0],
            s.ci95[1],
            s.unjudged_trials,
        ]


def trial_rows(results: Sequence[PointResult]) -> Iterator[list[Any]]:
    """The header, then one row per trial of every point."""
    columns = parameter_columns(results)
    yield [*columns, *TRIAL_COLUMNS]
    for result in results:
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


def write_points_csv(results: Sequence[PointResult], path: str | os.PathLike[str]) -> Path:
    """Write the points CSV to ``path``."""
    return _write(point_rows(results), path)


def write_trials_csv(results: Sequence[PointResult], path: str | os.PathLike[str]) -> Path:
    """Write the trials CSV to ``path``."""
    return _write(trial_rows(results), path)


def _parameters(result: PointResult, columns: Sequence[str]) -> list[Any]:
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
