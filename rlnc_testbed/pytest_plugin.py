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

Your own scenario files run in one line, either way:

* ``pytest --rlnc-scenarios DIR`` (ini twin ``rlnc_scenarios``; comma-separated for several):
  every ``DIR/*.toml`` is collected as a test file of its own (``DIR/x.toml::test_scenario[NAME]``)
  whose scenario (shards, for loop scenarios) runs with the overrides applied and its
  ``[expect]`` checked per shard and merged; a malformed file is a collection error of that
  file alone.
* ``@pytest.mark.rlnc_scenarios("DIR")`` (or files; relative to the test file) on a test
  taking a ``scenario`` argument: the test runs once per scenario (shard), and
  ``rlnc_check_scenario(scenario)`` runs it, checks its ``[expect]`` and feeds the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import types
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from .cli.argtypes import choice, integer, positive_float
from .experiment.expectations import Expectations, Judgement, check_expectations, judge_merged
from .experiment.scenario import RUN_TRANSPORTS, Scenario, ScenarioError, load_scenario
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
    "ScenarioFile",
    "check_expectations",
    "cluster_factory",
    "get_options",
    "rlnc_check_scenario",
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
    "node_hosts": "runs the peers and newcomers in node host processes (rlnc-testbed node-host)",
    "failure_path": "checks that a failure is reported cleanly, not as a crash or hang",
    "faults": "runs faults on a schedule (the scenario's [[faults]])",
    "browser": "runs storage peers or pages in real Chromium (fails, naming the fix, without "
    "Chromium or Playwright)",
    "rlnc_scenarios": "rlnc_scenarios(PATH, ...) runs the test once per scenario (shard) of the "
    "*.toml files in each directory PATH (or file), relative to the test file, as its "
    "'scenario' argument; check each with rlnc_check_scenario(scenario)",
}
#: Name of the ``user_properties`` entry holding one shard's result JSON.
RESULT_PROPERTY = "rlnc_result"

_OPTIONS_KEY = pytest.StashKey["RlncOptions"]()
_ENV_KEY = pytest.StashKey["str | None"]()


@dataclass(frozen=True)
class RlncOptions:
    """The plugin's settings: command-line options, else their ini twins, else defaults."""

    transport: str | None = None
    #: The bare ``--rlnc-trials N``: it applies to scenarios on the sim transport only.
    trials: int | None = None
    max_rounds: int | None = None
    seed: int | None = None
    report: Path | None = None
    timeout_factor: float | None = None
    shards: int = 4
    #: ``SELECTOR=N`` entries of ``--rlnc-trials``: a scenario name, a marker or a transport.
    scoped_trials: tuple[tuple[str, int], ...] = ()
    #: ``--rlnc-scenarios``: directories (or files) whose ``*.toml`` are collected as tests.
    scenarios: tuple[Path, ...] = ()

    def trials_for(self, scenario: Scenario) -> int | None:
        """The trials override of ``scenario`` (after the transport override), or None.

        The most specific ``--rlnc-trials`` entry wins: ``NAME=N`` (the scenario's name), then
        ``MARKER=N`` (one of its markers, or ``scenario``), then ``TRANSPORT=N`` (``sim``,
        ``memory`` or ``webrtc``), then a bare ``N``, which applies to sim scenarios only (so a
        large N never makes a WebRTC scenario run for hours by accident)."""
        scoped = dict(self.scoped_trials)
        if scenario.name in scoped:
            return scoped[scenario.name]
        for marker in ("scenario", *scenario.markers):
            if marker in scoped:
                return scoped[marker]
        if scenario.transport in scoped:
            return scoped[scenario.transport]
        return self.trials if scenario.transport == "sim" else None

    def apply(self, scenario: Scenario) -> Scenario:
        """``scenario`` with the overrides applied (transport, trials, rounds, seed)."""
        moved = scenario.with_transport(self.transport)
        changed = moved.with_params(
            trials=self.trials_for(moved), rounds=self.max_rounds, seed=self.seed
        )
        return changed


# -- options ---------------------------------------------------------------------------------


_transport = choice(RUN_TRANSPORTS)
_positive_int = integer(1)


def _trials_spec(text: str) -> tuple[int | None, tuple[tuple[str, int], ...]]:
    """``--rlnc-trials``: comma-separated ``N`` (sim scenarios) or ``SELECTOR=N`` entries."""
    bare: int | None = None
    scoped: list[tuple[str, int]] = []
    for entry in text.split(","):
        entry = entry.strip()
        selector, sep, count = entry.rpartition("=")
        value = _positive_int(count.strip())
        if not sep:
            if bare is not None:
                raise argparse.ArgumentTypeError(f"two bare trial counts in {text!r}")
            bare = value
        elif not selector.strip():
            raise argparse.ArgumentTypeError(f"{entry!r}: SELECTOR=N needs a selector")
        else:
            scoped.append((selector.strip(), value))
    return bare, tuple(scoped)


_trials_spec.__name__ = "trials"


def _paths(text: str) -> tuple[str, ...]:
    """``--rlnc-scenarios``: comma-separated directories (or ``.toml`` files)."""
    paths = tuple(part.strip() for part in text.split(",") if part.strip())
    if not paths:
        raise argparse.ArgumentTypeError("give a directory of *.toml scenario files")
    return paths


_paths.__name__ = "paths"
_seed = integer(0)
_factor = positive_float


#: (option suffix, converter, help); the ini twin is ``rlnc_<suffix with _>``.
_OPTIONS: tuple[tuple[str, Callable[[str], Any], str], ...] = (
    ("transport", _transport, "run scenarios over sim|memory|webrtc (default: each scenario's)"),
    (
        "trials",
        _trials_spec,
        "override trials: N (sim scenarios only), or comma-separated SELECTOR=N with a "
        "scenario name, marker or transport (e.g. 1000,webrtc=5,loop-rlnc=20000; the most "
        "specific wins)",
    ),
    ("max-rounds", _positive_int, "override the max round R of every scenario"),
    ("seed", _seed, "override the seed of every scenario"),
    ("report", str, "write <scenario>.json and <scenario>-survival.png into this directory"),
    ("timeout-factor", _factor, "scale every network wait (sets RLNC_TIMEOUT_FACTOR)"),
    ("shards", _positive_int, "test items a loop scenario is split into (default 4)"),
    (
        "scenarios",
        _paths,
        "collect every *.toml in these comma-separated directories (or files) as scenario "
        "tests, expectations checked and merged like the project's own (paths relative to "
        "the current directory; in the ini file, to the ini file's directory)",
    ),
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
        bare, scoped = values["trials"] or (None, ())
        options = RlncOptions(
            transport=values["transport"],
            trials=bare,
            scoped_trials=scoped,
            max_rounds=values["max-rounds"],
            seed=values["seed"],
            report=Path(values["report"]) if values["report"] else None,
            timeout_factor=values["timeout-factor"],
            shards=values["shards"] or 4,
            scenarios=_scenario_paths(config, values["scenarios"] or ()),
        )
        config.stash[_OPTIONS_KEY] = options
    return options


def _scenario_paths(config: pytest.Config, paths: Iterable[str]) -> tuple[Path, ...]:
    """``--rlnc-scenarios`` paths made absolute: from the command line relative to the
    invocation directory, from the ini file relative to its directory. A path that does not
    exist is a usage error naming it."""
    given = config.getoption("rlnc_scenarios") is not None
    if given:
        base = config.invocation_params.dir
    else:
        base = config.inipath.parent if config.inipath is not None else config.rootpath
    out = []
    for text in paths:
        path = (base / text).resolve()
        option = "--rlnc-scenarios" if given else "ini option rlnc_scenarios"
        if not path.exists():
            raise pytest.UsageError(f"{option}: {text!r} does not exist ({path})")
        if path.is_file() and path.suffix != ".toml":
            raise pytest.UsageError(f"{option}: {text!r} is not a .toml scenario file")
        out.append(path)
    return tuple(out)


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
    _collect_scenario_paths(config, options.scenarios)


def _collect_scenario_paths(config: pytest.Config, paths: tuple[Path, ...]) -> None:
    """Make the session visit every ``--rlnc-scenarios`` path: append those that no
    collection argument already covers (xdist workers do the same from the same options)."""
    covered = []
    for arg in config.args:
        target = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if "::" not in arg:
            covered.append(target)
    for path in paths:
        if not any(path == c or c in path.parents for c in covered):
            config.args.append(str(path))
            covered.append(path)


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
        f"trials={_describe_trials(o)}, max-rounds={o.max_rounds or 'per scenario'}, "
        f"seed={'per scenario' if o.seed is None else o.seed}, shards={o.shards}, "
        f"timeout-factor={o.timeout_factor or os.environ.get('RLNC_TIMEOUT_FACTOR', '1')}"
    )


def _describe_trials(o: RlncOptions) -> str:
    parts = [f"{o.trials} (sim)"] if o.trials is not None else []
    parts += [f"{selector}={count}" for selector, count in o.scoped_trials]
    return ",".join(parts) or "per scenario"


# -- scenario items ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioCase:
    """One test item of a scenario: the (overridden) scenario and which shard of it.

    Reads like the scenario itself (``case.params``, ``case.name``, ``case.expect``, ... are
    the scenario's); :attr:`trials` are the trial indices of this shard."""

    scenario: Scenario
    shard: int = 0
    shards: int = 1

    @property
    def trials(self) -> range:
        """The trials this shard runs: t with t % shards == shard."""
        return range(self.shard, self.scenario.params.trials, self.shards)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "scenario":
            raise AttributeError(name)
        return getattr(self.scenario, name)


def scenario_files(target: str | Path | Iterable[str | Path]) -> list[Path]:
    """The scenario files of ``target``: every ``*.toml`` of a directory (sorted by name), a
    ``.toml`` file itself, or those of each entry of a list. ``ScenarioError`` names a path
    that does not exist, a directory without scenario files, or a file that is not ``.toml``."""
    targets = [target] if isinstance(target, str | os.PathLike) else list(target)
    files: list[Path] = []
    for entry in targets:
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.toml") if p.name != "pyproject.toml")
            if not found:
                raise ScenarioError(f"{path}: no *.toml scenario file in this directory")
            files.extend(found)
        elif path.is_file():
            if path.suffix != ".toml":
                raise ScenarioError(f"{path}: not a .toml scenario file")
            files.append(path)
        else:
            raise ScenarioError(f"{path}: no such directory or file")
    return files


def scenario_cases(
    directory: str | Path | Iterable[str | Path], config: pytest.Config
) -> list[Any]:
    """``pytest.param`` cases for every ``*.toml`` in ``directory`` (or a scenario file, or a
    list of them; :func:`scenario_files`), with the overrides applied.

    Ids are scenario names (plus ``-shard<i>of<n>`` for loop scenarios, which are split into
    ``--rlnc-shards`` items running disjoint trials); marks are ``scenario``, the file's
    markers, and ``slow`` for webrtc scenarios with more than 1 trial or more than 3 rounds.
    A malformed file or an override it cannot take is a collection error naming the file.
    """
    options = get_options(config)
    cases = []
    problem = ""
    try:
        scenarios = []
        for path in scenario_files(directory):
            scenario = load_scenario(path)
            try:
                scenarios.append(options.apply(scenario))
            except ScenarioError:
                raise
            except ValueError as exc:  # an override the file cannot take
                raise ScenarioError(f"{path}: {exc}") from None
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.rlnc_scenarios(PATH, ...)``: parametrize ``scenario`` with the cases of
    those paths (relative to the test file). A misused marker is a collection error naming
    the test file."""
    marker = metafunc.definition.get_closest_marker("rlnc_scenarios")
    if marker is None:
        return
    where = f"{metafunc.definition.nodeid}: @pytest.mark.rlnc_scenarios"
    problem = ""
    if "scenario" not in metafunc.fixturenames:
        problem = f"{where} needs a test taking a 'scenario' argument"
    elif marker.kwargs:
        problem = f"{where} takes paths only; got keyword(s) {', '.join(sorted(marker.kwargs))}"
    elif not marker.args or not all(isinstance(a, str | os.PathLike) for a in marker.args):
        problem = f"{where} needs one or more directory or .toml paths; got {marker.args!r}"
    if problem:
        pytest.fail(f"rlnc-testbed: {problem}", pytrace=False)
    base = metafunc.definition.path.parent
    paths = [base / Path(arg) for arg in marker.args]
    try:
        scenario_files(paths)
    except ScenarioError as exc:
        problem = f"{where}: {exc}"
    if problem:
        pytest.fail(f"rlnc-testbed: {problem}", pytrace=False)
    metafunc.parametrize("scenario", scenario_cases(paths, metafunc.config))


class ScenarioFile(pytest.Module):
    """A scenario file collected as a test module (``--rlnc-scenarios``): one test,
    ``test_scenario``, once per scenario shard, running it and checking its ``[expect]``."""

    def _getobj(self) -> types.ModuleType:
        module = types.ModuleType(f"rlnc_scenario_{_safe_name(self.path.stem)}")
        module.__file__ = str(self.path)

        def test_scenario(scenario: ScenarioCase, rlnc_check_scenario: Callable[..., Any]) -> None:
            rlnc_check_scenario(scenario)

        test_scenario.__module__ = module.__name__
        test_scenario.__test__ = True  # type: ignore[attr-defined]  # whatever python_functions
        module.test_scenario = pytest.mark.rlnc_scenarios(self.path)(test_scenario)  # type: ignore[attr-defined]
        return module


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Every ``*.toml`` of a ``--rlnc-scenarios`` directory (or that file) is a test file."""
    if file_path.suffix != ".toml" or file_path.name == "pyproject.toml":
        return None
    paths = get_options(parent.config).scenarios
    resolved = file_path.resolve()
    if any(resolved == p or resolved.parent == p for p in paths):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


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
        extra: dict[str, Any] = {"faults": scenario.faults} if scenario.faults else {}
        # Where its nodes run (browser slots, emulated hosts), likewise only when it says.
        placed = {k: v for k, v in scenario.deployment.items() if k != "faults"}
        if placed:
            extra["network"] = placed
        progress = _progress(request.config, f"{scenario.name} shard {shard}/{shards}", trials)
        result = rlnc_run_point(
            scenario.params,
            transport=scenario.transport,
            trials=trials,
            data=data,
            name=scenario.name,
            **extra,
            **({"on_trial": progress} if progress is not None else {}),
        )
        payload = {
            **result.to_dict(),
            "shard": [shard, shards],
            "expect": dict(scenario.expect),
            "until_loss": scenario.until_loss,
        }
        request.node.user_properties.append((RESULT_PROPERTY, json.dumps(payload)))
        return result

    return run


@pytest.fixture
def rlnc_check_scenario(
    request: pytest.FixtureRequest,
    rlnc_scenario_runner: Callable[..., PointResult],
) -> Callable[[ScenarioCase | Scenario], PointResult]:
    """``check(scenario) -> PointResult``: run a scenario case (its shard; a plain
    :class:`~rlnc_testbed.experiment.scenario.Scenario` runs whole) through
    ``rlnc_scenario_runner`` and check its ``[expect]`` on the trials it ran
    (:func:`~rlnc_testbed.experiment.expectations.check_expectations`); the plugin also judges
    the merged shards at the end of the session. A failed expectation fails the test with a
    message naming the scenario file."""

    def check(scenario: ScenarioCase | Scenario) -> PointResult:
        case = scenario if isinstance(scenario, ScenarioCase) else ScenarioCase(scenario)
        if not isinstance(case.scenario, Scenario):
            raise TypeError(
                f"rlnc_check_scenario takes a scenario (case); got {type(scenario).__name__}"
            )
        result = rlnc_scenario_runner(case.scenario, shard=case.shard, shards=case.shards)
        try:
            check_expectations(case.scenario, result, case.trials)
        except AssertionError as exc:
            where = _shown(case.scenario.path, request.config) or case.scenario.name
            # the message alone: the line pytest's assertion rewriting adds repeats it
            problem = f"{where}: {str(exc).splitlines()[0] if str(exc) else 'expectation failed'}"
        else:
            return result
        pytest.fail(problem, pytrace=False)

    return check


#: Seconds between two progress lines of one scenario run (the first comes after this long).
PROGRESS_EVERY = 10.0


def _progress(
    config: pytest.Config, label: str, trials: list[int]
) -> Callable[[TrialRecord], None] | None:
    """A trial callback that prints ``rlnc-testbed: LABEL: done/total trials`` on the terminal
    every :data:`PROGRESS_EVERY` seconds of a long run (outside capture), or None where there
    is no terminal (an xdist worker: the controller prints the results at the end)."""
    import time

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or hasattr(config, "workerinput"):
        return None
    total = len(trials)
    state = {"done": 0, "last": time.monotonic(), "printed": False}

    def on_trial(record: TrialRecord) -> None:
        state["done"] += 1
        now = time.monotonic()
        due = now - state["last"] >= PROGRESS_EVERY
        if not due and not (state["printed"] and state["done"] == total):
            return  # short runs print nothing; long ones also their last trial
        state["last"], state["printed"] = now, True
        line = f"rlnc-testbed: {label}: {state['done']}/{total} trials"
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(line)
        else:
            reporter.write_line(line)

    return on_trial


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
                # One entry per scenario *variant*: the same file run with other overrides (by
                # two tests) is another experiment, never a shard of this one.
                variant = json.dumps(payload["scenario"], sort_keys=True)
                shards = self.results.setdefault(variant, {})
                key = f"{report.nodeid}#{payload['shard']}"
                shard = shards.setdefault(key, _Shard(payload, passed=True))
                shard.passed = shard.passed and not report.failed
                self._merged = None

    def labels(self) -> dict[str, str]:
        """Per variant, the name shown: the scenario name, plus ``[field=value, ...]`` (the
        fields that differ) when one name ran as several variants."""
        scenarios = {variant: json.loads(variant) for variant in self.results}
        by_name: dict[str, list[str]] = {}
        for variant, scenario in scenarios.items():
            by_name.setdefault(scenario["name"], []).append(variant)
        labels = {}
        for name, variants in by_name.items():
            keys = sorted({k for v in variants for k in scenarios[v]})
            differ = [k for k in keys if len({repr(scenarios[v].get(k)) for v in variants}) > 1]
            for variant in variants:
                extra = ", ".join(f"{k}={scenarios[variant].get(k)}" for k in differ)
                labels[variant] = f"{name} [{extra}]" if extra else name
        return labels

    def merged(self) -> dict[str, tuple[dict[str, Any] | None, Judgement]]:
        """Per scenario (variant label): the merged result dict (None if it could not be
        merged) and its judgement."""
        if self._merged is None:
            labels = self.labels()
            self._merged = {
                labels[variant]: _judge(list(shards.values()))
                for variant, shards in self.results.items()
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
        variants = {label: variant for variant, label in self.labels().items()}
        for name in sorted(merged):
            result, judgement = merged[name]
            shards = [shard.payload for shard in self.results[variants[name]].values()]
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
            expected = int(result["scenario"]["trials"])
            complete = s["trials"] >= expected and judgement.status != "partial"
            incomplete = "" if complete else f" (INCOMPLETE: {s['trials']} of {expected} trials)"
            if result.get("until_loss"):
                # a "success" there only means reaching the safety cap: show the lifetime
                middle = f"{'-':>9} {'-':>6}  {_mean_lifetime(result):<15}"
            else:
                middle = f"{s['successes']:>9} {s['success_rate']:>6.3f}  [{lo:.3f}, {hi:.3f}]"
            tr.write_line(
                f"{name:<34} {result['scenario']['transport']:<9} {s['trials']:>7} {middle} "
                f"{ran:>6}  {judgement.describe()}{incomplete}",
                red=judgement.failed,
            )
            if options.report is not None:
                report = {
                    **result,
                    "judgement": _judgement_dict(judgement),
                    "complete": complete,
                    "trials_expected": expected,
                    "trials_recorded": s["trials"],
                }
                _write_report(options.report, report, label=name)
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


def _mean_lifetime(result: dict[str, Any]) -> str:
    """``life 315.4`` (rounds; ``>=`` when trials reached the cap) for a run until loss."""
    from .analysis.lifetime import estimate_lifetimes, lifetime_of

    cap = int(result["scenario"]["rounds"])
    records = [TrialRecord.from_dict(t) for t in result["trials"]]
    try:
        e = estimate_lifetimes([lifetime_of(t, cap) for t in records], cap=cap)
    except ValueError:
        return "life ?"
    return f"life {'>=' if e.mean_restricted else ''}{e.mean:.1f}"


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
        "until_loss": bool(payloads[0].get("until_loss", False)),
    }


def _write_report(directory: Path, merged: dict[str, Any], *, label: str | None = None) -> None:
    """``<label>.json`` (with ``complete``: False when trials are missing, e.g. deselected
    or interrupted shards) and ``<label>-survival.png``."""
    from .analysis.plots import plot_survival
    from .analysis.summary import PointSummary

    directory.mkdir(parents=True, exist_ok=True)
    name = _safe_name(label or merged["scenario"]["name"])
    (directory / f"{name}.json").write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    plot_survival([PointSummary.from_dict(merged["summary"])], directory / f"{name}-survival.png")


def _shown(path: Path | None, config: pytest.Config) -> str:
    """``path`` relative to the rootdir when it lies inside it (as pytest names files)."""
    if path is None:
        return ""
    try:
        return Path(path).resolve().relative_to(config.rootpath).as_posix()
    except ValueError:
        return str(path)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "scenario"
