"""Run every scenario file in this directory as a test (loop scenarios as several shards).

Cases, ids and marks come from :func:`rlnc_testbed.pytest_plugin.scenario_cases`; each
shard's assertions from its file's ``[expect]`` table via
:func:`rlnc_testbed.experiment.expectations.check_expectations`. The plugin then judges every
scenario's merged trials at the end of the session and fails it if a merged expectation fails
(see :mod:`rlnc_testbed.experiment.expectations` for the rule on rate bounds).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rlnc_testbed.analysis.summary import PointResult
from rlnc_testbed.experiment.expectations import check_expectations
from rlnc_testbed.pytest_plugin import ScenarioCase, scenario_cases

__all__: list[str] = []

HERE = Path(__file__).parent


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", scenario_cases(HERE, metafunc.config))


def test_scenario(case: ScenarioCase, rlnc_scenario_runner: Callable[..., PointResult]) -> None:
    result = rlnc_scenario_runner(case.scenario, shard=case.shard, shards=case.shards)
    trials = range(case.shard, case.scenario.params.trials, case.shards)
    check_expectations(case.scenario, result, trials)
