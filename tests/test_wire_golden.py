"""Golden byte files pin the wire format: serialize must reproduce them and parse must read them."""

from __future__ import annotations

import importlib.util
import struct
import sys
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from rlnc_testbed.wire import (
    MAGIC,
    VERSION,
    Done,
    PacketMessage,
    packet_message_size,
    parse,
    serialize,
)


def _load_golden() -> ModuleType:
    path = Path(__file__).parent / "golden" / "make_golden.py"
    spec = importlib.util.spec_from_file_location("wire_make_golden", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


golden = _load_golden()
NAMES = sorted(golden.GOLDEN)


def test_every_message_type_and_both_fields_have_a_golden_file() -> None:
    kinds = {type(m).__name__ for m in golden.GOLDEN.values()}
    assert kinds == {"PacketMessage", "Hello", "Done", "SourceChunk"}
    fields = {m.field for m in golden.GOLDEN.values() if isinstance(m, PacketMessage)}
    assert fields == {2, 256}
    gf2 = golden.GOLDEN["wire_packet_gf2"].packet.coefficients
    assert set(np.unique(gf2).tolist()) == {0, 1}


@pytest.mark.parametrize("name", NAMES)
def test_serialize_matches_golden_bytes(name: str) -> None:
    expected = golden.golden_path(name).read_bytes()
    assert serialize(golden.GOLDEN[name]) == expected


@pytest.mark.parametrize("name", NAMES)
def test_parse_golden_bytes(name: str) -> None:
    data = golden.golden_path(name).read_bytes()
    assert data[:2] == MAGIC and data[2] == VERSION
    assert zlib.crc32(data[:-4]) == struct.unpack(">I", data[-4:])[0]
    assert parse(data) == golden.GOLDEN[name]


def test_done_layout_written_by_hand() -> None:
    body = b"RL\x01\x03" + struct.pack(">II", 5, 9)
    assert serialize(Done(5, 9)) == body + struct.pack(">I", zlib.crc32(body))


def test_packet_layout_and_size() -> None:
    msg = golden.GOLDEN["wire_packet_gf256"]
    data = serialize(msg)
    k, size = msg.packet.symbols, msg.packet.symbol_size
    assert len(data) == packet_message_size(k, size)
    assert struct.unpack_from(">IHII", data, 4) == (msg.generation, 256, k, size)
    assert data[18 : 18 + k] == msg.packet.coefficients.tobytes()
    assert data[18 + k : -4] == msg.packet.payload.tobytes()


def test_parsed_arrays_are_writable_copies() -> None:
    data = bytearray(golden.golden_path("wire_packet_gf256").read_bytes())
    msg = parse(data)
    assert isinstance(msg, PacketMessage)
    before = msg.packet.payload.copy()
    data[-5] ^= 0xFF
    assert np.array_equal(msg.packet.payload, before)
    assert msg.packet.payload.dtype == np.uint8 and msg.packet.payload.flags.writeable
    msg.packet.coefficients[0] = 0  # writable, does not raise


@pytest.mark.parametrize(("k", "size"), [(1, 1), (20, 220), (4096, 65536)])
def test_packet_message_size_is_exact(k: int, size: int) -> None:
    from rlnc_testbed.coding.packet import CodedPacket

    packet = CodedPacket(np.zeros(k, np.uint8), np.zeros(size, np.uint8))
    assert len(serialize(PacketMessage(0, 256, packet))) == packet_message_size(k, size)


def test_packet_message_size_rejects_zero() -> None:
    with pytest.raises(ValueError, match="k and symbol_size"):
        packet_message_size(0, 10)
