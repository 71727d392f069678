"""Scenario files run until loss: ``rounds = 0`` (and ``max_rounds_cap``) in ``[params]`` and
lifetime bounds in ``[expect]``. ``rlnc-testbed run FILE`` takes the lifetime path by itself and
``--rounds R`` makes it a run of R rounds; the plugin runs such a file trial by trial up to the
cap and judges the merged lifetimes; the project's scenario holds its bound with margin, and
the same bound fails where it should."""

from __future__ import annotations

import concurrent.futures.process  # noqa: F401  # before in-process runs (test_own_scenarios)
import json
import math
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from records_support import trial_record

import rlnc_testbed.experiment.cluster
import rlnc_testbed.signaling.server  # noqa: F401
from rlnc_testbed import pytest_plugin
from rlnc_testbed.analysis.lifetime import (
    DEFAULT_MAX_ROUNDS_CAP,
    Lifetime,
    estimate_lifetimes,
)
from rlnc_testbed.analysis.summary import PointResult, summarize
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.expectations import (
    ExpectationError,
    Expectations,
    check_expectations,
    judge_merged,
)
from rlnc_testbed.experiment.runner import run_lifetime, run_point
from rlnc_testbed.experiment.scenario import Scenario, ScenarioError, load_scenario
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import TrialRecord

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILE = ROOT / "scenarios" / "lifetime_rlnc_until_loss.toml"
_INSTALLED = any(ep.name == "rlnc_testbed" for ep in entry_points(group="pytest11"))

TINY = """\
name = "tiny-life"
transport = "{transport}"
markers = ["loop"]

[params]
peers = 4
symbols = 6
symbol_size = 16
redundancy = 2.0
parents = 2
rounds = {rounds}
{cap}
trials = 12
seed = 7
{extra}
"""
TINY_PARAMS = Params(
    peers=4, symbols=6, symbol_size=16, redundancy=2.0, parents=2, rounds=1, trials=12, seed=7
)


def tiny(tmp_path: Path, *, rounds: int = 0, cap: int | None = 200, transport: str = "sim",
         extra: str = "", name: str = "tiny.toml") -> Path:  # fmt: skip
    path = tmp_path / name
    text = TINY.format(
        transport=transport,
        rounds=rounds,
        cap="" if cap is None else f"max_rounds_cap = {cap}",
        extra=extra,
    )
    path.write_text(text, encoding="utf-8")
    return path


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json", "-"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


# -- the file format ---------------------------------------------------------------------------


def test_rounds_zero_is_until_loss_and_the_cap_is_params_rounds(tmp_path: Path) -> None:
    scenario = load_scenario(tiny(tmp_path))
    assert scenario.until_loss and scenario.max_rounds_cap == 200
    assert scenario.params == TINY_PARAMS.with_(rounds=200)
    assert scenario.to_dict()["until_loss"] is True and scenario.to_dict()["max_rounds_cap"] == 200
    default = load_scenario(tiny(tmp_path, cap=None))
    assert default.max_rounds_cap == default.params.rounds == DEFAULT_MAX_ROUNDS_CAP
    fixed = load_scenario(tiny(tmp_path, rounds=3, cap=None))
    assert not fixed.until_loss and fixed.max_rounds_cap is None and fixed.params.rounds == 3


def test_overrides_of_the_rounds(tmp_path: Path) -> None:
    scenario = load_scenario(tiny(tmp_path, extra="[expect]\nmin_mean_lifetime = 2\n"))
    fixed = scenario.with_rounds(5)  # as --rounds 5: R rounds, the lifetime bound dropped
    assert not fixed.until_loss and fixed.params.rounds == 5 and fixed.expect == {}
    assert scenario.with_rounds(cap=30).params.rounds == 30  # as --max-rounds-cap 30
    assert scenario.with_rounds(0).params.rounds == 200  # --rounds 0 keeps the file's cap
    assert scenario.with_params(rounds=40).max_rounds_cap == 40  # --rlnc-max-rounds: the cap
    plain = load_scenario(tiny(tmp_path, rounds=3, cap=None))
    assert plain.with_rounds(0).max_rounds_cap == DEFAULT_MAX_ROUNDS_CAP
    with pytest.raises(ScenarioError, match="needs a run until loss"):
        plain.with_rounds(cap=30)


