"""Typed messages over a :class:`~rlnc_testbed.transport.base.Channel`.

Serializes with :mod:`rlnc_testbed.wire`, fragments messages above the data channel's
message-size limit into :class:`~rlnc_testbed.wire.Frame` pieces and reassembles them, and
bounds every receive with the scalable timeout unit. Malformed messages raise
:class:`~rlnc_testbed.wire.WireError`; the roles count and drop them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from .. import wire
from ..timeouts import unit
from ..transport.base import Channel

__all__ = ["MAX_FRAME", "MessageReader", "send_messages"]

#: aiortc advertises a 65536-byte maximum message size and does not enforce it on send.
MAX_FRAME = 64 * 1024


async def send_messages(channel: Channel, messages: Iterable[wire.Message], *,
                        max_frame: int = MAX_FRAME) -> int:
    """Send ``messages`` in order, fragmenting large ones; return how many were sent."""
    count = 0
    stream = 0
    for message in messages:
        data = wire.serialize(message)
        if len(data) <= max_frame:
            await channel.send(data)
        else:
            stream += 1
            for piece in wire.fragment(data, max_frame=max_frame, stream=stream):
                await channel.send(piece)
        count += 1
    return count


class MessageReader:
    """Reads whole typed messages from a channel, reassembling fragments."""

    def __init__(self, channel: Channel, *, limits: wire.Limits = wire.DEFAULT_LIMITS,
                 timeout_units: float = 10.0) -> None:
        self.channel = channel
        self._limits = limits
        self._reassembler = wire.Reassembler(limits=limits)
        self._timeout_units = timeout_units

    async def next(self) -> wire.Message:
        """Return the next message; ``TimeoutError`` if none arrives in time."""
        async with asyncio.timeout(self._timeout_units * unit()):
            while True:
                data = await self.channel.recv()
                message = wire.parse(data, limits=self._limits)
                if not isinstance(message, wire.Frame):
                    return message
                whole = self._reassembler.feed(data)
                if whole is not None:
                    return wire.parse(whole, limits=self._limits)
