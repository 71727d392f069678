"""The transport contract the roles are written against, shared by memory and WebRTC.

A *node* (engine, storage peer, newcomer, collector) owns one :class:`Connector`. It opens a
:class:`Channel` to another node by id, or accepts the channels others open to it. A channel
carries whole binary messages (already serialized by :mod:`rlnc_testbed.wire`) in order and
reliably, and counts what crossed it in :class:`LinkStats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Channel", "ChannelClosed", "Connector", "LinkStats", "TransportError"]


class TransportError(RuntimeError):
    """A channel could not be opened or failed."""


class ChannelClosed(TransportError):
    """The channel was closed (by either side) while sending or receiving."""


@dataclass
class LinkStats:
    """What crossed one channel, from the point of view of its local end."""

    local: str
    remote: str
    label: str
    messages_sent: int = 0
    bytes_sent: int = 0
    messages_received: int = 0
    bytes_received: int = 0
    #: Transport details, e.g. the selected ICE candidate pair over WebRTC.
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "local": self.local,
            "remote": self.remote,
            "label": self.label,
            "messages_sent": self.messages_sent,
            "bytes_sent": self.bytes_sent,
            "messages_received": self.messages_received,
            "bytes_received": self.bytes_received,
            "info": dict(self.info),
        }


@runtime_checkable
class Channel(Protocol):
    """A reliable, ordered message channel between two nodes."""

    stats: LinkStats

    async def send(self, data: bytes) -> None:
        """Send one message; waits (bounded) while the send buffer is full."""

    async def recv(self) -> bytes:
        """Receive the next message; raises :class:`ChannelClosed` once the channel closed."""

    async def close(self) -> None:
        """Close both directions; idempotent and bounded in time."""


@runtime_checkable
class Connector(Protocol):
    """Opens and accepts channels for one node id."""

    node_id: str

    async def open(self, remote: str, *, label: str) -> Channel:
        """Open a channel to node ``remote``; bounded in time, raises TransportError."""

    async def accept(self) -> Channel:
        """Wait for the next channel another node opened to us (``stats.remote`` says who)."""

    async def close(self) -> None:
        """Close every channel of this node and release its resources."""
