"""The ``rlnc-testbed`` argument parser: every subcommand, option and help text."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from .. import __version__
from ..experiment.scenario import RUN_TRANSPORTS
from ..protocol.params import FIELDS, KEEP_RULES, SCHEMES
from ..wire import ROLES
from .argtypes import integer, positive_float

__all__ = ["CSV_HELP", "EXIT_USAGE", "build_parser"]

#: Exit status for invalid options, parameters or files.
EXIT_USAGE = 2
#: What the CSV files hold (the columns are analysis/export.py's).
CSV_HELP = (
    "CSV columns: first the parameters (those that vary among the points; every parameter "
    "but trials, and transport, for a single point); then --csv: trials, successes, "
    "success_rate (the estimate of surviving all R rounds), ci95_low, ci95_high (95% Wilson), "
    "unjudged; --csv-trials: trial, rounds_survived, last_verdict, success, finish."
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


_positive_int = integer(1)
_non_negative_int = integer(0)
_positive_float = positive_float


class _RefuseTokenArgument(argparse.Action):
    """``--token T`` is refused: a command line is readable by every local user."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        parser.error(
            "--token is not accepted: a command line is readable by every local user "
            "(/proc/PID/cmdline); pass the token in RLNC_TOKEN, --token-file PATH (mode 0600) "
            "or --token-file - (stdin)"
        )


def _slot(text: str) -> str:
    from ..protocol.messages import MAX_ID_LENGTH

    if not 0 < len(text) <= MAX_ID_LENGTH:
        raise argparse.ArgumentTypeError(f"a slot is an id of 1..{MAX_ID_LENGTH} characters")
    return text


