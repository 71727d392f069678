"""The ``rlnc_testbed`` pytest plugin: options, markers, fixtures and a merged results summary.

Loaded through the ``pytest11`` entry point (or ``-p rlnc_testbed.pytest_plugin``). Built
like pytest-xdist's plugin: one option group with ini twins, markers registered in
``pytest_configure``, a report-header line, heavy imports (aiortc, aiohttp, numba paths)
only inside fixtures, and per-test results carried in ``user_properties`` so that they travel
from xdist workers to the controller.

The controller (or a plain session) merges the shards of every scenario and judges the merged
trials against the scenario's ``[expect]`` in ``pytest_sessionfinish``
(:func:`~rlnc_testbed.experiment.expectations.judge_merged`): a failed merged expectation
makes the session fail (exit status 1) even if every shard passed, and says why in the
``pytest_terminal_summary`` table. A scenario is judged only if all its shards ran and passed;
if some were deselected it is reported ``partial``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from .cli.argtypes import choice, integer, positive_float
from .experiment.expectations import Expectations, Judgement, check_expectations, judge_merged
from .experiment.scenario import RUN_TRANSPORTS, Scenario, ScenarioError, load_scenarios
from .protocol.params import Params
from .protocol.records import TrialRecord

if TYPE_CHECKING:
    from .analysis.summary import PointResult
    from .experiment.cluster import Cluster
    from .signaling.server import SignalingServer

__all__ = [
    "MARKERS",
    "RESULT_PROPERTY",
    "RlncOptions",
    "ScenarioCase",
    "check_expectations",
    "cluster_factory",
    "get_options",
    "rlnc_options",
    "rlnc_run_point",
    "rlnc_scenario_runner",
    "scenario_cases",
    "signaling_server",
]

#: Markers registered by the plugin, with their descriptions.
MARKERS = {
    "scenario": "runs a scenario file from scenarios/",
    "webrtc": "uses real aiortc WebRTC data channels on 127.0.0.1",
    "loop": "a loop test over many trials (split into --rlnc-shards items)",
    "slow": "takes more than a few seconds",
    "three_peers": "the 3-peer workflows",
    "ten_peers": "the 10-peer workflows",
    "failure_path": "checks that a failure is reported cleanly, not as a crash or hang",
    "faults": "runs faults on a schedule (the scenario's [[faults]])",
}
#: Name of the ``user_properties`` entry holding one shard's result JSON.
RESULT_PROPERTY = "rlnc_result"

_OPTIONS_KEY = pytest.StashKey["RlncOptions"]()
_ENV_KEY = pytest.StashKey["str | None"]()


@dataclass(frozen=True)
class RlncOptions:
    """The plugin's settings: command-line options, else their ini twins, else defaults."""

    transport: str | None = None
    trials: int | None = None
    max_rounds: int | None = None
    seed: int | None = None
    report: Path | None = None
    timeout_factor: float | None = None
    shards: int = 4

    def apply(self, scenario: Scenario) -> Scenario:
        """``scenario`` with the overrides applied (transport, trials, rounds, seed)."""
        changed = scenario.with_params(trials=self.trials, rounds=self.max_rounds, seed=self.seed)
        return changed.with_transport(self.transport)


# -- options ---------------------------------------------------------------------------------


_transport = choice(RUN_TRANSPORTS)
_positive_int = integer(1)
_seed = integer(0)
_factor = positive_float


#: (option suffix, converter, help); the ini twin is ``rlnc_<suffix with _>``.
_OPTIONS: tuple[tuple[str, Callable[[str], Any], str], ...] = (
    ("transport", _transport, "run scenarios over sim|memory|webrtc (default: each scenario's)"),
    ("trials", _positive_int, "override the trials of every scenario"),
    ("max-rounds", _positive_int, "override the max round R of every scenario"),
    ("seed", _seed, "override the seed of every scenario"),
    ("report", str, "write <scenario>.json and <scenario>-survival.png into this directory"),
    ("timeout-factor", _factor, "scale every network wait (sets RLNC_TIMEOUT_FACTOR)"),
    ("shards", _positive_int, "test items a loop scenario is split into (default 4)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rlnc-testbed", "rlnc-testbed scenarios and fixtures")
    for suffix, convert, text in _OPTIONS:
        dest = "rlnc_" + suffix.replace("-", "_")
        group.addoption(
            f"--rlnc-{suffix}",
            dest=dest,
            type=convert,
            default=None,
            metavar=suffix.upper().replace("-", "_"),
            help=text,
        )
        parser.addini(dest, help=f"default for --rlnc-{suffix}: {text}", default=None)


def _setting(config: pytest.Config, suffix: str, convert: Callable[[str], Any]) -> Any:
    dest = "rlnc_" + suffix.replace("-", "_")
    value = config.getoption(dest)
    if value is not None:
        return value
    raw = config.getini(dest)
    if raw is None or raw == "":
        return None
    try:
        return convert(str(raw).strip())
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"ini option {dest}: {exc}") from None


