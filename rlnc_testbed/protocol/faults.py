"""Faults on a schedule, sans-I/O: validated fault specs and which faults happen when, to whom.

A scenario's ``[[faults]]`` tables become a :class:`FaultPlan` of :class:`FaultSpec` values::

    [[faults]]
    kind = "crash"          # crash | silent | zombie | newcomer-crash | pollute |
                            # collector-reconnect | server-restart | link
    target = "parent"       # crash: parent | peer; silent: parent; zombie: failed;
                            # newcomer-crash: newcomer; pollute: peer | parent;
                            # collector-reconnect: collector; server-restart: server;
                            # link: repair | collect | all
    when = "mid-repair"     # crash, pollute: mid-repair | mid-collect; the others have one
    round = 3               # exactly one of: round (this round only) or rate (each round)

    [[faults]]
    kind = "link"
    target = "collect"
    rate = 0.5              # each round, with this probability (a specified draw)
    loss = 0.1              # link shape: loss, delay, jitter, reorder (transport/shaping.py)

:func:`round_faults` is the pure function "which faults happen in trial t round r, to whom":
it reads only the plan, the parameters, the alive peers at the start of the round and the
specified streams (``Role.FAULT``, index = the spec's position in the plan; the round's
failed peer and parents come from :mod:`rlnc_testbed.protocol.rules` on the ``SERVER`` stream,
exactly as the round control draws them). ``docs/protocol.md`` §7 specifies it and gives the
verdict each fault ends in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .draws import Role, stream_for
from .messages import COLLECTOR_ID, ENGINE_ID
from .params import ParameterError, Params
from .rules import choose_parents, failed_peer, newcomer_id

__all__ = [
    "FAULT_KINDS",
    "LINK_KEYS",
    "NODE_KINDS",
    "PPM",
    "Fault",
    "FaultError",
    "FaultPlan",
    "FaultSchedule",
    "FaultSpec",
    "CLUSTER_KINDS",
    "KILL_KINDS",
    "PROCESS_KINDS",
    "SIGNALING_KINDS",
    "link_index",
    "node_number",
    "round_faults",
    "trigger",
]

#: Probabilities are drawn as integers out of this many (as in ``transport/shaping.py``).
PPM = 1_000_000

#: kind -> (allowed targets, allowed ``when`` values); the first of each is the default.
_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "crash": (("parent", "peer"), ("mid-repair", "mid-collect")),
    "silent": (("parent",), ("mid-repair",)),
    "zombie": (("failed",), ("after-fail",)),
    "newcomer-crash": (("newcomer",), ("mid-repair",)),
    "pollute": (("peer", "parent"), ("mid-collect", "mid-repair")),
    "collector-reconnect": (("collector",), ("between-rounds",)),
    "server-restart": (("server",), ("between-rounds",)),
    "link": (("repair", "collect", "all"), ("round",)),
}
#: Fault kinds, in the priority order they were built (docs/protocol.md §7).
FAULT_KINDS = tuple(_KINDS)
#: Kinds the cluster carries out around the nodes: the signaling plane's, and the links'.
CLUSTER_KINDS = ("collector-reconnect", "server-restart", "link")
#: Kinds carried out by a node (the fault-injecting role classes of ``roles/faulty.py``).
NODE_KINDS = tuple(kind for kind in FAULT_KINDS if kind not in CLUSTER_KINDS)
#: Node kinds a node in its own OS process suffers as a SIGKILL (see :func:`trigger`).
KILL_KINDS = ("crash", "newcomer-crash")
#: What a run with nodes in their own OS processes can carry out.
PROCESS_KINDS = (*KILL_KINDS, "collector-reconnect", "server-restart")
#: Kinds that interrupt signaling between two rounds, and may say for how long (``downtime``).
SIGNALING_KINDS = ("collector-reconnect", "server-restart")
#: The link shape keys a ``link`` fault may set (``LinkShape`` fields).
LINK_KEYS = ("loss", "delay", "jitter", "reorder")
_KEYS = {"kind", "target", "when", "round", "rate", "nodes", "downtime", *LINK_KEYS}

#: Numbers of the two named nodes in a link index (numeric ids are themselves).
_NAMED = {ENGINE_ID: 2**32 - 1, COLLECTOR_ID: 2**32 - 2}


class FaultError(ParameterError):
    """A fault spec is malformed; the message names the spec and the problem."""


def node_number(node_id: str) -> int:
    """A node's number in a link index: ``int(id)`` for numeric ids (< 2**32 - 2),
    ``engine`` = 2**32 - 1, ``collector`` = 2**32 - 2."""
    if node_id in _NAMED:
        return _NAMED[node_id]
    if not node_id.isdigit() or int(node_id) >= 2**32 - 2:
        raise ValueError(f"no link number for node id {node_id!r}")
    return int(node_id)


def link_index(sender: str, receiver: str) -> int:
    """The ``Role.LINK`` stream index of the directed link ``sender -> receiver``:
    ``node_number(sender) * 2**32 + node_number(receiver)``."""
    return node_number(sender) * 2**32 + node_number(receiver)


def _number(name: str, value: object, *, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise FaultError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class FaultSpec:
    """One ``[[faults]]`` table, validated: what fault, on whom, when, how often."""

    kind: str
    target: str = ""
    when: str = ""
    #: The one round it happens in (None: it happens by ``rate``).
    round: int | None = None
    #: Probability per round r >= 1 (None: only in ``round``).
    rate: float | None = None
    #: Node faults only: the ids it may strike (None: any of the target's candidates), e.g.
    #: ``kind = "pollute", nodes = [3], rate = 1.0`` - peer 3 is byzantine for the whole trial.
    nodes: tuple[int, ...] | None = None
    #: Signaling kinds only: seconds nothing listens (server-restart) or before the dropped
    #: collector is let back (collector-reconnect; its client retries from 50 ms on).
    downtime: float = 0.0
    loss: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    reorder: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise FaultError(f"kind must be one of {', '.join(FAULT_KINDS)}; got {self.kind!r}")
        targets, whens = _KINDS[self.kind]
        set_ = object.__setattr__
        set_(self, "target", self.target or targets[0])
        set_(self, "when", self.when or whens[0])
        if self.target not in targets:
            raise FaultError(
                f"{self.kind}: target must be one of {', '.join(targets)}; got {self.target!r}"
            )
        if self.when not in whens:
            raise FaultError(
                f"{self.kind}: when must be one of {', '.join(whens)}; got {self.when!r}"
            )
        if (self.kind, self.target, self.when) == ("pollute", "peer", "mid-repair"):
            raise FaultError(
                "pollute: target 'peer' pollutes its collect batch (when = 'mid-collect'); "
                "a polluted repair upload needs target = 'parent'"
            )
        if (self.round is None) == (self.rate is None):
            raise FaultError(f"{self.kind}: give exactly one of round = R or rate = P")
        if self.round is not None and (
            isinstance(self.round, bool) or not isinstance(self.round, int) or self.round < 1
        ):
            raise FaultError(f"{self.kind}: round must be an integer >= 1, got {self.round!r}")
        if self.rate is not None:
            set_(self, "rate", _number("rate", self.rate, low=0.0, high=1.0))
        for name in ("loss", "reorder"):
            set_(self, name, _number(name, getattr(self, name), low=0.0, high=1.0))
        for name in ("delay", "jitter"):
            set_(self, name, _number(name, getattr(self, name), low=0.0, high=10.0))
        if self.nodes is not None:
            nodes = self.nodes
            if (
                isinstance(nodes, str | bytes)
                or not isinstance(nodes, list | tuple)
                or not nodes
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in nodes)
                or not all(1 <= x < 2**32 - 2 for x in nodes)
            ):
                raise FaultError(
                    f"{self.kind}: nodes must be a non-empty list of peer ids (integers >= 1), "
                    f"got {nodes!r}"
                )
            if self.kind in CLUSTER_KINDS:
                raise FaultError(f"{self.kind}: nodes is only for node faults")
            set_(self, "nodes", tuple(sorted(set(nodes))))
        set_(self, "downtime", _number("downtime", self.downtime, low=0.0, high=10.0))
        if self.downtime and self.kind not in SIGNALING_KINDS:
            raise FaultError(f"{self.kind}: downtime is only for {' and '.join(SIGNALING_KINDS)}")
        shaped = any(getattr(self, name) for name in LINK_KEYS)
        if self.kind == "link" and not shaped:
            raise FaultError("link: give at least one of loss, delay, jitter, reorder")
        if self.kind != "link" and shaped:
            raise FaultError(f"{self.kind}: {', '.join(LINK_KEYS)} are only for kind = 'link'")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultSpec:
        """Build from one TOML table; unknown keys are errors naming them."""
        if not isinstance(data, Mapping):
            raise FaultError(f"a fault must be a table, got {type(data).__name__}")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise FaultError(f"unknown fault key(s): {', '.join(unknown)}")
        if "kind" not in data:
            raise FaultError("a fault needs a kind")
        for name in ("kind", "target", "when"):
            if name in data and not isinstance(data[name], str):
                raise FaultError(f"{name} must be a string, got {data[name]!r}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "target": self.target, "when": self.when}
        out["round" if self.round is not None else "rate"] = (
            self.round if self.round is not None else self.rate
        )
        if self.nodes is not None:
            out["nodes"] = list(self.nodes)
        if self.kind in SIGNALING_KINDS:
            out["downtime"] = self.downtime
        if self.kind == "link":
            out.update({name: getattr(self, name) for name in LINK_KEYS})
        return out

    def happens(self, draw: int, number: int) -> bool:
        """Whether it happens in round ``number`` given the round's first draw (< PPM)."""
        if self.round is not None:
            return number == self.round
        assert self.rate is not None
        return draw < round(self.rate * PPM)


