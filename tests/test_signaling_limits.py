"""Every limit of the signaling server refuses with its documented reply and close code.

Each test configures a :class:`ServerLimits` small enough to cross quickly, crosses it over a
raw websocket (or raw TCP), checks the error reply, the close code and the count, and that the
server still serves a well-behaved client afterwards. The last tests check the token bucket
itself and that docs/protocol.md's "Limits" table states the constants' values.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rlnc_testbed.signaling import ServerLimits, SignalingClient, SignalingServer
from rlnc_testbed.signaling import server as server_module
from rlnc_testbed.signaling.server import TokenBucket
from rlnc_testbed.timeouts import unit

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
PROTOCOL = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text("utf-8")


@asynccontextmanager
async def raw_ws(
    server: SignalingServer, *, autoping: bool = True
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(server.url, autoping=autoping) as ws,
    ):
        yield ws


async def next_message(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(5 * unit()):
        raw = await ws.receive()
    assert raw.type is aiohttp.WSMsgType.TEXT, raw
    result: dict[str, Any] = json.loads(raw.data)
    return result


async def expect_error_and_close(
    ws: aiohttp.ClientWebSocketResponse, needle: str, code: int = POLICY_VIOLATION
) -> None:
    """Skip what was relayed meanwhile; the error must name the limit, then the close."""
    while (msg := await next_message(ws))["type"] != "error":
        pass
    assert needle in msg["reason"], msg
    async with asyncio.timeout(5 * unit()):
        raw = await ws.receive()
    assert raw.type is aiohttp.WSMsgType.CLOSE, raw
    assert raw.data == code


async def raw_join(ws: aiohttp.ClientWebSocketResponse, server: SignalingServer) -> str:
    await ws.send_json({"type": "join", "token": server.token, "role": "peer"})
    welcome = await next_message(ws)
    assert welcome["type"] == "welcome", welcome
    return str(welcome["id"])


async def still_serving(server: SignalingServer) -> None:
    async with await SignalingClient.connect(server.url, token=server.token, role="peer") as a:
        await a.signal(a.id, {"ping": 1})
        assert (await a.recv())["payload"] == {"ping": 1}


async def wait_for(predicate: Any) -> None:
    async with asyncio.timeout(5 * unit()):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_silent_tcp_connection_is_closed_before_any_http() -> None:
    """Half-open/idle TCP (no HTTP request at all) is closed after the join timeout."""
    limits = ServerLimits(join_timeout_units=0.3)
    async with SignalingServer(limits=limits) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        try:
            async with asyncio.timeout(20 * 0.3 * unit()):
                assert await reader.read() == b""  # EOF: the server closed it
        finally:
            writer.close()
        await still_serving(srv)


async def test_joined_client_that_never_answers_pings_is_closed() -> None:
    limits = ServerLimits(heartbeat_units=0.2)
    async with SignalingServer(limits=limits) as srv, raw_ws(srv, autoping=False) as ws:
        await raw_join(ws, srv)
        assert len(srv.clients) == 1
        # We never read, so the server's pings go unanswered.
        await wait_for(lambda: srv.rejected["heartbeat-timeout"] == 1 and not srv.clients)
        await still_serving(srv)  # a client that answers pings (aiohttp autoping) stays


async def test_client_that_answers_pings_outlives_many_heartbeats() -> None:
    limits = ServerLimits(heartbeat_units=0.1)
    async with (
        SignalingServer(limits=limits) as srv,
        await SignalingClient.connect(srv.url, token=srv.token, role="peer") as peer,
    ):
        await asyncio.sleep(1.0)
        assert srv.clients == {peer.id: "peer"}
        assert srv.rejected == {}


async def test_too_many_unjoined_connections_are_refused_with_1013() -> None:
    limits = ServerLimits(max_unjoined=2)
    async with SignalingServer(limits=limits) as srv:
        async with raw_ws(srv), raw_ws(srv):
            await asyncio.sleep(0.1)  # both are being admitted (waiting for a join)
            async with raw_ws(srv) as third:
                await expect_error_and_close(third, "too many connections", TRY_AGAIN_LATER)
        assert srv.rejected["too-many-unjoined"] == 1
        await wait_for(lambda: srv._unjoined == 0)
        await still_serving(srv)


async def test_joins_per_run_are_bounded() -> None:
    async with SignalingServer(limits=ServerLimits(max_joins=2)) as srv:
        async with (
            await SignalingClient.connect(srv.url, token=srv.token, role="peer"),
            await SignalingClient.connect(srv.url, token=srv.token, role="collector"),
            raw_ws(srv) as ws,
        ):
            await ws.send_json({"type": "join", "token": srv.token, "role": "peer"})
            await expect_error_and_close(ws, "at most 2 joins")
        assert srv.rejected == {"too-many-joins": 1}


async def test_message_rate_limit_closes_a_flooder() -> None:
    limits = ServerLimits(message_rate=1.0, message_burst=5)
    async with SignalingServer(limits=limits) as srv, raw_ws(srv) as ws:
        own = await raw_join(ws, srv)
        for n in range(10):
            await ws.send_json({"type": "signal", "to": own, "payload": {"n": n}})
        await expect_error_and_close(ws, "messages per second")
        assert srv.rejected == {"rate-limited": 1}
        await wait_for(lambda: not srv.clients)
        await still_serving(srv)


async def test_message_rate_refills_over_time() -> None:
    limits = ServerLimits(message_rate=20.0, message_burst=3)
    async with SignalingServer(limits=limits) as srv, raw_ws(srv) as ws:
        own = await raw_join(ws, srv)
        for n in range(9):  # 3 per 0.3 s: never over the budget
            await ws.send_json({"type": "signal", "to": own, "payload": {"n": n}})
            assert (await next_message(ws))["payload"] == {"n": n}
            if n % 3 == 2:
                await asyncio.sleep(0.3)
        assert srv.rejected == {}


async def test_byte_rate_limit_closes_a_flooder() -> None:
    limits = ServerLimits(byte_rate=1.0, byte_burst=2000)
    async with SignalingServer(limits=limits) as srv, raw_ws(srv) as ws:
        own = await raw_join(ws, srv)
        for _ in range(3):
            await ws.send_json({"type": "signal", "to": own, "payload": {"x": "y" * 900}})
        await expect_error_and_close(ws, "bytes per second")
        assert srv.rejected == {"rate-limited": 1}


def offer(conn: str) -> dict[str, Any]:
    return {"conn": conn, "type": "offer", "sdp": "v=0"}


async def test_unanswered_offers_to_one_target_are_bounded() -> None:
    """The reproduction: a token holder flooding the collector with SDP offers."""
    limits = ServerLimits(max_pending_offers=2)
    async with (
        SignalingServer(limits=limits) as srv,
        await SignalingClient.connect(srv.url, token=srv.token, role="collector") as collector,
        raw_ws(srv) as ws,
    ):
        await raw_join(ws, srv)
        for n in range(3):
            await ws.send_json({"type": "signal", "to": "collector", "payload": offer(f"c{n}")})
        await expect_error_and_close(ws, "still unanswered (limit 2)")
        assert srv.rejected == {"too-many-offers": 1}
        assert [(await collector.recv())["payload"]["conn"] for _ in range(2)] == ["c0", "c1"]
        with pytest.raises(TimeoutError):
            await collector.recv(timeout=0.2 * unit())


async def test_answered_offers_do_not_count_but_offers_per_target_are_bounded() -> None:
    limits = ServerLimits(max_pending_offers=1, max_offers_per_target=3)
    async with (
        SignalingServer(limits=limits) as srv,
        await SignalingClient.connect(srv.url, token=srv.token, role="collector") as collector,
        raw_ws(srv) as ws,
    ):
        own = await raw_join(ws, srv)
        for n in range(3):  # each answered before the next: never more than one pending
            await ws.send_json({"type": "signal", "to": "collector", "payload": offer(f"c{n}")})
            assert (await collector.recv())["payload"]["conn"] == f"c{n}"
            await collector.signal(own, {"conn": f"c{n}", "type": "answer", "sdp": "v=0"})
            assert (await next_message(ws))["payload"]["type"] == "answer"
        await ws.send_json({"type": "signal", "to": "collector", "payload": offer("c3")})
        await expect_error_and_close(ws, "more than 3 offers to 'collector'")
        assert srv.rejected == {"too-many-offers": 1}


async def test_unanswered_offers_stop_counting_after_their_timeout() -> None:
    limits = ServerLimits(max_pending_offers=1, offer_timeout_units=0.2)
    async with (
        SignalingServer(limits=limits) as srv,
        await SignalingClient.connect(srv.url, token=srv.token, role="collector") as collector,
        raw_ws(srv) as ws,
    ):
        await raw_join(ws, srv)
        await ws.send_json({"type": "signal", "to": "collector", "payload": offer("c0")})
        await asyncio.sleep(0.3 * unit())
        await ws.send_json({"type": "signal", "to": "collector", "payload": offer("c1")})
        assert [(await collector.recv())["payload"]["conn"] for _ in range(2)] == ["c0", "c1"]
        assert srv.rejected == {}


def test_token_bucket_spends_and_refills() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # +1 token
    assert bucket.take() and not bucket.take()
    now[0] = 100.0  # refills to the burst, no more
    assert bucket.take(3) and not bucket.take(0.5)
    assert not bucket.take(4)  # more than the burst never fits
    with pytest.raises(ValueError, match="> 0"):
        TokenBucket(0, 1, clock=lambda: 0.0)


def test_limits_must_be_positive_numbers() -> None:
    with pytest.raises(ValueError, match="max_unjoined must be a number > 0"):
        ServerLimits(max_unjoined=0)
    with pytest.raises(ValueError, match="message_rate"):
        ServerLimits(message_rate=True)


def test_limits_table_states_the_constants() -> None:
    section = PROTOCOL.split("### Limits", 1)[1].split("\n## ", 1)[0]
    rows = {
        cells[1]: cells[2]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| limit")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    values = " ".join(rows.values())
    for name in re.findall(r"`([A-Z_]+)`", " ".join(rows)):
        value = getattr(server_module, name)
        text = str(int(value)) if float(value).is_integer() else str(value)
        assert text in values, f"docs/protocol.md Limits: {name} = {text} not stated"
    defaults = ServerLimits()
    assert defaults.max_unjoined == server_module.MAX_UNJOINED
    assert f"{defaults.join_timeout_units:g} units" in rows["`JOIN_TIMEOUT_UNITS`"]
    assert f"{defaults.heartbeat_units:g} units" in rows["`HEARTBEAT_UNITS`"]
    assert f"{defaults.message_rate}/s, burst {defaults.message_burst}" in values
    assert f"{defaults.byte_rate}/s, burst {defaults.byte_burst}" in values
    assert f"{defaults.max_pending_offers}, each counted for" in values
    assert f"{server_module.MAX_MESSAGE_BYTES} bytes" in values


def test_every_rejection_kind_is_documented() -> None:
    section = PROTOCOL.split("### Malformed input (server)", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"\[((?:`[a-z-]+`(?:, )?)+)\]", section))
    kinds = {kind for group in documented for kind in re.findall(r"`([a-z-]+)`", group)}
    assert kinds == server_module.REJECTION_KINDS
