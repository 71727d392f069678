"""Link shaping: the sans-I/O model, memory links, and real WebRTC datagrams under SCTP."""

from __future__ import annotations

import asyncio
import dataclasses
import zlib
from typing import Any

import pytest

from rlnc_testbed.protocol.draws import DrawStream
from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.base import Channel, ChannelClosed
from rlnc_testbed.transport.ice import shape_datagrams
from rlnc_testbed.transport.memory import DrawsFor, MemoryNetwork, memory_pair
from rlnc_testbed.transport.shaping import (
    PPM,
    Decision,
    Draws,
    Fate,
    LinkShape,
    ShapedLink,
    Shaper,
)
from rlnc_testbed.transport.webrtc import webrtc_connectors, webrtc_pair

# -- helpers -----------------------------------------------------------------------------------


class Scripted:
    """Draws that answer from a script (and record every ``n`` asked for)."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.asked: list[int] = []

    def below(self, n: int) -> int:
        self.asked.append(n)
        value = self.answers.pop(0) if self.answers else 0
        assert 0 <= value < n
        return value


def script(*fates: str) -> list[int]:
    """Draw answers giving each datagram a fate: '.' send, 'x' drop, 'h' hold (no jitter)."""
    answers = []
    for fate in fates:
        answers += [0 if fate == "x" else PPM - 1, 0, 0 if fate == "h" else PPM - 1]
    return answers


def stream(seed: int, link: int = 0) -> DrawStream:
    return DrawStream((seed, link))


def seeded(seed: int) -> DrawsFor:
    return lambda sender, receiver: stream(seed, zlib.crc32(f"{sender}>{receiver}".encode()))


def push_all(shaper: Shaper, count: int, *, at: float = 0.0, size: int = 100) -> list[bytes]:
    """Push ``count`` numbered datagrams at time ``at``; return the list they are delivered to."""
    out: list[bytes] = []
    for i in range(count):
        shaper.push((out.append, i.to_bytes(2, "big")), size, at)
    return out


def drain(shaper: Shaper, out: list[bytes], until: float = 1e9) -> list[int]:
    for sink, data in shaper.pop_due(until):
        sink(data)
    return [int.from_bytes(d, "big") for d in out]


async def recv(channel: Channel, units: float = 5) -> bytes:
    async with asyncio.timeout(units * unit()):
        return await channel.recv()


async def received_until_closed(channel: Channel) -> list[int]:
    got = []
    while True:
        try:
            got.append(int.from_bytes(await recv(channel), "big"))
        except ChannelClosed:
            return got


# -- the model ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": 1.5}, "loss must be a probability"),
        ({"loss": True}, "loss must be a probability"),
        ({"reorder": -0.1}, "reorder must be a probability"),
        ({"delay": -1}, "delay must be a number of seconds >= 0"),
        ({"delay": float("inf")}, "delay must be a number"),
        ({"jitter": "1"}, "jitter must be a number"),
        ({"hold_limit": 0}, "hold_limit must be a number of seconds > 0"),
        ({"reorder_gap": 0}, "reorder_gap must be an integer >= 1"),
        ({"queue": 1.5}, "queue must be an integer >= 1"),
        ({"rate": 0}, "rate must be bytes per second > 0"),
        ({"rate": float("nan")}, "rate must be bytes per second > 0"),
    ],
)
def test_bad_shapes_name_the_problem(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LinkShape(**kwargs)


def test_random_shapes_need_draws_deterministic_ones_do_not() -> None:
    for shape in (LinkShape(loss=0.1), LinkShape(reorder=0.5), LinkShape(jitter=0.001)):
        assert shape.random
        with pytest.raises(ValueError, match="pass draws"):
            Shaper(shape)
    for shape in (LinkShape(), LinkShape(loss=1.0), LinkShape(delay=0.1, rate=1e6)):
        assert not shape.random
        Shaper(shape)
    shaper = Shaper(LinkShape())
    with pytest.raises(ValueError, match="pass draws"):
        shaper.shape = LinkShape(loss=0.5)
    with pytest.raises(TypeError, match="below"):
        Shaper(LinkShape(), draws=object())  # type: ignore[arg-type]
    assert isinstance(stream(0), Draws)
    assert LinkShape().identity and not LinkShape(delay=0.001).identity
    assert LinkShape(loss=0.25).to_dict()["loss"] == 0.25


def test_every_datagram_makes_three_draws_in_the_specified_order() -> None:
    draws = Scripted([99_999, 0, 0, 100_000, 7, PPM - 1, 0, 0, 0])
    shape = LinkShape(loss=0.1, jitter=0.000_010, reorder=0.5)
    shaper = Shaper(shape, draws=draws)
    fates = [shaper.push((print, b""), 1, 0.0).fate for _ in range(3)]
    # loss draw 99_999 < 100_000 drops; 100_000 does not; a dropped datagram is never held
    assert fates == [Fate.DROP, Fate.SEND, Fate.DROP]
    assert draws.asked == [PPM, 11, PPM] * 3
    # same for a shape that needs no draws at all: the stream position stays aligned
    plain = Scripted([])
    Shaper(LinkShape(), draws=plain).push((print, b""), 1, 0.0)
    assert plain.asked == [PPM, 1, PPM]


def test_the_same_stream_drops_the_same_indices() -> None:
    def dropped(seed: int, shape: LinkShape) -> list[int]:
        decisions: list[Decision] = []
        shaper = Shaper(shape, draws=stream(seed), on_decision=decisions.append)
        push_all(shaper, 10_000)
        return [d.index for d in decisions if d.fate is Fate.DROP]

    first = dropped(1, LinkShape(loss=0.1))
    assert first == dropped(1, LinkShape(loss=0.1))
    assert first != dropped(2, LinkShape(loss=0.1))
    assert 900 < len(first) < 1100
    # other knobs use their own draws: adding delay, jitter or reordering moves no loss
    assert first == dropped(1, LinkShape(loss=0.1, delay=0.5, jitter=0.01, reorder=0.3))


def test_delay_and_jitter_delay_every_datagram_but_keep_the_order() -> None:
    shaper = Shaper(LinkShape(delay=0.1, jitter=0.05), draws=stream(3))
    decisions: list[Decision] = []
    shaper.on_decision = decisions.append
    out: list[bytes] = []
    for i in range(200):  # one every 10 ms
        shaper.push((out.append, i.to_bytes(2, "big")), 100, 1.0 + i / 100)
    dues = [d.due for d in decisions]
    assert all(d.due is not None and d.at + 0.1 <= d.due <= d.at + 0.15 for d in decisions)
    assert dues == sorted(dues)  # jitter never reorders: a datagram waits for its predecessor
    assert len({round(d.due - d.at, 6) for d in decisions if d.due is not None}) > 50
    assert shaper.next_due() == dues[0]
    assert drain(shaper, out, until=1.0999) == []
    assert drain(shaper, out) == list(range(200))
    assert shaper.stats.delayed == shaper.stats.released == 200
    assert shaper.next_due() is None


def test_a_held_datagram_is_overtaken_by_the_next_gap_datagrams() -> None:
    shaper = Shaper(LinkShape(reorder=0.5, reorder_gap=2), draws=Scripted(script(*".h..h...")))
    out = push_all(shaper, 8)
    assert drain(shaper, out, until=0.0) == [0, 2, 3, 1, 5, 6, 4, 7]
    assert shaper.stats.held == 2
    assert shaper.pending == 0


def test_a_held_datagram_leaves_after_its_hold_limit_when_nothing_follows() -> None:
    shaper = Shaper(LinkShape(reorder=0.5, hold_limit=0.2), draws=Scripted(script("h")))
    out = push_all(shaper, 1, at=5.0)
    assert shaper.next_due() == pytest.approx(5.2)
    assert drain(shaper, out, until=5.1) == []
    assert drain(shaper, out, until=5.2) == [0]


def test_rate_spaces_datagrams_and_the_queue_bound_overflows() -> None:
    shaper = Shaper(LinkShape(rate=10_000, queue=5))
    decisions: list[Decision] = []
    shaper.on_decision = decisions.append
    out = push_all(shaper, 8, size=1000)
    assert [d.fate for d in decisions] == [Fate.SEND] * 5 + [Fate.OVERFLOW] * 3
    assert [d.due for d in decisions[:5]] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert decisions[-1].index == 7  # overflow consumes an index like any datagram
    assert drain(shaper, out, until=0.25) == [0, 1]
    assert shaper.stats.overflowed == 3


def test_a_control_item_follows_held_datagrams_and_is_never_lost() -> None:
    shaper = Shaper(LinkShape(loss=0.5, reorder=0.5), draws=Scripted(script(".", "h")))
    out = push_all(shaper, 2)
    shaper.push_control((out.append, b"\xff\xff"), 0.0)
    assert drain(shaper, out) == [0, 1, 0xFFFF]
    assert (shaper.stats.controls, shaper.stats.released) == (1, 2)


async def test_the_pump_delivers_on_time_and_close_forgets_the_rest() -> None:
    loop = asyncio.get_running_loop()
    link = ShapedLink(Shaper(LinkShape(delay=0.03)))
    arrived: list[tuple[float, bytes]] = []

    def sink(data: bytes) -> None:
        arrived.append((loop.time(), data))

    start = loop.time()
    link.send(sink, b"1")
    link.send(sink, b"2")
    assert not link.idle
    async with asyncio.timeout(unit()):
        while len(arrived) < 2:
            await asyncio.sleep(0.005)
    assert [d for _, d in arrived] == [b"1", b"2"]
    assert arrived[0][0] - start >= 0.03
    link.send(sink, b"3")
    link.close()
    link.send(sink, b"4")
    await asyncio.sleep(0.05)
    assert len(arrived) == 2 and link.idle


# -- memory links ------------------------------------------------------------------------------


async def test_memory_links_are_shaped_per_direction() -> None:
    async with MemoryNetwork(draws=seeded(1)) as net:
        net.shape_link("a", "b", LinkShape(loss=1.0))
        a, b = net.connector("a"), net.connector("b")
        ab = await a.open("b", label="x")
        ba = await recv_accept(b)
        await ab.send(b"lost")
        await ba.send(b"kept")
        assert await recv(ab) == b"kept"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05 * unit()):
                await ba.recv()
        shaper = net.shaper("a", "b")
        assert shaper is not None and shaper.stats.dropped == 1
        assert net.shaper("b", "a") is None  # unshaped links take no shaper at all
        net.shape_link("a", "b", None)  # back to the network's (clean) shape
        await ab.send(b"now kept")
        assert await recv(ba) == b"now kept"


async def recv_accept(connector: Any) -> Any:
    async with asyncio.timeout(unit()):
        return await connector.accept()


async def test_memory_reordering_reorders_messages_reproducibly() -> None:
    async def order(seed: int) -> list[int]:
        shape = LinkShape(reorder=0.2, reorder_gap=3)
        async with memory_pair(shape=shape, draws=seeded(seed)) as (ab, ba):
            for i in range(100):
                await ab.send(i.to_bytes(2, "big"))
            await ab.close()
            return await received_until_closed(ba)

    first = await order(5)
    assert sorted(first) == list(range(100))  # nothing lost, the close came last
    assert first != sorted(first)  # but out of order: reordering breaks the memory contract
    assert first == await order(5)
    assert first != await order(6)


async def test_memory_delay_and_jitter_keep_order_and_the_close_comes_last() -> None:
    shape = LinkShape(delay=0.02, jitter=0.01)
    async with memory_pair(shape=shape, draws=seeded(2)) as (ab, ba):
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        for i in range(20):
            await ab.send(i.to_bytes(2, "big"))
        await ab.close()
        assert await received_until_closed(ba) == list(range(20))
        assert loop.time() - sent_at >= 0.02


async def test_memory_link_draws_do_not_depend_on_other_links_traffic() -> None:
    async def survivors(noise: int) -> list[int]:
        async with MemoryNetwork(loss=0.3, draws=seeded(9)) as net:
            a, b, c = net.connector("a"), net.connector("b"), net.connector("c")
            ab, ac = await a.open("b", label="x"), await a.open("c", label="y")
            ba = await recv_accept(b)
            for i in range(60):
                await ab.send(i.to_bytes(2, "big"))
                for _ in range(noise):
                    await ac.send(b"noise")
            await ab.close()
            assert c is not None
            return await received_until_closed(ba)

    quiet = await survivors(0)
    assert quiet == await survivors(3)
    assert 25 < len(quiet) < 55


async def test_memory_network_shape_changes_reach_existing_links() -> None:
    async with MemoryNetwork(draws=seeded(4)) as net:
        a, b = net.connector("a"), net.connector("b")
        ab = await a.open("b", label="x")
        ba = await recv_accept(b)
        net.shape = LinkShape(rate=20_000)  # 1000-byte messages: one per 50 ms
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(4):
            await ab.send(bytes(1000))
        for _ in range(4):
            await recv(ba)
        assert loop.time() - start >= 0.19
        net.delay = 0.0
        net.shape = LinkShape()
        await ab.send(b"fast")
        assert await recv(ba) == b"fast"


async def test_memory_network_rejects_bad_link_settings() -> None:
    async with MemoryNetwork() as net:
        with pytest.raises(ValueError, match="pass draws"):
            net.shape_link("a", "b", LinkShape(loss=0.5))
        with pytest.raises(ValueError, match="sender must be a non-empty node id"):
            net.shape_link("", "b", LinkShape())
        with pytest.raises(TypeError, match="LinkShape, a Shaper or None"):
            net.shape_link("a", "b", 0.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="pass draws"):
            net.loss = 0.5
        net.shape_link("a", "b", Shaper(LinkShape(loss=0.5), draws=stream(0)))  # own draws


# -- real WebRTC -------------------------------------------------------------------------------

MESSAGE = bytes(range(256)) * 64  # 16 KiB: 14 SCTP DATA chunks


async def transfer(ab: Channel, ba: Channel, count: int) -> float:
    """Send ``count`` MESSAGEs a -> b; return the seconds until all arrived intact."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def send() -> None:
        for _ in range(count):
            await ab.send(MESSAGE)

    sender = asyncio.create_task(send())
    try:
        for _ in range(count):
            assert await recv(ba, 20) == MESSAGE
    finally:
        await sender
    return loop.time() - start


