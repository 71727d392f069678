"""The pytest plugin, driven through ``pytester``: options, ini twins, markers, header,
fixtures, and the merged per-scenario summary and report files (xdist: test_plugin_xdist.py)."""

from __future__ import annotations

import concurrent.futures.process  # noqa: F401  # before in-process runs, as below
import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest

# In-process runs restore sys.modules afterwards: a module first imported inside one (the
# fixtures import the server and cluster lazily) would be imported again later, beside the
# aiohttp it already holds - two copies of aiohttp's enums, and `raw.type is WSMsgType.TEXT`
# fails in every later test of this process. Import them here, before any inner run.
import rlnc_testbed.experiment.cluster
import rlnc_testbed.signaling.server  # noqa: F401
from rlnc_testbed import pytest_plugin
from rlnc_testbed.experiment.runner import run_point
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.pytest_plugin import MARKERS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_MODULE = (ROOT / "scenarios" / "test_scenarios.py").read_text(encoding="utf-8")

#: Load the plugin explicitly unless the installed entry point already does. In-process runs
#: get the imported module object (``-p`` would warn that the module, imported above, cannot
#: be assertion-rewritten any more); subprocess runs get ``-p``.
_INSTALLED = any(ep.name == "rlnc_testbed" for ep in entry_points(group="pytest11"))
PLUGIN = [] if _INSTALLED else ["-p", "rlnc_testbed.pytest_plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """``runpytest_inprocess`` with the plugin loaded once.

    ``-p no:benchmark``: under xdist, an installed pytest-benchmark warns at configure time
    and our ``filterwarnings = error`` would turn that into an internal error.
    """
    return pytester.runpytest_inprocess(
        "-p", "no:benchmark", *args, plugins=[] if _INSTALLED else [pytest_plugin]
    )


INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
asyncio_default_test_loop_scope = function
filterwarnings = error
{extra}
"""

LOOP = """\
name = "tiny-loop"
transport = "sim"
markers = ["loop"]

[params]
peers = 5
symbols = 6
symbol_size = 8
redundancy = 2.0
parents = 2
scheme = "{scheme}"
rounds = 4
trials = 10
seed = 3

[expect]
{expect}
"""
LOOP_PARAMS = Params(
    peers=5, symbols=6, symbol_size=8, redundancy=2.0, parents=2, rounds=4, trials=10, seed=3
)
#: What the simulator gives for LOOP (seed 3): 10 of 10 trials verify with rlnc (the true rate
#: is ~0.9), 2 of 10 with replication (~0.18). The tests below rely on these counts.
LOOP_SUCCESSES = {"rlnc": 10, "replication": 2}


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI.format(extra=""))
    return pytester


def write_scenarios(pytester: pytest.Pytester, **files: str) -> None:
    for name, text in files.items():
        (pytester.path / f"{name}.toml").write_text(text, encoding="utf-8")
    pytester.makepyfile(test_scen=SCENARIO_MODULE)


def summary_rows(output: str) -> dict[str, list[str]]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "rlnc-testbed results" in line)
    rows = {}
    for line in lines[start + 2 :]:
        if line.startswith("=") or not line.strip():
            break
        rows[line.split()[0]] = line.split()
    return rows


def test_options_reach_the_rlnc_options_fixture(tester: pytest.Pytester):
    tester.makepyfile("""
        import os
        from pathlib import Path
        from rlnc_testbed.timeouts import unit

        def test_options(rlnc_options):
            assert rlnc_options.transport == "memory"
            assert rlnc_options.trials == 7
            assert rlnc_options.max_rounds == 3
            assert rlnc_options.seed == 0
            assert rlnc_options.report == Path("out")
            assert rlnc_options.shards == 2
            assert rlnc_options.timeout_factor == 2.5
            assert unit() == 2.5
    """)
    result = run(
        tester,
        "--rlnc-transport",
        "memory",
        "--rlnc-trials",
        "7",
        "--rlnc-max-rounds",
        "3",
        "--rlnc-seed",
        "0",
        "--rlnc-report",
        "out",
        "--rlnc-shards",
        "2",
        "--rlnc-timeout-factor",
        "2.5",
    )
    result.assert_outcomes(passed=1)


