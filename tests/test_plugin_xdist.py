"""The plugin under pytest-xdist: shard results travel from workers to the controller through
``user_properties``, are merged and judged once, on the controller, and a failed merged
expectation fails the session's exit status."""

from __future__ import annotations

import re

import pytest
from test_plugin_pytester import (
    INI,
    LOOP,
    LOOP_PARAMS,
    PLUGIN,
    TOO_FEW,
    summary_rows,
    write_scenarios,
)

from rlnc_testbed.experiment.runner import run_point

pytest_plugins = ["pytester"]


def run_xdist(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini(INI.format(extra=""))
    return pytester.runpytest_subprocess(
        *PLUGIN, "-p", "no:benchmark", "-n", "2", *args, timeout=120
    )


def test_terminal_summary_merges_across_xdist_workers(pytester: pytest.Pytester):
    write_scenarios(pytester, loop=LOOP.format(scheme="rlnc", expect="min_success_rate = 0.5"))
    result = run_xdist(pytester, "--rlnc-shards", "4")
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.OK
    expected = run_point(LOOP_PARAMS, transport="sim").summary
    row = summary_rows(result.stdout.str())["tiny-loop"]
    assert row[3] == str(expected.successes) and row[2] == "10" and row[7] == "4/4"
    assert row[8:] == ["min", "0.5:", "ok"]
    assert len(re.findall(r"rlnc-testbed results", result.stdout.str())) == 1


def test_a_merged_failure_across_workers_fails_the_session(pytester: pytest.Pytester):
    write_scenarios(pytester, few=TOO_FEW.format(expect="min_success_rate = 0.5"))
    result = run_xdist(pytester, "--rlnc-shards", "5")
    result.assert_outcomes(passed=5)  # every shard passes its own check (0 of 2: CI [0, 0.66])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    row = " ".join(summary_rows(result.stdout.str())["too-few"])
    assert "5/5" in row and "FAILED: success rate 0.000 (0/10" in row
    result.stdout.fnmatch_lines(["FAILED (merged) too-few: *is below min_success_rate 0.5"])
    assert len(re.findall(r"FAILED \(merged\)", result.stdout.str())) == 1  # controller only


def test_a_partial_selection_across_workers_is_not_judged(pytester: pytest.Pytester):
    write_scenarios(pytester, few=TOO_FEW.format(expect="min_success_rate = 0.5"))
    result = run_xdist(pytester, "--rlnc-shards", "5", "-k", "not shard4of5")
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.OK
    row = " ".join(summary_rows(result.stdout.str())["too-few"])
    assert "4/5" in row and "partial: shard(s) 0, 1, 2, 3 of 5 ran; not judged" in row
