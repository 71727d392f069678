"""What ``show`` reads: which kind of file an input is (a history, or a run's or sweep's --json
output, of fixed rounds or until loss), and its points as results (with their shard)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...analysis.history import HistoryContents, HistoryError
from ...analysis.summary import PointResult, Shard, SummaryError
from ...protocol.params import Params
from ...protocol.records import TrialRecord
from .common import doing

__all__ = ["history_result", "input_kind", "lifetime_input", "shard_input"]


def input_kind(path: Path) -> str:
    """``history`` (its first line is a history start line), ``run`` or ``sweep`` (a --json
    output), ``lifetime`` or ``lifetime-sweep`` (the --json output of one run until loss);
    anything else is refused."""
    with doing(f"reading {str(path)!r}"):
        with path.open("rb") as handle:
            first = handle.readline(1 << 20)
        try:
            head = json.loads(first)
        except (UnicodeDecodeError, json.JSONDecodeError):
            head = None
        if isinstance(head, dict) and head.get("event") == "start":
            return "history"
        if path.suffix == ".jsonl":
            raise HistoryError(f"{path}: the first line is not a history 'start' line")
        data = _read_result_json(path)
        if isinstance(data.get("points"), list):
            return "lifetime-sweep" if data.get("until_loss") else "sweep"
        if isinstance(data.get("scenario"), dict):
            return "lifetime" if isinstance(data.get("lifetime"), dict) else "run"
        raise SummaryError(f"{path}: neither a history nor a run's or sweep's --json output")


def _read_result_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SummaryError(f"{path}: not a history nor a JSON result: {exc}") from None
    if not isinstance(data, dict):
        raise SummaryError(f"{path}: a JSON result is an object; got {type(data).__name__}")
    return data


def shard_input(path: Path) -> tuple[str, list[PointResult], dict[str, Any]]:
    """(kind, its points, the file's JSON or history header) of one ``show`` input."""
    from ...analysis.summary import PointSummary, summarize

    kind = input_kind(path)
    with doing(f"reading {str(path)!r}"):
        if kind == "history":
            result, contents = history_result(path, with_shard=True)
            head = {"transport": contents.transport, "provenance": contents.provenance}
            return kind, [result], head
        data = _read_result_json(path)
        if kind == "run":
            return kind, [PointResult.from_dict(data)], data
        known = {f for f in PointSummary.__dataclass_fields__}
        points = []
        for i, point in enumerate(data["points"]):
            if not isinstance(point, dict) or not isinstance(point.get("params"), dict):
                raise SummaryError(f"{path}: point {i} has no params")
            records = point.get("records")
            params = Params.from_dict(point["params"])
            summary = PointSummary.from_dict({k: v for k, v in point.items() if k in known})
            trials = [TrialRecord.from_dict(t) for t in records or []]
            points.append(
                PointResult(
                    params=params,
                    transport=str(point.get("transport", data.get("transport"))),
                    trials=trials,
                    summary=summary if records is None else summarize(params, trials),
                    shard=Shard.from_json(point.get("shard", data.get("shard"))),
                )
            )
        return kind, points, data


def history_result(path: Path, *, with_shard: bool) -> tuple[PointResult, HistoryContents]:
    """The finished trials of the history at ``path`` as one point's result, named after the
    file (``with_shard``: with the shard it was written for), and the history's contents;
    :class:`HistoryError` when no trial has finished yet."""
    from ...analysis.history import read_history
    from ...analysis.summary import summarize
    from ...experiment.runner import recorded_shard

    contents = read_history(path)
    trials = [contents.trials[t] for t in sorted(contents.trials)]
    if not trials:
        raise HistoryError(f"{path}: no finished trial recorded yet")
    result = PointResult(
        params=contents.params,
        transport=contents.transport or "history",
        trials=trials,
        summary=summarize(contents.params, trials),
        name=path.stem,
        shard=recorded_shard(path) if with_shard else None,
    )
    return result, contents


def lifetime_input(path: Path) -> tuple[list[Any], dict[str, Any]]:
    """(its points as LifetimeResults, the file's JSON) of a run's or sweep's --json output
    until loss. A sweep point without per-trial ``records`` (an unsharded sweep's) gets its
    lifetimes back from its rounds survived: trial t of ``range(trials)`` in order, censored
    when it reached the cap."""
    from ...analysis.lifetime import Lifetime, LifetimeResult, LifetimeSummary

    with doing(f"reading {str(path)!r}"):
        data = _read_result_json(path)
        try:
            if "points" not in data:
                return [LifetimeResult.from_dict(data)], data
            points = []
            for i, point in enumerate(data["points"]):
                params = Params.from_dict(point["params"])
                summary = LifetimeSummary.from_dict(point)
                shard = Shard.from_json(point.get("shard", data.get("shard")))
                if point.get("records") is not None:
                    lifetimes = [Lifetime.from_dict(life) for life in point["records"]]
                else:
                    trials = (shard or Shard(0, 1)).select(range(params.trials))
                    rounds = [int(value) for value in point["lifetimes"]]
                    if len(rounds) != len(trials):
                        raise SummaryError(
                            f"point {i} holds {len(rounds)} lifetimes for {len(trials)} trials"
                        )
                    lifetimes = [
                        Lifetime(
                            t, r, r >= summary.cap, "max-round" if r >= summary.cap else "lost"
                        )
                        for t, r in zip(trials, rounds, strict=True)
                    ]
                transport = str(point.get("transport", data.get("transport")))
                points.append(LifetimeResult(params, transport, lifetimes, summary, shard=shard))
        except SummaryError as exc:
            raise SummaryError(f"{path}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise SummaryError(f"{path}: not a result until loss: {exc!r}") from None
        return points, data
