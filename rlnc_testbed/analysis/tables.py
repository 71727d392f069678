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
from .points import IGNORED_BY_SCHEME as _IGNORED
from .summary import PointResult

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


class _Fitted:
    """A table that fits the console: built with full headings if it fits, else with short
    headings, then with lighter borders and no padding; every column folds rather than being
    cut to an ellipsis and keeps room for its heading's longest word. ``caption`` and
    ``title`` pass through to the table drawn."""

    def __init__(self, build: Callable[[int], Any]) -> None:
        self._build = build
        self.caption: str | None = None
        self.title: str | None = None

    def table(self, level: int) -> Any:
        table = self._build(level)
        if self.caption is not None:
            table.caption = self.caption
        if self.title is not None:
            table.title = self.title
        return table

    def _fitting(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        for level in range(_LEVELS):
            table = self.table(level)
            wide = options.update_width(100_000)  # the table's natural width, unclamped
            if Measurement.get(console, wide, table).maximum <= options.max_width:
                return table
        return table

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield self._fitting(console, options)

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        return Measurement.get(console, options, self._fitting(console, options))


#: 0: full headings; 1: short headings; 2: no outer edge, collapsed padding; 3: no padding.
_LEVELS = 4


def _table(title: str, level: int, columns: Sequence[tuple[str, str, str]]) -> Any:
    """A rich Table for ``level`` with ``columns`` as (full heading, short heading, justify)."""
    from rich import box
    from rich.table import Table

    options: dict[str, Any] = {"title": title}
    if level >= 2:
        options.update(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True,
                       pad_edge=False)  # fmt: skip
    if level >= 3:
        options.update(padding=(0, 0))
    table = Table(**options)
    for full, short, justify in columns:
        heading = full if level == 0 else short
        word = max(len(w) for w in heading.split()) if heading.strip() else 1
        table.add_column(heading, justify=justify, overflow="fold",  # type: ignore[arg-type]
                         min_width=max(1, word))  # fmt: skip
    return table


def _sparkline(values: Sequence[float], *, width: int = 10) -> str:
    """One block per round (``width`` evenly spaced checkpoints for longer runs), from ``_``
    (0) to a full block (1), then the last value: ``████▇▆▅▃▂_ 0.03``."""
    if not values:
        return "-"
    if len(values) > width:
        picks = [values[-(-(i + 1) * len(values) // width) - 1] for i in range(width)]
    else:
        picks = list(values)
    blocks = "".join(_BLOCKS[round(min(max(v, 0.0), 1.0) * 8)] for v in picks)
    return f"{blocks} {values[-1]:.2f}"


_BLOCKS = "_▁▂▃▄▅▆▇█"


def _survival_caption(rounds: Sequence[int]) -> str:
    longest = max(rounds, default=0)
    every = "round" if longest <= 10 else f"{longest / 10:g} rounds (10 checkpoints)"
    return f"survival: fraction still retrievable, a block per {every} (_ 0 .. █ 1), then at R"


def rounds_table(trials: Sequence[TrialRecord], params: Params | None = None) -> Any:
    """One row per round of every trial, and one for each unjudged trial after its rounds
    (verdict: the reason, marked ``unjudged``); the title names the point when ``params`` is
    given. Fits the console (short headings and lighter borders when narrow)."""
    title = "rounds"
    if params is not None:
        title += (
            f": N={params.peers} peers, k={params.symbols}, Q={params.per_peer} per peer, "
            f"P={params.parents}, {params.scheme}"
        )
        if "field" not in _IGNORED.get(params.scheme, ()):
            title += f", GF({params.field})"
    columns = [("trial", "tr", "right"), ("round", "rd", "right"), ("failed", "fail", "right"),
               ("newcomer", "new", "right"), ("parents", "parents", "right"),
               ("repair pkts", "rep", "right"), ("collect pkts", "coll", "right"),
               ("newcomer rank", "new rk", "right"), ("global rank", "rank", "right"),
               ("decoded", "dec", "right"), ("verified", "ver", "right"),
               ("verdict", "verdict", "left"), ("ms", "ms", "right")]  # fmt: skip

    def build(level: int) -> Any:
        table = _table(title, level, columns)
        yes = _yes if level == 0 else (lambda flag: "y" if flag else "n")
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
                    yes(rnd.decoded),
                    yes(rnd.verified),
                    rnd.verdict,
                    f"{rnd.duration * 1e3:.0f}" if rnd.duration else "-",
                )
            if trial.unjudged:
                dashes = ["-"] * 9
                table.add_row(str(trial.trial), "-", *dashes, f"{trial.unjudged} (unjudged)", "-")
        return table

    return _Fitted(build)


def unjudged_table(trials: Sequence[TrialRecord], *, limit: int = 20) -> Any:
    """The trials that stopped without judging a round (at most ``limit`` rows, then a count of
    the rest): why, how many rounds they verified first, and the error text."""
    unjudged = [t for t in trials if t.unjudged]
    title = f"unjudged trials ({len(unjudged)}: counted as failures, not as rounds)"
    columns = [("trial", "trial", "right"), ("reason", "reason", "right"),
               ("rounds verified", "verified", "right"), ("error", "error", "left")]  # fmt: skip

    def build(level: int) -> Any:
        table = _table(title, level, columns)
        for trial in unjudged[:limit]:
            table.add_row(str(trial.trial), trial.unjudged, str(trial.survived_rounds),
                          trial.error)  # fmt: skip
        if len(unjudged) > limit:
            table.add_row("...", f"{len(unjudged) - limit} more", "", "")
        return table

    return _Fitted(build)


#: Grid parameter columns: (full heading, short heading, field of the summary or params).
_GRID_COLUMNS = (
    ("GF", "GF", "field"),
    ("keep", "keep", "keep"),
    ("r", "r", "redundancy"),
    ("Q", "Q", "q"),
    ("P", "P", "parents"),
    ("beta", "β", "beta"),
    ("N", "N", "peers"),
    ("k", "k", "symbols"),
    ("R", "R", "rounds"),
    ("size", "size", "symbol_size"),
    ("systematic", "sys", "systematic"),
    ("seed", "seed", "seed"),
)


def _grid_parameters(
    results: Sequence[Any], *, skip: tuple[str, ...] = ()
) -> tuple[list[tuple[str, str, str]], str]:
    """The grid columns whose values vary among ``results`` (the scheme always), and the
    constant settings for the title (a field only some schemes use says which)."""

    def value(result: Any, name: str) -> Any:
        summary = result.summary
        return getattr(summary, name) if hasattr(summary, name) else getattr(result.params, name)

    varying, constant = [], []
    schemes = sorted({r.summary.scheme for r in results})
    for full, short, name in _GRID_COLUMNS:
        if name in skip:
            continue
        users = [r for r in results if name not in _IGNORED.get(r.summary.scheme, ())]
        values = {repr(value(r, name)) for r in users}
        if len(values) > 1:
            varying.append((full, short, name))
        elif users:
            shown = value(users[0], name)
            if name == "systematic" and not shown:
                continue
            number = f"{shown:g}" if isinstance(shown, float) else str(shown)
            text = {"field": f"GF({number})", "symbol_size": f"symbol {number} B",
                    "systematic": "systematic"}.get(name, f"{full}={number}")  # fmt: skip
            who = sorted({r.summary.scheme for r in users})
            if len(who) < len(schemes):
                text += f" ({', '.join(who)})"
            constant.append(text)
    return varying, ", ".join(constant)


def _cell(result: Any, name: str) -> str:
    summary = result.summary
    value = getattr(summary, name) if hasattr(summary, name) else getattr(result.params, name)
    if name in _IGNORED.get(summary.scheme, ()):
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def summary_table(results: Sequence[PointResult], *, title: str, grid: bool = False) -> Any:
    """One row per point; with ``grid``, its scheme and the parameters that vary among the
    points first (the constant ones join the title; a parameter the row's scheme ignores shows
    '-'); trials show in successes/trials; the survival curve as a sparkline; an ``unjudged``
    column when a trial was, a ``stopped on`` column (precision or cap) when points ran with
    sequential stopping. Fits the console (short headings and lighter borders when narrow)."""
    sequential = any(r.stopping is not None for r in results)
    unjudged = any(r.summary.unjudged for r in results)
    parameters, constant = _grid_parameters(results) if grid else ([], "")
    heading = f"{title}: {constant}" if constant else title
    columns = [("scheme", "scheme", "left")] if grid else []
    columns += [(full, short, "left" if name == "keep" else "right")
                for full, short, name in parameters]  # fmt: skip
    columns += [("successes/trials", "ok/T", "right"), ("success rate", "rate", "right"),
                ("95% CI (Wilson)", "95% CI", "right"), ("survival", "survival", "left"),
                ("repair B/round", "repair B", "right")]  # fmt: skip
    if unjudged:
        columns.append(("unjudged", "unjudged", "right"))
    if sequential:
        columns.append(("stopped on", "stop", "right"))

    def build(level: int) -> Any:
        table = _table(heading, level, columns)
        table.caption = _survival_caption([r.summary.rounds for r in results])
        for result in results:
            s = result.summary
            low, high = s.ci95
            row = [s.scheme] if grid else []
            row += [_cell(result, name) for _, _, name in parameters]
            row += [
                f"{s.successes}/{s.trials}",
                f"{s.success_rate:.3f}",
                f"[{low:.3f}, {high:.3f}]" if level == 0 else f"{low:.3f}-{high:.3f}",
                _sparkline(s.survival),
                f"{s.repair_bytes_per_round:.0f}",
            ]
            if unjudged:
                row.append(", ".join(f"{reason} {count}" for reason, count in s.unjudged) or "-")
            if sequential:
                row.append(result.stopping.reason if result.stopping is not None else "-")
            table.add_row(*row)
        return table

    return _Fitted(build)


def design_table(design: Any) -> Any:
    """The evidence of a target search (:class:`~rlnc_testbed.analysis.design.Design`): one
    row per value, in order, with the probe's trials, successes, bounds and decision (values
    not probed show '-')."""
    confidence = f"{design.confidence:.0%}"
    title = (f"design: smallest {design.vary} with success over {design.rounds} rounds >= "
             f"{design.target:g} ({confidence} one-sided Wilson bounds)")  # fmt: skip
    columns = [(design.vary, design.vary, "right"), ("probed", "#", "right"),
               ("trials", "trials", "right"), ("successes", "ok", "right"),
               ("rate", "rate", "right"), (f"{confidence} lower", "lower", "right"),
               (f"{confidence} upper", "upper", "right"),
               ("decision", "decision", "left")]  # fmt: skip
    probes = {p.value: p for p in design.probes}

    def build(level: int) -> Any:
        table = _table(title, level, columns)
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

    return _Fitted(build)


def lifetime_table(results: Sequence[LifetimeResult], *, title: str, grid: bool = False) -> Any:
    """One row per point run until loss: lost and censored trials, Kaplan-Meier mean and median
    rounds survived with 95% intervals ('>=' marks a mean restricted to the cap, '>cap' a bound
    beyond it); with ``grid``, the scheme and the parameters that vary first (the constant ones
    join the title). Fits the console."""
    parameters, constant = _grid_parameters(results, skip=("rounds",)) if grid else ([], "")
    heading = f"{title}: {constant}" if constant else title
    unjudged = any(r.summary.unjudged for r in results)
    columns = [("scheme", "scheme", "left")] if grid else []
    columns += [(full, short, "left" if name == "keep" else "right")
                for full, short, name in parameters]  # fmt: skip
    columns += [("trials", "T", "right"), ("lost", "lost", "right"),
                ("censored (cap)", "cens", "right"), ("mean lifetime", "mean", "right"),
                ("95% CI", "95% CI", "right"), ("median", "median", "right"),
                ("95% CI ", "95% CI ", "right")]  # fmt: skip
    if unjudged or not grid:
        columns.append(("unjudged", "unjudged", "right"))

    def build(level: int) -> Any:
        table = _table(heading, level, columns)
        for result in results:
            m = result.summary
            cap = f">{m.cap}"
            median_lo, median_hi = m.median_ci95
            row = [m.scheme] if grid else []
            row += [_cell(result, name) for _, _, name in parameters]
            row += [
                str(m.trials),
                str(m.lost),
                f"{m.censored} ({m.cap})" if level == 0 else str(m.censored),
                f"{'>=' if m.mean_restricted else ''}{m.mean:.1f}",
                f"[{m.mean_ci95[0]:.1f}, {m.mean_ci95[1]:.1f}]",
                str(m.median) if m.median is not None else cap,
                f"[{median_lo if median_lo is not None else cap}, "
                f"{median_hi if median_hi is not None else cap}]",
            ]
            if unjudged or not grid:
                row.append(", ".join(f"{reason} {count}" for reason, count in m.unjudged) or "-")
            table.add_row(*row)
        return table

    return _Fitted(build)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def links_table(trial: TrialRecord) -> Any:
    """What crossed each data channel in each round of ``trial``, with the ICE pair it used."""
    title = f"links of trial {trial.trial} (data direction, ICE candidate pair)"
    columns = [("round", "rd", "left"), ("from", "from", "left"), ("to", "to", "left"),
               ("label", "label", "left"), ("messages", "msgs", "right"),
               ("bytes", "bytes", "right"), ("ICE pair", "ICE pair", "left")]  # fmt: skip

    def build(level: int) -> Any:
        table = _table(title, level, columns)
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

    return _Fitted(build)


def _ice_pair(info: dict[str, Any]) -> str:
    if "local_address" not in info:
        return "- (in-process channel)"
    return (
        f"{info['local_address']}:{info['local_port']} <-> "
        f"{info['remote_address']}:{info['remote_port']} "
        f"({info.get('local_type', '?')}/{info.get('protocol', '?')})"
    )
