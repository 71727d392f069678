"""In-memory transport: ordering, stats, close, drop, loss, delay and input checks.

Per-link shaping (reordering, jitter, rate, per-link shapes) is in test_transport_shaping.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from rlnc_testbed.protocol.draws import DrawStream
from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.base import Channel, ChannelClosed, Connector, TransportError
from rlnc_testbed.transport.memory import DrawsFor, MemoryNetwork, memory_pair
from rlnc_testbed.transport.shaping import LinkShape

SHORT = 0.05  # fraction of a unit for "nothing arrives" checks


def seeded(seed: int) -> DrawsFor:
    """One specified draw stream per directed link, keyed by the seed and the link."""
    return lambda sender, receiver: DrawStream((seed, zlib.crc32(f"{sender}>{receiver}".encode())))


async def recv(channel: Channel) -> bytes:
    async with asyncio.timeout(unit()):
        return await channel.recv()


async def test_messages_arrive_in_order_and_are_counted() -> None:
    async with memory_pair(label="blocks") as (ab, ba):
        assert isinstance(ab, Channel)
        messages = [bytes([i]) * i for i in range(50)]
        for message in messages:
            await ab.send(message)
        await ab.send(bytearray(b"tail"))
        got = [await recv(ba) for _ in range(51)]
        assert got == [*messages, b"tail"]
        await ba.send(b"back")
        assert await recv(ab) == b"back"
        total = sum(map(len, messages)) + 4
        assert (ab.stats.messages_sent, ab.stats.bytes_sent) == (51, total)
        assert (ba.stats.messages_received, ba.stats.bytes_received) == (51, total)
        assert (ba.stats.messages_sent, ab.stats.bytes_received) == (1, 4)
        assert (ab.stats.local, ab.stats.remote, ab.stats.label) == ("a", "b", "blocks")
        assert (ba.stats.local, ba.stats.remote, ba.stats.label) == ("b", "a", "blocks")


async def test_close_reaches_far_side_after_pending_messages() -> None:
    async with memory_pair() as (ab, ba):
        await ab.send(b"1")
        await ab.send(b"2")
        await ab.close()
        await ab.close()  # idempotent
        assert [await recv(ba), await recv(ba)] == [b"1", b"2"]
        for _ in range(2):
            with pytest.raises(ChannelClosed):
                await recv(ba)
        with pytest.raises(ChannelClosed):
            await ba.send(b"x")
        with pytest.raises(ChannelClosed):
            await ab.send(b"x")
        with pytest.raises(ChannelClosed):
            await recv(ab)


async def test_close_wakes_a_pending_recv_on_both_ends() -> None:
    async with memory_pair() as (ab, ba):
        far = asyncio.create_task(recv(ba))
        near = asyncio.create_task(recv(ab))
        await asyncio.sleep(0)
        await ab.close()
        with pytest.raises(ChannelClosed):
            await far
        with pytest.raises(ChannelClosed):
            await near


async def test_dropped_node_goes_silent_and_recv_hits_the_callers_timeout() -> None:
    async with MemoryNetwork() as net:
        a, b = net.connector("a"), net.connector("b")
        assert isinstance(a, Connector)
        ab = await a.open("b", label="x")
        async with asyncio.timeout(unit()):
            ba = await b.accept()
        assert ba.stats.remote == "a"
        net.drop("b")
        await ab.send(b"lost")  # no error: the sender cannot tell
        await ba.send(b"lost too")
        await ba.close()  # the close is not seen either
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(SHORT * unit()):
                await ab.recv()
        assert not ab.closed
        with pytest.raises(TransportError, match="unreachable"):
            await a.open("b", label="again")
        with pytest.raises(TransportError, match="dropped"):
            await b.open("a", label="again")


async def test_open_to_unknown_node_fails_at_once() -> None:
    async with MemoryNetwork() as net:
        a = net.connector("a")
        with pytest.raises(TransportError, match="no node 'ghost'"):
            async with asyncio.timeout(unit()):
                await a.open("ghost", label="x")


async def test_loss_follows_the_draws_and_is_reproducible() -> None:
    async def survivors(seed: int) -> list[bytes]:
        async with memory_pair(loss=0.5, draws=seeded(seed)) as (ab, ba):
            for i in range(200):
                await ab.send(i.to_bytes(2, "big"))
            await ab.close()
            got = []
            while True:
                try:
                    got.append(await recv(ba))
                except ChannelClosed:
                    return got

    first, again, other = await survivors(1), await survivors(1), await survivors(2)
    assert first == again
    assert first != other
    assert 50 < len(first) < 150
    assert first == sorted(first)  # losses never reorder


async def test_total_loss_delivers_nothing_but_counts_sends() -> None:
    async with memory_pair(loss=1.0) as (ab, ba):
        await ab.send(b"gone")
        assert ab.stats.messages_sent == 1
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(SHORT * unit()):
                await ba.recv()
        assert ba.stats.messages_received == 0


async def test_delay_holds_each_message_back_and_keeps_order() -> None:
    delay = 0.02
    async with memory_pair(delay=delay) as (ab, ba):
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        for i in range(5):
            await ab.send(bytes([i]))
        got = [await recv(ba) for _ in range(5)]
        assert got == [bytes([i]) for i in range(5)]
        assert loop.time() - sent_at >= delay


async def test_fault_controls_can_change_at_runtime() -> None:
    async with MemoryNetwork() as net:
        a, b = net.connector("a"), net.connector("b")
        ab = await a.open("b", label="x")
        ba = await b.accept()
        net.loss = 1.0
        await ab.send(b"lost")
        net.loss = 0.0
        await ab.send(b"kept")
        assert await recv(ba) == b"kept"


async def test_network_close_closes_channels_and_accept() -> None:
    net = MemoryNetwork()
    async with net:
        a, b = net.connector("a"), net.connector("b")
        ab = await a.open("b", label="x")
        pending_accept = asyncio.create_task(a.accept())
        await asyncio.sleep(0)
    with pytest.raises(ChannelClosed):
        await ab.send(b"x")
    with pytest.raises(TransportError, match="closed"):
        await pending_accept
    with pytest.raises(TransportError, match="closed"):
        await b.accept()
    with pytest.raises(TransportError, match="closed"):
        await a.open("b", label="y")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": 1.5}, "loss must be a probability"),
        ({"loss": -0.1}, "loss must be a probability"),
        ({"delay": -1}, "delay must be a number"),
        ({"delay": "1"}, "delay must be a number"),
        ({"loss": 0.5}, "makes random decisions: pass draws"),
        ({"loss": 0.1, "shape": LinkShape()}, "not both"),
    ],
)
def test_bad_network_settings_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MemoryNetwork(**kwargs)  # type: ignore[arg-type]


async def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(TypeError, match="draws must be a callable"):
        MemoryNetwork(draws=42)  # type: ignore[arg-type]
    async with MemoryNetwork() as net:
        net.connector("a")
        with pytest.raises(ValueError, match="already has a connector"):
            net.connector("a")
        with pytest.raises(ValueError, match="non-empty str"):
            net.connector("")
        with pytest.raises(ValueError, match="unknown node"):
            net.drop("nobody")
    async with memory_pair() as (ab, _):
        with pytest.raises(TypeError, match="takes bytes, got str"):
            await ab.send("text")  # type: ignore[arg-type]


def test_importing_the_transport_package_does_not_import_aiortc() -> None:
    code = (
        "import sys, rlnc_testbed.transport as t\n"
        "assert 'aiortc' not in sys.modules, 'aiortc imported eagerly'\n"
        "assert t.WebRTCConnector.__name__ == 'WebRTCConnector'\n"
        "assert 'aiortc' in sys.modules\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
