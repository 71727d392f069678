"""Every figure kind, in PNG, SVG and PDF, checked for content and layout: its curves and
points, its titles naming every constant parameter (and no field for replication), nothing
outside the figure, keys beside the panels rather than over them, and at most a dozen legend
entries on the original grid (11 redundancies x 9 P x 3 schemes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_analysis_plots import make_summary

from rlnc_testbed.analysis import plots, style
from rlnc_testbed.analysis.lifetime import Lifetime, LifetimeSummary, summarize_lifetimes
from rlnc_testbed.analysis.summary import PointSummary
from rlnc_testbed.protocol.params import Params

SCHEMES = ("replication", "coded-copy", "rlnc")
REDUNDANCIES = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5)
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}


@pytest.fixture(scope="module")
def grid() -> list[PointSummary]:
    """The original grid's shape (synthetic outcomes)."""
    return [make_summary(s, r, p, trials=12) for s in SCHEMES for r in REDUNDANCIES
            for p in range(1, 10)]  # fmt: skip


@pytest.fixture(scope="module")
def lifetimes() -> list[LifetimeSummary]:
    out = []
    for scheme in ("replication", "rlnc"):
        for q in (2, 3, 4):
            rng = np.random.default_rng(q)
            scale = (3 if scheme == "rlnc" else 1.2) ** q
            lives = [Lifetime(i, int(v), False) for i, v in enumerate(rng.exponential(scale, 40))]
            params = Params(scheme=scheme, redundancy=None, q=q, peers=10, symbols=20)
            out.append(summarize_lifetimes(params, lives, cap=10_000))
    return out


def small(points: list[Any]) -> list[Any]:
    return [p for p in points if p.redundancy in (2.0, 3.0) and p.parents in (2, 3)]


def one_point() -> list[PointSummary]:
    return [make_summary("rlnc", 2.0, 3)]


# (name, figure function, plot function, input fixture name)
KINDS: list[tuple[str, Callable[..., Any], Callable[..., Path], str]] = [
    ("survival", plots.survival_figure, plots.plot_survival, "grid"),
    ("success", plots.success_vs_parents_figure, plots.plot_success_vs_parents, "grid"),
    ("traffic", plots.traffic_figure, plots.plot_traffic_vs_success, "grid"),
    ("tradeoff", plots.tradeoff_figure, plots.plot_tradeoff, "grid"),
    ("lifetime", plots.lifetime_survival_figure, plots.plot_lifetime_survival, "lifetimes"),
    ("mean-lifetime", plots.mean_lifetime_figure, plots.plot_mean_lifetime, "lifetimes"),
]


def drawn(make: Callable[..., Any], points: list[Any]) -> Any:
    with style.styled():
        fig = make(points)
        fig.canvas.draw()
    return fig


def all_axes(fig: Any) -> list[Any]:
    from matplotlib.axes import Axes

    return [a for a in fig.findobj(Axes) if a.get_visible()]


def data_axes(fig: Any) -> list[Any]:
    return [a for a in all_axes(fig) if a.axison and not hasattr(a, "_colorbar")]


def texts(fig: Any) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def legends(fig: Any) -> list[Any]:
    from matplotlib.legend import Legend

    return list(fig.findobj(Legend))


def row_titles(fig: Any) -> dict[str, str]:
    """Each scheme row's (subfigure's) title, by scheme."""
    out = {}
    for sub in fig.findobj(lambda a: hasattr(a, "_suptitle") and a is not fig):
        if sub._suptitle is not None:
            title = sub._suptitle.get_text()
            out[title.split()[0]] = title
    return out


