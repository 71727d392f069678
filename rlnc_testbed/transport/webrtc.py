"""WebRTC transport: one aiortc peer connection with one ordered data channel per Channel.

Signaling is the owner's business: a :class:`WebRTCConnector` hands its offers/answers to the
``send_signal(remote, payload)`` coroutine it was given, and is fed the other side's messages
through :meth:`WebRTCConnector.handle_signal`. Payloads are ``{"conn", "type", "sdp"}`` where
``conn`` keys one connection, so a node can have many at once. No trickle ICE: gathering is
complete before an SDP leaves. Host candidates follow ``interfaces`` (see
:mod:`rlnc_testbed.transport.ice`; 127.0.0.1 only by default).

Link faults: ``shaping`` maps a remote node id to a
:class:`~rlnc_testbed.transport.shaping.Shaper` that shapes every datagram this node sends on
its connections to that remote (:meth:`WebRTCConnector.shape` changes it at run time). Shaping
starts once a channel is open (ICE, DTLS and SCTP setup cross unshaped, so opening stays
bounded and quick); from then on loss, delay and reordering hit real DTLS/SCTP datagrams and
SCTP retransmits for real: the channel stays reliable and ordered, only slower. Before a
channel's socket closes, the datagrams its shaper still holds leave (bounded), as they would
from a wire.

Speed (:mod:`rlnc_testbed.transport.tuning`): a connector's connections share one DTLS
certificate (``share_certificate``), bundle their SCTP chunks into shared packets
(``bundle_sctp``), set up with one SCTP initiator, no SRTP keys and one fingerprint
(``lean_setup``), close without a stream reset when nothing is in flight (``quick_close``) and
let SACKs wait, bounded, to ride with data (``delayed_sack``); each on by default (or as the
enclosing :func:`~rlnc_testbed.transport.tuning.tuning` block says), none changes what crosses
a channel.

Messages of any size are framed transparently: each data-channel message is a 1-byte flag
(``0x01`` more fragments follow, ``0x00`` last fragment) plus at most ``max_message_size - 1``
bytes, so a message never exceeds the 64 KiB every WebRTC stack accepts. Sends are paced
with ``bufferedAmountLowThreshold`` / ``bufferedamountlow``; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.base import ChannelClosed, LinkStats, TransportError
from rlnc_testbed.transport.ice import (
    host_interfaces,
    parse_interfaces,
    selected_candidate_pair,
    shape_datagrams,
    unpaced_checks,
)
from rlnc_testbed.transport.shaping import ShapedLink, Shaper
from rlnc_testbed.transport.tuning import (
    SACK_DELAY,
    NodeCertificate,
    Tuning,
    abort_association,
    bundle_chunks,
    current_tuning,
    lean_setup,
    node_certificate,
    sctp_idle,
)

__all__ = [
    "ANSWER_UNITS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_HANDSHAKES",
    "MAX_REASSEMBLED",
    "OPEN_UNITS",
    "SendSignal",
    "WebRTCChannel",
    "WebRTCConnector",
    "webrtc_connectors",
    "webrtc_pair",
]

#: Largest data-channel message we send (RFC 8831 interop size), flag byte included.
DEFAULT_MAX_MESSAGE_SIZE = 65536
#: Sends wait while more than this many bytes are queued in the data channel ...
_HIGH_WATER = 1 << 20
#: ... until aiortc reports it drained to this many (``bufferedamountlow``).
_LOW_WATER = 256 << 10

#: Handshakes one connector runs at once, of each kind (offers it makes, offers it answers);
#: the rest wait
#: their turn, and their ``OPEN_UNITS`` bound starts when their turn comes. A node that opens
#: a thousand links (the engine distributing, the collector answering every peer's warm link)
#: thus runs them in waves instead of letting a thousand handshakes share one core and all
#: miss their deadline together.
MAX_HANDSHAKES = 32
#: Units each step of opening a connection may take once its turn came: making and sending
#: the offer; after the answer, ICE, DTLS, SCTP and the channel's opening; answering an offer.
OPEN_UNITS = 10.0
#: Units an offer may wait for its answer: the remote works through its offers in turn, at
#: most MAX_HANDSHAKES at a time, each until its channel opened (a collector answering a
#: thousand peers' warm links gets to the last ones seconds later).
ANSWER_UNITS = 60.0

#: Largest whole message reassembled from fragments; a remote that sends more is cut off
#: (bounded memory against a hostile or broken peer). Above wire.Limits.max_message (32 MiB).
MAX_REASSEMBLED = 64 << 20

_MORE, _LAST = b"\x01", b"\x00"
_CLOSED = object()

SendSignal = Callable[[str, dict[str, Any]], Awaitable[None]]
Logger = logging.Logger | logging.LoggerAdapter[Any]


class ChannelState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


async def _close_pc(pc: RTCPeerConnection, logger: Logger) -> None:
    """``pc.close()`` can hang: bound it."""
    try:
        async with asyncio.timeout(5 * unit()):
            await pc.close()
    except TimeoutError:
        logger.warning("RTCPeerConnection.close() timed out after %.1f s", 5 * unit())


class WebRTCChannel:
    """A :class:`~rlnc_testbed.transport.base.Channel` over one aiortc data channel."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        dc: RTCDataChannel,
        stats: LinkStats,
        *,
        logger: Logger,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        on_closed: Callable[[WebRTCChannel], None] | None = None,
        before_close: Callable[[], Awaitable[None]] | None = None,
        quick_close: Callable[[], bool] | None = None,
    ) -> None:
        self.stats = stats
        self._pc = pc
        self._dc = dc
        self._logger = logger
        self._quick_close = quick_close
        self._chunk = max_message_size - 1
        self._on_closed = on_closed
        self._before_close = before_close
        self._state = ChannelState.CONNECTING
        self._inbox: asyncio.Queue[bytes | object] = asyncio.Queue()
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._error: str | None = None
        self._dead = False  # the far end or the connection is gone
        self._opened = asyncio.Event()
        self._drained = asyncio.Event()
        self._dc_closed = asyncio.Event()
        self._close_done: asyncio.Event | None = None
        dc.bufferedAmountLowThreshold = _LOW_WATER
        dc.on("open", self._on_open)
        dc.on("message", self._on_message)
        dc.on("bufferedamountlow", self._drained.set)
        dc.on("close", self._on_dc_close)
        pc.on("connectionstatechange", self._on_connection_state)
        if dc.readyState == "open":
            self._on_open()

    @property
    def peer_connection(self) -> RTCPeerConnection:
        """The underlying aiortc peer connection (diagnostics and fault-injection tests)."""
        return self._pc

    @property
    def closed(self) -> bool:
        """True once either end closed the channel or the connection died."""
        return self._dead or self._state is ChannelState.CLOSED

    def _set_state(self, state: ChannelState) -> None:
        if state is not self._state:
            self._logger.debug(
                "channel %s %s->%s: %s -> %s",
                self.stats.label,
                self.stats.local,
                self.stats.remote,
                self._state.value,
                state.value,
            )
            self._state = state

    # aiortc event handlers (synchronous, called from aiortc's tasks)

    def _on_open(self) -> None:
        if self._state is ChannelState.CONNECTING:
            self._set_state(ChannelState.OPEN)
        self._opened.set()

    def _on_message(self, message: bytes | str) -> None:
        if isinstance(message, str) or not message or message[:1] not in (_MORE, _LAST):
            self._error = f"unframed message from {self.stats.remote} on {self.stats.label!r}"
            self._mark_dead()
            return
        self._parts.append(message[1:])
        self._parts_size += len(message) - 1
        if self._parts_size > MAX_REASSEMBLED:
            self._error = (
                f"message from {self.stats.remote} on {self.stats.label!r} exceeds "
                f"{MAX_REASSEMBLED} bytes"
            )
            self._parts, self._parts_size = [], 0
            self._mark_dead()
            return
        if message[:1] == _LAST:
            data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
            self._parts, self._parts_size = [], 0
            self._inbox.put_nowait(data)

    def _on_dc_close(self) -> None:
        self._dc_closed.set()
        self._mark_dead()

    def _on_connection_state(self) -> None:
        if self._pc.connectionState in ("failed", "closed"):
            self._mark_dead()

    def _mark_dead(self) -> None:
        """The far end is gone: readers see the queued messages, then ChannelClosed."""
        self._dead = True
        self._inbox.put_nowait(_CLOSED)
        self._opened.set()
        self._drained.set()

    async def wait_open(self) -> None:
        """Wait until the data channel is open (the caller bounds this)."""
        await self._opened.wait()
        if self._dc.readyState != "open":
            raise ChannelClosed(f"channel {self.stats.label!r} closed before it opened")

    def _check_sendable(self) -> None:
        if self._dead or self._state is ChannelState.CLOSED or self._dc.readyState != "open":
            raise ChannelClosed(f"channel {self.stats.label!r} to {self.stats.remote} is closed")

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send one message (fragmented if needed); waits, bounded, while the buffer is full."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send() takes bytes, got {type(data).__name__}")
        view = memoryview(data).cast("B")
        size = len(view)
        offset = 0
        while True:
            while self._dc.bufferedAmount > _HIGH_WATER:
                self._drained.clear()
                try:
                    async with asyncio.timeout(10 * unit()):
                        await self._drained.wait()
                except TimeoutError:
                    raise TransportError(
                        f"send to {self.stats.remote} on {self.stats.label!r} stalled: "
                        f"{self._dc.bufferedAmount} bytes unsent after {10 * unit():.1f} s"
                    ) from None
            self._check_sendable()
            end = offset + self._chunk
            self._dc.send((_MORE if end < size else _LAST) + view[offset:end])
            offset = end
            if offset >= size:
                break
        self.stats.messages_sent += 1
        self.stats.bytes_sent += size

    async def recv(self) -> bytes:
        """Next message in order; ChannelClosed once closed. Bound it with your own timeout."""
        if self._state is ChannelState.CLOSED:
            raise ChannelClosed(f"channel {self.stats.label!r} to {self.stats.remote} is closed")
        item = await self._inbox.get()
        if item is _CLOSED:
            self._inbox.put_nowait(_CLOSED)
            if self._error is not None:
                raise TransportError(self._error)
            raise ChannelClosed(f"channel {self.stats.label!r} closed by {self.stats.remote}")
        assert isinstance(item, bytes)
        self.stats.messages_received += 1
        self.stats.bytes_received += len(item)
        return item

    async def close(self) -> None:
        """Close the data channel (gracefully, bounded) and its peer connection (bounded).

        When ``quick_close()`` says so and nothing of ours is unsent or unacknowledged, the
        connection closes at once (SCTP ABORT, DTLS close_notify), without the stream reset:
        the far end holds every message already, and its channel closes on the ABORT (which,
        unlike a stream reset, is never retransmitted: the connector allows it only on links
        it does not shape)."""
        if self._close_done is not None:
            async with asyncio.timeout(10 * unit()):
                await self._close_done.wait()
            return
        self._close_done = asyncio.Event()
        self._set_state(ChannelState.CLOSED)
        self._inbox.put_nowait(_CLOSED)
        self._opened.set()
        self._drained.set()
        try:
            alive = self._pc.connectionState not in ("failed", "closed")
            quick = (
                self._quick_close is not None
                and self._quick_close()
                and alive
                and sctp_idle(self._pc)
            )
            if quick:
                # The ABORT leaves now, so that a shaped link's drain below delivers it.
                await abort_association(self._pc)
            elif self._dc.readyState in ("open", "closing") and alive:
                self._dc.close()
                try:
                    async with asyncio.timeout(unit()):
                        await self._dc_closed.wait()
                except TimeoutError:
                    self._logger.debug("data channel %s: no close from peer", self.stats.label)
            if self._before_close is not None:
                try:
                    async with asyncio.timeout(unit()):
                        await self._before_close()
                except TimeoutError:
                    self._logger.debug("channel %s: shaped datagrams not drained", self.stats.label)
            await _close_pc(self._pc, self._logger)
        finally:
            self._close_done.set()
            if self._on_closed is not None:
                self._on_closed(self)


