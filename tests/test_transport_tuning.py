"""The aiortc speed-ups of transport/tuning.py: one certificate per node, SCTP chunk bundling.

Neither may change what crosses a channel: the same messages arrive, in order, with either
switched off; the hooks act only where they are asked to.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtcdtlstransport import SRTP_PROFILES
from aiortc.rtcsctptransport import parse_packet
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.base import Channel
from rlnc_testbed.transport.tuning import NodeCertificate, node_certificate
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


async def _exchange(bundle: bool) -> tuple[list[bytes], list[bytes], list[int]]:
    """A batch-like exchange: many small messages and a few large ones, then a reply."""
    rng = np.random.default_rng(3)
    sizes = [150] * 12 + [0, 1, 5000, 70_000] + [150] * 4
    messages = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    pair = Pair(bundle_sctp=bundle)
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