def test_ini_twins_and_option_precedence(pytester: pytest.Pytester):
    pytester.makeini(
        INI.format(
            extra="rlnc_transport = sim\nrlnc_trials = 5\nrlnc_shards = 3\nrlnc_timeout_factor = 4"
        )
    )
    pytester.makepyfile("""
        import os

        def test_ini(rlnc_options):
            assert rlnc_options.transport == "sim"
            assert rlnc_options.shards == 3
            assert rlnc_options.trials == int(os.environ["EXPECT_TRIALS"])
            assert os.environ["RLNC_TIMEOUT_FACTOR"] == "4.0"
    """)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPECT_TRIALS", "5")
        run(pytester).assert_outcomes(passed=1)
        mp.setenv("EXPECT_TRIALS", "9")
        run(pytester, "--rlnc-trials", "9").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rlnc-trials", "0"], "must be >= 1"),
        (["--rlnc-shards", "two"], "must be an integer"),
        (["--rlnc-transport", "carrier-pigeon"], "must be one of sim, memory, webrtc"),
        (["--rlnc-timeout-factor", "-1"], "must be a positive number"),
        (["--rlnc-seed", "-3"], "must be >= 0"),
    ],
)
def test_bad_option_values_are_usage_errors(tester: pytest.Pytester, args: list[str], needle: str):
    tester.makepyfile("def test_nothing():\n    pass\n")
    result = run(tester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{args[0]}*{needle}*"])


def test_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makeini(INI.format(extra="rlnc_shards = 0"))
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*rlnc_shards*must be >= 1*"])


def test_markers_are_registered_and_strict_markers_accepts_them(tester: pytest.Pytester):
    listed = run(tester, "--markers")
    listed.stdout.fnmatch_lines([f"@pytest.mark.{name}: {text}" for name, text in MARKERS.items()])
    # rlnc_scenarios parametrizes a test (tests/test_own_scenarios.py): not as a bare mark.
    decorators = "\n".join(f"@pytest.mark.{name}" for name in MARKERS if name != "rlnc_scenarios")
    tester.makepyfile(f"import pytest\n\n{decorators}\ndef test_marked():\n    pass\n")
    run(tester, "--strict-markers").assert_outcomes(passed=1)


def test_report_header_names_the_overrides(tester: pytest.Pytester):
    tester.makepyfile("def test_nothing():\n    pass\n")
    result = run(tester, "--rlnc-transport", "sim", "--rlnc-seed", "4")
    result.stdout.fnmatch_lines(
        ["rlnc-testbed: transport=sim, trials=per scenario, *seed=4, shards=4*"]
    )


def test_scenario_items_ids_and_marks(tester: pytest.Pytester):
    webrtc = (
        LOOP.format(scheme="rlnc", expect="")
        .replace('"tiny-loop"', '"rtc"')
        .replace(
            'transport = "sim"\nmarkers = ["loop"]', 'transport = "webrtc"\nmarkers = ["webrtc"]'
        )
    )
    write_scenarios(tester, loop=LOOP.format(scheme="rlnc", expect=""), rtc=webrtc)
    result = run(tester, "--co", "-q", "--rlnc-shards", "3")
    result.stdout.fnmatch_lines(
        [
            "test_scen.py::test_scenario[tiny-loop-shard0of3]",
            "test_scen.py::test_scenario[tiny-loop-shard1of3]",
            "test_scen.py::test_scenario[tiny-loop-shard2of3]",
            "test_scen.py::test_scenario[rtc]",
        ]
    )
    slow = run(tester, "--co", "-q", "-m", "slow and webrtc")
    slow.stdout.fnmatch_lines(["test_scen.py::test_scenario[rtc]", "*1/5 tests collected*"])
    loop = run(tester, "--co", "-q", "-m", "loop and scenario")
    loop.stdout.fnmatch_lines(["*4/5 tests collected*"])


def test_terminal_summary_merges_shards_and_writes_the_report(tester: pytest.Pytester):
    write_scenarios(tester, loop=LOOP.format(scheme="rlnc", expect="min_success_rate = 0.5"))
    result = run(tester, "--rlnc-shards", "2", "--rlnc-report", "rep")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    expected = run_point(LOOP_PARAMS, transport="sim").summary
    assert expected.successes == LOOP_SUCCESSES["rlnc"]
    row = summary_rows(result.stdout.str())["tiny-loop"]
    assert row[1:5] == ["sim", "10", str(expected.successes), f"{expected.success_rate:.3f}"]
    assert row[7] == "2/2"  # shards merged
    assert row[8:] == ["min", "0.5:", "ok"]
    report = json.loads((tester.path / "rep" / "tiny-loop.json").read_text())
    assert [t["trial"] for t in report["trials"]] == list(range(10))
    assert report["summary"] == expected.to_dict()
    assert report["judgement"] == {"status": "passed", "notes": ["min 0.5: ok"], "problems": []}
    assert (tester.path / "rep" / "tiny-loop-survival.png").read_bytes()[:4] == b"\x89PNG"


def test_expectations_fail_with_a_reason(tester: pytest.Pytester):
    write_scenarios(
        tester,
        never=LOOP.format(scheme="replication", expect="min_success_rate = 0.99").replace(
            "tiny-loop", "never"
        ),
        every=LOOP.format(scheme="replication", expect="success = true")
        .replace("tiny-loop", "every")
        .replace('markers = ["loop"]', "markers = []"),
    )
    result = run(tester, "--rlnc-shards", "1")
    result.assert_outcomes(failed=2)
    # one shard holding every trial applies the merged rule (the observed rate) itself
    result.stdout.fnmatch_lines(["*success rate 0.* is below min_success_rate 0.99*"])
    result.stdout.fnmatch_lines(["*trials not verified (trial: verdict)*"])
    rows = summary_rows(result.stdout.str())
    for name in ("never", "every"):
        assert "not judged: shard(s) 0 failed" in " ".join(rows[name])


def test_expected_failure_with_verdict(tester: pytest.Pytester):
    write_scenarios(tester, few=TOO_FEW.format(expect='success = false\nverdict = "undecodable"'))
    result = run(tester, "--strict-markers")
    result.assert_outcomes(passed=4)
    assert "success=false: ok, verdict=undecodable: ok" in result.stdout.str()


#: Every trial ends ``undecodable`` (redundancy 1: the survivors lack rank); a loop scenario,
#: so that it is split into shards of 2 trials whose Wilson intervals refute nothing.
TOO_FEW = (
    LOOP.replace("redundancy = 2.0", "redundancy = 1.0")
    .replace('name = "tiny-loop"', 'name = "too-few"')
    .replace('scheme = "{scheme}"', 'scheme = "rlnc"')
)


def test_a_merged_rate_below_the_bound_fails_the_session(tester: pytest.Pytester):
    write_scenarios(tester, few=TOO_FEW.format(expect="min_success_rate = 0.5"))
    result = run(tester, "--rlnc-shards", "5")
    result.assert_outcomes(passed=5)  # each shard's 2 trials cannot refute 0.5 ...
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # ... the merged 0 of 10 does
    row = " ".join(summary_rows(result.stdout.str())["too-few"])
    assert "10 0 0.000" in row and "5/5" in row
    assert "FAILED: success rate 0.000 (0/10, 95% CI [0.000, 0.278]) is below" in row
    result.stdout.fnmatch_lines(
        ["FAILED (merged) too-few: success rate 0.000 (0/10*) is below min_success_rate 0.5"]
    )


def test_a_merged_rate_above_the_bound_fails_the_session(tester: pytest.Pytester):
    write_scenarios(tester, loop=LOOP.format(scheme="rlnc", expect="max_success_rate = 0.5"))
    result = run(tester, "--rlnc-shards", "10")
    result.assert_outcomes(passed=10)  # 1 of 1 trials: 95% CI [0.207, 1] does not refute 0.5
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["FAILED (merged) tiny-loop: success rate 1.000 (10/10*) is above max_success_rate 0.5"]
    )