def assert_layout(fig: Any) -> None:
    """Nothing outside the figure; no legend over more than 2% of a panel."""
    renderer = fig.canvas.get_renderer()
    outer = fig.bbox.padded(1.0)
    for ax in all_axes(fig):
        box = ax.get_tightbbox(renderer)
        assert box.x0 >= outer.x0 and box.y0 >= outer.y0, (ax, box, outer)
        assert box.x1 <= outer.x1 and box.y1 <= outer.y1, (ax, box, outer)
    figures = fig.findobj(lambda a: hasattr(a, "_suptitle"))
    for text in (t for f in figures for t in (f._suptitle, f._supxlabel, f._supylabel)):
        if text is not None and text.get_text():
            box = text.get_window_extent(renderer)
            assert outer.x0 <= box.x0 and box.x1 <= outer.x1, text.get_text()
            assert outer.y0 <= box.y0 and box.y1 <= outer.y1, text.get_text()
    panels = [ax.get_window_extent(renderer) for ax in data_axes(fig)]
    for legend in legends(fig):
        box = legend.get_window_extent(renderer)
        assert outer.contains(box.x0, box.y0) and outer.contains(box.x1, box.y1)
        for panel in panels:
            overlap = max(0.0, min(box.x1, panel.x1) - max(box.x0, panel.x0)) * max(
                0.0, min(box.y1, panel.y1) - max(box.y0, panel.y0)
            )
            assert overlap <= 0.02 * panel.width * panel.height


@pytest.mark.parametrize("form", ["png", "svg", "pdf"])
@pytest.mark.parametrize(("name", "make", "plot", "data"), KINDS, ids=[k[0] for k in KINDS])
def test_each_figure_in_each_format(
    name: str, make: Any, plot: Any, data: str, form: str, tmp_path: Path,
    request: pytest.FixtureRequest, keep_artifact: Any,
) -> None:  # fmt: skip
    points = request.getfixturevalue(data)
    target = tmp_path / f"figure-{name}.{form}"
    assert plot(points, target) == target
    keep_artifact(target)
    content = target.read_bytes()
    assert content.startswith(MAGIC[form]) and len(content) > 10_000
    if form == "svg":  # text stays text: the title and the settings are searchable
        svg = content.decode("utf-8")
        assert "N=10" in svg and "k=20" in svg


@pytest.mark.parametrize(("name", "make", "plot", "data"), KINDS, ids=[k[0] for k in KINDS])
def test_layout_on_the_grid_a_small_sweep_and_one_point(
    name: str, make: Any, plot: Any, data: str, request: pytest.FixtureRequest
) -> None:
    points = request.getfixturevalue(data)
    inputs = [points] if data == "lifetimes" else [points, small(points), one_point()]
    for chosen in inputs:
        fig = drawn(make, chosen)
        assert_layout(fig)
        assert sum(len(legend.get_texts()) for legend in legends(fig)) <= 12
        fig.clear()


def test_survival_on_the_grid(grid: list[PointSummary]) -> None:
    fig = drawn(plots.survival_figure, grid)
    panels = data_axes(fig)
    assert len(panels) == 3 * 9  # a panel per scheme and P
    assert all(len(ax.get_lines()) == len(REDUNDANCIES) for ax in panels)  # a curve per r
    assert not legends(fig)  # r is keyed by a colourbar
    (bar,) = [a for a in all_axes(fig) if hasattr(a, "_colorbar")]
    assert [t.get_text() for t in bar.get_yticklabels()] == [f"{r:g}" for r in REDUNDANCIES]
    assert "redundancy r" in bar.get_ylabel()
    words = texts(fig)
    assert sorted({w for w in words if w.startswith("P=")}) == [f"P={p}" for p in range(1, 10)]
    title = fig._suptitle.get_text()
    for part in ("Survival per round", "N=10", "k=20", "R=8", "T=12", "β=Q"):
        assert part in title
    assert "GF" not in title  # not meaningful for every scheme shown
    rows = row_titles(fig)
    assert set(rows) == set(SCHEMES)
    assert "GF" not in rows["replication"] and "keep=distinct" in rows["replication"]
    assert "GF(256)" in rows["rlnc"] and "keep" not in rows["rlnc"]
    assert "GF(256)" in rows["coded-copy"] and "keep=distinct" in rows["coded-copy"]
    fig.clear()


