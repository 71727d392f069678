"""``rlnc-testbed show``: a recorded run replayed from its history, also after a crash."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rlnc_testbed.analysis.history import HistoryWriter
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.runner import run_point
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import TrialRecord

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


def test_show_of_a_history_with_unjudged_trials(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Trials 0 and 2 ran (the simulator's), 1 timed out before round 1, 3 failed between rounds
    # 1 and 2 with an error: the history a networked run leaves. The point line is missing,
    # as after a crash.
    params = Params(peers=4, symbols=6, parents=2, rounds=3, trials=4, seed=5)
    judged = run_point(params, transport="sim").trials
    first = judged[3].rounds[0]
    records = [
        replace(judged[0], finish="max-round" if judged[0].success else "end"),
        TrialRecord(trial=1, seed=5, finish="setup-timeout", error="deadline passed in joining"),
        replace(judged[2], finish="max-round" if judged[2].success else "end"),
        TrialRecord(
            trial=3, seed=5, rounds=[replace(first, verified=True, verdict="ok")],
            finish="error", error="round control: ParameterError: no peer left to fail",
        ),
    ]  # fmt: skip
    path = tmp_path / "net.jsonl"
    with HistoryWriter(path, params=params) as writer:
        for record in records:
            for rnd in record.rounds:
                writer.round(record.trial, rnd)
            writer.trial(record)
    assert main(["show", str(path), "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    summary = doc["summary"]
    assert summary["trials"] == 4 and summary["unjudged"] == {"error": 1, "setup-timeout": 1}
    assert summary["successes"] == judged[0].success + judged[2].success
    # Round 1 survivors: trial 3 (it verified round 1), not trial 1 (it had no round).
    alive = [t.survived_rounds >= 1 for t in (judged[0], judged[2])]
    assert summary["survival"][0] == (sum(alive) + 1) / 4
    assert [t["finish"] for t in doc["trials"]] == [r.finish for r in records]
    plot = tmp_path / "s.png"
    assert main(["show", str(path), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 trials recorded" in out and "error 1, setup-timeout 1" in out
    assert "no peer left to fail" in out and "setup-timeout (unjudged)" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
