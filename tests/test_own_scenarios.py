"""Your own TOML scenarios in one line: ``pytest --rlnc-scenarios DIR`` (and its ini twin) and
the ``@pytest.mark.rlnc_scenarios(PATH)`` marker, driven through ``pytester`` in a temporary
project with a passing, a failing and a malformed scenario file."""

from __future__ import annotations

import concurrent.futures.process  # noqa: F401  # before in-process runs, as below
from importlib.metadata import entry_points
from pathlib import Path

import pytest

# Imported before any in-process run (see the note in tests/test_plugin_pytester.py): the
# runs restore sys.modules, and a second copy of these beside aiohttp breaks later tests.
import rlnc_testbed.experiment.cluster
import rlnc_testbed.signaling.server  # noqa: F401
from rlnc_testbed import pytest_plugin

pytest_plugins = ["pytester"]

_INSTALLED = any(ep.name == "rlnc_testbed" for ep in entry_points(group="pytest11"))

INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
{extra}
"""

POINT = """\
name = "{name}"
transport = "sim"
{markers}

[params]
peers = {peers}
symbols = 6
symbol_size = 8
redundancy = {redundancy}
parents = 2
scheme = "rlnc"
failures = [2]
rounds = {rounds}
trials = {trials}

[expect]
{expect}
"""
#: 3 peers, r = 2: every trial verifies.
PASSING = POINT.format(
    name="mine-ok", markers="", peers=3, redundancy=2.0, rounds=1, trials=2, expect="success = true"
)
#: r = 1: the survivors hold 4 of 6 dimensions, every trial is undecodable; the file expects
#: success anyway.
FAILING = POINT.format(
    name="mine-fails", markers="", peers=3, redundancy=1.0, rounds=1, trials=1,
    expect="success = true",
)  # fmt: skip
MALFORMED = 'name = "broken"\n[params]\npeers = "three"\n'
#: A loop scenario whose shards each pass their own (interval) check but whose merged rate
#: (2 of 10 at seed 0 with replication) is far below the bound.
LOOP = """\
name = "mine-loop"
transport = "sim"
markers = ["loop"]

[params]
peers = 5
symbols = 6
symbol_size = 8
redundancy = 2.0
parents = 2
scheme = "replication"
rounds = 4
trials = 10
seed = 3

[expect]
min_success_rate = 0.5
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess(
        "-p", "no:benchmark", *args, plugins=[] if _INSTALLED else [pytest_plugin]
    )


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with ``tests/test_unit.py`` (one passing test) and ``my_scenarios/`` holding
    a passing, a failing and a malformed scenario file."""
    pytester.makeini(INI.format(extra=""))
    folder = pytester.mkdir("my_scenarios")
    (folder / "ok.toml").write_text(PASSING, encoding="utf-8")
    (folder / "fails.toml").write_text(FAILING, encoding="utf-8")
    (folder / "broken.toml").write_text(MALFORMED, encoding="utf-8")
    tests = pytester.mkdir("tests")
    (tests / "test_unit.py").write_text("def test_unit():\n    pass\n", encoding="utf-8")
    return pytester


def test_the_option_collects_each_file_as_a_test_file(project: pytest.Pytester) -> None:
    result = run(
        project, "tests", "--rlnc-scenarios", "my_scenarios", "--continue-on-collection-errors"
    )
    result.assert_outcomes(passed=2, failed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    # the malformed file is a collection error of its own, naming it and the problem
    result.stdout.fnmatch_lines(["*ERROR collecting my_scenarios/broken.toml*"])
    result.stdout.fnmatch_lines(["*rlnc-testbed: *broken.toml: peers must be an integer*"])
    # the failing one fails with the file named and what was expected
    result.stdout.fnmatch_lines(["FAILED my_scenarios/fails.toml::test_scenario[[]mine-fails[]]*"])
    wanted = "my_scenarios/fails.toml: trials not verified (trial: verdict): {0: 'undecodable'}"
    assert wanted in out.splitlines()
    # both that ran are in the merged summary; the failing one fails merged too
    result.stdout.fnmatch_lines(["*rlnc-testbed results*"])
    result.stdout.fnmatch_lines(["mine-ok *sim * 2 * 2 *1.000*success=true: ok*"])
    result.stdout.fnmatch_lines(["mine-fails *sim * 1 * 0 *not judged: shard(s) 0 failed*"])


def test_a_malformed_file_stops_the_session_like_a_broken_module(
    project: pytest.Pytester,
) -> None:
    result = run(project, "--rlnc-scenarios", "my_scenarios")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*rlnc-testbed: *broken.toml: peers must be an integer*"])
    result.stdout.fnmatch_lines(["*Interrupted: 1 error during collection*"])


def test_collected_ids_and_marks(project: pytest.Pytester) -> None:
    (project.path / "my_scenarios" / "broken.toml").unlink()
    result = run(project, "--rlnc-scenarios", "my_scenarios", "--co", "-q", "-m", "scenario")
    result.stdout.fnmatch_lines(
        [
            "my_scenarios/fails.toml::test_scenario[[]mine-fails[]]",
            "my_scenarios/ok.toml::test_scenario[[]mine-ok[]]",
            "*2/3 tests collected (1 deselected)*",
        ]
    )


def test_a_single_file_and_the_overrides(project: pytest.Pytester) -> None:
    result = run(
        project,
        "--rlnc-scenarios",
        "my_scenarios/ok.toml",
        "--rlnc-trials",
        "3",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=2)  # and tests/test_unit.py
    result.stdout.fnmatch_lines(["mine-ok *sim * 3 * 3 *"])


def test_the_ini_twin_is_relative_to_the_ini_file(project: pytest.Pytester) -> None:
    project.makeini(
        INI.format(extra="rlnc_scenarios = my_scenarios/ok.toml, my_scenarios/fails.toml")
    )
    sub = project.mkdir("elsewhere")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        result = run(project, str(project.path / "tests"))
    result.assert_outcomes(passed=2, failed=1)


def test_loop_scenarios_are_sharded_and_judged_merged(project: pytest.Pytester) -> None:
    loops = project.mkdir("loops")
    (loops / "loop.toml").write_text(LOOP, encoding="utf-8")
    result = run(project, "loops", "--rlnc-scenarios", "loops", "--rlnc-shards", "5")
    result.assert_outcomes(passed=5)  # 2 trials per shard cannot refute 0.5 on their own
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["FAILED (merged) mine-loop: success rate 0.200 *below*0.5"])


def test_a_path_that_does_not_exist_is_a_usage_error(project: pytest.Pytester) -> None:
    result = run(project, "--rlnc-scenarios", "nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--rlnc-scenarios: 'nowhere' does not exist*"])


MARKED = """\
import pytest


