"""Sequential stopping (``--ci-width W --max-trials M``): batches of deterministic trials until
the 95% Wilson interval is narrower than W, or M trials."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.analysis.sequential import CAP, PRECISION, next_total, stopped
from rlnc_testbed.analysis.stats import wilson_interval
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.runner import run_point, run_sequential
from rlnc_testbed.protocol.params import ParameterError, Params

EASY = Params(parents=3, trials=50)  # never loses the data in 10 rounds
HARD = Params(parents=1, trials=50)  # loses it in about a third of the trials


def _width(successes: int, trials: int) -> float:
    lo, hi = wilson_interval(successes, trials)
    return hi - lo


def test_stop_rules() -> None:
    assert stopped(50, 100, width=0.3, max_trials=1000) == PRECISION
    assert stopped(50, 100, width=0.1, max_trials=1000) is None
    assert stopped(50, 100, width=0.1, max_trials=100) == CAP
    # precision wins when both hold
    assert stopped(50, 100, width=0.3, max_trials=100) == PRECISION


def test_next_batch_aims_at_the_width_within_bounds() -> None:
    # width 0.19 at n = 100 for p = 0.5: about (0.19 / 0.05)^2 * 100 trials, at most 4n
    assert next_total(50, 100, width=0.05, max_trials=10_000, batch=100) == 400
    target = next_total(50, 100, width=0.15, max_trials=10_000, batch=10)
    assert 100 < target < 400
    assert _width(target // 2, target) == pytest.approx(0.15, abs=0.02)
    assert next_total(50, 100, width=0.15, max_trials=10_000, batch=100) == 200  # >= n + T
    assert next_total(50, 100, width=0.01, max_trials=150, batch=10) == 150  # the cap


def test_trials_are_the_first_n_of_the_point() -> None:
    result = run_sequential(HARD, ci_width=0.08, max_trials=5000)
    assert result.stopping is not None and result.stopping.reason == PRECISION
    n = result.stopping.trials
    assert result.params.trials == n == len(result.trials) == result.summary.trials
    assert [t.trial for t in result.trials] == list(range(n))
    plain = run_point(HARD.with_(trials=n))
    assert result.summary == plain.summary
    assert result.stopping.width == pytest.approx(_width(plain.summary.successes, n))
    assert result.stopping.width < 0.08 and result.stopping.batches >= 2


def test_an_easy_point_stops_early_and_a_hard_one_takes_more() -> None:
    easy = run_sequential(EASY, ci_width=0.08, max_trials=5000)
    hard = run_sequential(HARD, ci_width=0.08, max_trials=5000)
    assert easy.stopping is not None and hard.stopping is not None
    assert easy.stopping.trials < hard.stopping.trials
    assert easy.stopping.reason == hard.stopping.reason == PRECISION


def test_the_cap_stops_a_point() -> None:
    result = run_sequential(HARD, ci_width=0.01, max_trials=120)
    assert result.stopping is not None
    assert result.stopping.reason == CAP and result.stopping.trials == 120
    assert result.stopping.width >= 0.01


def test_bad_widths_and_caps_are_refused() -> None:
    with pytest.raises(ParameterError, match="width"):
        run_sequential(HARD, ci_width=1.5, max_trials=100)
    with pytest.raises(ParameterError, match="first batch"):
        run_sequential(HARD, ci_width=0.1, max_trials=10)


def test_a_history_holds_every_batch(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    result = run_sequential(HARD, ci_width=0.1, max_trials=5000, history=history)
    assert result.stopping is not None and result.stopping.batches >= 2
    assert sorted(read_history(history).trials) == list(range(result.stopping.trials))


def test_cli_sweep_reports_trials_taken_and_why(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.csv"
    argv = ["sweep", "--parents", "1", "3", "--trials", "50", "--ci-width", "0.08",
            "--max-trials", "5000", "--csv", str(out), "--json", "-"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sequential"] == {"ci_width": 0.08, "max_trials": 5000}
    hard, easy = doc["points"]
    for point, params in ((hard, HARD), (easy, EASY)):
        expected = run_sequential(params, ci_width=0.08, max_trials=5000).stopping
        assert expected is not None
        assert point["stopping"] == expected.to_dict()
        assert point["trials"] == expected.trials
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert [r["stopped_on"] for r in rows] == ["precision", "precision"]
    assert [int(r["trials"]) for r in rows] == [hard["trials"], easy["trials"]]


def test_cli_run_prints_why_it_stopped(capsys) -> None:
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "loop_replication.toml"
    argv = ["run", str(scenario), "--trials", "20", "--ci-width", "0.5", "--max-trials", "40"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "stopped on precision after 20" in out and "stopped on" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-trials", "10"], "--max-trials needs --ci-width"),
        (["--ci-width", "0.1", "--until-loss"], "not with --until-loss"),
        (["--ci-width", "0.1", "--max-trials", "5", "--trials", "10"], "below the first batch"),
    ],
)
def test_cli_refuses(capsys, extra: list[str], message: str) -> None:
    assert main(["sweep", *extra]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_cli_refuses_a_width_of_one_or_more(capsys) -> None:
    assert main(["sweep", "--ci-width", "1"]) == EXIT_USAGE
    assert "must be < 1" in capsys.readouterr().err
