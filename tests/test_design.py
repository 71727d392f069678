"""Target search (``rlnc-testbed design``): the smallest value reaching a success target with
a given confidence, found by bisection with sequential trials per probed value."""

from __future__ import annotations

import itertools
import json

import pytest

from rlnc_testbed.analysis.design import FAIL, PASS, UNDECIDED, bounds, decide, search
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.runner import run_design, run_point
from rlnc_testbed.protocol.params import ParameterError, Params


def _exact(rates: dict[int, float]):
    """A run() whose successes are exactly rate * trials (no noise), counting calls."""
    calls: list[tuple[int, int, int]] = []

    def run(value: int, start: int, stop: int) -> int:
        calls.append((value, start, stop))
        return round(rates[value] * stop) - round(rates[value] * start)

    return run, calls


def test_bounds_are_one_sided() -> None:
    lo, hi = bounds(100, 100, 0.95)
    assert lo == pytest.approx(100 / (100 + 1.6448536**2))  # Wilson at s = n, z = z(0.95)
    assert hi == 1.0
    assert decide(100, 100, target=0.97, confidence=0.95) == PASS
    assert decide(50, 100, target=0.97, confidence=0.95) == FAIL
    assert decide(97, 100, target=0.97, confidence=0.95) is None


def test_search_finds_the_smallest_passing_value_with_few_probes() -> None:
    rates = {v: min(1.0, 0.5 + 0.06 * v) for v in range(1, 17)}  # 0.9 is first met at 7
    run, calls = _exact(rates)
    answer, probes = search(
        list(rates), run, target=0.9, confidence=0.95, batch=50, max_trials=20_000
    )
    # v = 7 is exactly 0.92: passes; v = 6 is 0.86: fails
    assert answer == 7
    assert len(probes) <= 5  # bisection over 16 values
    decisions = {p.value: p.decision for p in probes}
    assert decisions[7] == PASS and decisions[6] == FAIL
    # trials go where the decision is uncertain: far-off values stop after one batch
    trials = {p.value: p.trials for p in probes}
    far = [v for v in trials if abs(rates[v] - 0.9) > 0.08]
    assert far and all(trials[v] == 50 for v in far)
    assert trials[7] > 50
    # batches are consecutive trial indices 0, 1, 2, ...
    for value in trials:
        spans = [(a, b) for v, a, b in calls if v == value]
        assert spans[0][0] == 0 and all(b == a2 for (_, b), (a2, _) in itertools.pairwise(spans))


def test_no_value_passes_and_undecided_is_not_a_pass() -> None:
    rates = {1: 0.5, 2: 0.899, 3: 0.9}
    run, _ = _exact(rates)
    answer, probes = search([1, 2, 3], run, target=0.9, confidence=0.95, batch=50, max_trials=400)
    assert answer is None
    assert {p.value: p.decision for p in probes}[3] == UNDECIDED


def test_the_simulator_answer_is_the_known_one() -> None:
    """N = 10, k = 20, r = 2, R = 10: P = 1 keeps the data in about 68% of trials, P = 2 in
    about 96%, P >= 3 in nearly all: the smallest P for 0.9 is 2."""
    base = Params(rounds=10)
    rate = {p: run_point(base.with_(parents=p, trials=1000)).summary.success_rate for p in (1, 2)}
    assert rate[1] < 0.8 and rate[2] > 0.94  # far enough from 0.9 to decide
    design = run_design(base, vary="parents", target=0.9)
    assert design.answer == 2
    probes = {p.value: p for p in design.probes}
    assert probes[1].decision == FAIL and probes[2].decision == PASS
    # the evidence is the first trials of each point
    for value, probe in probes.items():
        again = run_point(base.with_(parents=value, trials=probe.trials)).summary
        assert (again.successes, again.trials) == (probe.successes, probe.trials)
    assert design.to_dict()["trials"] == sum(p.trials for p in design.probes)


def test_redundancy_needs_values_and_bad_values_are_named() -> None:
    with pytest.raises(ParameterError, match="needs --values"):
        run_design(Params(), vary="redundancy", target=0.9)
    with pytest.raises(ParameterError, match="parents = 12"):
        run_design(Params(), vary="parents", values=[1, 12], target=0.9)


def test_cli_design_prints_the_answer_and_its_evidence(capsys) -> None:
    argv = ["design", "--target", "0.9", "--rounds", "10", "--vary", "parents"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "parents = 2" in out and "pass <- answer" in out and "fail" in out
    assert main([*argv, "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["answer"] == 2 and doc["vary"] == "parents" and doc["target"] == 0.9
    assert {"provenance", "params", "probes", "values", "confidence", "rounds"} <= set(doc)
    assert doc["values"] == list(range(1, 10))
    assert all({"value", "trials", "successes", "lower", "upper", "decision"} <= set(p)
               for p in doc["probes"])  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--vary", "parents", "--parents", "2"], "is the varied parameter"),
        (["--vary", "redundancy"], "needs --values"),
        (["--vary", "parents", "--values", "1.5"], "must be integers"),
        (["--vary", "parents", "--batch", "500", "--max-trials", "100"], "above --max-trials"),
    ],
)
def test_cli_design_refuses(capsys, extra: list[str], message: str) -> None:
    assert main(["design", "--target", "0.9", *extra]) == EXIT_USAGE
    assert message in capsys.readouterr().err
