"""The signaling plane interrupted on purpose: a server restart (every connection closed with
code 1012, nothing listening for a while, then the same address again) and one dropped
connection. Clients rejoin their own slots by themselves; only slots the server interrupted
may be rejoined, once; a client that the server does not take back ends with a reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rlnc_testbed.signaling import SignalingClient, SignalingError, SignalingServer
from rlnc_testbed.signaling.client import RECONNECT_UNITS
from rlnc_testbed.timeouts import unit


@pytest.fixture
async def server() -> AsyncIterator[SignalingServer]:
    async with SignalingServer(admit_run_token=False) as srv:
        yield srv


async def join(server: SignalingServer, role: str, slot: str) -> SignalingClient:
    return await SignalingClient.connect(
        server.url, token=server.credential(role, slot), role=role, slot=slot
    )


async def until(predicate, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_clients_rejoin_their_slots_after_a_restart_and_talk_again(server) -> None:
    port = server.port
    peer, collector = await join(server, "peer", "3"), await join(server, "collector", "collector")
    ids = await server.restart(downtime=0.2)
    assert sorted(ids) == ["3", "collector"] and server.port == port
    await until(lambda: sorted(server.clients) == ["3", "collector"])
    assert sorted(server.rejoined) == ["3", "collector"]
    assert (peer.reconnects, collector.reconnects) == (1, 1) and not peer.closed
    await server.send("3", {"type": "fail", "round": 1})  # the new connection carries messages
    assert (await peer.expect("fail"))["round"] == 1
    await peer.send({"type": "error", "reason": "still here"})  # and sends them
    for client in (peer, collector):
        await client.close()


async def test_a_send_during_the_restart_waits_for_the_rejoin(server) -> None:
    peer = await join(server, "peer", "4")
    restart = asyncio.ensure_future(server.restart(downtime=0.3))
    await until(lambda: not server.clients)
    await peer.send({"type": "error", "reason": "sent while the server was away"})
    await restart
    assert peer.reconnects == 1 and server.rejected == {}
    await peer.close()


async def test_only_interrupted_slots_may_be_rejoined_and_only_once(server) -> None:
    left = await join(server, "peer", "5")
    await left.close()  # an ordinary leave (a failed peer): its slot stays used
    dropped = await join(server, "peer", "6")
    dropped._rejoin = None  # this client will not rejoin by itself: the test rejoins for it
    assert await server.drop("6")
    await until(lambda: dropped.closed and not server.clients)
    await dropped.close()
    again = await join(server, "peer", "6")  # its own credential: taken back once
    assert again.id == "6" and server.rejoined == ["6"]
    await again.close()
    await until(lambda: not server.clients)
    for slot in ("5", "6"):
        with pytest.raises(SignalingError, match="taken or used"):
            await join(server, "peer", slot)
    assert server.rejected == {"slot-taken": 2}


async def test_a_client_not_taken_back_ends_with_the_reason(monkeypatch) -> None:
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "0.05")  # a 0.25 s reconnect window
    server = SignalingServer(admit_run_token=False)
    await server.start()
    peer = await join(server, "peer", "2")
    await server.drop("2")
    await server.close()  # and never comes back
    with pytest.raises(SignalingError, match="did not take us back"):
        await peer.recv(timeout=10 * RECONNECT_UNITS * unit())
    assert peer.closed and peer.reconnects == 0
    await peer.close()


async def test_a_close_message_ends_a_client_without_rejoining(server) -> None:
    peer = await join(server, "peer", "7")
    await server.disconnect("7", "trial over")
    assert (await peer.recv(timeout=2.0))["type"] == "close"
    with pytest.raises(SignalingError, match="trial over"):
        await peer.recv(timeout=2.0)
    assert peer.reconnects == 0 and server.rejoined == []
    await peer.close()
