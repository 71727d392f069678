"""``show A B ...``: shard outputs (run or sweep JSON, histories; of fixed rounds or until loss)
merged into the full result, and the outputs of a sweep put back together."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ...analysis import tables
from ...analysis.provenance import now, provenance
from ...analysis.summary import PointResult, Shard, ShardedResult, SummaryError
from ...protocol.params import ParameterError
from .checks import check_outputs
from .common import command_line, doing, say
from .inputs import input_kind, lifetime_input, shard_input
from .lifetime import lifetime_outputs
from .outputs import json_step, point_outputs, print_paths, sweep_point, write_csvs, write_json

__all__ = ["cmd_show_merged", "show_sweep"]

_Result = TypeVar("_Result", bound=ShardedResult)


def cmd_show_merged(args: argparse.Namespace) -> int:
    """``show A.json B.json ...``: shard outputs (run or sweep JSON, or histories) of the same
    point(s) merged into the full result (one input: that result as it is)."""
    from ...analysis.summary import merge_shards

    paths = [args.history, *args.more]
    given = [input_kind(path) for path in paths]
    if any(kind.startswith("lifetime") for kind in given):
        return _cmd_show_lifetimes(args, paths, given)
    check_outputs(args)
    started = now()
    inputs = [(str(path), *shard_input(path)) for path in paths]
    keys = {json.dumps([pts[0].transport, pts[0].params.to_dict()]) for _, _, pts, _ in inputs}
    if len(keys) > 1 and all(kind == "history" for _, kind, _, _ in inputs):
        return _show_histories_by_point(args, inputs, started)
    kinds = {kind == "sweep" for _, kind, _, _ in inputs}
    if len(kinds) > 1:
        raise SummaryError("cannot merge a sweep's JSON with a run's output: give one kind")
    sweep = kinds == {True}
    first_head = inputs[0][3]
    labelled = [(label, points) for label, _, points, _ in inputs]
    _check_point_counts(labelled)
    if len(inputs) > 1:
        for label, points in labelled:
            if any(not r.trials for r in points):
                raise SummaryError(
                    f"{label} holds no trial records: only the outputs of --shard runs (and "
                    "histories) can be merged"
                )
    merged, missing, shards = _merge_points(args, labelled, merge_shards)
    origin = provenance(command=command_line(args), started=started, ended=now())
    if not sweep:
        result = merged[0]
        done = len(result.trials)
        title = f"{len(paths)} result{'s' * (len(paths) != 1)} merged: {done} of "
        title += f"{result.params.trials} trials"
        recorded = {
            "transport": first_head.get("transport") or result.transport,
            "provenance": first_head.get("provenance"),
            "shards": shards,
            "missing_shards": sorted(f"{i}/{n}" for i, n in missing),
        }
        point_outputs(args, result, result.params, title, origin=origin, recorded=recorded)
        return 0
    return show_sweep(args, merged, first_head, origin, shards, missing)


def _cmd_show_lifetimes(args: argparse.Namespace, paths: list[Path], kinds: list[str]) -> int:
    """``show A.json B.json ...`` of runs (or sweeps) until loss: shard outputs merged into
    the full result, whose lifetimes and summary are the unsharded run's (one input: that
    result as it is)."""
    from ...analysis.lifetime import merge_lifetime_shards

    if len(set(kinds)) > 1:
        what = {"lifetime": "a run until loss", "lifetime-sweep": "a sweep until loss"}
        named = sorted({what.get(kind, f"a {kind}'s output") for kind in kinds})
        raise SummaryError(f"cannot merge {' with '.join(named)}: give one kind")
    check_outputs(args)
    started = now()
    inputs = [(str(path), *lifetime_input(path)) for path in paths]
    first_head = inputs[0][2]
    labelled = [(label, points) for label, points, _ in inputs]
    _check_point_counts(labelled)
    merged, missing, shards = _merge_points(args, labelled, merge_lifetime_shards)
    origin = provenance(command=command_line(args), started=started, ended=now())
    recorded = {
        "transport": first_head.get("transport") or merged[0].transport,
        "provenance": first_head.get("provenance"),
        "shards": shards,
        "missing_shards": sorted(f"{i}/{n}" for i, n in missing),
    }
    n = len(paths)
    if kinds[0] == "lifetime":
        result = merged[0]
        title = f"{n} result{'s' * (n != 1)} merged until loss: {len(result.lifetimes)} of "
        title += f"{result.params.trials} trials"
        lifetime_outputs(args, merged, origin=origin, title=title, recorded=recorded)
        return 0
    sweep = {k: first_head.get(k) for k in ("transport", "until_loss", "max_rounds_cap", "axes")}
    sweep["collapsed"] = first_head.get("collapsed")
    title = f"sweep until loss ({sweep['transport']}), {n} result{'s' * (n != 1)} merged"
    lifetime_outputs(args, merged, origin=origin, title=title, sweep=sweep, recorded=recorded)
    return 0


def _check_point_counts(inputs: Sequence[tuple[str, Sequence[object]]]) -> None:
    """Refuse labelled inputs that do not all hold as many points (shards of one sweep do)."""
    first_label, first_points = inputs[0]
    for label, points in inputs[1:]:
        if len(points) != len(first_points):
            raise SummaryError(
                f"{first_label} has {len(first_points)} points but {label} has {len(points)}: "
                "not shards of the same sweep"
            )


def _merge_points(
    args: argparse.Namespace,
    inputs: Sequence[tuple[str, Sequence[_Result]]],
    merge: Callable[[list[tuple[str, _Result]]], tuple[_Result, tuple[int, ...]]],
) -> tuple[list[_Result], set[tuple[int, int]], list[dict[str, Any]]]:
    """Point i of every labelled input merged by ``merge`` (``merge_shards`` or
    ``merge_lifetime_shards``; one input that is a whole result: as it is), with a warning for
    the shards missing: the merged points, the (index, count) of the shards missing and the
    ``recorded`` shards, one per input."""
    first_points = inputs[0][1]
    merged: list[_Result] = []
    missing: set[tuple[int, int]] = set()
    with doing(f"merging {len(inputs)} result{'s' * (len(inputs) != 1)}"):
        for i, first in enumerate(first_points):
            if len(inputs) == 1 and first.shard is None:
                merged.append(first)
                continue
            result, absent = merge([(label, points[i]) for label, points in inputs])
            count = (first.shard or Shard(0, 1)).count
            missing.update((index, count) for index in absent)
            merged.append(result)
    if missing:
        count = next(iter(missing))[1]
        gone = ", ".join(f"{i}/{count}" for i, _ in sorted(missing))
        say(args, "warning", f"shard(s) {gone} missing: the result holds only the others' trials")
    shards = [
        {
            "source": label,
            "shard": points[0].shard.to_json() if points and points[0].shard else None,
        }
        for label, points in inputs
    ]
    return merged, missing, shards


def _show_histories_by_point(
    args: argparse.Namespace, inputs: list[tuple[str, str, list[PointResult], Any]], started: str
) -> int:
    """``show DIR/*.jsonl``: histories of several points (a sweep's, shards and all), each
    point's shards merged, shown as a sweep."""
    from ...analysis.summary import merge_shards

    groups: dict[str, list[tuple[str, PointResult]]] = {}
    for label, _, (result,), _ in inputs:
        key = json.dumps([result.transport, result.params.to_dict()])
        groups.setdefault(key, []).append((label, result))
    merged: list[PointResult] = []
    missing: set[tuple[int, int]] = set()
    with doing(f"merging {len(inputs)} histories of {len(groups)} points"):
        for parts in groups.values():
            result, absent = merge_shards(parts)
            count = (parts[0][1].shard or Shard(0, 1)).count
            missing.update((index, count) for index in absent)
            merged.append(result)
    if missing:
        gone = ", ".join(sorted({f"{i}/{n}" for i, n in missing}))
        say(args, "warning", f"shard(s) {gone} of some points missing")
    shards = [
        {"source": label, "shard": result.shard.to_json() if result.shard else None}
        for label, _, (result,), _ in inputs
    ]
    origin = provenance(command=command_line(args), started=started, ended=now())
    head = {"transport": merged[0].transport, "provenance": inputs[0][3].get("provenance")}
    return show_sweep(args, merged, head, origin, shards, missing)


def show_sweep(
    args: argparse.Namespace,
    results: list[PointResult],
    head: dict[str, Any],
    origin: dict[str, Any],
    shards: list[dict[str, Any]],
    missing: set[tuple[int, int]],
) -> int:
    """JSON (a sweep's, with ``recorded``), CSV, plots and table of merged sweep shards."""
    if getattr(args, "csv_trials", None) is not None and any(not r.trials for r in results):
        raise ParameterError(
            "--csv-trials: the sweep's JSON holds no per-trial records; write it with "
            "'sweep --trial-outcomes', or show the sweep's --history-dir"
        )
    transport = head.get("transport")
    if args.json is not None:
        with doing(json_step(args.json)):
            points = []
            for r in results:
                point = sweep_point(r)
                if r.trials:
                    point["records"] = [t.to_dict() for t in r.trials]
                points.append(point)
            payload = {
                "provenance": origin,
                "transport": transport,
                "axes": head.get("axes"),
                "sequential": head.get("sequential"),
                "collapsed": head.get("collapsed"),
                "points": points,
                "recorded": {
                    "transport": transport,
                    "provenance": head.get("provenance"),
                    "shards": shards,
                    "missing_shards": sorted(f"{i}/{n}" for i, n in missing),
                },
            }
            write_json(payload, args.json)
    write_csvs(args, results)
    if args.plot is not None:
        with doing(f"writing the plots {str(args.plot)!r} and next to it"):
            from ...analysis.plots import write_sweep_figures

            write_sweep_figures([r.summary for r in results], args.plot)
    if args.json != "-" and not args.quiet:
        with doing("printing the tables"):
            console = tables.console(sys.stdout)
            title = f"sweep ({transport}), {len(shards)} result(s) merged"
            console.print(tables.summary_table(results, title=title, grid=True))
            print_paths(console, args, history=None)
    return 0