def test_a_few_curves_get_their_bands_and_constant_r_and_p_are_named(
    grid: list[PointSummary],
) -> None:
    from matplotlib.collections import PolyCollection

    chosen = [p for p in grid if p.scheme == "rlnc" and p.parents == 3 and p.redundancy < 3]
    fig = drawn(plots.survival_figure, chosen)
    (panel,) = data_axes(fig)
    assert len(panel.get_lines()) == 3
    assert len([c for c in panel.collections if isinstance(c, PolyCollection)]) == 3
    (legend,) = legends(fig)
    assert [t.get_text() for t in legend.get_texts()] == ["1.5", "2", "2.5"]
    title = fig._suptitle.get_text()
    assert "P=3" in title and "95% Wilson bands" in title and "GF(256)" in title
    fig.clear()
    fig = drawn(plots.survival_figure, one_point())
    title = fig._suptitle.get_text()
    assert "r=2 (Q=4)" in title and "P=3" in title and "GF(256)" in title
    fig.clear()
    fig = drawn(plots.success_vs_parents_figure, [make_summary("replication", 2.0, 3)])
    title = fig._suptitle.get_text()
    assert "r=2" in title and "GF" not in title and "keep=distinct" in title
    fig.clear()


def test_success_vs_parents_bars_are_shifted_apart(grid: list[PointSummary]) -> None:
    fig = drawn(plots.success_vs_parents_figure, grid)
    panels = data_axes(fig)
    assert len(panels) == 3
    for ax in panels:
        lines = ax.get_lines()
        assert len([ln for ln in lines if ln.get_marker() == "o"]) == len(REDUNDANCIES)
        xs = {round(float(x), 6) for ln in lines if ln.get_marker() == "o" for x in ln.get_xdata()}
        assert len(xs) == len(REDUNDANCIES) * 9  # no two error bars at the same x
    fig.clear()


def test_traffic_keys_p_by_marker_size_without_labels(grid: list[PointSummary]) -> None:
    fig = drawn(plots.traffic_figure, grid)
    panels = data_axes(fig)
    assert len(panels) == 3
    assert all(ax.get_xscale() == "log" for ax in panels)
    for ax in panels:
        scatters = [c for c in ax.collections if c.get_offsets().shape[0] == 9]
        assert len(scatters) == len(REDUNDANCIES)
        sizes = scatters[0].get_sizes()
        assert list(sizes) == sorted(sizes) and sizes[0] < sizes[-1]
        assert not [t for t in ax.texts if t.get_text().startswith("P=")]
    (legend,) = legends(fig)
    assert legend.get_title().get_text() == "parents P"
    fig.clear()


def test_tradeoff_points_and_bound_curves(grid: list[PointSummary]) -> None:
    from rlnc_testbed.analysis.bounds import tradeoff_curve

    fig = drawn(plots.tradeoff_figure, grid)
    panels = data_axes(fig)
    assert len(panels) == 3
    for ax in panels:
        points = np.concatenate([c.get_offsets() for c in ax.collections])
        assert len(points) == len(REDUNDANCIES) * 9
        curves = ax.get_lines()
        assert len(curves) == 9  # a bound per d = P
        for d, curve in zip(range(1, 10), curves, strict=True):
            xs, ys = curve.get_data()
            assert (xs[0], ys[0]) == pytest.approx(tradeoff_curve(10, d, 1.0)[0])
        assert sorted(t.get_text() for t in ax.texts) == sorted(str(d) for d in range(1, 10))
    words = " ".join(texts(fig))
    assert "\u03b1 / B = Q / k" in words and "\u03b3 / B = P β / k" in words
    assert "Dimakis" in words
    fig.clear()


def test_lifetime_figures(lifetimes: list[LifetimeSummary]) -> None:
    fig = drawn(plots.lifetime_survival_figure, lifetimes)
    panels = data_axes(fig)
    assert len(panels) == 2 and all(ax.get_xscale() == "log" for ax in panels)
    assert "cap 10000" in fig._suptitle.get_text()
    fig.clear()
    fig = drawn(plots.mean_lifetime_figure, lifetimes)
    (panel,) = data_axes(fig)
    assert panel.get_yscale() == "log"
    (legend,) = legends(fig)
    assert [t.get_text() for t in legend.get_texts()] == ["replication", "rlnc"]
    fig.clear()
