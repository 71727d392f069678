"""What the run options ask of the runner: until loss and its cap, sequential stopping (--ci-width),
the shard, the executor, the network options; each refused where it cannot apply."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from typing import Any

from ...experiment.runner import shard_trials
from ...protocol.params import ParameterError, Params

__all__ = [
    "DEFAULT_MAX_TRIALS",
    "executor_of",
    "network_options",
    "sequential_options",
    "shard_of",
    "shard_trial_count",
    "until_loss_cap",
    "why_until_loss",
]

#: --max-trials when --ci-width is given without it.
DEFAULT_MAX_TRIALS = 10_000


def until_loss_cap(
    args: argparse.Namespace, rounds: list[int] | None, scenario_cap: int | None = None
) -> int | None:
    """The safety cap when the command runs until loss, else None: with --until-loss or
    --rounds 0, or for a scenario run until loss (``scenario_cap``: its ``rounds = 0`` and
    ``max_rounds_cap``) that no --rounds R overrides. --max-rounds-cap replaces the scenario's
    cap; it is refused without a run until loss, and 0 mixed with other round values."""
    from ...analysis.lifetime import DEFAULT_MAX_ROUNDS_CAP, MAX_ROUNDS_CAP

    zero = rounds is not None and 0 in rounds
    if zero and rounds is not None and len(set(rounds)) > 1:
        raise ParameterError("--rounds 0 (until loss) cannot be swept with other max rounds")
    if args.until_loss and rounds is not None and not zero:
        raise ParameterError(
            "--until-loss runs every trial until loss (or --max-rounds-cap): drop --rounds"
        )
    fixed = rounds is not None and not zero  # --rounds R overrides a scenario's until loss
    if not (args.until_loss or zero or (scenario_cap is not None and not fixed)):
        if args.max_rounds_cap is not None:
            raise ParameterError(
                "--max-rounds-cap needs --until-loss (or --rounds 0, or a scenario with "
                "rounds = 0)" + ("; --rounds R runs R rounds" if fixed else "")
            )
        return None
    cap = args.max_rounds_cap
    if cap is None:
        cap = DEFAULT_MAX_ROUNDS_CAP if scenario_cap is None else scenario_cap
    if cap > MAX_ROUNDS_CAP:
        raise ParameterError(f"--max-rounds-cap must be <= {MAX_ROUNDS_CAP}; got {cap}")
    return cap


def why_until_loss(args: argparse.Namespace) -> str:
    """What made this command run until loss, for messages."""
    if args.until_loss:
        return "--until-loss"
    rounds = args.rounds if isinstance(args.rounds, list) else [args.rounds]
    if 0 in rounds:
        return "--rounds 0"
    return "the scenario's rounds = 0"


def sequential_options(args: argparse.Namespace, cap: int | None) -> dict[str, Any]:
    """run_sequential's ci_width and max_trials when --ci-width is given, else {}."""
    if args.ci_width is None:
        if args.max_trials is not None:
            raise ParameterError("--max-trials needs --ci-width")
        return {}
    if cap is not None:
        raise ParameterError(
            f"--ci-width stops on the success rate's interval: not with {why_until_loss(args)}"
        )
    maximum = DEFAULT_MAX_TRIALS if args.max_trials is None else args.max_trials
    return {"ci_width": args.ci_width, "max_trials": maximum}


def shard_of(args: argparse.Namespace, sequential: dict[str, Any]) -> Any:
    """``--shard`` (a Shard, or None), refused where shards cannot be merged back."""
    shard = getattr(args, "shard", None)
    if shard is None:
        return None
    if sequential:
        raise ParameterError(
            "--shard cannot be combined with --ci-width: when a point stops depends on the "
            "outcome of every trial"
        )
    return shard


def shard_trial_count(params: Params, shard: Any) -> int:
    """How many trials ``shard`` runs of ``params`` (all without one); refuses an empty
    shard (:func:`~rlnc_testbed.experiment.runner.shard_trials`)."""
    return len(shard_trials(params, shard))


def executor_of(args: argparse.Namespace, cap: int | None, sequential: dict[str, Any]) -> Any:
    """A context manager giving the executor of ``--executor`` (None for the default local
    run, point after point), refused where chunks cannot run apart."""
    from ...experiment.executors import make_executor

    name = getattr(args, "executor", "local")
    scheduler = getattr(args, "scheduler", None)
    if name == "local" and scheduler is None:
        return nullcontext(None)
    if cap is not None:
        raise ParameterError(
            f"--executor {name} is not available with --until-loss (or --rounds 0) yet"
        )
    if sequential:
        raise ParameterError(
            f"--executor {name} runs fixed trials per point: not with --ci-width, whose "
            "batches depend on the trials before"
        )
    return make_executor(name, scheduler=scheduler, workers=args.workers)


def network_options(args: argparse.Namespace, scenario: Any = None) -> dict[str, Any]:
    """The network options the user gave, and where the scenario's nodes run (browser
    slots, emulated hosts); the rest keep run_trial's defaults."""
    given = {
        "host": args.host,
        "port": args.port,
        "interfaces": args.ice_interfaces,
        "processes": args.processes or None,
    }
    out = {name: value for name, value in given.items() if value is not None}
    if scenario is not None:
        out.update({k: v for k, v in scenario.deployment.items() if k != "faults"})
    return out
