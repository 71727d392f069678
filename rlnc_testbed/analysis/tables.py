"""What the CLI shows a person: rich progress bars and result tables.

Tables take result objects (:class:`~rlnc_testbed.protocol.records.TrialRecord`,
:class:`~rlnc_testbed.analysis.summary.PointResult`) and return rich renderables; rich is
imported only when something is drawn. Trials that stopped without judging a round (unjudged:
no rounds, e.g. ``setup-timeout``) get a row of their own in the rounds table, a count per
reason in the summary table's ``unjudged`` column, and :func:`unjudged_table` lists them with
their error text.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from ..protocol.params import Params
from ..protocol.records import TrialRecord
from .lifetime import LifetimeResult
from .points import varying_fields
from .summary import PointResult

#: Grid columns shown only when their parameter varies among the points (heading, field).
_EXTRA_GRID_COLUMNS = (("size", "symbol_size"), ("systematic", "systematic"), ("seed", "seed"))

__all__ = [
    "console",
    "design_table",
    "lifetime_table",
    "links_table",
    "progress",
    "rounds_table",
    "summary_table",
    "unjudged_table",
]


def console(file: IO[str]) -> Any:
    from rich.console import Console

    return Console(file=file, width=None if file.isatty() else 200, soft_wrap=False)


@contextmanager
def progress(quiet: bool, label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (off with --quiet or when stderr is not a terminal)."""
    if quiet or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=sys.stderr), transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def rounds_table(trials: Sequence[TrialRecord], params: Params | None = None) -> Any:
    """One row per round of every trial, and one for each unjudged trial after its rounds
    (verdict: the reason, marked ``unjudged``); the title names the point when ``params`` is
    given."""
    from rich.table import Table

    title = "rounds"
    if params is not None:
        title += (
            f": N={params.peers} peers, k={params.symbols}, Q={params.per_peer} per peer, "
            f"P={params.parents}, {params.scheme}, GF({params.field})"
        )
    table = Table(title=title)
    for column in (
        "trial",
        "round",
        "failed",
        "newcomer",
        "parents",
        "repair pkts",
        "collect pkts",
        "newcomer rank",
        "global rank",
        "decoded",
        "verified",
        "verdict",
        "ms",
    ):
        table.add_column(column, justify="right" if column != "verdict" else "left")
    for trial in trials:
        for rnd in trial.rounds:
            table.add_row(
                str(trial.trial),
                str(rnd.round),
                str(rnd.failed),
                str(rnd.newcomer),
                ",".join(map(str, rnd.parents)),
                str(rnd.repair_packets),
                str(rnd.collect_packets),
                str(rnd.newcomer_rank),
                str(rnd.global_rank),
                _yes(rnd.decoded),
                _yes(rnd.verified),
                rnd.verdict,
                f"{rnd.duration * 1e3:.0f}" if rnd.duration else "-",
            )
        if trial.unjudged:
            dashes = ["-"] * 9
            table.add_row(str(trial.trial), "-", *dashes, f"{trial.unjudged} (unjudged)", "-")
    return table


def unjudged_table(trials: Sequence[TrialRecord], *, limit: int = 20) -> Any:
    """The trials that stopped without judging a round (at most ``limit`` rows, then a count of
    the rest): why, how many rounds they verified first, and the error text."""
    from rich.table import Table

    unjudged = [t for t in trials if t.unjudged]
    table = Table(title=f"unjudged trials ({len(unjudged)}: counted as failures, not as rounds)")
    for column in ("trial", "reason", "rounds verified", "error"):
        table.add_column(column, justify="right" if column != "error" else "left")
    for trial in unjudged[:limit]:
        table.add_row(str(trial.trial), trial.unjudged, str(trial.survived_rounds), trial.error)
    if len(unjudged) > limit:
        table.add_row("...", f"{len(unjudged) - limit} more", "", "")
    return table


def summary_table(results: Sequence[PointResult], *, title: str, grid: bool = False) -> Any:
    """One row per point; with ``grid``, its parameters first (symbol size, systematic and seed
    only when they vary among the points; trials show in successes/trials); a ``stopped on``
    column (precision or cap) when points ran with sequential stopping."""
    from rich.table import Table

    table = Table(title=title)
    varying = varying_fields([r.params for r in results])
    extra = [(head, name) for head, name in _EXTRA_GRID_COLUMNS if name in varying]
    if grid:
        for column in ("scheme", "GF", "keep", "r", "Q", "P", "beta", "N", "k", "R"):
            table.add_column(column, justify="left" if column in ("scheme", "keep") else "right")
        for column, _ in extra:
            table.add_column(column, justify="right")
    sequential = any(r.stopping is not None for r in results)
    for column in (
        "successes/trials",
        "success rate",
        "95% CI (Wilson)",
        "survival",
        "repair B/round",
        "unjudged",
        *(("stopped on",) if sequential else ()),
    ):
        table.add_column(column, justify="right", no_wrap=True)
    for result in results:
        s = result.summary
        row = [
            f"{s.successes}/{s.trials}",
            f"{s.success_rate:.3f}",
            f"[{s.ci95[0]:.3f}, {s.ci95[1]:.3f}]",
            _survival(s.survival),
            f"{s.repair_bytes_per_round:.0f}",
            ", ".join(f"{reason} {count}" for reason, count in s.unjudged) or "-",
        ]
        if sequential:
            row.append(result.stopping.reason if result.stopping is not None else "-")
        if grid:
            row = [
                s.scheme,
                str(s.field),
                s.keep,
                f"{s.redundancy:g}",
                str(s.q),
                str(s.parents),
                str(s.beta),
                str(s.peers),
                str(s.symbols),
                str(s.rounds),
                *(str(getattr(result.params, name)) for _, name in extra),
                *row,
            ]
        table.add_row(*row)
    return table