def _ice_interfaces(text: str) -> str:
    from ..transport.ice import parse_interfaces  # imports aioice: only when the option is given

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
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="run one scenario file",
        description="Run every trial of one scenario file and print the "
        "per-round table (at most 10 trials) and the summary table. A scenario storing fewer "
        "packets than symbols (N Q < k) gets a warning: it can never decode.",
        epilog=CSV_HELP,
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
    _common_outputs(run, plot_help="write a survival curve PNG to PATH", csv=True)
    run.add_argument(
        "--history",
        metavar="PATH",
        type=Path,
        help="stream a JSONL history of every event to PATH (an existing non-empty PATH is "
        "refused unless --resume or --overwrite)",
    )
    _resume_options(run, "--history", "the history at PATH")

    show = sub.add_parser(
        "show",
        help="print the tables (and plots, JSON) of a recorded run from its JSONL history",
        description="Replay a run from the history that 'run --history' streamed: the same "
        "per-round and summary tables, plus JSON and a survival plot, without running anything. "
        "A history cut short by a crash shows the trials that finished. The JSON's "
        "'recorded' holds the transport and provenance the history's start line recorded.",
        epilog=CSV_HELP,
    )
    show.add_argument("history", metavar="HISTORY.jsonl", type=Path, help="history file")
    _common_outputs(show, plot_help="write a survival curve PNG to PATH", csv=True)

    node = sub.add_parser(
        "node",
        help="run one role as its own process, joined to a running signaling server",
        description="Join the signaling server at --server as --role over WebRTC and serve "
        "until the server closes the trial (or tells this peer to fail). This is how peers "
        "run as separate processes or on other hosts. The join token (the run token, or with "
        "--slot that slot's credential) is read from --token-file, else from the RLNC_TOKEN "
        "environment variable; never from the command line, which every local user can read.",
        epilog="Exit status: 0 when the trial ended, 1 when the server could not be reached, "
        "refused the join or went away, 2 for invalid options or token.",
    )
    node.add_argument("--server", required=True, metavar="URL", help="ws://HOST:PORT/ws")
    node.add_argument(
        "--token",
        action=_RefuseTokenArgument,
        help=argparse.SUPPRESS,
    )
    node.add_argument(
        "--token-file",
        metavar="PATH|-",
        help="read the token from PATH (must not be accessible by group or others: chmod 600) "
        "or, with '-', from the first line of stdin (default: $RLNC_TOKEN)",
    )
    node.add_argument("--role", required=True, choices=ROLES)
    node.add_argument(
        "--slot",
        type=_slot,
        metavar="ID",
        help="the slot (id) the token is the credential of, e.g. 3 or collector; without it "
        "the token is the run token and the server hands out the next id",
    )
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
        "option takes one or more) on top of the defaults or --scenario. Points that are the "
        "same experiment (equal but for a parameter their scheme ignores: --field and "
        "systematic for replication, --keep for rlnc; or repeated values) run once, and a note "
        "on stderr says so. A point storing fewer packets than symbols (N Q < k, e.g. "
        "--redundancy 0.5) gets a warning: it can never decode.",
        epilog=CSV_HELP,
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
        "--q",
        nargs="+",
        type=_positive_int,
        help="Q packets per peer, K = N Q (instead of --redundancy: refused together with it, "
        "since with Q fixed every r is the same experiment; the r column then shows the "
        "effective N Q / k)",
    )
    grid.add_argument("--parents", nargs="+", type=_positive_int, help="P <= N - 1")
    grid.add_argument("--keep", nargs="+", choices=KEEP_RULES)
    grid.add_argument("--beta", nargs="+", type=_positive_int, help="upload per parent <= Q")
    grid.add_argument("--peers", nargs="+", type=_positive_int, help="N")
    grid.add_argument("--symbols", nargs="+", type=_positive_int, help="k")
    grid.add_argument("--symbol-size", nargs="+", type=_positive_int, dest="symbol_size")
    grid.add_argument("--rounds", nargs="+", type=_positive_int, help="max round R")
    grid.add_argument(
        "--trials",
        nargs="+",
        type=_positive_int,
        help="T (points differing only in T share one history: the first T trials are the "
        "same trials)",
    )
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
        csv=True,
    )
    sweep.add_argument(
        "--history-dir",
        metavar="DIR",
        type=Path,
        help="one JSONL history per point in DIR, named by the point's parameters but T "
        "(e.g. rlnc-GF256-keep_shuffle-r2.0-P3-N10-k20-size220-R10-seed0.jsonl), so a sweep "
        "that gains values or trials resumes the ones it has; existing histories of these "
        "points are refused unless --resume or --overwrite",
    )
    _resume_options(sweep, "--history-dir", "the histories DIR holds of these points")
    sweep.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="processes for the sim transport (default 1)",
    )
    sub.metavar = "{" + ",".join(sub.choices) + "}"  # the usage lists every subcommand
    return parser


def _resume_options(parser: argparse.ArgumentParser, option: str, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--resume",
        action="store_true",
        help=f"with {option}: continue {what}, skipping the trials recorded (refused for a "
        "history of other parameters or another transport; the error names what differs)",
    )
    group.add_argument("--overwrite", action="store_true", help=f"with {option}: replace {what}")


def _common_outputs(parser: argparse.ArgumentParser, *, plot_help: str, csv: bool = False) -> None:
    parser.add_argument(
        "--json",
        metavar="PATH|-",
        help="write the results as JSON to PATH, or to stdout with '-' "
        "(then no tables are printed); it records every parameter, the transport and the "
        "provenance (tool version, git commit, Python/numpy/aiortc versions, command line, "
        "start and end time in UTC)",
    )
    parser.add_argument("--plot", metavar="PATH", type=Path, help=plot_help)
    if csv:
        parser.add_argument(
            "--csv",
            metavar="PATH",
            type=Path,
            help="write one CSV row per point to PATH: parameters, survival estimate, 95%% CI, "
            "trials",
        )
        parser.add_argument(
            "--csv-trials",
            metavar="PATH",
            type=Path,
            help="write one CSV row per trial to PATH: parameters, trial, rounds survived, "
            "last verdict",
        )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no tables")
