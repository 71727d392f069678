"""Figures of experiment points: survival curves, success vs parents, success vs traffic,
lifetime until loss, and storage vs repair traffic next to the cut-set bound.

Every figure is laid out the same way (small multiples): a row per scheme, a column per
combination of the parameters that vary but are neither on the x axis nor the colour; the
colour is one varying parameter (redundancy first), keyed by a discrete colourbar (6 or more
values) or a legend, both beside the panels, never over them. The suptitle names every
parameter that is the same for all points and meaningful for every scheme shown; a row's title
adds the constant parameters only some schemes use (``GF`` for coded-copy and rlnc, not for
replication; ``keep`` not for rlnc: :data:`~rlnc_testbed.analysis.points.IGNORED_BY_SCHEME`).

``*_figure`` functions return a :class:`~matplotlib.figure.Figure` on its own Agg canvas
(draw or inspect it inside :func:`~rlnc_testbed.analysis.style.styled`); ``plot_*`` functions
draw and write PNG, SVG or PDF by the path's extension. matplotlib is imported only when a
figure is made, pyplot never, and no figure outlives a ``plot_*`` call.
"""

from __future__ import annotations

import itertools
import math
import os
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlnc_testbed.analysis import bounds, style
from rlnc_testbed.analysis.lifetime import LifetimeSummary
from rlnc_testbed.analysis.points import IGNORED_BY_SCHEME
from rlnc_testbed.analysis.stats import wilson_interval
from rlnc_testbed.analysis.summary import PointSummary
from rlnc_testbed.protocol.params import SCHEMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PlotError",
    "lifetime_survival_figure",
    "mean_lifetime_figure",
    "plot_lifetime_survival",
    "plot_mean_lifetime",
    "plot_success_vs_parents",
    "plot_survival",
    "plot_tradeoff",
    "plot_traffic_vs_success",
    "success_vs_parents_figure",
    "survival_figure",
    "tradeoff_figure",
    "traffic_figure",
    "write_lifetime_figures",
    "write_sweep_figures",
]

#: Fields that tell points apart; the others in the label only when they vary.
_PRIMARY = (
    "scheme",
    "field",
    "keep",
    "redundancy",
    "peers",
    "symbols",
    "rounds",
    "parents",
    "symbol_size",
    "systematic",
    "seed",
    "trials",
)
_DERIVED = ("q", "beta")
_SHORT = {
    "field": "GF",
    "keep": "keep",
    "redundancy": "r",
    "peers": "N",
    "symbols": "k",
    "rounds": "R",
    "parents": "P",
    "q": "Q",
    "beta": "β",
    "symbol_size": "size",
    "systematic": "systematic",
    "seed": "seed",
    "trials": "T",
}
_NAMES = {
    "redundancy": "redundancy r",
    "parents": "parents P",
    "q": "packets per peer Q",
    "beta": "upload per parent β",
    "peers": "peers N",
    "symbols": "symbols k",
    "rounds": "rounds R",
    "symbol_size": "symbol size (bytes)",
    "field": "field GF(q)",
    "trials": "trials T",
}
#: Which varying parameter gets the colour (the first that varies).
_COLOUR_ORDER = (
    "redundancy", "q", "beta", "parents", "peers", "symbols", "rounds",
    "symbol_size", "field", "keep", "systematic", "seed", "trials", "scheme",
)  # fmt: skip
#: The most panels in one row of a scheme before they wrap.
_MAX_COLUMNS = 9
#: Curves in a panel up to which each gets its 95% band.
_MAX_BANDS = 4
_SCHEME_COLOURS = {"replication": "C0", "coded-copy": "C1", "rlnc": "C2"}


class PlotError(ValueError):
    """Raised for input that cannot be plotted; the message says what is wrong."""


# -- the public figures ------------------------------------------------------------------------


def plot_survival(summaries: Sequence[PointSummary], path: str | os.PathLike[str]) -> Path:
    """Write :func:`survival_figure` to ``path`` (.png, .svg or .pdf)."""
    return _plot(survival_figure, summaries, path)


def plot_success_vs_parents(
    summaries: Sequence[PointSummary], path: str | os.PathLike[str]
) -> Path:
    """Write :func:`success_vs_parents_figure` to ``path`` (.png, .svg or .pdf)."""
    return _plot(success_vs_parents_figure, summaries, path)


def plot_traffic_vs_success(
    summaries: Sequence[PointSummary], path: str | os.PathLike[str]
) -> Path:
    """Write :func:`traffic_figure` to ``path`` (.png, .svg or .pdf)."""
    return _plot(traffic_figure, summaries, path)


def plot_tradeoff(summaries: Sequence[PointSummary], path: str | os.PathLike[str]) -> Path:
    """Write :func:`tradeoff_figure` to ``path`` (.png, .svg or .pdf)."""
    return _plot(tradeoff_figure, summaries, path)


