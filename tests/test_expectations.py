"""Scenario expectations: the ``[expect]`` table is validated when loaded, each shard is checked
on its own trials, merged trials are judged by the observed rate; and the scenario files'
expectations are true, with margin, for the rates the simulator measures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from records_support import trial_record

from rlnc_testbed.analysis.stats import wilson_interval
from rlnc_testbed.analysis.summary import PointResult, summarize
from rlnc_testbed.experiment.expectations import (
    EXPECT_KEYS,
    ExpectationError,
    Expectations,
    Judgement,
    check_expectations,
    final_verdict,
    judge_merged,
)
from rlnc_testbed.experiment.runner import run_point
from rlnc_testbed.experiment.scenario import Scenario, ScenarioError, load_scenario, load_scenarios
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import VERDICTS, TrialRecord

ROOT = Path(__file__).resolve().parents[1]
PARAMS = Params(peers=5, symbols=6, symbol_size=8, redundancy=2.0, parents=2, rounds=2, trials=6)


def trial(index: int, verdict: str = "ok", *, rounds: int = 2) -> TrialRecord:
    """A trial that verifies ``rounds`` rounds, or fails its last one with ``verdict``."""
    verified = rounds if verdict == "ok" else rounds - 1
    return trial_record(index, rounds, verified=verified, verdict=verdict, peers=PARAMS.peers)


def trials(*verdicts: str, start: int = 0, step: int = 1) -> list[TrialRecord]:
    return [trial(start + i * step, v) for i, v in enumerate(verdicts)]


def expect(**table: Any) -> Expectations:
    return Expectations.from_mapping(table)


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        {},
        {"success": True},
        {"success": True, "verdict": "ok", "min_success_rate": 0.5, "max_success_rate": 1.0},
        {"success": False, "verdict": "undecodable", "max_success_rate": 0.0},
        {"min_success_rate": 0.25, "max_success_rate": 0.25},
        {"verdict": "repair-timeout", "min_success_rate": 0.0},
    ],
)
def test_valid_tables_round_trip(table: dict[str, Any]) -> None:
    assert expect(**table).to_dict() == table


def test_integer_rates_become_floats() -> None:
    e = expect(min_success_rate=0, max_success_rate=1)
    assert e.to_dict() == {"min_success_rate": 0.0, "max_success_rate": 1.0}
    assert all(isinstance(v, float) for v in e.to_dict().values())


@pytest.mark.parametrize(
    ("table", "key", "fragment"),
    [
        ({"verdict": "lost"}, "verdict", "must be one of"),
        ({"verdict": 3}, "verdict", "must be one of"),
        ({"min_success_rate": 1.5}, "min_success_rate", "must be in [0, 1]; got 1.5"),
        ({"max_success_rate": -0.1}, "max_success_rate", "must be in [0, 1]"),
        ({"min_success_rate": "high"}, "min_success_rate", "must be a number"),
        ({"max_success_rate": True}, "max_success_rate", "must be a number"),
        ({"min_success_rate": math.nan}, "min_success_rate", "must be in [0, 1]"),
        ({"max_success_rate": math.inf}, "max_success_rate", "must be in [0, 1]"),
        ({"min_success_rate": 0.6, "max_success_rate": 0.4}, "min_success_rate", "above max"),
        ({"success": 1}, "success", "must be true or false"),
        ({"success": True, "verdict": "undecodable"}, "verdict", "contradicts success = true"),
        ({"success": False, "verdict": "ok"}, "verdict", "contradicts success = false"),
        ({"success": True, "max_success_rate": 0.9}, "max_success_rate", "contradicts"),
        ({"verdict": "ok", "max_success_rate": 0.5}, "max_success_rate", "contradicts"),
        ({"success": False, "min_success_rate": 0.1}, "min_success_rate", "contradicts"),
        ({"succes": True}, "succes", "unknown key"),
    ],
)
def test_malformed_tables_name_the_key(table: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(ExpectationError) as info:
        Expectations.from_mapping(table)
    assert info.value.key == key
    assert str(info.value).startswith(f"[expect] {key}: ") and fragment in str(info.value)


def test_the_table_keys_and_verdicts() -> None:
    assert set(EXPECT_KEYS) == {"success", "min_success_rate", "max_success_rate", "verdict",
                                "min_mean_lifetime", "max_mean_lifetime", "min_median_lifetime",
                                "max_median_lifetime"}  # fmt: skip
    for verdict in VERDICTS:
        assert expect(verdict=verdict).verdict == verdict


def test_load_scenario_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[params]\npeers = 4\n\n[expect]\nmin_success_rate = 1.5\n", "utf-8")
    with pytest.raises(ScenarioError, match=r"bad\.toml: \[expect\] min_success_rate: must be"):
        load_scenario(path)
    path.write_text("expect = 3\n\n[params]\npeers = 4\n", "utf-8")
    with pytest.raises(ScenarioError, match=r"bad\.toml: \[expect\] must be a table"):
        load_scenario(path)


def test_scenarios_built_in_code_are_validated_too() -> None:
    with pytest.raises(ScenarioError, match=r"named: \[expect\] verdict: must be one of"):
        Scenario("named", PARAMS, expect={"verdict": "fine"})
    scenario = Scenario("named", PARAMS, expect={"min_success_rate": 1})
    assert scenario.expect == {"min_success_rate": 1.0}
    assert scenario.expectations == expect(min_success_rate=1.0)


# -- the merged judgement ------------------------------------------------------------------


def test_every_trial_failing_refutes_a_min_rate() -> None:
    judged = judge_merged(expect(min_success_rate=0.5), trials(*["undecodable"] * 6), trials=6)
    assert judged.failed and judged.notes == ("min 0.5: BELOW",)
    assert judged.problems == (
        "success rate 0.000 (0/6, 95% CI [0.000, 0.390]) is below min_success_rate 0.5",
    )
    assert judged.describe() == "FAILED: " + judged.problems[0]


def test_the_observed_rate_decides_at_the_bound() -> None:
    half = trials("ok", "undecodable", "ok", "undecodable", "ok", "undecodable")
    assert judge_merged(expect(min_success_rate=0.5), half, trials=6).status == "passed"
    assert judge_merged(expect(max_success_rate=0.5), half, trials=6).status == "passed"
    assert judge_merged(expect(min_success_rate=0.51), half, trials=6).failed
    above = judge_merged(expect(max_success_rate=0.49), half, trials=6)
    assert above.failed and above.notes == ("max 0.49: ABOVE",)
    assert "is above max_success_rate 0.49" in above.problems[0]


def test_success_and_verdict_are_judged_over_every_trial() -> None:
    one_lost = trials("ok", "ok", "collect-timeout")
    judged = judge_merged(expect(success=True), one_lost, trials=3)
    assert judged.failed
    assert judged.problems == ("trials not verified (trial: verdict): {2: 'collect-timeout'}",)
    wrong = judge_merged(
        expect(success=False, verdict="undecodable"), trials("undecodable", "corrupt"), trials=2
    )
    assert wrong.notes == ("success=false: ok", "verdict=undecodable: FAIL")
    assert "got (trial: verdict) {1: 'corrupt'}" in wrong.problems[0]
    lost_cleanly = judge_merged(
        expect(verdict="undecodable"), trials("ok", "undecodable"), trials=2
    )
    assert lost_cleanly.status == "passed"


def test_errors_fail_unless_expected() -> None:
    crashed = trials("ok", "error")
    judged = judge_merged(expect(), crashed, trials=2)
    assert judged.failed and judged.problems == (
        "trials ended in errors, not clean verdicts: {1: 'boom'}",
    )
    assert judge_merged(expect(verdict="error"), crashed, trials=2).status == "passed"


def test_nothing_expected_passes_well_formed_trials() -> None:
    judged = judge_merged(expect(), trials("ok", "undecodable"), trials=2)
    assert judged == Judgement("passed") and judged.describe() == "-"


def test_missing_trials_are_partial_not_judged() -> None:
    some = trials("undecodable", "undecodable", start=0, step=2)  # trials 0 and 2 of 4
    judged = judge_merged(expect(min_success_rate=0.9), some, trials=4)
    assert judged.status == "partial" and not judged.failed
    assert judged.describe() == "partial: 2 of 4 trials ran; not judged"


# -- one shard's check -----------------------------------------------------------------------


def shard_result(records: list[TrialRecord]) -> PointResult:
    return PointResult(PARAMS, "sim", records, summarize(PARAMS, records), name="s")


def test_a_shard_of_some_trials_checks_only_what_its_interval_refutes() -> None:
    scenario = Scenario("s", PARAMS, expect={"min_success_rate": 0.5})
    shard = trials("undecodable", "undecodable", start=1, step=3)  # trials 1, 4 of 6
    check_expectations(scenario, shard_result(shard), range(1, 6, 3))  # CI [0, 0.66]
    strict = Scenario("s", PARAMS, expect={"min_success_rate": 0.7})
    with pytest.raises(AssertionError, match=r"significantly below min_success_rate 0\.7"):
        check_expectations(strict, shard_result(shard), range(1, 6, 3))


def test_a_shard_of_every_trial_applies_the_merged_rule() -> None:
    scenario = Scenario("s", PARAMS, expect={"min_success_rate": 0.5})
    records = trials("ok", "ok", "undecodable", "undecodable", "undecodable", "undecodable")
    with pytest.raises(AssertionError, match=r"0\.333 \(2/6, .*\) is below min_success_rate 0\.5"):
        check_expectations(scenario, shard_result(records), range(6))


def test_a_shard_checks_success_verdict_and_well_formedness() -> None:
    failing = Scenario("s", PARAMS, expect={"success": False, "verdict": "undecodable"})
    with pytest.raises(AssertionError, match="expected verdict 'undecodable'"):
        check_expectations(failing, shard_result(trials("corrupt")), [0])
    with pytest.raises(AssertionError, match="trials verified although failure was expected"):
        check_expectations(failing, shard_result(trials("ok")), [0])
    with pytest.raises(AssertionError, match="records are not the shard's trials"):
        check_expectations(failing, shard_result(trials("undecodable")), [1])


def test_final_verdict() -> None:
    assert [final_verdict(t) for t in trials("ok", "corrupt")] == ["ok", "corrupt"]


# -- the scenario files ------------------------------------------------------------------------

SCENARIOS = load_scenarios(ROOT / "scenarios")
#: Trials the simulator runs to measure each scenario's true rate (~4 s for all files).
MEASURE = 4000
#: Trials measured over the memory transport for scenarios whose faults change decisions.
MEASURE_WITH_FAULTS = 200
#: Fault kinds that change no decision (only time): the simulator predicts those scenarios.
HARMLESS_FAULTS = {"zombie", "link", "collector-reconnect", "server-restart"}
#: The most an honest run may miss a rate bound by chance.
FALSE_FAILURE = 1e-3


def binomial_tail(n: int, p: float, fails: Any) -> float:
    """P(fails(k)) for k ~ Binomial(n, p)."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1) if fails(k))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_scenario_file_states_an_expectation_that_can_fail(scenario: Scenario) -> None:
    e = scenario.expectations
    assert e.to_dict(), f"{scenario.path}: [expect] states nothing"
    rates = [e.min_success_rate or 0.0, 1.0 if e.max_success_rate is None else e.max_success_rate]
    # lifetime bounds (until-loss scenarios): tests/test_until_loss_scenarios.py shows they fail
    lifetimes = scenario.until_loss and e.has_lifetimes
    assert e.success is not None or e.verdict is not None or rates != [0.0, 1.0] or lifetimes


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_expectations_hold_with_margin_in_the_simulator(scenario: Scenario) -> None:
    """Run the scenario's parameters for MEASURE trials in the simulator (the first trials are
    the scenario's own: same seed) - or, when its faults change decisions (crashes, pollution),
    for MEASURE_WITH_FAULTS trials over the memory transport with those faults.
    ``success``/``verdict`` must hold for every one of them (a per-trial failure rate above
    ~3/MEASURE would show). A rate bound must be missed by an
    honest run of the scenario's own trial count, merged or by one of its default shards'
    interval checks, with probability < FALSE_FAILURE even at the pessimistic end of the
    measured rate's 95% interval."""
    e = scenario.expectations
    if scenario.until_loss:  # its margins, on the lifetimes: tests/test_until_loss_scenarios.py
        assert not (e.has_rates or e.success is not None or e.verdict is not None)
        return
    if {spec.kind for spec in scenario.faults.specs} <= HARMLESS_FAULTS:
        measure = MEASURE
        measured = run_point(scenario.params.with_(trials=measure), transport="sim")
    else:  # faults that change decisions: the simulator has none, so measure the system
        measure = MEASURE_WITH_FAULTS
        measured = run_point(
            scenario.params.with_(trials=measure), transport="memory", faults=scenario.faults
        )
    successes = measured.summary.successes
    if e.all_verified:
        assert successes == measure
    if e.success is False:
        assert successes == 0
    if e.verdict not in (None, "ok"):
        assert {final_verdict(t) for t in measured.trials} <= {"ok", e.verdict}
    lo, hi = wilson_interval(successes, measure)
    n = scenario.params.trials
    # the default layout: loop scenarios in 4 shards (scenario_cases), each checks its interval
    shards = min(4, n) if "loop" in scenario.markers else 1
    sizes = [len(range(shard, n, shards)) for shard in range(shards)]
    if e.min_success_rate is not None:
        bound = e.min_success_rate
        merged = binomial_tail(n, lo, lambda k: k / n < bound)
        per_shard = sum(
            binomial_tail(m, lo, lambda k, m=m: wilson_interval(k, m)[1] < bound) for m in sizes
        )
        assert merged + per_shard < FALSE_FAILURE, (merged, per_shard)
    if e.max_success_rate is not None:
        bound = e.max_success_rate
        merged = binomial_tail(n, hi, lambda k: k / n > bound)
        per_shard = sum(
            binomial_tail(m, hi, lambda k, m=m: wilson_interval(k, m)[0] > bound) for m in sizes
        )
        assert merged + per_shard < FALSE_FAILURE, (merged, per_shard)
