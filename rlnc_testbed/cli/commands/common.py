"""What every subcommand shares: the error classes, the named step :func:`doing`, stderr notes.

Each step of a subcommand runs inside :func:`doing`, which names the step: bad input (the
:data:`INPUT_ERRORS`, and a file that cannot be read or written) passes through as it is, and
every other failure - a ``TimeoutError`` or ``ConnectionError`` always, and any exception while
trials run - becomes a :class:`CommandFailed` that says what was being done and what went wrong.
:mod:`~rlnc_testbed.cli.entry` turns the first into exit status 2 and the second into 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...analysis import tables
from ...analysis.history import HistoryError
from ...analysis.plots import PlotError
from ...analysis.summary import PointResult, SummaryError
from ...experiment.scenario import ScenarioError
from ...protocol.params import ParameterError

__all__ = [
    "INPUT_ERRORS",
    "RUNNING_INPUT_ERRORS",
    "RUNTIME_ERRORS",
    "CommandFailed",
    "RunPoint",
    "RunSweep",
    "command_line",
    "describe",
    "doing",
    "progress_hint",
    "running_trials",
    "say",
]

#: Errors that mean "bad input" (options, parameters, scenario, history or plot files).
INPUT_ERRORS: tuple[type[Exception], ...] = (
    ParameterError,
    ScenarioError,
    HistoryError,
    PlotError,
    SummaryError,
)
#: Failures of the run itself, never bad input (both are OSError subclasses).
RUNTIME_ERRORS: tuple[type[Exception], ...] = (TimeoutError, ConnectionError)
#: What may pass through while trials run: the runner's own checks of its input.
RUNNING_INPUT_ERRORS: tuple[type[Exception], ...] = (ParameterError, HistoryError)

RunPoint = Callable[..., PointResult]
RunSweep = Callable[..., list[PointResult]]


class CommandFailed(Exception):
    """A subcommand failed while ``doing`` something, for a reason other than bad input.

    ``str()`` is the one-line message: the step, the exception type and its message (or
    ``(no message)``), and ``hint`` when there is one. The exception is ``__cause__``.
    """

    def __init__(self, doing: str, exc: BaseException, *, hint: str = "") -> None:
        self.doing = doing
        self.exc = exc
        self.hint = hint
        message = f"{doing}: {describe(exc)}"
        super().__init__(f"{message}; {hint}" if hint else message)


def describe(exc: BaseException) -> str:
    """``Type: message``, or ``Type (no message)`` for an exception whose text is empty."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else f"{name} (no message)"


@contextmanager
def doing(
    what: str,
    *,
    passes: tuple[type[Exception], ...] = (*INPUT_ERRORS, OSError),
    hint: Callable[[], str] = lambda: "",
) -> Iterator[None]:
    """Run a step called ``what``: exceptions in ``passes`` (bad input; by default also a file
    that cannot be read or written) propagate; any other exception, and always a
    ``TimeoutError`` or ``ConnectionError``, is raised as :class:`CommandFailed`. ``hint`` is
    called then, for advice to add (e.g. how to resume)."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, passes) and not isinstance(exc, RUNTIME_ERRORS):
            raise
        raise CommandFailed(what, exc, hint=hint()) from exc


def progress_hint(done: int, total: int, history: Path | None, option: str) -> str:
    """How far a failed run got, and how to continue it."""
    where = f"{done} of {total} trials had finished"
    if history is not None:
        return f"{where}; {str(history)!r} keeps them: rerun with --resume to continue"
    return where if done == 0 else f"{where} (not kept: give {option} to be able to --resume)"


@contextmanager
def running_trials(
    args: argparse.Namespace,
    label: str,
    total: int,
    step: str,
    *,
    history: Path | None,
    option: str,
) -> Iterator[Callable[[Any], None]]:
    """The step ``step`` that runs ``total`` trials, under a progress bar ``label`` (off with
    --quiet): yields the runner's ``on_trial`` callback (for anything with a ``trial`` index:
    a record or a lifetime), which moves the bar. Input errors of the runner pass through; on
    any other failure the hint says how far the run got and how to resume it from
    ``history`` (given by ``option``: :func:`progress_hint`)."""
    finished: list[int] = []
    with (
        tables.progress(args.quiet, label, total) as advance,
        doing(
            step,
            passes=RUNNING_INPUT_ERRORS,
            hint=lambda: progress_hint(len(finished), total, history, option),
        ),
    ):

        def on_trial(done: Any) -> None:
            finished.append(done.trial)
            advance(1)

        yield on_trial


def command_line(args: argparse.Namespace) -> list[str] | None:
    """The command line :func:`~rlnc_testbed.cli.entry.main` parsed (None: sys.argv)."""
    argv = getattr(args, "argv", None)
    return list(argv) if argv is not None else None


def say(args: argparse.Namespace, kind: str, text: str) -> None:
    """One ``rlnc-testbed CMD: note|warning: ...`` line on stderr (stdout may be JSON)."""
    print(f"rlnc-testbed {args.command}: {kind}: {text}", file=sys.stderr)
