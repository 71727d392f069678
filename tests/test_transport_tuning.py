"""The aiortc speed-ups of transport/tuning.py: one certificate per node, SCTP chunk bundling,
the lean setup (one SCTP initiator, no SRTP keys, one fingerprint), the quick close and delayed
SACKs.

None may change what crosses a channel: the same messages arrive, in order, with any switched
off; the hooks act only where they are asked to.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
from collections import Counter
from typing import Any

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, rtcsctptransport
from aiortc.rtcdtlstransport import SRTP_PROFILES
from aiortc.rtcsctptransport import parse_packet
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.base import Channel, ChannelClosed
from rlnc_testbed.transport.shaping import LinkShape, Shaper
from rlnc_testbed.transport.tuning import (
    SACK_DELAY,
    NodeCertificate,
    Tuning,
    bundle_chunks,
    current_tuning,
    node_certificate,
    tuning,
)
from rlnc_testbed.transport.webrtc import WebRTCConnector


def fingerprint(sdp: str) -> str:
    lines = [line for line in sdp.splitlines() if line.startswith("a=fingerprint:sha-256")]
    assert len(lines) == 1, sdp
    return lines[0]


async def recv(channel: Channel, units: float = 10) -> bytes:
    async with asyncio.timeout(units * unit()):
        return await channel.recv()


class Pair:
    """Two connectors wired to each other, recording every signaling payload."""

    def __init__(self, **options: Any) -> None:
        self.signals: list[tuple[str, dict[str, Any]]] = []
        self.nodes: dict[str, WebRTCConnector] = {}
        for name in ("a", "b"):
            self.nodes[name] = WebRTCConnector(name, send_signal=self._sender(name), **options)

    def _sender(self, source: str) -> Any:
        async def send(target: str, payload: dict[str, Any]) -> None:
            self.signals.append((source, payload))
            await self.nodes[target].handle_signal(source, payload)

        return send

    async def channel(self) -> tuple[Channel, Channel]:
        async with asyncio.timeout(20 * unit()):
            ab = await self.nodes["a"].open("b", label="t")
            ba = await self.nodes["b"].accept()
        return ab, ba

    async def close(self) -> None:
        await asyncio.gather(*(node.close() for node in self.nodes.values()))


async def test_a_nodes_connections_share_one_certificate() -> None:
    pair = Pair()
    try:
        for _ in range(3):
            await pair.channel()
        offers = {fingerprint(p["sdp"]) for s, p in pair.signals if p["type"] == "offer"}
        answers = {fingerprint(p["sdp"]) for s, p in pair.signals if p["type"] == "answer"}
        assert len(offers) == 1 and len(answers) == 1  # one certificate per node ...
        assert offers != answers  # ... and one each
    finally:
        await pair.close()


async def test_without_sharing_every_connection_has_its_own_certificate() -> None:
    pair = Pair(share_certificate=False)
    try:
        for _ in range(2):
            await pair.channel()
        prints = [fingerprint(p["sdp"]) for _, p in pair.signals]
        assert len(set(prints)) == len(prints) == 4
    finally:
        await pair.close()


async def test_the_certificate_hook_acts_only_inside_its_block() -> None:
    chosen = NodeCertificate.make()
    with node_certificate(chosen):
        inside = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    outside = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    with node_certificate(None):
        default = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        for pc in (inside, outside, default):
            pc.createDataChannel("x")
            await pc.setLocalDescription(await pc.createOffer())
        want = chosen.getFingerprints()[0].value.lower()
        mine = [fingerprint(pc.localDescription.sdp).lower() for pc in (inside, outside, default)]
        assert want in mine[0]
        assert want not in mine[1] and want not in mine[2] and mine[1] != mine[2]
    finally:
        await asyncio.gather(inside.close(), outside.close(), default.close())


def test_a_node_certificate_keeps_its_context_and_fingerprints() -> None:
    certificate = NodeCertificate.make()
    assert certificate.fresh
    first = certificate.getFingerprints()
    assert certificate.getFingerprints() == first
    assert certificate.getFingerprints() is not first  # a copy: callers may not change ours
    context = certificate._create_ssl_context(SRTP_PROFILES)
    assert certificate._create_ssl_context(list(SRTP_PROFILES)) is context
    assert certificate._create_ssl_context(SRTP_PROFILES[:1]) is not context


def test_a_certificate_close_to_expiry_is_not_fresh() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")])
    now = datetime.datetime.now(tz=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .sign(key, hashes.SHA256())
    )
    assert not NodeCertificate(key, cert).fresh


def _record_packets(channel: Any, packets: list[int]) -> None:
    """Count the chunks of every SCTP packet ``channel``'s end hands to DTLS."""
    dtls = channel.peer_connection.sctp.transport
    original = dtls._send_data

    async def send_data(data: bytes) -> None:
        packets.append(len(parse_packet(data)[3]))
        await original(data)

    dtls._send_data = send_data


