"""Storage peers and newcomers: store Q packets, upload as parents, repair as newcomers.

A newcomer keeps, for its round, what each parent sent it (at most P x beta packets) and
delivers it to the collector as a ``provenance`` batch just before its ``collect`` batch, so
that the collector can tell a polluting parent from a polluting newcomer (docs/protocol.md §5).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import numpy as np

from .. import wire
from ..coding import CodedPacket, rank
from ..protocol.draws import Role, stream_for
from ..protocol.messages import COLLECTOR_ID, ENGINE_ID
from ..protocol.rules import newcomer_keep, parent_upload
from ..timeouts import unit
from ..transport.base import TransportError
from .node import Node, _counters, _link
from .streams import MessageReader

__all__ = ["Newcomer", "StoragePeer"]


class StoragePeer(Node):
    """Stores the packets the engine (or, as a newcomer, its parents) gave it."""

    role = "peer"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stored: list[CodedPacket] = []

    async def on_channel(self, hello: wire.Hello, reader: MessageReader) -> int:
        if hello.purpose != "store" or hello.sender != ENGINE_ID:
            return await super().on_channel(hello, reader)
        messages = await self.read_packets(reader, limit=self.p.per_peer)
        self.stored = [m.packet for m in messages]
        self._spawn(self._guarded(self.warm_link(COLLECTOR_ID), "warm collector link"))
        await self.report(
            "stored", round=0, count=len(self.stored), rank=_rank(self.stored, self.p.field)
        )
        return len(messages)

    def upload(self, msg: dict[str, Any]) -> list[CodedPacket]:
        """What this peer sends the newcomer ``msg`` names, by the rules (§6.3)."""
        p = self.p
        stream = stream_for(p.seed, self.trial, msg["round"], Role.PARENT, int(self.id))
        return parent_upload(p.scheme, self.stored, msg["beta"], field=p.field, stream=stream)

    def delivery(self, round: int) -> list[CodedPacket]:
        """What this peer delivers to the collector in ``round``: all it stores."""
        return self.stored

    async def on_repair(self, msg: dict[str, Any]) -> None:
        upload = self.upload(msg)
        await self.send_batch(
            msg["newcomer"],
            purpose="repair",
            round=msg["round"],
            messages=self.packet_messages(upload),
            count=len(upload),
        )

    async def on_collect(self, msg: dict[str, Any]) -> None:
        packets = self.delivery(int(msg["round"]))
        await self.send_batch(
            COLLECTOR_ID,
            purpose="collect",
            round=msg["round"],
            messages=self.packet_messages(packets),
            count=len(packets),
        )


class Newcomer(StoragePeer):
    """Joins after a failure, receives from its P parents and keeps (or recodes to) Q."""

    role = "newcomer"
    #: Whether it delivers its ``provenance`` batch (always, unless a subclass opts out, e.g.
    #: to measure what provenance costs or how the collector judges without it).
    send_provenance: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: sender -> (round it named, its packets): one upload per sender, at most beta each.
        self._uploads: dict[str, tuple[int, list[CodedPacket]]] = {}
        self._expected: tuple[int, frozenset[str]] | None = None
        self._upload_links: dict[str, dict[str, Any]] = {}
        self._arrived = asyncio.Condition()
        self.newcomer_rank = 0
        #: (its round, [(parent, the upload it received)] in ascending parent id order):
        #: delivered to the collector as the ``provenance`` batch of that round, then dropped.
        self.provenance: tuple[int, list[tuple[str, list[CodedPacket]]]] | None = None

    async def on_channel(self, hello: wire.Hello, reader: MessageReader) -> int:
        if hello.purpose != "repair":
            return await super().on_channel(hello, reader)
        before = _counters(reader.channel)
        messages = await self.read_packets(reader, limit=self.p.upload)
        async with self._arrived:
            refusal = self._repair_refusal(hello)
            if refusal:
                self.rejected += 1
                self.log.warning(
                    "newcomer %s: refused repair from %s: %s", self.id, hello.sender, refusal
                )
                return 0
            self._uploads[hello.sender] = (hello.round, [m.packet for m in messages])
            self._upload_links[hello.sender] = _link(reader.channel, before)
            self._arrived.notify_all()
        return len(messages)

    def _repair_refusal(self, hello: wire.Hello) -> str:
        """Why a repair batch is not taken ("" if it is): one per sender; once ``expect``
        named the round and parents, only those parents for that round."""
        if hello.sender in self._uploads:
            return "a second repair batch"
        if self._expected is not None:
            number, parents = self._expected
            if hello.round != number or hello.sender not in parents:
                return f"not a parent of round {number}"
        return ""

    async def on_expect(self, msg: dict[str, Any]) -> None:
        p = self.p
        parents: list[str] = list(msg["parents"])
        number = int(msg["round"])
        self._spawn(self._guarded(self.warm_link(COLLECTOR_ID), "warm collector link"))
        async with self._arrived:
            self._expected = (number, frozenset(parents))
            for sender in [
                s for s, (r, _) in self._uploads.items() if s not in parents or r != number
            ]:
                del self._uploads[sender]
                self.rejected += 1
        async with asyncio.timeout(10 * unit()), self._arrived:
            await self._arrived.wait_for(lambda: all(x in self._uploads for x in parents))
        # Parents in ascending id order, whatever order they arrived in.
        received = [self._uploads[x][1] for x in sorted(parents, key=int)]
        self.provenance = (number, [(x, self._uploads[x][1]) for x in sorted(parents, key=int)])
        flat = [pk for block in received for pk in block]
        self.newcomer_rank = _rank(flat, p.field)
        stream = stream_for(p.seed, self.trial, msg["round"], Role.NEWCOMER)
        self.stored = newcomer_keep(
            p.scheme, received, msg["q"], field=p.field, keep=p.keep, stream=stream
        )
        await self.report(
            "stored",
            round=msg["round"],
            count=len(self.stored),
            rank=self.newcomer_rank,
            received=len(flat),
            links=[self._upload_links[x] for x in sorted(parents, key=int)],
        )

    async def on_collect(self, msg: dict[str, Any]) -> None:
        """In its own round, first the ``provenance`` batch (each received packet tagged with
        its parent's id in ``generation``), then the ``collect`` batch, on the same pooled
        link: the collector holds the provenance before it can judge the round. A provenance
        batch that fails to go is logged; the collect batch still goes."""
        number = int(msg["round"])
        if self.send_provenance and self.provenance is not None and self.provenance[0] == number:
            _, received = self.provenance
            self.provenance = None
            messages = [
                wire.PacketMessage(generation=int(parent), field=self.p.field, packet=pk)
                for parent, block in received
                for pk in block
            ]
            try:
                await self.send_batch(
                    COLLECTOR_ID,
                    purpose="provenance",
                    round=number,
                    messages=messages,
                    count=len(messages),
                )
            except (TimeoutError, TransportError, wire.WireError) as exc:
                self.log.warning("newcomer %s: provenance not delivered: %r", self.id, exc)
        await super().on_collect(msg)


def _rank(packets: list[CodedPacket], field: int) -> int:
    if not packets:
        return 0
    return int(rank(np.stack([pk.coefficients for pk in packets]), field))