def plot_lifetime_survival(
    summaries: Sequence[LifetimeSummary], path: str | os.PathLike[str]
) -> Path:
    """Write :func:`lifetime_survival_figure` to ``path`` (.png, .svg or .pdf)."""
    return _plot(lifetime_survival_figure, summaries, path, kind=LifetimeSummary)


def plot_mean_lifetime(
    summaries: Sequence[LifetimeSummary],
    path: str | os.PathLike[str],
    *,
    x: str | None = None,
) -> Path:
    """Write :func:`mean_lifetime_figure` to ``path`` (.png, .svg or .pdf)."""
    return _plot(lambda p: mean_lifetime_figure(p, x=x), summaries, path, kind=LifetimeSummary)


def write_sweep_figures(
    summaries: Sequence[PointSummary], path: str | os.PathLike[str]
) -> list[Path]:
    """A sweep's figures, in the format of ``path``'s extension: success vs P at ``path``, and
    next to it (``path``'s stem + ``-survival``, ``-traffic``, and ``-tradeoff`` when P or
    beta varies) survival per round, success vs traffic and storage vs repair traffic."""
    target = Path(path)
    written = [plot_success_vs_parents(summaries, target)]
    sibling = lambda name: target.with_name(f"{target.stem}-{name}{target.suffix}")  # noqa: E731
    written.append(plot_survival(summaries, sibling("survival")))
    written.append(plot_traffic_vs_success(summaries, sibling("traffic")))
    if draws_tradeoff(summaries):
        written.append(plot_tradeoff(summaries, sibling("tradeoff")))
    return written


def draws_tradeoff(summaries: Sequence[PointSummary]) -> bool:
    """Whether a sweep gets the storage vs repair bandwidth figure: when P or beta varies."""
    points = _points(summaries)
    return any(len({getattr(p, n) for p in points}) > 1 for n in ("parents", "beta"))


def write_lifetime_figures(
    summaries: Sequence[LifetimeSummary], path: str | os.PathLike[str]
) -> list[Path]:
    """A sweep until loss's figures: mean lifetime at ``path``, the Kaplan-Meier curves next to
    it (``path``'s stem + ``-survival``, same extension)."""
    target = Path(path)
    survival = target.with_name(f"{target.stem}-survival{target.suffix}")
    return [plot_mean_lifetime(summaries, target), plot_lifetime_survival(summaries, survival)]


def survival_figure(summaries: Sequence[PointSummary]) -> Figure:
    """Fraction of trials still retrievable after each round: a curve per point, coloured by
    one varying parameter, in small multiples (see the module text); each curve has its 95%
    Wilson band when a panel has at most four."""
    points = _points(summaries)
    plan = _plan(points, exclude=())
    with style.styled():
        grid = _Grid(plan, "Survival per round", xlabel="round",
                     ylabel="fraction of trials still retrievable")  # fmt: skip
        for (scheme, column), ax in grid.panels.items():
            mine = grid.members(scheme, column)
            bands = len(mine) <= _MAX_BANDS
            for point in mine:
                colour = plan.colour_of(point)
                xs = list(range(1, point.rounds + 1))
                ax.plot(xs, point.survival, color=colour,
                        marker="o" if bands and point.rounds <= 30 else None,
                        label=_label(point, plan.varying))  # fmt: skip
                if bands:
                    low, high = zip(*(wilson_interval(round(s * point.trials), point.trials)
                                      for s in point.survival), strict=True)  # fmt: skip
                    ax.fill_between(xs, low, high, color=colour, alpha=0.15, linewidth=0)
            _unit_y(ax)
            _integer_x(ax, compact=grid.compact)
        grid.finish(note="95% Wilson bands" if grid.max_members <= _MAX_BANDS else "")
    return grid.fig


def success_vs_parents_figure(summaries: Sequence[PointSummary]) -> Figure:
    """Success rate (all R rounds) vs parents P with 95% Wilson intervals: a line per value of
    the colour parameter, its error bars shifted sideways so they do not hide each other."""
    points = _points(summaries)
    plan = _plan(points, exclude=("parents",))
    with style.styled():
        grid = _Grid(plan, "Success rate vs number of parents", xlabel="parents P",
                     ylabel="success rate over all R rounds (95% CI)")  # fmt: skip
        spacing = _spacing([p.parents for p in points])
        for (scheme, column), ax in grid.panels.items():
            lines = grid.lines(scheme, column, x="parents")
            width = min(0.6 * spacing / max(len(lines), 1), 0.15 * spacing)
            for index, line in enumerate(lines):
                shift = (index - (len(lines) - 1) / 2) * width
                _errorbar(ax, [p.parents + shift for p in line], line, plan.colour_of(line[0]),
                          label=_label(line[0], plan.varying))  # fmt: skip
            _unit_y(ax)
            _integer_x(ax, compact=grid.compact)
        grid.finish(note="95% Wilson intervals, shifted sideways per line")
    return grid.fig


