"""``run`` / ``sweep`` ``--until-loss`` (and ``--rounds 0``): lifetimes per trial, Kaplan-Meier
summaries, CSV, plots and refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from rlnc_testbed.analysis.export import LIFETIME_POINT_COLUMNS, LIFETIME_TRIAL_COLUMNS
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.runner import run_lifetime
from rlnc_testbed.protocol.params import Params

TINY = """\
name = "tiny"
transport = "sim"

[params]
peers = 4
symbols = 6
symbol_size = 16
redundancy = 2.0
parents = 2
rounds = 3
trials = 12
seed = 7
"""
TINY_PARAMS = Params(
    peers=4, symbols=6, symbol_size=16, redundancy=2.0, parents=2, rounds=3, trials=12, seed=7
)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json", "-"]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_until_loss_reports_rounds_survived_per_trial(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _json(capsys, "run", str(tiny), "--until-loss", "--max-rounds-cap", "25")
    assert set(doc) == {"provenance", "scenario", "lifetime", "lifetimes"}
    expected = run_lifetime(TINY_PARAMS, cap=25)
    assert doc["lifetimes"] == [life.to_dict() for life in expected.lifetimes]
    assert doc["lifetime"] == json.loads(json.dumps(expected.summary.to_dict()))
    assert doc["scenario"]["until_loss"] is True and doc["scenario"]["max_rounds_cap"] == 25
    assert doc["scenario"]["rounds"] == 25
    life = doc["lifetime"]
    assert life["lost"] + life["censored"] == 12
    assert life["censored"] == sum(t["censored"] for t in doc["lifetimes"])
    assert life["mean_ci95"][0] <= life["mean"] <= life["mean_ci95"][1]


def test_rounds_zero_is_until_loss_with_the_default_cap(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zero = _json(capsys, "run", str(tiny), "--rounds", "0")
    flag = _json(capsys, "run", str(tiny), "--until-loss")
    assert zero["lifetimes"] == flag["lifetimes"]
    assert zero["lifetime"]["cap"] == 100_000


def test_run_until_loss_table_csv_and_plot(tiny: Path, tmp_path: Path, capsys) -> None:
    points, trials, plot = tmp_path / "p.csv", tmp_path / "t.csv", tmp_path / "km.png"
    argv = ["run", str(tiny), "--until-loss", "--max-rounds-cap", "25"]
    assert (
        main([*argv, "--csv", str(points), "--csv-trials", str(trials), "--plot", str(plot)]) == 0
    )
    out = capsys.readouterr().out
    assert "mean lifetime" in out and "censored (cap)" in out
    assert plot.stat().st_size > 0
    header, row = list(csv.reader(points.read_text(encoding="utf-8").splitlines()))
    assert header[-len(LIFETIME_POINT_COLUMNS) :] == list(LIFETIME_POINT_COLUMNS)
    assert row[header.index("max_rounds_cap")] == "25"
    rows = list(csv.DictReader(trials.read_text(encoding="utf-8").splitlines()))
    assert list(rows[0])[-len(LIFETIME_TRIAL_COLUMNS) :] == list(LIFETIME_TRIAL_COLUMNS)
    assert len(rows) == 12
    expected = run_lifetime(TINY_PARAMS, cap=25).lifetimes
    assert [int(r["rounds_survived"]) for r in rows] == [life.rounds for life in expected]


def test_sweep_until_loss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "life.png"
    argv = [
        "sweep", "--peers", "4", "--symbols", "6", "--parents", "2", "--scheme", "rlnc",
        "replication", "--redundancy", "1.5", "2", "--trials", "10", "--until-loss",
        "--max-rounds-cap", "200", "--plot", str(plot),
    ]  # fmt: skip
    doc = _json(capsys, *argv)
    assert doc["until_loss"] is True and doc["max_rounds_cap"] == 200
    assert "rounds" not in doc["axes"]
    assert len(doc["points"]) == 4
    for point in doc["points"]:
        params = Params.from_dict(point["params"])
        assert params.rounds == 200
        expected = run_lifetime(params, cap=200)
        assert point["lifetimes"] == [life.rounds for life in expected.lifetimes]
        assert point["mean"] == pytest.approx(expected.summary.mean)
    assert plot.stat().st_size > 0
    assert (tmp_path / "life-survival.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-rounds-cap", "10"], "--max-rounds-cap needs --until-loss"),
        (["--until-loss", "--rounds", "5"], "drop --rounds"),
        (["--until-loss", "--max-rounds-cap", "2000000"], "<= 1000000"),
    ],
)
def test_run_refuses_contradictory_lifetime_options(
    tiny: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["run", str(tiny), *extra]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_sweep_refuses_zero_among_other_rounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--rounds", "0", "10"]) == EXIT_USAGE
    assert "cannot be swept" in capsys.readouterr().err


def test_sim_until_loss_refuses_a_history(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "h.jsonl"
    assert main(["run", str(tiny), "--until-loss", "--history", str(history)]) == EXIT_USAGE
    assert "memory or webrtc" in capsys.readouterr().err
    assert not history.exists()
