"""Generate ``field.json`` and ``wire.json``: vectors the JavaScript peer is checked against.

Run ``python tests/vectors/make_js_vectors.py`` after a deliberate change of the field
arithmetic or the wire format; ``tests/test_js_vectors.py`` fails while the files and the Python
implementation disagree, and runs the JS tests (``node --test tests/js/``) that read them.
Everything here comes from the Python implementation (``rlnc_testbed.coding``,
``rlnc_testbed.wire``): the JS side (``rlnc_testbed/web/``) is written from docs/protocol.md
and must agree with it byte for byte - including wire.py's error messages.

Conventions: byte strings are lowercase hex; u64 values are decimal strings (exact in any JSON
reader); wire ``Limits`` are written with the JS names (``maxSymbols``, ...). The draws have
their own vectors (``draws.json``, ``make_vectors.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from rlnc_testbed.coding import GF256_INV, GF256_MUL, CodedPacket, matmul, rank  # noqa: E402
from rlnc_testbed.coding.linalg import payload_product  # noqa: E402
from rlnc_testbed.protocol.draws import DrawStream, Role, stream_for  # noqa: E402
from rlnc_testbed.wire import (  # noqa: E402
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

__all__ = ["build_field", "build_wire", "main", "rendered"]

#: Random matrices come from the project's own specified stream (stable by its contract,
#: unlike numpy's Generator methods); damaged messages from Python's random.Random.
_FIELD_SEED = 20260510
_WIRE_SEED = 4242
_MUTATIONS_PER_MESSAGE = 24


def _golden() -> dict[str, Message]:
    """The golden messages of ``tests/golden/make_golden.py`` (loaded by path: not a package)."""
    path = HERE.parent / "golden" / "make_golden.py"
    spec = importlib.util.spec_from_file_location("_make_golden", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    golden: dict[str, Message] = module.GOLDEN
    return golden


# -- field ---------------------------------------------------------------------------------


def _product(
    rng: DrawStream,
    field: int,
    rows: int,
    inner: int,
    length: int,
    *,
    binary_vectors: bool = False,
) -> dict[str, Any]:
    matrix = rng.elements(field, (rows, inner))
    top = 2 if binary_vectors else 256
    vectors = rng.elements(top, (inner, length))
    product = payload_product(matrix, vectors, field)
    if binary_vectors or field == 256:  # the public matmul agrees (it refuses GF(2) bytes > 1)
        assert np.array_equal(product, matmul(matrix, vectors, field))
    return {
        "field": field,
        "rows": rows,
        "inner": inner,
        "length": length,
        "matrix": matrix.tobytes().hex(),
        "vectors": [row.tobytes().hex() for row in vectors],
        "product": [row.tobytes().hex() for row in product],
    }


def _rank_case(
    rng: DrawStream, field: int, rows: int, cols: int, target: int | None
) -> dict[str, Any]:
    """A random rows x cols matrix; of rank at most ``target`` (a product) when given."""
    if target is None:
        matrix = rng.elements(field, (rows, cols))
    else:
        left = rng.elements(field, (rows, target))
        right = rng.elements(field, (target, cols))
        matrix = matmul(left, right, field) if target else np.zeros((rows, cols), np.uint8)
    return {
        "field": field,
        "rows": [row.tobytes().hex() for row in matrix],
        "rank": rank(matrix, field),
    }


def build_field() -> dict[str, Any]:
    """The field vectors: the whole GF(2^8) table, inverses, products and ranks."""
    rng = stream_for(_FIELD_SEED, 0, 0, Role.SOURCE)
    products = [
        _product(rng, 256, 1, 1, 1),
        _product(rng, 256, 3, 4, 5),
        _product(rng, 256, 4, 3, 3),
        _product(rng, 256, 7, 5, 67),
        _product(rng, 256, 20, 20, 220),
        _product(rng, 2, 3, 4, 5),
        _product(rng, 2, 5, 6, 70),
        _product(rng, 2, 20, 20, 220),
        _product(rng, 2, 6, 8, 8, binary_vectors=True),
    ]
    ranks = [
        _rank_case(rng, 256, 5, 5, None),
        _rank_case(rng, 256, 8, 4, None),
        _rank_case(rng, 256, 4, 9, None),
        _rank_case(rng, 256, 20, 20, 13),
        _rank_case(rng, 256, 6, 6, 0),
        _rank_case(rng, 256, 12, 7, 3),
        _rank_case(rng, 2, 6, 6, None),
        _rank_case(rng, 2, 20, 20, None),
        _rank_case(rng, 2, 16, 10, 4),
        _rank_case(rng, 2, 3, 8, 1),
    ]
    duplicate = rng.elements(256, (3, 6))
    duplicated = np.concatenate([duplicate, duplicate[:1], duplicate[1:2] ^ 0])
    ranks.append(
        {
            "field": 256,
            "rows": [r.tobytes().hex() for r in duplicated],
            "rank": rank(duplicated, 256),
        }
    )
    return {
        "about": "GF(2^8) (0x11d, generator 2) and GF(2) vectors from rlnc_testbed.coding for "
        "the JS peer (rlnc_testbed/web/gf.js). Regenerate with tests/vectors/make_js_vectors.py.",
        "mul": [bytes(GF256_MUL[a]).hex() for a in range(256)],
        "inv": [None] + [int(GF256_INV[a]) for a in range(1, 256)],
        "products": products,
        "ranks": ranks,
    }


# -- wire ----------------------------------------------------------------------------------


def _message_json(msg: Message) -> dict[str, Any]:
    """A message in the JS shape (``rlnc_testbed/web/wire.js`` ``parse`` results)."""
    if isinstance(msg, PacketMessage):
        return {
            "type": "packet",
            "generation": msg.generation,
            "field": msg.field,
            "k": msg.packet.symbols,
            "symbolSize": msg.packet.symbol_size,
            "coefficients": msg.packet.coefficients.tobytes().hex(),
            "payload": msg.packet.payload.tobytes().hex(),
        }
    if isinstance(msg, Hello):
        return {
            "type": "hello",
            "sender": msg.sender,
            "role": msg.role,
            "purpose": msg.purpose,
            "round": msg.round,
        }
    if isinstance(msg, Done):
        return {"type": "done", "count": msg.count, "generation": msg.generation}
    return {
        "type": "source-chunk",
        "generation": msg.generation,
        "offset": str(msg.offset),
        "total": str(msg.total),
        "sha256": msg.sha256.hex(),
        "data": msg.data.hex(),
    }


_JS_LIMITS = {
    "max_symbols": "maxSymbols",
    "max_symbol_size": "maxSymbolSize",
    "max_message": "maxMessage",
    "max_chunk": "maxChunk",
}


def _outcome(data: bytes, limits: Limits | None = None) -> dict[str, Any]:
    """What Python's parse makes of ``data``: the message, or the error."""
    out: dict[str, Any] = {"hex": data.hex()}
    if limits is not None:
        out["limits"] = {js: getattr(limits, py) for py, js in _JS_LIMITS.items()}
    try:
        out["message"] = _message_json(
            parse(data) if limits is None else parse(data, limits=limits)
        )
    except WireError as exc:
        out["error"] = {"field": exc.field, "offset": exc.offset, "message": str(exc)}
    return out


