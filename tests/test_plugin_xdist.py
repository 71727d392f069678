"""The plugin under pytest-xdist: shard results travel from workers to the controller through
``user_properties`` and are merged once, in the controller's terminal summary."""

from __future__ import annotations

import re

import pytest
from test_plugin_pytester import INI, LOOP, LOOP_PARAMS, PLUGIN, summary_rows, write_scenarios

from rlnc_testbed.experiment.runner import run_point

pytest_plugins = ["pytester"]


def test_terminal_summary_merges_across_xdist_workers(pytester: pytest.Pytester):
    pytester.makeini(INI.format(extra=""))
    write_scenarios(pytester, loop=LOOP.format(scheme="rlnc", expect=""))
    result = pytester.runpytest_subprocess(
        *PLUGIN, "-p", "no:benchmark", "-n", "2", "--rlnc-shards", "4", timeout=120
    )
    result.assert_outcomes(passed=4)
    expected = run_point(LOOP_PARAMS, transport="sim").summary
    row = summary_rows(result.stdout.str())["tiny-loop"]
    assert row[3] == str(expected.successes) and row[2] == "10" and row[7] == "4"
    assert len(re.findall(r"rlnc-testbed results", result.stdout.str())) == 1
