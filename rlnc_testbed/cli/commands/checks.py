"""Checks before anything runs, so that a run fails at once and not after its trials: outputs
that can be written, histories neither overwritten silently nor resumed for another point,
network and worker options that fit the transport, a data file that fits, too few packets."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...analysis.history import check_resumable
from ...analysis.points import Collapsed, collapse
from ...experiment.runner import history_path
from ...protocol.params import ParameterError, Params
from .common import say

__all__ = [
    "check_history",
    "check_network",
    "check_outputs",
    "check_sweep_histories",
    "check_workers",
    "collapsed_grid",
    "read_data",
    "warn_few_packets",
]


def check_outputs(args: argparse.Namespace) -> None:
    """Fail before running, not after, when an output cannot be written."""
    if getattr(args, "trial_outcomes", False) and args.json is None:
        raise ParameterError("--trial-outcomes adds the trials to the --json output: give --json")
    targets = [Path(args.json)] if args.json not in (None, "-") else []
    for option in ("csv", "csv_trials"):
        path = getattr(args, option, None)
        if path is not None:
            targets.append(path)
    if len({str(t.resolve()) for t in targets}) < len(targets):
        raise ParameterError("--json, --csv and --csv-trials must name different files")
    single = args.command in ("run", "serve")  # one point: --history PATH
    resume_with = "--history PATH" if single else "--history-dir DIR"
    history = getattr(args, "history" if single else "history_dir", None)
    for flag in ("resume", "overwrite"):
        if getattr(args, flag, False) and history is None:
            raise ParameterError(f"--{flag} needs {resume_with}")
    if args.plot is not None:
        if args.plot.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise ParameterError(
                f"--plot path must end in .png, .svg or .pdf; got {str(args.plot)!r}"
            )
        targets.append(args.plot)
    if single and args.history is not None:
        if args.history.is_dir():
            raise ParameterError(f"--history is a directory: {str(args.history)!r}")
        targets.append(args.history)
    history_dir = getattr(args, "history_dir", None)
    if history_dir is not None and history_dir.exists() and not history_dir.is_dir():
        raise ParameterError(f"--history-dir is not a directory: {str(history_dir)!r}")
    for target in targets:
        if not target.parent.is_dir():
            raise ParameterError(f"directory does not exist: {str(target.parent)!r}")


def check_history(
    args: argparse.Namespace, path: Path | None, params: Params, transport: str
) -> None:
    """Before running: no silent overwrite, and --resume only of a history of this point."""
    if path is None:
        return
    if getattr(args, "resume", False):
        check_resumable(path, params, transport=transport)
    elif not args.overwrite and path.is_file() and path.stat().st_size > 0:
        resume = "give --resume to continue it, " if hasattr(args, "resume") else ""
        raise ParameterError(
            f"--history {str(path)!r} already holds a history ({path.stat().st_size} bytes): "
            f"{resume}--overwrite to replace it, or another path"
        )


def check_sweep_histories(args: argparse.Namespace, points: list[Params], transport: str) -> None:
    """Before running: no silent overwrite, and --resume only of histories of these points."""
    if args.history_dir is None or not args.history_dir.is_dir():
        return
    held = []
    for params in points:
        path = history_path(args.history_dir, params, getattr(args, "shard", None))
        if args.resume:
            check_resumable(path, params, transport=transport)
        elif path.is_file() and path.stat().st_size > 0 and path not in held:
            held.append(path)
    if held and not args.overwrite:
        raise ParameterError(
            f"--history-dir {str(args.history_dir)!r} already holds the histories of "
            f"{len(held)} of these points (e.g. {held[0].name!r}): give --resume to continue "
            "them, --overwrite to replace them, or another directory"
        )
    if args.resume and any(args.history_dir.glob("point-[0-9][0-9][0-9][0-9].jsonl")):
        say(
            args,
            "warning",
            f"{str(args.history_dir)!r} holds point-NNNN.jsonl histories of an older sweep: they "
            "are not resumed (histories are now named by their parameters)",
        )


def check_network(args: argparse.Namespace, transport: str) -> None:
    """The network options against the transport, before running: one message per mistake,
    naming the transport (the same for sim and memory)."""
    if args.processes and transport != "webrtc":
        raise ParameterError(
            "--processes runs every storage peer and newcomer as its own 'rlnc-testbed node' "
            f"process joined over WebRTC: it needs the webrtc transport, and this run's "
            f"transport is {transport!r} (give --transport webrtc)"
        )
    hosts = getattr(args, "node_hosts", None)
    if hosts and (transport != "webrtc" or args.processes):
        raise ParameterError(
            f"--node-hosts runs the storage peers and newcomers in {hosts} 'rlnc-testbed "
            "node-host' processes joined over WebRTC: it needs the webrtc transport and "
            + (
                "replaces --processes (give one of them)"
                if args.processes
                else f"this run's transport is {transport!r} (give --transport webrtc)"
            )
        )
    given = [
        option
        for option, value in (
            ("--host", args.host),
            ("--port", args.port),
            ("--ice-interfaces", args.ice_interfaces),
        )
        if value is not None
    ]
    if given and transport == "sim":
        raise ParameterError(
            f"{', '.join(given)}: only for the memory and webrtc transports (they set up the "
            f"signaling server and ICE), and this run's transport is {transport!r} (give "
            "--transport memory or webrtc)"
        )


def check_workers(args: argparse.Namespace, transport: str) -> None:
    """--workers is refused, not ignored, where it cannot apply: over memory and webrtc the
    trials of a point run one after another in this process."""
    if args.workers > 1 and transport != "sim" and getattr(args, "executor", "local") == "local":
        raise ParameterError(
            f"--workers {args.workers}: worker processes run the sim transport only; over "
            f"{transport} every trial is a cluster of nodes run one after another in this "
            "process"
            + (
                ". To run networked trials in parallel, run shards (--shard i/n) in several "
                "processes and merge them with 'rlnc-testbed show'"
                if hasattr(args, "shard")
                else " (give --workers 1)"
            )
        )


def read_data(path: Path, params: Params) -> bytes:
    """The data file's bytes, refused when they do not fit the point's k symbols."""
    data = path.read_bytes()
    capacity = params.symbols * params.symbol_size
    if len(data) > capacity:
        raise ParameterError(
            f"data file {path} has {len(data)} bytes; at most symbols * "
            f"symbol_size = {capacity} fit (set symbol_size >= "
            f"{-(-len(data) // params.symbols)} in the scenario, or more symbols)"
        )
    return data


def collapsed_grid(args: argparse.Namespace, grid: list[Params]) -> Collapsed:
    """A sweep's grid with its duplicate points collapsed (a note says which were dropped),
    and a warning when its points store too few packets (:func:`warn_few_packets`)."""
    collapsed = collapse(grid)
    if collapsed.dropped:
        say(args, "note", collapsed.note())
    warn_few_packets(args, collapsed.points)
    return collapsed


def warn_few_packets(args: argparse.Namespace, points: list[Params]) -> None:
    """A warning when points store fewer packets than symbols (N Q < k): none can decode."""
    few = [p for p in points if p.peers * p.per_peer < p.symbols]
    if not few:
        return
    p = few[0]
    given = f"q={p.q}" if p.q is not None else f"redundancy={p.redundancy:g}"
    which = "the point" if len(points) == 1 else f"{len(few)} of {len(points)} points"
    example = "" if len(points) == 1 else "e.g. "
    say(
        args,
        "warning",
        f"{which} store{'s' * (len(points) == 1)} fewer packets than symbols, so no round can "
        f"decode: {example}{given} gives N * Q = {p.peers} * {p.per_peer} = "
        f"{p.peers * p.per_peer} stored packets (K = {p.total_packets_made} made) for "
        f"k = {p.symbols} symbols",
    )
