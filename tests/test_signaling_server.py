"""Signaling server and client over real loopback websockets: joins, relay, broadcast, handler
callbacks, disconnects and clean shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from rlnc_testbed.signaling import (
    SignalingClient,
    SignalingError,
    SignalingServer,
    UnknownClientError,
)
from rlnc_testbed.timeouts import unit


class RecordingHandler:
    """A coordinator double that records every callback in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self.changed = asyncio.Event()

    async def on_join(self, id: str, role: str) -> None:
        self._add(("join", id, role))

    async def on_message(self, id: str, msg: dict[str, Any]) -> None:
        self._add(("message", id, msg))

    async def on_leave(self, id: str) -> None:
        self._add(("leave", id, None))

    def _add(self, event: tuple[str, str, Any]) -> None:
        self.events.append(event)
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5 * unit()):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
async def server(handler: RecordingHandler) -> AsyncIterator[SignalingServer]:
    async with SignalingServer(handler=handler, params={"peers": 3}) as srv:
        yield srv


async def join(server: SignalingServer, role: str) -> SignalingClient:
    return await SignalingClient.connect(server.url, token=server.token, role=role)


async def test_url_port_and_token(server: SignalingServer) -> None:
    assert server.url == f"ws://127.0.0.1:{server.port}/ws"
    assert server.port > 0
    assert len(server.token) >= 16
    other = SignalingServer(token="fixed")
    assert other.token == "fixed"
    with pytest.raises(RuntimeError, match="not started"):
        _ = other.port


async def test_join_assigns_ids_in_order_and_unique_roles(server: SignalingServer) -> None:
    a, b, eng, c, col = [
        await join(server, role) for role in ("peer", "peer", "engine", "newcomer", "collector")
    ]
    try:
        assert (a.id, b.id, eng.id, c.id, col.id) == ("1", "2", "engine", "3", "collector")
        assert a.params == {"peers": 3}
        assert server.clients == {
            "1": "peer",
            "2": "peer",
            "engine": "engine",
            "3": "newcomer",
            "collector": "collector",
        }
        with pytest.raises(SignalingError, match="join refused: a engine is already connected"):
            await join(server, "engine")
        assert server.rejected["duplicate-role"] == 1
        # Ids are never reused: after "2" leaves the next peer is "4".
        await b.close()
        async with asyncio.timeout(5 * unit()):
            while "2" in server.clients:
                await asyncio.sleep(0.01)
        d = await join(server, "peer")
        assert d.id == "4"
        await d.close()
    finally:
        for client in (a, b, eng, c, col):
            await client.close()


async def test_wrong_token_is_refused(server: SignalingServer) -> None:
    with pytest.raises(SignalingError, match="join refused: wrong join token"):
        await SignalingClient.connect(server.url, token="nope", role="peer")
    assert server.rejected["bad-token"] == 1
    assert server.clients == {}
    with pytest.raises(ValueError, match="role must be one of"):
        await SignalingClient.connect(server.url, token=server.token, role="king")
    with pytest.raises(ValueError, match="role must be one of"):
        await SignalingClient.connect(server.url, token=server.token, role="controller")


async def test_connect_to_nothing_is_a_signaling_error(server: SignalingServer) -> None:
    url = server.url
    await server.close()
    with pytest.raises(SignalingError, match="cannot connect"):
        await SignalingClient.connect(url, token="x", role="peer", timeout=2 * unit())


