"""Results out: one point's JSON, CSV, survival plot and tables (``run``, ``show``, ``serve``),
a sweep's JSON point, the CSV files (with a ``shard`` column for a shard), the written paths."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ...analysis import tables
from ...analysis.summary import PointResult
from ...protocol.params import Params
from .common import doing

__all__ = [
    "ROUNDS_CAPTION",
    "ROUND_TABLE_MAX_TRIALS",
    "json_step",
    "point_outputs",
    "print_paths",
    "sweep_point",
    "write_csvs",
    "write_json",
]

#: Runs with at most this many trials also get the per-round table.
ROUND_TABLE_MAX_TRIALS = 10
#: Under the rounds table: what its less obvious columns mean (the parser's ROUNDS_HELP).
ROUNDS_CAPTION = (
    "newcomer rank: the rank of the coefficient rows the newcomer received from its parents "
    "(what it can recode from; as it reports it); global rank: the rank of every packet the "
    "collector gathered after the round (k = decodable); ms: the round's duration, the "
    "one-off warm-up excluded ('-': not measured, as in the compiled simulator)"
)


def point_outputs(
    args: argparse.Namespace,
    result: PointResult,
    params: Params,
    title: str,
    *,
    history: Path | None = None,
    origin: dict[str, Any],
    recorded: dict[str, Any] | None = None,
) -> None:
    """JSON, CSV, survival plot and tables of one point (``run`` and ``show``)."""
    if args.json is not None:
        with doing(json_step(args.json)):
            payload = {"provenance": origin, **result.to_dict()}
            if recorded is not None:
                payload["recorded"] = recorded
            write_json(payload, args.json)
    write_csvs(args, [result])
    if args.plot is not None:
        with doing(f"writing the survival plot {str(args.plot)!r}"):
            from ...analysis.plots import plot_survival

            plot_survival([result.summary], args.plot)
    if args.json == "-" or args.quiet:
        return
    with doing("printing the tables"):
        console = tables.console(sys.stdout)
        trials = result.trials
        if len(trials) <= ROUND_TABLE_MAX_TRIALS:
            rounds = tables.rounds_table(trials, params)
            rounds.caption = ROUNDS_CAPTION
            console.print(rounds)
        if len(trials) == 1 and any(r.links for r in trials[0].rounds):
            console.print(tables.links_table(trials[0]))
        if any(t.unjudged for t in trials):
            console.print(tables.unjudged_table(trials))
        console.print(tables.summary_table([result], title=title))
        if result.stopping is not None:
            console.print(f"stopped on {result.stopping.describe()}")
        print_paths(console, args, history=history)


def print_paths(console: Any, args: argparse.Namespace, *, history: Path | None) -> None:
    """The files written, one ``label: path`` line each."""
    paths = (
        ("JSON", args.json),
        ("CSV", getattr(args, "csv", None)),
        ("per-trial CSV", getattr(args, "csv_trials", None)),
        ("plot", args.plot),
        ("history", history),
    )
    for label, path in paths:
        if path is not None:
            console.print(f"{label}: {path}")


def sweep_point(result: PointResult, *, records: bool = False) -> dict[str, Any]:
    """One sweep JSON point: its summary's fields, then every parameter and the transport
    (and, for a shard or with ``records`` - ``sweep --trial-outcomes`` - its trial records:
    shards can then be merged, and ``show`` rebuilds per-trial outputs)."""
    out = {
        **result.summary.to_dict(),
        "params": result.params.to_dict(),
        "transport": result.transport,
    }
    if result.stopping is not None:
        out["stopping"] = result.stopping.to_dict()
    if result.shard is not None:
        out["shard"] = result.shard.to_json()
    if result.shard is not None or records:  # sweep --trial-outcomes: every trial's record
        out["records"] = [t.to_dict() for t in result.trials]
    return out


def write_csvs(args: argparse.Namespace, results: list[Any]) -> None:
    """--csv (one row per point) and --csv-trials (one row per trial), when given."""
    from ...analysis.export import write_points_csv, write_trials_csv

    shard = getattr(args, "shard", None) if args.command in ("run", "sweep") else None
    csv_path = getattr(args, "csv", None)
    if csv_path is not None:
        with doing(f"writing CSV to {str(csv_path)!r}"):
            write_points_csv(results, csv_path)
            _add_shard_column(csv_path, shard)
    trials_path = getattr(args, "csv_trials", None)
    if trials_path is not None:
        with doing(f"writing per-trial CSV to {str(trials_path)!r}"):
            write_trials_csv(results, trials_path)
            _add_shard_column(trials_path, shard)


def _add_shard_column(path: Path, shard: Any) -> None:
    """A last ``shard`` column (``i/n``) in every row of a sharded run's CSV file."""
    if shard is None:
        return
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [[*row, "shard" if i == 0 else str(shard)] for i, row in enumerate(rows)]
        )


def json_step(target: str) -> str:
    """The name of the step writing --json to ``target`` (``-``: stdout)."""
    return f"writing JSON to {target!r}" if target != "-" else "writing JSON"


def write_json(payload: dict[str, Any], target: str) -> None:
    """``payload`` as indented JSON to the file ``target``, or to stdout for ``-``."""
    text = json.dumps(payload, indent=2)
    if target == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        Path(target).write_text(text + "\n", encoding="utf-8")
