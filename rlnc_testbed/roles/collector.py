"""The collector: receives the source once, then every peer's packets each round, decodes,
verifies byte for byte and by SHA-256, and tells the server 'nextRound' or 'end'."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from .. import wire
from ..coding import DecodeError, Decoder
from ..protocol.messages import ENGINE_ID
from ..protocol.records import stored_digest, verdict_of
from .node import Node, _counters, _link
from .streams import MessageReader

__all__ = ["Collector"]


class Collector(Node):
    """Gathers packets from every alive peer per round and judges retrieval."""

    role = "collector"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source: bytes | None = None
        self._rounds: dict[int, dict[str, list[Any]]] = {}
        self._judged: set[int] = set()
        self._links: dict[int, list[dict[str, Any]]] = {}
        self._lock = asyncio.Lock()

    async def on_channel(self, hello: wire.Hello, reader: MessageReader) -> int:
        if hello.purpose == "source" and hello.sender == ENGINE_ID:
            return await self._receive_source(reader)
        if hello.purpose != "collect" or not hello.sender.isdigit():
            return await super().on_channel(hello, reader)
        before = _counters(reader.channel)
        messages = await self.read_packets(reader)
        async with self._lock:
            senders = self._rounds.setdefault(hello.round, {})
            senders[hello.sender] = [m.packet for m in messages]
            self._links.setdefault(hello.round, []).append(_link(reader.channel, before))
            if len(senders) == self.p.peers and hello.round not in self._judged:
                self._judged.add(hello.round)
                await self._judge(hello.round, senders)
        return len(messages)

    async def _receive_source(self, reader: MessageReader) -> int:
        parts: dict[int, bytes] = {}
        total = digest = None
        while True:
            msg = await reader.next()
            if isinstance(msg, wire.Done):
                break
            if not isinstance(msg, wire.SourceChunk):
                self.rejected += 1
                continue
            total, digest = msg.total, msg.sha256
            parts[msg.offset] = msg.data
        data = b"".join(parts[k] for k in sorted(parts))
        if total is None or len(data) != total or hashlib.sha256(data).digest() != digest:
            raise wire.WireError("sha256", 0, "source does not match its length or SHA-256")
        self.source = data
        await self.report("stored", round=0, count=len(data), rank=0)
        return len(parts)

    async def _judge(self, round: int, senders: dict[str, list[Any]]) -> None:
        p = self.p
        assert self.source is not None, "collector has no source to verify against"
        decoder = Decoder(
            symbols=p.symbols,
            symbol_size=p.symbol_size,
            field=p.field,
            data_length=len(self.source),
        )
        packets = 0
        stored = {}
        for sender in sorted(senders, key=int):
            stored[sender] = stored_digest(senders[sender])
            for packet in senders[sender]:
                decoder.consume(packet)
                packets += 1
        decoded = decoder.is_complete
        verified = False
        error = ""
        if decoded:
            try:
                data = decoder.recover()
            except DecodeError as exc:  # pragma: no cover - is_complete guards this
                error = str(exc)
            else:
                verified = (
                    data == self.source
                    and hashlib.sha256(data).digest() == hashlib.sha256(self.source).digest()
                )
        verdict = verdict_of(decoded, verified)
        report = {
            "global_rank": decoder.rank,
            "decoded": decoded,
            "verified": verified,
            "verdict": verdict,
            "packets": packets,
            "rejected": self.rejected,
            "error": error,
            "links": self._links.pop(round, []),
            "stored": stored,
        }
        await self.report("collected", round=round, report=report)
        if verified:
            await self.report("nextRound", round=round)
        else:
            await self.report("end", round=round, reason=verdict)
        self._rounds.pop(round, None)
