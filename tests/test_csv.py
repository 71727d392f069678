"""CSV export: one row per point (--csv) and per trial (--csv-trials), for run and sweep."""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from rlnc_testbed.analysis.export import POINT_COLUMNS, TRIAL_COLUMNS, parameter_columns
from rlnc_testbed.cli.entry import EXIT_USAGE, build_parser, main
from rlnc_testbed.experiment.runner import run_point
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import TrialRecord

SCENARIO = """\
name = "tiny"
transport = "sim"
[params]
peers = 4
symbols = 6
symbol_size = 16
parents = 2
rounds = 3
trials = 5
seed = 7
"""
EVERY = [f.name for f in fields(Params) if f.name != "trials"]


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_run_csv_has_every_parameter_the_estimate_ci_and_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(SCENARIO)
    points, trials, out = tmp_path / "p.csv", tmp_path / "t.csv", tmp_path / "r.json"
    argv = ["run", str(scenario), "--csv", str(points), "--csv-trials", str(trials)]
    assert main([*argv, "--json", str(out)]) == 0
    assert f"CSV: {points}" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    header, rows = read(points)
    assert header == [*EVERY, "transport", *POINT_COLUMNS]
    (row,) = rows
    s = doc["summary"]
    assert (row["seed"], row["symbol_size"], row["transport"]) == ("7", "16", "sim")
    assert (int(row["trials"]), int(row["successes"])) == (s["trials"], s["successes"])
    assert float(row["success_rate"]) == s["success_rate"]
    assert [float(row["ci95_low"]), float(row["ci95_high"])] == s["ci95"]
    assert row["q"] == "" and row["beta"] == "" and row["failures"] == ""
    header, rows = read(trials)
    assert header == [*EVERY, "transport", *TRIAL_COLUMNS]
    assert [int(r["trial"]) for r in rows] == [0, 1, 2, 3, 4]
    for r, t in zip(rows, doc["trials"], strict=True):
        record = TrialRecord.from_dict(t)
        assert int(r["rounds_survived"]) == record.survived_rounds
        assert r["last_verdict"] == record.rounds[-1].verdict
        assert r["success"] == str(record.success)


def test_show_writes_the_same_csv_as_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(SCENARIO)
    history = tmp_path / "h.jsonl"
    run_csv, show_csv = tmp_path / "run.csv", tmp_path / "show.csv"
    argv = ["run", str(scenario), "--history", str(history), "--csv-trials", str(run_csv), "-q"]
    assert main(argv) == 0
    assert main(["show", str(history), "--csv-trials", str(show_csv), "-q"]) == 0
    assert show_csv.read_text() == run_csv.read_text()  # the recorded transport included


def test_sweep_csv_rows_are_named_by_the_parameters_that_vary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    points, trials = tmp_path / "p.csv", tmp_path / "t.csv"
    argv = ["sweep", "--peers", "4", "--symbols", "6", "--symbol-size", "8", "--rounds", "2",
            "--scheme", "rlnc", "coded-copy", "--parents", "1", "2", "--trials", "3",
            "--csv", str(points), "--csv-trials", str(trials), "--json", "-"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    header, rows = read(points)
    assert header == ["parents", "scheme", *POINT_COLUMNS]
    assert [(r["scheme"], int(r["parents"])) for r in rows] == [
        (p["scheme"], p["parents"]) for p in doc["points"]
    ]
    assert [float(r["success_rate"]) for r in rows] == [p["success_rate"] for p in doc["points"]]
    header, rows = read(trials)
    assert header == ["parents", "scheme", *TRIAL_COLUMNS]
    assert len(rows) == 4 * 3
    assert [int(r["trial"]) for r in rows[:3]] == [0, 1, 2]


def test_parameter_columns_of_a_failures_schedule_and_q(tmp_path: Path):
    base = Params(peers=4, symbols=6, parents=2, rounds=2, trials=2, failures=(2, 1))
    results = [run_point(base.with_(q=q, redundancy=None)) for q in (2, 3)]
    assert parameter_columns(results) == ("q",)
    from rlnc_testbed.analysis.export import point_rows, trial_rows

    assert next(iter(point_rows(results[:1])))[: len(EVERY)] == EVERY
    row = list(point_rows(results[:1]))[1]
    assert row[EVERY.index("failures")] == "2 1" and row[EVERY.index("redundancy")] == ""
    assert len(list(trial_rows(results))) == 1 + 4


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--csv", "{tmp}/x.csv", "--json", "{tmp}/x.csv"], "must name different files"),
        (["--csv", "{tmp}/no/dir/x.csv"], "directory does not exist"),
        (["--csv-trials", "{tmp}/no/dir/x.csv"], "directory does not exist"),
    ],
)
def test_csv_paths_are_checked_before_running(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    argv = [a.format(tmp=tmp_path) for a in argv]

    def never(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("nothing may run")

    assert main(["sweep", "--parents", "1", *argv], run_sweep=never) == EXIT_USAGE
    assert needle in capsys.readouterr().err


def test_help_documents_the_csv_columns(capsys: pytest.CaptureFixture[str]):
    for command in ("run", "sweep"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--csv PATH" in text and "--csv-trials PATH" in text
        for column in (*POINT_COLUMNS, *TRIAL_COLUMNS):
            assert column in text, (command, column)
