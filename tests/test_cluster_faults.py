"""Faults end a round with a clear verdict, never a hang; hostile data is counted, not stored."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from rlnc_testbed import wire
from rlnc_testbed.coding import CodedPacket
from rlnc_testbed.experiment.cluster import Cluster, run_trial
from rlnc_testbed.protocol import Params
from rlnc_testbed.roles.collector import Collector
from rlnc_testbed.roles.storage import Newcomer, StoragePeer

THREE = Params(
    scheme="rlnc", seed=1, peers=3, symbols=6, symbol_size=64, parents=2, failures=(2,), rounds=1
)


@pytest.fixture
def fast_timeouts(monkeypatch):
    """Shrink every timeout unit so deadline tests take about a second."""
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "0.1")


class SilentPeer(StoragePeer):
    """A parent that never uploads (a peer that vanished without telling anyone)."""

    async def on_repair(self, msg: dict[str, Any]) -> None:
        return None


class DeafNewcomer(Newcomer):
    """A newcomer that never reports what it stored."""

    async def on_expect(self, msg: dict[str, Any]) -> None:
        return None


class PollutingPeer(StoragePeer):
    """Sends garbage, a packet of the wrong shape and a bad-checksum packet before its real
    packets when collected."""

    async def on_collect(self, msg: dict[str, Any]) -> None:
        channel = await self.connector.open("collector", label="collect")
        hello = wire.Hello(sender=self.id, role="peer", purpose="collect", round=msg["round"])
        await channel.send(wire.serialize(hello))
        await channel.send(b"\x00garbage that is not a wire message")
        wrong = CodedPacket(np.ones(self.p.symbols + 1, np.uint8), np.zeros(8, np.uint8))
        await channel.send(
            wire.serialize(wire.PacketMessage(generation=0, field=self.p.field, packet=wrong))
        )
        good = wire.serialize(self.packet_messages(self.stored[:1])[0])
        await channel.send(good[:-1] + bytes([good[-1] ^ 0xFF]))  # checksum broken
        for message in self.packet_messages(self.stored):
            await channel.send(wire.serialize(message))
        await channel.send(wire.serialize(wire.Done(count=len(self.stored), generation=0)))
        try:
            async with asyncio.timeout(5):
                while True:
                    await channel.recv()
        except Exception:
            pass
        await channel.close()


@pytest.mark.parametrize("transport", ["memory", pytest.param("webrtc", marks=pytest.mark.webrtc)])
async def test_silent_parent_ends_round_with_repair_timeout(fast_timeouts, transport):
    started = time.monotonic()
    record = await run_trial(THREE, 0, transport=transport, roles={"peer": SilentPeer})
    elapsed = time.monotonic() - started
    (rnd,) = record.rounds
    assert rnd.verdict == "repair-timeout" and not rnd.verified and not record.success
    assert elapsed < 10, f"timeout took {elapsed:.1f} s with a 0.1 s unit"


async def test_newcomer_that_never_reports_is_a_repair_timeout(fast_timeouts):
    record = await run_trial(THREE, 0, transport="memory", roles={"newcomer": DeafNewcomer})
    assert [r.verdict for r in record.rounds] == ["repair-timeout"]


async def test_vanished_peer_during_collection_is_a_collect_timeout(fast_timeouts):
    async with Cluster(THREE, 0, transport="memory") as cluster:
        original = cluster.controller.message

        def drop_peer_one_when_collecting(node_id: str, msg: dict[str, Any]) -> None:
            original(node_id, msg)
            if msg["type"] == "stored" and msg["round"] == 1:
                cluster.memory_network.drop("1")  # peer 1 vanishes without a word

        cluster.controller.message = drop_peer_one_when_collecting  # type: ignore[method-assign]
        record = await cluster.run()
    assert [r.verdict for r in record.rounds] == ["collect-timeout"]


async def test_collector_rejects_and_counts_malformed_packets():
    collectors: list[Collector] = []

    class CountingCollector(Collector):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            collectors.append(self)

    record = await run_trial(
        THREE, 0, transport="memory", roles={"peer": PollutingPeer, "collector": CountingCollector}
    )
    # Nothing malformed was stored: the round still decodes and verifies from good packets.
    assert record.success
    (collector,) = collectors
    # Peers 1 and 3 pollute (peer 2 failed; the newcomer is honest): 3 bad messages each.
    assert collector.rejected == 6
    (rnd,) = record.rounds
    assert rnd.collect_packets == 3 * THREE.per_peer


class _NoSignaling:
    """Stands in for a joined signaling client in channel-level tests."""

    id = "1"
    sent: list[dict[str, Any]]

    def __init__(self) -> None:
        self.sent = []

    async def send(self, msg: dict[str, Any]) -> None:
        self.sent.append(msg)


@pytest.mark.parametrize(
    "first",
    [
        b"not a wire message at all",
        wire.serialize(wire.Done(count=0, generation=0)),  # valid, but not a Hello
        wire.serialize(wire.Hello(sender="b", role="engine", purpose="collect", round=0)),
        wire.serialize(wire.Hello(sender="engine", role="engine", purpose="store", round=0)),
    ],
    ids=["garbage", "no-hello", "wrong-purpose", "impersonating-the-engine"],
)
async def test_peer_refuses_a_channel_that_does_not_start_with_a_valid_hello(first):
    from rlnc_testbed.transport.memory import MemoryNetwork, memory_pair

    async with MemoryNetwork() as net, memory_pair() as (ours, theirs):
        peer = StoragePeer(signaling=_NoSignaling(), connector=net.connector("1"))
        peer.params = THREE
        await theirs.send(first)
        async with asyncio.timeout(5):
            await peer._serve_channel(ours)
        assert peer.rejected == 1
        assert peer.stored == []
        assert peer.signaling.sent == []  # nothing reported as stored


class _ScriptedSignaling(_NoSignaling):
    """Hands a node one scripted message, then nothing."""

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__()
        self.message = message
        self.closed = False

    async def expect(self, kind: str, *, timeout: float | None = None) -> dict[str, Any]:
        assert kind == self.message["type"]
        return self.message

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    "message",
    [
        {"type": "params", "params": {"peers": 1}},  # invalid parameter
        {"type": "params", "params": {"colour": "red"}},  # unknown parameter
        {"type": "params", "params": THREE.to_dict()},  # no trial index
    ],
    ids=["invalid", "unknown-key", "no-trial"],
)
async def test_node_stops_cleanly_on_unusable_params(message):
    from rlnc_testbed.transport.memory import MemoryNetwork

    async with MemoryNetwork() as net:
        peer = StoragePeer(signaling=_ScriptedSignaling(message), connector=net.connector("1"))
        async with asyncio.timeout(5):
            await peer.run()
    assert "unusable params" in peer.stop_reason
    assert peer.signaling.closed


@pytest.mark.webrtc
async def test_cluster_factory_fixture_runs_a_trial_with_an_injected_fault(
    cluster_factory, fast_timeouts
):
    """What a user writes: the plugin's fixture, a real WebRTC cluster, a faulty node class."""
    healthy = await cluster_factory(THREE, 0, transport="webrtc")
    assert (await healthy.run()).success
    faulty = await cluster_factory(THREE, 0, transport="webrtc", roles={"peer": SilentPeer})
    record = await faulty.run()
    assert [r.verdict for r in record.rounds] == ["repair-timeout"]
