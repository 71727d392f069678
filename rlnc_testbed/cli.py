"""The ``rlnc-testbed`` command line: parse options, call the runner, print tables and JSON.

Subcommands: ``run`` (one scenario file), ``sweep`` (a grid of parameter points), ``show``
(a recorded run, from its history) and ``node`` (one role as its own process). The work is
done by :mod:`rlnc_testbed.runner` and :mod:`rlnc_testbed.standalone`; this module only turns
options into calls and results into tables (:mod:`rlnc_testbed.tables`), JSON and plots.
Invalid input ends with one ``error:`` line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__, tables
from .argtypes import integer, positive_float
from .history import HistoryError
from .plots import PlotError
from .protocol.params import FIELDS, KEEP_RULES, SCHEMES, ParameterError, Params
from .runner import RUN_TRANSPORTS, SWEEP_AXES, PointResult, expand_grid, run_point, run_sweep
from .scenario import ScenarioError, load_scenario
from .summary import SummaryError

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "build_parser", "main"]

#: Exit status for invalid options, parameters or files.
EXIT_USAGE = 2
#: Exit status after Ctrl-C (the history keeps what finished; rerun with --resume).
EXIT_INTERRUPTED = 130
#: Runs with at most this many trials also get the per-round table.
ROUND_TABLE_MAX_TRIALS = 10

#: Errors that mean "bad input": reported as one line and exit status 2.
_INPUT_ERRORS = (ParameterError, ScenarioError, HistoryError, PlotError, SummaryError)

RunPoint = Callable[..., PointResult]
RunSweep = Callable[..., list[PointResult]]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


_positive_int = integer(1)
_non_negative_int = integer(0)
_positive_float = positive_float


def _ice_interfaces(text: str) -> str:
    from .transport.ice import parse_interfaces  # imports aioice: only when the option is given

    try:
        parse_interfaces(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """The full ``rlnc-testbed`` parser (used by :func:`main` and for ``--help``)."""
    parser = _Parser(
        prog="rlnc-testbed",
        description="Run RLNC distributed-storage experiments (scenario files or grids).",
        epilog="Exit status: 0 when the run completes (whatever its success rate), 2 for "
        "invalid options, parameters or files, 130 when interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="error",
        help="log messages of this level and above to stderr (default error; 'warning' shows "
        "refused messages, timeouts and dropped packets as they happen)",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{run,sweep}", parser_class=_Parser
    )

    run = sub.add_parser(
        "run",
        help="run one scenario file",
        description="Run every trial of one scenario file and print the "
        "per-round table (at most 10 trials) and the summary table.",
    )
    run.add_argument("scenario", metavar="SCENARIO.toml", help="scenario file to run")
    run.add_argument(
        "--transport", choices=RUN_TRANSPORTS, help="override the scenario's transport"
    )
    run.add_argument("--trials", type=_positive_int, help="override params.trials")
    run.add_argument("--seed", type=_non_negative_int, help="override params.seed")
    run.add_argument("--rounds", type=_positive_int, help="override params.rounds (max round R)")
    run.add_argument(
        "--data",
        metavar="FILE",
        type=Path,
        help="source bytes to store instead of synthetic ones (at most "
        "symbols * symbol_size bytes); overrides the scenario's data",
    )
    net = run.add_argument_group("network (memory and webrtc transports)")
    net.add_argument(
        "--host",
        help="address the signaling server binds (default 127.0.0.1)",
    )
    net.add_argument(
        "--port",
        type=_non_negative_int,
        help="signaling server port (default 0: a free port per trial)",
    )
    net.add_argument(
        "--ice-interfaces",
        type=_ice_interfaces,
        metavar="loopback|all|ADDR[,ADDR]",
        help="ICE host candidates: loopback only (default), all interfaces, or these "
        "addresses (for peers on several hosts)",
    )
    net.add_argument(
        "--processes",
        action="store_true",
        help="webrtc only: run every storage peer and newcomer as its own OS process "
        "('rlnc-testbed node')",
    )
    _common_outputs(run, plot_help="write a survival curve PNG to PATH")
    run.add_argument(
        "--history", metavar="PATH", type=Path, help="stream a JSONL history of every event to PATH"
    )
    run.add_argument(
        "--resume", action="store_true", help="with --history: skip the trials PATH already holds"
    )

    show = sub.add_parser(
        "show",
        help="print the tables (and plots, JSON) of a recorded run from its JSONL history",
        description="Replay a run from the history that 'run --history' streamed: the same "
        "per-round and summary tables, plus JSON and a survival plot, without running anything. "
        "A history cut short by a crash shows the trials that finished.",
    )
    show.add_argument("history", metavar="HISTORY.jsonl", type=Path, help="history file")
    _common_outputs(show, plot_help="write a survival curve PNG to PATH")

    node = sub.add_parser(
        "node",
        help="run one role as its own process, joined to a running signaling server",
        description="Join the signaling server at --server as --role over WebRTC and serve "
        "until the server closes the trial (or tells this peer to fail). This is how peers "
        "run as separate processes or on other hosts.",
    )
    node.add_argument("--server", required=True, metavar="URL", help="ws://HOST:PORT/ws")
    node.add_argument("--token", required=True, help="the run's join token")
    node.add_argument("--role", required=True, choices=("peer", "newcomer", "collector", "engine"))
    node.add_argument(
        "--ice-interfaces",
        type=_ice_interfaces,
        default="loopback",
        metavar="loopback|all|ADDR[,ADDR]",
        help="ICE host candidates (default loopback)",
    )
    node.add_argument(
        "--data", metavar="FILE", type=Path, help="engine only: the source file to store"
    )

    sweep = sub.add_parser(
        "sweep",
        help="run a grid of parameter points",
        description="Run every combination of the given values (each "
        "option takes one or more) on top of the defaults or --scenario.",
    )
    sweep.add_argument(
        "--scenario",
        metavar="FILE",
        type=Path,
        help="take the base parameters from this scenario file",
    )
    grid = sweep.add_argument_group("grid axes (one or more values each)")
    grid.add_argument("--scheme", nargs="+", choices=SCHEMES)
    grid.add_argument("--field", nargs="+", type=int, choices=FIELDS)
    grid.add_argument("--redundancy", nargs="+", type=_positive_float, help="r, K = ceil(r k)")
    grid.add_argument(
        "--q", nargs="+", type=_positive_int, help="Q packets per peer (instead of --redundancy)"
    )
    grid.add_argument("--parents", nargs="+", type=_positive_int, help="P <= N - 1")
    grid.add_argument("--keep", nargs="+", choices=KEEP_RULES)
    grid.add_argument("--beta", nargs="+", type=_positive_int, help="upload per parent <= Q")
    grid.add_argument("--peers", nargs="+", type=_positive_int, help="N")
    grid.add_argument("--symbols", nargs="+", type=_positive_int, help="k")
    grid.add_argument("--symbol-size", nargs="+", type=_positive_int, dest="symbol_size")
    grid.add_argument("--rounds", nargs="+", type=_positive_int, help="max round R")
    grid.add_argument("--trials", nargs="+", type=_positive_int)
    grid.add_argument("--seed", nargs="+", type=_non_negative_int)
    sweep.add_argument(
        "--transport",
        choices=RUN_TRANSPORTS,
        default=None,
        help="transport (default: the --scenario's, else sim)",
    )
    _common_outputs(
        sweep,
        plot_help="write success vs P to PATH, and survival and traffic "
        "plots next to it (PATH stem + -survival.png / -traffic.png)",
    )
    sweep.add_argument(
        "--history-dir", metavar="DIR", type=Path, help="one JSONL history per point in DIR"
    )
    sweep.add_argument(
        "--resume", action="store_true", help="with --history-dir: skip trials already recorded"
    )
    sweep.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="processes for the sim transport (default 1)",
    )
    return parser


def _common_outputs(parser: argparse.ArgumentParser, *, plot_help: str) -> None:
    parser.add_argument(
        "--json",
        metavar="PATH|-",
        help="write the results as JSON to PATH, or to stdout with '-' "
        "(then no tables are printed)",
    )
    parser.add_argument("--plot", metavar="PATH", type=Path, help=plot_help)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no tables")


def main(
    argv: Sequence[str] | None = None,
    *,
    run_point: RunPoint = run_point,
    run_sweep: RunSweep = run_sweep,
) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "run":
            return _cmd_run(args, run_point)
        if args.command == "node":
            return _cmd_node(args)
        if args.command == "show":
            return _cmd_show(args)
        return _cmd_sweep(args, run_sweep)
    except (*_INPUT_ERRORS, OSError) as exc:
        message = _os_message(exc) if isinstance(exc, OSError) else str(exc)
        print(f"rlnc-testbed {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "rlnc-testbed: interrupted (rerun with --resume to continue a history)", file=sys.stderr
        )
        return EXIT_INTERRUPTED


def _os_message(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


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
        from .plots import plot_survival

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
    from .history import read_history
    from .summary import summarize

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
        from .plots import plot_survival

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

    from .signaling.client import SignalingError
    from .standalone import run_node

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
        from .plots import plot_success_vs_parents, plot_survival, plot_traffic_vs_success

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
