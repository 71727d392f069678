"""The plugin's rough edges: one scenario run with different overrides by two tests, scoped
``--rlnc-trials``, progress lines and incomplete reports (pytester)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_plugin_pytester import INI, LOOP, run, write_scenarios

from rlnc_testbed import pytest_plugin
from rlnc_testbed.experiment.scenario import load_scenario
from rlnc_testbed.pytest_plugin import RlncOptions

pytest_plugins = ["pytester"]


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI.format(extra=""))
    return pytester


TWO_TESTS = """
from pathlib import Path
from rlnc_testbed.experiment.scenario import load_scenario

SCENARIO = load_scenario(Path(__file__).parent / "loop.toml")

def test_seed_3(rlnc_scenario_runner):
    rlnc_scenario_runner(SCENARIO)

def test_seed_4(rlnc_scenario_runner):
    rlnc_scenario_runner(SCENARIO.with_params(seed=4))
"""


def test_two_tests_with_different_overrides_are_two_rows_not_a_crash(tester: pytest.Pytester):
    (tester.path / "loop.toml").write_text(LOOP.format(scheme="rlnc", expect=""), "utf-8")
    tester.makepyfile(test_two=TWO_TESTS)
    result = run(tester, "--rlnc-report", "rep")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "conflicting duplicates" not in out and "FAILED (merged)" not in out
    assert "tiny-loop [seed=3]" in out and "tiny-loop [seed=4]" in out
    for seed in (3, 4):
        report = json.loads((tester.path / "rep" / f"tiny-loop__seed_{seed}_.json").read_text())
        assert report["scenario"]["seed"] == seed and report["complete"] is True
        assert len(report["trials"]) == 10


def _scenario(tmp_path: Path, transport: str, markers: str = '["loop"]'):
    text = LOOP.format(scheme="rlnc", expect="").replace(
        'transport = "sim"\nmarkers = ["loop"]', f'transport = "{transport}"\nmarkers = {markers}'
    )
    path = tmp_path / f"{transport}.toml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def test_trials_scope(tmp_path: Path) -> None:
    sim, webrtc = _scenario(tmp_path, "sim"), _scenario(tmp_path, "webrtc", '["webrtc"]')
    bare = RlncOptions(trials=1000)
    assert bare.apply(sim).params.trials == 1000
    assert bare.apply(webrtc).params.trials == 10  # a bare N is for sim scenarios only
    scoped = RlncOptions(trials=1000, scoped_trials=(("webrtc", 3), ("tiny-loop", 7)))
    assert scoped.apply(sim).params.trials == 7  # the name beats the bare N
    assert scoped.apply(webrtc).params.trials == 7  # the name beats the marker/transport
    marker = RlncOptions(scoped_trials=(("loop", 5), ("sim", 6)))
    assert marker.apply(sim).params.trials == 5  # a marker beats a transport
    transport = RlncOptions(scoped_trials=(("memory", 2),))
    assert transport.apply(sim).params.trials == 10
    # the transport is the one after --rlnc-transport
    moved = RlncOptions(transport="memory", trials=1000, scoped_trials=(("memory", 2),))
    assert moved.apply(sim).params.trials == 2
    assert RlncOptions(transport="webrtc", trials=1000).apply(sim).params.trials == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", (7, ())),
        ("1000,webrtc=5,loop-rlnc=20000", (1000, (("webrtc", 5), ("loop-rlnc", 20000)))),
        ("memory=2", (None, (("memory", 2),))),
    ],
)
def test_trials_option_syntax(text: str, expected: object) -> None:
    assert pytest_plugin._trials_spec(text) == expected


@pytest.mark.parametrize(
    ("value", "needle"), [("1,2", "two bare"), ("=3", "needs a selector"), ("webrtc=0", ">= 1")]
)
def test_bad_trials_options_are_usage_errors(tester: pytest.Pytester, value: str, needle: str):
    result = run(tester, "--rlnc-trials", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert needle in result.stderr.str()


def test_header_names_scoped_trials(tester: pytest.Pytester):
    result = run(tester, "--rlnc-trials", "1000,webrtc=5", "--co")
    result.stdout.fnmatch_lines(["*trials=1000 (sim),webrtc=5*"])


def test_a_memory_scenario_keeps_its_trials_under_a_bare_count(tester: pytest.Pytester):
    memory = LOOP.format(scheme="rlnc", expect="").replace(
        'transport = "sim"', 'transport = "memory"'
    )
    write_scenarios(tester, loop=memory.replace("trials = 10", "trials = 2"))
    # a loop scenario is split into min(shards, trials) items: they show the trials it runs
    bare = run(tester, "--co", "-q", "--rlnc-shards", "5", "--rlnc-trials", "50")
    bare.stdout.fnmatch_lines(["*2 tests collected*"])
    scoped = run(tester, "--co", "-q", "--rlnc-shards", "5", "--rlnc-trials", "50,memory=3")
    scoped.stdout.fnmatch_lines(["*3 tests collected*"])


def test_long_runs_print_progress(tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pytest_plugin, "PROGRESS_EVERY", 0.0)
    write_scenarios(tester, loop=LOOP.format(scheme="rlnc", expect=""))
    result = run(tester, "--rlnc-shards", "2")
    result.stdout.fnmatch_lines(
        ["*rlnc-testbed: tiny-loop shard 0/2: 1/5 trials*", "*tiny-loop shard 0/2: 5/5 trials*"]
    )


def test_short_runs_print_no_progress(tester: pytest.Pytester):
    write_scenarios(tester, loop=LOOP.format(scheme="rlnc", expect=""))
    assert "trials" not in run(tester).stdout.str().split("rlnc-testbed results")[0].split(
        "test session starts"
    )[1].replace("trials=per scenario", "")


def test_a_partial_report_is_marked_incomplete(tester: pytest.Pytester):
    write_scenarios(tester, loop=LOOP.format(scheme="rlnc", expect=""))
    result = run(tester, "--rlnc-shards", "2", "-k", "shard0of2", "--rlnc-report", "rep")
    result.assert_outcomes(passed=1)
    assert "INCOMPLETE: 5 of 10 trials" in result.stdout.str()
    report = json.loads((tester.path / "rep" / "tiny-loop.json").read_text())
    assert report["complete"] is False
    assert (report["trials_expected"], report["trials_recorded"]) == (10, 5)