def _sealed(code: int, body: bytes, *, version: int = 1, magic: bytes = b"RL") -> bytes:
    head = magic + bytes([version, code]) + body
    return head + struct.pack(">I", zlib.crc32(head))


def _reseal(data: bytes) -> bytes:
    """``data`` with its last four bytes replaced by the CRC32 of the rest."""
    head = data[:-4]
    return head + struct.pack(">I", zlib.crc32(head))


def _packet_body(k: int, size: int, *, field: int = 256, coeffs: bytes | None = None) -> bytes:
    coefficients = bytes([1] * k) if coeffs is None else coeffs
    return struct.pack(">IHII", 7, field, k, size) + coefficients + bytes(size)


def _text(value: bytes) -> bytes:
    return bytes([len(value)]) + value


def _hello_body(sender: bytes = b"1", role: bytes = b"peer", purpose: bytes = b"store") -> bytes:
    return _text(sender) + _text(role) + _text(purpose) + struct.pack(">I", 2)


_SHA = bytes(range(32))


def _chunk_body(offset: int, total: int, data: bytes, declared: int | None = None) -> bytes:
    size = len(data) if declared is None else declared
    return struct.pack(">IQQ32sI", 1, offset, total, _SHA, size) + data


def _packet(field: int, coefficients: list[int], payload: bytes, generation: int = 3) -> Message:
    return PacketMessage(
        generation,
        field,
        CodedPacket(np.array(coefficients, np.uint8), np.frombuffer(payload, np.uint8).copy()),
    )