FAULT = '[[faults]]\nkind = "crash"\ntarget = "parent"\nwhen = "mid-repair"\n'


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rounds": 3}, "max_rounds_cap needs rounds = 0 (until loss); got rounds = 3"),
        ({"cap": 0}, "max_rounds_cap must be an integer in [1, 1000000]; got 0"),
        ({"cap": 2_000_000}, "max_rounds_cap must be an integer in [1, 1000000]"),
        ({"cap": '"many"'}, "max_rounds_cap must be an integer"),
        (
            {"rounds": 3, "cap": None, "extra": "[expect]\nmin_median_lifetime = 2\n"},
            "[expect] min_median_lifetime: lifetime bounds need a run until loss (rounds = 0",
        ),
        (
            {"transport": "memory", "extra": FAULT + "round = 1\n"},
            "faults[0]: round = 1 names a round, but this scenario runs until loss",
        ),
        ({"extra": "[expect]\nmin_mean_lifetime = -1\n"}, "must be a number of rounds >= 0"),
        ({"extra": "[expect]\nmax_mean_lifetime = true\n"}, "must be a number of rounds >= 0"),
        (
            {"extra": "[expect]\nmin_mean_lifetime = 9\nmax_mean_lifetime = 3\n"},
            "min_mean_lifetime: 9 is above max_mean_lifetime 3: nothing can pass",
        ),
    ],
)
def test_what_a_file_run_until_loss_cannot_say(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    path = tiny(tmp_path, **options)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_faults_drawn_each_round_run_until_loss(tmp_path: Path) -> None:
    scenario = load_scenario(tiny(tmp_path, transport="memory", extra=FAULT + "rate = 0.5\n"))
    assert scenario.until_loss and len(scenario.faults.specs) == 1


# -- the CLI -----------------------------------------------------------------------------------


def test_run_takes_the_lifetime_path_by_itself(tmp_path: Path, capsys: Any) -> None:
    doc = _json(capsys, "run", str(tiny(tmp_path)))
    expected = run_lifetime(TINY_PARAMS, cap=200)
    assert doc["lifetimes"] == [life.to_dict() for life in expected.lifetimes]
    assert doc["lifetime"] == json.loads(json.dumps(expected.summary.to_dict()))
    assert doc["scenario"]["until_loss"] is True and doc["scenario"]["max_rounds_cap"] == 200
    # --until-loss or --rounds 0 change nothing; --max-rounds-cap replaces the file's cap
    assert _json(capsys, "run", str(tiny(tmp_path)), "--until-loss")["lifetime"] == doc["lifetime"]
    assert _json(capsys, "run", str(tiny(tmp_path)), "--rounds", "0")["lifetime"] == doc["lifetime"]
    capped = _json(capsys, "run", str(tiny(tmp_path)), "--max-rounds-cap", "3")["lifetime"]
    assert capped == json.loads(json.dumps(run_lifetime(TINY_PARAMS, cap=3).summary.to_dict()))


def test_rounds_r_makes_it_a_run_of_r_rounds(tmp_path: Path, capsys: Any) -> None:
    path = tiny(tmp_path, extra="[expect]\nmin_mean_lifetime = 1\n")
    doc = _json(capsys, "run", str(path), "--rounds", "2")
    assert "lifetime" not in doc and doc["scenario"]["rounds"] == 2
    expected = run_point(TINY_PARAMS.with_(rounds=2))
    assert doc["summary"]["successes"] == expected.summary.successes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "{file}", "--dashboard"], "--dashboard is not available with a run until loss "
         "(the scenario's rounds = 0)"),
        (["run", "{file}", "--rounds", "2", "--max-rounds-cap", "9"],
         "--max-rounds-cap needs --until-loss (or --rounds 0, or a scenario with rounds = 0)"),
        (["design", "--scenario", "{file}", "--target", "0.9", "--vary", "parents"],
         "runs until loss (rounds = 0), and design searches for success over R rounds"),
        (["serve", "{file}"], "runs until loss (rounds = 0): serve runs a scenario of fixed"),
    ],
)  # fmt: skip
def test_what_the_cli_refuses_for_a_file_run_until_loss(
    tmp_path: Path, capsys: Any, argv: list[str], message: str
) -> None:
    path = str(tiny(tmp_path))
    assert main([word.replace("{file}", path) for word in argv]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_sweep_of_a_file_run_until_loss(tmp_path: Path, capsys: Any) -> None:
    argv = ["sweep", "--scenario", str(tiny(tmp_path)), "--parents", "1", "2", "--quiet"]
    doc = _json(capsys, *argv)
    assert doc["until_loss"] is True and doc["max_rounds_cap"] == 200
    for point, parents in zip(doc["points"], (1, 2), strict=True):
        expected = run_lifetime(TINY_PARAMS.with_(parents=parents), cap=200)
        assert point["lifetimes"] == [life.rounds for life in expected.lifetimes]
    fixed = _json(capsys, *argv, "--rounds", "2")
    assert "until_loss" not in fixed and fixed["points"][0]["params"]["rounds"] == 2


# -- lifetime expectations -----------------------------------------------------------------------


def trial(index: int, lifetime: int, cap: int) -> TrialRecord:
    """A trial run with R = ``cap`` that verified ``lifetime`` rounds, then lost its data
    (unless ``lifetime == cap``: it reached the cap)."""
    return trial_record(index, min(lifetime + 1, cap), verified=lifetime, peers=TINY_PARAMS.peers)


def records(lifetimes: list[int], cap: int) -> list[TrialRecord]:
    return [trial(i, life, cap) for i, life in enumerate(lifetimes)]


def judge(table: dict[str, Any], lifetimes: list[int], cap: int) -> Any:
    return judge_merged(
        Expectations.from_mapping(table), records(lifetimes, cap), trials=len(lifetimes)
    )


def test_lifetime_bounds_are_judged_on_the_merged_point_estimates() -> None:
    lifetimes = [2, 4, 6, 8, 10]  # mean 6, median 6, nothing censored (cap 50)
    assert judge({"min_mean_lifetime": 6, "max_median_lifetime": 6}, lifetimes, 50).status == (
        "passed"
    )
    low = judge({"min_mean_lifetime": 6.5}, lifetimes, 50)
    assert low.failed and "mean lifetime 6.0 rounds" in low.problems[0]
    assert "below min_mean_lifetime 6.5" in low.problems[0]
    assert low.describe().startswith("FAILED: mean lifetime 6.0")
    high = judge({"max_median_lifetime": 5}, lifetimes, 50)
    assert high.failed and "above max_median_lifetime 5" in high.problems[0]
    ok = judge({"min_median_lifetime": 5, "max_mean_lifetime": 7}, lifetimes, 50)
    assert ok.status == "passed" and ok.notes == ("mean 6.0 <= 7: ok", "median 6 >= 5: ok")


def test_censoring_a_restricted_mean_never_confirms_a_max() -> None:
    lifetimes = [2, 3, 10, 10, 10]  # three reached the cap of 10: median beyond it
    capped = judge({"max_mean_lifetime": 50}, lifetimes, 10)
    assert capped.failed and "only a lower bound" in capped.problems[0]
    assert "3 reached the cap 10" in capped.problems[0]
    assert judge({"min_mean_lifetime": 7}, lifetimes, 10).status == "passed"  # 7.0 >= 7
    assert judge({"min_median_lifetime": 10}, lifetimes, 10).status == "passed"  # > C >= 10
    assert judge({"min_median_lifetime": 11}, lifetimes, 10).failed  # beyond what C shows
    assert judge({"max_median_lifetime": 10}, lifetimes, 10).failed


def test_a_shard_checks_that_its_interval_reaches_the_bound() -> None:
    cap = 50
    params = TINY_PARAMS.with_(rounds=cap, trials=10)
    scenario = Scenario("s", params, until_loss=True, expect={"min_mean_lifetime": 20})
    shard = [trial(i, life, cap) for i, life in zip((1, 3, 5), (4, 5, 30), strict=True)]
    result = PointResult(params, "sim", shard, summarize(params, shard))
    check_expectations(scenario, result, [1, 3, 5])  # mean 13, 95% CI reaches 20
    strict = Scenario("s", params, until_loss=True, expect={"min_mean_lifetime": 40})
    with pytest.raises(AssertionError, match="significantly below min_mean_lifetime 40"):
        check_expectations(strict, result, [1, 3, 5])
    whole = records([4, 5, 30, 6, 7, 8, 9, 10, 11, 12], cap)  # every trial: the merged rule
    result = PointResult(params, "sim", whole, summarize(params, whole))
    with pytest.raises(AssertionError, match=r"mean lifetime 10\.2 .* below min_mean_lifetime 20"):
        check_expectations(scenario, result, range(10))


def test_a_lifetime_bound_rejects_nonsense() -> None:
    with pytest.raises(ExpectationError, match="min_median_lifetime"):
        Expectations.from_mapping({"min_median_lifetime": float("inf")})
    assert Expectations.from_mapping({"max_mean_lifetime": 3}).max_mean_lifetime == 3.0


# -- the project's scenario ----------------------------------------------------------------------

#: Trials the simulator runs to measure the project scenario's lifetimes (~2-3 s).
MEASURE = 600
#: Resamples of the measured lifetimes per check (merged, and per default shard).
RESAMPLES = {"merged": 20_000, "shard": 2_000}
#: The most an honest run may miss the bound by chance.
FALSE_FAILURE = 1e-3


def test_the_project_scenario_holds_its_bound_with_margin() -> None:
    """Its ``min_mean_lifetime`` against the simulator's lifetimes: resampling the measured
    lifetimes, an honest run of the scenario's 30 trials (merged) or one of its 4 default
    shards (interval check) misses the bound with probability below FALSE_FAILURE (none of
    the resamples does)."""
    scenario = load_scenario(PROJECT_FILE)
    assert scenario.until_loss and scenario.transport == "sim"
    bound = scenario.expectations.min_mean_lifetime
    assert bound is not None
    cap = scenario.max_rounds_cap
    assert cap is not None
    measured = run_lifetime(scenario.params.with_(trials=MEASURE), cap=cap)
    assert measured.summary.censored == 0
    assert measured.summary.mean_ci95[0] > 2 * bound  # ~530 measured, bound 200
    pool = np.array([life.rounds for life in measured.lifetimes])
    rng = np.random.default_rng(0)
    n = scenario.params.trials
    means = rng.choice(pool, size=(RESAMPLES["merged"], n)).mean(axis=1)
    assert (means < bound).mean() < FALSE_FAILURE
    for size in {len(range(shard, n, 4)) for shard in range(4)}:
        draws = rng.choice(pool, size=(RESAMPLES["shard"], size))
        highs = [
            estimate_lifetimes(
                [Lifetime(i, int(v), False) for i, v in enumerate(row)], cap=cap
            ).mean_ci95[1]
            for row in draws
        ]
        assert (np.array(highs) < bound).mean() < FALSE_FAILURE


def test_the_project_scenario_bound_can_fail() -> None:
    """The same bound refutes P = 2 (mean ~35 rounds), and a bound above what the scenario's
    own 30 trials show (mean 315) fails them: the judgement is not vacuous."""
    scenario = load_scenario(PROJECT_FILE)
    cap = scenario.params.rounds
    own = run_point(scenario.params)
    table = scenario.expect
    assert judge_merged(scenario.expectations, own.trials, trials=30).status == "passed"
    wrong = judge_merged(
        Expectations.from_mapping({"min_mean_lifetime": 400}), own.trials, trials=30
    )
    assert wrong.failed and "mean lifetime 315.4 rounds" in wrong.problems[0]
    two = run_point(scenario.params.with_(parents=2))
    weaker = judge_merged(Expectations.from_mapping(table), two.trials, trials=30)
    assert weaker.failed and "below min_mean_lifetime 200" in weaker.problems[0]
    assert all(len(t.rounds) <= cap for t in two.trials)


# -- the plugin --------------------------------------------------------------------------------


def _pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess(
        "-p", "no:benchmark", *args, plugins=[] if _INSTALLED else [pytest_plugin]
    )


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


def test_the_plugin_runs_a_file_until_loss_and_judges_its_lifetimes(
    project: pytest.Pytester,
) -> None:
    mean = run_lifetime(TINY_PARAMS, cap=200).summary.mean  # 186.0 (10 of 12 reach the cap)
    folder = project.mkdir("life")
    bound = math.floor(mean) - 1
    tiny(folder, extra=f"[expect]\nmin_mean_lifetime = {bound}\n", name="ok.toml")
    result = _pytest(project, "--rlnc-scenarios", "life", "--rlnc-shards", "2")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"tiny-life *2/2  mean {mean:.1f} >= {bound}: ok"])
    # a "success" of a run until loss only means reaching the cap: the row shows the lifetime
    restricted = ">=" if run_lifetime(TINY_PARAMS, cap=200).summary.mean_restricted else ""
    result.stdout.fnmatch_lines([f"tiny-life * 12 * - * - *life {restricted}{mean:.1f} *2/2 *"])


def test_the_plugin_fails_a_lifetime_bound_merged(project: pytest.Pytester) -> None:
    mean = run_lifetime(TINY_PARAMS, cap=200).summary.mean
    folder = project.mkdir("life")
    # each shard's interval still reaches mean + 1, the merged mean does not
    bound = math.ceil(mean) + 1
    tiny(folder, extra=f"[expect]\nmin_mean_lifetime = {bound}\n", name="high.toml")
    result = _pytest(project, "--rlnc-scenarios", "life", "--rlnc-shards", "2")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [f"FAILED (merged) tiny-life: mean lifetime {mean:.1f} rounds *below min_mean_lifetime*"]
    )
