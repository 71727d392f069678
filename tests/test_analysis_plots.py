"""Plots of point summaries: valid, non-trivial PNG images; clear errors for bad input (the
figures' content, every format and layout: ``tests/test_analysis_figures.py``)."""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rlnc_testbed.analysis.plots import (
    PlotError,
    plot_success_vs_parents,
    plot_survival,
    plot_tradeoff,
    plot_traffic_vs_success,
)
from rlnc_testbed.analysis.summary import PointSummary, summarize
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord

PLOTS = (plot_survival, plot_success_vs_parents, plot_traffic_vs_success, plot_tradeoff)
ROOT = Path(__file__).resolve().parents[1]


def make_summary(scheme: str, redundancy: float, parents: int, *, trials: int = 40) -> PointSummary:
    """A point whose trials survive longer with more parents and redundancy (synthetic)."""
    params = Params(peers=10, symbols=20, redundancy=redundancy, parents=parents, scheme=scheme,
                    rounds=8, trials=trials)  # fmt: skip
    strength = {"replication": 0.55, "coded-copy": 0.7, "rlnc": 0.9}[scheme]
    p_fail = max(0.005, 0.5 * (1 - strength) ** (parents * redundancy / 2))
    rng = np.random.default_rng(parents * 100 + int(redundancy * 10))
    records = []
    for t in range(trials):
        rounds = []
        for r in range(1, params.rounds + 1):
            ok = bool(rng.random() >= p_fail)
            rounds.append(RoundRecord(r, r, 10 + r, tuple(range(1, parents + 1)), 4, 20, ok, ok,
                                      repair_bytes=parents * params.upload * 220,
                                      collect_bytes=40 * 220))  # fmt: skip
            if not ok:
                break
        records.append(TrialRecord(trial=t, seed=0, rounds=rounds))
    return summarize(params, records)


@pytest.fixture(scope="module")
def sweep() -> list[PointSummary]:
    return [
        make_summary(scheme, r, p)
        for scheme in ("replication", "coded-copy", "rlnc")
        for r in (1.5, 2.0, 3.0)
        for p in (1, 2, 3, 4, 6)
    ]


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 400 and height >= 300
    assert len(data) > 20_000  # lines, text and a legend, not a blank canvas
    import matplotlib.image

    pixels = matplotlib.image.imread(str(path))
    assert pixels.shape[:2] == (height, width)
    assert float(pixels[..., :3].std()) > 0.05


@pytest.mark.parametrize("plot", PLOTS)
def test_writes_a_readable_png(
    plot: Callable[..., Path], sweep: list[PointSummary], tmp_path: Path
) -> None:
    target = tmp_path / f"{plot.__name__}.png"
    assert plot(sweep, target) == target
    assert_png(target)


@pytest.mark.parametrize("plot", PLOTS)
def test_a_single_point_plots_too(plot: Callable[..., Path], tmp_path: Path) -> None:
    target = plot([make_summary("rlnc", 2.0, 3)], tmp_path / "one.png")
    assert target.stat().st_size > 10_000


def test_no_figure_is_left_open_and_pyplot_is_not_used(
    sweep: list[PointSummary], tmp_path: Path
) -> None:
    from matplotlib._pylab_helpers import Gcf

    before = Gcf.get_num_fig_managers()
    for plot in PLOTS:
        plot(sweep, tmp_path / f"{plot.__name__}.png")
    assert Gcf.get_num_fig_managers() == before


def test_importing_plots_does_not_import_matplotlib() -> None:
    code = "import sys, rlnc_testbed.analysis.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("plot", PLOTS)
def test_bad_input_is_named(plot: Callable[..., Path], tmp_path: Path) -> None:
    one = make_summary("rlnc", 2.0, 3)
    with pytest.raises(PlotError, match="no summaries to plot"):
        plot([], tmp_path / "x.png")
    with pytest.raises(PlotError, match=r"summaries\[1\] is a dict, not a PointSummary"):
        plot([one, one.to_dict()], tmp_path / "x.png")
    with pytest.raises(PlotError, match="a sequence of PointSummary, not a single one"):
        plot(one, tmp_path / "x.png")
    with pytest.raises(PlotError, match=r"must end in \.png, \.svg, \.pdf; got .*x\.jpg"):
        plot([one], tmp_path / "x.jpg")
    with pytest.raises(PlotError, match="directory for the plot does not exist"):
        plot([one], tmp_path / "missing" / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_indistinguishable_points_on_one_line_are_refused(tmp_path: Path) -> None:
    one = make_summary("rlnc", 2.0, 3)
    twin = replace(one, repair_bytes_per_round=one.repair_bytes_per_round + 1)
    with pytest.raises(PlotError, match=r"two summaries for rlnc \(r=2\) at the same P"):
        plot_success_vs_parents([one, twin], tmp_path / "x.png")


@pytest.mark.parametrize(
    "change",
    [{"seed": 1}, {"symbol_size": 64}, {"systematic": True}, {"trials": 41}],
    ids=lambda c: next(iter(c)),
)
def test_points_that_differ_in_any_parameter_are_told_apart(
    change: dict[str, object], tmp_path: Path
) -> None:
    one = make_summary("rlnc", 2.0, 3)
    other = replace(one, **change)  # type: ignore[arg-type]
    for plot in PLOTS:
        assert_png(plot([one, other], tmp_path / f"{plot.__name__}.png"))


def test_summaries_of_older_files_without_seed_still_plot(tmp_path: Path) -> None:
    one = make_summary("rlnc", 2.0, 3)
    old = replace(make_summary("rlnc", 2.0, 4), seed=None, symbol_size=None, systematic=None)
    for plot in PLOTS:
        assert_png(plot([one, old], tmp_path / f"{plot.__name__}.png"))