@dataclass(frozen=True)
class Fault:
    """One fault that happens in a round: spec ``spec`` of the plan, resolved to a node or
    to links. :meth:`to_dict` is what the history's ``fault`` event and
    ``RoundRecord.faults`` hold."""

    spec: int
    kind: str
    target: str
    when: str
    #: The node that misbehaves ("" for a link fault).
    node: str = ""
    #: The directed links a link fault shapes, ``(sender, receiver)``, in order.
    links: tuple[tuple[str, str], ...] = ()
    loss: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    reorder: float = 0.0
    downtime: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "spec": self.spec,
            "kind": self.kind,
            "target": self.target,
            "when": self.when,
        }
        if self.kind == "link":
            out["links"] = [list(link) for link in self.links]
            out.update({name: getattr(self, name) for name in LINK_KEYS})
        else:
            out["node"] = self.node
        if self.kind in SIGNALING_KINDS:
            out["downtime"] = self.downtime
        return out


@dataclass(frozen=True)
class FaultPlan:
    """A scenario's faults, in file order (a spec's index is its ``Role.FAULT`` stream index)."""

    specs: tuple[FaultSpec, ...] = ()

    @classmethod
    def from_list(cls, data: Iterable[Mapping[str, Any]]) -> FaultPlan:
        """Build from the ``[[faults]]`` array; errors name the fault by its 0-based index."""
        if isinstance(data, str | bytes | Mapping):
            raise FaultError("faults must be an array of tables ([[faults]])")
        specs = []
        for index, item in enumerate(data):
            try:
                specs.append(FaultSpec.from_mapping(item))
            except (FaultError, TypeError) as exc:
                raise FaultError(f"faults[{index}]: {exc}") from None
        return cls(tuple(specs))

    def to_list(self) -> list[dict[str, Any]]:
        return [spec.to_dict() for spec in self.specs]

    def __bool__(self) -> bool:
        return bool(self.specs)

    @property
    def node_faults(self) -> bool:
        """True if some fault is carried out by a node (needs the fault-injecting roles)."""
        return any(spec.kind in NODE_KINDS for spec in self.specs)