def _valid_messages() -> list[Message]:
    source = b"the quick brown fox"
    return [
        _packet(256, [1, 2, 3], b"\x00\xff\x10\x20\x30"),
        _packet(2, [1, 0, 1, 1], b"abcdefgh", generation=2**32 - 1),
        _packet(256, [0], b"\x00"),
        Hello("1", "peer", "store", 0),
        Hello("engine", "engine", "store", 0),
        Hello("collector", "collector", "collect", 2**32 - 1),
        Hello("3", "peer", "collect", 7),
        Hello("14", "newcomer", "provenance", 4),
        Hello("caf\u00e9", "peer", "repair", 1),
        Hello("\u8282\u70b9 7", "peer", "repair", 1),
        Hello("\U0001f600", "peer", "repair", 1),
        Hello("x" * 64, "peer", "store", 1),
        Done(0, 0),
        Done(2**32 - 1, 12),
        SourceChunk(0, 0, 0, hashlib.sha256(b"").digest(), b""),
        SourceChunk(2, 4, len(source), hashlib.sha256(source).digest(), source[4:9]),
        SourceChunk(1, 2**60, 2**64 - 1, _SHA, b"\x01\x02"),
    ]


def _malformed() -> list[tuple[bytes, Limits | None]]:
    """Hand-made refusals: one or more per check of docs/protocol.md §4 "WireError"."""
    small = Limits(max_symbols=8, max_symbol_size=16, max_chunk=64)
    packet = _sealed(1, _packet_body(10, 100))
    cases: list[tuple[bytes, Limits | None]] = [
        (b"", None),
        (b"RL\x01\x03\x00\x00\x00", None),
        (_sealed(3, bytes(8), magic=b"XY"), None),
        (_sealed(3, bytes(8), magic=b"'\x00"), None),
        (_sealed(3, bytes(8), magic=b'\\"'), None),
        (_sealed(3, bytes(8), version=2), None),
        (_sealed(3, bytes(8), version=0), None),
        (_sealed(0, bytes(8)), None),
        (_sealed(5, bytes(8)), None),
        (_sealed(255, bytes(8)), None),
        (serialize(Done(1, 2))[:-1], None),
        (serialize(Done(1, 2)) + b"\x00", None),
        (packet, Limits(max_message=len(packet) - 1)),
        (packet, Limits(max_message=len(packet))),
        (_sealed(1, _packet_body(3, 5)[:2]), None),
        (_sealed(1, _packet_body(3, 5)[:5]), None),
        (_sealed(1, _packet_body(3, 5)[:13]), None),
        (_sealed(1, _packet_body(3, 5)[:15]), None),
        (_sealed(1, _packet_body(3, 5)[:20]), None),
        (_sealed(1, struct.pack(">IHII", 7, 256, 4, 5) + bytes(8)), None),
        (_sealed(1, struct.pack(">IHII", 7, 256, 2, 5) + bytes(8)), None),
        (_sealed(1, _packet_body(3, 5) + b"\x00"), None),
        (_sealed(1, _packet_body(4097, 1)), None),
        (_sealed(1, _packet_body(0, 5)), None),
        (_sealed(1, _packet_body(3, 0)), None),
        (_sealed(1, _packet_body(0, 0)), None),
        (_sealed(1, _packet_body(3, 5, field=3)), None),
        (_sealed(1, _packet_body(3, 5, field=0)), None),
        (_sealed(1, _packet_body(3, 5, field=2, coeffs=b"\x01\x02\x00")), None),
        (_sealed(1, _packet_body(3, 5, field=3, coeffs=b"\x01\x02\x00")), None),
        (
            _sealed(1, struct.pack(">IHII", 0, 256, 2**32 - 1, 2**32 - 1) + bytes(10)),
            Limits(max_symbols=2**32 - 1, max_symbol_size=2**32 - 1, max_message=2**40),
        ),
        (_sealed(1, _packet_body(9, 4)), small),
        (_sealed(1, _packet_body(8, 17)), small),
        (_sealed(1, _packet_body(8, 16)), small),
        (_sealed(2, _hello_body(sender=b"\xff\xfe")), None),
        (_sealed(2, _hello_body(sender=b"a\xc3")), None),
        (_sealed(2, _hello_body(role=b"\x80")), None),
        (_sealed(2, _hello_body(sender=b"ab\xc0\xafcd")), None),  # overlong "/"
        (_sealed(2, _hello_body(sender=b"a\xed\xa0\x80")), None),  # a UTF-16 surrogate
        (_sealed(2, _hello_body(sender=b"a\xf4\x90\x80\x80")), None),  # above U+10FFFF
        (_sealed(2, _hello_body(sender=b"a\xe0\x9f\xbf")), None),  # overlong 3-byte
        (_sealed(2, _hello_body(sender=b"a\xf0\x8f\xbf\xbf")), None),  # overlong 4-byte
        (_sealed(2, _hello_body(sender=b"ok\xe2\x82")), None),  # truncated 3-byte
        (_sealed(2, _hello_body(sender=b"x\xe2\x28\xa1")), None),  # bad continuation
        (_sealed(2, _hello_body(sender=b"\xf5\x80\x80\x80")), None),
        (_sealed(2, _hello_body(sender=b"\xef\xbb\xbfid")), None),  # a BOM is kept, unprintable
        (_sealed(2, _hello_body(sender=b"")), None),
        (_sealed(2, _hello_body(sender=b"a b\n")), None),
        (_sealed(2, _hello_body(sender=b" 1")), None),
        (_sealed(2, _hello_body(sender=b"1 ")), None),
        (_sealed(2, _hello_body(sender=b"it's")), None),
        (_sealed(2, _hello_body(sender=b'say "it\'s"')), None),
        (_sealed(2, _hello_body(sender=b"tab\there")), None),
        (_sealed(2, _hello_body(sender=b"del\x7f\\")), None),
        (_sealed(2, _hello_body(sender="nb\u00a0sp".encode())), None),
        (_sealed(2, _hello_body(sender="zw\u200bsp".encode())), None),
        (_sealed(2, _hello_body(sender="ls\u2028".encode())), None),
        (_sealed(2, _hello_body(sender="pua\U000f0000".encode())), None),
        (_sealed(2, _hello_body(sender=b"y" * 65)), None),
        (_sealed(2, _hello_body(sender=b"z" * 255)), None),
        (_sealed(2, _hello_body(role=b"boss")), None),
        (_sealed(2, _hello_body(role=b"Peer")), None),
        (_sealed(2, _hello_body(role=b"peer\n")), None),
        (_sealed(2, _hello_body(purpose=b"steal")), None),
        (_sealed(2, _hello_body(purpose=b"")), None),
        (_sealed(2, _hello_body()[:-1]), None),
        (_sealed(2, _hello_body()[:3]), None),
        (_sealed(2, _text(b"1") + b"\x09peer"), None),
        (_sealed(2, _hello_body() + b"xx"), None),
        (_sealed(4, _chunk_body(10, 12, b"abc")), None),
        (_sealed(4, _chunk_body(0, 3, b"abc", declared=4)), None),
        (_sealed(4, _chunk_body(0, 3, b"abc", declared=2)), None),
        (_sealed(4, _chunk_body(0, 3, b"abc")[:40]), None),
        (_sealed(4, _chunk_body(0, 3, b"abc")[:10]), None),
        (_sealed(4, _chunk_body(0, 2**21, b"", declared=2**20 + 1)), None),
        (_sealed(4, _chunk_body(2**64 - 2, 2**64 - 1, b"ab")), None),
        (_sealed(4, _chunk_body(0, 100, bytes(65))), small),
        (_sealed(4, _chunk_body(0, 100, bytes(64))), small),
        (_sealed(3, bytes(7)), None),
        (_sealed(3, bytes(9)), None),
    ]
    return cases