def traffic_figure(summaries: Sequence[PointSummary]) -> Figure:
    """Success rate vs mean repair traffic per round (bytes, log axis), with 95% Wilson
    intervals: a line per value of the colour parameter through its P values, the marker's
    size growing with P (sizes keyed beside the panels; no per-point labels)."""
    points = _points(summaries)
    plan = _plan(points, exclude=("parents",))
    parents = sorted({p.parents for p in points})
    sizes = {p: 9 + 40 * i / max(len(parents) - 1, 1) for i, p in enumerate(parents)}
    with style.styled():
        grid = _Grid(plan, "Success rate vs repair traffic",
                     xlabel="mean repair traffic per round (bytes, log scale)",
                     ylabel="success rate over all R rounds (95% CI)",
                     keyed=len(parents) > 1)  # fmt: skip
        for (scheme, column), ax in grid.panels.items():
            for line in grid.lines(scheme, column, x="repair_bytes_per_round"):
                colour = plan.colour_of(line[0])
                _errorbar(ax, [p.repair_bytes_per_round for p in line], line, colour,
                          marker=None, label=_label(line[0], plan.varying))  # fmt: skip
                ax.scatter([p.repair_bytes_per_round for p in line],
                           [p.success_rate for p in line], s=[sizes[p.parents] for p in line],
                           color=colour, edgecolors="white", linewidths=0.4, zorder=3)  # fmt: skip
            if all(p.repair_bytes_per_round > 0 for p in points):
                ax.set_xscale("log")
            _unit_y(ax)
        extra = []
        if len(parents) > 1:
            shown = _few(parents, 4)
            extra = [("parents P", [_marker_handle(sizes[p]) for p in shown],
                      [f"P={p}" for p in shown])]  # fmt: skip
        grid.finish(note="95% Wilson intervals", extra_legends=extra)
    return grid.fig


