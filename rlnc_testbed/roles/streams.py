"""Typed messages over a :class:`~rlnc_testbed.transport.base.Channel`.

Serializes with :mod:`rlnc_testbed.wire` and bounds every receive with the scalable timeout
unit. The transports carry messages of any size (the WebRTC channel frames large ones under
the data channel's 64 KiB limit itself). Malformed messages raise
:class:`~rlnc_testbed.wire.WireError`; the roles count and drop them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from .. import wire
from ..timeouts import unit
from ..transport.base import Channel

__all__ = ["MessageReader", "send_messages"]


async def send_messages(channel: Channel, messages: Iterable[wire.Message]) -> int:
    """Send ``messages`` in order; return how many were sent."""
    count = 0
    for message in messages:
        await channel.send(wire.serialize(message))
        count += 1
    return count


class MessageReader:
    """Reads whole typed messages from a channel, each wait bounded."""

    def __init__(
        self,
        channel: Channel,
        *,
        limits: wire.Limits = wire.DEFAULT_LIMITS,
        timeout_units: float = 10.0,
    ) -> None:
        self.channel = channel
        self._limits = limits
        self._timeout_units = timeout_units

    async def next(self, *, timeout_units: float | None = None) -> wire.Message:
        """Return the next message; ``TimeoutError`` if none arrives in time."""
        units = self._timeout_units if timeout_units is None else timeout_units
        async with asyncio.timeout(units * unit()):
            data = await self.channel.recv()
        return wire.parse(data, limits=self._limits)