def round_faults(
    plan: FaultPlan, params: Params, trial: int, number: int, alive: Sequence[int]
) -> list[Fault]:
    """The faults of round ``number`` of ``trial``, given the peers ``alive`` when it starts.

    For spec i (in plan order) the stream is ``(seed, trial, number, FAULT, i)``: its first
    draw ``below(PPM)`` is always made; the spec happens iff its ``round`` is ``number``, or
    that draw is below ``round(rate * PPM)``. A node fault that happens then draws its node:
    ``candidates[below(len(candidates))]`` over the ascending candidates (parent: the round's
    parents; peer: the survivors; failed: the failed peer; newcomer: the newcomer), kept to
    the spec's ``nodes`` if it names any (none of them a candidate: it does not happen). A link
    fault draws nothing more (nor does a signaling fault: its node is the collector or the
    server, and it happens after the round's verdict); a link fault's links are, in order,
    ``(parent, newcomer)`` per parent (``repair``) and ``(peer, collector)`` per survivor then
    the newcomer (``collect``).
    The failed peer and parents are those of §6 (rules on the SERVER stream).
    """
    if not plan:
        return []
    server = stream_for(params.seed, trial, number, Role.SERVER)
    failed = failed_peer(params, number, alive, server)
    survivors = sorted(x for x in alive if x != failed)
    parents = sorted(choose_parents(server, survivors, params.parents))
    newcomer = newcomer_id(params, number)
    candidates = {
        "parent": parents,
        "peer": survivors,
        "failed": [failed],
        "newcomer": [newcomer],
    }
    repair = tuple((str(x), str(newcomer)) for x in parents)
    collect = tuple((str(x), COLLECTOR_ID) for x in [*survivors, newcomer])
    links = {"repair": repair, "collect": collect, "all": repair + collect}
    out = []
    for index, spec in enumerate(plan.specs):
        stream = stream_for(params.seed, trial, number, Role.FAULT, index)
        if not spec.happens(stream.below(PPM), number):
            continue
        if spec.kind == "link":
            fault = Fault(
                index,
                spec.kind,
                spec.target,
                spec.when,
                links=links[spec.target],
                loss=spec.loss,
                delay=spec.delay,
                jitter=spec.jitter,
                reorder=spec.reorder,
            )
        elif spec.kind in SIGNALING_KINDS:
            fault = Fault(
                index, spec.kind, spec.target, spec.when, node=spec.target, downtime=spec.downtime
            )
        else:
            pool = candidates[spec.target]
            if spec.nodes is not None:
                pool = [x for x in pool if x in spec.nodes]
                if not pool:
                    continue
            node = str(pool[stream.below(len(pool))])
            fault = Fault(index, spec.kind, spec.target, spec.when, node=node)
        out.append(fault)
    return out