def get_options(config: pytest.Config) -> RlncOptions:
    """The plugin settings of this session (parsed once in ``pytest_configure``)."""
    options = config.stash.get(_OPTIONS_KEY, None)
    if options is None:
        values = {suffix: _setting(config, suffix, convert) for suffix, convert, _ in _OPTIONS}
        options = RlncOptions(
            transport=values["transport"],
            trials=values["trials"],
            max_rounds=values["max-rounds"],
            seed=values["seed"],
            report=Path(values["report"]) if values["report"] else None,
            timeout_factor=values["timeout-factor"],
            shards=values["shards"] or 4,
        )
        config.stash[_OPTIONS_KEY] = options
    return options


# -- configuration, header, markers ------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    options = get_options(config)
    if options.timeout_factor is not None:
        config.stash[_ENV_KEY] = os.environ.get("RLNC_TIMEOUT_FACTOR")
        os.environ["RLNC_TIMEOUT_FACTOR"] = repr(options.timeout_factor)
    if not hasattr(config, "workerinput"):  # the xdist controller, or a plain session
        config.pluginmanager.register(_ResultCollector(config), "rlnc-testbed-results")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _ENV_KEY in config.stash:
        previous = config.stash[_ENV_KEY]
        if previous is None:
            os.environ.pop("RLNC_TIMEOUT_FACTOR", None)
        else:
            os.environ["RLNC_TIMEOUT_FACTOR"] = previous


def pytest_report_header(config: pytest.Config) -> str:
    o = get_options(config)
    return (
        f"rlnc-testbed: transport={o.transport or 'per scenario'}, "
        f"trials={o.trials or 'per scenario'}, max-rounds={o.max_rounds or 'per scenario'}, "
        f"seed={'per scenario' if o.seed is None else o.seed}, shards={o.shards}, "
        f"timeout-factor={o.timeout_factor or os.environ.get('RLNC_TIMEOUT_FACTOR', '1')}"
    )


# -- scenario items ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioCase:
    """One test item of a scenario: the (overridden) scenario and which shard of it."""

    scenario: Scenario
    shard: int = 0
    shards: int = 1


def scenario_cases(directory: str | Path, config: pytest.Config) -> list[Any]:
    """``pytest.param`` cases for every ``*.toml`` in ``directory``, with the overrides applied.

    Ids are scenario names (plus ``-shard<i>of<n>`` for loop scenarios, which are split into
    ``--rlnc-shards`` items running disjoint trials); marks are ``scenario``, the file's
    markers, and ``slow`` for webrtc scenarios with more than 1 trial or more than 3 rounds.
    A malformed file or an override it cannot take is a collection error naming the file.
    """
    options = get_options(config)
    cases = []
    problem = ""
    try:
        scenarios = [options.apply(s) for s in load_scenarios(directory)]
    except (ScenarioError, ValueError) as exc:
        problem = str(exc)
    if problem:  # failed outside the handler: no chained traceback in the collection error
        pytest.fail(f"rlnc-testbed: {problem}", pytrace=False)
    for scenario in scenarios:
        marks = [pytest.mark.scenario, *(getattr(pytest.mark, m) for m in scenario.markers)]
        p = scenario.params
        if scenario.transport == "webrtc" and (p.trials > 1 or p.rounds > 3):
            marks.append(pytest.mark.slow)
        shards = min(options.shards, p.trials) if "loop" in scenario.markers else 1
        for shard in range(shards):
            case_id = scenario.name if shards == 1 else f"{scenario.name}-shard{shard}of{shards}"
            cases.append(
                pytest.param(ScenarioCase(scenario, shard, shards), id=case_id, marks=marks)
            )
    return cases


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def rlnc_options(request: pytest.FixtureRequest) -> RlncOptions:
    """The parsed ``--rlnc-*`` options (ini twins and defaults filled in)."""
    return get_options(request.config)