@pytest.mark.rlnc_scenarios({paths})
def test_mine(scenario, rlnc_check_scenario):
    result = rlnc_check_scenario(scenario)
    assert result.summary.trials == len(scenario.trials) and scenario.params.peers == 3
"""


def test_the_marker_runs_and_checks_each_scenario(project: pytest.Pytester) -> None:
    (project.path / "my_scenarios" / "broken.toml").unlink()
    project.makepyfile(test_marked=MARKED.format(paths='"my_scenarios"'))
    result = run(project, "test_marked.py")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_marked.py::test_mine[[]mine-fails[]]*"])
    result.stdout.fnmatch_lines(["my_scenarios/fails.toml: trials not verified*"])
    result.stdout.fnmatch_lines(["mine-ok *sim * 2 * 2 *1.000*success=true: ok*"])


def test_the_marker_names_a_malformed_file(project: pytest.Pytester) -> None:
    project.makepyfile(test_marked=MARKED.format(paths='"my_scenarios"'))
    result = run(project, "test_marked.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*rlnc-testbed: *my_scenarios/broken.toml: peers must be*"])


#: How a marker error starts: the test file and function, then the marker.
MARK = "*rlnc-testbed: test_marked.py::test_mine: @pytest.mark.rlnc_scenarios"


@pytest.mark.parametrize(
    ("decorator", "needle"),
    [
        (
            '@pytest.mark.rlnc_scenarios("missing")',
            MARK + ": *missing: no such directory or file*",
        ),
        (
            "@pytest.mark.rlnc_scenarios()",
            MARK + " needs one or more directory or .toml paths*",
        ),
        (
            '@pytest.mark.rlnc_scenarios("tests")',
            MARK + ": *tests: no [*].toml scenario file*",
        ),
        (
            '@pytest.mark.rlnc_scenarios(path="x")',
            MARK + " takes paths only*",
        ),
    ],
)
def test_marker_errors_name_the_test_file(
    project: pytest.Pytester, decorator: str, needle: str
) -> None:
    project.makepyfile(
        test_marked=f"import pytest\n\n\n{decorator}\ndef test_mine(scenario):\n    pass\n"
    )
    result = run(project, "test_marked.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([needle])


def test_the_marker_needs_a_scenario_argument(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_marked='import pytest\n\n\n@pytest.mark.rlnc_scenarios("my_scenarios")\n'
        "def test_mine():\n    pass\n"
    )
    result = run(project, "test_marked.py")
    result.stdout.fnmatch_lines([MARK + " needs a test taking a 'scenario' argument*"])


def test_the_option_under_xdist(project: pytest.Pytester) -> None:
    """Workers collect the same scenario files; the controller merges and judges them."""
    (project.path / "my_scenarios" / "broken.toml").unlink()
    plugin = [] if _INSTALLED else ["-p", "rlnc_testbed.pytest_plugin"]
    result = project.runpytest_subprocess(
        *plugin, "-p", "no:benchmark", "-n", "2", "tests", "--rlnc-scenarios", "my_scenarios"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["mine-fails *sim * 1 * 0 *not judged: shard(s) 0 failed*"])
    result.stdout.fnmatch_lines(["mine-ok *sim * 2 * 2 *1.000*success=true: ok*"])


def test_the_project_scenarios_module_is_the_marker_in_two_lines() -> None:
    module = (Path(__file__).parents[1] / "scenarios" / "test_scenarios.py").read_text()
    assert '@pytest.mark.rlnc_scenarios(".")' in module
    assert "rlnc_check_scenario(scenario)" in module
