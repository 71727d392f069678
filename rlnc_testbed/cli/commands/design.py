"""``design``: the smallest value of one parameter (--vary) whose success over R rounds reaches
--target with the given confidence, searched in batches of trials; its table and JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ...analysis import tables
from ...analysis.provenance import now, provenance
from ...experiment.scenario import load_scenario
from ...protocol.params import ParameterError, Params
from .checks import check_workers
from .common import RUNNING_INPUT_ERRORS, command_line, doing
from .outputs import json_step, write_json

__all__ = ["cmd_design"]

#: design's base-parameter options (one value each).
_DESIGN_BASE = (
    "rounds", "scheme", "field", "redundancy", "q", "parents", "keep", "beta", "peers",
    "symbols", "symbol_size", "seed",
)  # fmt: skip


def cmd_design(args: argparse.Namespace) -> int:
    """``design``: the smallest value of --vary reaching --target, with its evidence."""
    from ...analysis.design import Probe
    from ...experiment.runner import design_values, run_design

    base = Params()
    transport = args.transport or "sim"
    if args.scenario is not None:
        with doing(f"loading scenario {str(args.scenario)!r}"):
            scenario = load_scenario(args.scenario)
        if scenario.until_loss and args.rounds is None:
            raise ParameterError(
                f"{args.scenario} runs until loss (rounds = 0), and design searches for "
                "success over R rounds: give --rounds R"
            )
        base = scenario.params
        transport = args.transport or scenario.transport
    check_workers(args, transport)
    changes = {n: getattr(args, n) for n in _DESIGN_BASE if getattr(args, n) is not None}
    if args.vary in changes:
        raise ParameterError(f"--{args.vary} is the varied parameter: give its --values")
    if "redundancy" in changes:
        changes.setdefault("q", None)
    if "q" in changes:
        changes.setdefault("redundancy", None)
    with doing("building the base point"):
        base = base.with_(**changes)
        values = design_values(base, args.vary, _design_numbers(args.vary, args.values))
    if args.json not in (None, "-") and not Path(args.json).parent.is_dir():
        raise ParameterError(f"directory does not exist: {str(Path(args.json).parent)!r}")
    if args.batch > args.max_trials:
        raise ParameterError(f"--batch {args.batch} is above --max-trials {args.max_trials}")
    started = now()
    label = f"design: smallest {args.vary} for {args.target:g} ({transport})"
    with (
        tables.progress(args.quiet, label, len(values)) as advance,
        doing(f"searching {args.vary} over {transport}", passes=RUNNING_INPUT_ERRORS),
    ):

        def on_probe(probe: Probe) -> None:
            advance(1)

        design = run_design(
            base,
            vary=args.vary,
            values=values,
            target=args.target,
            confidence=args.confidence,
            batch=args.batch,
            max_trials=args.max_trials,
            transport=transport,
            workers=args.workers,
            on_probe=on_probe,
        )
    if args.json is not None:
        with doing(json_step(args.json)):
            payload = {
                "provenance": provenance(command=command_line(args), started=started, ended=now()),
                "transport": transport,
                "params": base.to_dict(),
                **design.to_dict(),
            }
            write_json(payload, args.json)
    if args.json != "-" and not args.quiet:
        with doing("printing the tables"):
            console = tables.console(sys.stdout)
            console.print(tables.design_table(design))
            console.print(design.sentence())
            if args.json is not None:
                console.print(f"JSON: {args.json}")
    return 0


def _design_numbers(vary: str, values: list[float] | None) -> list[Any] | None:
    """--values as integers for the integer parameters (refusing fractions)."""
    if values is None or vary == "redundancy":
        return values
    out: list[Any] = []
    for value in values:
        if value != int(value):
            raise ParameterError(f"--values for {vary} must be integers; got {value:g}")
        out.append(int(value))
    return out