async def _exchange(
    bundle: bool, choice: Tuning | None = None
) -> tuple[list[bytes], list[bytes], list[int]]:
    """A batch-like exchange: many small messages and a few large ones, then a reply."""
    rng = np.random.default_rng(3)
    sizes = [150] * 12 + [0, 1, 5000, 70_000] + [150] * 4
    messages = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    pair = Pair(bundle_sctp=bundle, tuning=choice)
    packets: list[int] = []
    try:
        ab, ba = await pair.channel()
        _record_packets(ab, packets)
        _record_packets(ba, packets)
        for message in messages:
            await ab.send(message)
        got = [await recv(ba) for _ in messages]
        await ba.send(b"done")
        reply = [await recv(ab)]
        return got, reply, packets
    finally:
        await pair.close()


async def test_bundled_chunks_carry_the_same_messages_in_fewer_packets() -> None:
    got, reply, bundled = await _exchange(bundle=True)
    plain_got, plain_reply, plain = await _exchange(bundle=False)
    assert got == plain_got and reply == plain_reply == [b"done"]
    assert max(plain) == 1  # aiortc alone: one chunk per packet
    # The small messages (168-byte chunks) leave at least seven to a packet of at most 1,189
    # bytes; the large ones fill a packet per fragment.
    assert max(bundled) >= 1189 // 168
    assert len(bundled) < len(plain) - 20


async def test_every_speed_up_carries_the_same_messages_as_plain_aiortc() -> None:
    tuned = await _exchange(bundle=True, choice=Tuning())
    plain = await _exchange(bundle=False, choice=Tuning.off())
    assert tuned[:2] == plain[:2]
    assert len(tuned[2]) < len(plain[2])


# -- the lean setup --------------------------------------------------------------------------

_CHUNK = re.compile(r"RTCSctpTransport\((client|server)\) ([<>]) (\w+)Chunk")


def _sctp_log(caplog: pytest.LogCaptureFixture) -> Counter[tuple[str, str, str]]:
    """(end, direction, chunk type) of every chunk aiortc logged as sent or received."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for record in caplog.records:
        match = _CHUNK.match(record.getMessage())
        if match:
            seen[(match[1], match[2], match[3])] += 1
    return seen


@pytest.mark.parametrize("lean", [True, False])
async def test_a_lean_setup_has_one_sctp_initiator(
    lean: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiortc.rtcsctptransport")
    pair = Pair(lean_setup=lean)
    try:
        ab, ba = await pair.channel()
        await ab.send(b"x")
        assert await recv(ba) == b"x"
    finally:
        await pair.close()
    received = {(end, kind): n for (end, way, kind), n in _sctp_log(caplog).items() if way == "<"}
    handshake = ("Init", "InitAck", "CookieEcho", "CookieAck")
    total = sum(received.get((end, k), 0) for end in ("client", "server") for k in handshake)
    if lean:  # the DTLS client (the answerer, b) initiates, the server answers
        assert received.get(("server", "Init")) == 1 and ("client", "Init") not in received
        assert total == 4
    else:  # aiortc alone: both ends initiate (an INIT collision)
        assert received[("server", "Init")] == received[("client", "Init")] == 1
        assert total == 8


async def test_a_lean_setup_skips_srtp_keys_and_gives_one_fingerprint() -> None:
    for lean in (True, False):
        pair = Pair(lean_setup=lean)
        try:
            ab, ba = await pair.channel()
            ends: tuple[Any, ...] = (ab, ba)
            for channel in ends:
                dtls = channel.peer_connection.sctp.transport
                assert (dtls._rx_srtp is None) is lean
            prints = [
                [line for line in payload["sdp"].splitlines() if line.startswith("a=fingerprint:")]
                for _, payload in pair.signals
            ]
            assert all(len(lines) == (1 if lean else 3) for lines in prints), prints
            assert all(lines[0].startswith("a=fingerprint:sha-256 ") for lines in prints)
        finally:
            await pair.close()


# -- the quick close -------------------------------------------------------------------------


async def _close_after_round_trip(
    caplog: pytest.LogCaptureFixture, **options: Any
) -> Counter[tuple[str, str, str]]:
    """a sends, b answers, a closes: b's reader sees the end; the chunks of the close."""
    caplog.set_level(logging.DEBUG, logger="aiortc.rtcsctptransport")
    pair = Pair(**options)
    try:
        ab, ba = await pair.channel()
        await ab.send(b"ping")
        assert await recv(ba) == b"ping"
        await ba.send(b"pong")
        assert await recv(ab) == b"pong"
        caplog.clear()
        await ab.close()
        with pytest.raises(ChannelClosed):
            await recv(ba)
        return _sctp_log(caplog)
    finally:
        await pair.close()


