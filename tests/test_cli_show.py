"""``rlnc-testbed show``: a recorded run replayed from its history, also after a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlnc_testbed.cli.entry import EXIT_USAGE, main

SCENARIO = """\
name = "tiny"
transport = "sim"
[params]
peers = 4
symbols = 6
parents = 2
rounds = 3
trials = 4
seed = 5
"""


@pytest.fixture
def history(tmp_path: Path) -> Path:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(SCENARIO)
    path = tmp_path / "run.jsonl"
    assert main(["run", str(scenario), "--history", str(path), "--json", str(tmp_path / "a.json"),
                 "--quiet"]) == 0  # fmt: skip
    return path


def test_show_reproduces_the_runs_json(history: Path, capsys: pytest.CaptureFixture[str]):
    original = json.loads((history.parent / "a.json").read_text())
    assert main(["show", str(history), "--json", "-"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["trials"] == original["trials"]
    assert shown["summary"] == original["summary"]


def test_show_prints_tables_and_writes_a_plot(history: Path, capsys: pytest.CaptureFixture[str]):
    plot = history.parent / "s.png"
    assert main(["show", str(history), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 trials recorded" in out and "rounds" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_after_a_crash_shows_the_trials_that_finished(
    history: Path, capsys: pytest.CaptureFixture[str]
):
    lines = history.read_text().splitlines()
    last_trial = max(i for i, line in enumerate(lines) if json.loads(line)["event"] == "trial")
    history.write_text("\n".join(lines[:last_trial]) + '\n{"event": "fail')  # torn last line
    with pytest.warns(UserWarning):
        assert main(["show", str(history)]) == 0
    assert "3 of 4 trials recorded" in capsys.readouterr().out


def test_show_refuses_what_is_not_a_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bogus = tmp_path / "x.jsonl"
    bogus.write_text("this is not json\n{}\n")
    assert main(["show", str(bogus)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
