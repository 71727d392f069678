"""The subcommands: options in, calls to experiment/ and analysis/, tables, JSON and plots out."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..analysis import tables
from ..analysis.history import HistoryError
from ..analysis.summary import PointResult
from ..experiment.runner import SWEEP_AXES, expand_grid
from ..experiment.scenario import load_scenario
from ..protocol.params import ParameterError, Params

__all__ = ["ROUND_TABLE_MAX_TRIALS", "RunPoint", "RunSweep", "run_command"]

#: Runs with at most this many trials also get the per-round table.
ROUND_TABLE_MAX_TRIALS = 10

RunPoint = Callable[..., PointResult]
RunSweep = Callable[..., list[PointResult]]


def run_command(args: argparse.Namespace, *, run_point: RunPoint, run_sweep: RunSweep) -> int:
    """Dispatch parsed ``args`` to its subcommand; return the exit status."""
    if args.command == "run":
        return _cmd_run(args, run_point)
    if args.command == "node":
        return _cmd_node(args)
    if args.command == "show":
        return _cmd_show(args)
    return _cmd_sweep(args, run_sweep)


# -- run -------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace, run_point: RunPoint) -> int:
    scenario = load_scenario(args.scenario)
    scenario = scenario.with_params(trials=args.trials, seed=args.seed, rounds=args.rounds)
    scenario = scenario.with_transport(args.transport)
    data_path = args.data if args.data is not None else scenario.data
    data = _read_data(data_path, scenario.params) if data_path is not None else None
    if args.resume and args.history is None:
        raise ParameterError("--resume needs --history PATH")
    _check_outputs(args)
    to_stdout = args.json == "-"
    with tables.progress(
        args.quiet, f"{scenario.name} ({scenario.transport})", scenario.params.trials
    ) as advance:
        result = run_point(
            scenario.params,
            transport=scenario.transport,
            data=data,
            history=args.history,
            resume=args.resume,
            on_trial=lambda _record: advance(1),
            name=scenario.name,
            network=_network_options(args),
        )
    if args.json is not None:
        _write_json(result.to_dict(), args.json)
    if args.plot is not None:
        from ..analysis.plots import plot_survival

        plot_survival([result.summary], args.plot)
    if not (to_stdout or args.quiet):
        console = tables.console(sys.stdout)
        if len(result.trials) <= ROUND_TABLE_MAX_TRIALS:
            console.print(tables.rounds_table(result.trials, scenario.params))
        if len(result.trials) == 1 and any(r.links for r in result.trials[0].rounds):
            console.print(tables.links_table(result.trials[0]))
        console.print(
            tables.summary_table([result], title=f"{scenario.name} ({scenario.transport})")
        )
        for label, path in (("JSON", args.json), ("plot", args.plot), ("history", args.history)):
            if path is not None:
                console.print(f"{label}: {path}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from ..analysis.history import read_history
    from ..analysis.summary import summarize

    _check_outputs(args)
    contents = read_history(args.history)
    trials = [contents.trials[t] for t in sorted(contents.trials)]
    if not trials:
        raise HistoryError(f"{args.history}: no finished trial recorded yet")
    result = PointResult(
        params=contents.params,
        transport="history",
        trials=trials,
        summary=summarize(contents.params, trials),
        name=args.history.stem,
    )
    if args.json is not None:
        _write_json(result.to_dict(), args.json)
    if args.plot is not None:
        from ..analysis.plots import plot_survival

        plot_survival([result.summary], args.plot)
    if not (args.json == "-" or args.quiet):
        console = tables.console(sys.stdout)
        if len(trials) <= ROUND_TABLE_MAX_TRIALS:
            console.print(tables.rounds_table(trials, contents.params))
        title = f"{args.history.name}: {len(trials)} of {contents.params.trials} trials recorded"
        console.print(tables.summary_table([result], title=title))
    return 0


def _network_options(args: argparse.Namespace) -> dict[str, Any]:
    """The network options the user gave (the rest keep run_trial's defaults)."""
    given = {
        "host": args.host,
        "port": args.port,
        "interfaces": args.ice_interfaces,
        "processes": args.processes or None,
    }
    return {name: value for name, value in given.items() if value is not None}


def _cmd_node(args: argparse.Namespace) -> int:
    import asyncio

    from ..experiment.standalone import run_node
    from ..signaling.client import SignalingError

    data = args.data.read_bytes() if args.data is not None else None
    try:
        node = asyncio.run(
            run_node(
                args.server,
                token=args.token,
                role=args.role,
                interfaces=args.ice_interfaces,
                data=data,
            )
        )
    except (SignalingError, TimeoutError) as exc:
        print(f"rlnc-testbed node: error: {exc}", file=sys.stderr)
        return 1
    logging.getLogger(__name__).info("node %s stopped: %s", args.role, node.stop_reason)
    return 0


def _read_data(path: Path, params: Params) -> bytes:
    data = path.read_bytes()
    capacity = params.symbols * params.symbol_size
    if len(data) > capacity:
        raise ParameterError(
            f"data file {path} has {len(data)} bytes; at most symbols * "
            f"symbol_size = {capacity} fit (set symbol_size >= "
            f"{-(-len(data) // params.symbols)} in the scenario, or more symbols)"
        )
    return data


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before running, not after, when an output cannot be written."""
    targets = [Path(args.json)] if args.json not in (None, "-") else []
    if args.plot is not None:
        if args.plot.suffix.lower() != ".png":
            raise ParameterError(f"--plot path must end in .png; got {str(args.plot)!r}")
        targets.append(args.plot)
    for target in targets:
        if not target.parent.is_dir():
            raise ParameterError(f"directory does not exist: {str(target.parent)!r}")


# -- sweep -----------------------------------------------------------------------------------


def _cmd_sweep(args: argparse.Namespace, run_sweep: RunSweep) -> int:
    base = Params()
    transport = args.transport or "sim"
    if args.scenario is not None:
        scenario = load_scenario(args.scenario)
        base = scenario.params
        transport = args.transport or scenario.transport
    axes = {name: getattr(args, name) for name in SWEEP_AXES if getattr(args, name) is not None}
    points = expand_grid(base, axes)
    if args.resume and args.history_dir is None:
        raise ParameterError("--resume needs --history-dir DIR")
    _check_outputs(args)
    to_stdout = args.json == "-"
    total = sum(p.trials for p in points)
    with tables.progress(args.quiet, f"{len(points)} points ({transport})", total) as advance:
        results = run_sweep(
            points,
            transport=transport,
            history_dir=args.history_dir,
            resume=args.resume,
            workers=args.workers,
            on_trial=lambda _record: advance(1),
        )
    if args.json is not None:
        _write_json({"points": [r.summary.to_dict() for r in results]}, args.json)
    if args.plot is not None:
        from ..analysis.plots import plot_success_vs_parents, plot_survival, plot_traffic_vs_success

        summaries = [r.summary for r in results]
        plot_success_vs_parents(summaries, args.plot)
        plot_survival(summaries, args.plot.with_name(f"{args.plot.stem}-survival.png"))
        plot_traffic_vs_success(summaries, args.plot.with_name(f"{args.plot.stem}-traffic.png"))
    if not (to_stdout or args.quiet):
        console = tables.console(sys.stdout)
        console.print(tables.summary_table(results, title=f"sweep ({transport})", grid=True))
        if args.json is not None:
            console.print(f"JSON: {args.json}")
        if args.plot is not None:
            stem = args.plot.with_name(args.plot.stem)
            console.print(f"plots: {args.plot}, {stem}-survival.png, {stem}-traffic.png")
        if args.history_dir is not None:
            console.print(f"histories: {args.history_dir}")
    return 0


# -- output ----------------------------------------------------------------------------------


def _write_json(payload: dict[str, Any], target: str) -> None:
    text = json.dumps(payload, indent=2)
    if target == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        Path(target).write_text(text + "\n", encoding="utf-8")
