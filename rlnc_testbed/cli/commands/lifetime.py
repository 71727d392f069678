"""Runs until loss: ``run`` and ``sweep`` with --until-loss (or --rounds 0, or a scenario with
``rounds = 0``), every trial until the data is lost or the safety cap; and the JSON, CSV, plots
and lifetime table of such points (also for ``show`` of their outputs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ...analysis import tables
from ...analysis.provenance import now, provenance
from ...experiment.runner import SweepNetwork, run_lifetime, run_lifetime_sweep
from ...protocol.params import ParameterError, Params
from .checks import (
    check_history,
    check_outputs,
    check_sweep_histories,
    collapsed_grid,
    warn_few_packets,
)
from .common import command_line, doing, running_trials
from .options import network_options, shard_trial_count
from .outputs import json_step, print_paths, write_csvs, write_json
from .warmup import warm_up

__all__ = ["cmd_run_lifetime", "cmd_sweep_lifetime", "lifetime_outputs"]


def cmd_run_lifetime(
    args: argparse.Namespace, scenario: Any, data: bytes | None, cap: int, shard: Any
) -> int:
    """``run --until-loss`` (or a scenario run until loss): rounds survived per trial and the
    Kaplan-Meier summary; with ``--shard`` only the shard's trials (``show`` merges them)."""
    check_outputs(args)
    if args.history is not None and scenario.transport == "sim" and data is None:
        raise ParameterError(
            "--history with --until-loss needs the memory or webrtc transport: the sim "
            "transport records no rounds of a run until loss"
        )
    check_history(args, args.history, scenario.params, scenario.transport)
    warn_few_packets(args, [scenario.params])
    trials = shard_trial_count(scenario.params, shard)
    with doing("warming up the coding kernels"):
        warm_up([scenario.params], scenario.transport, data)
    started = now()
    label = f"{scenario.name} ({scenario.transport}, until loss, cap {cap})"
    if shard is not None:
        label += f" shard {shard}"
    step = (
        f"running {trials} trial{'s' * (trials != 1)} of {scenario.name!r} until loss over "
        f"{scenario.transport}"
    )
    with running_trials(
        args, label, trials, step, history=args.history, option="--history"
    ) as on_trial:
        result = run_lifetime(
            scenario.params,
            cap=cap,
            shard=shard,
            transport=scenario.transport,
            data=data,
            on_trial=on_trial,
            name=scenario.name,
            network=network_options(args, scenario) or None,
            faults=scenario.faults or None,
            history=args.history,
            resume=args.resume,
            overwrite=args.overwrite,
            command=command_line(args),
        )
    origin = provenance(command=command_line(args), started=started, ended=now())
    lifetime_outputs(args, [result], origin=origin, title=label, history=args.history)
    return 0


def cmd_sweep_lifetime(
    args: argparse.Namespace,
    grid: list[Params],
    axes: dict[str, Any],
    transport: str,
    cap: int,
    shard: Any,
    placement: SweepNetwork | None,
) -> int:
    """``sweep --until-loss`` (or on a scenario run until loss): every point run until loss
    (or a shard of its trials); lifetime table, JSON, CSV, plots."""
    check_outputs(args)
    collapsed = collapsed_grid(args, grid)
    points = collapsed.points
    if args.history_dir is not None and transport == "sim":
        raise ParameterError(
            "--history-dir with --until-loss needs the memory or webrtc transport: the sim "
            "transport records no rounds of a run until loss"
        )
    check_sweep_histories(args, points, transport)
    with doing("warming up the coding kernels"):
        warm_up(points, transport, None)
    started = now()
    total = sum(shard_trial_count(p, shard) for p in points)
    label = f"{len(points)} points ({transport}, until loss)"
    step = f"running {len(points)} point{'s' * (len(points) != 1)} until loss over {transport}"
    with running_trials(
        args, label, total, step, history=args.history_dir, option="--history-dir"
    ) as on_trial:
        results = run_lifetime_sweep(
            points,
            cap=cap,
            transport=transport,
            on_trial=on_trial,
            workers=args.workers,
            history_dir=args.history_dir,
            resume=args.resume,
            overwrite=args.overwrite,
            command=command_line(args),
            shard=shard,
            network=placement,
        )
    origin = provenance(command=command_line(args), started=started, ended=now())
    sweep: dict[str, Any] = {
        "transport": transport,
        "until_loss": True,
        "max_rounds_cap": cap,
        "axes": axes,
        "collapsed": collapsed.note() or None,
    }
    if shard is not None:
        sweep["shard"] = shard.to_json()
    title = f"sweep until loss ({transport}, cap {cap} rounds)"
    if shard is not None:
        title += f" shard {shard}"
    lifetime_outputs(args, results, origin=origin, title=title, sweep=sweep)
    return 0


def lifetime_outputs(
    args: argparse.Namespace,
    results: list[Any],
    *,
    origin: dict[str, Any],
    title: str,
    sweep: dict[str, Any] | None = None,
    recorded: dict[str, Any] | None = None,
    history: Path | None = None,
) -> None:
    """JSON, CSV, plots and table of points run until loss (``run``, ``sweep``, ``show``):
    one point's JSON (``run``), or with ``sweep`` (its top-level fields) a sweep's."""
    if args.json is not None:
        with doing(json_step(args.json)):
            if sweep is None:
                (result,) = results
                payload = {"provenance": origin, **result.to_dict()}
            else:
                records = getattr(args, "trial_outcomes", False) or args.command == "show"
                points = [_lifetime_sweep_point(r, records=records) for r in results]
                payload = {"provenance": origin, **sweep, "points": points}
            if recorded is not None:
                payload["recorded"] = recorded
            write_json(payload, args.json)
    write_csvs(args, results)
    figures: list[Path] = []
    if args.plot is not None:
        with doing(f"writing the plots {str(args.plot)!r}"):
            from ...analysis.plots import plot_lifetime_survival, write_lifetime_figures

            if sweep is None:
                plot_lifetime_survival([results[0].summary], args.plot)
                figures = [args.plot]
            else:
                figures = list(write_lifetime_figures([r.summary for r in results], args.plot))
    if args.json == "-" or args.quiet:
        return
    with doing("printing the tables"):
        console = tables.console(sys.stdout)
        console.print(tables.lifetime_table(results, title=title, grid=sweep is not None))
        if sweep is None:
            print_paths(console, args, history=history)
            return
        if args.json is not None:
            console.print(f"JSON: {args.json}")
        if figures:
            console.print(f"plots: {', '.join(map(str, figures))}")
        for label, path in (
            ("CSV", getattr(args, "csv", None)),
            ("per-trial CSV", getattr(args, "csv_trials", None)),
        ):
            if path is not None:
                console.print(f"{label}: {path}")
        if getattr(args, "history_dir", None) is not None:
            console.print(f"histories: {args.history_dir}")


def _lifetime_sweep_point(result: Any, *, records: bool = False) -> dict[str, Any]:
    """One point of a sweep run until loss: its summary's fields, every parameter, the
    transport and the rounds survived per trial (and, for a shard or with ``records`` -
    ``sweep --trial-outcomes`` - every trial's lifetime, so shards merge with ``show``)."""
    out = {
        **result.summary.to_dict(),
        "params": result.params.to_dict(),
        "transport": result.transport,
        "lifetimes": [life.rounds for life in result.lifetimes],
    }
    if result.shard is not None:
        out["shard"] = result.shard.to_json()
    if result.shard is not None or records:
        out["records"] = [life.to_dict() for life in result.lifetimes]
    return out
