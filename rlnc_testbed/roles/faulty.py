"""Fault-injecting roles: storage peers and newcomers that crash, go silent or turn zombie
when the trial's :class:`~rlnc_testbed.protocol.faults.FaultSchedule` says so.

They decide nothing themselves: ``experiment/cluster.py`` resolves each round's faults
(:func:`~rlnc_testbed.protocol.faults.round_faults`, seeded draws) into the shared schedule
before any node hears of the round, and each node asks it about itself. A node with no fault
in a round behaves exactly as :class:`~rlnc_testbed.roles.storage.StoragePeer` /
:class:`~rlnc_testbed.roles.storage.Newcomer`.

What each kind does (verdicts: ``docs/protocol.md`` §7):

* ``crash`` ``mid-repair``: target ``parent`` - on ``repair``, sends its Hello and half its
  upload, then closes every channel and its websocket at once (no Done); target ``peer`` - on
  ``new id``, closes at once. ``mid-collect``: on ``collect``, the same with half its batch.
* ``silent`` parent: on ``repair`` sends nothing and stays connected.
* ``zombie``: on ``fail`` it stays, and on every later ``new id`` delivers its old packets
  to the collector for that round (which refuses and reports them).
* ``newcomer-crash``: the newcomer closes at once on ``expect``.
* ``pollute``: well-formed packets whose payloads do not match their coefficients
  (:func:`~rlnc_testbed.roles.byzantine.pollute`): ``mid-collect`` - its collect batch that
  round; ``mid-repair`` (target ``parent``) - its upload to that round's newcomer. What it
  stores stays clean, so only that round's transfer is polluted.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .. import wire
from ..coding import CodedPacket
from ..protocol.faults import Fault, FaultSchedule
from ..protocol.messages import COLLECTOR_ID
from .byzantine import pollute
from .storage import Newcomer, StoragePeer
from .streams import send_messages

__all__ = ["FAULTY_ROLES", "FaultyNewcomer", "FaultyPeer"]


class _Faulty:
    """The behaviour both faulty classes share (a mixin before the honest class)."""

    role: str
    id: str
    stored: list[Any]
    trial: int
    log: Any
    stop_reason: str
    connector: Any
    signaling: Any
    _pool: dict[str, Any]

    def __init__(self, *, schedule: FaultSchedule | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The trial's resolved faults (shared with the wiring that fills it).
        self.schedule = schedule if schedule is not None else FaultSchedule()
        #: Set once this node failed as a zombie: it stays and keeps sending.
        self.zombie = False
        #: The fault this node carried out last (for tests and logs).
        self.carried_out: list[Fault] = []

    def _fault(self, number: int, kind: str, when: str | None = None) -> Fault | None:
        fault = self.schedule.find(number, self.id, kind, when=when)
        if fault is not None:
            self.carried_out.append(fault)
            self.log.info("%s %s: %s in round %d", self.role, self.id, kind, number)
        return fault

    # -- commands --------------------------------------------------------------------------

    def on_fail(self, msg: dict[str, Any]) -> None:
        if self._fault(int(msg["round"]), "zombie") is not None:
            self.zombie = True
            return
        super().on_fail(msg)  # type: ignore[misc]

    async def on_new_id(self, msg: dict[str, Any]) -> None:
        number = int(msg["round"])
        if self.zombie:
            await super().on_collect({"round": number})  # type: ignore[misc]
            return
        fault = self.schedule.find(number, self.id, "crash", when="mid-repair")
        if fault is not None and fault.target == "peer":
            self._fault(number, "crash", "mid-repair")
            await self.crash(f"crashed in round {number} (mid-repair)")

    async def on_repair(self, msg: dict[str, Any]) -> None:
        number = int(msg["round"])
        if self._fault(number, "silent") is not None:
            return  # stays connected, uploads nothing
        if self._fault(number, "crash", "mid-repair") is not None:
            await self._partial_batch(msg["newcomer"], "repair", number, pool=False)
            await self.crash(f"crashed in round {number} (mid-repair)")
            return
        await super().on_repair(msg)  # type: ignore[misc]

    async def on_collect(self, msg: dict[str, Any]) -> None:
        number = int(msg["round"])
        if self._fault(number, "crash", "mid-collect") is not None:
            await self._partial_batch(COLLECTOR_ID, "collect", number, pool=True)
            await self.crash(f"crashed in round {number} (mid-collect)")
            return
        await super().on_collect(msg)  # type: ignore[misc]

    def upload(self, msg: dict[str, Any]) -> list[CodedPacket]:
        packets: list[CodedPacket] = super().upload(msg)  # type: ignore[misc]
        if packets and self._fault(int(msg["round"]), "pollute", "mid-repair") is not None:
            return pollute(packets)
        return packets

    def delivery(self, round: int) -> list[CodedPacket]:
        packets: list[CodedPacket] = super().delivery(round)  # type: ignore[misc]
        if packets and not self.zombie and self._fault(round, "pollute", "mid-collect"):
            return pollute(packets)
        return packets

    # -- carrying out ----------------------------------------------------------------------

    async def _partial_batch(self, to: str, purpose: str, number: int, *, pool: bool) -> None:
        """Hello and the first half of this node's stored packets, never the Done."""
        with contextlib.suppress(Exception):
            channel = self._pool.get(to) if pool else None
            if channel is None or getattr(channel, "closed", False):
                channel = await self.connector.open(to, label=f"{purpose}-{number}")
            hello = wire.Hello(sender=self.id, role=self.role, purpose=purpose, round=number)
            half = self.stored[: len(self.stored) // 2]
            await send_messages(channel, [hello, *self.packet_messages(half)])  # type: ignore[attr-defined]

    async def crash(self, reason: str) -> None:
        """Close every data channel and the websocket at once, as a killed process would
        (no goodbye; the command loop then ends on the closed signaling)."""
        self.stop_reason = reason
        self.log.warning("%s %s: %s", self.role, self.id, reason)
        with contextlib.suppress(Exception):
            await self.connector.close()
        with contextlib.suppress(Exception):
            await self.signaling.close()


class FaultyPeer(_Faulty, StoragePeer):
    """A storage peer that carries out the faults the schedule names for it."""


class FaultyNewcomer(_Faulty, Newcomer):
    """A newcomer that may crash on ``expect``, and later (as a peer) carry out any fault."""

    async def on_expect(self, msg: dict[str, Any]) -> None:
        number = int(msg["round"])
        if self._fault(number, "newcomer-crash") is not None:
            await self.crash(f"newcomer crashed in round {number} (mid-repair)")
            return
        await super().on_expect(msg)


#: The role classes a cluster runs when its fault plan has node faults.
FAULTY_ROLES: dict[str, type[Any]] = {"peer": FaultyPeer, "newcomer": FaultyNewcomer}