@pytest.mark.parametrize("quick", [True, False])
async def test_a_channel_with_nothing_in_flight_closes_with_an_abort(
    quick: bool, caplog: pytest.LogCaptureFixture
) -> None:
    chunks = await _close_after_round_trip(caplog, quick_close=quick)
    resets = sum(n for (_, _, kind), n in chunks.items() if kind == "Reconfig")
    assert (resets == 0) is quick
    assert chunks[("server", ">", "Abort")] == 1  # a (the offerer, DTLS server) ends it


async def test_a_shaped_link_closes_gracefully_all_the_same(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An ABORT is never retransmitted: a shaper's loss could leave the far end waiting.
    chunks = await _close_after_round_trip(
        caplog, quick_close=True, shaping={"b": Shaper(LinkShape(delay=0.001))}
    )
    assert sum(n for (_, _, kind), n in chunks.items() if kind == "Reconfig") > 0


async def test_unacknowledged_data_closes_gracefully() -> None:
    pair = Pair(quick_close=True, delayed_sack=True)
    try:
        ab, ba = await pair.channel()
        for i in range(20):
            await ab.send(bytes([i]) * 100)
        await ab.close()  # at once: SACKs are still due
        got = []
        with pytest.raises(ChannelClosed):
            while True:
                got.append(await recv(ba))
        assert got == [bytes([i]) * 100 for i in range(20)]
    finally:
        await pair.close()


# -- delayed SACKs, on a stand-in association ------------------------------------------------


class _Dtls:
    def __init__(self) -> None:
        self.packets: list[list[str]] = []
        self.chunks: list[Any] = []

    async def _send_data(self, data: bytes) -> None:
        chunks = parse_packet(data)[3]
        self.chunks += chunks
        self.packets.append([type(c).__name__[:-5] for c in chunks])


class _Association:
    """What bundle_chunks relies on of aiortc's RTCSctpTransport, nothing more."""

    _local_port = _remote_port = 5000
    _remote_verification_tag = 7
    state = "connected"

    def __init__(self) -> None:
        self.transport = _Dtls()
        self.alone: list[str] = []

    async def _send_chunk(self, chunk: Any) -> None:
        self.alone.append(type(chunk).__name__[:-5])
        await self.transport._send_data(rtcsctptransport.serialize_packet(5000, 5000, 7, chunk))


class _Pc:
    def __init__(self) -> None:
        self.sctp = _Association()


def _sack(cumulative: int, gaps: list[tuple[int, int]] | None = None) -> Any:
    chunk = rtcsctptransport.SackChunk()
    chunk.cumulative_tsn = cumulative
    chunk.gaps = gaps or []
    return chunk


def _data(tsn: int) -> Any:
    chunk = rtcsctptransport.DataChunk(flags=3)
    chunk.tsn, chunk.stream_id, chunk.stream_seq, chunk.protocol = tsn, 1, 0, 53
    chunk.user_data = b"x"
    return chunk


async def _passes(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _delayed(delay: float = 0.2) -> tuple[_Pc, Any]:
    pc = _Pc()
    assert bundle_chunks(pc, delay_sack=delay)
    return pc, pc.sctp._send_chunk


async def test_a_lone_sack_waits_for_the_delay() -> None:
    pc, send = await _delayed()
    await send(_sack(1))
    await _passes()
    assert pc.sctp.transport.packets == []
    await asyncio.sleep(0.5)
    assert pc.sctp.transport.packets == [["Sack"]]


async def test_a_waiting_sack_rides_with_data_and_leads_it() -> None:
    pc, send = await _delayed()
    await send(_sack(1))
    await _passes()
    await send(_data(10))
    await _passes()
    assert pc.sctp.transport.packets == [["Sack", "Data"]]
    await asyncio.sleep(0.5)
    assert len(pc.sctp.transport.packets) == 1  # nothing left for the timer


async def test_every_second_packet_and_every_gap_is_acknowledged_at_once() -> None:
    pc, send = await _delayed(delay=10.0)
    await send(_sack(1))
    await send(_sack(2))  # a second data-bearing packet: only the latest SACK leaves
    await _passes()
    assert pc.sctp.transport.packets == [["Sack"]]
    assert pc.sctp.transport.chunks[0].cumulative_tsn == 2
    await send(_sack(3, gaps=[(2, 2)]))  # a loss to repair
    await _passes()
    assert len(pc.sctp.transport.packets) == 2


async def test_an_abort_drops_the_waiting_sack() -> None:
    pc, send = await _delayed()
    await send(_sack(1))
    await send(rtcsctptransport.AbortChunk())
    await asyncio.sleep(0.5)
    assert pc.sctp.alone == ["Abort"]
    assert pc.sctp.transport.packets == [["Abort"]]


async def test_a_sack_due_after_the_association_ended_is_dropped() -> None:
    pc, send = await _delayed()
    await send(_sack(1))
    pc.sctp.state = "closed"  # the far end's ABORT ended it: aiortc sends nothing more
    await asyncio.sleep(0.5)
    assert pc.sctp.transport.packets == []


async def test_without_a_delay_sacks_leave_at_the_end_of_the_pass() -> None:
    pc = _Pc()
    assert bundle_chunks(pc)
    await pc.sctp._send_chunk(_sack(1))
    await _passes()
    assert pc.sctp.transport.packets == [["Sack"]]


async def test_a_cookie_ack_leads_the_data_that_follows_it() -> None:
    pc, send = await _delayed()
    await send(rtcsctptransport.CookieAckChunk())
    await send(_data(1))
    await _passes()
    assert pc.sctp.transport.packets == [["CookieAck", "Data"]]


async def test_delayed_sacks_ride_with_the_reply() -> None:
    """A request and its reply: the receiver's SACK leaves with the reply, not alone."""
    for delayed in (True, False):
        pair = Pair(delayed_sack=delayed)
        packets: list[int] = []
        try:
            ab, ba = await pair.channel()
            await ab.send(b"warm")
            await recv(ba)
            await asyncio.sleep(2 * SACK_DELAY)  # every SACK of the opening has left
            _record_packets(ba, packets)
            await ab.send(b"ping")
            assert await recv(ba) == b"ping"
            await asyncio.sleep(0.01)  # b works a while before it answers
            await ba.send(b"pong")
            assert await recv(ab) == b"pong"
            await asyncio.sleep(0.01)
            sent = list(packets)
        finally:
            await pair.close()
        # b's packets: the SACK with the reply; or a SACK alone, then the reply alone.
        assert sent == ([2] if delayed else [1, 1]), sent


# -- the defaults ----------------------------------------------------------------------------


def test_connectors_take_the_enclosing_tuning_and_their_own_switches() -> None:
    async def nowhere(remote: str, payload: dict[str, Any]) -> None:
        raise AssertionError("not called")

    assert current_tuning() == Tuning()
    with tuning(lean_setup=False) as chosen:
        assert current_tuning() == chosen == Tuning(lean_setup=False)
        connector = WebRTCConnector("a", send_signal=nowhere, quick_close=False)
        with tuning(Tuning.off()):
            plain = WebRTCConnector("b", send_signal=nowhere)
    assert current_tuning() == Tuning()
    assert (connector.lean_setup, connector.quick_close, connector.bundle_sctp) == (
        False,
        False,
        True,
    )
    switches = ("share_certificate", "bundle_sctp", "lean_setup", "quick_close", "delayed_sack")
    assert not any(getattr(plain, name) for name in switches)
    given = WebRTCConnector("c", send_signal=nowhere, tuning=Tuning.off(), bundle_sctp=True)
    assert given.bundle_sctp and not given.lean_setup
