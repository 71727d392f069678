"""Storage peers and newcomers: store Q packets, upload as parents, repair as newcomers."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from .. import wire
from ..coding import CodedPacket, rank
from ..protocol.draws import Role, stream_for
from ..protocol.messages import COLLECTOR_ID, ENGINE_ID
from ..protocol.rules import newcomer_keep, parent_upload
from ..timeouts import unit
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

    async def on_repair(self, msg: dict[str, Any]) -> None:
        p = self.p
        stream = stream_for(p.seed, self.trial, msg["round"], Role.PARENT, int(self.id))
        upload = parent_upload(p.scheme, self.stored, msg["beta"], field=p.field, stream=stream)
        await self.send_batch(
            msg["newcomer"],
            purpose="repair",
            round=msg["round"],
            messages=self.packet_messages(upload),
            count=len(upload),
        )

    async def on_collect(self, msg: dict[str, Any]) -> None:
        await self.send_batch(
            COLLECTOR_ID,
            purpose="collect",
            round=msg["round"],
            messages=self.packet_messages(self.stored),
            count=len(self.stored),
        )


class Newcomer(StoragePeer):
    """Joins after a failure, receives from its P parents and keeps (or recodes to) Q."""

    role = "newcomer"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: sender -> (round it named, its packets): one upload per sender, at most beta each.
        self._uploads: dict[str, tuple[int, list[CodedPacket]]] = {}
        self._expected: tuple[int, frozenset[str]] | None = None
        self._upload_links: dict[str, dict[str, Any]] = {}
        self._arrived = asyncio.Condition()
        self.newcomer_rank = 0

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


def _rank(packets: list[CodedPacket], field: int) -> int:
    if not packets:
        return 0
    return int(rank(np.stack([pk.coefficients for pk in packets]), field))
