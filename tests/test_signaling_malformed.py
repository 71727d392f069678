"""Malformed and hostile input to the signaling server, sent over raw aiohttp websockets.

Each case checks what the server promises (error reply with the connection kept, error reply
then close 1008, or close 1009 for oversize), that it is logged and counted, and that the
server still serves a well-behaved client afterwards.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from rlnc_testbed.signaling import SignalingClient, SignalingServer
from rlnc_testbed.timeouts import unit

POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009


@pytest.fixture
async def server() -> AsyncIterator[SignalingServer]:
    async with SignalingServer(max_message=4096) as srv:
        yield srv


@asynccontextmanager
async def raw_ws(server: SignalingServer) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as session, session.ws_connect(server.url) as ws:
        yield ws


async def next_message(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(5 * unit()):
        raw = await ws.receive()
    assert raw.type is aiohttp.WSMsgType.TEXT, raw
    result: dict[str, Any] = json.loads(raw.data)
    return result


async def expect_closed(ws: aiohttp.ClientWebSocketResponse, code: int) -> None:
    async with asyncio.timeout(5 * unit()):
        raw = await ws.receive()
    assert raw.type is aiohttp.WSMsgType.CLOSE, raw
    assert raw.data == code


async def raw_join(ws: aiohttp.ClientWebSocketResponse, server: SignalingServer) -> str:
    await ws.send_json({"type": "join", "token": server.token, "role": "peer"})
    welcome = await next_message(ws)
    assert welcome["type"] == "welcome"
    return str(welcome["id"])


async def still_serving(server: SignalingServer) -> None:
    """A well-behaved pair can join and relay a signal."""
    async with (
        await SignalingClient.connect(server.url, token=server.token, role="peer") as a,
        await SignalingClient.connect(server.url, token=server.token, role="peer") as b,
    ):
        await a.signal(b.id, {"ping": 1})
        assert await b.recv() == {"type": "signal", "from": a.id, "payload": {"ping": 1}}


BEFORE_JOIN: list[tuple[str, str | bytes, str]] = [
    ("not-json", "{oops", "not valid JSON"),
    ("binary", b"\x00\x01", "binary frames"),
    ("before-join", '{"type":"stored","round":1,"count":1,"rank":1}', "before join"),
    ("bad-token", '{"type":"join","token":"wrong","role":"peer"}', "wrong join token"),
    ("missing-field", '{"type":"join","role":"peer"}', "missing field 'token'"),
    ("unknown-type", '{"type":"hello"}', "unknown message type"),
]


@pytest.mark.parametrize(("kind", "frame", "reason"), BEFORE_JOIN, ids=[c[0] for c in BEFORE_JOIN])
async def test_bad_first_message_gets_error_and_close(
    server: SignalingServer,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    frame: str | bytes,
    reason: str,
) -> None:
    async with raw_ws(server) as ws:
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_str(frame)
        error = await next_message(ws)
        assert error["type"] == "error" and reason in error["reason"]
        await expect_closed(ws, POLICY_VIOLATION)
    assert server.rejected == {kind: 1}
    assert f"rejected message from unjoined client 127.0.0.1 ({kind}, closing)" in caplog.text
    assert server.clients == {}
    await still_serving(server)


async def test_join_carrying_from_is_refused(server: SignalingServer) -> None:
    async with raw_ws(server) as ws:
        await ws.send_json({"type": "join", "token": server.token, "role": "peer", "from": "1"})
        assert "must not carry 'from'" in (await next_message(ws))["reason"]
        await expect_closed(ws, POLICY_VIOLATION)
    assert server.rejected == {"spoofed-from": 1}


async def test_controller_role_is_unknown(server: SignalingServer) -> None:
    """There is no "controller" role: a join asking for it is a bad field, then closed."""
    async with raw_ws(server) as ws:
        await ws.send_json({"type": "join", "token": server.token, "role": "controller"})
        error = await next_message(ws)
        assert error["type"] == "error" and "'role'" in error["reason"]
        assert "controller" in error["reason"]
        await expect_closed(ws, POLICY_VIOLATION)
    assert server.rejected == {"bad-field": 1}
    assert server.clients == {}
    await still_serving(server)


KEPT: list[tuple[str, str, str]] = [
    ("not-json", "[1, 2", "not valid JSON"),
    ("not-object", "[1, 2]", "JSON object"),
    ("unknown-type", '{"type":"hello"}', "unknown message type 'hello'"),
    ("missing-field", '{"type":"stored","round":1,"count":2}', "missing field 'rank'"),
    ("bad-field", '{"type":"stored","round":1,"count":"2","rank":2}', "'count'"),
    ("unknown-field", '{"type":"nextRound","round":1,"extra":1}', "unknown field 'extra'"),
    ("wrong-direction", '{"type":"fail","round":1}', "clients may not send 'fail'"),
    ("rejoin", '{"type":"join","token":"x","role":"peer"}', "already joined"),
    ("missing-field", '{"type":"signal","payload":{}}', "missing field 'to'"),
    ("unknown-target", '{"type":"signal","to":"42","payload":{}}', "no client with id '42'"),
]


@pytest.mark.parametrize(("kind", "frame", "reason"), KEPT, ids=[c[0] for c in KEPT])
async def test_bad_message_after_join_gets_error_and_connection_is_kept(
    server: SignalingServer,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    frame: str,
    reason: str,
) -> None:
    async with raw_ws(server) as ws:
        own = await raw_join(ws, server)
        await ws.send_str(frame)
        error = await next_message(ws)
        assert error["type"] == "error" and reason in error["reason"]
        assert f"rejected message from {own} ({kind}, error reply)" in caplog.text
        # Same connection still works: a signal to ourselves comes back stamped.
        await ws.send_json({"type": "signal", "to": own, "payload": {"n": 1}})
        assert await next_message(ws) == {"type": "signal", "from": own, "payload": {"n": 1}}
        assert server.clients == {own: "peer"}
    assert server.rejected == {kind: 1}
    await still_serving(server)


@pytest.mark.parametrize(
    ("kind", "frame"),
    [
        ("spoofed-from", '{"type":"stored","round":1,"count":1,"rank":1,"from":"engine"}'),
        ("spoofed-from", '{"type":"signal","to":"1","payload":{},"from":"2"}'),
        ("binary", b"\xff"),
    ],
)
async def test_spoofing_and_binary_after_join_close_the_connection(
    server: SignalingServer, kind: str, frame: str | bytes
) -> None:
    async with raw_ws(server) as ws:
        assert await raw_join(ws, server) == "1"
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_str(frame)
        assert (await next_message(ws))["type"] == "error"
        await expect_closed(ws, POLICY_VIOLATION)
    assert server.rejected == {kind: 1}
    async with asyncio.timeout(5 * unit()):
        while server.clients:
            await asyncio.sleep(0.01)
    await still_serving(server)


@pytest.mark.parametrize("joined", [False, True])
async def test_oversize_frame_closes_with_1009(
    server: SignalingServer, caplog: pytest.LogCaptureFixture, joined: bool
) -> None:
    async with raw_ws(server) as ws:
        if joined:
            await raw_join(ws, server)
        await ws.send_str(json.dumps({"type": "error", "reason": "x" * 5000}))
        await expect_closed(ws, MESSAGE_TOO_BIG)
    assert server.rejected == {"oversize": 1}
    assert "(oversize)" in caplog.text
    await still_serving(server)


async def test_silent_connection_is_dropped_after_join_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "0.05")  # join timeout: 10 units = 0.5 s
    async with SignalingServer() as srv, raw_ws(srv) as ws:
        async with asyncio.timeout(40 * unit()):
            raw = await ws.receive()
        assert json.loads(raw.data) == {"type": "error", "reason": "no join in time"}
        await expect_closed(ws, POLICY_VIOLATION)
        assert srv.rejected == {"join-timeout": 1}


async def test_second_unique_role_and_malformed_client_do_not_disturb_others(
    server: SignalingServer,
) -> None:
    async with await SignalingClient.connect(
        server.url, token=server.token, role="collector"
    ) as collector:
        async with raw_ws(server) as ws:
            await ws.send_json({"type": "join", "token": server.token, "role": "collector"})
            assert "already connected" in (await next_message(ws))["reason"]
            await expect_closed(ws, POLICY_VIOLATION)
        await server.send("collector", {"type": "collect", "round": 2})
        assert await collector.recv() == {"type": "collect", "round": 2}
        assert server.clients == {"collector": "collector"}


# -- values past the schema: numbers, sizes, nesting, the nested objects of the round control


class Recorder:
    """A handler that keeps every message the server hands on (what reaches the controller)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def on_join(self, id: str, role: str) -> None:
        pass

    async def on_message(self, id: str, msg: dict[str, Any]) -> None:
        self.messages.append(msg)

    async def on_leave(self, id: str) -> None:
        pass


