"""``run``: one scenario file (its rounds, or until loss), optionally as a shard, with sequential
stopping (--ci-width) or a live dashboard; tables, JSON, CSV, plot and history out."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...analysis.provenance import now, provenance
from ...analysis.summary import PointResult
from ...experiment.scenario import load_scenario
from ...protocol.params import ParameterError, Params
from .checks import check_history, check_network, check_outputs, read_data, warn_few_packets
from .common import INPUT_ERRORS, RunPoint, command_line, doing, running_trials, say
from .lifetime import cmd_run_lifetime
from .options import (
    network_options,
    sequential_options,
    shard_of,
    until_loss_cap,
    why_until_loss,
)
from .outputs import point_outputs
from .warmup import warm_up

__all__ = ["cmd_run"]


def cmd_run(args: argparse.Namespace, run_point: RunPoint) -> int:
    """``run SCENARIO``: its trials through ``run_point`` (or until loss, or in batches
    until --ci-width), then the outputs."""
    with doing(f"loading scenario {str(args.scenario)!r}"):
        scenario = load_scenario(args.scenario)
    cap = until_loss_cap(
        args, None if args.rounds is None else [args.rounds], scenario.max_rounds_cap
    )
    sequential = sequential_options(args, cap)
    with doing(f"loading scenario {str(args.scenario)!r}"):
        if cap is not None:
            scenario = scenario.with_rounds(0, cap=cap)
        else:
            scenario = scenario.with_rounds(args.rounds)
        scenario = scenario.with_params(trials=args.trials, seed=args.seed)
        scenario = scenario.with_transport(args.transport)
        check_network(args, scenario.transport)  # the options first: their own words
        scenario = scenario.with_deployment(
            browser_peers=args.browser_peers,
            browser_newcomers=args.browser_newcomers,
            hosts=args.hosts,
            node_hosts=args.node_hosts,
        )
    data_path = args.data if args.data is not None else scenario.data
    with doing(f"reading data file {str(data_path)!r}"):
        data = read_data(data_path, scenario.params) if data_path is not None else None
    if cap is not None and getattr(args, "dashboard", None) is not None:
        raise ParameterError(
            f"--dashboard is not available with a run until loss ({why_until_loss(args)}): "
            "give --rounds R for a run of R rounds"
        )
    shard = shard_of(args, sequential)
    if cap is not None:
        return cmd_run_lifetime(args, scenario, data, cap, shard)
    check_outputs(args)
    check_history(args, args.history, scenario.params, scenario.transport)
    warn_few_packets(args, [scenario.params])
    if sequential and sequential["max_trials"] < scenario.params.trials:
        raise ParameterError(
            f"--max-trials {sequential['max_trials']} is below the first batch "
            f"(--trials / the scenario's trials = {scenario.params.trials})"
        )
    with doing("warming up the coding kernels"):
        warm_up([scenario.params], scenario.transport, data)
    started = now()
    label = f"{scenario.name} ({scenario.transport})"
    if shard is not None:
        label += f" shard {shard}"
    trials = sequential["max_trials"] if sequential else scenario.params.trials
    if shard is not None:
        trials = len(shard.select(range(trials)))
    run = run_point
    if sequential:
        from ...experiment.runner import run_sequential

        def run(params: Params, **options: Any) -> PointResult:
            return run_sequential(params, **sequential, **options)

    step = (
        f"running {trials} trial{'s' * (trials != 1)} of {scenario.name!r} over "
        f"{scenario.transport}"
    )
    with (
        _dashboard(args) as history,
        running_trials(
            args, label, trials, step, history=args.history, option="--history"
        ) as on_trial,
    ):
        result = run(
            scenario.params,
            transport=scenario.transport,
            data=data,
            history=history,
            resume=args.resume,
            on_trial=on_trial,
            name=scenario.name,
            network=network_options(args, scenario),
            faults=scenario.faults or None,
            overwrite=args.overwrite,
            command=command_line(args),
            **({"shard": shard} if shard is not None else {}),
        )
    origin = provenance(command=command_line(args), started=started, ended=now())
    point_outputs(args, result, scenario.params, label, history=args.history, origin=origin)
    return 0


@contextmanager
def _dashboard(args: argparse.Namespace) -> Iterator[Path | None]:
    """``run --dashboard``: serve the live system model while the run goes (its URL on
    stderr); yields the history the run writes, a temporary one without --history. After a
    run that no page watched it waits (bounded) for one; leaving sends every page the rest of
    the history (bounded), then stops the server."""
    address = getattr(args, "dashboard", None)
    if address is None:
        yield args.history
        return
    import tempfile
    from contextlib import ExitStack

    from ...experiment.dashboard import Dashboard

    with ExitStack() as stack:
        history = args.history
        if history is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="rlnc-dashboard-"))
            history = Path(folder) / "run.jsonl"
        host, port = address
        with doing(f"starting the dashboard on {host}:{port}", passes=INPUT_ERRORS):
            dashboard = stack.enter_context(Dashboard(history, host=host, port=port))
        say(args, "note", f"dashboard: {dashboard.url}")
        yield history
        if dashboard.connections == 0:  # the run is over and nobody looked yet
            from ...experiment.dashboard import LINGER_UNITS

            say(args, "note", f"no page connected yet: waiting for one at {dashboard.url}")
            dashboard.wait_for_page(LINGER_UNITS)
