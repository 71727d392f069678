"""Scenario files: TOML data describing one experiment point and what a test expects of it.

A scenario file holds only data::

    name = "three-peers-rlnc"
    description = "3 peers with RLNC: peer 2 fails, newcomer 4 recodes from 1 and 3"
    transport = "webrtc"          # sim | memory | webrtc
    hosts = "loopback"            # loopback | netns: a network namespace per peer/newcomer
    node_hosts = 2                # webrtc only: peers and newcomers in 2 node host processes
    markers = ["webrtc"]          # extra pytest markers (scenario is always added)

    [params]                      # any field of rlnc_testbed.protocol.Params
    peers = 3
    symbols = 6
    redundancy = 2.0
    parents = 2
    scheme = "rlnc"
    failures = [2]
    rounds = 1                    # max round R; 0: every trial runs until loss (lifetime)
    max_rounds_cap = 5000         # with rounds = 0 only: the safety cap (default 100,000)
    browser_peers = [2]           # webrtc only: these peer slots are Chromium pages (or a
    browser_newcomers = true      # count n: slots 1..n); newcomers too (rlnc_testbed.browser)

    [expect]                      # optional, checked by the scenario tests
    success = true                # every trial verified (false: retrieval must fail cleanly)
    min_success_rate = 0.9        # for loop tests over many trials
    min_mean_lifetime = 200       # with rounds = 0 only: Kaplan-Meier mean/median rounds
                                  # survived (also max_mean_lifetime, min/max_median_lifetime)

    [[faults]]                    # optional, memory/webrtc only: faults on a schedule
    kind = "crash"                # (rlnc_testbed.protocol.faults; docs/protocol.md §7)
    target = "parent"
    when = "mid-repair"
    round = 1

Unknown keys are errors naming the key and the file; so is a malformed or contradictory
``[expect]`` table (what its keys mean and how they are checked:
:mod:`rlnc_testbed.experiment.expectations`).

**Until loss.** ``rounds = 0`` makes the scenario a lifetime run
(:mod:`rlnc_testbed.analysis.lifetime`): every trial runs until its data is lost or for
``max_rounds_cap`` rounds (the safety cap; a trial reaching it is censored). The scenario then
holds ``until_loss = True`` and ``params.rounds`` is the cap, so whatever runs its params
(``run_point``, the pytest plugin) plays each trial until loss, and ``rlnc-testbed run FILE``
reports lifetimes without ``--until-loss`` (``--rounds R`` makes it a run of R rounds again).
Refused: ``max_rounds_cap`` without ``rounds = 0``, a cap outside [1, 1,000,000], a fault that
names its round (``round = R``; give ``rate``), and lifetime bounds in ``[expect]`` of a
scenario of fixed rounds.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.lifetime import DEFAULT_MAX_ROUNDS_CAP, MAX_ROUNDS_CAP
from ..browser.peers import browser_slots
from ..protocol.faults import SIGNALING_KINDS, FaultError, FaultPlan
from ..protocol.params import ParameterError, Params
from .expectations import LIFETIME_KEYS, ExpectationError, Expectations

__all__ = [
    "NETWORK_TRANSPORTS",
    "RUN_TRANSPORTS",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "load_scenarios",
]

#: Where trials run: the compiled simulator, or the networked roles over memory channels or
#: real WebRTC (the one home of these names).
RUN_TRANSPORTS = ("sim", "memory", "webrtc")
#: The transports that run the networked roles (one ``Cluster`` per trial).
NETWORK_TRANSPORTS = RUN_TRANSPORTS[1:]

_TOP_KEYS = {
    "name", "description", "transport", "hosts", "node_hosts", "markers", "params", "expect",
    "data", "faults",
}  # fmt: skip
#: Where a scenario's nodes run (experiment/cluster.py ``HOSTS``; netns: experiment/hosts.py).
SCENARIO_HOSTS = ("loopback", "netns")


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Scenario:
    """One experiment point plus what a test expects of it.

    ``expect`` is the ``[expect]`` table, validated (and its rates made floats) on
    construction; :attr:`expectations` is the same as an :class:`Expectations` value.
    """

    name: str
    params: Params
    description: str = ""
    transport: str = "sim"
    markers: tuple[str, ...] = ()
    expect: dict[str, Any] = field(default_factory=dict)
    data: Path | None = None
    path: Path | None = None
    #: Faults on a schedule (the ``[[faults]]`` tables); only the networked transports run them.
    faults: FaultPlan = field(default_factory=FaultPlan)
    #: Peer slots run as Chromium pages (``browser_peers`` in ``[params]``), ascending.
    browser_peers: tuple[int, ...] = ()
    #: Whether newcomers are Chromium pages (``browser_newcomers`` in ``[params]``).
    browser_newcomers: bool = False
    #: Where the nodes run: this host's loopback, or one network namespace per node.
    hosts: str = "loopback"
    #: Every trial runs until loss (``rounds = 0`` in the file); ``params.rounds`` is the cap.
    until_loss: bool = False
    #: The peers and newcomers run in this many node host processes (0: not;
    #: :mod:`rlnc_testbed.experiment.node_hosts`).
    node_hosts: int = 0

    def __post_init__(self) -> None:
        where = self.path or self.name
        try:
            checked = Expectations.from_mapping(self.expect)
        except ExpectationError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
        object.__setattr__(self, "expect", checked.to_dict())
        if not isinstance(self.until_loss, bool):
            raise ScenarioError(f"{where}: until_loss must be true or false")
        if checked.has_lifetimes and not self.until_loss:
            key = next(k for k in LIFETIME_KEYS if k in checked.to_dict())
            raise ScenarioError(
                f"{where}: [expect] {key}: lifetime bounds need a run until loss (rounds = 0 "
                f"in [params]); this scenario runs {self.params.rounds} rounds"
            )
        _check_faults(self.faults, self.params, self.transport, where)
        if self.until_loss:
            for index, spec in enumerate(self.faults.specs):
                if spec.round is not None:
                    raise ScenarioError(
                        f"{where}: faults[{index}]: round = {spec.round} names a round, but this "
                        "scenario runs until loss (rounds = 0, --until-loss or --rounds 0): give "
                        "rate = P (drawn each round), or run R rounds"
                    )
        try:
            slots = browser_slots(self.browser_peers, self.params.peers)
        except ParameterError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
        object.__setattr__(self, "browser_peers", slots)
        if not isinstance(self.browser_newcomers, bool):
            raise ScenarioError(
                f"{where}: browser_newcomers must be true or false, got {self.browser_newcomers!r}"
            )
        if self.hosts not in SCENARIO_HOSTS:
            raise ScenarioError(
                f"{where}: hosts must be one of {', '.join(SCENARIO_HOSTS)}; got {self.hosts!r}"
            )
        if self.hosts == "netns" and self.transport != "webrtc":
            raise ScenarioError(
                f"{where}: hosts = 'netns' needs transport = 'webrtc'; got {self.transport!r}"
            )
        hosts = self.node_hosts
        if isinstance(hosts, bool) or not isinstance(hosts, int) or hosts < 0:
            raise ScenarioError(f"{where}: node_hosts must be a count >= 0, got {hosts!r}")
        if hosts and (self.transport != "webrtc" or self.hosts == "netns"):
            raise ScenarioError(
                f"{where}: node_hosts = {hosts} runs the peers and newcomers in node host "
                "processes over transport = 'webrtc', on this host's loopback (not with hosts "
                f"= 'netns'); got transport {self.transport!r}, hosts {self.hosts!r}"
            )
        unhosted = sorted({s.kind for s in self.faults.specs} - set(SIGNALING_KINDS))
        if hosts and unhosted:
            raise ScenarioError(
                f"{where}: node_hosts carries out only {', '.join(SIGNALING_KINDS)} faults (a "
                f"host holds many nodes); got {', '.join(unhosted)}"
            )
        if self.browsers and self.transport != "webrtc":
            raise ScenarioError(
                f"{where}: browser peers need transport = 'webrtc'; got {self.transport!r}"
            )

    @property
    def browsers(self) -> bool:
        """True if some peer or the newcomers run in Chromium."""
        return bool(self.browser_peers) or self.browser_newcomers

    @property
    def deployment(self) -> dict[str, Any]:
        """The keyword arguments that say where and how the networked trials run, for
        ``run_trial``/``run_point`` (faults and browser slots; empty ones left out)."""
        out: dict[str, Any] = {}
        if self.faults:
            out["faults"] = self.faults
        if self.browser_peers:
            out["browser_peers"] = self.browser_peers
        if self.browser_newcomers:
            out["browser_newcomers"] = True
        if self.hosts != "loopback":
            out["hosts"] = self.hosts
        if self.node_hosts:
            out["node_hosts"] = self.node_hosts
        return out

    @property
    def expectations(self) -> Expectations:
        """The validated ``[expect]`` table."""
        return Expectations.from_mapping(self.expect)

    @property
    def max_rounds_cap(self) -> int | None:
        """The safety cap of a scenario run until loss (``params.rounds``), else None."""
        return self.params.rounds if self.until_loss else None

    def with_params(self, **changes: Any) -> Scenario:
        """A copy whose params have ``changes`` applied (None values ignored). For a scenario
        run until loss, ``rounds`` is its cap (``--rlnc-max-rounds`` bounds it)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        return dataclasses.replace(self, params=self.params.with_(**changes))

    def with_rounds(self, rounds: int | None = None, *, cap: int | None = None) -> Scenario:
        """A copy with the max round overridden as the command line does: ``rounds = R > 0``
        runs R rounds (even if the file says until loss: its lifetime bounds, which a run of R
        rounds does not measure, are dropped), ``rounds = 0`` runs until loss with ``cap``
        (default: the file's cap, else :data:`DEFAULT_MAX_ROUNDS_CAP`), and ``cap`` alone
        changes the cap of a scenario run until loss. None: keep the file's."""
        if rounds is None and cap is None:
            return self
        if rounds is not None and rounds > 0:
            if cap is not None:
                raise ScenarioError(f"{self.path or self.name}: a cap needs rounds = 0")
            expect = {k: v for k, v in self.expect.items() if k not in LIFETIME_KEYS}
            return dataclasses.replace(
                self, params=self.params.with_(rounds=rounds), until_loss=False, expect=expect
            )
        if rounds is None and not self.until_loss:
            raise ScenarioError(
                f"{self.path or self.name}: a max rounds cap needs a run until loss (rounds = 0)"
            )
        chosen = cap if cap is not None else self.max_rounds_cap or DEFAULT_MAX_ROUNDS_CAP
        _check_cap(chosen, self.path or self.name)
        return dataclasses.replace(self, params=self.params.with_(rounds=chosen), until_loss=True)

    def with_transport(self, transport: str | None) -> Scenario:
        if transport is None:
            return self
        _check_transport(transport, self.path)
        return dataclasses.replace(self, transport=transport)

    def with_deployment(
        self,
        *,
        browser_peers: Any = None,
        browser_newcomers: bool | None = None,
        hosts: str | None = None,
        node_hosts: int | None = None,
    ) -> Scenario:
        """A copy with these deployment choices overridden (None: keep the scenario's);
        checked like the file's own (ScenarioError naming the problem)."""
        changes: dict[str, Any] = {}
        if node_hosts is not None:
            changes["node_hosts"] = node_hosts
        if browser_peers is not None:
            changes["browser_peers"] = browser_peers
        if browser_newcomers is not None:
            changes["browser_newcomers"] = browser_newcomers
        if hosts is not None:
            changes["hosts"] = hosts
        return dataclasses.replace(self, **changes) if changes else self

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "transport": self.transport,
            "params": self.params.to_dict(),
            "expect": dict(self.expect),
            "faults": self.faults.to_list(),
            "browser_peers": list(self.browser_peers),
            "browser_newcomers": self.browser_newcomers,
            "hosts": self.hosts,
            "node_hosts": self.node_hosts,
            "until_loss": self.until_loss,
            "max_rounds_cap": self.max_rounds_cap,
        }


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ScenarioError(f"{path}: unknown key(s): {', '.join(unknown)}")
    if not isinstance(raw.get("params", {}), dict):
        raise ScenarioError(f"{path}: [params] must be a table")
    table = dict(raw.get("params", {}))
    browser_peers = table.pop("browser_peers", None)
    browser_newcomers = table.pop("browser_newcomers", False)
    cap = table.pop("max_rounds_cap", None)
    rounds = table.get("rounds")
    until_loss = rounds == 0 and not isinstance(rounds, bool)
    if cap is not None and not until_loss:
        raise ScenarioError(
            f"{path}: max_rounds_cap needs rounds = 0 (until loss); got rounds = {rounds!r}"
        )
    if until_loss:
        table["rounds"] = DEFAULT_MAX_ROUNDS_CAP if cap is None else cap
        _check_cap(table["rounds"], path)
    try:
        params = Params.from_dict(table)
    except (ParameterError, TypeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    expect = raw.get("expect", {})
    if not isinstance(expect, dict):
        raise ScenarioError(f"{path}: [expect] must be a table")
    try:
        expectations = Expectations.from_mapping(expect)
    except ExpectationError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    markers = raw.get("markers", [])
    if not isinstance(markers, list) or not all(isinstance(m, str) for m in markers):
        raise ScenarioError(f"{path}: markers must be a list of strings")
    transport = raw.get("transport", "sim")
    _check_transport(transport, path)
    data = raw.get("data")
    try:
        faults = FaultPlan.from_list(raw.get("faults", []))
    except FaultError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return Scenario(
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")),
        params=params,
        transport=transport,
        markers=tuple(markers),
        expect=expectations.to_dict(),
        data=(path.parent / data) if isinstance(data, str) else None,
        path=path,
        faults=faults,
        browser_peers=browser_peers,  # checked on construction
        browser_newcomers=browser_newcomers,
        hosts=raw.get("hosts", "loopback"),
        until_loss=until_loss,
        node_hosts=raw.get("node_hosts", 0),
    )


def load_scenarios(directory: str | Path) -> list[Scenario]:
    """Every ``*.toml`` scenario in ``directory``, sorted by file name."""
    return [load_scenario(p) for p in sorted(Path(directory).glob("*.toml"))]


def _check_transport(transport: object, path: Path | None) -> None:
    if transport not in RUN_TRANSPORTS:
        raise ScenarioError(
            f"{path}: transport must be one of {', '.join(RUN_TRANSPORTS)}; got {transport!r}"
        )


def _check_cap(cap: object, where: object) -> None:
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_ROUNDS_CAP:
        raise ScenarioError(
            f"{where}: max_rounds_cap must be an integer in [1, {MAX_ROUNDS_CAP}]; got {cap!r}"
        )


def _check_faults(faults: FaultPlan, params: Params, transport: str, where: object) -> None:
    if not faults:
        return
    if transport not in NETWORK_TRANSPORTS:
        raise ScenarioError(
            f"{where}: faults run only over {' or '.join(NETWORK_TRANSPORTS)}; "
            f"transport is {transport!r}"
        )
    for index, spec in enumerate(faults.specs):
        if spec.round is not None and spec.round > params.rounds:
            raise ScenarioError(
                f"{where}: faults[{index}]: round {spec.round} > rounds = {params.rounds}"
            )
