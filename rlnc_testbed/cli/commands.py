"""The subcommands: options in, calls to experiment/ and analysis/, tables, JSON and plots out.

Each step of a subcommand runs inside :func:`doing`, which names the step: bad input (the
:data:`INPUT_ERRORS`, and a file that cannot be read or written) passes through as it is, and
every other failure - a ``TimeoutError`` or ``ConnectionError`` always, and any exception while
trials run - becomes a :class:`CommandFailed` that says what was being done and what went wrong.
:mod:`~rlnc_testbed.cli.entry` turns the first into exit status 2 and the second into 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from ..analysis import tables
from ..analysis.history import HistoryError, check_resumable
from ..analysis.plots import PlotError
from ..analysis.points import collapse
from ..analysis.provenance import now, provenance
from ..analysis.summary import PointResult, Shard, SummaryError
from ..experiment.runner import SWEEP_AXES, expand_grid, history_path
from ..experiment.scenario import ScenarioError, load_scenario
from ..protocol.params import ParameterError, Params
from ..protocol.records import TrialRecord

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

#: Runs with at most this many trials also get the per-round table.
ROUND_TABLE_MAX_TRIALS = 10
#: Under the rounds table: what its less obvious columns mean (the parser's ROUNDS_HELP).
ROUNDS_CAPTION = (
    "newcomer rank: the rank of the coefficient rows the newcomer received from its parents "
    "(what it can recode from; as it reports it); global rank: the rank of every packet the "
    "collector gathered after the round (k = decodable); ms: the round's duration, the "
    "one-off warm-up excluded ('-': not measured, as in the compiled simulator)"
)

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
_RUNNING_INPUT_ERRORS: tuple[type[Exception], ...] = (ParameterError, HistoryError)

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


def run_command(args: argparse.Namespace, *, run_point: RunPoint, run_sweep: RunSweep) -> int:
    """Dispatch parsed ``args`` to its subcommand; return the exit status."""
    if args.command == "run":
        return _cmd_run(args, run_point)
    if args.command == "node":
        return _cmd_node(args)
    if args.command == "serve":
        return _cmd_serve(args)
    if args.command == "show":
        return _cmd_show(args)
    if args.command == "replay":
        return _cmd_replay(args)
    if args.command == "report":
        return _cmd_report(args)
    if args.command == "design":
        return _cmd_design(args)
    return _cmd_sweep(args, run_sweep)


# -- design ----------------------------------------------------------------------------------

#: design's base-parameter options (one value each).
_DESIGN_BASE = (
    "rounds", "scheme", "field", "redundancy", "q", "parents", "keep", "beta", "peers",
    "symbols", "symbol_size", "seed",
)  # fmt: skip


def _cmd_design(args: argparse.Namespace) -> int:
    """``design``: the smallest value of --vary reaching --target, with its evidence."""
    from ..analysis.design import Probe
    from ..experiment.runner import design_values, run_design

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
    _check_workers(args, transport)
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
        doing(f"searching {args.vary} over {transport}", passes=_RUNNING_INPUT_ERRORS),
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
        with doing(f"writing JSON to {args.json!r}" if args.json != "-" else "writing JSON"):
            payload = {
                "provenance": provenance(command=_command(args), started=started, ended=now()),
                "transport": transport,
                "params": base.to_dict(),
                **design.to_dict(),
            }
            _write_json(payload, args.json)
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


# -- run -------------------------------------------------------------------------------------


def _until_loss(
    args: argparse.Namespace, rounds: list[int] | None, scenario_cap: int | None = None
) -> int | None:
    """The safety cap when the command runs until loss, else None: with --until-loss or
    --rounds 0, or for a scenario run until loss (``scenario_cap``: its ``rounds = 0`` and
    ``max_rounds_cap``) that no --rounds R overrides. --max-rounds-cap replaces the scenario's
    cap; it is refused without a run until loss, and 0 mixed with other round values."""
    from ..analysis.lifetime import DEFAULT_MAX_ROUNDS_CAP, MAX_ROUNDS_CAP

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


#: --max-trials when --ci-width is given without it.
DEFAULT_MAX_TRIALS = 10_000


def _sequential(args: argparse.Namespace, cap: int | None) -> dict[str, Any]:
    """run_sequential's ci_width and max_trials when --ci-width is given, else {}."""
    if args.ci_width is None:
        if args.max_trials is not None:
            raise ParameterError("--max-trials needs --ci-width")
        return {}
    if cap is not None:
        raise ParameterError(
            f"--ci-width stops on the success rate's interval: not with {_why_until_loss(args)}"
        )
    maximum = DEFAULT_MAX_TRIALS if args.max_trials is None else args.max_trials
    return {"ci_width": args.ci_width, "max_trials": maximum}


def _cmd_run(args: argparse.Namespace, run_point: RunPoint) -> int:
    with doing(f"loading scenario {str(args.scenario)!r}"):
        scenario = load_scenario(args.scenario)
    cap = _until_loss(args, None if args.rounds is None else [args.rounds], scenario.max_rounds_cap)
    sequential = _sequential(args, cap)
    with doing(f"loading scenario {str(args.scenario)!r}"):
        if cap is not None:
            scenario = scenario.with_rounds(0, cap=cap)
        else:
            scenario = scenario.with_rounds(args.rounds)
        scenario = scenario.with_params(trials=args.trials, seed=args.seed)
        scenario = scenario.with_transport(args.transport)
        scenario = scenario.with_deployment(
            browser_peers=args.browser_peers,
            browser_newcomers=args.browser_newcomers,
            hosts=args.hosts,
        )
    data_path = args.data if args.data is not None else scenario.data
    with doing(f"reading data file {str(data_path)!r}"):
        data = _read_data(data_path, scenario.params) if data_path is not None else None
    if cap is not None and getattr(args, "dashboard", None) is not None:
        raise ParameterError(
            f"--dashboard is not available with a run until loss ({_why_until_loss(args)}): "
            "give --rounds R for a run of R rounds"
        )
    _check_network(args, scenario.transport)
    shard = _shard_of(args, sequential)
    if cap is not None:
        return _cmd_run_lifetime(args, scenario, data, cap, shard)
    _check_outputs(args)
    _check_history(args, args.history, scenario.params, scenario.transport)
    _warn_few_packets(args, [scenario.params])
    if sequential and sequential["max_trials"] < scenario.params.trials:
        raise ParameterError(
            f"--max-trials {sequential['max_trials']} is below the first batch "
            f"(--trials / the scenario's trials = {scenario.params.trials})"
        )
    with doing("warming up the coding kernels"):
        _warm_up([scenario.params], scenario.transport, data)
    started = now()
    label = f"{scenario.name} ({scenario.transport})"
    if shard is not None:
        label += f" shard {shard}"
    finished: list[int] = []

    def on_trial(record: TrialRecord) -> None:
        finished.append(record.trial)
        advance(1)

    trials = sequential["max_trials"] if sequential else scenario.params.trials
    if shard is not None:
        trials = len(shard.select(range(trials)))
    run = run_point
    if sequential:
        from ..experiment.runner import run_sequential

        def run(params: Params, **options: Any) -> PointResult:
            return run_sequential(params, **sequential, **options)

    step = (
        f"running {trials} trial{'s' * (trials != 1)} of {scenario.name!r} over "
        f"{scenario.transport}"
    )
    with (
        _dashboard(args) as history,
        tables.progress(args.quiet, label, trials) as advance,
        doing(
            step,
            passes=_RUNNING_INPUT_ERRORS,
            hint=lambda: _progress_hint(len(finished), trials, args.history, "--history"),
        ),
    ):
        result = run(
            scenario.params,
            transport=scenario.transport,
            data=data,
            history=history,
            resume=args.resume,
            on_trial=on_trial,
            name=scenario.name,
            network=_network_options(args, scenario),
            faults=scenario.faults or None,
            overwrite=args.overwrite,
            command=_command(args),
            **({"shard": shard} if shard is not None else {}),
        )
    origin = provenance(command=_command(args), started=started, ended=now())
    _outputs(args, result, scenario.params, label, history=args.history, origin=origin)
    return 0


