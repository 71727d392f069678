"""The ``rlnc-testbed`` entry point: parse ``argv``, run the subcommand, map errors to exit codes.

Subcommands: ``run`` (one scenario file), ``sweep`` (a grid of parameter points), ``show``
(a recorded run, from its history) and ``node`` (one role as its own process). The parser is
:mod:`~rlnc_testbed.cli.parser`; the subcommands, a module each in the package
:mod:`~rlnc_testbed.cli.commands`, call :mod:`rlnc_testbed.experiment` and
:mod:`rlnc_testbed.analysis`. Every failure ends with one ``error:`` line on stderr that says
what was being done and what went wrong, never a traceback (``--log-level debug`` logs it) and
never an empty message. Exit statuses
(:data:`EXIT_STATUS_HELP`): 0 when the command completed (whatever the success rate), 1
(:data:`EXIT_FAILURE`) when it failed while running (a timeout, a lost connection, an
unexpected exception), 2 (:data:`EXIT_USAGE`) for invalid input, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..experiment.runner import run_point, run_sweep
from . import parser as _parser
from .commands import INPUT_ERRORS, RUNTIME_ERRORS, CommandFailed, RunPoint, RunSweep, describe
from .commands import run_command as _run_command
from .isolate import rerun_isolated, wants_isolation
from .parser import EXIT_USAGE

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_STATUS_HELP",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

#: Exit status when a command fails while running: a ``TimeoutError``, a ``ConnectionError``
#: or any unexpected exception (not bad input; that is :data:`EXIT_USAGE`).
EXIT_FAILURE = 1
#: Exit status after Ctrl-C (the history keeps what finished; rerun with --resume).
EXIT_INTERRUPTED = 130

#: The exit statuses, as ``--help`` states them.
EXIT_STATUS_HELP = (
    f"Exit status: 0 when the command completes (whatever its success rate; trials that "
    f"stopped without judging a round, e.g. setup-timeout, count as failures and are listed "
    f"apart), {EXIT_FAILURE} when it fails while running (a timeout, a lost connection, an "
    f"unexpected exception; the error line names the step and the exception), {EXIT_USAGE} "
    f"for invalid options, parameters or files, {EXIT_INTERRUPTED} when interrupted."
)

logger = logging.getLogger(__name__)
_TRACEBACK_HINT = " (--log-level debug shows the traceback)"


def build_parser() -> argparse.ArgumentParser:
    """The full ``rlnc-testbed`` parser (:func:`rlnc_testbed.cli.parser.build_parser`) with the
    exit statuses :func:`main` returns as its epilog (they are decided here)."""
    parser = _parser.build_parser()
    parser.epilog = EXIT_STATUS_HELP
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    run_point: RunPoint = run_point,
    run_sweep: RunSweep = run_sweep,
) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args.argv = ["rlnc-testbed", *words]  # the command line the provenance records
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(levelname)s %(name)s: %(message)s",
    )
    command = f"rlnc-testbed {args.command}"
    try:
        if wants_isolation(args):  # --isolate: the same words in a loopback-only namespace
            return rerun_isolated(words)
        return _run_command(args, run_point=run_point, run_sweep=run_sweep)
    except CommandFailed as exc:
        logger.debug("%s failed", command, exc_info=exc.exc)
        unexpected = not isinstance(exc.exc, RUNTIME_ERRORS)
        return _error(command, str(exc) + (_TRACEBACK_HINT if unexpected else ""), EXIT_FAILURE)
    except RUNTIME_ERRORS as exc:
        logger.debug("%s failed", command, exc_info=exc)
        return _error(command, f"while running: {describe(exc)}", EXIT_FAILURE)
    except INPUT_ERRORS as exc:
        return _error(command, str(exc) or describe(exc), EXIT_USAGE)
    except OSError as exc:
        return _error(command, _os_message(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        print(
            "rlnc-testbed: interrupted (rerun with --resume to continue a history)", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line that says what, the traceback in the log
        logger.debug("%s failed", command, exc_info=exc)
        return _error(command, f"while running: {describe(exc)}{_TRACEBACK_HINT}", EXIT_FAILURE)


def _error(command: str, message: str, status: int) -> int:
    print(f"{command}: error: {message}", file=sys.stderr)
    return status


def _os_message(exc: OSError) -> str:
    """``file: reason`` for a file that cannot be read or written."""
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror}" if exc.strerror else f"{where}{describe(exc)}"
