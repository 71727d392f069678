"""In-memory transport: channels between connectors of one :class:`MemoryNetwork` hub.

A test double shipped as real code (like aiortc's ``dummy_ice_transport_pair``): the same
:class:`~rlnc_testbed.transport.base.Channel` contract as WebRTC, with fault controls:

- link shaping with the :class:`~rlnc_testbed.transport.shaping.LinkShape` semantics WebRTC
  links use (loss, delay, jitter, reordering, rate), network-wide (``MemoryNetwork(shape=...)``,
  or the ``loss=`` / ``delay=`` shortcuts) or per directed link
  (:meth:`MemoryNetwork.shape_link`), every random decision drawn from the ``draws`` given
  (one stream per directed link), never from wall-clock time. Here shaping acts on whole
  *messages*: a lost message stays lost and a reordered one arrives out of order, so ``loss``
  and ``reorder`` break the channel's reliable, ordered contract on purpose (over WebRTC they
  hit datagrams under SCTP, which retransmits and reorders them back). Delay, jitter and rate
  keep the contract. A channel's close travels behind its messages and is never lost.
- :meth:`MemoryNetwork.drop` (a node vanishes; its channels go silent, like a vanished WebRTC
  peer, so the other side only notices through its own timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from types import TracebackType

from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.base import ChannelClosed, LinkStats, TransportError
from rlnc_testbed.transport.shaping import Draws, LinkShape, ShapedLink, Shaper

__all__ = ["DrawsFor", "MemoryChannel", "MemoryConnector", "MemoryNetwork", "memory_pair"]

#: ``draws(sender, receiver)``: the seeded stream of one directed link.
DrawsFor = Callable[[str, str], Draws]

# Sentinel put into an inbox once the far end closed.
_CLOSED = object()


class MemoryChannel:
    """One end of an in-memory channel; ordered, counted, optionally shaped."""

    def __init__(self, network: MemoryNetwork, stats: LinkStats) -> None:
        self.stats = stats
        self._network = network
        self._inbox: asyncio.Queue[bytes | object] = asyncio.Queue()
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

    def _deliver(self, payload: bytes) -> None:
        """A message for this end leaves its link (unless a node was dropped meanwhile)."""
        if not self._silent():
            self._inbox.put_nowait(payload)

    def _deliver_close(self, _: bytes) -> None:
        if not self._silent():
            self._inbox.put_nowait(_CLOSED)

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
        if peer is None or self._silent():
            return
        link = self._network._link(self.stats.local, self.stats.remote)
        if link is None:
            peer._inbox.put_nowait(payload)
        else:
            link.send(peer._deliver, payload)

    async def recv(self) -> bytes:
        """Next message in order; ChannelClosed once closed. Bound it with your own timeout."""
        if self._closed:
            raise ChannelClosed(f"channel {self.stats.label!r} to {self.stats.remote} is closed")
        item = await self._inbox.get()
        if item is _CLOSED:
            self._inbox.put_nowait(_CLOSED)  # every later recv raises too
            raise ChannelClosed(f"channel {self.stats.label!r} closed by {self.stats.remote}")
        assert isinstance(item, bytes)
        self.stats.messages_received += 1
        self.stats.bytes_received += len(item)
        return item

    async def close(self) -> None:
        """Close both directions; the far end reads what was sent, then ChannelClosed."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put_nowait(_CLOSED)  # wake a local recv
        peer = self._peer
        if peer is not None and not self._silent():
            peer._peer_closed = True
            link = self._network._link(self.stats.local, self.stats.remote)
            if link is None:
                peer._inbox.put_nowait(_CLOSED)
            else:
                link.send_control(peer._deliver_close)


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
        setup = self._network.delay_of(self.node_id, remote) + self._network.delay_of(
            remote, self.node_id
        )
        if setup:
            async with asyncio.timeout(setup + 10 * unit()):
                await asyncio.sleep(setup)  # offer + answer
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
    """A hub of in-memory connectors with link shaping and drop controls.

    ``shape`` (or its shortcuts ``loss`` and ``delay``) shapes every directed link that has no
    shape of its own; all three can be changed at any time. ``draws(sender, receiver)`` gives
    each directed link its seeded stream; it is required once a shape makes random decisions.
    ``shaping[(sender, receiver)]`` gives chosen links their own :class:`Shaper`.
    """

    def __init__(
        self,
        *,
        loss: float = 0.0,
        delay: float = 0.0,
        shape: LinkShape | None = None,
        draws: DrawsFor | None = None,
        shaping: Mapping[tuple[str, str], Shaper] | None = None,
    ) -> None:
        if draws is not None and not callable(draws):
            raise TypeError(f"draws must be a callable (sender, receiver) -> Draws, got {draws!r}")
        self._draws = draws
        if shape is not None and (loss or delay):
            raise ValueError("give shape= or the loss=/delay= shortcuts, not both")
        self._shape = self._checked(shape if shape is not None else LinkShape(loss, delay))
        self._nodes: dict[str, MemoryConnector] = {}
        self._dropped: set[str] = set()
        self._links: dict[tuple[str, str], ShapedLink] = {}
        self._own: set[tuple[str, str]] = set()  # links with a shape of their own
        self._retired: list[ShapedLink] = []
        for (sender, receiver), shaper in (shaping or {}).items():
            self.shape_link(sender, receiver, shaper)

    def _checked(self, shape: LinkShape) -> LinkShape:
        if not isinstance(shape, LinkShape):
            raise TypeError(f"shape must be a LinkShape, got {type(shape).__name__}")
        if shape.random and self._draws is None:
            raise ValueError(
                f"shape {shape} makes random decisions: pass draws=(sender, receiver) -> stream"
            )
        return shape

    @property
    def shape(self) -> LinkShape:
        """The shape of every directed link without one of its own."""
        return self._shape

    @shape.setter
    def shape(self, shape: LinkShape) -> None:
        self._shape = self._checked(shape)
        for key, link in self._links.items():
            if key not in self._own:
                link.shaper.shape = shape

    @property
    def loss(self) -> float:
        return self._shape.loss

    @loss.setter
    def loss(self, value: float) -> None:
        self.shape = replace(self._shape, loss=value)

    @property
    def delay(self) -> float:
        return self._shape.delay

    @delay.setter
    def delay(self, value: float) -> None:
        self.shape = replace(self._shape, delay=value)

    def _new_shaper(self, sender: str, receiver: str, shape: LinkShape) -> Shaper:
        draws = None if self._draws is None else self._draws(sender, receiver)
        return Shaper(self._checked(shape), draws=draws)

    def shape_link(self, sender: str, receiver: str, shape: LinkShape | Shaper | None) -> None:
        """Shape the messages ``sender`` sends to ``receiver`` from now on.

        A :class:`LinkShape` gets a shaper drawing from ``draws(sender, receiver)``; a
        :class:`Shaper` is used as given (its own draws); None returns the link to the
        network's shape. Messages already waiting in a replaced shaper leave at their times.
        """
        for name, value in (("sender", sender), ("receiver", receiver)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty node id, got {value!r}")
        key = (sender, receiver)
        if shape is None:
            self._own.discard(key)
            if key in self._links:
                self._links[key].shaper.shape = self._shape
            return
        if isinstance(shape, LinkShape):
            shaper = self._new_shaper(sender, receiver, shape)
        elif isinstance(shape, Shaper):
            shaper = shape
        else:
            raise TypeError(f"shape must be a LinkShape, a Shaper or None, got {shape!r}")
        old = self._links.pop(key, None)
        if old is not None:
            self._retired = [link for link in self._retired if not link.idle]
            self._retired.append(old)
        self._links[key] = ShapedLink(shaper)
        self._own.add(key)

    def shaper(self, sender: str, receiver: str) -> Shaper | None:
        """The shaper of the link ``sender -> receiver`` (None while it carries unshaped)."""
        link = self._links.get((sender, receiver))
        return None if link is None else link.shaper

    def delay_of(self, sender: str, receiver: str) -> float:
        """The constant delay of the link ``sender -> receiver``."""
        link = self._links.get((sender, receiver))
        return (self._shape if link is None else link.shaper.shape).delay

    def _link(self, sender: str, receiver: str) -> ShapedLink | None:
        """The pump of a directed link; None while it needs none (no shaping at all)."""
        key = (sender, receiver)
        link = self._links.get(key)
        if link is None and not self._shape.identity:
            link = self._links[key] = ShapedLink(self._new_shaper(sender, receiver, self._shape))
        return link

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

    async def close(self) -> None:
        """Close every connector (and so every channel); messages still in flight vanish."""
        for connector in list(self._nodes.values()):
            await connector.close()
        for link in [*self._links.values(), *self._retired]:
            link.close()
        self._retired.clear()

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
    shape: LinkShape | None = None,
    draws: DrawsFor | None = None,
    shaping: Mapping[tuple[str, str], Shaper] | None = None,
) -> AsyncIterator[tuple[MemoryChannel, MemoryChannel]]:
    """Two connected channel ends ``(a -> b, b -> a)`` on a fresh network; always torn down."""
    async with MemoryNetwork(
        loss=loss, delay=delay, shape=shape, draws=draws, shaping=shaping
    ) as net:
        a, b = net.connector("a"), net.connector("b")
        setup = net.delay_of("a", "b") + net.delay_of("b", "a")
        async with asyncio.timeout(10 * unit() + setup):
            ab = await a.open("b", label=label)
            ba = await b.accept()
        yield ab, ba