async def round_trip(ab: Channel, ba: Channel) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await ab.send(b"ping")
    assert await recv(ba) == b"ping"
    await ba.send(b"pong")
    assert await recv(ab) == b"pong"
    return loop.time() - start


@pytest.mark.parametrize(("loss", "seed"), [(0.1, 0), (0.2, 8)])
async def test_lossy_webrtc_link_delivers_intact_because_sctp_retransmits(
    loss: float, seed: int
) -> None:
    decisions: list[Decision] = []
    shaper = Shaper(LinkShape(loss=loss), draws=stream(seed), on_decision=decisions.append)
    async with webrtc_pair(shaping={("a", "b"): shaper}) as (ab, ba):
        await transfer(ab, ba, 6)
        assert (ba.stats.messages_received, ba.stats.bytes_received) == (6, 6 * len(MESSAGE))
    # Datagrams carrying SCTP DATA (> 1000 bytes) were lost, yet every byte arrived: SCTP
    # retransmitted them over the real socket.
    lost_data = [d for d in decisions if d.fate is Fate.DROP and d.size > 1000]
    assert lost_data
    assert shaper.stats.dropped == sum(d.fate is Fate.DROP for d in decisions)
    assert 0.5 * loss < shaper.stats.dropped / shaper.stats.datagrams < 2 * loss
    assert shaper.stats.datagrams - shaper.stats.dropped > 6 * len(MESSAGE) // 1300