def _mutations(rng: random.Random, base: bytes) -> list[bytes]:
    """Deterministic damage to one valid message, mostly resealed so the CRC passes."""
    out = []
    for _ in range(_MUTATIONS_PER_MESSAGE):
        data = bytearray(base)
        body_end = len(data) - 4
        op = rng.randrange(6)
        if op == 0:  # flip one bit of the header or body
            at = rng.randrange(body_end)
            data[at] ^= 1 << rng.randrange(8)
        elif op == 1:  # any byte of the body to any value
            at = rng.randrange(4, body_end) if body_end > 4 else 3
            data[at] = rng.randrange(256)
        elif op == 2:  # cut the body short
            data = data[: rng.randrange(4, body_end + 1)] + data[body_end:]
        elif op == 3:  # insert bytes in the body
            at = rng.randrange(4, body_end + 1)
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
        elif op == 4:  # an interesting u32 anywhere in the body
            if body_end >= 8:
                at = rng.randrange(4, body_end - 3)
                value = rng.choice([0, 1, 2, 3, 64, 65, 4096, 4097, 2**32 - 1, len(base)])
                data[at : at + 4] = struct.pack(">I", value)
        else:  # damage without resealing: the checksum must catch it
            at = rng.randrange(len(data))
            data[at] ^= 0xFF
            out.append(bytes(data))
            continue
        out.append(_reseal(bytes(data)))
    return out