def test_merged_expectations_that_hold_pass(tester: pytest.Pytester):
    write_scenarios(
        tester,
        loop=LOOP.format(scheme="rlnc", expect="min_success_rate = 0.5"),
        few=TOO_FEW.format(expect='max_success_rate = 0.0\nverdict = "undecodable"'),
    )
    result = run(tester, "--rlnc-shards", "3")
    result.assert_outcomes(passed=6)
    assert result.ret == pytest.ExitCode.OK
    rows = summary_rows(result.stdout.str())
    assert rows["tiny-loop"][8:] == ["min", "0.5:", "ok"]
    assert rows["too-few"][8:] == ["verdict=undecodable:", "ok,", "max", "0.0:", "ok"]
    assert "FAILED (merged)" not in result.stdout.str()


def test_a_partly_deselected_scenario_is_partial_not_judged(tester: pytest.Pytester):
    write_scenarios(tester, few=TOO_FEW.format(expect="min_success_rate = 0.5"))
    result = run(tester, "--rlnc-shards", "5", "-k", "shard0of5 or shard3of5")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK  # 0 of 4 trials would fail the bound, if judged
    row = " ".join(summary_rows(result.stdout.str())["too-few"])
    assert "2/5" in row and "partial: shard(s) 0, 3 of 5 ran; not judged" in row


