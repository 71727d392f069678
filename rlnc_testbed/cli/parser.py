"""The ``rlnc-testbed`` argument parser: every subcommand, option and help text."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__
from ..experiment.scenario import RUN_TRANSPORTS
from ..protocol.params import FIELDS, KEEP_RULES, SCHEMES
from ..wire import ROLES
from .argtypes import integer, positive_float

__all__ = ["CSV_HELP", "EXIT_USAGE", "ROUNDS_HELP", "build_parser"]

#: Exit status for invalid options, parameters or files.
EXIT_USAGE = 2
#: What the CSV files hold (the columns are analysis/export.py's).
CSV_HELP = (
    "CSV columns: first the parameters (those that vary among the points; every parameter "
    "but trials, and transport, for a single point); then --csv: trials, successes, "
    "success_rate (the estimate of surviving all R rounds), ci95_low, ci95_high (95% Wilson), "
    "unjudged; --csv-trials: trial, rounds_survived, last_verdict, success, finish."
)

#: What the rounds table's columns mean, and what a round's time holds.
ROUNDS_HELP = (
    "Rounds table: newcomer rank is the rank of the coefficient rows the newcomer received "
    "from its parents (what it can recode from, as it reports it; P beta rows at most, k at "
    "most); global rank is the rank of every packet the collector gathered from the alive "
    "peers after the round (k: decodable); ms is the round's duration, from the failure to "
    "the verdict. Round times exclude the one-off warm-up: before the first trial, one "
    "untimed 3-peer trial over the same transport (sim with --data: one reference round) "
    "compiles the coding kernels and makes the first imports and calls. Over webrtc, round 1 "
    "of each trial may still include finishing the collector links the peers open ('warm') "
    "right after setup."
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
        epilog=f"{ROUNDS_HELP} {CSV_HELP}",
    )
    run.add_argument("scenario", metavar="SCENARIO.toml", help="scenario file to run")
    run.add_argument(
        "--transport", choices=RUN_TRANSPORTS, help="override the scenario's transport"
    )
    run.add_argument("--trials", type=_positive_int, help="override params.trials")
    run.add_argument("--seed", type=_non_negative_int, help="override params.seed")
    run.add_argument(
        "--rounds",
        type=_non_negative_int,
        help="override params.rounds (max round R); 0 runs until loss, as --until-loss; R > 0 "
        "runs R rounds of a scenario whose rounds = 0",
    )
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
        help="webrtc only (refused for sim and memory): run every storage peer and newcomer as "
        "its own OS process ('rlnc-testbed node') joined over WebRTC",
    )
    _browser_options(net)
    _lifetime_options(run)
    _sequential_options(run)
    _shard_option(run, "the scenario's")
    _common_outputs(
        run,
        plot_help="write a survival curve to PATH, PNG, SVG or PDF by its extension (until "
        "loss: Kaplan-Meier, log rounds)",
        csv=True,
    )
    run.add_argument(
        "--history",
        metavar="PATH",
        type=Path,
        help="stream a JSONL history of every event to PATH (an existing non-empty PATH is "
        "refused unless --resume or --overwrite)",
    )
    _resume_options(run, "--history", "the history at PATH")
    run.add_argument(
        "--dashboard",
        nargs="?",
        const="127.0.0.1:0",
        metavar="HOST:PORT",
        type=_address,
        help="serve the animated system model while the run goes, on HOST:PORT (default "
        "127.0.0.1 and a free port; the URL is printed on stderr): the page shows every "
        "history event as it is written (without --history, a temporary history is kept; a run "
        "that ends before any page connected waits up to 10 timeout units for one)",
    )

    show = sub.add_parser(
        "show",
        help="print the tables (and plots, JSON) of a recorded run from its JSONL history",
        description="Replay a run from the history that 'run --history' streamed: the same "
        "per-round and summary tables, plus JSON and a survival plot, without running anything. "
        "A history cut short by a crash shows the trials that finished. The JSON's "
        "'recorded' holds the transport and provenance the history's start line recorded. "
        "Given a sweep's --json output or its --history-dir, it rebuilds the sweep's table, "
        "JSON, CSV and plots (--csv-trials needs the trials: a --history-dir, or a JSON written "
        "with 'sweep --trial-outcomes'). Given several outputs of 'run'/'sweep --shard i/n' "
        "(their --json files, or histories: those of several points are grouped by point and "
        "shown as a sweep), it merges them into the full result, refusing shards that overlap, "
        "are of different splits or of other parameters; a missing shard is a warning.",
        epilog=f"{ROUNDS_HELP} {CSV_HELP}",
    )
    show.add_argument(
        "history",
        metavar="HISTORY.jsonl|RESULT.json|HISTORY_DIR",
        type=Path,
        help="a run's history, a run's or sweep's --json output, or a sweep's --history-dir "
        "(every point's history: the sweep's table, JSON, CSV and plots)",
    )
    show.add_argument(
        "more",
        nargs="*",
        metavar="MORE",
        type=Path,
        help="more shard outputs of the same point(s) (histories or --json files of 'run' / "
        "'sweep' --shard i/n): merged into the full result; overlapping shards, shards of "
        "different splits or of other parameters are refused",
    )
    _common_outputs(
        show,
        plot_help="write a survival curve to PATH (PNG, SVG or PDF by its extension); a sweep: "
        "its figures, as sweep --plot",
        csv=True,
    )

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
    _node_ice_option(node)
    node.add_argument(
        "--data", metavar="FILE", type=Path, help="engine only: the source file to store"
    )
    node.add_argument(
        "--trials",
        type=_trials,
        metavar="all|N",
        help="stay in a serve session ('rlnc-testbed serve'): rejoin --slot for every trial "
        "(or N of them); the token is then the slot's session credential, as serve writes it",
    )
    node.add_argument(
        "--pool",
        action="store_true",
        help="newcomer only: wait in a serve session's newcomer pool and take the newcomer "
        "slot the server announces, each time one is free, until the session ends (the "
        "token is the pool's)",
    )
    host = sub.add_parser(
        "node-host",
        help="run many peers and newcomers in this one process (what a cluster's node hosts are)",
        description="Run a peer or newcomer for every line of stdin, each its own signaling "
        'client and WebRTC stack, joined to --server: one JSON object per line, {"role": '
        '"peer"|"newcomer", "slot": "3", "credential": "..."} (credentials travel on stdin, '
        "never on a command line). A cluster with node hosts (Cluster(node_hosts=W), "
        "benchmarks/scale.py --node-hosts W) starts W of these and spreads its slots over "
        "them. A malformed line is reported by its number and skipped; once stdin closes "
        "the host waits (bounded) for its nodes to stop. With --session-slots it takes part "
        "in a serve session instead: those peer slots in every trial, their tokens from "
        "--token-dir, as that many 'rlnc-testbed node --slot S --trials all' would.",
        epilog="Exit status: 0 when stdin ended and every node stopped as told (with "
        "--session-slots: when every slot's part of the session is over), 1 when a line was "
        "malformed or a node failed (each on stderr, as it happens), 2 for invalid options or "
        "a token file that is missing or readable by others.",
    )
    host.add_argument("--server", required=True, metavar="URL", help="ws://HOST:PORT/ws")
    _node_ice_option(host)
    host.add_argument(
        "--session-slots",
        metavar="SLOTS",
        help="take these peer slots of a serve session in every trial (1-500, 2,5,9), not "
        "the nodes stdin names; needs --token-dir",
    )
    host.add_argument(
        "--session-pool",
        type=_non_negative_int,
        default=0,
        metavar="K",
        help="with --session-slots: also wait with K newcomers in the session's pool (serve "
        "prints one per round)",
    )
    host.add_argument(
        "--token-dir",
        metavar="DIR",
        help="with --session-slots: the directory serve wrote the peer-<slot>.token files to",
    )
    _serve_parser(sub)

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
    grid.add_argument(
        "--keep",
        nargs="+",
        choices=KEEP_RULES,
        help="what a copying newcomer keeps: distinct (default; never a duplicate while a "
        "distinct packet is unused), shuffle (the first Q in random order), block (one "
        "parent's upload); rlnc ignores it",
    )
    grid.add_argument("--beta", nargs="+", type=_positive_int, help="upload per parent <= Q")
    grid.add_argument("--peers", nargs="+", type=_positive_int, help="N")
    grid.add_argument("--symbols", nargs="+", type=_positive_int, help="k")
    grid.add_argument("--symbol-size", nargs="+", type=_positive_int, dest="symbol_size")
    grid.add_argument(
        "--rounds",
        nargs="+",
        type=_non_negative_int,
        help="max round R (0 alone: until loss, as --until-loss; values > 0 override a "
        "--scenario's rounds = 0)",
    )
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
    _browser_options(
        sweep.add_argument_group(
            "where the nodes run (webrtc transport)",
            "As for run, for every point (default: the --scenario's browser_peers, "
            "browser_newcomers, hosts and node_hosts); refused for sim and memory, and with "
            "--executor dask.",
        )
    )
    _lifetime_options(sweep)
    _sequential_options(sweep)
    _shard_option(sweep, "every point's")
    _common_outputs(
        sweep,
        plot_help="write success vs P to PATH (PNG, SVG or PDF by its extension), and next "
        "to it PATH stem + -survival (per round), -traffic (success vs repair traffic) and, "
        "when P or beta varies, -tradeoff (storage vs repair bandwidth beside the cut-set "
        "bound); until loss: mean lifetime vs redundancy (or P, beta) on a log axis, and "
        "PATH stem + -survival (Kaplan-Meier curves, log rounds)",
        csv=True,
    )
    sweep.add_argument(
        "--trial-outcomes",
        action="store_true",
        help="with --json: also write every trial's record under each point's 'records' (its "
        "rounds and verdicts), so that 'show' can rebuild per-trial outputs (--csv-trials)",
    )
    sweep.add_argument(
        "--history-dir",
        metavar="DIR",
        type=Path,
        help="one JSONL history per point in DIR, named by the point's parameters but T "
        "(e.g. rlnc-GF256-keep_distinct-r2.0-P3-N10-k20-size220-R10-seed0.jsonl), so a sweep "
        "that gains values or trials resumes the ones it has; existing histories of these "
        "points are refused unless --resume or --overwrite",
    )
    _resume_options(sweep, "--history-dir", "the histories DIR holds of these points")
    sweep.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="processes for the sim transport (default 1; refused, not ignored, for memory and "
        "webrtc with the local executor: their trials run one after another in this process, "
        "so run shards, --shard i/n, in several processes instead); with --executor dask and "
        "no --scheduler: the LocalCluster's worker processes",
    )
    _executor_options(sweep)
    _replay_and_report(sub)
    _design_parser(sub)
    sub.metavar = "{" + ",".join(sub.choices) + "}"  # the usage lists every subcommand
    return parser


def _trials(text: str) -> int | str:
    """``all`` (every trial) or a count >= 1."""
    return "all" if text == "all" else _positive_int(text)


def _external_peers(text: str) -> int | str:
    """``all`` or a count >= 0."""
    return "all" if text == "all" else _non_negative_int(text)


def _node_ice_option(
    parser: argparse.ArgumentParser, text: str = "ICE host candidates (default loopback)"
) -> None:
    """``--ice-interfaces`` of the commands that run nodes (default loopback)."""
    parser.add_argument(
        "--ice-interfaces",
        type=_ice_interfaces,
        default="loopback",
        metavar="loopback|all|ADDR[,ADDR]",
        help=text,
    )


def _serve_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve a scenario's trials to nodes that join from other terminals or hosts",
        description="Start one signaling server with the engine and the collector for the "
        "scenario's trials (over webrtc, whatever the scenario's transport), print its URL "
        "and one 'rlnc-testbed node ...' line per external slot (its secret in a 0600 token "
        "file, never on the command line), wait until the external nodes have joined, run "
        "the trials (every external node rejoins its slot for each) and print the usual "
        "tables. Slots that are not external run in this process.",
        epilog="Exit status: 0 when every trial ran, 1 when an external node did not join in "
        "time (the error names the slot) or the run failed, 2 for invalid options or files.",
    )
    serve.add_argument("scenario", metavar="SCENARIO.toml", help="scenario file to serve")
    serve.add_argument("--trials", type=_positive_int, help="override params.trials")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the signaling server binds (default 127.0.0.1; 0.0.0.0 for other hosts)",
    )
    serve.add_argument(
        "--port", type=_non_negative_int, default=0, help="signaling server port (default 0: free)"
    )
    serve.add_argument(
        "--external-peers",
        type=_external_peers,
        default="all",
        metavar="N|all",
        help="peer slots 1..N join from outside (default all); the others run in this process",
    )
    serve.add_argument(
        "--external-newcomers",
        action="store_true",
        help="newcomers come from a waiting pool of 'rlnc-testbed node --role newcomer --pool' "
        "processes (one per round) instead of this process",
    )
    serve.add_argument(
        "--token-dir",
        type=Path,
        metavar="DIR",
        help="write the token files here (made 0700 if new; default a fresh 0700 temporary "
        "directory); they are removed when serve ends",
    )
    serve.add_argument(
        "--wait",
        type=_positive_float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait before each trial for the external peers to join and the pool "
        "to hold one newcomer per round (default 300)",
    )
    _node_ice_option(
        serve,
        "ICE host candidates of the nodes in this process (default loopback; other hosts need "
        "all, and the printed node lines then say --ice-interfaces all)",
    )
    _common_outputs(
        serve,
        plot_help="write the survival curve of the served trials to PATH, PNG, SVG or PDF by "
        "its extension",
        csv=True,
    )
    serve.add_argument(
        "--history",
        metavar="PATH",
        type=Path,
        help="stream a JSONL history of every event of the served trials to PATH (show, "
        "replay and report read it; an existing non-empty PATH is refused unless --overwrite)",
    )
    serve.add_argument("--overwrite", action="store_true", help="with --history: replace it")


def _design_parser(sub: Any) -> None:
    from ..analysis.design import DESIGN_AXES

    design = sub.add_parser(
        "design",
        help="find the smallest parents, redundancy, q or beta that reaches a target success",
        description="Search the ordered values of --vary (bisection; success is assumed not "
        "to drop as the value grows) for the smallest whose success over --rounds rounds is "
        ">= --target with --confidence: its one-sided lower Wilson bound is >= the target. "
        "Each probed value gets trials in batches (trial indices 0, 1, 2, ...; --batch, then "
        "doubling, at most --max-trials) until it passes (lower bound >= target), fails "
        "(upper bound < target) or is undecided at the maximum (not a pass), so trials go "
        "where the decision is uncertain. Prints the answer and, per probed value, its "
        "trials, successes, bounds and decision.",
    )
    design.add_argument(
        "--target", type=_width, required=True, metavar="T", help="success rate to reach"
    )
    design.add_argument(
        "--vary", choices=DESIGN_AXES, required=True, help="the parameter to search"
    )
    design.add_argument(
        "--values",
        nargs="+",
        type=_positive_float,
        metavar="V",
        help="the values to search (default: parents 1..N-1, beta 1..Q, q 1..k; needed for "
        "redundancy)",
    )
    design.add_argument(
        "--confidence",
        type=_width,
        default=0.95,
        metavar="C",
        help="confidence of the one-sided bounds (default 0.95)",
    )
    design.add_argument(
        "--scenario", metavar="FILE", type=Path, help="take the base parameters from this file"
    )
    base = design.add_argument_group("base parameters (one value each)")
    base.add_argument("--rounds", type=_positive_int, help="R, the rounds to survive")
    base.add_argument("--scheme", choices=SCHEMES)
    base.add_argument("--field", type=int, choices=FIELDS)
    base.add_argument("--redundancy", type=_positive_float)
    base.add_argument("--q", type=_positive_int)
    base.add_argument("--parents", type=_positive_int)
    base.add_argument("--keep", choices=KEEP_RULES)
    base.add_argument("--beta", type=_positive_int)
    base.add_argument("--peers", type=_positive_int)
    base.add_argument("--symbols", type=_positive_int)
    base.add_argument("--symbol-size", type=_positive_int, dest="symbol_size")
    base.add_argument("--seed", type=_non_negative_int)
    design.add_argument(
        "--transport",
        choices=RUN_TRANSPORTS,
        help="transport (default: the --scenario's, else sim)",
    )
    design.add_argument(
        "--batch", type=_positive_int, default=100, metavar="B",
        help="first batch of trials per probed value (default 100)",
    )  # fmt: skip
    design.add_argument(
        "--max-trials", type=_positive_int, default=10_000, metavar="M",
        help="at most M trials per probed value (default 10,000)",
    )  # fmt: skip
    design.add_argument(
        "--workers", type=_positive_int, default=1,
        help="processes for the sim transport (default 1; refused, not ignored, for memory and "
        "webrtc, whose trials run one after another in this process)",
    )  # fmt: skip
    design.add_argument(
        "--json",
        metavar="PATH|-",
        help="write the answer, every probe and the provenance as JSON to PATH, or to stdout "
        "with '-' (then no table is printed)",
    )
    design.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no table")


def _sequential_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "sequential stopping",
        "Keep adding trials to each point (deterministic trial indices 0, 1, 2, ...; first "
        "batch --trials, later batches sized from the interval's width) until its 95% Wilson "
        "interval is narrower than --ci-width or it ran --max-trials; each point reports the "
        "trials it took and whether it stopped on precision or on the cap.",
    )
    group.add_argument(
        "--ci-width",
        type=_width,
        metavar="W",
        help="stop a point when its 95%% Wilson interval is narrower than W (0 < W < 1)",
    )
    group.add_argument(
        "--max-trials",
        type=_positive_int,
        metavar="M",
        help="with --ci-width: at most M trials per point (default 10,000)",
    )


def _shard(text: str) -> Any:
    from ..analysis.summary import Shard

    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shard_option(parser: argparse.ArgumentParser, whose: str) -> None:
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="i/n",
        help=f"run only shard i of n (0-based) of {whose} trials: the trials t with t %% n == "
        "i. Every draw is keyed by (seed, trial), so any machine with the same version gives "
        "the same records for them; the JSON, history and CSV say which shard they are, and "
        "'rlnc-testbed show A.json B.json ...' merges the shards into the full result (until "
        "loss too: the lifetimes and their summary of the unsharded run)",
    )


def _executor_options(parser: argparse.ArgumentParser) -> None:
    from ..experiment.executors import EXECUTORS

    group = parser.add_argument_group(
        "executor",
        "Where the sweep's chunks (a point and a range of its trials) run: here (local, the "
        "default) or on Dask distributed (pip install 'rlnc-testbed[dask]'). The records are "
        "the same either way; progress moves as chunks finish, and a chunk whose worker "
        "failed is run again.",
    )
    group.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local (default) or dask",
    )
    group.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="with --executor dask: the address of a running Dask scheduler (its workers need "
        "this rlnc-testbed version); default: a LocalCluster on 127.0.0.1 with --workers "
        "worker processes, started for the sweep",
    )


def _width(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be < 1; got {text!r}")
    return value


def _address(text: str) -> tuple[str, int]:
    from ..experiment.dashboard import parse_address

    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    port = _non_negative_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535; got {port}")
    return port


def _replay_and_report(sub: argparse._SubParsersAction) -> None:
    replay = sub.add_parser(
        "replay",
        help="serve the animated system model of a recorded run (its JSONL history)",
        description="Serve the page 'run --dashboard' shows, for a finished or interrupted "
        "run, with play/pause, speed and a round slider, until Ctrl-C. A malformed history "
        "line is reported on the page and on stderr, and the rest is replayed.",
    )
    replay.add_argument("history", metavar="RUN.jsonl", type=Path, help="history file")
    replay.add_argument(
        "--port",
        type=_port,
        default=0,
        help="port on 127.0.0.1 (default 0: a free port; the URL is printed on stderr)",
    )
    report = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run (JSONL history) or a sweep (JSON)",
        description="One HTML file with everything inlined (opens from disk, no server): for "
        "a run's history the parameters and provenance, the summary table, the survival curve "
        "with its 95%% Wilson band, a per-round timeline of every trial coloured by verdict "
        "and a Lamport diagram of one trial (peers as lanes, repair and collect transfers as "
        "arrows with byte counts); for a sweep's --json output its summary table and figures.",
    )
    report.add_argument(
        "input", metavar="RUN.jsonl|SWEEP.json", type=Path, help="a history or a sweep's JSON"
    )
    report.add_argument("--html", required=True, metavar="OUT.html", type=Path, help="output")
    report.add_argument(
        "--trial",
        type=_non_negative_int,
        help="the trial of the Lamport diagram (default: the first trial that lost its data, "
        "else trial 0)",
    )


def _browser_options(group: Any) -> None:
    """Where the nodes run: Chromium pages for some slots, emulated hosts (run and sweep)."""
    group.add_argument(
        "--browser-peers",
        type=_browser_peers,
        metavar="N|SLOT[,SLOT]",
        help="webrtc only: these peer slots (or the first N) are real Chromium pages (Debian's "
        "chromium, driven by Playwright); overrides the scenario's browser_peers",
    )
    group.add_argument(
        "--browser-newcomers",
        action="store_true",
        default=None,
        help="webrtc only: every newcomer is a Chromium page",
    )
    group.add_argument(
        "--hosts",
        choices=("loopback", "netns"),
        help="where the nodes run: this host's loopback (default), or netns - every peer and "
        "newcomer its own process in its own network namespace (root)",
    )
    group.add_argument(
        "--node-hosts",
        type=_positive_int,
        metavar="W",
        help="webrtc only: run the storage peers and newcomers in W 'rlnc-testbed node-host' "
        "processes, many nodes each, slot s in host (s - 1) mod W (fits 1,000 peers, which "
        "one process per node does not; signaling faults only); overrides the scenario's "
        "node_hosts",
    )
    group.add_argument(
        "--isolate",
        action="store_true",
        help="run the command in a fresh network namespace with nothing but loopback (root; "
        "unshare --net): every ICE pair, browser-to-browser ones included, is 127.0.0.1 at "
        "both ends; not with --dashboard or --hosts netns",
    )


def _browser_peers(text: str) -> int | tuple[int, ...]:
    """``3`` (a count: slots 1..3) or ``2,5`` (those slots)."""
    parts = [part.strip() for part in text.split(",")]
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count or comma-separated peer slots, got {text!r}"
        ) from None
    if len(numbers) == 1 and "," not in text:
        return numbers[0]
    return tuple(numbers)


def _lifetime_options(parser: argparse.ArgumentParser) -> None:
    from ..analysis.lifetime import DEFAULT_MAX_ROUNDS_CAP

    group = parser.add_argument_group(
        "lifetime until loss",
        "Run each trial until its data is lost, or for the safety cap: a trial that reaches "
        "the cap is censored (its lifetime is only known to be at least the cap). Reported per "
        "trial: rounds survived; per point: lost and censored trials, the Kaplan-Meier mean "
        "(restricted to the cap, so a lower bound, when trials were censored) and median "
        "rounds survived with 95% intervals, and survival curves on a log-round axis. On the "
        "sim transport no history is kept. A scenario file with rounds = 0 (and optionally "
        "max_rounds_cap = C) runs until loss without these options.",
    )
    group.add_argument(
        "--until-loss",
        action="store_true",
        help="run every trial until loss (or --max-rounds-cap rounds); same as --rounds 0",
    )
    group.add_argument(
        "--max-rounds-cap",
        type=integer(1),
        metavar="C",
        help="the safety cap of a run until loss, in rounds (default: the scenario's "
        f"max_rounds_cap, else {DEFAULT_MAX_ROUNDS_CAP:,}; at most 1,000,000)",
    )


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
