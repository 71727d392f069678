"""Each kind of malformed input raises WireError naming the right field and offset."""

from __future__ import annotations

import pickle
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from rlnc_testbed.coding.packet import CodedPacket
from rlnc_testbed.wire import (
    Done,
    Hello,
    Limits,
    PacketMessage,
    SourceChunk,
    WireError,
    parse,
    serialize,
)

SHA = bytes(range(32))


def sealed(code: int, body: bytes, *, version: int = 1, magic: bytes = b"RL") -> bytes:
    head = magic + bytes([version, code]) + body
    return head + struct.pack(">I", zlib.crc32(head))


def packet_body(k: int, size: int, *, field: int = 256, coeffs: bytes | None = None) -> bytes:
    coefficients = bytes([1] * k) if coeffs is None else coeffs
    return struct.pack(">IHII", 7, field, k, size) + coefficients + bytes(size)


def text(value: bytes) -> bytes:
    return bytes([len(value)]) + value


def hello_body(sender: bytes = b"1", role: bytes = b"peer", purpose: bytes = b"store") -> bytes:
    return text(sender) + text(role) + text(purpose) + struct.pack(">I", 2)


def error(data: bytes, limits: Limits | None = None) -> WireError:
    with pytest.raises(WireError) as info:
        parse(data) if limits is None else parse(data, limits=limits)
    exc = info.value
    assert exc.field in str(exc) and f"offset {exc.offset}" in str(exc)
    return exc


def test_sanity_of_the_hand_built_bodies() -> None:
    assert parse(sealed(1, packet_body(3, 5))) == PacketMessage(
        7, 256, CodedPacket(np.ones(3, np.uint8), np.zeros(5, np.uint8))
    )
    assert parse(sealed(2, hello_body())) == Hello("1", "peer", "store", 2)


@pytest.mark.parametrize(
    ("data", "field", "offset"),
    [
        (b"", "header", 0),
        (b"RL\x01\x03\x00\x00\x00", "header", 7),
        (sealed(3, bytes(8), magic=b"XY"), "magic", 0),
        (sealed(3, bytes(8), version=2), "version", 2),
        (sealed(3, bytes(8), version=0), "version", 2),
        (sealed(0, bytes(8)), "type", 3),
        (sealed(5, bytes(8)), "type", 3),
        (sealed(6, bytes(8)), "type", 3),
        (sealed(255, bytes(8)), "type", 3),
    ],
    ids=["empty", "short", "magic", "version2", "version0", "type0", "type5", "type6", "type255"],
)
def test_header_problems(data: bytes, field: str, offset: int) -> None:
    exc = error(data)
    assert (exc.field, exc.offset) == (field, offset)


def test_type_code_5_is_an_unknown_type() -> None:
    """Code 5 (once a Frame) is refused even with a well-formed body of the old layout."""
    body = struct.pack(">IIBI", 42, 3, 1, 2) + b"ab"
    exc = error(sealed(5, body))
    assert (exc.field, exc.offset) == ("type", 3)
    assert "unknown message type 5" in str(exc)


def test_bad_checksum_and_raw_truncation_and_raw_append() -> None:
    good = serialize(Done(1, 2))
    assert error(good[:-1] + bytes([good[-1] ^ 1])).field == "checksum"
    assert error(good[:-1]).field == "checksum"
    assert error(good + b"\x00").field == "checksum"
    flipped = bytearray(good)
    flipped[6] ^= 0x40
    exc = error(bytes(flipped))
    assert (exc.field, exc.offset) == ("checksum", len(good) - 4)


def test_message_longer_than_max_message() -> None:
    data = sealed(1, packet_body(10, 100))
    exc = error(data, Limits(max_message=len(data) - 1))
    assert (exc.field, exc.offset) == ("length", 0)
    assert parse(data, limits=Limits(max_message=len(data))) is not None


@pytest.mark.parametrize(
    ("body", "field", "offset"),
    [
        (packet_body(3, 5)[:2], "generation", 4),
        (packet_body(3, 5)[:5], "field", 8),
        (packet_body(3, 5)[:13], "symbol_size", 14),
        (packet_body(3, 5)[:15], "coefficients", 18),
        (packet_body(3, 5)[:20], "payload", 21),
        (struct.pack(">IHII", 7, 256, 4, 5) + bytes(8), "payload", 22),  # k too large
        (struct.pack(">IHII", 7, 256, 2, 5) + bytes(8), "trailing", 25),  # k too small
        (packet_body(3, 5) + b"\x00", "trailing", 26),
        (packet_body(4097, 1), "symbols", 10),
        (packet_body(0, 5), "symbols", 10),
        (packet_body(3, 0), "symbol_size", 14),
        (packet_body(3, 5, field=3), "field", 8),
        (packet_body(3, 5, field=0), "field", 8),
        (packet_body(3, 5, field=2, coeffs=b"\x01\x02\x00"), "coefficients", 18),
    ],
)
def test_packet_problems(body: bytes, field: str, offset: int) -> None:
    exc = error(sealed(1, body))
    assert (exc.field, exc.offset) == (field, offset)


def test_packet_sizes_against_limits() -> None:
    limits = Limits(max_symbols=8, max_symbol_size=16)
    assert error(sealed(1, packet_body(9, 4)), limits).field == "symbols"
    assert error(sealed(1, packet_body(8, 17)), limits).field == "symbol_size"
    assert isinstance(parse(sealed(1, packet_body(8, 16)), limits=limits), PacketMessage)


