"""Histories are never overwritten silently, and --resume refuses a history of another point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlnc_testbed.analysis.history import HistoryError, read_history
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.runner import run_point
from rlnc_testbed.protocol.params import Params

SCENARIO = """\
name = "tiny"
transport = "sim"
[params]
peers = 4
symbols = 6
symbol_size = 16
parents = 2
rounds = 3
trials = 4
seed = 7
"""
SWEEP = ["sweep", "--peers", "4", "--symbols", "6", "--symbol-size", "8", "--rounds", "2",
         "--trials", "3", "--quiet"]  # fmt: skip


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(SCENARIO)
    return path


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured
    assert "error:" in lines[0] and "Traceback" not in captured.err
    return lines[0]


def trial_lines(path: Path) -> int:
    return sum(json.loads(line)["event"] == "trial" for line in path.read_text().splitlines())


def test_an_existing_history_is_refused_without_resume_or_overwrite(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    history = tmp_path / "h.jsonl"
    argv = ["run", str(tiny), "--history", str(history), "--quiet"]
    assert main([*argv, "--trials", "4"]) == 0
    before = history.read_bytes()
    assert main([*argv, "--trials", "2"]) == EXIT_USAGE
    line = error_line(capsys)
    assert "already holds a history" in line and str(history) in line
    assert "--resume" in line and "--overwrite" in line and "another path" in line
    assert history.read_bytes() == before  # untouched
    assert main([*argv, "--trials", "2", "--overwrite"]) == 0
    assert trial_lines(history) == 2
    history.write_text("")  # an empty file holds nothing to lose
    assert main([*argv, "--trials", "1"]) == 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--resume", "--overwrite", "--history", "{h}"], "not allowed with argument"),
        (["--overwrite"], "--overwrite needs --history PATH"),
        (["--transport", "memory", "--resume", "--history", "{h}"], "transport 'sim' != 'memory'"),
        (["--seed", "8", "--resume", "--history", "{h}"], "seed 7 != 8"),
        (
            ["--rounds", "2", "--seed", "1", "--resume", "--history", "{h}"],
            "rounds 3 != 2, seed 7 != 1",
        ),
    ],
)
def test_resume_refuses_another_transport_or_point_naming_the_fields(
    argv: list[str], needle: str, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    history = tmp_path / "h.jsonl"
    assert main(["run", str(tiny), "--history", str(history), "--quiet", "--trials", "1"]) == 0
    before = history.read_bytes()

    def never(*_args: object, **_kwargs: object) -> Any:
        raise AssertionError("nothing may run")

    argv = [a.format(h=history) for a in argv]
    assert main(["run", str(tiny), *argv], run_point=never) == EXIT_USAGE
    line = error_line(capsys)
    assert needle in line
    assert history.read_bytes() == before


def test_resume_extends_trials_of_the_same_point(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    history = tmp_path / "h.jsonl"
    argv = ["run", str(tiny), "--history", str(history), "--quiet"]
    assert main([*argv, "--trials", "2"]) == 0
    assert main([*argv, "--trials", "4", "--resume"]) == 0
    assert trial_lines(history) == 4 and read_history(history).resumes == 1


def test_the_runner_refuses_to_overwrite_a_history_too(tmp_path: Path):
    params = Params(peers=4, symbols=6, parents=2, rounds=2, trials=2)
    path = tmp_path / "h.jsonl"
    run_point(params, history=path)
    with pytest.raises(HistoryError, match="already holds a history"):
        run_point(params, history=path)
    run_point(params.with_(trials=1), history=path, overwrite=True)
    assert trial_lines(path) == 1
    with pytest.raises(HistoryError, match="transport 'sim' != 'memory'"):
        run_point(params, history=path, resume=True, transport="memory")


def test_a_sweep_refuses_existing_histories_without_resume_or_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    hist = tmp_path / "hist"
    argv = [*SWEEP, "--parents", "1", "2", "--history-dir", str(hist)]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in hist.iterdir()}
    assert len(before) == 2
    assert main(argv) == EXIT_USAGE
    line = error_line(capsys)
    assert "already holds the histories of 2 of these points" in line
    assert "--resume" in line and "--overwrite" in line
    assert {p.name: p.read_bytes() for p in hist.iterdir()} == before
    assert main([*argv, "--overwrite"]) == 0
    assert all(read_history(p).resumes == 0 for p in hist.iterdir())
    # another transport is refused on resume, before anything runs
    assert main([*argv, "--resume", "--transport", "memory"]) == EXIT_USAGE
    assert "transport 'sim' != 'memory'" in error_line(capsys)


def test_a_sweep_that_gains_a_value_resumes_the_histories_it_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    hist = tmp_path / "hist"
    assert main([*SWEEP, "--parents", "1", "2", "--history-dir", str(hist)]) == 0
    first = {p.name for p in hist.iterdir()}
    argv = [*SWEEP, "--parents", "3", "1", "2", "--history-dir", str(hist), "--resume"]
    assert main([*argv, "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [p["parents"] for p in doc["points"]] == [3, 1, 2]
    names = {p.name for p in hist.iterdir()}
    assert first < names and len(names) == 3
    for path in hist.iterdir():
        assert read_history(path).resumes == (path.name in first)
        assert trial_lines(path) == 3  # the resumed ones ran nothing again


def test_resuming_a_directory_of_old_numbered_histories_says_they_are_not_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    hist = tmp_path / "hist"
    hist.mkdir()
    (hist / "point-0000.jsonl").write_text("{}\n")
    assert main([*SWEEP, "--parents", "1", "--history-dir", str(hist), "--resume"]) == 0
    err = capsys.readouterr().err
    assert "point-NNNN.jsonl histories of an older sweep: they are not resumed" in err
