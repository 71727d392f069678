"""Run every scenario file in this directory as a test (loop scenarios as several shards).

The ``rlnc_scenarios`` marker (:mod:`rlnc_testbed.pytest_plugin`) gives the cases, ids and
marks (:func:`~rlnc_testbed.pytest_plugin.scenario_cases`); ``rlnc_check_scenario`` runs each
shard and asserts its file's ``[expect]`` table
(:func:`rlnc_testbed.experiment.expectations.check_expectations`). The plugin then judges every
scenario's merged trials at the end of the session and fails it if a merged expectation fails
(see :mod:`rlnc_testbed.experiment.expectations` for the rule on rate bounds). Your own project
needs the same two lines, or none: ``pytest --rlnc-scenarios DIR``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rlnc_testbed.pytest_plugin import ScenarioCase

__all__: list[str] = []


@pytest.mark.rlnc_scenarios(".")
def test_scenario(scenario: ScenarioCase, rlnc_check_scenario: Callable[..., object]) -> None:
    rlnc_check_scenario(scenario)
