"""WebRTC transport over real aiortc connections on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import numpy as np
import pytest

from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.base import Channel, ChannelClosed, Connector, TransportError
from rlnc_testbed.transport.ice import sdp_candidate_addresses
from rlnc_testbed.transport.webrtc import WebRTCConnector, webrtc_connectors, webrtc_pair


async def recv(channel: Channel, units: float = 5) -> bytes:
    async with asyncio.timeout(units * unit()):
        return await channel.recv()


def open_sockets() -> int:
    fds = "/proc/self/fd"
    count = 0
    for name in os.listdir(fds):
        with contextlib.suppress(OSError):
            count += os.readlink(os.path.join(fds, name)).startswith("socket:")
    return count


def other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


async def test_pair_connects_on_loopback_and_talks_both_ways() -> None:
    signals: list[tuple[str, str, dict[str, Any]]] = []
    async with webrtc_pair(label="blocks", on_signal=lambda *s: signals.append(s)) as (ab, ba):
        assert isinstance(ab, Channel)
        await ab.send(b"ping")
        assert await recv(ba) == b"ping"
        await ba.send(b"pong!")
        assert await recv(ab) == b"pong!"
        assert (ab.stats.messages_sent, ab.stats.bytes_sent) == (1, 4)
        assert (ab.stats.messages_received, ab.stats.bytes_received) == (1, 5)
        assert (ba.stats.messages_received, ba.stats.bytes_received) == (1, 4)
        assert (ba.stats.local, ba.stats.remote, ba.stats.label) == ("b", "a", "blocks")
        for end, other in ((ab, ba), (ba, ab)):
            info = end.stats.info
            assert info["local_address"] == info["remote_address"] == "127.0.0.1"
            assert info["protocol"] == "udp"
            assert info["local_port"] == other.stats.info["remote_port"]
            assert info["connection"] == other.stats.info["connection"]
        assert ab.stats.info["setup_seconds"] > 0
    kinds = [(src, dst, payload["type"]) for src, dst, payload in signals]
    assert kinds == [("a", "b", "offer"), ("b", "a", "answer")]
    for _, _, payload in signals:
        addresses = sdp_candidate_addresses(payload["sdp"])
        assert addresses, "no candidate in SDP"
        assert set(addresses) == {"127.0.0.1"}


async def test_megabytes_cross_intact_in_many_messages_both_ways() -> None:
    rng = np.random.default_rng(7)
    sizes = [0, 1, 65534, 65535, 65536, 65537, 300_000, *rng.integers(1, 90_000, 30).tolist()]
    forward = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    backward = forward[::-1]
    assert sum(map(len, forward)) > 1 << 20

    async def pump(tx: Channel, rx: Channel, messages: list[bytes]) -> list[bytes]:
        sender = asyncio.create_task(_send_all(tx, messages))
        got = [await recv(rx, 20) for _ in messages]
        await sender
        return got

    async with webrtc_pair() as (ab, ba):
        got_b, got_a = await asyncio.gather(pump(ab, ba, forward), pump(ba, ab, backward))
        assert got_b == forward
        assert got_a == backward
        total = sum(map(len, forward))
        assert (ab.stats.messages_sent, ab.stats.bytes_sent) == (len(forward), total)
        assert (ba.stats.messages_received, ba.stats.bytes_received) == (len(forward), total)
        assert (ab.stats.messages_received, ab.stats.bytes_received) == (len(forward), total)


async def _send_all(channel: Channel, messages: list[bytes]) -> None:
    for message in messages:
        await channel.send(message)


async def test_close_leaves_no_tasks_and_no_sockets() -> None:
    before = open_sockets()
    async with webrtc_pair() as (ab, ba):
        await ab.send(b"x")
        assert await recv(ba) == b"x"
        assert open_sockets() > before
    await asyncio.sleep(0)
    assert other_tasks() == set()
    assert open_sockets() == before


async def test_close_by_one_side_ends_the_other_sides_recv() -> None:
    async with webrtc_pair() as (ab, ba):
        await ab.send(b"last words")
        pending = asyncio.create_task(recv(ba))
        await ab.close()
        assert await pending == b"last words"
        with pytest.raises(ChannelClosed):
            await recv(ba)
        with pytest.raises(ChannelClosed):
            await ba.send(b"x")
        with pytest.raises(ChannelClosed):
            await ab.send(b"x")
        await ba.close()


async def test_vanished_remote_ends_recv_with_closed_or_timeout_never_a_hang() -> None:
    async with webrtc_pair() as (ab, ba):
        waiting = asyncio.create_task(ab.recv())
        await asyncio.sleep(0)
        # The far node's peer connection dies under it, without a data-channel close.
        async with asyncio.timeout(5 * unit()):
            await ba.peer_connection.close()
        with pytest.raises((ChannelClosed, TimeoutError)):
            async with asyncio.timeout(3 * unit()):
                await waiting


async def test_many_concurrent_connections_per_node() -> None:
    async with webrtc_connectors("a", "b", "c") as nodes:
        async with asyncio.timeout(20 * unit()):
            opened = await asyncio.gather(
                nodes["a"].open("b", label="ab1"),
                nodes["a"].open("b", label="ab2"),
                nodes["a"].open("c", label="ac"),
                nodes["b"].open("a", label="ba"),
            )
            at_b = [await nodes["b"].accept() for _ in range(2)]
            at_c = await nodes["c"].accept()
            at_a = await nodes["a"].accept()
        assert isinstance(nodes["a"], Connector)
        assert {c.stats.label for c in at_b} == {"ab1", "ab2"}
        assert (at_c.stats.label, at_c.stats.remote) == ("ac", "a")
        assert (at_a.stats.label, at_a.stats.remote) == ("ba", "b")
        far = {c.stats.label: c for c in [*at_b, at_c, at_a]}
        for channel in opened:
            await channel.send(channel.stats.label.encode())
        for label, channel in far.items():
            assert await recv(channel) == label.encode()
        connections = {c.stats.info["connection"] for c in opened}
        assert len(connections) == 4


async def test_explicit_address_list_works_like_loopback() -> None:
    signals: list[tuple[str, str, dict[str, Any]]] = []
    async with webrtc_pair(interfaces="127.0.0.1", on_signal=lambda *s: signals.append(s)) as (
        ab,
        ba,
    ):
        await ab.send(b"hi")
        assert await recv(ba) == b"hi"
    assert all(set(sdp_candidate_addresses(p["sdp"])) == {"127.0.0.1"} for _, _, p in signals)


async def test_open_to_unknown_node_is_a_transport_error() -> None:
    async with webrtc_connectors("a") as nodes:
        with pytest.raises(TransportError, match="no node 'ghost'"):
            await nodes["a"].open("ghost", label="x")
        assert other_tasks() == set()


async def test_unanswered_offer_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "0.03")
    offers: list[dict[str, Any]] = []

    async def black_hole(remote: str, payload: dict[str, Any]) -> None:
        offers.append(payload)

    connector = WebRTCConnector("a", send_signal=black_hole)
    try:
        with pytest.raises(TransportError, match="could not open channel 'x' to 'b'"):
            await connector.open("b", label="x")
    finally:
        await connector.close()
    assert [o["type"] for o in offers] == ["offer"]
    with pytest.raises(TransportError, match="closed"):
        await connector.open("b", label="y")


async def test_bad_inputs_name_the_problem() -> None:
    async def nowhere(remote: str, payload: dict[str, Any]) -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="interfaces"):
        WebRTCConnector("a", send_signal=nowhere, interfaces="eth0")
    with pytest.raises(ValueError, match="node_id"):
        WebRTCConnector("", send_signal=nowhere)
    with pytest.raises(ValueError, match="max_message_size"):
        WebRTCConnector("a", send_signal=nowhere, max_message_size=1)
    connector = WebRTCConnector("a", send_signal=nowhere)
    try:
        with pytest.raises(TransportError, match="'type' offer"):
            await connector.handle_signal("b", {"type": "bye", "conn": "1", "sdp": ""})
        with pytest.raises(TransportError, match="not an object"):
            await connector.handle_signal("b", "offer")  # type: ignore[arg-type]
        with pytest.raises(TransportError, match="could not answer"):
            await connector.handle_signal("b", {"type": "offer", "conn": "1", "sdp": "junk"})
        await connector.handle_signal("b", {"type": "answer", "conn": "zz", "sdp": ""})  # ignored
    finally:
        await connector.close()
    async with webrtc_pair() as (ab, _):
        with pytest.raises(TypeError, match="takes bytes, got str"):
            await ab.send("text")  # type: ignore[arg-type]


async def test_unframed_message_from_a_hostile_remote_is_a_transport_error() -> None:
    async with webrtc_pair() as (ab, ba):
        ab._dc.send(b"\x07not our framing")  # raw data channel: bypasses our framing
        with pytest.raises(TransportError, match="unframed"):
            await recv(ba)


async def test_oversized_reassembly_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from rlnc_testbed.transport import webrtc

    monkeypatch.setattr(webrtc, "MAX_REASSEMBLED", 100_000)
    async with webrtc_pair() as (ab, ba):
        await ab.send(b"small is fine")
        assert await recv(ba) == b"small is fine"
        await ab.send(bytes(300_000))  # five fragments, more than the limit
        with pytest.raises(TransportError, match="exceeds"):
            await recv(ba)
