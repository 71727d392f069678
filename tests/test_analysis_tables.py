"""Every table fits a terminal of 80, 100 and 120 columns: no line wider, every varying
parameter's column and values present, no cell cut to an ellipsis, constants in the title."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from rich.console import Console

from rlnc_testbed.analysis import tables
from rlnc_testbed.analysis.lifetime import Lifetime, LifetimeResult, summarize_lifetimes
from rlnc_testbed.analysis.summary import PointResult, summarize
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord

WIDTHS = (80, 100, 120)
SCHEMES = ("replication", "coded-copy", "rlnc")
REDUNDANCIES = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5)


def trial_records(params: Params, trials: int, seed: int) -> list[TrialRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for t in range(trials):
        rounds = []
        for r in range(1, params.rounds + 1):
            ok = bool(rng.random() > 0.03)
            parents = tuple(range(1, params.parents + 1))
            link = {"local": "peer-1", "remote": "newcomer-7", "label": "repair",
                    "bytes_sent": 880, "bytes_received": 0, "messages_sent": 4,
                    "messages_received": 0,
                    "info": {"local_address": "127.0.0.1", "local_port": 50123,
                             "remote_address": "127.0.0.1", "remote_port": 50999,
                             "local_type": "host", "protocol": "udp"}}  # fmt: skip
            rounds.append(RoundRecord(r, 1 + r % 9, 10 + r, parents, 4, 20, ok, ok,
                                      verdict="ok" if ok else "unrecoverable",
                                      repair_packets=params.parents * params.upload,
                                      repair_bytes=params.parents * params.upload * 220,
                                      collect_packets=40, collect_bytes=40 * 220,
                                      duration=0.0123, links=[link]))  # fmt: skip
            if not ok:
                break
        out.append(TrialRecord(trial=t, seed=params.seed, rounds=rounds))
    return out


def result(scheme: str, redundancy: float, parents: int, *, rounds: int = 10) -> PointResult:
    params = Params(peers=10, symbols=20, redundancy=redundancy, parents=parents, scheme=scheme,
                    rounds=rounds, trials=6)  # fmt: skip
    records = trial_records(params, 6, parents * 100 + int(redundancy * 10))
    return PointResult(params, "sim", records, summarize(params, records))


@pytest.fixture(scope="module")
def grid() -> list[PointResult]:
    return [result(s, r, p) for s in SCHEMES for r in REDUNDANCIES for p in range(1, 10)]


def render(renderable: Any, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    text = console.export_text()
    console.file.close()
    return text


def assert_fits(text: str, width: int) -> None:
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text  # no cell (nor heading) cut to an ellipsis


def words(text: str) -> set[str]:
    return {w.strip("│┃") for line in text.splitlines() for w in line.split()}


@pytest.mark.parametrize("width", WIDTHS)
def test_the_sweep_table_of_the_original_grid_fits(grid: list[PointResult], width: int) -> None:
    text = render(tables.summary_table(grid, title="sweep (sim)", grid=True), width)
    assert_fits(text, width)
    found = words(text)
    for heading in ("scheme", "r", "P", "Q"):
        assert heading in found, heading
    assert {f"{r:g}" for r in REDUNDANCIES} <= found
    assert {str(p) for p in range(1, 10)} <= found
    assert set(SCHEMES) <= found
    # the constant parameters are in the title, each scheme's own only for those using it
    head = " ".join(text.splitlines()[:4])
    assert "N=10" in head and "k=20" in head and "R=10" in head
    assert "GF(256) (coded-copy, rlnc)" in " ".join(text.split())
    assert "N" not in found and "k" not in found  # no column for a constant
    rows = [line for line in text.splitlines() if "/6 " in line]
    assert len(rows) == len(grid)  # one line per point, no wrapping


@pytest.mark.parametrize("width", WIDTHS)
def test_long_runs_show_a_survival_sparkline(width: int) -> None:
    points = [result("rlnc", 1.5, 2, rounds=400), result("replication", 1.5, 2, rounds=400)]
    text = render(tables.summary_table(points, title="sweep", grid=True), width)
    assert_fits(text, width)
    assert "40 rounds (10 checkpoints)" in " ".join(text.split())
    spark = set("_▁▂▃▄▅▆▇█")
    cells = [
        w for line in text.splitlines() for w in line.split() if set(w) <= spark and len(w) > 1
    ]
    assert len(cells) == 2 and all(len(c) == 10 for c in cells)  # 10 checkpoints of 400


@pytest.mark.parametrize("width", WIDTHS)
def test_a_single_point_table_fits_and_keeps_its_columns(width: int) -> None:
    point = result("rlnc", 2.0, 3)
    text = render(tables.summary_table([point], title="run (sim)"), width)
    assert_fits(text, width)
    assert f"{point.summary.successes}/{point.summary.trials}" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_rounds_links_and_unjudged_tables_fit(width: int) -> None:
    point = result("rlnc", 2.0, 9)
    rounds = tables.rounds_table(point.trials, point.params)
    rounds.caption = "a caption passes through"
    text = render(rounds, width)
    assert_fits(text, width)
    assert "1,2,3,4,5,6,7,8,9" in text.replace("\n", "").replace(" ", "").replace("│", "")
    assert "a caption passes through" in text
    assert "GF(256)" in text
    replication = result("replication", 2.0, 3)
    assert "GF" not in render(tables.rounds_table(replication.trials, replication.params), 120)
    text = render(tables.links_table(point.trials[0]), width)
    assert_fits(text, width)
    assert "127.0.0.1:50123" in text.replace("\n", "").replace(" ", "").replace("│", "") or (
        "127.0.0.1" in text
    )
    unjudged = [TrialRecord(trial=0, seed=0, rounds=[], finish="setup-timeout",
                            error="deadline passed " * 8)]  # fmt: skip
    text = render(tables.unjudged_table(unjudged), width)
    assert_fits(text, width)
    assert "setup-timeout" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_lifetime_sweep_table_fits(width: int) -> None:
    results = []
    for scheme in ("replication", "rlnc"):
        for q in (2, 3, 4, 5):
            params = Params(scheme=scheme, redundancy=None, q=q, peers=10, symbols=15)
            lives = [Lifetime(i, 3 * q + i, False) for i in range(20)]
            summary = summarize_lifetimes(params, lives, cap=100_000)
            results.append(LifetimeResult(params, "sim", lives, summary))
    text = render(tables.lifetime_table(results, title="sweep until loss", grid=True), width)
    assert_fits(text, width)
    found = words(text)
    assert {"scheme", "Q"} <= found and {"2", "3", "4", "5"} <= found
    assert "rlnc" in found and "replication" in found
