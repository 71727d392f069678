"""The ``rlnc_testbed`` pytest plugin: options, markers, fixtures and a merged results summary.

Loaded through the ``pytest11`` entry point (or ``-p rlnc_testbed.pytest_plugin``). Built
like pytest-xdist's plugin: one option group with ini twins, markers registered in
``pytest_configure``, a report-header line, heavy imports (aiortc, aiohttp, numba paths)
only inside fixtures, and per-test results carried in ``user_properties`` so that they travel
from xdist workers to the controller, which merges shards per scenario in
``pytest_terminal_summary``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from .cli.argtypes import choice, integer, positive_float
from .experiment.scenario import SCENARIO_TRANSPORTS, Scenario, ScenarioError, load_scenarios
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


_transport = choice(SCENARIO_TRANSPORTS)
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
    try:
        scenarios = [options.apply(s) for s in load_scenarios(directory)]
    except (ScenarioError, ValueError) as exc:
        pytest.fail(f"rlnc-testbed: {exc}", pytrace=False)
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


def check_expectations(scenario: Scenario, result: PointResult, trials: Sequence[int]) -> None:
    """Assert what ``scenario.expect`` asks of one shard's ``result`` (which ran ``trials``).

    Always: the records are well-formed (the shard's trial indices, in order; at most R rounds;
    nothing after the first unverified round; no ``error`` verdict unless an error is expected).

    ``success = true``: every trial verified. ``success = false``: every trial failed cleanly,
    with ``verdict`` when given. ``min_success_rate``/``max_success_rate`` are statements about
    the whole scenario, but a shard only sees some trials; asserting the shard's point estimate
    would fail good runs by chance. So each shard asserts only what its own data refutes: the
    Wilson 95% interval must reach the bound (upper >= min, lower <= max). The merged rate over
    all shards is printed, with the same check, in the terminal summary.
    """
    records = result.trials
    assert [t.trial for t in records] == list(trials), "records are not the shard's trials"
    for t in records:
        assert 1 <= len(t.rounds) <= scenario.params.rounds, f"trial {t.trial}: bad round count"
        assert t.survived_rounds >= len(t.rounds) - 1, f"trial {t.trial} went on after a failure"
    expect = scenario.expect
    verdicts = {t.trial: _final_verdict(t) for t in records}
    if expect.get("verdict") != "error":
        errors = {i: v for i, v in verdicts.items() if v == "error"}
        assert not errors, f"trials ended in errors, not clean verdicts: {_errors(records)}"
    if expect.get("success") is True:
        failed = {i: v for i, v in verdicts.items() if v != "ok"}
        assert not failed, f"trials not verified (trial: verdict): {failed}"
    if expect.get("success") is False:
        passed = [t.trial for t in records if t.success]
        assert not passed, f"trials verified although failure was expected: {passed}"
        wanted = expect.get("verdict")
        if wanted is not None:
            wrong = {i: v for i, v in verdicts.items() if v != wanted}
            assert not wrong, f"expected verdict {wanted!r}; got (trial: verdict) {wrong}"
    lo, hi = result.summary.ci95
    rate = result.summary.success_rate
    if "min_success_rate" in expect:
        bound = float(expect["min_success_rate"])
        assert hi >= bound, (
            f"success rate {rate:.3f} (95% CI [{lo:.3f}, {hi:.3f}]) is "
            f"significantly below min_success_rate {bound}"
        )
    if "max_success_rate" in expect:
        bound = float(expect["max_success_rate"])
        assert lo <= bound, (
            f"success rate {rate:.3f} (95% CI [{lo:.3f}, {hi:.3f}]) is "
            f"significantly above max_success_rate {bound}"
        )


def _final_verdict(trial: TrialRecord) -> str:
    for rnd in trial.rounds:
        if not rnd.verified:
            return rnd.verdict if rnd.verdict != "ok" else "unverified"
    return "ok"


def _errors(records: Sequence[TrialRecord]) -> dict[int, str]:
    return {t.trial: r.error for t in records for r in t.rounds if r.verdict == "error"}


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
    ``user_properties`` for the terminal summary."""

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
        result = rlnc_run_point(
            scenario.params,
            transport=scenario.transport,
            trials=trials,
            data=data,
            name=scenario.name,
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


# -- results summary (controller only) ----------------------------------------------------------


class _ResultCollector:
    """Collects shard results from reports and prints/writes them merged per scenario."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, list[dict[str, Any]]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY and isinstance(value, str):
                payload = json.loads(value)
                self.results.setdefault(payload["scenario"]["name"], []).append(payload)

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
        for key in sorted(self.results):
            merged = _merge_payloads(self.results[key])
            s = merged["summary"]
            lo, hi = s["ci95"]
            tr.write_line(
                f"{merged['scenario']['name']:<34} {merged['scenario']['transport']:<9} "
                f"{s['trials']:>7} {s['successes']:>9} {s['success_rate']:>6.3f}  "
                f"[{lo:.3f}, {hi:.3f}] {len(self.results[key]):>6}  "
                f"{_expect_status(merged['expect'], s)}"
            )
            if options.report is not None:
                _write_report(options.report, merged)


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


def _expect_status(expect: dict[str, Any], summary: dict[str, Any]) -> str:
    """The merged check of the rate bounds (the per-shard tests only check their CI)."""
    lo, hi = summary["ci95"]
    notes = []
    if "min_success_rate" in expect:
        ok = hi >= float(expect["min_success_rate"])
        notes.append(f"min {expect['min_success_rate']}: {'ok' if ok else 'BELOW'}")
    if "max_success_rate" in expect:
        ok = lo <= float(expect["max_success_rate"])
        notes.append(f"max {expect['max_success_rate']}: {'ok' if ok else 'ABOVE'}")
    if "success" in expect:
        every = summary["successes"] == summary["trials"]
        none = summary["successes"] == 0
        ok = every if expect["success"] else none
        notes.append(f"success={str(expect['success']).lower()}: {'ok' if ok else 'FAIL'}")
    return ", ".join(notes) or "-"


def _write_report(directory: Path, merged: dict[str, Any]) -> None:
    from .analysis.plots import plot_survival
    from .analysis.summary import PointSummary

    directory.mkdir(parents=True, exist_ok=True)
    name = _safe_name(merged["scenario"]["name"])
    (directory / f"{name}.json").write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    plot_survival([PointSummary.from_dict(merged["summary"])], directory / f"{name}-survival.png")


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "scenario"