def _why_until_loss(args: argparse.Namespace) -> str:
    """What made this command run until loss, for messages."""
    if args.until_loss:
        return "--until-loss"
    rounds = args.rounds if isinstance(args.rounds, list) else [args.rounds]
    if 0 in rounds:
        return "--rounds 0"
    return "the scenario's rounds = 0"


def _shard_of(args: argparse.Namespace, sequential: dict[str, Any]) -> Any:
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


def _shard_trials(params: Params, shard: Any) -> int:
    """The trials ``shard`` runs of ``params`` (all without one); refuses an empty shard."""
    if shard is None:
        return params.trials
    count = len(shard.select(range(params.trials)))
    if count == 0:
        raise ParameterError(
            f"shard {shard} has no trials (trials = {params.trials}): use at most "
            f"{params.trials} shards"
        )
    return count


@contextmanager
def _dashboard(args: argparse.Namespace) -> Iterator[Path | None]:
    """``run --dashboard``: serve the live system model while the run goes (its URL on
    stderr); yields the history the run writes, a temporary one without --history. After a
    run that no page watched it waits (bounded) for one; leaving sends every page the rest of
    the history (bounded), then stops the server."""
    address = getattr(args, "dashboard", None)
    if address is None:
        yield args.history
        return
    import tempfile
    from contextlib import ExitStack

    from ..experiment.dashboard import Dashboard

    with ExitStack() as stack:
        history = args.history
        if history is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="rlnc-dashboard-"))
            history = Path(folder) / "run.jsonl"
        host, port = address
        with doing(f"starting the dashboard on {host}:{port}", passes=INPUT_ERRORS):
            dashboard = stack.enter_context(Dashboard(history, host=host, port=port))
        _say(args, "note", f"dashboard: {dashboard.url}")
        yield history
        if dashboard.connections == 0:  # the run is over and nobody looked yet
            from ..experiment.dashboard import LINGER_UNITS

            _say(args, "note", f"no page connected yet: waiting for one at {dashboard.url}")
            dashboard.wait_for_page(LINGER_UNITS)


def _cmd_replay(args: argparse.Namespace) -> int:
    """Serve the system model of a recorded run until Ctrl-C."""
    from ..experiment.dashboard import Dashboard

    path = args.history
    if not path.is_file() or path.stat().st_size == 0:
        raise HistoryError(f"{path}: no history there (or an empty file)")
    with doing(f"starting the replay of {str(path)!r} on port {args.port}", passes=INPUT_ERRORS):
        dashboard = Dashboard(path, mode="replay", port=args.port).start()
    _say(args, "note", f"replaying {path} at {dashboard.url} (Ctrl-C stops)")
    try:
        dashboard.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        dashboard.stop()
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    """Write the self-contained HTML report of a run's history or a sweep's JSON."""
    from ..analysis.report import ReportError, write_report

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


def _cmd_run_lifetime(
    args: argparse.Namespace, scenario: Any, data: bytes | None, cap: int, shard: Any
) -> int:
    """``run --until-loss`` (or a scenario run until loss): rounds survived per trial and the
    Kaplan-Meier summary; with ``--shard`` only the shard's trials (``show`` merges them)."""
    from ..analysis.lifetime import Lifetime

    _check_outputs(args)
    if args.history is not None and scenario.transport == "sim" and data is None:
        raise ParameterError(
            "--history with --until-loss needs the memory or webrtc transport: the sim "
            "transport records no rounds of a run until loss"
        )
    _check_history(args, args.history, scenario.params, scenario.transport)
    _warn_few_packets(args, [scenario.params])
    trials = _shard_trials(scenario.params, shard)
    with doing("warming up the coding kernels"):
        _warm_up([scenario.params], scenario.transport, data)
    started = now()
    label = f"{scenario.name} ({scenario.transport}, until loss, cap {cap})"
    if shard is not None:
        label += f" shard {shard}"
    finished: list[int] = []

    def on_trial(life: Lifetime) -> None:
        finished.append(life.trial)
        advance(1)

    step = (
        f"running {trials} trial{'s' * (trials != 1)} of {scenario.name!r} until loss over "
        f"{scenario.transport}"
    )
    with (
        tables.progress(args.quiet, label, trials) as advance,
        doing(
            step,
            passes=_RUNNING_INPUT_ERRORS,
            hint=lambda: _progress_hint(len(finished), trials, args.history, "--history"),
        ),
    ):
        result = _run_until_loss(
            scenario.params,
            cap=cap,
            shard=shard,
            transport=scenario.transport,
            data=data,
            on_trial=on_trial,
            name=scenario.name,
            network=_network_options(args, scenario) or None,
            faults=scenario.faults or None,
            history=args.history,
            resume=args.resume,
            overwrite=args.overwrite,
            command=_command(args),
        )
    origin = provenance(command=_command(args), started=started, ended=now())
    _lifetime_outputs(args, [result], origin=origin, title=label, history=args.history)
    return 0


def _run_until_loss(
    params: Params,
    *,
    cap: int,
    shard: Any,
    transport: str,
    data: bytes | None = None,
    on_trial: Callable[[Any], None] | None = None,
    network: dict[str, Any] | None = None,
    history: Path | None = None,
    **options: Any,
) -> Any:
    """One point run until loss (:func:`~rlnc_testbed.experiment.runner.run_lifetime`), or
    one shard of its trials: on the compiled simulator the shard's trial indices; otherwise a
    ``run_point`` shard with ``rounds = cap``, so that its history's start line says which
    shard it is (a LifetimeResult whose ``shard`` is set either way)."""
    import dataclasses

    from ..analysis.lifetime import LifetimeResult, lifetime_of
    from ..experiment.runner import run_lifetime, run_point

    if shard is None or (transport == "sim" and data is None):
        trials = None if shard is None else shard.select(range(params.trials))
        result = run_lifetime(
            params, cap=cap, transport=transport, trials=trials, data=data, on_trial=on_trial,
            network=network, history=history, **options,
        )  # fmt: skip
        return dataclasses.replace(result, shard=shard)

    def finished(record: TrialRecord) -> None:
        if on_trial is not None:
            on_trial(lifetime_of(record, cap))

    point = run_point(
        params.with_(rounds=cap), transport=transport, data=data, on_trial=finished,
        network=network, history=history, shard=shard, **options,
    )  # fmt: skip
    return LifetimeResult.of_point(point, cap)