async def test_webrtc_delay_is_seen_in_the_round_trip() -> None:
    async with webrtc_pair() as (ab, ba):
        plain = min([await round_trip(ab, ba) for _ in range(3)])
    shaping = {
        ("a", "b"): Shaper(LinkShape(delay=0.03)),
        ("b", "a"): Shaper(LinkShape(delay=0.02, jitter=0.01), draws=stream(1)),
    }
    async with webrtc_pair(shaping=shaping) as (ab, ba):
        shaped = [await round_trip(ab, ba) for _ in range(3)]
    assert min(shaped) >= 0.05  # 30 ms there, at least 20 ms back
    assert min(shaped) > plain


async def test_the_same_seed_drops_the_same_datagram_indices_over_webrtc() -> None:
    async def dropped(seed: int) -> tuple[set[int], int]:
        decisions: list[Decision] = []
        shaper = Shaper(LinkShape(loss=0.15), draws=stream(seed), on_decision=decisions.append)
        async with webrtc_pair(shaping={("a", "b"): shaper}) as (ab, ba):
            await transfer(ab, ba, 2)
        return {d.index for d in decisions if d.fate is Fate.DROP}, len(decisions)

    (first, n1), (again, n2), (other, n3) = [await dropped(s) for s in (2, 2, 3)]
    common = min(n1, n2, n3)
    assert first and {i for i in first if i < common} == {i for i in again if i < common}
    assert {i for i in first if i < common} != {i for i in other if i < common}