def build_wire() -> dict[str, Any]:
    """The wire vectors: golden files' messages, valid messages, refusals, random damage."""
    golden = [
        {"name": name, "file": f"{name}.bin", "message": _message_json(msg)}
        for name, msg in _golden().items()
    ]
    valid = _valid_messages()
    for msg in valid:
        assert parse(serialize(msg)) == msg
    rng = random.Random(_WIRE_SEED)
    damaged = [_outcome(data) for msg in valid for data in _mutations(rng, serialize(msg))]
    return {
        "about": "Wire-format vectors from rlnc_testbed.wire for the JS peer "
        "(rlnc_testbed/web/wire.js): encodings, and what parse refuses with which error. "
        "Regenerate with tests/vectors/make_js_vectors.py.",
        "golden": golden,
        "valid": [{"hex": serialize(m).hex(), "message": _message_json(m)} for m in valid],
        "malformed": [_outcome(data, limits) for data, limits in _malformed()],
        "damaged": damaged,
        "build_errors": _build_errors(),
    }


def _build_errors() -> list[dict[str, Any]]:
    """Message values an encoder must refuse (Python: at construction, offset -1)."""
    ones = [0, 1, 2]
    cases: list[tuple[dict[str, Any], Any]] = [
        (
            {"type": "hello", "sender": "1", "role": "boss", "purpose": "store", "round": 0},
            lambda: Hello("1", "boss", "store", 0),
        ),
        (
            {"type": "hello", "sender": "1", "role": "peer", "purpose": "stor", "round": 0},
            lambda: Hello("1", "peer", "stor", 0),
        ),
        (
            {"type": "hello", "sender": "x" * 65, "role": "peer", "purpose": "store", "round": 0},
            lambda: Hello("x" * 65, "peer", "store", 0),
        ),
        (
            {"type": "hello", "sender": " 1", "role": "peer", "purpose": "store", "round": 0},
            lambda: Hello(" 1", "peer", "store", 0),
        ),
        (
            {"type": "hello", "sender": "", "role": "peer", "purpose": "store", "round": 0},
            lambda: Hello("", "peer", "store", 0),
        ),
        (
            {
                "type": "hello",
                "sender": "\u00e9" * 33,
                "role": "peer",
                "purpose": "store",
                "round": 0,
            },
            lambda: Hello("\u00e9" * 33, "peer", "store", 0),
        ),
        (
            {"type": "hello", "sender": "1", "role": "peer", "purpose": "store", "round": 2**32},
            lambda: Hello("1", "peer", "store", 2**32),
        ),
        ({"type": "done", "count": -1, "generation": 0}, lambda: Done(-1, 0)),
        ({"type": "done", "count": 0, "generation": 2**32}, lambda: Done(0, 2**32)),
        (
            {
                "type": "packet",
                "generation": 0,
                "field": 16,
                "coefficients": "000102",
                "payload": "00000000",
            },
            lambda: _packet(16, ones, bytes(4), 0),
        ),
        (
            {
                "type": "packet",
                "generation": 0,
                "field": 2,
                "coefficients": "000102",
                "payload": "00000000",
            },
            lambda: _packet(2, ones, bytes(4), 0),
        ),
        (
            {
                "type": "packet",
                "generation": 0,
                "field": 65536,
                "coefficients": "00",
                "payload": "00",
            },
            lambda: _packet(65536, [0], bytes(1), 0),
        ),
        (
            {"type": "packet", "generation": 0, "field": 256, "coefficients": "01", "payload": ""},
            lambda: _packet(256, [1], b"", 0),
        ),
        (
            {
                "type": "packet",
                "generation": -1,
                "field": 256,
                "coefficients": "01",
                "payload": "00",
            },
            lambda: _packet(256, [1], bytes(1), -1),
        ),
        (
            {
                "type": "source-chunk",
                "generation": 0,
                "offset": "0",
                "total": "2",
                "sha256": _SHA.hex(),
                "data": "616263",
            },
            lambda: SourceChunk(0, 0, 2, _SHA, b"abc"),
        ),
        (
            {
                "type": "source-chunk",
                "generation": 0,
                "offset": "0",
                "total": "3",
                "sha256": _SHA[:31].hex(),
                "data": "616263",
            },
            lambda: SourceChunk(0, 0, 3, _SHA[:31], b"abc"),
        ),
        (
            {
                "type": "source-chunk",
                "generation": 0,
                "offset": str(2**64),
                "total": "3",
                "sha256": _SHA.hex(),
                "data": "",
            },
            lambda: SourceChunk(0, 2**64, 3, _SHA, b""),
        ),
    ]
    out = []
    for message, build in cases:
        try:
            build()
        except WireError as exc:
            out.append(
                {
                    "message": message,
                    "error": {"field": exc.field, "offset": exc.offset, "message": str(exc)},
                }
            )
        else:  # pragma: no cover - a case that stopped failing must be looked at
            raise AssertionError(f"{message} was accepted")
    return out


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name -> the text it must hold."""
    return {"field.json": _dump(build_field()), "wire.json": _dump(build_wire())}


def main() -> None:
    for name, text in rendered().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
