"""``node`` (one role as its own process, joined to a signaling server over WebRTC),
``node-host`` (many peers and newcomers in one process, handed to it on stdin) and ``serve``
(a session of a scenario's trials that external nodes join)."""

from __future__ import annotations

import argparse
import logging
import sys

from ...analysis.history import HistoryWriter
from ...analysis.provenance import now, provenance
from ...analysis.summary import PointResult, summarize
from ...experiment.scenario import load_scenario
from ...protocol.params import ParameterError
from .checks import check_history, check_outputs, read_data
from .common import RUNNING_INPUT_ERRORS, command_line, doing
from .outputs import point_outputs
from .warmup import warm_up

__all__ = ["cmd_node", "cmd_node_host", "cmd_serve"]

logger = logging.getLogger(__name__)


def cmd_node(args: argparse.Namespace) -> int:
    """Serve one role; 1 (and one line on stderr) when the network fails: bad *input*
    (options, token, data file) raises and is the entry point's exit status 2."""
    import asyncio

    from ...experiment.standalone import read_token, run_node
    from ...signaling.client import SignalingError

    session = getattr(args, "pool", False) or getattr(args, "trials", None) is not None
    if getattr(args, "pool", False) and (args.role != "newcomer" or args.slot is not None):
        raise ParameterError("--pool is for a newcomer without --slot (the server assigns it)")
    if args.trials is not None and (args.slot is None or args.pool):
        raise ParameterError("--trials needs --slot (the slot rejoined in every trial)")
    token = read_token(args.token_file)
    data = args.data.read_bytes() if args.data is not None else None
    try:
        if session:
            from ...experiment.standalone import serve_trials

            nodes = asyncio.run(
                serve_trials(
                    args.server,
                    token=token,
                    role=args.role,
                    slot=args.slot,
                    pool=args.pool,
                    trials=None if args.trials in (None, "all") else args.trials,
                    interfaces=args.ice_interfaces,
                    data=data,
                    on_trial=lambda trial, total, node: print(
                        f"rlnc-testbed node: {node.role} {node.id}: trial {trial + 1} of {total} "
                        f"over ({node.stop_reason})",
                        file=sys.stderr,
                        flush=True,
                    ),
                )
            )
            logger.info("node took part in %d trials", len(nodes))
            return 0
        node = asyncio.run(
            run_node(
                args.server,
                token=token,
                role=args.role,
                slot=args.slot,
                interfaces=args.ice_interfaces,
                data=data,
            )
        )
    except (SignalingError, OSError) as exc:  # OSError: TimeoutError, ConnectionError, ...
        detail = str(exc) or "no detail given"
        print(f"rlnc-testbed node: error: {type(exc).__name__}: {detail}", file=sys.stderr)
        return 1
    logger.info("node %s stopped: %s", args.role, node.stop_reason)
    return 0


def cmd_node_host(args: argparse.Namespace) -> int:
    """Run the nodes that stdin names (:mod:`rlnc_testbed.experiment.node_hosts`) until stdin
    closes and they stopped, or a serve session's peer slots (--session-slots); 1 when a
    line was malformed or a node failed."""
    import asyncio

    from ...experiment.node_hosts import host_nodes, host_session, parse_slots, stdin_lines

    if (args.session_slots is None) != (args.token_dir is None):
        raise ParameterError("--session-slots and --token-dir go together (a serve session)")
    if args.session_pool and args.session_slots is None:
        raise ParameterError("--session-pool needs --session-slots and --token-dir")
    if args.session_slots is not None:
        try:
            slots = parse_slots(args.session_slots)
        except ValueError as exc:
            raise ParameterError(f"--session-slots: {exc}") from None
        return asyncio.run(
            host_session(
                args.server,
                slots,
                args.token_dir,
                pool=args.session_pool,
                interfaces=args.ice_interfaces,
            )
        )
    return asyncio.run(host_nodes(args.server, stdin_lines(), interfaces=args.ice_interfaces))


def cmd_serve(args: argparse.Namespace) -> int:
    """``serve``: a session of the scenario's trials that external nodes join (printed lines
    on stdout, progress on stderr, then the run's tables); 1 when a node did not join."""
    import asyncio

    from ...experiment.serve import ServeSession, external_slots

    with doing(f"loading scenario {str(args.scenario)!r}"):
        scenario = load_scenario(args.scenario).with_params(trials=args.trials)
    if scenario.until_loss:
        raise ParameterError(
            f"{args.scenario} runs until loss (rounds = 0): serve runs a scenario of fixed "
            "rounds (run it with 'rlnc-testbed run', or set rounds = R)"
        )
    with doing(f"reading data file {str(scenario.data)!r}"):
        data = read_data(scenario.data, scenario.params) if scenario.data is not None else None
    peers = external_slots(scenario.params, args.external_peers)
    if scenario.faults and (peers or args.external_newcomers):
        raise ParameterError(
            "serve runs no [[faults]] with external nodes (a node outside injects none)"
        )
    if args.json == "-":
        raise ParameterError(
            "serve prints the server's URL and the node lines on stdout: give --json a PATH"
        )
    check_outputs(args)
    check_history(args, args.history, scenario.params, "webrtc")
    with doing("warming up the coding kernels"):
        warm_up([scenario.params], "webrtc", data)
    label = f"{scenario.name} (webrtc, served)"
    started = now()

    async def session() -> PointResult:
        async with ServeSession(
            scenario.params,
            external_peers=peers,
            external_newcomers=args.external_newcomers,
            host=args.host,
            port=args.port,
            interfaces=args.ice_interfaces,
            token_dir=args.token_dir,
            wait=args.wait,
            data=data,
            faults=scenario.faults or None,
            progress=None if args.quiet else sys.stderr,
        ) as serve:
            print(f"signaling server: {serve.url}", flush=True)
            lines = serve.commands()
            if lines:
                print(
                    f"run each line below once, in its own terminal or on another host "
                    f"(tokens in {serve.token_dir}, mode 0600):",
                    flush=True,
                )
            for line in lines:
                print(line, flush=True)
            hosted = serve.host_command()
            if hosted is not None:
                print(f"or every peer slot from one process: {hosted}", flush=True)
            if lines:
                print(
                    f"or take a slot in a browser: open {serve.browser_url} and give it the "
                    "slot (or pool) and the text of its token file",
                    flush=True,
                )
            if args.history is None:
                records = await serve.run()
            else:
                with HistoryWriter(
                    args.history,
                    params=scenario.params,
                    transport="webrtc",
                    command=command_line(args),
                ) as history:
                    records = await serve.run(on_trial=history.trial, on_round=history.round)
                    history.point(summarize(scenario.params, records))
        return PointResult(
            params=scenario.params,
            transport="webrtc",
            trials=records,
            summary=summarize(scenario.params, records),
            name=scenario.name,
        )

    step = f"serving {scenario.params.trials} trials of {scenario.name!r}"
    with doing(step, passes=RUNNING_INPUT_ERRORS):
        result = asyncio.run(session())
    origin = provenance(command=command_line(args), started=started, ended=now())
    point_outputs(args, result, scenario.params, label, history=args.history, origin=origin)
    return 0