async def test_signal_relay_queue_and_callback(
    server: SignalingServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with await join(server, "peer") as a, await join(server, "peer") as b:
        await a.signal("2", {"sdp": "offer"})
        msg = await b.recv()
        assert msg == {"type": "signal", "from": "1", "payload": {"sdp": "offer"}}
        got: list[tuple[str, dict[str, Any]]] = []
        arrived = asyncio.Event()

        async def on_signal(sender: str, payload: dict[str, Any]) -> None:
            got.append((sender, payload))
            arrived.set()

        a.on_signal = on_signal
        await b.send({"type": "signal", "to": "1", "payload": {"sdp": "answer"}})
        async with asyncio.timeout(5 * unit()):
            await arrived.wait()
        assert got == [("2", {"sdp": "answer"})]
        # Unknown target: error reply, connection kept.
        await a.signal("99", {"x": 1})
        with pytest.raises(SignalingError, match="no client with id '99'"):
            await a.expect("stored")
        assert server.rejected["unknown-target"] == 1
        await a.signal("2", {"still": "alive"})
        assert (await b.recv())["payload"] == {"still": "alive"}
        # A member that left: the same reply with its own reason, and no warning (a race).
        await b.close()
        async with asyncio.timeout(5 * unit()):
            while "2" in server.clients:
                await asyncio.sleep(0.01)
        with caplog.at_level(logging.INFO, logger=server.logger.name):
            await a.signal("2", {"late": "answer"})
            with pytest.raises(SignalingError, match="client '2' has left"):
                await a.expect("stored")
        assert server.rejected["target-left"] == 1 and server.rejected["unknown-target"] == 1
        left = [r for r in caplog.records if "target-left" in r.getMessage()]
        assert [r.levelno for r in left] == [logging.INFO]


async def test_broadcast_new_id_with_roles_and_exclude(server: SignalingServer) -> None:
    clients = [await join(server, r) for r in ("peer", "peer", "collector", "newcomer")]
    try:
        reached = await server.broadcast({"type": "new id", "id": "3", "round": 1}, exclude=["3"])
        assert sorted(reached) == ["1", "2", "collector"]
        for client in clients[:3]:
            assert await client.recv() == {"type": "new id", "id": "3", "round": 1}
        reached = await server.broadcast({"type": "collect", "round": 1}, roles=["peer"])
        assert sorted(reached) == ["1", "2"]
        assert (await clients[0].expect("collect"))["round"] == 1
        with pytest.raises(TimeoutError, match="no message"):
            await clients[2].recv(timeout=0.2 * unit())
    finally:
        for client in clients:
            await client.close()


async def test_server_send_and_expect_keeps_other_messages(server: SignalingServer) -> None:
    async with await join(server, "peer") as a:
        await server.send("1", {"type": "fail", "round": 3})
        await server.send("1", {"type": "repair", "round": 3, "newcomer": "4", "beta": 2})
        repair = await a.expect("repair")
        assert repair == {"type": "repair", "round": 3, "newcomer": "4", "beta": 2}
        assert await a.recv() == {"type": "fail", "round": 3}
        with pytest.raises(UnknownClientError, match="'7'"):
            await server.send("7", {"type": "fail", "round": 1})
        with pytest.raises(ValueError, match="missing field 'round'"):
            await server.send("1", {"type": "fail"})


async def test_handler_sees_join_messages_and_leave(
    server: SignalingServer, handler: RecordingHandler
) -> None:
    a = await join(server, "peer")
    await a.send({"type": "stored", "round": 1, "count": 4, "rank": 4})
    await a.send({"type": "error", "reason": "client-side trouble", "from": "1"})
    await a.close()
    await handler.wait_for(4)
    assert handler.events == [
        ("join", "1", "peer"),
        ("message", "1", {"type": "stored", "round": 1, "count": 4, "rank": 4, "from": "1"}),
        ("message", "1", {"type": "error", "reason": "client-side trouble", "from": "1"}),
        ("leave", "1", None),
    ]
    assert server.clients == {}
    assert server.handler_errors == []


async def test_client_refuses_to_send_spoofed_or_invalid(server: SignalingServer) -> None:
    async with await join(server, "peer") as a:
        with pytest.raises(ValueError, match="'from' must be our id '1'"):
            await a.send({"type": "nextRound", "round": 1, "from": "engine"})
        with pytest.raises(ValueError, match="unknown message type"):
            await a.send({"type": "hello"})
    with pytest.raises(SignalingError, match="closed"):
        await a.send({"type": "nextRound", "round": 1})


async def test_disconnect_tells_client_and_calls_on_leave(
    server: SignalingServer, handler: RecordingHandler
) -> None:
    async with await join(server, "peer") as a:
        assert await server.disconnect("1", "you failed") is True
        assert handler.events[-1] == ("leave", "1", None)
        assert await a.recv() == {"type": "close", "reason": "you failed"}
        with pytest.raises(SignalingError, match="connection closed \\(you failed\\)"):
            await a.recv()
        assert a.closed
        assert await server.disconnect("1", "again") is False


async def test_handler_errors_are_logged_and_serving_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(RecordingHandler):
        async def on_message(self, id: str, msg: dict[str, Any]) -> None:
            raise RuntimeError("coordinator bug")

    async with SignalingServer(handler=Broken()) as srv, await join(srv, "peer") as a:
        await a.send({"type": "nextRound", "round": 1})
        await a.send({"type": "signal", "to": "1", "payload": {"echo": True}})
        assert (await a.recv())["payload"] == {"echo": True}
        assert [str(e) for e in srv.handler_errors] == ["coordinator bug"]
    assert "handler on_message" in caplog.text


async def test_health_endpoint_shows_ids_only_with_the_token(server: SignalingServer) -> None:
    async def health(headers: dict[str, str]) -> Any:
        health_url = f"http://127.0.0.1:{server.port}/health"
        async with (
            aiohttp.ClientSession() as session,
            session.get(health_url, headers=headers) as resp,
        ):
            assert resp.status == 200
            return json.loads(await resp.text())

    async with await join(server, "engine"), await join(server, "peer"):
        anonymous = await health({})
        wrong = await health({"Authorization": "Bearer nope"})
        authorized = await health({"Authorization": f"Bearer {server.token}"})
    assert anonymous == wrong == {"clients": 2}
    assert authorized == {
        "clients": 2,
        "ids": ["engine", "1"],
        "roles": {"engine": "engine", "1": "peer"},
    }


async def test_close_leaves_no_tasks_and_tells_clients() -> None:
    srv = SignalingServer()
    await srv.start()
    clients = [await join(srv, role) for role in ("engine", "peer", "peer")]
    raw_session = aiohttp.ClientSession()
    unjoined = await raw_session.ws_connect(srv.url)  # connected but never joins
    await clients[1].signal("2", {"a": 1})
    await srv.close()
    for client in clients:
        assert await client.expect("close") == {"type": "close", "reason": "server closing"}
        with pytest.raises(SignalingError, match="server closing"):
            await client.recv()
    async with asyncio.timeout(5 * unit()):
        assert (await unjoined.receive()).type is aiohttp.WSMsgType.CLOSE
    await unjoined.close()
    await raw_session.close()
    for client in clients:
        await client.close()
        await client.close()  # idempotent
    await srv.close()  # idempotent
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_coordinator_style_handler_can_talk_back_from_callbacks() -> None:
    """A handler that broadcasts from on_join and disconnects the sender from on_message."""

    class Coordinator:
        def __init__(self) -> None:
            self.server: SignalingServer | None = None
            self.left: list[str] = []

        async def on_join(self, id: str, role: str) -> None:
            assert self.server is not None
            if role == "newcomer":
                await self.server.broadcast({"type": "new id", "id": id, "round": 1}, exclude=[id])

        async def on_message(self, id: str, msg: dict[str, Any]) -> None:
            assert self.server is not None
            if msg["type"] == "end":
                assert await self.server.disconnect(id, f"bye {id}") is True

        async def on_leave(self, id: str) -> None:
            self.left.append(id)

    coordinator = Coordinator()
    async with SignalingServer(handler=coordinator) as srv:
        coordinator.server = srv
        async with await join(srv, "peer") as peer, await join(srv, "collector") as collector:
            async with await join(srv, "newcomer") as newcomer:
                assert newcomer.id == "2"
                assert await peer.expect("new id") == {"type": "new id", "id": "2", "round": 1}
                assert await collector.expect("new id") == {"type": "new id", "id": "2", "round": 1}
            await collector.send({"type": "end", "round": 1, "reason": "done"})
            assert await collector.expect("close") == {"type": "close", "reason": "bye collector"}
            async with asyncio.timeout(5 * unit()):
                while "collector" in srv.clients:
                    await asyncio.sleep(0.01)
            assert srv.clients == {"1": "peer"}
        assert srv.handler_errors == []
    assert sorted(coordinator.left) == ["1", "2", "collector"]