@pytest.mark.parametrize(
    ("body", "field", "offset"),
    [
        (hello_body(sender=b"\xff\xfe"), "sender", 5),
        (hello_body(sender=b"a\xc3"), "sender", 6),
        (hello_body(role=b"\x80"), "role", 7),
        (hello_body(sender=b""), "sender", 4),
        (hello_body(sender=b"a b\n"), "sender", 4),
        (hello_body(sender=b" 1"), "sender", 4),
        (hello_body(role=b"boss"), "role", 6),
        (hello_body(role=b"Peer"), "role", 6),
        (hello_body(purpose=b"steal"), "purpose", 11),
        (hello_body()[:-1], "round", 17),
        (hello_body()[:3], "role", 7),
        (text(b"1") + b"\x09peer", "role", 7),
        (hello_body() + b"xx", "trailing", 21),
    ],
)
def test_hello_problems(body: bytes, field: str, offset: int) -> None:
    exc = error(sealed(2, body))
    assert (exc.field, exc.offset) == (field, offset)


def chunk_body(offset: int, total: int, data: bytes, declared: int | None = None) -> bytes:
    size = len(data) if declared is None else declared
    return struct.pack(">IQQ32sI", 1, offset, total, SHA, size) + data


@pytest.mark.parametrize(
    ("body", "field", "offset"),
    [
        (chunk_body(10, 12, b"abc"), "data", 56),
        (chunk_body(0, 3, b"abc", declared=4), "data", 60),
        (chunk_body(0, 3, b"abc", declared=2), "trailing", 62),
        (chunk_body(0, 3, b"abc")[:40], "sha256", 24),
        (chunk_body(0, 3, b"abc")[:10], "offset", 8),
        (chunk_body(0, 2**21, b"", declared=2**20 + 1), "data", 56),
    ],
)
def test_source_chunk_problems(body: bytes, field: str, offset: int) -> None:
    exc = error(sealed(4, body))
    assert (exc.field, exc.offset) == (field, offset)


def test_source_chunk_max_chunk() -> None:
    data = sealed(4, chunk_body(0, 100, bytes(65)))
    assert error(data, Limits(max_chunk=64)).field == "data"
    assert isinstance(parse(data, limits=Limits(max_chunk=65)), SourceChunk)


def test_done_problems() -> None:
    assert error(sealed(3, bytes(7))).field == "generation"
    assert error(sealed(3, bytes(9))).field == "trailing"


def test_declared_lengths_are_checked_before_allocating() -> None:
    huge = Limits(
        max_symbols=2**32 - 1,
        max_symbol_size=2**32 - 1,
        max_message=2**40,
        max_chunk=2**32 - 1,
    )
    lies = [
        sealed(1, struct.pack(">IHII", 0, 256, 2**32 - 1, 2**32 - 1) + bytes(10)),
        sealed(4, struct.pack(">IQQ32sI", 0, 0, 2**64 - 1, SHA, 2**32 - 1)),
    ]
    tracemalloc.start()
    try:
        for data in lies:
            with pytest.raises(WireError, match="needs"):
                parse(data, limits=huge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_construction_validates_values() -> None:
    ones = CodedPacket(np.array([0, 1, 2], np.uint8), np.zeros(4, np.uint8))
    cases = [
        (lambda: PacketMessage(0, 2, ones), "coefficients"),
        (lambda: PacketMessage(0, 16, ones), "field"),
        (lambda: PacketMessage(-1, 256, ones), "generation"),
        (lambda: Hello("1", "peer", "stor", 0), "purpose"),
        (lambda: Hello("x" * 65, "peer", "store", 0), "sender"),
        (lambda: Hello("1", "peer", "store", 2**32), "round"),
        (lambda: Done(-1, 0), "count"),
        (lambda: SourceChunk(0, 0, 2, SHA, b"abc"), "data"),
        (lambda: SourceChunk(0, 0, 3, SHA[:31], b"abc"), "sha256"),
    ]
    for build, field in cases:
        with pytest.raises(WireError) as info:
            build()
        assert (info.value.field, info.value.offset) == (field, -1)
        assert field in str(info.value)


def test_construction_rejects_wrong_types() -> None:
    with pytest.raises(TypeError, match="payload"):
        PacketMessage(0, 256, CodedPacket(np.ones(2, np.uint8), np.zeros(2, np.int64)))
    with pytest.raises(TypeError, match="data"):
        SourceChunk(0, 0, 1, SHA, bytearray(b"x"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="count"):
        Done(True, 0)
    with pytest.raises(TypeError, match="cannot serialize"):
        serialize("hello")  # type: ignore[arg-type]
    assert Done(np.int64(3), np.uint32(4)) == Done(3, 4)  # numpy ints are normalised


def test_limits_validate() -> None:
    with pytest.raises(ValueError, match="max_chunk"):
        Limits(max_chunk=0)
    with pytest.raises(ValueError, match="max_symbols"):
        Limits(max_symbols=True)


def test_wire_error_pickles() -> None:
    exc = WireError("payload", 12, "needs 4 bytes")
    back = pickle.loads(pickle.dumps(exc))
    assert (back.field, back.offset, str(back)) == ("payload", 12, str(exc))
