"""fragment/Reassembler: round trips around frame boundaries, order checks, bounded memory."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlnc_testbed.coding.packet import CodedPacket
from rlnc_testbed.wire import (
    DEFAULT_MAX_FRAME,
    FRAME_OVERHEAD,
    Done,
    Frame,
    Limits,
    PacketMessage,
    Reassembler,
    SourceChunk,
    WireError,
    fragment,
    packet_message_size,
    parse,
    serialize,
    source_chunks,
)


def reassemble(frames: list[bytes], reassembler: Reassembler | None = None) -> bytes:
    r = Reassembler() if reassembler is None else reassembler
    outputs = [r.feed(frame) for frame in frames]
    assert all(out is None for out in outputs[:-1])
    assert r.pending == 0
    last = outputs[-1]
    assert last is not None
    return last


def test_default_frames_fit_aiortc_max_message_size() -> None:
    assert DEFAULT_MAX_FRAME + FRAME_OVERHEAD == 65536
    frames = fragment(bytes(3 * DEFAULT_MAX_FRAME + 1), stream=0)
    assert [len(f) for f in frames] == [65536, 65536, 65536, FRAME_OVERHEAD + 1]


@pytest.mark.parametrize("max_frame", [1, 7, DEFAULT_MAX_FRAME])
@pytest.mark.parametrize("delta", [-1, 0, 1])
@pytest.mark.parametrize("multiple", [1, 2, 3])
def test_round_trip_around_frame_boundary(max_frame: int, delta: int, multiple: int) -> None:
    size = multiple * max_frame + delta
    message = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    frames = fragment(message, max_frame=max_frame, stream=9)
    assert len(frames) == max(1, -(-size // max_frame))
    parsed = [parse(f) for f in frames]
    assert all(isinstance(p, Frame) and len(p.data) <= max_frame for p in parsed)
    assert [p.index for p in parsed] == list(range(len(frames)))  # type: ignore[union-attr]
    assert [p.last for p in parsed] == [False] * (len(frames) - 1) + [True]  # type: ignore[union-attr]
    assert reassemble(frames) == message


def test_empty_message_is_one_last_frame() -> None:
    frames = fragment(b"", stream=1)
    assert len(frames) == 1 and parse(frames[0]) == Frame(1, 0, True, b"")
    assert reassemble(frames) == b""


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_round_trip_property(message: bytes, max_frame: int, stream: int) -> None:
    r = Reassembler()
    assert reassemble(fragment(message, max_frame=max_frame, stream=stream), r) == message
    assert (
        reassemble(fragment(message[::-1], max_frame=max_frame, stream=stream), r) == message[::-1]
    )


def test_large_packet_message_through_frames() -> None:
    k, size = 32, 200_000
    rng = np.random.default_rng(3)
    packet = CodedPacket(
        rng.integers(0, 256, k, dtype=np.uint8), rng.integers(0, 256, size, dtype=np.uint8)
    )
    msg = PacketMessage(5, 256, packet)
    data = serialize(msg)
    assert len(data) == packet_message_size(k, size)
    frames = fragment(data, stream=2)
    assert len(frames) == 4 and max(len(f) for f in frames) <= 65536
    assert parse(reassemble(frames)) == msg


def test_consecutive_messages_on_one_reassembler() -> None:
    r = Reassembler()
    first, second = serialize(Done(1, 2)), bytes(range(200))
    assert reassemble(fragment(first, max_frame=5, stream=0), r) == first
    assert reassemble(fragment(second, max_frame=64, stream=1), r) == second


def test_out_of_order_and_interleaved_frames_raise_and_reset() -> None:
    frames = fragment(bytes(30), max_frame=10, stream=4)
    r = Reassembler()
    assert r.feed(frames[0]) is None and r.pending == 10
    with pytest.raises(WireError) as info:
        r.feed(frames[2])
    assert (info.value.field, info.value.offset) == ("index", 8)
    assert r.pending == 0
    with pytest.raises(WireError, match="index"):
        r.feed(frames[1])  # after an error a message must start again at index 0
    other = fragment(bytes(30), max_frame=10, stream=5)
    assert r.feed(frames[0]) is None
    with pytest.raises(WireError) as info:
        r.feed(other[1])
    assert (info.value.field, info.value.offset) == ("stream", 4)
    with pytest.raises(WireError, match="index"):
        r.feed(frames[1])  # the stream error dropped the partial message
    assert reassemble(frames) == bytes(30)


def test_reassembler_rejects_non_frames_and_corrupt_frames() -> None:
    r = Reassembler()
    with pytest.raises(WireError) as info:
        r.feed(serialize(Done(1, 1)))
    assert info.value.field == "type"
    bad = bytearray(fragment(b"abc", stream=0)[0])
    bad[-6] ^= 1
    with pytest.raises(WireError, match="checksum"):
        r.feed(bytes(bad))


def test_reassembler_memory_is_bounded_by_max_message() -> None:
    limits = Limits(max_message=100)
    r = Reassembler(limits=limits)
    frames = fragment(bytes(101), max_frame=50, stream=0)
    assert r.feed(frames[0]) is None and r.feed(frames[1]) is None
    with pytest.raises(WireError) as info:
        r.feed(frames[2])
    assert info.value.field == "data" and "max_message" in str(info.value)
    assert r.pending == 0
    assert reassemble(fragment(bytes(100), max_frame=50, stream=1), r) == bytes(100)


def test_fragment_argument_errors() -> None:
    with pytest.raises(ValueError, match="max_frame"):
        fragment(b"x", max_frame=0, stream=0)
    with pytest.raises(ValueError, match="stream"):
        fragment(b"x", stream=-1)
    with pytest.raises(ValueError, match="stream"):
        fragment(b"x", stream=2**32)


def test_source_chunks_cover_the_file() -> None:
    data = bytes(range(256)) * 10 + b"end"
    chunks = source_chunks(data, generation=3, max_chunk=1000)
    assert [len(c.data) for c in chunks] == [1000, 1000, 563]
    assert all(c.sha256 == hashlib.sha256(data).digest() and c.total == len(data) for c in chunks)
    assert b"".join(c.data for c in chunks) == data
    assert [c.offset for c in chunks] == [0, 1000, 2000]
    assert all(parse(serialize(c)) == c for c in chunks)
    assert source_chunks(b"", generation=0, max_chunk=5) == [
        SourceChunk(0, 0, 0, hashlib.sha256(b"").digest(), b"")
    ]
    with pytest.raises(ValueError, match="max_chunk"):
        source_chunks(data, generation=0, max_chunk=0)