class WebRTCConnector:
    """Opens and accepts :class:`WebRTCChannel` for one node; signaling goes via the owner."""

    def __init__(
        self,
        node_id: str,
        *,
        send_signal: SendSignal,
        interfaces: str = "loopback",
        logger: Logger | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        shaping: Mapping[str, Shaper] | None = None,
        tuning: Tuning | None = None,
        share_certificate: bool | None = None,
        bundle_sctp: bool | None = None,
        lean_setup: bool | None = None,
        quick_close: bool | None = None,
        delayed_sack: bool | None = None,
    ) -> None:
        if not isinstance(node_id, str) or not node_id:
            raise ValueError(f"node_id must be a non-empty str, got {node_id!r}")
        if not callable(send_signal):
            raise TypeError("send_signal must be an async callable (remote, payload)")
        parse_interfaces(interfaces)
        if not isinstance(max_message_size, int) or not 2 <= max_message_size <= 1 << 18:
            raise ValueError(f"max_message_size must be in [2, 262144], got {max_message_size!r}")
        self.node_id = node_id
        self.interfaces = interfaces
        self._send_signal = send_signal
        self._logger: Logger = logger or logging.getLogger(__name__)
        self._max_message_size = max_message_size
        # The speed-ups: ``tuning`` (default: the enclosing tuning block's), each switch
        # given here overriding its field.
        chosen = tuning or current_tuning()
        #: Connections made by this node share one DTLS certificate (made on first use).
        self.share_certificate = _pick(share_certificate, chosen.share_certificate)
        self._certificate: NodeCertificate | None = None
        #: SCTP DATA and SACK chunks of this node's connections share packets.
        self.bundle_sctp = _pick(bundle_sctp, chosen.bundle_sctp)
        #: One SCTP initiator, no SRTP keys, one SDP fingerprint.
        self.lean_setup = _pick(lean_setup, chosen.lean_setup)
        #: Channels with nothing in flight close without a stream reset (unshaped links).
        self.quick_close = _pick(quick_close, chosen.quick_close)
        #: SACKs wait (bounded) to ride with DATA (with ``bundle_sctp``).
        self.delayed_sack = _pick(delayed_sack, chosen.delayed_sack)
        self._ids = itertools.count()
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._pcs: set[RTCPeerConnection] = set()
        self._channels: set[WebRTCChannel] = set()
        self._accepted: asyncio.Queue[WebRTCChannel | object] = asyncio.Queue()
        self._closed = False
        # Apart, so that an open waiting for its answer never holds up an answer we owe.
        self._opening = asyncio.Semaphore(MAX_HANDSHAKES)
        self._answering_slots = asyncio.Semaphore(MAX_HANDSHAKES)
        #: Offers being answered in the background (the signaling reader is never held up).
        self._answering: set[asyncio.Task[None]] = set()
        #: remote id -> the pump shaping what we send to it; replaced pumps drain in _retired.
        self._links: dict[str, ShapedLink] = {}
        self._retired: list[ShapedLink] = []
        for remote, shaper in (shaping or {}).items():
            self.shape(remote, shaper)

    def shape(self, remote: str, shaper: Shaper | None) -> None:
        """Shape what we send to ``remote`` from now on (None: stop shaping it).

        Applies to open channels and to later ones. Datagrams already waiting in a replaced
        shaper still leave at their times.
        """
        if not isinstance(remote, str) or not remote:
            raise ValueError(f"remote must be a non-empty node id, got {remote!r}")
        if shaper is not None and not isinstance(shaper, Shaper):
            raise TypeError(f"shaper must be a Shaper or None, got {type(shaper).__name__}")
        old = self._links.pop(remote, None)
        if old is not None:
            self._retired = [link for link in self._retired if not link.idle]
            self._retired.append(old)
        if shaper is None or self._closed:
            return
        self._links[remote] = ShapedLink(shaper)
        for channel in self._channels:
            if channel.stats.remote == remote and channel._state is ChannelState.OPEN:
                self._shape_pc(channel.peer_connection, remote)

    def shaper(self, remote: str) -> Shaper | None:
        """The shaper of what we send to ``remote`` (its ``stats`` count drops and delays)."""
        link = self._links.get(remote)
        return None if link is None else link.shaper

    def _shape_pc(self, pc: RTCPeerConnection, remote: str) -> None:
        if remote in self._links:
            shape_datagrams(pc, lambda: self._links.get(remote))

    async def _drain(self, remote: str) -> None:
        """Before a socket closes, let the datagrams our shaper still holds for it leave."""
        link = self._links.get(remote)
        if link is not None:
            await link.drain()

    def _new_pc(self) -> RTCPeerConnection:
        certificate = None
        if self.share_certificate:
            if self._certificate is None or not self._certificate.fresh:
                self._certificate = NodeCertificate.make(
                    algorithms=("sha-256",) if self.lean_setup else None
                )
            certificate = self._certificate
        with node_certificate(certificate):
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pcs.add(pc)
        return pc

    def _tune(self, pc: RTCPeerConnection) -> None:
        """Once ``pc.sctp`` exists and before ICE starts: checks unpaced, chunks bundled,
        the association set up lean."""
        unpaced_checks(pc)
        if self.bundle_sctp:
            bundle_chunks(pc, delay_sack=SACK_DELAY if self.delayed_sack else None)
        if self.lean_setup:
            lean_setup(pc)

    def _wrap(self, pc: RTCPeerConnection, dc: RTCDataChannel, remote: str) -> WebRTCChannel:
        channel = WebRTCChannel(
            pc,
            dc,
            LinkStats(self.node_id, remote, dc.label),
            logger=self._logger,
            max_message_size=self._max_message_size,
            on_closed=self._forget,
            before_close=lambda: self._drain(remote),
            quick_close=lambda: self.quick_close and remote not in self._links,
        )
        self._channels.add(channel)
        return channel

    def _forget(self, channel: WebRTCChannel) -> None:
        self._channels.discard(channel)
        self._pcs.discard(channel.peer_connection)

    async def open(self, remote: str, *, label: str) -> WebRTCChannel:
        """Offer a connection to ``remote`` and wait (bounded) until its channel is open."""
        if not isinstance(remote, str) or not remote:
            raise ValueError(f"remote must be a non-empty node id, got {remote!r}")
        if not isinstance(label, str):
            raise TypeError(f"label must be a str, got {type(label).__name__}")
        if self._closed:
            raise TransportError(f"connector {self.node_id!r} is closed")
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with self._opening:
            return await self._open(remote, label, started)

    async def _open(self, remote: str, label: str, started: float) -> WebRTCChannel:
        if self._closed:
            raise TransportError(f"connector {self.node_id!r} is closed")
        loop = asyncio.get_running_loop()
        conn = f"{self.node_id}/{next(self._ids)}/{secrets.token_hex(4)}"
        pc = self._new_pc()
        channel = self._wrap(pc, pc.createDataChannel(label, ordered=True), remote)
        answer: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._answers[conn] = answer
        try:
            async with asyncio.timeout(OPEN_UNITS * unit()):
                offer = await pc.createOffer()
                with host_interfaces(self.interfaces):  # setLocalDescription gathers
                    await pc.setLocalDescription(offer)
                self._tune(pc)
                offer = pc.localDescription
                await self._send_signal(
                    remote, {"conn": conn, "type": offer.type, "sdp": offer.sdp}
                )
            # The remote answers its offers in turn (MAX_HANDSHAKES at once): a collector
            # warming a thousand links answers the last ones seconds after they came.
            async with asyncio.timeout(ANSWER_UNITS * unit()):
                reply = await answer
            async with asyncio.timeout(OPEN_UNITS * unit()):
                await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
                await channel.wait_open()
                self._shape_pc(pc, remote)
        except Exception as exc:
            await channel.close()
            raise TransportError(
                f"{self.node_id}: could not open channel {label!r} to {remote!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            self._answers.pop(conn, None)
        channel.stats.info.update(selected_candidate_pair(pc))
        channel.stats.info["connection"] = conn
        channel.stats.info["setup_seconds"] = loop.time() - started
        return channel

    async def handle_signal(self, sender: str, payload: dict[str, Any]) -> None:
        """Feed one signaling message from ``sender``.

        An answer completes its :meth:`open`. An offer is checked (an unreadable SDP, or one
        without a data channel, raises :class:`TransportError` here) and answered in the
        background, at most :data:`MAX_HANDSHAKES` at once: this returns without awaiting
        anything, so the caller - the signaling reader - goes on reading (a collector
        answering a thousand warm links still hears its ``judge`` at once); a failure to
        answer is logged, and the offerer's open times out."""
        if not isinstance(payload, dict):
            raise TransportError(f"signal from {sender!r} is not an object: {payload!r}")
        kind, conn, sdp = payload.get("type"), payload.get("conn"), payload.get("sdp")
        if kind not in ("offer", "answer") or not isinstance(conn, str) or not isinstance(sdp, str):
            raise TransportError(
                f"signal from {sender!r} must have 'type' offer|answer, str 'conn' and str "
                f"'sdp'; got keys {sorted(payload)} type={kind!r}"
            )
        if kind == "answer":
            future = self._answers.get(conn)
            if future is None or future.done():
                self._logger.debug(
                    "%s: late or unknown answer %s from %s", self.node_id, conn, sender
                )
            else:
                future.set_result(payload)
            return
        if self._closed:
            return
        try:
            description = SessionDescription.parse(sdp)
        except Exception as exc:
            raise TransportError(
                f"{self.node_id}: could not answer {conn} from {sender!r}: unreadable SDP: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not any(media.kind == "application" for media in description.media):
            raise TransportError(
                f"{self.node_id}: could not answer {conn} from {sender!r}: the offer has no "
                "data channel (no m=application section)"
            )
        task = asyncio.ensure_future(self._answer(conn, sender, sdp))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, conn: str, sender: str, sdp: str) -> None:
        """Apply one offer, gather, answer and send the answer, in its turn; the turn lasts
        until the channel arrived (or OPEN_UNITS), so that at most MAX_HANDSHAKES of this
        node's answered connections are connecting at once."""
        pc: RTCPeerConnection | None = None
        try:
            async with self._answering_slots:
                if self._closed:
                    raise TransportError(f"connector {self.node_id!r} is closed")
                pc = self._new_pc()
                arrived = asyncio.Event()
                answered = pc

                def on_datachannel(dc: RTCDataChannel) -> None:
                    arrived.set()
                    channel = self._wrap(answered, dc, sender)
                    channel.stats.info.update(selected_candidate_pair(answered))
                    channel.stats.info["connection"] = conn
                    self._shape_pc(answered, sender)
                    self._accepted.put_nowait(channel)

                pc.on("datachannel", on_datachannel)
                async with asyncio.timeout(OPEN_UNITS * unit()):
                    await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
                    if pc.sctp is None:
                        raise TransportError("the offer has no data channel")
                    self._tune(pc)
                    with host_interfaces(self.interfaces):
                        await pc.setLocalDescription(await pc.createAnswer())
                    answer = pc.localDescription
                    await self._send_signal(
                        sender, {"conn": conn, "type": answer.type, "sdp": answer.sdp}
                    )
                try:
                    async with asyncio.timeout(OPEN_UNITS * unit()):
                        await arrived.wait()
                except TimeoutError:  # the offerer's business (its open times out): next turn
                    self._logger.debug("%s: %s from %s did not open", self.node_id, conn, sender)
        except Exception as exc:
            if pc is not None:
                await self._discard_pc(pc)
            self._logger.warning(
                "%s: could not answer %s from %s: %s: %s",
                self.node_id,
                conn,
                sender,
                type(exc).__name__,
                exc,
            )

    async def _discard_pc(self, pc: RTCPeerConnection) -> None:
        self._pcs.discard(pc)
        await _close_pc(pc, self._logger)

    async def accept(self) -> WebRTCChannel:
        """Wait for the next channel opened to us; bound it with your own timeout."""
        if self._closed:
            raise TransportError(f"connector {self.node_id!r} is closed")
        item = await self._accepted.get()
        if not isinstance(item, WebRTCChannel):
            self._accepted.put_nowait(item)
            raise TransportError(f"connector {self.node_id!r} is closed")
        if not item.stats.info.get("local_address"):
            item.stats.info.update(selected_candidate_pair(item.peer_connection))
        return item

    async def close(self) -> None:
        """Close every channel and peer connection of this node (each bounded)."""
        if self._closed:
            return
        self._closed = True
        for future in self._answers.values():
            if not future.done():
                future.cancel()
        answering = list(self._answering)
        for task in answering:
            task.cancel()
        if answering:
            await asyncio.wait(answering, timeout=5 * unit())
        await asyncio.gather(*(channel.close() for channel in list(self._channels)))
        await asyncio.gather(*(_close_pc(pc, self._logger) for pc in list(self._pcs)))
        self._pcs.clear()
        for link in [*self._links.values(), *self._retired]:
            link.close()
        self._links.clear()
        self._retired.clear()
        self._accepted.put_nowait(_CLOSED)


def _pick(given: bool | None, default: bool) -> bool:
    return default if given is None else bool(given)


@asynccontextmanager
async def webrtc_connectors(
    *node_ids: str,
    interfaces: str = "loopback",
    on_signal: Callable[[str, str, dict[str, Any]], None] | None = None,
    shaping: Mapping[tuple[str, str], Shaper] | None = None,
) -> AsyncIterator[dict[str, WebRTCConnector]]:
    """Connectors wired to each other directly (no signaling server); always closed.

    ``on_signal(sender, receiver, payload)`` sees every signaling message (e.g. to check SDPs).
    ``shaping[(sender, receiver)]`` shapes what ``sender`` sends to ``receiver``.
    """
    connectors: dict[str, WebRTCConnector] = {}
    per_node: dict[str, dict[str, Shaper]] = {node_id: {} for node_id in node_ids}
    for (source, target), shaper in (shaping or {}).items():
        if source not in per_node or target not in per_node:
            raise ValueError(f"shaping link {(source, target)!r} is not between {node_ids!r}")
        per_node[source][target] = shaper

    def sender_for(source: str) -> SendSignal:
        async def send_signal(target: str, payload: dict[str, Any]) -> None:
            if on_signal is not None:
                on_signal(source, target, payload)
            if target not in connectors:
                raise TransportError(f"no node {target!r} among {sorted(connectors)}")
            await connectors[target].handle_signal(source, payload)

        return send_signal

    for node_id in node_ids:
        if node_id in connectors:
            raise ValueError(f"duplicate node id {node_id!r}")
        connectors[node_id] = WebRTCConnector(
            node_id,
            send_signal=sender_for(node_id),
            interfaces=interfaces,
            shaping=per_node[node_id],
        )
    try:
        yield connectors
    finally:
        await asyncio.gather(*(c.close() for c in connectors.values()))


@asynccontextmanager
async def webrtc_pair(
    *,
    label: str = "test",
    interfaces: str = "loopback",
    on_signal: Callable[[str, str, dict[str, Any]], None] | None = None,
    shaping: Mapping[tuple[str, str], Shaper] | None = None,
) -> AsyncIterator[tuple[WebRTCChannel, WebRTCChannel]]:
    """Two connected channel ends ``(a -> b, b -> a)`` over real WebRTC; always torn down.

    ``shaping[("a", "b")]`` shapes the datagrams a sends to b (and ``("b", "a")`` the reverse).
    """
    async with webrtc_connectors(
        "a", "b", interfaces=interfaces, on_signal=on_signal, shaping=shaping
    ) as nodes:
        async with asyncio.timeout(20 * unit()):
            ab = await nodes["a"].open("b", label=label)
            ba = await nodes["b"].accept()
        yield ab, ba