LINK = {
    "local": "1",
    "remote": "5",
    "label": "repair-1",
    "messages_sent": 0,
    "bytes_sent": 0,
    "messages_received": 3,
    "bytes_received": 700,
    "info": {"remote_address": "127.0.0.1", "remote_port": 5000, "accepted": True},
}
GOOD_REPORT = {
    "global_rank": 4,
    "decoded": True,
    "verified": True,
    "verdict": "ok",
    "packets": 8,
    "rejected": 0,
    "error": "",
    "links": [LINK],
    "stored": {"1": "ab" * 32},
    "refused": [{"sender": "9", "round": 1, "reason": "not alive"}],
    "polluted": {},
}


def collected(report: Any) -> str:
    return json.dumps({"type": "collected", "round": 1, "report": report})


def stored_with_links(links: Any) -> str:
    msg = {"type": "stored", "round": 1, "count": 2, "rank": 2, "received": 2, "links": links}
    return json.dumps(msg)


VALUES: list[tuple[str, str, str]] = [
    ("bad-number", '{"type":"stored","round":1,"count":1e400,"rank":1}', "not finite"),
    ("bad-number", '{"type":"stored","round":1,"count":' + "7" * 5000 + ',"rank":1}', "digits"),
    ("bad-number", '{"type":"stored","round":9223372036854775808,"count":1,"rank":1}', "beyond"),
    ("bad-number", collected({"global_rank": 1}).replace("1}", "-1e999}"), "not finite"),
    ("not-json", '{"type":"stored","round":1,"count":Infinity,"rank":1}', "Infinity"),
    ("too-deep", collected({"links": [{"info": {"x": [[1]]}}]}), "deeper than 6"),
    ("too-large", '{"type":"end","round":1,"reason":"' + "x" * 70_000 + '"}', "characters"),
    ("bad-field", '{"type":"end","round":1,"reason":"' + "x" * 5000 + '"}', "at most 4096"),
    ("bad-field", '{"type":"end","round":1,"reason":"\\ud800"}', "lone surrogate"),
    ("bad-field", collected({**GOOD_REPORT, "global_rank": "x"}), "'global_rank' must be an int"),
    ("bad-field", collected({**GOOD_REPORT, "packets": 1.5}), "'packets' must be an integer"),
    ("bad-field", collected({**GOOD_REPORT, "decoded": 1}), "'decoded' must be true or false"),
    ("bad-field", collected({**GOOD_REPORT, "verdict": "OK!"}), "verdict name"),
    ("bad-field", collected({**GOOD_REPORT, "stored": {"1": "xyz"}}), "SHA-256"),
    ("bad-field", collected({**GOOD_REPORT, "polluted": {"1": -1}}), ">= 0"),
    ("bad-field", collected({**GOOD_REPORT, "surprise": 1}), "unknown a report field"),
    ("bad-field", collected({**GOOD_REPORT, "refused": [{"sender": "9"}]}), "'round'"),
    ("bad-field", stored_with_links([{**LINK, "bytes_sent": -1}]), "'bytes_sent' must be >= 0"),
    ("bad-field", stored_with_links([{**LINK, "bytes_sent": "7"}]), "'bytes_sent'"),
    ("bad-field", stored_with_links([{k: v for k, v in LINK.items() if k != "label"}]), "label"),
    ("bad-field", stored_with_links([{**LINK, "info": {"a": {}}}]), "entry 'a' must be a"),
    ("bad-field", stored_with_links([{**LINK, "info": {str(i): i for i in range(33)}}]), "32"),
    ("bad-field", stored_with_links([{**LINK, "extra": 0}]), "unknown a link field 'extra'"),
    ("bad-field", '{"type":"signal","to":"1","payload":{"sdp":["v=0"]}}', "entry 'sdp'"),
]


