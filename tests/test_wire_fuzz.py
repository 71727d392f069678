"""Hypothesis: every message round-trips; random and mutated bytes only ever raise WireError."""

from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlnc_testbed.coding.packet import CodedPacket
from rlnc_testbed.wire import (
    PURPOSES,
    ROLES,
    Done,
    Hello,
    Limits,
    Message,
    PacketMessage,
    SourceChunk,
    WireError,
    parse,
    serialize,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
u32 = st.integers(0, 2**32 - 1)
#: Small limits, so that fuzzed lengths hit them often.
SMALL = Limits(max_symbols=64, max_symbol_size=512, max_message=4096, max_chunk=256)


@st.composite
def packet_messages(draw: st.DrawFn) -> PacketMessage:
    field = draw(st.sampled_from([2, 256]))
    k = draw(st.integers(1, 40))
    size = draw(st.integers(1, 300))
    coefficients = draw(st.binary(min_size=k, max_size=k))
    coeffs = np.frombuffer(coefficients, np.uint8)
    coeffs = coeffs & 1 if field == 2 else coeffs
    payload = np.frombuffer(draw(st.binary(min_size=size, max_size=size)), np.uint8)
    return PacketMessage(draw(u32), field, CodedPacket(coeffs.copy(), payload.copy()))


names = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "S"]), min_size=1, max_size=16
)
hellos = st.builds(Hello, names, st.sampled_from(ROLES), st.sampled_from(PURPOSES), u32)
dones = st.builds(Done, u32, u32)


@st.composite
def source_chunks(draw: st.DrawFn) -> SourceChunk:
    data = draw(st.binary(max_size=200))
    offset = draw(st.integers(0, 2**40))
    total = offset + len(data) + draw(st.integers(0, 2**40))
    return SourceChunk(draw(u32), offset, total, hashlib.sha256(data).digest(), data)


messages: st.SearchStrategy[Message] = st.one_of(packet_messages(), hellos, dones, source_chunks())


@FUZZ
@given(messages)
def test_round_trip(msg: Message) -> None:
    data = serialize(msg)
    assert parse(data) == msg
    assert parse(bytearray(data)) == msg
    assert parse(memoryview(data)) == msg


def _only_wire_error(data: bytes) -> None:
    for limits in (SMALL, Limits()):
        try:
            msg = parse(data, limits=limits)
        except WireError as exc:
            assert exc.field and str(exc).count(exc.field)
            assert -1 < exc.offset <= len(data)
        else:  # a mutation that still parses must be a valid, re-serializable message
            assert serialize(msg) == bytes(data)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    _only_wire_error(data)


@FUZZ
@given(st.sampled_from([1, 2, 3, 4, 5]), st.binary(max_size=600))
def test_random_bodies_behind_a_valid_header(code: int, body: bytes) -> None:
    head = b"RL\x01" + bytes([code]) + body
    _only_wire_error(head + struct.pack(">I", zlib.crc32(head)))


@FUZZ
@given(messages, st.data())
def test_mutated_messages(msg: Message, data: st.DataObject) -> None:
    raw = bytearray(serialize(msg))
    kind = data.draw(st.sampled_from(["truncate", "flip", "append"]))
    if kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "flip":
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    else:
        raw += data.draw(st.binary(min_size=1, max_size=20))
    try:
        parse(bytes(raw))
    except WireError:
        return
    raise AssertionError(f"{kind} mutation parsed without error")


@FUZZ
@given(messages, st.data())
def test_resealed_mutations_only_raise_wire_error(msg: Message, data: st.DataObject) -> None:
    """Flip bytes of the body and recompute the CRC, so the field checks themselves are fuzzed."""
    raw = bytearray(serialize(msg)[:-4])
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(4, max(4, len(raw) - 1)))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(4, len(raw)))
    head = bytes(raw[:cut])
    _only_wire_error(head + struct.pack(">I", zlib.crc32(head)))
