"""Hypothesis: the signaling message handler fuzzed the way the wire parser is.

Random JSON-ish values, message-shaped objects with hostile field values, random text,
random bytes and mutations of valid messages go into :func:`decode_message` and into a live
server connection. Only :class:`SchemaError` of a documented kind ever comes out (an accepted
message re-encodes to itself); the server answers each refusal with a non-empty ``error``,
counts it under a documented kind, hands its handler only schema-valid messages, stays up and
admits a valid join afterwards; decoding the worst inputs of the size limit stays in bounded
memory. Each test counts its inputs (``user_properties``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tracemalloc
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlnc_testbed.protocol.messages import (
    MAX_MESSAGE_BYTES,
    SCHEMA,
    SCHEMA_ERROR_KINDS,
    SchemaError,
    decode_message,
    encode_message,
    validate_message,
)
from rlnc_testbed.signaling import ServerLimits, SignalingClient, SignalingServer
from rlnc_testbed.signaling.server import REJECTION_KINDS
from rlnc_testbed.timeouts import unit

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIVE = settings(FUZZ, max_examples=150)

FIELDS = sorted(
    {name for spec in SCHEMA.values() for name in (*spec.required, *spec.optional)} | {"from"}
)
hostile_numbers = st.sampled_from(
    [
        *("1e400", "-1e400", "NaN", "Infinity", "-Infinity", "9" * 5000, "-" + "9" * 30),
        *("1E309", str(2**63), str(2**63 - 1), "-0", "0.5", "1e-400", "00", "1.", ".5", "0x10"),
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["\ud800", "\udfff", "x" * 5000, "0" * 64, "ab" * 32, "engine", "1"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


@st.composite
def message_shaped(draw: st.DrawFn) -> str:
    """An object with a real type and real field names whose values are anything."""
    kind = draw(st.sampled_from(sorted(SCHEMA)))
    spec = SCHEMA[kind]
    names = draw(st.lists(st.sampled_from(FIELDS), max_size=4))
    msg: dict[str, Any] = {"type": kind}
    for name in [*spec.required, *names]:
        msg[name] = draw(values)
    text = _dumps(msg)
    if draw(st.booleans()):  # splice a hostile number literal in place of a value
        number = draw(hostile_numbers)
        text = text.replace(": null", ": " + number, 1).replace(": 0", ": " + number, 1)
    return text


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid message text with characters cut, replaced or inserted."""
    text = encode_message(draw(st.sampled_from(VALID)))
    cut = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["truncate", "replace", "insert"]))
    if how == "truncate":
        return text[:cut]
    piece = draw(st.sampled_from(['"', "{", "[", "]", "}", ",", ":", "1e400", "-", "\\", "\x00"]))
    end = cut + 1 if how == "replace" else cut
    return text[:cut] + piece + text[end:]


VALID: list[dict[str, Any]] = [
    {"type": "stored", "round": 1, "count": 4, "rank": 4},
    {"type": "stored", "round": 0, "count": 2, "rank": 2, "received": 2, "links": []},
    {"type": "collected", "round": 1, "report": {"verdict": "ok", "packets": 3}},
    {"type": "nextRound", "round": 2},
    {"type": "end", "round": 2, "reason": "undecodable"},
    {"type": "signal", "to": "1", "payload": {"conn": "c", "type": "offer", "sdp": "v=0"}},
    {"type": "error", "reason": "client trouble"},
]

