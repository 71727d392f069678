"""What every role shares: joining, the command pump, accepting channels, sending batches.

A node is an asyncio pump around two collaborators passed in by the runner: a joined
signaling client (commands in, reports out) and a transport connector (data channels). It
makes no experiment decisions of its own beyond what the scheme functions and the seeded
generators dictate; the round control lives in :mod:`rlnc_testbed.protocol.rounds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from .. import wire
from ..protocol.messages import COLLECTOR_ID
from ..protocol.params import Params
from ..protocol.rounds import Phase, phase_deadline_units
from ..signaling.client import SignalingError
from ..timeouts import unit
from ..transport.base import Channel, ChannelClosed, Connector, TransportError
from .streams import MessageReader, send_messages

__all__ = ["IDLE_UNITS", "Node", "NodeStopped"]

#: A node that hears nothing from signaling for this many units gives up.
IDLE_UNITS = 120.0
#: Longest error reason a node reports (characters).
_MAX_REASON = 500
#: Units a batch's acknowledgement may take, at least; see :meth:`Node._ack_units`.
_ACK_UNITS = 10.0
#: The phase whose deadline bounds the acknowledgement of a batch of each purpose.
_ACK_PHASES = {
    "store": Phase.DISTRIBUTING,
    "source": Phase.DISTRIBUTING,
    "repair": Phase.REPAIRING,
    "provenance": Phase.COLLECTING,
    "collect": Phase.COLLECTING,
}


class NodeStopped(Exception):
    """Raised inside a node to end its run (close or fail command)."""


class Node:
    """Base class of the engine, storage peers, newcomers and the collector."""

    role = "node"

    def __init__(
        self, *, signaling: Any, connector: Connector, log: logging.Logger | None = None
    ) -> None:
        self.signaling = signaling
        self.connector = connector
        self.log = log or logging.getLogger(f"rlnc_testbed.roles.{self.role}")
        self.params: Params | None = None
        self.trial = 0
        self.rejected = 0  # malformed or mismatching data-channel messages dropped
        self.links: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pool: dict[str, Channel] = {}
        self._link_locks: dict[str, asyncio.Lock] = {}
        self.stop_reason = ""

    @property
    def id(self) -> str:
        return str(self.signaling.id)

    @property
    def p(self) -> Params:
        assert self.params is not None, "params not received yet"
        return self.params

    # -- main loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until the server says close/fail, signaling goes away, or idle too long."""
        try:
            msg = await self.signaling.expect("params", timeout=IDLE_UNITS * unit())
            try:
                self.params = Params.from_dict(msg["params"])
                self.trial = int(msg["trial"])
            except (KeyError, TypeError, ValueError) as exc:  # ParameterError is a ValueError
                self.stop_reason = f"unusable params from the server: {exc}"
                self.log.error("%s %s stops: %s", self.role, self.id, self.stop_reason)
                return
            self._spawn(self._accept_loop())
            await self._command_loop()
        except NodeStopped:
            pass
        except (TimeoutError, ConnectionError, SignalingError) as exc:
            self.stop_reason = self.stop_reason or f"{type(exc).__name__}: {exc}"
            self.log.warning("%s %s stops: %s", self.role, self.id, self.stop_reason)
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Close transport, then cancel what is left, then close signaling (bounded,
        idempotent). Closing the connector first lets channel tasks end on ChannelClosed
        instead of being cancelled half-way through closing a peer connection."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10 * unit()):
                await self.connector.close()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=unit())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5 * unit())
        self._tasks.clear()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5 * unit()):
                await self.signaling.close()

    async def _command_loop(self) -> None:
        while True:
            msg = await self.signaling.recv(timeout=IDLE_UNITS * unit())
            kind = msg["type"]
            if kind == "close":
                self.stop_reason = f"close: {msg.get('reason', '')}"
                raise NodeStopped
            if kind == "fail":
                self.on_fail(msg)
                continue
            handler = getattr(self, "on_" + kind.replace(" ", "_"), None)
            if handler is None:
                self.log.debug("%s %s ignores %r", self.role, self.id, kind)
                continue
            self._spawn(self._guarded(handler(msg), kind))

    def on_fail(self, msg: dict[str, Any]) -> None:
        """This node fails in ``msg["round"]``: it leaves at once, as a crashed browser tab
        would (a fault-injecting subclass may stay, e.g. as a zombie that keeps sending)."""
        self.stop_reason = f"failed in round {msg['round']}"
        raise NodeStopped

    async def _guarded(self, coro: Any, what: str) -> None:
        """Run one handler. The network's failures (timeouts, transport, malformed data) are
        logged and left to the phase deadlines; anything else is a bug in this role, reported
        to the server at once so that the round ends with the ``error`` verdict naming it."""
        try:
            await coro
        except NodeStopped:
            raise
        except (TimeoutError, TransportError, wire.WireError) as exc:
            self.log.warning(
                "%s %s: %s failed: %s: %s", self.role, self.id, what, type(exc).__name__, exc
            )
        except Exception as exc:
            await self._report_bug(what, exc)

    async def _report_bug(self, what: str, exc: Exception) -> None:
        """Tell the server this role failed (the trial ends with ``error`` naming it)."""
        self.log.error("%s %s: %s raised", self.role, self.id, what, exc_info=exc)
        reason = f"{what} raised {type(exc).__name__}: {exc}"[:_MAX_REASON]
        with contextlib.suppress(SignalingError, TimeoutError, ConnectionError):
            await self.report("error", reason=reason)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.log.error("%s %s: task failed: %r", self.role, self.id, exc)

    # -- data channels ---------------------------------------------------------------------

    async def _accept_loop(self) -> None:
        while True:
            try:
                channel = await self.connector.accept()
            except TransportError:
                return  # the connector closed: this node is shutting down
            self._spawn(self._serve_channel(channel))

    async def _serve_channel(self, channel: Channel) -> None:
        """Serve batches on one incoming channel until it closes: Hello, messages, Done;
        each batch acknowledged with a Done of our own carrying how many we accepted."""
        reader = MessageReader(channel)
        try:
            while True:
                try:
                    hello = await reader.next(timeout_units=IDLE_UNITS)
                except ChannelClosed:
                    return  # the sender is finished with this link
                if not isinstance(hello, wire.Hello):
                    raise wire.WireError("type", 0, "expected Hello first")
                if hello.sender != channel.stats.remote:
                    # The transport knows who opened the channel (signaling stamps it); a
                    # Hello claiming someone else is an impersonation attempt.
                    raise wire.WireError(
                        "sender",
                        0,
                        f"Hello claims {hello.sender!r} on a channel from {channel.stats.remote!r}",
                    )
                before = _counters(channel)
                accepted = await self.on_channel(hello, reader)
                await channel.send(wire.serialize(wire.Done(count=accepted, generation=self.trial)))
                self.links.append(_link(channel, before))
        except wire.WireError as exc:
            self.rejected += 1
            self.log.warning(
                "%s %s: rejected channel from %s: %s", self.role, self.id, channel.stats.remote, exc
            )
        except (TimeoutError, TransportError) as exc:
            self.log.warning(
                "%s %s: channel from %s ended early: %r",
                self.role,
                self.id,
                channel.stats.remote,
                exc,
            )
        except NodeStopped:
            raise
        except Exception as exc:
            await self._report_bug(f"serving a channel from {channel.stats.remote}", exc)
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    async def on_channel(self, hello: wire.Hello, reader: MessageReader) -> int:
        """Handle one incoming batch whose Hello was read; return how many messages were
        accepted. Subclasses override; the default refuses the batch."""
        raise wire.WireError("purpose", 0, f"{self.role} accepts no {hello.purpose!r} channel")

    async def read_packets(
        self, reader: MessageReader, *, limit: int | None = None
    ) -> list[wire.PacketMessage]:
        """Read PacketMessages until Done; drop (and count) mismatching ones.

        A batch of more than ``limit`` packets is read to its Done (keeping none past the limit,
        so memory stays bounded) and then refused with a :class:`~rlnc_testbed.wire.WireError`:
        no sender may deliver more than it can hold.
        """
        p = self.p
        packets: list[wire.PacketMessage] = []
        excess = 0
        while True:
            try:
                msg = await reader.next()
            except wire.WireError as exc:
                self.rejected += 1
                self.log.warning("%s %s: dropped malformed message: %s", self.role, self.id, exc)
                continue
            if isinstance(msg, wire.Done):
                if excess:
                    raise wire.WireError(
                        "count",
                        0,
                        f"batch of {len(packets) + excess} packets; at most {limit} allowed",
                    )
                if msg.count != len(packets):
                    self.log.warning(
                        "%s %s: Done says %d packets, got %d",
                        self.role,
                        self.id,
                        msg.count,
                        len(packets),
                    )
                return packets
            if (
                isinstance(msg, wire.PacketMessage)
                and msg.field == p.field
                and msg.packet.symbols == p.symbols
                and msg.packet.symbol_size == p.symbol_size
            ):
                if limit is not None and len(packets) >= limit:
                    excess += 1
                else:
                    packets.append(msg)
            else:
                self.rejected += 1
                self.log.warning(
                    "%s %s: dropped unexpected %s", self.role, self.id, type(msg).__name__
                )

    async def send_batch(
        self, to: str, *, purpose: str, round: int, messages: Iterable[wire.Message], count: int
    ) -> dict[str, Any]:
        """Send one batch (Hello, messages, Done) to ``to`` and wait for its acknowledgement.

        Links to the collector are kept open and reused every round (a WebRTC handshake
        costs tens of milliseconds); other links are closed after their batch. Returns this
        batch's link record (counters of this batch only, transport details)."""
        lock = self._link_locks.setdefault(to, asyncio.Lock())
        async with lock:
            keep = to == COLLECTOR_ID
            channel = self._pool.get(to)
            if channel is None or getattr(channel, "closed", False):
                channel = await self.connector.open(to, label=f"{purpose}-{round}")
                if keep:
                    self._pool[to] = channel
            try:
                before = _counters(channel)
                hello = wire.Hello(sender=self.id, role=self.role, purpose=purpose, round=round)
                await send_messages(channel, [hello])
                await send_messages(channel, messages)
                await send_messages(channel, [wire.Done(count=count, generation=self.trial)])
                ack = await MessageReader(channel).next(timeout_units=self._ack_units(purpose))
                if not isinstance(ack, wire.Done):
                    raise wire.WireError(
                        "type", 0, f"expected Done as acknowledgement, got {type(ack).__name__}"
                    )
                link = _link(channel, before)
                link["info"]["accepted"] = ack.count
            except BaseException:
                self._pool.pop(to, None)
                with contextlib.suppress(Exception):
                    await channel.close()
                raise
            if not keep:
                with contextlib.suppress(Exception):
                    await channel.close()
        self.links.append(link)
        return link

    def _ack_units(self, purpose: str) -> float:
        """How long a batch's acknowledgement may take: the deadline of the phase the batch
        belongs to (the receiver acknowledges after taking the batch in; a collector judging
        a thousand peers in one process gets to the last ones seconds later), at least 10."""
        phase = _ACK_PHASES.get(purpose)
        if phase is None or self.params is None:
            return _ACK_UNITS
        return max(_ACK_UNITS, phase_deadline_units(phase, self.params))

    async def warm_link(self, to: str) -> None:
        """Open (and pool) the link to ``to`` ahead of its first batch, so the handshake
        happens while this node would otherwise wait. Failure here is harmless: the batch
        opens a fresh link."""
        lock = self._link_locks.setdefault(to, asyncio.Lock())
        async with lock:
            if to not in self._pool:
                self._pool[to] = await self.connector.open(to, label="collect")

    async def report(self, kind: str, **fields: Any) -> None:
        await self.signaling.send({"type": kind, **fields})

    def packet_messages(self, packets: Iterable[Any]) -> list[wire.PacketMessage]:
        return [
            wire.PacketMessage(generation=self.trial, field=self.p.field, packet=pk)
            for pk in packets
        ]


_COUNTERS = ("messages_sent", "bytes_sent", "messages_received", "bytes_received")


def _counters(channel: Channel) -> tuple[int, ...]:
    return tuple(getattr(channel.stats, name) for name in _COUNTERS)


def _link(channel: Channel, before: tuple[int, ...]) -> dict[str, Any]:
    """The channel's record with counters since ``before`` (one batch)."""
    record = channel.stats.to_dict()
    for name, start in zip(_COUNTERS, before, strict=True):
        record[name] -= start
    return record
