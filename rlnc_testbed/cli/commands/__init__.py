"""The subcommands: options in, calls to experiment/ and analysis/, tables, JSON and plots out.

:func:`run_command` hands the parsed options to one module per subcommand: :mod:`.run` and
:mod:`.sweep` (both until loss in :mod:`.lifetime`), :mod:`.show` (also ``replay`` and
``report``; shard outputs read by :mod:`.inputs` and merged by :mod:`.merge`), :mod:`.design`
and :mod:`.node` (``node``, ``node-host`` and ``serve``). What they share: :mod:`.common`
(the errors, and :func:`doing`, which names each step), :mod:`.options` (what the run options
ask of the runner), :mod:`.checks` (before anything runs), :mod:`.warmup` and :mod:`.outputs`.
"""

from __future__ import annotations

import argparse

from .common import (
    INPUT_ERRORS,
    RUNTIME_ERRORS,
    CommandFailed,
    RunPoint,
    RunSweep,
    describe,
    doing,
)
from .design import cmd_design
from .node import cmd_node, cmd_node_host, cmd_serve
from .outputs import ROUND_TABLE_MAX_TRIALS, ROUNDS_CAPTION
from .run import cmd_run
from .show import cmd_replay, cmd_report, cmd_show
from .sweep import cmd_sweep

__all__ = [
    "INPUT_ERRORS",
    "ROUNDS_CAPTION",
    "ROUND_TABLE_MAX_TRIALS",
    "RUNTIME_ERRORS",
    "CommandFailed",
    "RunPoint",
    "RunSweep",
    "describe",
    "doing",
    "run_command",
]


def run_command(args: argparse.Namespace, *, run_point: RunPoint, run_sweep: RunSweep) -> int:
    """Dispatch parsed ``args`` to its subcommand; return the exit status."""
    if args.command == "run":
        return cmd_run(args, run_point)
    if args.command == "node":
        return cmd_node(args)
    if args.command == "node-host":
        return cmd_node_host(args)
    if args.command == "serve":
        return cmd_serve(args)
    if args.command == "show":
        return cmd_show(args)
    if args.command == "replay":
        return cmd_replay(args)
    if args.command == "report":
        return cmd_report(args)
    if args.command == "design":
        return cmd_design(args)
    return cmd_sweep(args, run_sweep)
