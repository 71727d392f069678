"""The engine (source): encodes the file, gives each peer its Q packets, the source to the
collector."""

from __future__ import annotations

import asyncio
from typing import Any

from .. import wire
from ..protocol.messages import COLLECTOR_ID
from ..protocol.rules import engine_packets, source_bytes
from .node import Node

__all__ = ["SOURCE_CHUNK", "Engine"]

#: Source bytes per SourceChunk message sent to the collector.
SOURCE_CHUNK = 32 * 1024


class Engine(Node):
    """Reads (or is given) the source data and distributes it when the server says so."""

    role = "engine"

    def __init__(self, *, data: bytes | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._data = data

    def source(self) -> bytes:
        """The source bytes: the given data, or synthetic bytes from the seed."""
        p = self.p
        capacity = p.symbols * p.symbol_size
        if self._data is None:
            return source_bytes(p.seed, self.trial, capacity)
        if len(self._data) > capacity:
            raise ValueError(
                f"source is {len(self._data)} bytes; symbols * symbol_size is only {capacity}"
            )
        return self._data

    async def on_distribute(self, msg: dict[str, Any]) -> None:
        p = self.p
        data = self.source()
        blocks = engine_packets(p, self.trial, data)
        peers = sorted(msg["peers"], key=int)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._send_source(data))
            for peer, block in zip(peers, blocks, strict=True):
                group.create_task(
                    self.send_batch(
                        peer,
                        purpose="store",
                        round=0,
                        messages=self.packet_messages(block),
                        count=len(block),
                    )
                )

    async def _send_source(self, data: bytes) -> None:
        chunks = wire.source_chunks(data, generation=self.trial, max_chunk=SOURCE_CHUNK)
        await self.send_batch(
            COLLECTOR_ID, purpose="source", round=0, messages=chunks, count=len(chunks)
        )
