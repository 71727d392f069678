"""In-memory transport: channels between connectors of one :class:`MemoryNetwork` hub.

A test double shipped as real code (like aiortc's ``dummy_ice_transport_pair``): the same
:class:`~rlnc_testbed.transport.base.Channel` contract as WebRTC, with fault controls - message
``loss`` (off by default: data channels are reliable), a constant one-way ``delay`` and
:meth:`MemoryNetwork.drop` (a node vanishes; its channels go silent, like a vanished WebRTC
peer, so the other side only notices through its own timeout). Loss draws come from the
``numpy.random.Generator`` passed in, never from wall-clock time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

import numpy as np

from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.base import ChannelClosed, LinkStats, TransportError

__all__ = ["MemoryChannel", "MemoryConnector", "MemoryNetwork", "memory_pair"]

# Sentinel put into an inbox once the far end closed.
_CLOSED = object()


def _check_probability(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _check_delay(value: float) -> float:
    if not isinstance(value, (int, float)) or not value >= 0.0:
        raise ValueError(f"delay must be a number of seconds >= 0, got {value!r}")
    return float(value)


class MemoryChannel:
    """One end of an in-memory channel; ordered, counted, optionally lossy/delayed."""

    def __init__(self, network: MemoryNetwork, stats: LinkStats) -> None:
        self.stats = stats
        self._network = network
        self._inbox: asyncio.Queue[tuple[float, bytes] | object] = asyncio.Queue()
        self._peer: MemoryChannel | None = None
        self._closed = False  # closed locally
        self._peer_closed = False  # the far end closed

    @property
    def closed(self) -> bool:
        """True once either end closed the channel."""
        return self._closed or self._peer_closed

    def _silent(self) -> bool:
        """A dropped node's channels neither deliver nor report anything."""
        net = self._network
        return net.is_dropped(self.stats.local) or net.is_dropped(self.stats.remote)

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Queue one message for the far end (never blocks: the inbox is unbounded)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send() takes bytes, got {type(data).__name__}")
        if self.closed:
            raise ChannelClosed(f"channel {self.stats.label!r} to {self.stats.remote} is closed")
        payload = bytes(data)
        self.stats.messages_sent += 1
        self.stats.bytes_sent += len(payload)
        peer = self._peer
        if peer is None or self._silent() or self._network.lose_one():
            return
        ready_at = asyncio.get_running_loop().time() + self._network.delay
        peer._inbox.put_nowait((ready_at, payload))

    async def recv(self) -> bytes:
        """Next message in order; ChannelClosed once closed. Bound it with your own timeout."""
        if self._closed:
            raise ChannelClosed(f"channel {self.stats.label!r} to {self.stats.remote} is closed")
        item = await self._inbox.get()
        if item is _CLOSED:
            self._inbox.put_nowait(_CLOSED)  # every later recv raises too
            raise ChannelClosed(f"channel {self.stats.label!r} closed by {self.stats.remote}")
        assert isinstance(item, tuple)
        ready_at, payload = item
        wait = ready_at - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        self.stats.messages_received += 1
        self.stats.bytes_received += len(payload)
        return payload

    async def close(self) -> None:
        """Close both directions; the far end reads what was sent, then ChannelClosed."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put_nowait(_CLOSED)  # wake a local recv
        peer = self._peer
        if peer is not None and not self._silent():
            peer._peer_closed = True
            peer._inbox.put_nowait(_CLOSED)


class MemoryConnector:
    """Opens and accepts :class:`MemoryChannel` for one node of a :class:`MemoryNetwork`."""

    def __init__(self, network: MemoryNetwork, node_id: str) -> None:
        self.node_id = node_id
        self._network = network
        self._accepted: asyncio.Queue[MemoryChannel | object] = asyncio.Queue()
        self._channels: list[MemoryChannel] = []
        self._closed = False

    async def open(self, remote: str, *, label: str) -> MemoryChannel:
        """Open a channel to ``remote``; TransportError at once if it is unknown or dropped."""
        if not isinstance(label, str):
            raise TypeError(f"label must be a str, got {type(label).__name__}")
        if self._closed:
            raise TransportError(f"connector {self.node_id!r} is closed")
        if self._network.is_dropped(self.node_id):
            raise TransportError(f"node {self.node_id!r} was dropped from the network")
        target = self._network.find(remote)
        if target is None:
            raise TransportError(f"no node {remote!r} on this memory network")
        if target._closed or self._network.is_dropped(remote):
            raise TransportError(f"node {remote!r} is unreachable")
        if self._network.delay:
            async with asyncio.timeout(2 * self._network.delay + 10 * unit()):
                await asyncio.sleep(2 * self._network.delay)  # offer + answer
        mine = MemoryChannel(self._network, LinkStats(self.node_id, remote, label))
        theirs = MemoryChannel(self._network, LinkStats(remote, self.node_id, label))
        mine._peer, theirs._peer = theirs, mine
        self._channels.append(mine)
        target._channels.append(theirs)
        target._accepted.put_nowait(theirs)
        return mine

    async def accept(self) -> MemoryChannel:
        """Wait for the next channel opened to us; bound it with your own timeout."""
        if self._closed:
            raise TransportError(f"connector {self.node_id!r} is closed")
        item = await self._accepted.get()
        if not isinstance(item, MemoryChannel):
            self._accepted.put_nowait(item)
            raise TransportError(f"connector {self.node_id!r} is closed")
        return item

    async def close(self) -> None:
        """Close every channel of this node; pending and later accept() raise TransportError."""
        if self._closed:
            return
        self._closed = True
        for channel in self._channels:
            await channel.close()
        self._channels.clear()
        self._accepted.put_nowait(_CLOSED)


class MemoryNetwork:
    """A hub of in-memory connectors with loss, delay and drop controls.

    ``loss`` (probability a message silently vanishes) and ``delay`` (seconds, one way) can be
    changed at any time; ``rng`` drives the loss draws (default: ``default_rng(0)``).
    """

    def __init__(
        self, *, loss: float = 0.0, delay: float = 0.0, rng: np.random.Generator | None = None
    ) -> None:
        self.loss = loss
        self.delay = delay
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self._rng = rng if rng is not None else np.random.default_rng(0)
        self._nodes: dict[str, MemoryConnector] = {}
        self._dropped: set[str] = set()

    @property
    def loss(self) -> float:
        return self._loss

    @loss.setter
    def loss(self, value: float) -> None:
        self._loss = _check_probability("loss", value)

    @property
    def delay(self) -> float:
        return self._delay

    @delay.setter
    def delay(self, value: float) -> None:
        self._delay = _check_delay(value)

    def connector(self, node_id: str) -> MemoryConnector:
        """Create the connector of a new node ``node_id`` (ids are unique per network)."""
        if not isinstance(node_id, str) or not node_id:
            raise ValueError(f"node_id must be a non-empty str, got {node_id!r}")
        if node_id in self._nodes:
            raise ValueError(f"node {node_id!r} already has a connector on this network")
        connector = MemoryConnector(self, node_id)
        self._nodes[node_id] = connector
        return connector

    def find(self, node_id: str) -> MemoryConnector | None:
        """The connector of ``node_id``, or None."""
        return self._nodes.get(node_id)

    def drop(self, node_id: str) -> None:
        """Make ``node_id`` vanish: its channels go silent in both directions, no close is seen."""
        if node_id not in self._nodes:
            raise ValueError(f"cannot drop unknown node {node_id!r}")
        self._dropped.add(node_id)

    def is_dropped(self, node_id: str) -> bool:
        return node_id in self._dropped

    def lose_one(self) -> bool:
        """Draw whether the next message is lost."""
        return self._loss > 0.0 and bool(self._rng.random() < self._loss)

    async def close(self) -> None:
        """Close every connector (and so every channel)."""
        for connector in list(self._nodes.values()):
            await connector.close()

    async def __aenter__(self) -> MemoryNetwork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


@asynccontextmanager
async def memory_pair(
    *,
    label: str = "test",
    loss: float = 0.0,
    delay: float = 0.0,
    rng: np.random.Generator | None = None,
) -> AsyncIterator[tuple[MemoryChannel, MemoryChannel]]:
    """Two connected channel ends ``(a -> b, b -> a)`` on a fresh network; always torn down."""
    async with MemoryNetwork(loss=loss, delay=delay, rng=rng) as net:
        a, b = net.connector("a"), net.connector("b")
        async with asyncio.timeout(10 * unit() + 2 * delay):
            ab = await a.open("b", label=label)
            ba = await b.accept()
        yield ab, ba