def trigger(fault: Fault) -> str:
    """The server message (its ``type``, of the fault's round, sent to the fault's node) on
    whose receipt the node carries out a node fault: what ``roles/faulty.py`` acts on, and
    right after which the cluster SIGKILLs a node running in its own process."""
    if fault.kind == "newcomer-crash":
        return "expect"
    if fault.kind == "zombie":
        return "fail"
    if fault.when == "mid-collect":
        return "collect"
    if fault.kind == "crash" and fault.target == "peer":
        return "new id"
    if fault.kind in ("crash", "silent", "pollute"):
        return "repair"
    raise ValueError(f"a {fault.kind} fault has no node trigger")


class FaultSchedule:
    """The faults resolved so far, per round: what the fault-injecting roles consult.

    The trial's wiring (``experiment/cluster.py``) adds each round's :func:`round_faults`
    when the round starts, before any node hears of the round; a node asks
    :meth:`find` whether it misbehaves, and how.
    """

    def __init__(self) -> None:
        self._rounds: dict[int, list[Fault]] = {}

    def add(self, number: int, faults: Iterable[Fault]) -> None:
        self._rounds[number] = list(faults)

    def faults(self, number: int) -> list[Fault]:
        """Every fault of round ``number`` (in plan order)."""
        return list(self._rounds.get(number, ()))

    def find(self, number: int, node: str, kind: str, *, when: str | None = None) -> Fault | None:
        """The first fault of ``kind`` (and ``when``) on ``node`` in round ``number``."""
        for fault in self._rounds.get(number, ()):
            if fault.node == node and fault.kind == kind and when in (None, fault.when):
                return fault
        return None