def test_a_scenario_with_a_failed_shard_is_not_judged_again(tester: pytest.Pytester):
    write_scenarios(tester, few=TOO_FEW.format(expect="success = true"))
    result = run(tester, "--rlnc-shards", "2")
    result.assert_outcomes(failed=2)
    row = " ".join(summary_rows(result.stdout.str())["too-few"])
    assert "not judged: shard(s) 0, 1 failed" in row
    assert "FAILED (merged)" not in result.stdout.str()


@pytest.mark.parametrize(
    ("expect", "needle"),
    [
        ('verdict = "lost"', "[expect] verdict: must be one of ok, undecodable, *; got 'lost'"),
        ("min_success_rate = 1.5", "[expect] min_success_rate: must be in [0, 1]; got 1.5"),
        ('max_success_rate = "high"', "[expect] max_success_rate: must be a number*'high'"),
        ("min_success_rate = true", "[expect] min_success_rate: must be a number*True"),
        ("min_success_rate = nan", "[expect] min_success_rate: must be in [0, 1]; got nan"),
        (
            "min_success_rate = 0.6\nmax_success_rate = 0.4",
            "[expect] min_success_rate: 0.6 is above max_success_rate 0.4*",
        ),
        (
            'success = true\nverdict = "undecodable"',
            "[expect] verdict: 'undecodable' contradicts success = true*",
        ),
        ("success = true\nmax_success_rate = 0.5", "[expect] max_success_rate: 0.5 contradicts*"),
        ('success = "yes"', "[expect] success: must be true or false; got 'yes'"),
        ("sucess = true", "[expect] sucess: unknown key*"),
    ],
)
def test_malformed_expectations_are_collection_errors_naming_file_and_key(
    tester: pytest.Pytester, expect: str, needle: str
):
    write_scenarios(tester, bad=LOOP.format(scheme="rlnc", expect=expect))
    result = run(tester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    glob = needle.replace("[", "[[]")  # fnmatch: "[" opens a character class
    result.stdout.fnmatch_lines([f"*rlnc-testbed: *bad.toml: {glob}"])
    assert "During handling of the above exception" not in result.stdout.str()


def test_malformed_scenario_is_a_collection_error_naming_the_file(tester: pytest.Pytester):
    write_scenarios(tester, broken="name = \n")
    result = run(tester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*broken.toml: not valid TOML*"])


def test_signaling_server_and_cluster_factory_fixtures(tester: pytest.Pytester):
    tester.makepyfile("""
        import asyncio
        import aiohttp
        import pytest
        from rlnc_testbed.protocol.params import Params

        made = []

        async def test_server(signaling_server):
            assert signaling_server.host == "127.0.0.1" and signaling_server.port > 0
            url = f"http://127.0.0.1:{signaling_server.port}/health"
            async with aiohttp.ClientSession() as session:
                async with asyncio.timeout(10), session.get(url) as response:
                    assert response.status == 200

        async def test_clusters(cluster_factory):
            params = Params(peers=3, symbols=6, symbol_size=16, parents=2, rounds=1)
            for trial in (0, 1):
                cluster = await cluster_factory(params, trial, transport="memory")
                assert cluster.trial == trial and cluster.server.port > 0
                made.append(cluster)

        def test_clusters_were_closed():
            assert len(made) == 2
            for cluster in made:
                with pytest.raises(RuntimeError, match="not started"):
                    cluster.server.port
    """)
    run(tester, "-p", "no:randomly").assert_outcomes(passed=3)