async def test_webrtc_reordering_keeps_the_channel_ordered_and_intact() -> None:
    shaper = Shaper(LinkShape(reorder=0.2, reorder_gap=2), draws=stream(2))
    async with webrtc_pair(shaping={("a", "b"): shaper}) as (ab, ba):
        await transfer(ab, ba, 8)
    assert shaper.stats.held > 10


async def test_webrtc_shaping_changes_at_run_time_on_an_open_link() -> None:
    async with webrtc_connectors("a", "b") as nodes:
        async with asyncio.timeout(20 * unit()):
            ab = await nodes["a"].open("b", label="x")
            ba = await nodes["b"].accept()
        assert nodes["a"].shaper("b") is None
        await round_trip(ab, ba)
        nodes["a"].shape("b", Shaper(LinkShape(delay=0.04)))
        nodes["b"].shape("a", Shaper(LinkShape(delay=0.04)))
        assert await round_trip(ab, ba) >= 0.08
        shaper = nodes["a"].shaper("b")
        assert shaper is not None and shaper.stats.delayed >= 1
        nodes["a"].shape("b", None)
        nodes["b"].shape("a", None)
        seen = shaper.stats.datagrams
        await round_trip(ab, ba)
        assert shaper.stats.datagrams == seen  # unshaped again: nothing went through it
        with pytest.raises(TypeError, match="Shaper or None"):
            nodes["a"].shape("b", LinkShape())  # type: ignore[arg-type]