def design_table(design: Any) -> Any:
    """The evidence of a target search (:class:`~rlnc_testbed.analysis.design.Design`): one
    row per value, in order, with the probe's trials, successes, bounds and decision (values
    not probed show '-')."""
    from rich.table import Table

    confidence = f"{design.confidence:.0%}"
    table = Table(
        title=f"design: smallest {design.vary} with success over {design.rounds} rounds >= "
        f"{design.target:g} ({confidence} one-sided Wilson bounds)"
    )
    for column in (design.vary, "probed", "trials", "successes", "rate",
                   f"{confidence} lower", f"{confidence} upper", "decision"):  # fmt: skip
        table.add_column(column, justify="left" if column == "decision" else "right")
    probes = {p.value: p for p in design.probes}
    for value in design.values:
        probe = probes.get(value)
        mark = " <- answer" if value == design.answer else ""
        if probe is None:
            table.add_row(f"{value:g}", "-", "-", "-", "-", "-", "-", "not probed")
            continue
        table.add_row(
            f"{value:g}",
            str(probe.order + 1),
            str(probe.trials),
            str(probe.successes),
            f"{probe.rate:.4f}",
            f"{probe.lower:.4f}",
            f"{probe.upper:.4f}",
            probe.decision + mark,
        )
    return table


def lifetime_table(results: Sequence[LifetimeResult], *, title: str, grid: bool = False) -> Any:
    """One row per point run until loss: lost and censored trials, Kaplan-Meier mean and median
    rounds survived with 95% intervals ('>=' marks a mean restricted to the cap, '>cap' a bound
    beyond it); with ``grid``, the point's parameters first."""
    from rich.table import Table

    table = Table(title=title)
    varying = varying_fields([r.params for r in results])
    extra = [(head, name) for head, name in _EXTRA_GRID_COLUMNS if name in varying]
    if grid:
        for column in ("scheme", "GF", "keep", "r", "Q", "P", "beta", "N", "k"):
            table.add_column(column, justify="left" if column in ("scheme", "keep") else "right")
        for column, _ in extra:
            table.add_column(column, justify="right")
    for column in (
        "trials",
        "lost",
        "censored (cap)",
        "mean lifetime",
        "95% CI",
        "median",
        "95% CI ",
        "unjudged",
    ):
        table.add_column(column, justify="right", no_wrap=True)
    for result in results:
        m = result.summary
        cap = f">{m.cap}"
        median_lo, median_hi = m.median_ci95
        row = [
            str(m.trials),
            str(m.lost),
            f"{m.censored} ({m.cap})",
            f"{'>=' if m.mean_restricted else ''}{m.mean:.1f}",
            f"[{m.mean_ci95[0]:.1f}, {m.mean_ci95[1]:.1f}]",
            str(m.median) if m.median is not None else cap,
            f"[{median_lo if median_lo is not None else cap}, "
            f"{median_hi if median_hi is not None else cap}]",
            ", ".join(f"{reason} {count}" for reason, count in m.unjudged) or "-",
        ]
        if grid:
            row = [
                m.scheme,
                str(m.field),
                m.keep,
                f"{m.redundancy:g}",
                str(m.q),
                str(m.parents),
                str(m.beta),
                str(m.peers),
                str(m.symbols),
                *(str(getattr(result.params, name)) for _, name in extra),
                *row,
            ]
        table.add_row(*row)
    return table


def _survival(survival: Sequence[float]) -> str:
    shown = " ".join(f"{v:.2f}" for v in survival[:10])
    return shown + (" ..." if len(survival) > 10 else "")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def links_table(trial: TrialRecord) -> Any:
    """What crossed each data channel in each round of ``trial``, with the ICE pair it used."""
    from rich.table import Table

    table = Table(title=f"links of trial {trial.trial} (data direction, ICE candidate pair)")
    for column in ("round", "from", "to", "label", "messages", "bytes", "ICE pair"):
        table.add_column(column, justify="right" if column in ("messages", "bytes") else "left")
    for rnd in trial.rounds:
        for link in rnd.links:
            sending = link["bytes_sent"] >= link["bytes_received"]
            source, target = (
                (link["local"], link["remote"]) if sending else (link["remote"], link["local"])
            )
            messages = link["messages_sent"] if sending else link["messages_received"]
            size = link["bytes_sent"] if sending else link["bytes_received"]
            table.add_row(
                str(rnd.round),
                source,
                target,
                link["label"],
                str(messages),
                str(size),
                _ice_pair(link.get("info", {})),
            )
    return table


def _ice_pair(info: dict[str, Any]) -> str:
    if "local_address" not in info:
        return "- (in-process channel)"
    return (
        f"{info['local_address']}:{info['local_port']} <-> "
        f"{info['remote_address']}:{info['remote_port']} "
        f"({info.get('local_type', '?')}/{info.get('protocol', '?')})"
    )