@pytest.fixture
def rlnc_run_point() -> Callable[..., PointResult]:
    """The function scenario runs call: :func:`rlnc_testbed.experiment.runner.run_point`
    (override this
    fixture to substitute a double)."""
    from .experiment.runner import run_point

    return run_point


@pytest.fixture
def rlnc_scenario_runner(
    request: pytest.FixtureRequest,
    rlnc_options: RlncOptions,
    rlnc_run_point: Callable[..., PointResult],
) -> Callable[..., PointResult]:
    """``run(scenario, *, shard=0, shards=1) -> PointResult``: run the shard's trials (trial
    indices t with t % shards == shard) with the options applied, and record the result in
    ``user_properties`` for the merged judgement and terminal summary."""

    def run(scenario: Scenario, *, shard: int = 0, shards: int = 1) -> PointResult:
        if not 0 <= shard < shards:
            raise ValueError(f"shard must be in [0, {shards}); got {shard}")
        scenario = rlnc_options.apply(scenario)
        trials = list(range(shard, scenario.params.trials, shards))
        if not trials:
            raise ValueError(
                f"shard {shard} of {shards} has no trials "
                f"(the scenario has {scenario.params.trials})"
            )
        data = scenario.data.read_bytes() if scenario.data is not None else None
        # A scenario's faults on a schedule go with it (passed only when it has any, so
        # run_point doubles without a ``faults`` parameter keep working).
        faults = {"faults": scenario.faults} if scenario.faults else {}
        result = rlnc_run_point(
            scenario.params,
            transport=scenario.transport,
            trials=trials,
            data=data,
            name=scenario.name,
            **faults,
        )
        payload = {**result.to_dict(), "shard": [shard, shards], "expect": dict(scenario.expect)}
        request.node.user_properties.append((RESULT_PROPERTY, json.dumps(payload)))
        return result

    return run