async def test_webrtc_rate_limits_the_throughput() -> None:
    shaper = Shaper(LinkShape(rate=200_000))
    async with webrtc_pair(shaping={("a", "b"): shaper}) as (ab, ba):
        seconds = await transfer(ab, ba, 4)  # 64 KiB at 200 kB/s: >= 0.3 s
    assert seconds >= 0.3


async def test_closing_with_datagrams_in_flight_leaves_nothing_behind() -> None:
    shaper = Shaper(LinkShape(delay=0.2))
    async with webrtc_pair(shaping={("a", "b"): shaper}) as (ab, _):
        await ab.send(b"still in the shaper")
        await asyncio.sleep(0.01)
        assert shaper.pending > 0
    assert shaper.pending == 0
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == {asyncio.current_task()}


@pytest.mark.parametrize("first", ["a", "both"])
async def test_closing_a_delayed_link_takes_about_the_delay_not_an_rto(first: str) -> None:
    # The close's last datagrams (stream-reset response, ABORT) still sit in the shaper when
    # the channel closes; it drains them before aioice's socket closes, as a wire would.
    loop = asyncio.get_running_loop()
    shaping = {("a", "b"): Shaper(LinkShape(delay=0.03)), ("b", "a"): Shaper(LinkShape(delay=0.03))}
    async with webrtc_pair(shaping=shaping) as (ab, ba):
        await round_trip(ab, ba)
        start = loop.time()
        if first == "a":
            await ab.close()
            with pytest.raises(ChannelClosed):
                await recv(ba)
    assert loop.time() - start < 0.5  # SCTP's RTO (1 s) would be needed otherwise


def test_webrtc_shaping_keys_must_name_the_nodes() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="not between"):
            async with webrtc_connectors("a", "b", shaping={("a", "z"): Shaper(LinkShape())}):
                pass

    asyncio.run(main())


def test_shapes_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        LinkShape().loss = 0.5  # type: ignore[misc]


def test_shaping_a_connection_without_transport_is_refused_quietly() -> None:
    assert shape_datagrams(object(), lambda: None) is False
