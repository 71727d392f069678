"""``show`` (a recorded run from its history, a sweep's history directory, or shard outputs to
merge), ``replay`` (a recorded run's system model served until Ctrl-C) and ``report`` (its
self-contained HTML report)."""

from __future__ import annotations

import argparse
from typing import Any

from ...analysis.history import HistoryError
from ...analysis.provenance import now, provenance
from ...analysis.summary import PointResult
from ...protocol.params import ParameterError
from .checks import check_outputs
from .common import INPUT_ERRORS, command_line, doing, say
from .inputs import history_result, input_kind, shard_input
from .merge import cmd_show_merged, show_sweep
from .outputs import point_outputs

__all__ = ["cmd_replay", "cmd_report", "cmd_show"]


def cmd_show(args: argparse.Namespace) -> int:
    """``show HISTORY``: the recorded run's tables and outputs; a directory or several inputs
    go to the sweep and merging paths."""
    if args.history.is_dir():
        return _cmd_show_history_dir(args)
    if getattr(args, "more", None) or input_kind(args.history) != "history":
        return cmd_show_merged(args)
    check_outputs(args)
    started = now()
    with doing(f"reading history {str(args.history)!r}"):
        result, contents = history_result(args.history, with_shard=False)
    title = f"{args.history.name}: {len(result.trials)} of {contents.params.trials} trials recorded"
    origin = provenance(command=command_line(args), started=started, ended=now())
    recorded = {"transport": contents.transport, "provenance": contents.provenance}
    point_outputs(args, result, contents.params, title, origin=origin, recorded=recorded)
    return 0


def _cmd_show_history_dir(args: argparse.Namespace) -> int:
    """``show DIR``: a sweep's --history-dir (one history per point) shown as the sweep: its
    table, JSON (every point with its records), CSV and plots, points in grid order."""
    from ...analysis.history import read_history
    from ...protocol.params import SCHEMES

    if getattr(args, "more", None):
        raise ParameterError("show DIR takes one sweep history directory and no more inputs")
    check_outputs(args)
    started = now()
    files = sorted(args.history.glob("*.jsonl"))
    if not files:
        raise HistoryError(f"{args.history}: no *.jsonl history in this directory")
    results: list[PointResult] = []
    heads: list[dict[str, Any]] = []
    empty: list[str] = []
    for path in files:
        with doing(f"reading history {str(path)!r}"):
            if path.stat().st_size == 0 or not read_history(path).trials:
                empty.append(path.name)
                continue
        _, points, head = shard_input(path)
        results.extend(points)
        heads.extend([head] * len(points))
    if not results:
        raise HistoryError(f"{args.history}: no history here holds a finished trial yet")
    if empty:
        say(args, "note", f"{len(empty)} histor{'ies hold' if len(empty) > 1 else 'y holds'} "
            f"no finished trial yet and {'are' if len(empty) > 1 else 'is'} left out "
            f"(e.g. {empty[0]!r})")  # fmt: skip

    def grid_order(result: PointResult) -> tuple[Any, ...]:
        p = result.params
        numbers = (p.redundancy, p.q, p.parents, p.beta, p.peers, p.symbols, p.symbol_size)
        known = tuple(-1 if n is None else n for n in numbers)
        return (SCHEMES.index(p.scheme), p.field, p.keep, *known, p.rounds, p.seed, p.systematic)

    order = sorted(range(len(results)), key=lambda i: grid_order(results[i]))
    results = [results[i] for i in order]
    transports = sorted({r.transport for r in results})
    head = {"transport": ", ".join(transports), "provenance": heads[order[0]].get("provenance")}
    sources = [{"source": str(files[0].parent / f"{r.name}.jsonl"), "shard": None} for r in results]
    origin = provenance(command=command_line(args), started=started, ended=now())
    return show_sweep(args, results, head, origin, sources, set())


def cmd_replay(args: argparse.Namespace) -> int:
    """Serve the system model of a recorded run until Ctrl-C."""
    from ...experiment.dashboard import Dashboard

    path = args.history
    if not path.is_file() or path.stat().st_size == 0:
        raise HistoryError(f"{path}: no history there (or an empty file)")
    with doing(f"starting the replay of {str(path)!r} on port {args.port}", passes=INPUT_ERRORS):
        dashboard = Dashboard(path, mode="replay", port=args.port).start()
    say(args, "note", f"replaying {path} at {dashboard.url} (Ctrl-C stops)")
    try:
        dashboard.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        dashboard.stop()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the self-contained HTML report of a run's history or a sweep's JSON."""
    from ...analysis.report import ReportError, write_report

    if args.html.suffix.lower() not in (".html", ".htm"):
        raise ParameterError(f"--html path must end in .html; got {str(args.html)!r}")
    if not args.html.parent.is_dir():
        raise ParameterError(f"directory does not exist: {str(args.html.parent)!r}")
    with doing(f"writing the report {str(args.html)!r} of {str(args.input)!r}"):
        try:
            write_report(args.input, args.html, trial=args.trial)
        except ReportError as exc:
            raise ParameterError(str(exc)) from None
    print(f"report: {args.html}")
    return 0