def _lifetime_outputs(
    args: argparse.Namespace,
    results: list[Any],
    *,
    origin: dict[str, Any],
    title: str,
    sweep: dict[str, Any] | None = None,
    recorded: dict[str, Any] | None = None,
    history: Path | None = None,
) -> None:
    """JSON, CSV, plots and table of points run until loss (``run``, ``sweep``, ``show``):
    one point's JSON (``run``), or with ``sweep`` (its top-level fields) a sweep's."""
    if args.json is not None:
        with doing(f"writing JSON to {args.json!r}" if args.json != "-" else "writing JSON"):
            if sweep is None:
                (result,) = results
                payload = {"provenance": origin, **result.to_dict()}
            else:
                records = getattr(args, "trial_outcomes", False) or args.command == "show"
                points = [_lifetime_sweep_point(r, records=records) for r in results]
                payload = {"provenance": origin, **sweep, "points": points}
            if recorded is not None:
                payload["recorded"] = recorded
            _write_json(payload, args.json)
    _write_csvs(args, results)
    figures: list[Path] = []
    if args.plot is not None:
        with doing(f"writing the plots {str(args.plot)!r}"):
            from ..analysis.plots import plot_lifetime_survival, write_lifetime_figures

            if sweep is None:
                plot_lifetime_survival([results[0].summary], args.plot)
                figures = [args.plot]
            else:
                figures = list(write_lifetime_figures([r.summary for r in results], args.plot))
    if args.json == "-" or args.quiet:
        return
    with doing("printing the tables"):
        console = tables.console(sys.stdout)
        console.print(tables.lifetime_table(results, title=title, grid=sweep is not None))
        if sweep is None:
            _print_paths(console, args, history=history)
            return
        if args.json is not None:
            console.print(f"JSON: {args.json}")
        if figures:
            console.print(f"plots: {', '.join(map(str, figures))}")
        for label, path in (
            ("CSV", getattr(args, "csv", None)),
            ("per-trial CSV", getattr(args, "csv_trials", None)),
        ):
            if path is not None:
                console.print(f"{label}: {path}")
        if getattr(args, "history_dir", None) is not None:
            console.print(f"histories: {args.history_dir}")


def _lifetime_sweep_point(result: Any, *, records: bool = False) -> dict[str, Any]:
    """One point of a sweep run until loss: its summary's fields, every parameter, the
    transport and the rounds survived per trial (and, for a shard or with ``records`` -
    ``sweep --trial-outcomes`` - every trial's lifetime, so shards merge with ``show``)."""
    out = {
        **result.summary.to_dict(),
        "params": result.params.to_dict(),
        "transport": result.transport,
        "lifetimes": [life.rounds for life in result.lifetimes],
    }
    if result.shard is not None:
        out["shard"] = result.shard.to_json()
    if result.shard is not None or records:
        out["records"] = [life.to_dict() for life in result.lifetimes]
    return out


def _print_paths(console: Any, args: argparse.Namespace, *, history: Path | None) -> None:
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


def _command(args: argparse.Namespace) -> list[str] | None:
    """The command line :func:`~rlnc_testbed.cli.entry.main` parsed (None: sys.argv)."""
    argv = getattr(args, "argv", None)
    return list(argv) if argv is not None else None


def _say(args: argparse.Namespace, kind: str, text: str) -> None:
    """One ``rlnc-testbed CMD: note|warning: ...`` line on stderr (stdout may be JSON)."""
    print(f"rlnc-testbed {args.command}: {kind}: {text}", file=sys.stderr)


def _warn_few_packets(args: argparse.Namespace, points: list[Params]) -> None:
    """A warning when points store fewer packets than symbols (N Q < k): none can decode."""
    few = [p for p in points if p.peers * p.per_peer < p.symbols]
    if not few:
        return
    p = few[0]
    given = f"q={p.q}" if p.q is not None else f"redundancy={p.redundancy:g}"
    which = "the point" if len(points) == 1 else f"{len(few)} of {len(points)} points"
    example = "" if len(points) == 1 else "e.g. "
    _say(
        args,
        "warning",
        f"{which} store{'s' * (len(points) == 1)} fewer packets than symbols, so no round can "
        f"decode: {example}{given} gives N * Q = {p.peers} * {p.per_peer} = "
        f"{p.peers * p.per_peer} stored packets (K = {p.total_packets_made} made) for "
        f"k = {p.symbols} symbols",
    )


def _check_history(
    args: argparse.Namespace, path: Path | None, params: Params, transport: str
) -> None:
    """Before running: no silent overwrite, and --resume only of a history of this point."""
    if path is None:
        return
    if args.resume:
        check_resumable(path, params, transport=transport)
    elif not args.overwrite and path.is_file() and path.stat().st_size > 0:
        raise ParameterError(
            f"--history {str(path)!r} already holds a history ({path.stat().st_size} bytes): "
            "give --resume to continue it, --overwrite to replace it, or another path"
        )


