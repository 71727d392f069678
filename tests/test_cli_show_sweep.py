"""``rlnc-testbed show`` of a sweep: from its ``--json`` (per-trial records with
``sweep --trial-outcomes``) or its ``--history-dir``, the same table, JSON, CSV and plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rlnc_testbed.cli.entry import EXIT_USAGE, main

SWEEP = ["sweep", "--parents", "2", "1", "--peers", "4", "--symbols", "6", "--rounds", "3",
         "--trials", "4", "--quiet"]  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n"


def _points(payload: dict) -> list[tuple[int, int, int]]:
    return [(p["parents"], p["trials"], p["successes"]) for p in payload["points"]]


@pytest.fixture
def sweep_json(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.json"
    assert main([*SWEEP, "--json", str(path), "--trial-outcomes"]) == 0
    return path


def test_trial_outcomes_put_every_trials_record_in_the_json(sweep_json: Path) -> None:
    payload = json.loads(sweep_json.read_text())
    for point in payload["points"]:
        assert [r["trial"] for r in point["records"]] == [0, 1, 2, 3]
        assert all(len(r["rounds"]) >= 1 for r in point["records"])


def test_without_trial_outcomes_the_json_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "plain.json"
    assert main([*SWEEP, "--json", str(path)]) == 0
    assert all("records" not in p for p in json.loads(path.read_text())["points"])


def test_trial_outcomes_need_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SWEEP, "--trial-outcomes"]) == EXIT_USAGE
    assert "--trial-outcomes adds the trials to the --json output" in capsys.readouterr().err


def test_show_of_a_sweep_json_rebuilds_table_csv_and_plots(
    sweep_json: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = sweep_json.parent
    argv = ["show", str(sweep_json), "--plot", str(out / "g.png"), "--csv", str(out / "p.csv"),
            "--csv-trials", str(out / "t.csv")]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "successes/trials" in text and "4/4" in text
    assert (out / "g.png").read_bytes()[:8] == PNG
    assert (out / "g-survival.png").read_bytes()[:8] == PNG
    with (out / "t.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["parents"], r["trial"]) for r in rows] == [
        (p, str(t)) for p in ("2", "1") for t in range(4)
    ]
    with (out / "p.csv").open() as handle:
        assert [r["parents"] for r in csv.DictReader(handle)] == ["2", "1"]


def test_show_of_a_sweep_json_without_records_refuses_csv_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plain.json"
    assert main([*SWEEP, "--json", str(path)]) == 0
    assert main(["show", str(path), "--csv-trials", str(tmp_path / "t.csv")]) == EXIT_USAGE
    assert "write it with 'sweep --trial-outcomes'" in capsys.readouterr().err
    assert main(["show", str(path), "--quiet", "--csv", str(tmp_path / "p.csv")]) == 0


def test_show_of_a_history_dir_is_the_sweep_in_grid_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    histories = tmp_path / "h"
    original = tmp_path / "sweep.json"
    argv = [*SWEEP, "--history-dir", str(histories), "--json", str(original), "--transport",
            "memory"]  # fmt: skip
    assert main(argv) == 0
    (histories / "empty.jsonl").write_text("")
    assert main(["show", str(histories), "--json", "-"]) == 0
    captured = capsys.readouterr()
    shown = json.loads(captured.out)
    assert "1 history holds no finished trial yet" in captured.err
    expected = json.loads(original.read_text())
    # sorted by the parameters: P = 1 before P = 2 (the sweep ran 2 first)
    assert _points(shown) == sorted(_points(expected))
    assert shown["recorded"]["transport"] == "memory"
    by_parents = {p["parents"]: p for p in expected["points"]}
    for point in shown["points"]:
        assert point["survival"] == by_parents[point["parents"]]["survival"]
        assert [r["trial"] for r in point["records"]] == [0, 1, 2, 3]
    plot = tmp_path / "d.png"
    assert main(["show", str(histories), "--plot", str(plot), "--quiet"]) == 0
    assert plot.read_bytes()[:8] == PNG


def test_show_of_a_directory_without_histories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(tmp_path)]) == EXIT_USAGE
    assert "no *.jsonl history in this directory" in capsys.readouterr().err