@pytest_asyncio.fixture
async def signaling_server() -> AsyncIterator[SignalingServer]:
    """A started :class:`~rlnc_testbed.signaling.server.SignalingServer` on 127.0.0.1, port 0."""
    from .signaling.server import SignalingServer

    server = SignalingServer(host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest_asyncio.fixture
async def cluster_factory() -> AsyncIterator[Callable[..., Any]]:
    """``await make(params, trial=0, *, transport="webrtc", data=None, **options) -> Cluster``,
    entered; ``options`` go to :class:`~rlnc_testbed.experiment.cluster.Cluster` (``roles=`` to
    inject
    faulty nodes, ``processes=``, ``interfaces=``, ``on_round=``). Every cluster made is closed
    at teardown (in reverse order)."""
    from .experiment.cluster import Cluster

    async with AsyncExitStack() as stack:

        async def make(
            params: Params,
            trial: int = 0,
            *,
            transport: str = "webrtc",
            data: bytes | None = None,
            **options: Any,
        ) -> Cluster:
            cluster = Cluster(params, trial, transport=transport, data=data, **options)
            return await stack.enter_async_context(cluster)

        yield make


# -- merged results: judged and summarised (controller only) ----------------------------------


@dataclass
class _Shard:
    payload: dict[str, Any]
    passed: bool


class _ResultCollector:
    """Collects shard results from reports, judges them merged per scenario, prints them."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, dict[str, _Shard]] = {}
        self._merged: dict[str, tuple[dict[str, Any] | None, Judgement]] | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY and isinstance(value, str):
                payload = json.loads(value)
                shards = self.results.setdefault(payload["scenario"]["name"], {})
                key = f"{report.nodeid}#{payload['shard']}"
                shard = shards.setdefault(key, _Shard(payload, passed=True))
                shard.passed = shard.passed and not report.failed
                self._merged = None

    def merged(self) -> dict[str, tuple[dict[str, Any] | None, Judgement]]:
        """Per scenario name: the merged result dict (None if it could not be merged) and its
        judgement."""
        if self._merged is None:
            self._merged = {
                name: _judge(list(shards.values())) for name, shards in self.results.items()
            }
        return self._merged

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        failed = any(judgement.failed for _, judgement in self.merged().values())
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results:
            return
        options = get_options(self.config)
        tr = terminalreporter
        tr.write_sep("=", "rlnc-testbed results")
        header = (
            f"{'scenario':<34} {'transport':<9} {'trials':>7} {'successes':>9} "
            f"{'rate':>6}  {'CI95':<15} {'shards':>6}  expect"
        )
        tr.write_line(header)
        merged = self.merged()
        for name in sorted(merged):
            result, judgement = merged[name]
            shards = [shard.payload for shard in self.results[name].values()]
            ran = f"{len({tuple(p['shard']) for p in shards})}/{shards[0]['shard'][1]}"
            if result is None:
                first = shards[0]["scenario"]
                tr.write_line(
                    f"{name:<34} {first['transport']:<9} {'-':>7} {'-':>9} {'-':>6}  "
                    f"{'-':<15} {ran:>6}  {judgement.describe()}",
                    red=judgement.failed,
                )
                continue
            s = result["summary"]
            lo, hi = s["ci95"]
            tr.write_line(
                f"{name:<34} {result['scenario']['transport']:<9} "
                f"{s['trials']:>7} {s['successes']:>9} {s['success_rate']:>6.3f}  "
                f"[{lo:.3f}, {hi:.3f}] {ran:>6}  {judgement.describe()}",
                red=judgement.failed,
            )
            if options.report is not None:
                _write_report(options.report, {**result, "judgement": _judgement_dict(judgement)})
        failures = [(name, j) for name, (_, j) in sorted(merged.items()) if j.failed]
        for name, judgement in failures:
            for problem in judgement.problems:
                tr.write_line(f"FAILED (merged) {name}: {problem}", red=True, bold=True)


def _judge(shards: list[_Shard]) -> tuple[dict[str, Any] | None, Judgement]:
    """Merge one scenario's shards and judge them, unless some did not run or failed.

    The merged dict is None if the shards cannot be merged (they disagree on a trial, or their
    records are malformed); that fails the scenario if it would have been judged.
    """
    payloads = [shard.payload for shard in shards]
    total = payloads[0]["shard"][1]
    ran = sorted({p["shard"][0] for p in payloads if p["shard"][1] == total})
    merged: dict[str, Any] | None = None
    try:
        merged = _merge_payloads(payloads)
    except ValueError as exc:  # SummaryError
        unmerged = f"shards cannot be merged: {exc}"
    if ran != list(range(total)) or any(p["shard"][1] != total for p in payloads):
        note = f"shard(s) {', '.join(map(str, ran))} of {total} ran; not judged"
        return merged, Judgement("partial", (note,))
    if not all(shard.passed for shard in shards):
        bad = sorted({p["shard"][0] for p, s in zip(payloads, shards, strict=True) if not s.passed})
        note = f"shard(s) {', '.join(map(str, bad))} failed; merged result not judged"
        return merged, Judgement("not judged", (note,))
    if merged is None:
        return None, Judgement("failed", problems=(unmerged,))
    expectations = Expectations.from_mapping(merged["expect"])
    records = [TrialRecord.from_dict(t) for t in merged["trials"]]
    judgement = judge_merged(expectations, records, trials=int(merged["scenario"]["trials"]))
    return merged, judgement


def _judgement_dict(judgement: Judgement) -> dict[str, Any]:
    return {
        "status": judgement.status,
        "notes": list(judgement.notes),
        "problems": list(judgement.problems),
    }


def _merge_payloads(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """One result dict from several shard payloads of the same scenario."""
    from .analysis.summary import merge

    first = payloads[0]["scenario"]
    params = Params.from_dict({k: v for k, v in first.items() if k not in ("name", "transport")})
    groups = [[TrialRecord.from_dict(t) for t in p["trials"]] for p in payloads]
    summary = merge(params, *groups)
    trials = sorted({t.trial: t for group in groups for t in group}.values(), key=lambda t: t.trial)
    return {
        "scenario": first,
        "summary": summary.to_dict(),
        "trials": [t.to_dict() for t in trials],
        "expect": payloads[0].get("expect", {}),
    }


def _write_report(directory: Path, merged: dict[str, Any]) -> None:
    from .analysis.plots import plot_survival
    from .analysis.summary import PointSummary

    directory.mkdir(parents=True, exist_ok=True)
    name = _safe_name(merged["scenario"]["name"])
    (directory / f"{name}.json").write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    plot_survival([PointSummary.from_dict(merged["summary"])], directory / f"{name}-survival.png")


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "scenario"