texts = st.one_of(
    values.map(_dumps),
    message_shaped(),
    mutated(),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace")),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


def only_schema_errors(text: str) -> dict[str, Any] | SchemaError:
    try:
        msg = decode_message(text)
    except SchemaError as exc:
        assert exc.kind in SCHEMA_ERROR_KINDS, exc.kind
        assert str(exc), "a SchemaError must say what is wrong"
        return exc
    assert msg["type"] in SCHEMA
    again = encode_message(msg)  # whatever decodes re-encodes: the relay never raises
    assert decode_message(again) == msg
    return msg


def test_decode_message_only_raises_schema_error(record_property: Any) -> None:
    seen = {"inputs": 0, "accepted": 0}

    @FUZZ
    @given(texts)
    def run(text: str) -> None:
        seen["inputs"] += 1
        if not isinstance(only_schema_errors(text), SchemaError):
            seen["accepted"] += 1

    run()
    record_property("fuzzed_inputs", seen["inputs"])
    assert seen["inputs"] >= 300, seen


def test_validate_message_only_raises_schema_error(record_property: Any) -> None:
    """Python objects straight into the validator (what encode_message sees)."""
    seen = {"inputs": 0}

    @FUZZ
    @given(st.dictionaries(st.sampled_from(["type", *FIELDS]), values, max_size=6))
    def run(obj: dict[str, Any]) -> None:
        seen["inputs"] += 1
        if "type" not in obj or not isinstance(obj["type"], str):
            obj["type"] = "stored"
        try:
            encode_message(validate_message(obj))
        except SchemaError as exc:
            assert exc.kind in SCHEMA_ERROR_KINDS and str(exc)

    run()
    record_property("fuzzed_inputs", seen["inputs"])
    assert seen["inputs"] >= 300


WORST = [
    "[" * MAX_MESSAGE_BYTES,
    '{"type":"params","params":{"x":[' + "0," * (MAX_MESSAGE_BYTES // 2 - 20) + "0]}}",
    '{"type":"params","params":{"x":[' + "{}," * (MAX_MESSAGE_BYTES // 3 - 20) + "{}]}}",
    '{"type":"params","params":{'
    + ",".join(f'"{i}":0' for i in range(MAX_MESSAGE_BYTES // 10))
    + "}}",
    '{"type":"stored","round":' + "9" * (MAX_MESSAGE_BYTES - 50) + ',"count":1,"rank":1}',
    '{"type":"stored","round":1' + "0" * (MAX_MESSAGE_BYTES - 50) + 'e1,"count":1,"rank":1}',
    '{"type":"error","reason":"' + "\\u00e9" * (MAX_MESSAGE_BYTES // 6 - 10) + '"}',
]


@pytest.mark.parametrize("text", WORST, ids=lambda t: t[:32])
def test_worst_inputs_of_the_size_limit_decode_in_bounded_memory(text: str) -> None:
    assert len(text.encode()) <= MAX_MESSAGE_BYTES
    tracemalloc.start()
    try:
        only_schema_errors(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 48 * MAX_MESSAGE_BYTES, f"decoding took {peak} bytes at peak"


class Checking:
    """A handler that asserts it only ever gets schema-valid, re-encodable messages."""

    def __init__(self) -> None:
        self.messages = 0

    async def on_join(self, id: str, role: str) -> None:
        pass

    async def on_message(self, id: str, msg: dict[str, Any]) -> None:
        assert msg["from"] == id
        encode_message(validate_message(dict(msg)))
        self.messages += 1

    async def on_leave(self, id: str) -> None:
        pass


class Connection:
    """One joined raw websocket, re-joined whenever the server closes it."""

    def __init__(self, server: SignalingServer) -> None:
        self.server = server
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.id = ""

    async def joined(self) -> aiohttp.ClientWebSocketResponse:
        if self.ws is None or self.ws.closed:
            if self.session is None:
                self.session = aiohttp.ClientSession()
            self.ws = await self.session.ws_connect(self.server.url)
            await self.ws.send_json({"type": "join", "token": self.server.token, "role": "peer"})
            welcome = json.loads((await self.ws.receive()).data)
            assert welcome["type"] == "welcome", welcome
            self.id = welcome["id"]
        return self.ws

    async def exchange(self, frame: str | bytes) -> list[dict[str, Any]]:
        """Send ``frame`` then a sentinel signal to ourselves; return the replies in between
        (the sentinel excluded), or up to the close."""
        ws = await self.joined()
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_str(frame)
        replies: list[dict[str, Any]] = []
        if not ws.closed:
            sentinel = {"type": "signal", "to": self.id, "payload": {"sentinel": True}}
            with contextlib.suppress(ConnectionError):
                await ws.send_json(sentinel)
        async with asyncio.timeout(10 * unit()):
            while True:
                raw = await ws.receive()
                if raw.type is not aiohttp.WSMsgType.TEXT:  # closed by the server
                    await ws.close()
                    self.ws = None
                    return replies
                msg = json.loads(raw.data)
                if msg.get("payload") == {"sentinel": True}:
                    return replies
                replies.append(msg)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()


def test_live_server_survives_fuzzed_frames(record_property: Any) -> None:
    seen = {"inputs": 0}
    relaxed = ServerLimits(message_rate=1e6, message_burst=10**6, byte_burst=10**9)
    handler = Checking()
    with asyncio.Runner() as runner:
        server = SignalingServer(handler=handler, limits=relaxed)
        runner.run(server.start())
        conn = Connection(server)
        try:

            @LIVE
            @given(st.one_of(texts, st.binary(max_size=100)))
            def run(frame: str | bytes) -> None:
                seen["inputs"] += 1
                if isinstance(frame, str):  # a text frame is UTF-8: no raw lone surrogates
                    frame = frame.encode("utf-8", "replace").decode("utf-8")
                before = sum(server.rejected.values())
                replies = runner.run(conn.exchange(frame))
                for reply in replies:
                    assert reply["type"] in ("error", "signal"), reply
                    if reply["type"] == "error":
                        assert reply["reason"], "an error reply must say what is wrong"
                expected = None if isinstance(frame, bytes) else only_schema_errors(frame)
                if isinstance(expected, SchemaError):
                    assert server.rejected[expected.kind] >= 1
                    assert sum(server.rejected.values()) == before + 1
                    if expected.kind == "oversize":  # aiohttp closes (1009) before reading it
                        assert replies == [] and conn.ws is None
                    else:
                        assert any(r["type"] == "error" for r in replies), (len(frame), replies)
                assert set(server.rejected) <= REJECTION_KINDS, server.rejected
                assert server.handler_errors == []

            run()

            async def valid_join_still_works() -> None:
                async with await SignalingClient.connect(
                    server.url, token=server.token, role="collector"
                ) as client:
                    await client.signal(client.id, {"after": "fuzz"})
                    assert (await client.recv())["payload"] == {"after": "fuzz"}

            runner.run(valid_join_still_works())
        finally:
            runner.run(conn.close())
            runner.run(server.close())
    record_property("fuzzed_inputs", seen["inputs"])
    record_property("rejected", dict(server.rejected))
    assert seen["inputs"] >= 100
    assert server.rejected, "the fuzzer never produced a refused frame"
