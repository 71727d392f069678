"""The ``rlnc-testbed`` entry point: parse ``argv``, run the subcommand, map errors to exit codes.

Subcommands: ``run`` (one scenario file), ``sweep`` (a grid of parameter points), ``show``
(a recorded run, from its history) and ``node`` (one role as its own process). The parser is
:mod:`~rlnc_testbed.cli.parser`, the subcommands :mod:`~rlnc_testbed.cli.commands` (which call
:mod:`rlnc_testbed.experiment` and :mod:`rlnc_testbed.analysis`). Invalid input ends with one
``error:`` line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from ..analysis.history import HistoryError
from ..analysis.plots import PlotError
from ..analysis.summary import SummaryError
from ..experiment.runner import run_point, run_sweep
from ..experiment.scenario import ScenarioError
from ..protocol.params import ParameterError
from .commands import RunPoint, RunSweep, run_command
from .parser import EXIT_USAGE, build_parser

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "build_parser", "main"]

#: Exit status after Ctrl-C (the history keeps what finished; rerun with --resume).
EXIT_INTERRUPTED = 130

#: Errors that mean "bad input": reported as one line and exit status 2.
_INPUT_ERRORS = (ParameterError, ScenarioError, HistoryError, PlotError, SummaryError)


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
        return run_command(args, run_point=run_point, run_sweep=run_sweep)
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
