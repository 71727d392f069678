"""PNG figures of experiment points: survival curves, success vs parents, traffic vs success.

matplotlib is imported inside each function and every figure is drawn on its own Agg canvas
(``Figure`` + ``FigureCanvasAgg``, never pyplot), so importing this module is cheap, the
global backend of an interactive session is left alone and no figure outlives the call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlnc_testbed.analysis.lifetime import LifetimeSummary
from rlnc_testbed.analysis.summary import PointSummary
from rlnc_testbed.protocol.params import SCHEMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PlotError",
    "plot_lifetime_survival",
    "plot_mean_lifetime",
    "plot_success_vs_parents",
    "plot_survival",
    "plot_traffic_vs_success",
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
    "beta": "beta",
    "symbol_size": "size",
    "systematic": "systematic",
    "seed": "seed",
    "trials": "T",
}
_DPI = 110
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


class PlotError(ValueError):
    """Raised for input that cannot be plotted; the message says what is wrong."""


def plot_survival(summaries: Sequence[PointSummary], path: str | os.PathLike[str]) -> Path:
    """Fraction of trials still retrievable after each round: a panel per scheme, a line per
    point."""
    points, target = _check(summaries, path)
    schemes = _schemes(points)
    label_fields = _label_fields(points, exclude=("scheme",))
    most = max(sum(1 for p in points if p.scheme == s) for s in schemes)
    columns = 1 if most <= 8 else 2
    fig = _figure(4.6 * len(schemes) + 1.0, 4.2 + 0.12 * max(0, most // columns - 6))
    axes = fig.subplots(1, len(schemes), sharey=True, squeeze=False)[0]
    for ax, scheme in zip(axes, schemes, strict=True):
        mine = sorted((p for p in points if p.scheme == scheme), key=_order)
        for point, colour in zip(mine, _colours(len(mine)), strict=True):
            ax.plot(
                range(1, point.rounds + 1),
                point.survival,
                color=colour,
                marker="o" if point.rounds <= 30 else None,
                markersize=3,
                label=_label(point, label_fields),
            )
        ax.set_title(scheme)
        ax.set_xlabel("round")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        if label_fields:
            ax.legend(fontsize="x-small", loc="lower left", ncols=columns)
    axes[0].set_ylabel("fraction of trials still retrievable")
    fig.suptitle(f"Survival per round\n{_fixed(points, label_fields)}", fontsize="medium")
    return _save(fig, target)


def plot_success_vs_parents(
    summaries: Sequence[PointSummary], path: str | os.PathLike[str]
) -> Path:
    """Success rate vs parents P with 95% Wilson error bars: a panel per scheme, a line per r."""
    points, target = _check(summaries, path)
    schemes = _schemes(points)
    label_fields = _label_fields(points, exclude=("scheme", "parents"))
    if "redundancy" not in label_fields:
        label_fields = ("redundancy", *label_fields)
    fig = _figure(4.2 * len(schemes) + 1.0, 4.6)
    axes = fig.subplots(1, len(schemes), sharey=True, squeeze=False)[0]
    for ax, scheme in zip(axes, schemes, strict=True):
        lines = _lines([p for p in points if p.scheme == scheme], label_fields, x="parents")
        for (label, line), colour in zip(lines.items(), _colours(len(lines)), strict=True):
            _errorbar(ax, [p.parents for p in line], line, label, color=colour)
        ax.set_title(scheme)
        ax.set_xlabel("parents P")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small" if len(lines) > 6 else "small", loc="best")
    axes[0].set_ylabel("success rate (95% CI)")
    fig.suptitle(
        f"Success rate vs number of parents\n{_fixed(points, label_fields)}", fontsize="medium"
    )
    return _save(fig, target)


def plot_traffic_vs_success(
    summaries: Sequence[PointSummary], path: str | os.PathLike[str]
) -> Path:
    """Success rate vs mean repair bytes per round, a line per scheme and setting, P marked."""
    points, target = _check(summaries, path)
    label_fields = _label_fields(points, exclude=("scheme", "parents"))
    fig = _figure(7.5, 4.8)
    ax = fig.add_subplot()
    for number, scheme in enumerate(_schemes(points)):
        mine = [p for p in points if p.scheme == scheme]
        lines = _lines(mine, label_fields, x="repair_bytes_per_round")
        for index, (label, line) in enumerate(lines.items()):
            xs = [p.repair_bytes_per_round for p in line]
            style = {
                "color": f"C{number % 10}",
                "marker": _MARKERS[index % len(_MARKERS)],
                "linestyle": ("-", "--", ":", "-.")[index % 4],
            }
            _errorbar(ax, xs, line, f"{scheme} {label}".strip(), **style)
            for p in line:
                ax.annotate(
                    f"P={p.parents}",
                    (p.repair_bytes_per_round, p.success_rate),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize="x-small",
                )
    ax.set_xlabel("mean repair traffic per round (bytes)")
    ax.set_ylabel("success rate (95% CI)")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    ax.set_title(f"Success rate vs repair traffic ({_fixed(points, label_fields)})")
    return _save(fig, target)


def plot_lifetime_survival(
    summaries: Sequence[LifetimeSummary], path: str | os.PathLike[str]
) -> Path:
    """Kaplan-Meier survival S(t) (fraction still retrievable after round t) of points run
    until loss, on a log round axis with 95% bands: a panel per scheme, a line per point; a
    dotted line marks the cap."""
    points, target = _check(summaries, path, kind=LifetimeSummary)
    schemes = _schemes(points)
    label_fields = _label_fields(points, exclude=("scheme",))
    fig = _figure(4.8 * len(schemes) + 1.0, 4.4)
    axes = fig.subplots(1, len(schemes), sharey=True, sharex=True, squeeze=False)[0]
    for ax, scheme in zip(axes, schemes, strict=True):
        mine = sorted((p for p in points if p.scheme == scheme), key=_order)
        for point, colour in zip(mine, _colours(len(mine)), strict=True):
            km = point.survival()
            # steps: S = 1 up to the first loss round, then each step up to the next (or cap)
            xs = [1, *km.times, point.cap]
            ys = [1.0, *km.survival, km.survival[-1] if km.survival else 1.0]
            lows = [1.0, *km.lower, km.lower[-1] if km.lower else 1.0]
            highs = [1.0, *km.upper, km.upper[-1] if km.upper else 1.0]
            ax.step(xs, ys, where="post", color=colour, label=_label(point, label_fields))
            ax.fill_between(xs, lows, highs, step="post", color=colour, alpha=0.15, linewidth=0)
        ax.axvline(points[0].cap, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        if not any(p.censored for p in points):
            last = max((p.curve[-1][0] for p in points if p.curve), default=2)
            ax.set_xlim(0.8, max(2.0, last * 1.5))
        ax.set_title(scheme)
        ax.set_xlabel("round (log scale)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3, which="both")
        if label_fields:
            ax.legend(fontsize="x-small", loc="lower left")
    axes[0].set_ylabel("fraction still retrievable (Kaplan-Meier, 95% band)")
    fig.suptitle(
        f"Survival until loss (cap {points[0].cap} rounds, dotted)\n"
        f"{_lifetime_fixed(points, label_fields)}",
        fontsize="medium",
    )
    return _save(fig, target)


def plot_mean_lifetime(
    summaries: Sequence[LifetimeSummary],
    path: str | os.PathLike[str],
    *,
    x: str | None = None,
) -> Path:
    """Mean lifetime (rounds survived, log scale, 95% CI) vs ``x`` (default: redundancy if it
    varies, else parents, else beta), a line per scheme and setting. A point with trials that
    reached the cap shows its restricted mean (a lower bound) as an open marker. Exponential
    growth in ``x`` is a straight line."""
    points, target = _check(summaries, path, kind=LifetimeSummary)
    if x is None:
        varying = [
            n for n in ("redundancy", "parents", "beta") if len({getattr(p, n) for p in points}) > 1
        ]
        x = varying[0] if varying else "redundancy"
    label_fields = _label_fields(points, exclude=(x, "q") if x == "redundancy" else (x,))
    fig = _figure(7.0, 4.8)
    ax = fig.add_subplot()
    lines = _lines(points, label_fields, x=x)
    for (label, line), colour in zip(lines.items(), _colours(len(lines)), strict=True):
        xs = [getattr(p, x) for p in line]
        ys = [max(p.mean, 1e-3) for p in line]
        below = [max(0.0, y - max(p.mean_ci95[0], 1e-3)) for y, p in zip(ys, line, strict=True)]
        above = [max(0.0, p.mean_ci95[1] - y) for y, p in zip(ys, line, strict=True)]
        ax.errorbar(xs, ys, yerr=[below, above], color=colour, marker="o", capsize=3, label=label)
        open_x = [xv for xv, p in zip(xs, line, strict=True) if p.mean_restricted]
        open_y = [yv for yv, p in zip(ys, line, strict=True) if p.mean_restricted]
        if open_x:
            ax.plot(open_x, open_y, "o", markersize=9, markerfacecolor="white", color=colour)
    ax.set_yscale("log")
    ax.set_xlabel({"redundancy": "redundancy r = K / k", "parents": "parents P"}.get(x, x))
    ax.set_ylabel("mean lifetime, rounds survived (95% CI)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="best")
    ax.set_title(
        "Mean lifetime until loss (open marker: trials reached the cap, a lower bound)\n"
        f"{_lifetime_fixed(points, label_fields)}",
        fontsize="medium",
    )
    return _save(fig, target)


def _lifetime_fixed(points: list[Any], varying: Sequence[str]) -> str:
    """:func:`_fixed` for points run until loss: the cap is not a max round R."""
    caps = sorted({p.cap for p in points})
    text = _fixed(points, varying)
    if len(caps) == 1:
        text = text.replace(f"R={caps[0]}, ", "")
    parents = {p.parents for p in points}
    if "parents" not in varying and len(parents) == 1:
        text = f"P={parents.pop()}, {text}"
    return text


def _check(
    summaries: Sequence[Any], path: str | os.PathLike[str], *, kind: type = PointSummary
) -> tuple[list[Any], Path]:
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
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise PlotError(f"plot path must end in .png; got {str(target)!r}")
    if not target.parent.is_dir():
        raise PlotError(f"directory for the plot does not exist: {str(target.parent)!r}")
    return points, target


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, target: Path) -> Path:
    fig.savefig(target, format="png")
    fig.clear()
    return target


def _schemes(points: list[PointSummary]) -> list[str]:
    present = {p.scheme for p in points}
    return [s for s in SCHEMES if s in present] + sorted(present - set(SCHEMES))


def _order(point: PointSummary) -> tuple[Any, ...]:
    # (is None, value): summaries read from older files have no seed, symbol_size, systematic
    values = (getattr(point, name) for name in (*_PRIMARY, *_DERIVED))
    return tuple((value is None, value if value is not None else 0) for value in values)


def _label_fields(points: list[PointSummary], *, exclude: tuple[str, ...]) -> tuple[str, ...]:
    """Fields that vary among the points (Q and beta only where not implied by the others)."""
    primary = [
        name
        for name in _PRIMARY
        if name not in exclude and len({getattr(p, name) for p in points}) > 1
    ]
    chosen = list(primary)
    for name in _DERIVED:
        groups: dict[tuple[Any, ...], set[Any]] = {}
        for p in points:
            key = tuple(getattr(p, n) for n in _PRIMARY)
            groups.setdefault(key, set()).add(getattr(p, name))
        if any(len(values) > 1 for values in groups.values()):
            chosen.append(name)
    return tuple(chosen)


def _label(point: PointSummary, names: Sequence[str]) -> str:
    parts = []
    for name in names:
        value = getattr(point, name)
        if name == "scheme":
            parts.append(str(value))
        elif isinstance(value, bool) or value is None:
            parts.append(f"{_SHORT[name]}={'-' if value is None else str(value).lower()}")
        else:
            text = f"{value:g}" if isinstance(value, int | float) else str(value)
            parts.append(f"{_SHORT[name]}={text}")
    return ", ".join(parts) or point.scheme


def _fixed(points: list[PointSummary], varying: Sequence[str]) -> str:
    """The settings shared by every point, for the title."""
    parts = []
    for name in ("peers", "symbols", "field", "keep", "rounds"):
        values = {getattr(p, name) for p in points}
        if name not in varying and len(values) == 1:
            value = values.pop()
            parts.append(f"{_SHORT[name]}={value}" if name != "keep" else f"keep={value}")
    trials = sorted({p.trials for p in points})
    parts.append(f"trials={trials[0]}" if len(trials) == 1 else f"trials={trials[0]}-{trials[-1]}")
    return ", ".join(parts)


def _lines(points: list[Any], label_fields: Sequence[str], *, x: str) -> dict[str, list[Any]]:
    """Group points into lines labelled by ``label_fields``, each sorted by ``x``."""
    lines: dict[str, list[Any]] = {}
    for point in sorted(points, key=_order):
        lines.setdefault(_label(point, label_fields), []).append(point)
    for label, line in lines.items():
        line.sort(key=lambda p: getattr(p, x))
        if x == "parents":
            seen = [p.parents for p in line]
            if len(seen) != len(set(seen)):
                raise PlotError(
                    f"two summaries for {line[0].scheme} ({label}) at the same P; "
                    "they differ in nothing shown"
                )
    return lines


def _errorbar(
    ax: Any, xs: Sequence[float], line: Sequence[PointSummary], label: str, **style: Any
) -> None:
    ys = [p.success_rate for p in line]
    below = [max(0.0, p.success_rate - p.ci95[0]) for p in line]
    above = [max(0.0, p.ci95[1] - p.success_rate) for p in line]
    style.setdefault("marker", "o")
    ax.errorbar(xs, ys, yerr=[below, above], markersize=4, capsize=3, label=label, **style)


def _colours(count: int) -> list[Any]:
    """The default cycle for up to 10 lines, else evenly spaced viridis colours (all distinct)."""
    if count <= 10:
        return [f"C{i}" for i in range(count)]
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(i / (count - 1) * 0.92) for i in range(count)]