def _outputs(
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
        with doing(f"writing JSON to {args.json!r}" if args.json != "-" else "writing JSON"):
            payload = {"provenance": origin, **result.to_dict()}
            if recorded is not None:
                payload["recorded"] = recorded
            _write_json(payload, args.json)
    _write_csvs(args, [result])
    if args.plot is not None:
        with doing(f"writing the survival plot {str(args.plot)!r}"):
            from ..analysis.plots import plot_survival

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


def _progress_hint(done: int, total: int, history: Path | None, option: str) -> str:
    """How far a failed run got, and how to continue it."""
    where = f"{done} of {total} trials had finished"
    if history is not None:
        return f"{where}; {str(history)!r} keeps them: rerun with --resume to continue"
    return where if done == 0 else f"{where} (not kept: give {option} to be able to --resume)"


def _cmd_show(args: argparse.Namespace) -> int:
    from ..analysis.history import read_history
    from ..analysis.summary import summarize

    if args.history.is_dir():
        return _cmd_show_history_dir(args)
    if getattr(args, "more", None) or _input_kind(args.history) != "history":
        return _cmd_show_merged(args)
    _check_outputs(args)
    started = now()
    with doing(f"reading history {str(args.history)!r}"):
        contents = read_history(args.history)
        trials = [contents.trials[t] for t in sorted(contents.trials)]
        if not trials:
            raise HistoryError(f"{args.history}: no finished trial recorded yet")
        result = PointResult(
            params=contents.params,
            transport=contents.transport or "history",
            trials=trials,
            summary=summarize(contents.params, trials),
            name=args.history.stem,
        )
    title = f"{args.history.name}: {len(trials)} of {contents.params.trials} trials recorded"
    origin = provenance(command=_command(args), started=started, ended=now())
    recorded = {"transport": contents.transport, "provenance": contents.provenance}
    _outputs(args, result, contents.params, title, origin=origin, recorded=recorded)
    return 0


def _cmd_show_history_dir(args: argparse.Namespace) -> int:
    """``show DIR``: a sweep's --history-dir (one history per point) shown as the sweep: its
    table, JSON (every point with its records), CSV and plots, points in grid order."""
    from ..analysis.history import read_history
    from ..protocol.params import SCHEMES

    if getattr(args, "more", None):
        raise ParameterError("show DIR takes one sweep history directory and no more inputs")
    _check_outputs(args)
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
        _, points, head = _shard_input(path)
        results.extend(points)
        heads.extend([head] * len(points))
    if not results:
        raise HistoryError(f"{args.history}: no history here holds a finished trial yet")
    if empty:
        _say(args, "note", f"{len(empty)} histor{'ies hold' if len(empty) > 1 else 'y holds'} "
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
    origin = provenance(command=_command(args), started=started, ended=now())
    return _show_sweep(args, results, head, origin, sources, set())


# -- show: merging shard outputs -------------------------------------------------------------


def _input_kind(path: Path) -> str:
    """``history`` (its first line is a history start line), ``run`` or ``sweep`` (a --json
    output), ``lifetime`` or ``lifetime-sweep`` (the --json output of one run until loss);
    anything else is refused."""
    with doing(f"reading {str(path)!r}"):
        with path.open("rb") as handle:
            first = handle.readline(1 << 20)
        try:
            head = json.loads(first)
        except (UnicodeDecodeError, json.JSONDecodeError):
            head = None
        if isinstance(head, dict) and head.get("event") == "start":
            return "history"
        if path.suffix == ".jsonl":
            raise HistoryError(f"{path}: the first line is not a history 'start' line")
        data = _read_result_json(path)
        if isinstance(data.get("points"), list):
            return "lifetime-sweep" if data.get("until_loss") else "sweep"
        if isinstance(data.get("scenario"), dict):
            return "lifetime" if isinstance(data.get("lifetime"), dict) else "run"
        raise SummaryError(f"{path}: neither a history nor a run's or sweep's --json output")


def _read_result_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SummaryError(f"{path}: not a history nor a JSON result: {exc}") from None
    if not isinstance(data, dict):
        raise SummaryError(f"{path}: a JSON result is an object; got {type(data).__name__}")
    return data


def _shard_input(path: Path) -> tuple[str, list[PointResult], dict[str, Any]]:
    """(kind, its points, the file's JSON or history header) of one ``show`` input."""
    from ..analysis.history import read_history
    from ..analysis.summary import PointSummary, Shard, summarize
    from ..experiment.runner import recorded_shard

    kind = _input_kind(path)
    with doing(f"reading {str(path)!r}"):
        if kind == "history":
            contents = read_history(path)
            trials = [contents.trials[t] for t in sorted(contents.trials)]
            if not trials:
                raise HistoryError(f"{path}: no finished trial recorded yet")
            result = PointResult(
                params=contents.params,
                transport=contents.transport or "history",
                trials=trials,
                summary=summarize(contents.params, trials),
                name=path.stem,
                shard=recorded_shard(path),
            )
            head = {"transport": contents.transport, "provenance": contents.provenance}
            return kind, [result], head
        data = _read_result_json(path)
        if kind == "run":
            return kind, [PointResult.from_dict(data)], data
        known = {f for f in PointSummary.__dataclass_fields__}
        points = []
        for i, point in enumerate(data["points"]):
            if not isinstance(point, dict) or not isinstance(point.get("params"), dict):
                raise SummaryError(f"{path}: point {i} has no params")
            records = point.get("records")
            params = Params.from_dict(point["params"])
            summary = PointSummary.from_dict({k: v for k, v in point.items() if k in known})
            trials = [TrialRecord.from_dict(t) for t in records or []]
            points.append(
                PointResult(
                    params=params,
                    transport=str(point.get("transport", data.get("transport"))),
                    trials=trials,
                    summary=summary if records is None else summarize(params, trials),
                    shard=Shard.from_json(point.get("shard", data.get("shard"))),
                )
            )
        return kind, points, data


def _cmd_show_merged(args: argparse.Namespace) -> int:
    """``show A.json B.json ...``: shard outputs (run or sweep JSON, or histories) of the same
    point(s) merged into the full result (one input: that result as it is)."""
    from ..analysis.summary import merge_shards

    paths = [args.history, *args.more]
    given = [_input_kind(path) for path in paths]
    if any(kind.startswith("lifetime") for kind in given):
        return _cmd_show_lifetimes(args, paths, given)
    _check_outputs(args)
    started = now()
    inputs = [(str(path), *_shard_input(path)) for path in paths]
    keys = {json.dumps([pts[0].transport, pts[0].params.to_dict()]) for _, _, pts, _ in inputs}
    if len(keys) > 1 and all(kind == "history" for _, kind, _, _ in inputs):
        return _show_histories_by_point(args, inputs, started)
    kinds = {kind == "sweep" for _, kind, _, _ in inputs}
    if len(kinds) > 1:
        raise SummaryError("cannot merge a sweep's JSON with a run's output: give one kind")
    sweep = kinds == {True}
    first_label, _, first_points, first_head = inputs[0]
    for label, _, points, _ in inputs[1:]:
        if len(points) != len(first_points):
            raise SummaryError(
                f"{first_label} has {len(first_points)} points but {label} has {len(points)}: "
                "not shards of the same sweep"
            )
    if len(inputs) > 1:
        for label, _, points, _ in inputs:
            if any(not r.trials for r in points):
                raise SummaryError(
                    f"{label} holds no trial records: only the outputs of --shard runs (and "
                    "histories) can be merged"
                )
    merged: list[PointResult] = []
    missing: set[tuple[int, int]] = set()
    with doing(f"merging {len(paths)} result{'s' * (len(paths) != 1)}"):
        for i in range(len(first_points)):
            if len(inputs) == 1 and first_points[i].shard is None:
                merged.append(first_points[i])
                continue
            result, absent = merge_shards([(label, pts[i]) for label, _, pts, _ in inputs])
            split = first_points[i].shard
            count = split.count if split is not None else 1
            missing.update((index, count) for index in absent)
            merged.append(result)
    if missing:
        count = next(iter(missing))[1]
        gone = ", ".join(f"{i}/{count}" for i, _ in sorted(missing))
        _say(args, "warning", f"shard(s) {gone} missing: the result holds only the others' trials")
    shards = [
        {"source": label, "shard": (pts[0].shard.to_json() if pts and pts[0].shard else None)}
        for label, _, pts, _ in inputs
    ]
    origin = provenance(command=_command(args), started=started, ended=now())
    if not sweep:
        result = merged[0]
        done = len(result.trials)
        title = f"{len(paths)} result{'s' * (len(paths) != 1)} merged: {done} of "
        title += f"{result.params.trials} trials"
        recorded = {
            "transport": first_head.get("transport") or result.transport,
            "provenance": first_head.get("provenance"),
            "shards": shards,
            "missing_shards": sorted(f"{i}/{n}" for i, n in missing),
        }
        _outputs(args, result, result.params, title, origin=origin, recorded=recorded)
        return 0
    return _show_sweep(args, merged, first_head, origin, shards, missing)


def _cmd_show_lifetimes(args: argparse.Namespace, paths: list[Path], kinds: list[str]) -> int:
    """``show A.json B.json ...`` of runs (or sweeps) until loss: shard outputs merged into
    the full result, whose lifetimes and summary are the unsharded run's (one input: that
    result as it is)."""
    from ..analysis.lifetime import merge_lifetime_shards

    if len(set(kinds)) > 1:
        what = {"lifetime": "a run until loss", "lifetime-sweep": "a sweep until loss"}
        named = sorted({what.get(kind, f"a {kind}'s output") for kind in kinds})
        raise SummaryError(f"cannot merge {' with '.join(named)}: give one kind")
    _check_outputs(args)
    started = now()
    inputs = [(str(path), *_lifetime_input(path)) for path in paths]
    first_label, first_points, first_head = inputs[0]
    for label, points, _ in inputs[1:]:
        if len(points) != len(first_points):
            raise SummaryError(
                f"{first_label} has {len(first_points)} points but {label} has {len(points)}: "
                "not shards of the same sweep"
            )
    merged: list[Any] = []
    missing: set[tuple[int, int]] = set()
    with doing(f"merging {len(paths)} result{'s' * (len(paths) != 1)}"):
        for i in range(len(first_points)):
            if len(inputs) == 1 and first_points[i].shard is None:
                merged.append(first_points[i])
                continue
            result, absent = merge_lifetime_shards([(label, pts[i]) for label, pts, _ in inputs])
            count = first_points[i].shard.count if first_points[i].shard is not None else 1
            missing.update((index, count) for index in absent)
            merged.append(result)
    if missing:
        count = next(iter(missing))[1]
        gone = ", ".join(f"{i}/{count}" for i, _ in sorted(missing))
        _say(args, "warning", f"shard(s) {gone} missing: the result holds only the others' trials")
    shards = [
        {"source": label, "shard": pts[0].shard.to_json() if pts and pts[0].shard else None}
        for label, pts, _ in inputs
    ]
    origin = provenance(command=_command(args), started=started, ended=now())
    recorded = {
        "transport": first_head.get("transport") or merged[0].transport,
        "provenance": first_head.get("provenance"),
        "shards": shards,
        "missing_shards": sorted(f"{i}/{n}" for i, n in missing),
    }
    n = len(paths)
    if kinds[0] == "lifetime":
        result = merged[0]
        title = f"{n} result{'s' * (n != 1)} merged until loss: {len(result.lifetimes)} of "
        title += f"{result.params.trials} trials"
        _lifetime_outputs(args, merged, origin=origin, title=title, recorded=recorded)
        return 0
    sweep = {k: first_head.get(k) for k in ("transport", "until_loss", "max_rounds_cap", "axes")}
    sweep["collapsed"] = first_head.get("collapsed")
    title = f"sweep until loss ({sweep['transport']}), {n} result{'s' * (n != 1)} merged"
    _lifetime_outputs(args, merged, origin=origin, title=title, sweep=sweep, recorded=recorded)
    return 0


def _lifetime_input(path: Path) -> tuple[list[Any], dict[str, Any]]:
    """(its points as LifetimeResults, the file's JSON) of a run's or sweep's --json output
    until loss. A sweep point without per-trial ``records`` (an unsharded sweep's) gets its
    lifetimes back from its rounds survived: trial t of ``range(trials)`` in order, censored
    when it reached the cap."""
    from ..analysis.lifetime import Lifetime, LifetimeResult, LifetimeSummary

    with doing(f"reading {str(path)!r}"):
        data = _read_result_json(path)
        try:
            if "points" not in data:
                return [LifetimeResult.from_dict(data)], data
            points = []
            for i, point in enumerate(data["points"]):
                params = Params.from_dict(point["params"])
                summary = LifetimeSummary.from_dict(point)
                shard = Shard.from_json(point.get("shard", data.get("shard")))
                if point.get("records") is not None:
                    lifetimes = [Lifetime.from_dict(life) for life in point["records"]]
                else:
                    trials = (shard or Shard(0, 1)).select(range(params.trials))
                    rounds = [int(value) for value in point["lifetimes"]]
                    if len(rounds) != len(trials):
                        raise SummaryError(
                            f"point {i} holds {len(rounds)} lifetimes for {len(trials)} trials"
                        )
                    lifetimes = [
                        Lifetime(
                            t, r, r >= summary.cap, "max-round" if r >= summary.cap else "lost"
                        )
                        for t, r in zip(trials, rounds, strict=True)
                    ]
                transport = str(point.get("transport", data.get("transport")))
                points.append(LifetimeResult(params, transport, lifetimes, summary, shard=shard))
        except SummaryError as exc:
            raise SummaryError(f"{path}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise SummaryError(f"{path}: not a result until loss: {exc!r}") from None
        return points, data


def _show_histories_by_point(
    args: argparse.Namespace, inputs: list[tuple[str, str, list[PointResult], Any]], started: str
) -> int:
    """``show DIR/*.jsonl``: histories of several points (a sweep's, shards and all), each
    point's shards merged, shown as a sweep."""
    from ..analysis.summary import merge_shards

    groups: dict[str, list[tuple[str, PointResult]]] = {}
    for label, _, (result,), _ in inputs:
        key = json.dumps([result.transport, result.params.to_dict()])
        groups.setdefault(key, []).append((label, result))
    merged: list[PointResult] = []
    missing: set[tuple[int, int]] = set()
    with doing(f"merging {len(inputs)} histories of {len(groups)} points"):
        for parts in groups.values():
            result, absent = merge_shards(parts)
            count = (parts[0][1].shard or Shard(0, 1)).count
            missing.update((index, count) for index in absent)
            merged.append(result)
    if missing:
        gone = ", ".join(sorted({f"{i}/{n}" for i, n in missing}))
        _say(args, "warning", f"shard(s) {gone} of some points missing")
    shards = [
        {"source": label, "shard": result.shard.to_json() if result.shard else None}
        for label, _, (result,), _ in inputs
    ]
    origin = provenance(command=_command(args), started=started, ended=now())
    head = {"transport": merged[0].transport, "provenance": inputs[0][3].get("provenance")}
    return _show_sweep(args, merged, head, origin, shards, missing)


def _show_sweep(
    args: argparse.Namespace,
    results: list[PointResult],
    head: dict[str, Any],
    origin: dict[str, Any],
    shards: list[dict[str, Any]],
    missing: set[tuple[int, int]],
) -> int:
    """JSON (a sweep's, with ``recorded``), CSV, plots and table of merged sweep shards."""
    if getattr(args, "csv_trials", None) is not None and any(not r.trials for r in results):
        raise ParameterError(
            "--csv-trials: the sweep's JSON holds no per-trial records; write it with "
            "'sweep --trial-outcomes', or show the sweep's --history-dir"
        )
    transport = head.get("transport")
    if args.json is not None:
        with doing(f"writing JSON to {args.json!r}" if args.json != "-" else "writing JSON"):
            points = []
            for r in results:
                point = _sweep_point(r)
                if r.trials:
                    point["records"] = [t.to_dict() for t in r.trials]
                points.append(point)
            payload = {
                "provenance": origin,
                "transport": transport,
                "axes": head.get("axes"),
                "sequential": head.get("sequential"),
                "collapsed": head.get("collapsed"),
                "points": points,
                "recorded": {
                    "transport": transport,
                    "provenance": head.get("provenance"),
                    "shards": shards,
                    "missing_shards": sorted(f"{i}/{n}" for i, n in missing),
                },
            }
            _write_json(payload, args.json)
    _write_csvs(args, results)
    if args.plot is not None:
        with doing(f"writing the plots {str(args.plot)!r} and next to it"):
            from ..analysis.plots import write_sweep_figures

            write_sweep_figures([r.summary for r in results], args.plot)
    if args.json != "-" and not args.quiet:
        with doing("printing the tables"):
            console = tables.console(sys.stdout)
            title = f"sweep ({transport}), {len(shards)} result(s) merged"
            console.print(tables.summary_table(results, title=title, grid=True))
            _print_paths(console, args, history=None)
    return 0


def _check_network(args: argparse.Namespace, transport: str) -> None:
    """The network options against the transport, before running: one message per mistake,
    naming the transport (the same for sim and memory)."""
    if args.processes and transport != "webrtc":
        raise ParameterError(
            "--processes runs every storage peer and newcomer as its own 'rlnc-testbed node' "
            f"process joined over WebRTC: it needs the webrtc transport, and this run's "
            f"transport is {transport!r} (give --transport webrtc)"
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


def _check_workers(args: argparse.Namespace, transport: str) -> None:
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


def _warm_up(points: list[Params], transport: str, data: bytes | None) -> None:
    """Before the first timed trial, run the one-off warm-up untimed: numba compiling (or
    loading from its cache) the coding kernels, first imports and first calls. For memory and
    webrtc: one 3-peer, 1-round trial of each (scheme, field, systematic) over the same
    transport; for sim with data, one round in the reference simulator (the compiled simulator
    records no durations). So no round's duration (the rounds table's ms column, the
    histories' ``duration``) holds it. Best effort: a failed warm-up is logged and the run goes
    on (its own trials report any real failure)."""
    if transport == "sim" and data is None:
        return
    import asyncio

    log = logging.getLogger(__name__)
    seen = set()
    for p in points:
        key = (p.scheme, p.field, p.systematic)
        if key in seen:
            continue
        seen.add(key)
        tiny = Params(
            peers=3, symbols=2, symbol_size=8, redundancy=3.0, parents=2, rounds=1,
            scheme=p.scheme, field=p.field, keep=p.keep, systematic=p.systematic, seed=p.seed,
        )  # fmt: skip
        try:
            if transport == "sim":
                from ..simulation.reference import simulate_trial

                simulate_trial(tiny, 0)
            else:
                from ..experiment.cluster import run_trial

                asyncio.run(run_trial(tiny, 0, transport=transport))
        except Exception as exc:  # best effort, see above
            log.warning("warm-up trial over %s failed (the run goes on): %s", transport, exc)
            return


def _network_options(args: argparse.Namespace, scenario: Any = None) -> dict[str, Any]:
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


def _cmd_node(args: argparse.Namespace) -> int:
    """Serve one role; 1 (and one line on stderr) when the network fails: bad *input*
    (options, token, data file) raises and is the entry point's exit status 2."""
    import asyncio

    from ..experiment.standalone import read_token, run_node
    from ..signaling.client import SignalingError

    session = getattr(args, "pool", False) or getattr(args, "trials", None) is not None
    if getattr(args, "pool", False) and (args.role != "newcomer" or args.slot is not None):
        raise ParameterError("--pool is for a newcomer without --slot (the server assigns it)")
    if args.trials is not None and (args.slot is None or args.pool):
        raise ParameterError("--trials needs --slot (the slot rejoined in every trial)")
    token = read_token(args.token_file)
    data = args.data.read_bytes() if args.data is not None else None
    try:
        if session:
            from ..experiment.standalone import serve_trials

            nodes = asyncio.run(
                serve_trials(
                    args.server,
                    token=token,
                    role=args.role,
                    slot=args.slot,
                    pool=args.pool,
                    trials=None if args.trials in (None, "all") else args.trials,
                    interfaces=args.ice_interfaces,
                    data=data,
                    on_trial=lambda trial, total, node: print(
                        f"rlnc-testbed node: {node.role} {node.id}: trial {trial + 1} of {total} "
                        f"over ({node.stop_reason})",
                        file=sys.stderr,
                        flush=True,
                    ),
                )
            )
            logging.getLogger(__name__).info("node took part in %d trials", len(nodes))
            return 0
        node = asyncio.run(
            run_node(
                args.server,
                token=token,
                role=args.role,
                slot=args.slot,
                interfaces=args.ice_interfaces,
                data=data,
            )
        )
    except (SignalingError, OSError) as exc:  # OSError: TimeoutError, ConnectionError, ...
        detail = str(exc) or "no detail given"
        print(f"rlnc-testbed node: error: {type(exc).__name__}: {detail}", file=sys.stderr)
        return 1
    logging.getLogger(__name__).info("node %s stopped: %s", args.role, node.stop_reason)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    """``serve``: a session of the scenario's trials that external nodes join (printed lines
    on stdout, progress on stderr, then the run's tables); 1 when a node did not join."""
    import asyncio

    from ..experiment.serve import ServeSession, external_slots

    with doing(f"loading scenario {str(args.scenario)!r}"):
        scenario = load_scenario(args.scenario).with_params(trials=args.trials)
    if scenario.until_loss:
        raise ParameterError(
            f"{args.scenario} runs until loss (rounds = 0): serve runs a scenario of fixed "
            "rounds (run it with 'rlnc-testbed run', or set rounds = R)"
        )
    with doing(f"reading data file {str(scenario.data)!r}"):
        data = _read_data(scenario.data, scenario.params) if scenario.data is not None else None
    peers = external_slots(scenario.params, args.external_peers)
    if scenario.faults and (peers or args.external_newcomers):
        raise ParameterError(
            "serve runs no [[faults]] with external nodes (a node outside injects none)"
        )
    with doing("warming up the coding kernels"):
        _warm_up([scenario.params], "webrtc", data)
    label = f"{scenario.name} (webrtc, served)"
    started = now()

    async def session() -> PointResult:
        async with ServeSession(
            scenario.params,
            external_peers=peers,
            external_newcomers=args.external_newcomers,
            host=args.host,
            port=args.port,
            interfaces=args.ice_interfaces,
            token_dir=args.token_dir,
            wait=args.wait,
            data=data,
            faults=scenario.faults or None,
            progress=None if args.quiet else sys.stderr,
        ) as serve:
            print(f"signaling server: {serve.url}", flush=True)
            lines = serve.commands()
            if lines:
                print(
                    f"run each line below once, in its own terminal or on another host "
                    f"(tokens in {serve.token_dir}, mode 0600):",
                    flush=True,
                )
            for line in lines:
                print(line, flush=True)
            records = await serve.run()
        from ..analysis.summary import summarize

        return PointResult(
            params=scenario.params,
            transport="webrtc",
            trials=records,
            summary=summarize(scenario.params, records),
            name=scenario.name,
        )

    step = f"serving {scenario.params.trials} trials of {scenario.name!r}"
    with doing(step, passes=_RUNNING_INPUT_ERRORS):
        result = asyncio.run(session())
    origin = provenance(command=_command(args), started=started, ended=now())
    outputs = argparse.Namespace(**{**vars(args), "json": None, "plot": None})
    _outputs(outputs, result, scenario.params, label, origin=origin)
    return 0


def _read_data(path: Path, params: Params) -> bytes:
    data = path.read_bytes()
    capacity = params.symbols * params.symbol_size
    if len(data) > capacity:
        raise ParameterError(
            f"data file {path} has {len(data)} bytes; at most symbols * "
            f"symbol_size = {capacity} fit (set symbol_size >= "
            f"{-(-len(data) // params.symbols)} in the scenario, or more symbols)"
        )
    return data


def _check_outputs(args: argparse.Namespace) -> None:
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
    resume_with = "--history PATH" if args.command == "run" else "--history-dir DIR"
    history = getattr(args, "history" if args.command == "run" else "history_dir", None)
    for flag in ("resume", "overwrite"):
        if getattr(args, flag, False) and history is None:
            raise ParameterError(f"--{flag} needs {resume_with}")
    if args.plot is not None:
        if args.plot.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise ParameterError(
                f"--plot path must end in .png, .svg or .pdf; got {str(args.plot)!r}"
            )
        targets.append(args.plot)
    if args.command == "run" and args.history is not None:
        if args.history.is_dir():
            raise ParameterError(f"--history is a directory: {str(args.history)!r}")
        targets.append(args.history)
    history_dir = getattr(args, "history_dir", None)
    if history_dir is not None and history_dir.exists() and not history_dir.is_dir():
        raise ParameterError(f"--history-dir is not a directory: {str(history_dir)!r}")
    for target in targets:
        if not target.parent.is_dir():
            raise ParameterError(f"directory does not exist: {str(target.parent)!r}")


# -- sweep -----------------------------------------------------------------------------------


def _cmd_sweep(args: argparse.Namespace, run_sweep: RunSweep) -> int:
    base = Params()
    transport = args.transport or "sim"
    scenario = None
    if args.scenario is not None:
        with doing(f"loading scenario {str(args.scenario)!r}"):
            scenario = load_scenario(args.scenario)
        base = scenario.params
        transport = args.transport or scenario.transport
    cap = _until_loss(args, args.rounds, scenario.max_rounds_cap if scenario else None)
    _check_workers(args, transport)
    axes = {name: getattr(args, name) for name in SWEEP_AXES if getattr(args, name) is not None}
    if cap is not None:
        axes.pop("rounds", None)
        base = base.with_(rounds=cap)
    with doing("building the grid"):
        grid = expand_grid(base, axes)
        placement = _sweep_placement(args, scenario, transport, grid)
    if cap is not None:
        _sequential(args, cap)
        shard = _shard_of(args, {})
        _executor_of(args, cap, {})
        return _cmd_sweep_lifetime(args, grid, axes, transport, cap, shard, placement)
    sequential = _sequential(args, cap)
    shard = _shard_of(args, sequential)
    executor = _executor_of(args, cap, sequential)
    if placement is not None:
        if not isinstance(executor, nullcontext):
            raise ParameterError(
                f"--executor {args.executor} runs the chunks in other processes: browser pages "
                "and emulated hosts run only with the local executor"
            )
        run_sweep = functools.partial(_run_placed_sweep, placement=placement)
    short = [p for p in grid if sequential and p.trials > sequential["max_trials"]]
    if short:
        raise ParameterError(
            f"--max-trials {sequential['max_trials']} is below the first batch of "
            f"{len(short)} point(s) (trials = {short[0].trials})"
        )
    _check_outputs(args)
    collapsed = collapse(grid)
    points = collapsed.points
    if collapsed.dropped:
        _say(args, "note", collapsed.note())
    _warn_few_packets(args, points)
    _check_sweep_histories(args, points, transport)
    with doing("warming up the coding kernels"):
        _warm_up(points, transport, None)
    started = now()
    to_stdout = args.json == "-"
    total = sum(sequential["max_trials"] if sequential else p.trials for p in points)
    if shard is not None:
        total = sum(len(shard.select(range(p.trials))) for p in points)
    finished: list[int] = []

    def on_trial(record: TrialRecord) -> None:
        finished.append(record.trial)
        advance(1)

    step = f"running {len(points)} point{'s' * (len(points) != 1)} over {transport}"
    with (
        tables.progress(args.quiet, f"{len(points)} points ({transport})", total) as advance,
        doing(
            step,
            passes=_RUNNING_INPUT_ERRORS,
            hint=lambda: _progress_hint(len(finished), total, args.history_dir, "--history-dir"),
        ),
    ):
        extra: dict[str, Any] = {} if shard is None else {"shard": shard}
        with executor as running:
            if running is not None:
                extra["executor"] = running
            results = run_sweep(
                points,
                transport=transport,
                history_dir=args.history_dir,
                resume=args.resume,
                workers=1 if running is not None and running.name == "dask" else args.workers,
                on_trial=on_trial,
                overwrite=args.overwrite,
                command=_command(args),
                **sequential,
                **extra,
            )
    if args.json is not None:
        with doing(f"writing JSON to {args.json!r}" if args.json != "-" else "writing JSON"):
            payload = {
                "provenance": provenance(command=_command(args), started=started, ended=now()),
                "transport": transport,
                "axes": axes,
                "sequential": sequential or None,
                "collapsed": collapsed.note() or None,
                "points": [_sweep_point(r, records=args.trial_outcomes) for r in results],
            }
            if shard is not None:
                payload["shard"] = shard.to_json()
            _write_json(payload, args.json)
    _write_csvs(args, results)
    if args.plot is not None:
        with doing(f"writing the plots {str(args.plot)!r} and next to it"):
            from ..analysis.plots import write_sweep_figures

            figures = write_sweep_figures([r.summary for r in results], args.plot)
    if not (to_stdout or args.quiet):
        with doing("printing the tables"):
            console = tables.console(sys.stdout)
            title = f"sweep ({transport})" + (f" shard {shard}" if shard is not None else "")
            console.print(tables.summary_table(results, title=title, grid=True))
            if args.json is not None:
                console.print(f"JSON: {args.json}")
            if args.plot is not None:
                console.print(f"plots: {', '.join(map(str, figures))}")
            for label, path in (("CSV", args.csv), ("per-trial CSV", args.csv_trials)):
                if path is not None:
                    console.print(f"{label}: {path}")
            if args.history_dir is not None:
                console.print(f"histories: {args.history_dir}")
    return 0


def _sweep_placement(
    args: argparse.Namespace, scenario: Any, transport: str, points: list[Params]
) -> Callable[[Params], dict[str, Any]] | None:
    """Where a sweep's nodes run, per point: the browser slots (--browser-peers, else the
    --scenario's), browser newcomers and hosts, as run_point's ``network`` options; None when
    every node is an aiortc node on this host's loopback. Only for the webrtc transport, and
    every point must have the slots."""
    from ..browser.peers import browser_slots

    given = [
        option
        for option, value in (
            ("--browser-peers", args.browser_peers),
            ("--browser-newcomers", args.browser_newcomers),
            ("--hosts", args.hosts),
        )
        if value is not None
    ]
    peers = args.browser_peers
    if peers is None and scenario is not None:
        peers = scenario.browser_peers
    newcomers = args.browser_newcomers
    if newcomers is None:
        newcomers = scenario.browser_newcomers if scenario is not None else False
    hosts = args.hosts or (scenario.hosts if scenario is not None else "loopback")
    placed = bool(peers) or newcomers or hosts != "loopback"
    if not placed:
        return None
    if transport != "webrtc":
        which = (
            ", ".join(given) or f"{args.scenario}: its browser_peers, browser_newcomers or hosts"
        )
        raise ParameterError(
            f"{which}: only for the webrtc transport (Chromium pages and emulated hosts join "
            f"over WebRTC), and this sweep's transport is {transport!r} (give --transport "
            "webrtc)"
        )
    slots: dict[int, tuple[int, ...]] = {}
    for p in points:
        if p.peers not in slots:
            try:
                slots[p.peers] = browser_slots(peers, p.peers)
            except ParameterError as exc:
                raise ParameterError(f"the sweep's point with N = {p.peers}: {exc}") from None

    def placement(params: Params) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if slots[params.peers]:
            out["browser_peers"] = slots[params.peers]
        if newcomers:
            out["browser_newcomers"] = True
        if hosts != "loopback":
            out["hosts"] = hosts
        return out

    return placement


def _run_placed_sweep(
    points: list[Params],
    *,
    placement: Callable[[Params], dict[str, Any]],
    history_dir: Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    shard: Any = None,
    ci_width: float | None = None,
    max_trials: int | None = None,
    **options: Any,
) -> list[PointResult]:
    """:func:`~rlnc_testbed.experiment.runner.run_sweep` (the local executor) with each
    point's ``network`` placement; histories as there (points differing only in trials share
    one, the later ones resuming it)."""
    from ..experiment.runner import run_point, run_sequential

    results = []
    written: set[Path] = set()
    for params in points:
        history = None
        if history_dir is not None:
            history_dir.mkdir(parents=True, exist_ok=True)
            history = history_path(history_dir, params, shard)
        again = history in written
        if history is not None:
            written.add(history)
        chosen: dict[str, Any] = {
            **options,
            "history": history,
            "resume": resume or again,
            "overwrite": overwrite and not again,
            "network": placement(params),
        }
        if shard is not None:
            chosen["shard"] = shard
        if ci_width is not None:
            maximum = params.trials if max_trials is None else max_trials
            results.append(run_sequential(params, ci_width=ci_width, max_trials=maximum, **chosen))
        else:
            results.append(run_point(params, **chosen))
    return results


def _cmd_sweep_lifetime(
    args: argparse.Namespace,
    grid: list[Params],
    axes: dict[str, Any],
    transport: str,
    cap: int,
    shard: Any,
    placement: Callable[[Params], dict[str, Any]] | None,
) -> int:
    """``sweep --until-loss`` (or on a scenario run until loss): every point run until loss
    (or a shard of its trials); lifetime table, JSON, CSV, plots."""
    from ..analysis.lifetime import Lifetime

    _check_outputs(args)
    collapsed = collapse(grid)
    points = collapsed.points
    if collapsed.dropped:
        _say(args, "note", collapsed.note())
    _warn_few_packets(args, points)
    if args.history_dir is not None and transport == "sim":
        raise ParameterError(
            "--history-dir with --until-loss needs the memory or webrtc transport: the sim "
            "transport records no rounds of a run until loss"
        )
    _check_sweep_histories(args, points, transport)
    with doing("warming up the coding kernels"):
        _warm_up(points, transport, None)
    started = now()
    total = sum(_shard_trials(p, shard) for p in points)
    finished: list[int] = []

    def on_trial(life: Lifetime) -> None:
        finished.append(life.trial)
        advance(1)

    step = f"running {len(points)} point{'s' * (len(points) != 1)} until loss over {transport}"
    results = []
    with (
        tables.progress(
            args.quiet, f"{len(points)} points ({transport}, until loss)", total
        ) as advance,
        doing(
            step,
            passes=_RUNNING_INPUT_ERRORS,
            hint=lambda: _progress_hint(len(finished), total, args.history_dir, "--history-dir"),
        ),
    ):
        for params in points:
            history = None
            if args.history_dir is not None:
                args.history_dir.mkdir(parents=True, exist_ok=True)
                history = history_path(args.history_dir, params.with_(rounds=cap), shard)
            results.append(
                _run_until_loss(
                    params,
                    cap=cap,
                    shard=shard,
                    transport=transport,
                    on_trial=on_trial,
                    workers=args.workers,
                    network=placement(params) if placement is not None else None,
                    history=history,
                    resume=args.resume,
                    overwrite=args.overwrite,
                    command=_command(args),
                )
            )
    origin = provenance(command=_command(args), started=started, ended=now())
    sweep: dict[str, Any] = {
        "transport": transport,
        "until_loss": True,
        "max_rounds_cap": cap,
        "axes": axes,
        "collapsed": collapsed.note() or None,
    }
    if shard is not None:
        sweep["shard"] = shard.to_json()
    title = f"sweep until loss ({transport}, cap {cap} rounds)"
    if shard is not None:
        title += f" shard {shard}"
    _lifetime_outputs(args, results, origin=origin, title=title, sweep=sweep)
    return 0


def _sweep_point(result: PointResult, *, records: bool = False) -> dict[str, Any]:
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


def _executor_of(args: argparse.Namespace, cap: int | None, sequential: dict[str, Any]) -> Any:
    """A context manager giving the executor of ``--executor`` (None for the default local
    run, point after point), refused where chunks cannot run apart."""
    from contextlib import nullcontext

    from ..experiment.executors import make_executor

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


def _check_sweep_histories(args: argparse.Namespace, points: list[Params], transport: str) -> None:
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
        _say(
            args,
            "warning",
            f"{str(args.history_dir)!r} holds point-NNNN.jsonl histories of an older sweep: they "
            "are not resumed (histories are now named by their parameters)",
        )


# -- output ----------------------------------------------------------------------------------


def _write_csvs(args: argparse.Namespace, results: list[Any]) -> None:
    from ..analysis.export import write_points_csv, write_trials_csv

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


def _write_json(payload: dict[str, Any], target: str) -> None:
    text = json.dumps(payload, indent=2)
    if target == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        Path(target).write_text(text + "\n", encoding="utf-8")