@pytest.mark.parametrize(
    ("kind", "frame", "reason"), VALUES, ids=[f"{c[0]}-{c[2]}" for c in VALUES]
)
async def test_values_past_the_schema_never_reach_the_controller(
    kind: str, frame: str, reason: str
) -> None:
    """Error reply naming the problem, counted, connection kept, the handler told nothing."""
    recorder = Recorder()
    async with SignalingServer(handler=recorder) as srv, raw_ws(srv) as ws:
        own = await raw_join(ws, srv)
        await ws.send_str(frame)
        error = await next_message(ws)
        assert error["type"] == "error" and reason in error["reason"], error
        assert len(error["reason"]) <= 4096
        await ws.send_json({"type": "signal", "to": own, "payload": {"n": 1}})
        assert await next_message(ws) == {"type": "signal", "from": own, "payload": {"n": 1}}
        assert srv.rejected == {kind: 1}
        assert recorder.messages == []
        assert srv.handler_errors == []


async def test_well_formed_reports_and_links_reach_the_controller() -> None:
    recorder = Recorder()
    async with SignalingServer(handler=recorder) as srv, raw_ws(srv) as ws:
        own = await raw_join(ws, srv)
        await ws.send_str(collected(GOOD_REPORT))
        await ws.send_str(collected({}))
        await ws.send_str(stored_with_links([LINK, {**LINK, "info": {}}]))
        async with asyncio.timeout(5 * unit()):
            while len(recorder.messages) < 3:
                await asyncio.sleep(0.01)
        assert recorder.messages[0]["report"] == GOOD_REPORT
        assert recorder.messages[2]["links"][0] == LINK
        assert all(m["from"] == own for m in recorder.messages)
        assert srv.rejected == {}


async def test_long_unknown_type_gets_a_short_error_not_a_crash() -> None:
    async with SignalingServer() as srv:
        async with raw_ws(srv) as ws:
            await raw_join(ws, srv)
            await ws.send_json({"type": "t" * 60_000})
            error = await next_message(ws)
            assert "unknown message type" in error["reason"] and len(error["reason"]) < 200
        await still_serving(srv)