def tradeoff_figure(summaries: Sequence[PointSummary]) -> Figure:
    """Storage per node alpha = Q vs repair traffic per repair gamma = P beta, both in units of
    the file size B = k packets, of every point (colour: its measured success rate; a
    triangle when it lies below the cut-set bound of its P), next to the functional-repair
    cut-set bound (:mod:`~rlnc_testbed.analysis.bounds`, d = P, the collector reading all N
    nodes): a grey curve per P from its minimum-storage end (labelled with P) to its
    minimum-bandwidth end, flat beyond. A panel per scheme and per combination of the other
    varying parameters."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    points = _points(summaries)
    plan = _plan(points, exclude=("redundancy", "q", "parents", "beta"), colour=False)
    cmap = colormaps["viridis"]
    ds = sorted({p.parents for p in points})
    alphas = [p.q / p.symbols for p in points]
    gammas = [p.parents * p.beta / p.symbols for p in points]
    right = max(1.15, max(alphas) * 1.15)
    with style.styled():
        grid = _Grid(plan, "Storage vs repair traffic, in units of the file size B = k packets",
                     xlabel="storage per node \u03b1 / B = Q / k (log scale)",
                     ylabel="repair traffic per repair \u03b3 / B = P β / k (log scale)",
                     panel=(3.2, 2.6), keyed=True)  # fmt: skip
        for (scheme, column), ax in grid.panels.items():
            for d in ds:
                curve = bounds.tradeoff_curve(max(p.peers for p in points), d, 1.0)
                xs = [a for a, _ in curve] + [right]
                ys = [g for _, g in curve] + [curve[-1][1]]
                ax.plot(xs, ys, color="0.45", linewidth=0.9, zorder=1,
                        marker="." if len(curve) == 1 else None)  # fmt: skip
                ax.annotate(str(d), curve[0], textcoords="offset points", xytext=(-2, 3),
                            fontsize="x-small", color="0.3", ha="center")  # fmt: skip
            mine = grid.members(scheme, column)
            for point in mine:
                alpha, gamma = point.q / point.symbols, point.parents * point.beta / point.symbols
                least = bounds.min_repair_bandwidth(alpha, point.peers, point.parents, 1.0)
                below = least is None or gamma < least - 1e-12
                ax.scatter([alpha], [gamma], s=26, marker="v" if below else "o",
                           color=cmap(point.success_rate), edgecolors="black",
                           linewidths=0.4, zorder=3)  # fmt: skip
            ax.set_xscale("log")
            ax.set_yscale("log")
            _plain_log_ticks(ax)
            ax.set_xlim(min(min(alphas), 1 / max(ds)) / 1.3, right)
            ax.set_ylim(min(min(gammas), 2 / (max(ds) + 1)) / 1.4, max(max(gammas), 1.0) * 1.4)
        mappable = ScalarMappable(norm=Normalize(0, 1), cmap=cmap)
        handles = [
            Line2D([], [], color="0.45", linewidth=0.9),
            Line2D([], [], linestyle="", marker="o", color="0.6", markeredgecolor="black"),
            Line2D([], [], linestyle="", marker="v", color="0.6", markeredgecolor="black"),
        ]
        labels = ["cut-set bound,\nd = P (number)", "meets its P's bound", "below it"]
        grid.finish(
            note="bound: Dimakis et al. 2010, functional repair, collector reads N nodes",
            colourbar=(mappable, "success rate over R rounds", None),
            extra_legends=[("", handles, labels)],
        )
    return grid.fig


def lifetime_survival_figure(summaries: Sequence[LifetimeSummary]) -> Figure:
    """Kaplan-Meier survival S(t) (fraction still retrievable after round t) of points run
    until loss, on a log round axis, a step curve per point (95% bands with at most four per
    panel); a dotted line marks the cap."""
    points = _points(summaries, kind=LifetimeSummary)
    plan = _plan(points, exclude=())
    with style.styled():
        grid = _Grid(plan, f"Survival until loss (cap {_caps(points)} rounds, dotted)",
                     xlabel="round (log scale)",
                     ylabel="fraction still retrievable (Kaplan-Meier)", lifetime=True)  # fmt: skip
        bands = grid.max_members <= _MAX_BANDS
        for (scheme, column), ax in grid.panels.items():
            for point in grid.members(scheme, column):
                colour = plan.colour_of(point)
                km = point.survival()
                # steps: S = 1 up to the first loss round, then each step up to the next (or cap)
                xs = [1, *km.times, point.cap]
                ys = [1.0, *km.survival, km.survival[-1] if km.survival else 1.0]
                ax.step(xs, ys, where="post", color=colour, label=_label(point, plan.varying))
                if bands:
                    lows = [1.0, *km.lower, km.lower[-1] if km.lower else 1.0]
                    highs = [1.0, *km.upper, km.upper[-1] if km.upper else 1.0]
                    ax.fill_between(xs, lows, highs, step="post", color=colour, alpha=0.15,
                                    linewidth=0)  # fmt: skip
            for cap in sorted({p.cap for p in points}):
                ax.axvline(cap, color="grey", linestyle=":", linewidth=1)
            ax.set_xscale("log")
            if not any(p.censored for p in points):
                last = max((p.curve[-1][0] for p in points if p.curve), default=2)
                ax.set_xlim(0.8, max(2.0, last * 1.5))
            _unit_y(ax)
        grid.finish(note="95% Greenwood bands" if bands else "")
    return grid.fig


def mean_lifetime_figure(summaries: Sequence[LifetimeSummary], *, x: str | None = None) -> Figure:
    """Mean lifetime (rounds survived, log scale, 95% CI) vs ``x`` (default: redundancy if it
    varies, else parents, else beta): every scheme in one panel (a colour each, so the slopes
    compare), a panel per combination of the other varying parameters. A point with trials
    that reached the cap shows its restricted mean (a lower bound) as an open marker.
    Exponential growth in ``x`` is a straight line."""
    points = _points(summaries, kind=LifetimeSummary)
    if x is None:
        varying = [
            n for n in ("redundancy", "parents", "beta") if len({getattr(p, n) for p in points}) > 1
        ]
        x = varying[0] if varying else "redundancy"
    exclude = (x, "q") if x == "redundancy" else (x,)
    plan = _plan(points, exclude=exclude, by_scheme=False)
    with style.styled():
        grid = _Grid(plan, "Mean lifetime until loss (open marker: trials reached the cap, "
                     "a lower bound)", xlabel=_NAMES.get(x, x),
                     ylabel="mean lifetime, rounds survived (95% CI)", lifetime=True,
                     x=x)  # fmt: skip
        for (scheme, column), ax in grid.panels.items():
            for line in grid.lines(scheme, column, x=x):
                colour = plan.colour_of(line[0])
                xs = [getattr(p, x) for p in line]
                ys = [max(p.mean, 1e-3) for p in line]
                below = [max(0.0, y - max(p.mean_ci95[0], 1e-3))
                         for y, p in zip(ys, line, strict=True)]  # fmt: skip
                above = [max(0.0, p.mean_ci95[1] - y) for y, p in zip(ys, line, strict=True)]
                ax.errorbar(xs, ys, yerr=[below, above], color=colour, marker="o", capsize=2,
                            elinewidth=0.8, label=_label(line[0], plan.varying))  # fmt: skip
                open_x = [xv for xv, p in zip(xs, line, strict=True) if p.mean_restricted]
                open_y = [yv for yv, p in zip(ys, line, strict=True) if p.mean_restricted]
                if open_x:
                    ax.plot(open_x, open_y, "o", markersize=7, markerfacecolor="white",
                            color=colour)  # fmt: skip
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.25)
        grid.finish(note="95% intervals")
    return grid.fig


# -- what varies, what is constant, how it is drawn --------------------------------------------


@dataclass
class _Plan:
    points: list[Any]
    schemes: list[str]
    #: label fields: the parameters that vary (x excluded)
    varying: tuple[str, ...]
    colour: str | None
    colour_values: list[Any]
    facets: tuple[str, ...]
    columns: list[tuple[Any, ...]]
    by_scheme: bool
    exclude: tuple[str, ...]

    def colour_of(self, point: Any) -> Any:
        if self.colour is None:
            return _SCHEME_COLOURS.get(point.scheme, "C0") if not self.by_scheme else "C0"
        index = self.colour_values.index(getattr(point, self.colour))
        return self.palette()[index]

    def palette(self) -> list[Any]:
        values = self.colour_values
        if self.colour == "scheme":
            return [_SCHEME_COLOURS.get(v, f"C{i % 10}") for i, v in enumerate(values)]
        if not _numeric(values) and len(values) <= 10:
            return [f"C{i}" for i in range(len(values))]
        from matplotlib import colormaps

        cmap = colormaps["viridis"]
        return [cmap(0.9 * i / max(len(values) - 1, 1)) for i in range(len(values))]

    def column_of(self, point: Any) -> tuple[Any, ...]:
        return tuple(getattr(point, name) for name in self.facets)


def _plan(
    points: list[Any],
    *,
    exclude: tuple[str, ...],
    colour: bool = True,
    by_scheme: bool = True,
) -> _Plan:
    varying = _label_fields(points, exclude=("scheme", *exclude))
    if not by_scheme and len({p.scheme for p in points}) > 1:
        varying = ("scheme", *varying)
    chosen = next((n for n in _COLOUR_ORDER if n in varying), None) if colour else None
    if not by_scheme and "scheme" in varying:
        chosen = "scheme"
    facets = tuple(n for n in varying if n != chosen and n != "scheme")
    columns = sorted({tuple(getattr(p, n) for n in facets) for p in points}, key=_sort_key)
    values = sorted({getattr(p, chosen) for p in points}, key=_key) if chosen else []
    if chosen == "scheme":
        values = _schemes(points)
    return _Plan(points, _schemes(points), varying, chosen, values, facets, columns, by_scheme,
                 exclude)  # fmt: skip


def _label_fields(points: list[Any], *, exclude: tuple[str, ...]) -> tuple[str, ...]:
    """Fields that vary among the points (Q and beta only where not implied by the others;
    trials only where two points differ in nothing else: a sequential sweep's trial counts are
    an outcome)."""
    primary = [
        name
        for name in _PRIMARY
        if name not in exclude and name != "trials" and len({getattr(p, name) for p in points}) > 1
    ]
    chosen = list(primary)
    for name in (*_DERIVED, "trials"):
        if name in exclude:
            continue
        groups: dict[tuple[Any, ...], set[Any]] = {}
        for p in points:
            key = tuple(getattr(p, n) for n in _PRIMARY if n != name)
            groups.setdefault(key, set()).add(getattr(p, name))
        if any(len(values) > 1 for values in groups.values()):
            chosen.append(name)
    return tuple(chosen)


def _constants(
    plan: _Plan, *, lifetime: bool = False, x: str | None = None
) -> tuple[str, dict[str, str]]:
    """(the suptitle's settings line, each scheme's own constant settings)."""
    points, varying = plan.points, set(plan.varying) | set(plan.exclude)
    shared: list[str] = []
    own: dict[str, list[str]] = {s: [] for s in plan.schemes}

    def one(name: str, among: list[Any]) -> Any:
        values = {getattr(p, name) for p in among}
        return values.pop() if len(values) == 1 else _MISSING

    for name in ("peers", "symbols"):
        value = one(name, points)
        if name not in plan.varying and value is not _MISSING:
            shared.append(f"{_SHORT[name]}={value}")
    r, q = one("redundancy", points), one("q", points)
    if "redundancy" not in plan.varying and x != "redundancy" and r is not _MISSING:
        shared.append(f"r={r:g}" + (f" (Q={q})" if q is not _MISSING else ""))
    elif "q" not in plan.varying and x != "q" and q is not _MISSING:
        shared.append(f"Q={q}")
    p = one("parents", points)
    if "parents" not in plan.varying and x != "parents" and p is not _MISSING:
        shared.append(f"P={p}")
    beta = one("beta", points)
    if "beta" not in plan.varying and x != "beta":
        if beta is not _MISSING:
            shared.append(f"β={beta}")
        elif all(pt.beta == pt.q for pt in points):
            shared.append("β=Q")
    for name in ("field", "keep", "systematic"):
        if name in varying:
            continue
        users = [s for s in plan.schemes if name not in IGNORED_BY_SCHEME.get(s, ())]
        if not users:
            continue
        value = one(name, [pt for pt in points if pt.scheme in users])
        if value is _MISSING or (name == "systematic" and not value):
            continue
        text = {"field": f"GF({value})", "keep": f"keep={value}", "systematic": "systematic"}[name]
        if len(users) == len(plan.schemes):
            shared.append(text)
        else:
            for s in users:
                own[s].append(text)
    if lifetime:
        pass  # the cap is in the title
    elif "rounds" not in plan.varying and (rounds := one("rounds", points)) is not _MISSING:
        shared.append(f"R={rounds}")
    size = one("symbol_size", points)
    if "symbol_size" not in plan.varying and size not in (_MISSING, None):
        shared.append(f"symbol {size} B")
    seed = one("seed", points)
    if "seed" not in plan.varying and seed not in (_MISSING, None):
        shared.append(f"seed={seed}")
    if "trials" not in plan.varying:
        trials = sorted({pt.trials for pt in points})
        shared.append(f"T={trials[0]}" if len(trials) == 1 else f"T={trials[0]}-{trials[-1]}")
    if not plan.by_scheme:
        texts: dict[str, list[str]] = {}
        for s in plan.schemes:
            if own[s]:
                texts.setdefault(", ".join(own[s]), []).append(s)
        shared += [f"{', '.join(users)}: {text}" for text, users in texts.items()]
        own = {s: [] for s in plan.schemes}
    return ", ".join(shared), {s: ", ".join(v) for s, v in own.items()}


_MISSING = object()


# -- the small multiples -----------------------------------------------------------------------


class _Grid:
    """A figure of panels: a row (subfigure) per scheme, a column per facet combination; a key
    (colourbar and legends) in its own subfigure on the right."""

    def __init__(
        self,
        plan: _Plan,
        title: str,
        *,
        xlabel: str,
        ylabel: str,
        panel: tuple[float, float] | None = None,
        lifetime: bool = False,
        x: str | None = None,
        keyed: bool = False,
    ) -> None:
        self.plan = plan
        rows = plan.schemes if plan.by_scheme else [""]
        columns = plan.columns
        per_row = min(len(columns), _MAX_COLUMNS)
        wraps = math.ceil(len(columns) / per_row)
        self.compact = per_row > 4
        if panel is None:
            panel = (1.6, 1.35) if per_row > 5 else (2.3, 1.85) if per_row > 2 else (3.1, 2.4)
        key_width = self._key_width(keyed)
        # one panel per scheme: the schemes side by side, else a row of panels per scheme
        self.across = len(columns) == 1 and len(rows) > 1
        if self.across:
            width = len(rows) * panel[0] + 0.7 + key_width
            height = panel[1] + 0.3 + 0.95
        else:
            width = per_row * panel[0] + 0.7 + key_width
            height = len(rows) * (wraps * panel[1] + 0.3) + 0.95
        self.fig = style.new_figure(width, height)
        self.settings, own = _constants(plan, lifetime=lifetime, x=x)
        self.title, self.chars = title, max(40, int(width * 11.5))
        if key_width:
            body, key = self.fig.subfigures(
                1, 2, width_ratios=[width - key_width, key_width], wspace=0.0
            )  # type: ignore[misc]
            self.body, self.key = body, key
        else:
            self.body, self.key = self.fig, None
        shape = (1, len(rows)) if self.across else (len(rows), 1)
        row_figs = self.body.subfigures(*shape, squeeze=False).ravel()
        self.panels: dict[tuple[str, tuple[Any, ...]], Any] = {}
        for number, (scheme, row) in enumerate(zip(rows, row_figs, strict=True)):
            # axes are shared within a subfigure only: sharing across subfigures redraws the
            # whole figure on every limit change; finish() gives every panel the same limits
            first = None
            if scheme:
                extra = own.get(scheme, "")
                row.suptitle(f"{scheme}  ({extra})" if extra else scheme, fontsize="medium",
                             fontweight="bold")  # fmt: skip
            for index, column in enumerate(columns):
                ax = row.add_subplot(wraps, per_row, index + 1, sharex=first, sharey=first)
                first = first or ax
                if plan.facets:
                    ax.set_title(_combo_text(plan.facets, column), fontsize="small")
                if self.across:
                    ax.tick_params(labelleft=number == 0)
                else:
                    last_row = number == len(rows) - 1 and index >= len(columns) - per_row
                    ax.tick_params(labelleft=index % per_row == 0, labelbottom=last_row)
                if not any(self._belongs(p, scheme, column) for p in plan.points):
                    ax.set_axis_off()
                    reason = [n for n in plan.facets
                              if n in IGNORED_BY_SCHEME.get(scheme, ())]  # fmt: skip
                    why = f"\n({' and '.join(reason)} means nothing for {scheme}:\nthe same " \
                          "experiment as another panel)" if reason else ""  # fmt: skip
                    ax.text(0.5, 0.5, "not run" + why, ha="center", va="center",
                            fontsize="x-small", color="0.4", transform=ax.transAxes)  # fmt: skip
                    continue
                self.panels[(scheme, column)] = ax
        self.body.supxlabel(xlabel, fontsize="medium")
        self.body.supylabel(ylabel, fontsize="medium")
        self.max_members = max((len(self.members(s, c)) for s, c in self.panels), default=0)

    def _belongs(self, point: Any, scheme: str, column: tuple[Any, ...]) -> bool:
        return (not scheme or point.scheme == scheme) and self.plan.column_of(point) == column

    def members(self, scheme: str, column: tuple[Any, ...]) -> list[Any]:
        """The points of one panel, in colour order."""
        mine = [p for p in self.plan.points if self._belongs(p, scheme, column)]
        colour, values = self.plan.colour, self.plan.colour_values
        if colour is None:
            return sorted(mine, key=_order)
        return sorted(mine, key=lambda p: (values.index(getattr(p, colour)), _order(p)))

    def lines(self, scheme: str, column: tuple[Any, ...], *, x: str) -> list[list[Any]]:
        """The points of one panel grouped by colour, each group sorted by ``x``; two points
        at the same ``x`` of a parameter in one group are refused."""
        groups: dict[Any, list[Any]] = {}
        for point in self.members(scheme, column):
            key = getattr(point, self.plan.colour) if self.plan.colour else point.scheme
            groups.setdefault(key, []).append(point)
        for line in groups.values():
            line.sort(key=lambda p: getattr(p, x))
            seen = [getattr(p, x) for p in line]
            if x in _PRIMARY + _DERIVED and len(seen) != len(set(seen)):
                label = _label(line[0], ("redundancy", *self.plan.varying)) or line[0].scheme
                raise PlotError(
                    f"two summaries for {line[0].scheme} ({label}) at the same "
                    f"{_SHORT.get(x, x)}; they differ in nothing shown"
                )
        return list(groups.values())

    def _key_width(self, keyed: bool) -> float:
        plan = self.plan
        if plan.colour is None:
            return 1.45 if keyed else 0.0
        if len(plan.colour_values) >= 6:
            return 1.05
        longest = max(len(_value_text(plan.colour, v)) for v in plan.colour_values)
        return max(1.0, 0.35 + 0.075 * (longest + 3))

    def finish(
        self,
        *,
        note: str = "",
        colourbar: tuple[Any, str, Any] | None = None,
        extra_legends: Sequence[tuple[str, list[Any], list[str]]] = (),
    ) -> None:
        """Draw the key (colourbar for 6+ colour values, else a legend; plus ``extra``) and the
        note under the x label."""
        plan = self.plan
        self._align()
        legends = list(extra_legends)
        if plan.colour is not None and colourbar is None:
            title = _NAMES.get(plan.colour, _SHORT.get(plan.colour, plan.colour))
            labels = [_value_text(plan.colour, v) for v in plan.colour_values]
            if len(plan.colour_values) >= 6:
                colourbar = (self._discrete(), title, labels)
            else:
                from matplotlib.lines import Line2D

                handles = [Line2D([], [], color=c, marker="o", markersize=3)
                           for c in plan.palette()]  # fmt: skip
                legends.insert(0, (title, handles, labels))
        if self.key is None:
            if colourbar or legends:  # pragma: no cover - the key width covers these
                raise AssertionError("a key without room for it")
        else:
            parts = (1 if colourbar else 0) + len(legends)
            ratios = ([3.0] if colourbar else []) + [1.0] * len(legends)
            spec = self.key.add_gridspec(parts, 1, height_ratios=ratios)
            at = 0
            if colourbar:
                mappable, label, ticks = colourbar
                inner = spec[0].subgridspec(1, 3, width_ratios=[0.25, 0.45, 1.8])
                cax = self.key.add_subplot(inner[0, 1])
                bar = self.key.colorbar(mappable, cax=cax)
                bar.set_label(label, fontsize="small")
                if ticks is not None:
                    bar.set_ticks(range(len(ticks)), labels=ticks)
                bar.ax.tick_params(labelsize="x-small", length=2)
                at = 1
            for number, (title, handles, labels) in enumerate(legends):
                holder = self.key.add_subplot(spec[at + number])
                holder.set_axis_off()
                holder.legend(handles, labels, title=title or None, loc="center",
                              fontsize="x-small", title_fontsize="x-small",
                              handlelength=1.4, borderaxespad=0)  # fmt: skip
        head = textwrap.fill(self.title, self.chars)
        tail = "; ".join(t for t in (self.settings, note) if t)
        self.fig.suptitle(f"{head}\n{textwrap.fill(tail, self.chars)}" if tail else head)

    def _align(self) -> None:
        """The same x and y limits in every panel (the union of what each shows)."""
        panels = list(self.panels.values())
        if len(panels) < 2:
            return
        for get, set_ in (("get_xlim", "set_xlim"), ("get_ylim", "set_ylim")):
            limits = [getattr(ax, get)() for ax in panels]
            low, high = min(a for a, _ in limits), max(b for _, b in limits)
            for ax in panels:
                getattr(ax, set_)(low, high)

    def _discrete(self) -> Any:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import BoundaryNorm, ListedColormap

        colours = self.plan.palette()
        norm = BoundaryNorm([i - 0.5 for i in range(len(colours) + 1)], len(colours))
        return ScalarMappable(norm=norm, cmap=ListedColormap(colours))


# -- helpers ------------------------------------------------------------------------------------


def _plot(
    make: Callable[[list[Any]], Figure],
    summaries: Sequence[Any],
    path: str | os.PathLike[str],
    *,
    kind: type = PointSummary,
) -> Path:
    points = _points(summaries, kind=kind)
    target = Path(path)
    try:
        style.check_path(target)
    except ValueError as exc:
        raise PlotError(str(exc)) from None
    if not target.parent.is_dir():
        raise PlotError(f"directory for the plot does not exist: {str(target.parent)!r}")
    fig = make(points)
    try:
        with style.styled():
            style.save(fig, target)
    finally:
        fig.clear()
    return target


def _points(summaries: Sequence[Any], *, kind: type = PointSummary) -> list[Any]:
    if isinstance(summaries, kind):
        raise PlotError(f"summaries must be a sequence of {kind.__name__}, not a single one")
    points = list(summaries)
    if not points:
        raise PlotError("no summaries to plot")
    for index, point in enumerate(points):
        if not isinstance(point, kind):
            raise PlotError(
                f"summaries[{index}] is a {type(point).__name__}, not a {kind.__name__}"
            )
    return points


def _caps(points: list[Any]) -> str:
    caps = sorted({p.cap for p in points})
    return str(caps[0]) if len(caps) == 1 else f"{caps[0]}-{caps[-1]}"


def _schemes(points: list[Any]) -> list[str]:
    present = {p.scheme for p in points}
    return [s for s in SCHEMES if s in present] + sorted(present - set(SCHEMES))


def _key(value: Any) -> tuple[bool, Any]:
    # (is None, value): summaries read from older files have no seed, symbol_size, systematic
    return (value is None, value if value is not None else 0)


def _sort_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_key(v) for v in values)


def _order(point: Any) -> tuple[Any, ...]:
    return tuple(_key(getattr(point, name)) for name in (*_PRIMARY, *_DERIVED))


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _value_text(name: str, value: Any) -> str:
    if name == "scheme":
        return str(value)
    if isinstance(value, bool) or value is None:
        return "-" if value is None else ("yes" if value else "no")
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _label(point: Any, names: Sequence[str]) -> str:
    parts = []
    for name in names:
        value = getattr(point, name)
        if name == "scheme":
            parts.append(str(value))
        else:
            parts.append(f"{_SHORT[name]}={_value_text(name, value)}")
    return ", ".join(parts)


def _combo_text(names: Sequence[str], values: Sequence[Any]) -> str:
    return ", ".join(f"{_SHORT[n]}={_value_text(n, v)}" for n, v in zip(names, values, strict=True))


def _spacing(values: Sequence[float]) -> float:
    distinct = sorted(set(values))
    gaps = [b - a for a, b in itertools.pairwise(distinct)]
    return min(gaps) if gaps else 1.0


def _few(values: list[Any], count: int) -> list[Any]:
    if len(values) <= count:
        return values
    picks = {round(i * (len(values) - 1) / (count - 1)) for i in range(count)}
    return [values[i] for i in sorted(picks)]


def _marker_handle(size: float) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="", marker="o", markersize=math.sqrt(size), color="0.4")


def _plain_log_ticks(ax: Any) -> None:
    """Log axes labelled 0.2, 0.5, 1, 2 rather than 2 x 10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    plain = FuncFormatter(lambda value, _pos: f"{value:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(lambda _v, _p: ""))


def _unit_y(ax: Any) -> None:
    ax.set_ylim(-0.03, 1.03)


def _integer_x(ax: Any, *, compact: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=4 if compact else 8, integer=True))


def _errorbar(
    ax: Any,
    xs: Sequence[float],
    line: Sequence[Any],
    colour: Any,
    *,
    marker: str | None = "o",
    label: str = "",
) -> None:
    ys = [p.success_rate for p in line]
    below = [max(0.0, p.success_rate - p.ci95[0]) for p in line]
    above = [max(0.0, p.ci95[1] - p.success_rate) for p in line]
    ax.errorbar(xs, ys, yerr=[below, above], color=colour, marker=marker, markersize=3,
                elinewidth=0.7, capsize=0, alpha=0.9, label=label)  # fmt: skip
