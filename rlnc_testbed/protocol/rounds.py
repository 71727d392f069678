"""The signaling server's round control for one loop test, without I/O.

:class:`TrialController` is fed what the server sees (joins, messages, departures, a phase
deadline passing) and answers with :class:`Action` objects for the server's pump to carry out:
messages to send, a newcomer to start, the trial's end. It makes the experiment's server-side
decisions - which peer fails, which parents feed the newcomer - by the rules of
:mod:`rlnc_testbed.protocol.rules` on the specified streams, so they match the simulator.

Phases of a trial::

    JOINING -> DISTRIBUTING -> (FAILING -> REPAIRING -> COLLECTING) x rounds -> DONE

Collector messages ``nextRound`` / ``end`` move from COLLECTING to the next round or DONE.

Each phase's deadline is derived from the work it covers (:func:`phase_work`: joins, links,
packets and bytes, field operations, as functions of N, Q, k, s, P, beta) on top of a fixed base
(:data:`PHASE_UNITS`), by :func:`rlnc_testbed.timeouts.deadline_units`
(:func:`phase_deadline_units`); docs/protocol.md §2 "Phase deadlines" states the formula.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..timeouts import Work, deadline_units
from ..wire import packet_message_size
from .draws import DrawStream, Role, stream_for
from .messages import COLLECTOR_ID, ENGINE_ID
from .params import ParameterError, Params
from .records import RoundRecord, TrialRecord
from .rules import choose_parents, failed_peer, newcomer_id

__all__ = [
    "Action",
    "Finish",
    "Phase",
    "RoundDone",
    "Send",
    "SpawnNewcomer",
    "TrialController",
    "phase_deadline_units",
    "phase_work",
]


logger = logging.getLogger(__name__)


class Phase(enum.Enum):
    JOINING = "joining"
    DISTRIBUTING = "distributing"
    FAILING = "failing"  # waiting for the newcomer of this round to join
    REPAIRING = "repairing"  # parents upload, newcomer keeps Q
    COLLECTING = "collecting"  # every peer uploads to the collector, which decodes
    DONE = "done"


@dataclass(frozen=True)
class Send:
    """Send ``message`` to node ``to`` over signaling."""

    to: str
    message: dict[str, Any]


@dataclass(frozen=True)
class SpawnNewcomer:
    """Start a newcomer node for ``round``; it joins with role ``newcomer``."""

    round: int


@dataclass(frozen=True)
class Finish:
    """The trial is over; ``reason`` is ``max-round``, ``end`` or a timeout/error verdict."""

    reason: str


@dataclass(frozen=True)
class RoundDone:
    """A round ended (verified or not); ``record`` is final. Lets the pump stream it."""

    record: RoundRecord


Action = Send | SpawnNewcomer | RoundDone | Finish

#: Base timeout units per phase (scaled by :func:`rlnc_testbed.timeouts.unit`): what a phase
#: may last with no work at all; :func:`phase_deadline_units` adds the cost of its work.
PHASE_UNITS = {
    Phase.JOINING: 20.0,
    Phase.DISTRIBUTING: 20.0,
    Phase.FAILING: 20.0,
    Phase.REPAIRING: 10.0,
    Phase.COLLECTING: 10.0,
}

#: Refusals recorded per round at most (a flood of refused batches is counted, not kept).
_MAX_REFUSALS = 100

#: Units a trial may outlive the sum of its phase deadlines (the watchdog's own bound).
_TRIAL_SLACK_UNITS = 10.0


def phase_work(phase: Phase, params: Params, *, process_nodes: bool = False) -> Work:
    """What ``phase`` of one trial of ``params`` has to get done, counted.

    N peers, k symbols of s bytes, Q kept per peer, P parents, beta per upload, m the size of
    one packet message on the wire (k + s + header); ``process_nodes``: peers and newcomers are
    OS processes (each start counted).

    * JOINING: N + 2 joins (N processes).
    * DISTRIBUTING: 2N + 1 links (the engine's store links and source link, every peer's warm
      collector link), N Q packets and N Q m + k s bytes, K k s operations to encode.
    * FAILING: one join (one process) and the N + 2 ``new id`` messages its join triggers.
    * REPAIRING: P + 1 links (the uploads, the newcomer's warm link), P beta packets and bytes,
      Q P beta (k + s) operations to keep or recode, N + P + 3 messages.
    * COLLECTING: one link (a warm link lost), N Q + P beta packets (the collect batches, the
      provenance) and their bytes, N + 1 messages; k^2 N Q / 2 + N Q k s operations to judge
      (elimination, every packet checked against the source).
    """
    p = params
    n, k, s, q = p.peers, p.symbols, p.symbol_size, p.per_peer
    m = packet_message_size(k, s)
    upload = p.parents * p.upload
    processes = 1 if process_nodes else 0
    if phase is Phase.JOINING:
        return Work(joins=n + 2, processes=n * processes)
    if phase is Phase.DISTRIBUTING:
        return Work(
            links=2 * n + 1,
            packets=n * q,
            bytes=n * q * m + k * s,
            field_ops=p.total_packets_made * k * s,
            messages=n + 2,
        )
    if phase is Phase.FAILING:
        return Work(joins=1, processes=processes, messages=n + 2)
    if phase is Phase.REPAIRING:
        return Work(
            links=p.parents + 1,
            packets=upload,
            bytes=upload * m,
            field_ops=q * upload * (k + s),
            messages=n + p.parents + 3,
        )
    if phase is Phase.COLLECTING:
        packets = n * q + upload
        return Work(
            links=1,
            packets=packets,
            bytes=packets * m,
            field_ops=k * k * n * q // 2 + n * q * k * s,
            messages=n + 1,
        )
    return Work()


def phase_deadline_units(phase: Phase, params: Params, *, process_nodes: bool = False) -> float:
    """Units ``phase`` may last: its base plus its work (bounded; 0 for DONE)."""
    if phase not in PHASE_UNITS:
        return 0.0
    work = phase_work(phase, params, process_nodes=process_nodes)
    return deadline_units(PHASE_UNITS[phase], work)


_TIMEOUT_VERDICTS = {
    Phase.JOINING: "setup-timeout",
    Phase.DISTRIBUTING: "setup-timeout",
    Phase.FAILING: "repair-timeout",
    Phase.REPAIRING: "repair-timeout",
    Phase.COLLECTING: "collect-timeout",
}


@dataclass
class _Round:
    number: int
    failed: int
    server: DrawStream
    newcomer: int = 0
    parents: tuple[int, ...] = ()
    newcomer_rank: int = 0
    kept: int = 0
    repair_packets: int = 0
    started: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)


class TrialController:
    """Server-side state machine of one loop test (trial ``trial`` of ``params``)."""

    def __init__(
        self,
        params: Params,
        trial: int,
        *,
        packet_bytes: int = 0,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
        process_nodes: bool = False,
    ) -> None:
        self._clock = clock
        #: Units each phase may last, derived once from the work (see :func:`phase_work`).
        self.deadlines = {
            phase: phase_deadline_units(phase, params, process_nodes=process_nodes)
            for phase in PHASE_UNITS
        }
        self.params = params
        self.trial = trial
        self.record = TrialRecord(trial=trial, seed=params.seed)
        self._log = log or logger
        self._packet_bytes = packet_bytes
        self._actions: list[Action] = []
        self._phase = Phase.JOINING
        self._roles: dict[str, str] = {}
        self._seen: set[str] = set()  # every id that ever joined (a second join is a rejoin)
        #: Ids that rejoined after the server restarted or dropped them, in order.
        self.rejoins: list[str] = []
        self._alive: list[int] = []
        self._stored: dict[int, int] = {}
        self._source_stored = False
        self._round: _Round | None = None
        self.finish_reason = ""
        #: (clock time, round, phase entered) for every phase change: timings and replays.
        self.timeline: list[tuple[float, int, str]] = [(clock(), 0, Phase.JOINING.value)]

    # -- state -----------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def alive(self) -> tuple[int, ...]:
        return tuple(self._alive)

    def max_units(self) -> float:
        """Timeout units the whole trial may last if every phase used its deadline."""
        d = self.deadlines
        setup = d[Phase.JOINING] + d[Phase.DISTRIBUTING]
        per_round = d[Phase.FAILING] + d[Phase.REPAIRING] + d[Phase.COLLECTING]
        return setup + self.params.rounds * per_round + _TRIAL_SLACK_UNITS

    def deadline_units(self) -> float:
        """Timeout units the current phase may last (0 when DONE)."""
        return self.deadlines.get(self._phase, 0.0)

    def _set_phase(self, phase: Phase) -> None:
        if phase is not self._phase:
            self._log.debug("trial %d: %s -> %s", self.trial, self._phase.value, phase.value)
            self._phase = phase
            number = self._round.number if self._round is not None else 0
            self.timeline.append((self._clock(), number, phase.value))

    def actions_to_take(self) -> list[Action]:
        """Return and forget the actions produced so far."""
        actions, self._actions = self._actions, []
        return actions

    # -- inputs ----------------------------------------------------------------------------

    def joined(self, node_id: str, role: str) -> None:
        """A client joined signaling with server-assigned ``node_id``. A second join of the
        same id is a rejoin after a restart or drop: the node keeps its params, place and
        state, and nothing of the round is redone."""
        if node_id in self._seen:
            self._roles[node_id] = role
            self.rejoins.append(node_id)
            self._log.info("trial %d: %s %s rejoined", self.trial, role, node_id)
            return
        self._seen.add(node_id)
        self._roles[node_id] = role
        self._send(
            node_id, {"type": "params", "params": self.params.to_dict(), "trial": self.trial}
        )
        if role == "newcomer":
            self._newcomer_joined(node_id)
        elif self._phase is Phase.JOINING:
            if role == "peer":
                self._alive.append(int(node_id))
            self._maybe_distribute()

    def left(self, node_id: str) -> None:
        """A client disconnected. A silent loss is caught by the phase deadline."""
        self._roles.pop(node_id, None)

    def message(self, node_id: str, msg: dict[str, Any]) -> None:
        """A validated application message from ``node_id``."""
        kind = msg["type"]
        handler = getattr(self, "_on_" + kind.replace(" ", "_"), None)
        if handler is None:
            self._log.warning(
                "trial %d: ignoring %r from %s in %s", self.trial, kind, node_id, self._phase.value
            )
            return
        handler(node_id, msg)

    def timed_out(self) -> None:
        """The current phase's deadline passed."""
        if self._phase is Phase.DONE:
            return
        verdict = _TIMEOUT_VERDICTS[self._phase]
        self._abort(verdict, f"deadline passed in {self._phase.value}")

    def signaling_lost(self, why: str = "") -> None:
        """The signaling server went away (or lost nodes that never came back): nothing more
        can be told or heard. ``why`` says what happened, if more is known."""
        why = why or f"the signaling server went away in {self._phase.value}"
        self._abort("signaling-lost", why)

    def setup_failed(self, why: str) -> None:
        """A node could not be started or could not join before the rounds began."""
        self._abort("setup-timeout", why)

    def internal_error(self, exc: BaseException) -> None:
        """The pump caught a bug in the round control (or in carrying out its actions)."""
        self._abort("error", f"round control: {type(exc).__name__}: {exc}")

    def _abort(self, verdict: str, error: str) -> None:
        """End the trial with ``verdict``: the round under way (if any) is recorded with it."""
        if self._phase is Phase.DONE:
            return
        self._log.warning("trial %d: %s: %s", self.trial, verdict, error)
        if self._round is not None and self._phase is not Phase.DISTRIBUTING:
            self._record_round(verdict=verdict, error=error)
        self.record.error = error
        self._finish(verdict)

    # -- message handlers ------------------------------------------------------------------

    def _on_stored(self, node_id: str, msg: dict[str, Any]) -> None:
        rnd = msg["round"]
        if self._phase is Phase.DISTRIBUTING and rnd == 0:
            if node_id == COLLECTOR_ID:
                self._source_stored = True
            elif node_id.isdigit() and int(node_id) in self._alive:
                self._stored[int(node_id)] = msg["count"]
            if self._source_stored and len(self._stored) == len(self._alive):
                self._start_round(1)
        elif (
            self._phase is Phase.REPAIRING
            and self._round is not None
            and rnd == self._round.number
            and node_id == str(self._round.newcomer)
        ):
            self._round.newcomer_rank = msg["rank"]
            self._round.kept = msg["count"]
            self._round.repair_packets = int(msg.get("received", 0))
            # Repair links as the newcomer received them (collect links come from the
            # collector's report): receiver-side records, complete when the round ends.
            self._round.links.extend(msg.get("links", []))
            self._alive = sorted(p for p in self._alive if p != self._round.failed)
            self._alive.append(self._round.newcomer)
            self._stored.pop(self._round.failed, None)
            self._stored[self._round.newcomer] = msg["count"]
            self._set_phase(Phase.COLLECTING)
            # The collector judges exactly this membership, announced before any peer sends.
            self._send(
                COLLECTOR_ID,
                {
                    "type": "judge",
                    "round": rnd,
                    "alive": [str(peer) for peer in self._alive],
                    "newcomer": str(self._round.newcomer),
                },
            )
            for peer in self._alive:
                self._send(str(peer), {"type": "collect", "round": rnd})
        else:
            self._unexpected(node_id, msg)

    def _on_refused(self, node_id: str, msg: dict[str, Any]) -> None:
        """The collector refused a batch (a zombie, a stranger, a bloated or late batch)."""
        if node_id != COLLECTOR_ID or self._round is None or self._phase is Phase.DONE:
            self._unexpected(node_id, msg)
            return
        if len(self._round.refused) < _MAX_REFUSALS:
            self._round.refused.append(
                {"sender": msg["sender"], "round": msg["round"], "reason": msg["reason"]}
            )

    def _on_error(self, node_id: str, msg: dict[str, Any]) -> None:
        """A node of this trial reports a failure of its own (an exception in a role)."""
        if node_id not in self._roles:
            self._unexpected(node_id, msg)
            return
        self._abort("error", f"{self._roles[node_id]} {node_id}: {msg['reason']}")

    def _on_collected(self, node_id: str, msg: dict[str, Any]) -> None:
        if node_id != COLLECTOR_ID or self._phase is not Phase.COLLECTING or self._round is None:
            self._unexpected(node_id, msg)
            return
        if msg["round"] == self._round.number:
            self._round.report = dict(msg["report"])

    def _on_nextRound(self, node_id: str, msg: dict[str, Any]) -> None:
        if not self._verdict_from_collector(node_id, msg):
            return
        assert self._round is not None
        self._record_round()
        if self._round.number >= self.params.rounds:
            self._finish("max-round")
        else:
            self._start_round(self._round.number + 1)

    def _on_end(self, node_id: str, msg: dict[str, Any]) -> None:
        if not self._verdict_from_collector(node_id, msg):
            return
        self._record_round()
        self._finish("end")

    # -- transitions -----------------------------------------------------------------------

    def _maybe_distribute(self) -> None:
        ready = (
            len(self._alive) == self.params.peers
            and ENGINE_ID in self._roles
            and COLLECTOR_ID in self._roles
        )
        if ready:
            self._alive.sort()
            self._set_phase(Phase.DISTRIBUTING)
            peers = [str(p) for p in self._alive]
            self._send(ENGINE_ID, {"type": "distribute", "round": 0, "peers": peers})

    def _start_round(self, number: int) -> None:
        p = self.params
        server = stream_for(p.seed, self.trial, number, Role.SERVER)
        try:
            failed = failed_peer(p, number, self._alive, server)
        except ParameterError as exc:
            self._log.error("trial %d: %s", self.trial, exc)
            self._finish("error")
            return
        self._round = _Round(number=number, failed=failed, server=server, started=self._clock())
        self._set_phase(Phase.FAILING)
        self._send(str(failed), {"type": "fail", "round": number})
        self._actions.append(SpawnNewcomer(round=number))

    def _newcomer_joined(self, node_id: str) -> None:
        rnd = self._round
        if self._phase is not Phase.FAILING or rnd is None:
            self._log.warning(
                "trial %d: unexpected newcomer %s in %s", self.trial, node_id, self._phase.value
            )
            return
        p = self.params
        rnd.newcomer = int(node_id)
        survivors = [x for x in self._alive if x != rnd.failed]
        rnd.parents = choose_parents(rnd.server, survivors, p.parents)
        for other in self._roles:
            if other != node_id:
                self._send(other, {"type": "new id", "id": node_id, "round": rnd.number})
        self._send(
            node_id,
            {
                "type": "expect",
                "round": rnd.number,
                "parents": [str(x) for x in rnd.parents],
                "q": p.per_peer,
            },
        )
        for parent in rnd.parents:
            self._send(
                str(parent),
                {
                    "type": "repair",
                    "round": rnd.number,
                    "newcomer": node_id,
                    "beta": p.upload,
                },
            )
        self._set_phase(Phase.REPAIRING)

    def _verdict_from_collector(self, node_id: str, msg: dict[str, Any]) -> bool:
        ok = (
            node_id == COLLECTOR_ID
            and self._phase is Phase.COLLECTING
            and self._round is not None
            and msg["round"] == self._round.number
        )
        if not ok:
            self._unexpected(node_id, msg)
        return ok

    def _record_round(self, *, verdict: str | None = None, error: str = "") -> None:
        rnd = self._round
        assert rnd is not None
        report = rnd.report
        decoded = bool(report.get("decoded", False))
        verified = bool(report.get("verified", False))
        if verdict is None:
            verdict = str(report.get("verdict", "ok" if verified else "error"))
        repair_packets = rnd.repair_packets
        collect_packets = int(report.get("packets", 0))
        record = RoundRecord(
            round=rnd.number,
            failed=rnd.failed,
            newcomer=rnd.newcomer or newcomer_id(self.params, rnd.number),
            parents=rnd.parents,
            newcomer_rank=rnd.newcomer_rank,
            global_rank=int(report.get("global_rank", 0)),
            decoded=decoded,
            verified=verified,
            verdict=verdict,
            repair_packets=repair_packets,
            repair_bytes=repair_packets * self._packet_bytes,
            collect_packets=collect_packets,
            collect_bytes=collect_packets * self._packet_bytes,
            duration=max(0.0, self._clock() - rnd.started),
            error=error or str(report.get("error", "")),
            links=list(rnd.links)
            + [link for link in report.get("links", []) if isinstance(link, dict)],
            stored=_digests(report.get("stored")),
            refused=list(rnd.refused),
            polluted=_counts(report.get("polluted")),
            polluters=_ids(report.get("polluters")),
            disputes=self._disputes(rnd, report),
            ranks=_counts(report.get("ranks")),
            contributions=_counts(report.get("contributions")),
        )
        self.record.rounds.append(record)
        self._actions.append(RoundDone(record))

    @staticmethod
    def _disputes(rnd: _Round, report: dict[str, Any]) -> list[str]:
        """The newcomer's claims that the collector's observation contradicts."""
        newcomer = str(rnd.newcomer)
        delivered = _counts(report.get("delivered")).get(newcomer)
        rank = _counts(report.get("ranks")).get(newcomer)
        out = []
        if delivered is not None and delivered != rnd.kept:
            out.append(f"newcomer {newcomer} said it kept {rnd.kept}, delivered {delivered}")
        if rank is not None and rank > rnd.newcomer_rank:
            out.append(
                f"newcomer {newcomer} said it received rank {rnd.newcomer_rank}, delivered "
                f"packets of rank {rank}"
            )
        return out

    def _finish(self, reason: str) -> None:
        self.finish_reason = reason
        self.record.finish = reason
        self._set_phase(Phase.DONE)
        for node_id in list(self._roles):
            self._send(node_id, {"type": "close", "reason": reason})
        self._actions.append(Finish(reason=reason))

    # -- helpers ---------------------------------------------------------------------------

    def _send(self, to: str, message: dict[str, Any]) -> None:
        self._actions.append(Send(to=to, message=message))

    def _unexpected(self, node_id: str, msg: dict[str, Any]) -> None:
        self._log.warning(
            "trial %d: unexpected %r from %s in %s",
            self.trial,
            msg.get("type"),
            node_id,
            self._phase.value,
        )


def _digests(value: object) -> dict[str, str]:
    """The collector's per-peer digests, keeping only well-formed (id -> hex string) entries."""
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _ids(value: object) -> list[str]:
    """A list of node ids, keeping only strings."""
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if isinstance(v, str)]


def _counts(value: object) -> dict[str, int]:
    """A (peer id -> count) map, keeping only integer counts."""
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}
