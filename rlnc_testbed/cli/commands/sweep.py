"""``sweep``: a grid of parameter points (duplicates collapsed), through ``run_sweep`` here or on
an executor, as a shard, with sequential stopping, or until loss; where each point's nodes run
(browser pages, emulated hosts); the sweep's table, JSON, CSV, plots and histories."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from ...analysis import tables
from ...analysis.provenance import now, provenance
from ...experiment.runner import SWEEP_AXES, expand_grid
from ...experiment.scenario import load_scenario
from ...protocol.params import ParameterError, Params
from .checks import check_outputs, check_sweep_histories, check_workers, collapsed_grid
from .common import RunSweep, command_line, doing, running_trials
from .lifetime import cmd_sweep_lifetime
from .options import executor_of, sequential_options, shard_of, until_loss_cap
from .outputs import json_step, sweep_point, write_csvs, write_json
from .warmup import warm_up

__all__ = ["cmd_sweep"]


def cmd_sweep(args: argparse.Namespace, run_sweep: RunSweep) -> int:
    """``sweep``: every point of the grid through ``run_sweep`` (or until loss), then the
    outputs."""
    base = Params()
    transport = args.transport or "sim"
    scenario = None
    if args.scenario is not None:
        with doing(f"loading scenario {str(args.scenario)!r}"):
            scenario = load_scenario(args.scenario)
        base = scenario.params
        transport = args.transport or scenario.transport
    cap = until_loss_cap(args, args.rounds, scenario.max_rounds_cap if scenario else None)
    check_workers(args, transport)
    axes = {name: getattr(args, name) for name in SWEEP_AXES if getattr(args, name) is not None}
    if cap is not None:
        axes.pop("rounds", None)
        base = base.with_(rounds=cap)
    with doing("building the grid"):
        grid = expand_grid(base, axes)
        placement = _sweep_placement(args, scenario, transport, grid)
    if cap is not None:
        sequential_options(args, cap)
        shard = shard_of(args, {})
        executor_of(args, cap, {})
        return cmd_sweep_lifetime(args, grid, axes, transport, cap, shard, placement)
    sequential = sequential_options(args, cap)
    shard = shard_of(args, sequential)
    executor = executor_of(args, cap, sequential)
    extra: dict[str, Any] = {} if shard is None else {"shard": shard}
    if placement is not None:
        if not isinstance(executor, nullcontext):
            raise ParameterError(
                f"--executor {args.executor} runs the chunks in other processes: browser pages "
                "and emulated hosts run only with the local executor"
            )
        extra["network"] = placement
    short = [p for p in grid if sequential and p.trials > sequential["max_trials"]]
    if short:
        raise ParameterError(
            f"--max-trials {sequential['max_trials']} is below the first batch of "
            f"{len(short)} point(s) (trials = {short[0].trials})"
        )
    check_outputs(args)
    collapsed = collapsed_grid(args, grid)
    points = collapsed.points
    check_sweep_histories(args, points, transport)
    with doing("warming up the coding kernels"):
        warm_up(points, transport, None)
    started = now()
    to_stdout = args.json == "-"
    total = sum(sequential["max_trials"] if sequential else p.trials for p in points)
    if shard is not None:
        total = sum(len(shard.select(range(p.trials))) for p in points)
    label = f"{len(points)} points ({transport})"
    step = f"running {len(points)} point{'s' * (len(points) != 1)} over {transport}"
    with (
        running_trials(
            args, label, total, step, history=args.history_dir, option="--history-dir"
        ) as on_trial,
        executor as running,
    ):
        if running is not None:
            extra["executor"] = running
        results = run_sweep(
            points,
            transport=transport,
            history_dir=args.history_dir,
            resume=args.resume,
            workers=1 if running is not None and running.name == "dask" else args.workers,
            on_trial=on_trial,
            overwrite=args.overwrite,
            command=command_line(args),
            **sequential,
            **extra,
        )
    if args.json is not None:
        with doing(json_step(args.json)):
            payload = {
                "provenance": provenance(command=command_line(args), started=started, ended=now()),
                "transport": transport,
                "axes": axes,
                "sequential": sequential or None,
                "collapsed": collapsed.note() or None,
                "points": [sweep_point(r, records=args.trial_outcomes) for r in results],
            }
            if shard is not None:
                payload["shard"] = shard.to_json()
            write_json(payload, args.json)
    write_csvs(args, results)
    if args.plot is not None:
        with doing(f"writing the plots {str(args.plot)!r} and next to it"):
            from ...analysis.plots import write_sweep_figures

            figures = write_sweep_figures([r.summary for r in results], args.plot)
    if not (to_stdout or args.quiet):
        with doing("printing the tables"):
            console = tables.console(sys.stdout)
            title = f"sweep ({transport})" + (f" shard {shard}" if shard is not None else "")
            console.print(tables.summary_table(results, title=title, grid=True))
            if args.json is not None:
                console.print(f"JSON: {args.json}")
            if args.plot is not None:
                console.print(f"plots: {', '.join(map(str, figures))}")
            for label, path in (("CSV", args.csv), ("per-trial CSV", args.csv_trials)):
                if path is not None:
                    console.print(f"{label}: {path}")
            if args.history_dir is not None:
                console.print(f"histories: {args.history_dir}")
    return 0


def _sweep_placement(
    args: argparse.Namespace, scenario: Any, transport: str, points: list[Params]
) -> Callable[[Params], dict[str, Any]] | None:
    """Where a sweep's nodes run, per point: the browser slots (--browser-peers, else the
    --scenario's), browser newcomers, emulated hosts and node hosts, as run_point's
    ``network`` options; None when every node is an aiortc node in this process on this
    host's loopback. Only for the webrtc transport, and every point must have the slots."""
    from ...browser.peers import browser_slots

    given = [
        option
        for option, value in (
            ("--browser-peers", args.browser_peers),
            ("--browser-newcomers", args.browser_newcomers),
            ("--hosts", args.hosts),
            ("--node-hosts", args.node_hosts),
        )
        if value is not None
    ]
    peers = args.browser_peers
    if peers is None and scenario is not None:
        peers = scenario.browser_peers
    newcomers = args.browser_newcomers
    if newcomers is None:
        newcomers = scenario.browser_newcomers if scenario is not None else False
    hosts = args.hosts or (scenario.hosts if scenario is not None else "loopback")
    node_hosts = args.node_hosts or (scenario.node_hosts if scenario is not None else 0)
    placed = bool(peers) or newcomers or hosts != "loopback" or bool(node_hosts)
    if not placed:
        return None
    if transport != "webrtc":
        which = ", ".join(given) or (
            f"{args.scenario}: its browser_peers, browser_newcomers, hosts or node_hosts"
        )
        raise ParameterError(
            f"{which}: only for the webrtc transport (Chromium pages, emulated and node hosts join "
            f"over WebRTC), and this sweep's transport is {transport!r} (give --transport "
            "webrtc)"
        )
    slots: dict[int, tuple[int, ...]] = {}
    for p in points:
        if p.peers not in slots:
            try:
                slots[p.peers] = browser_slots(peers, p.peers)
            except ParameterError as exc:
                raise ParameterError(f"the sweep's point with N = {p.peers}: {exc}") from None

    def placement(params: Params) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if slots[params.peers]:
            out["browser_peers"] = slots[params.peers]
        if newcomers:
            out["browser_newcomers"] = True
        if hosts != "loopback":
            out["hosts"] = hosts
        if node_hosts:
            out["node_hosts"] = node_hosts
        return out

    return placement
