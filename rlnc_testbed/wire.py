"""Binary wire format: typed messages <-> bytes, with strict validation.

Every message is ``magic "RL" | version (1 byte) | type (1 byte) | body | CRC32 (4 bytes)``,
big-endian, where the CRC32 (:func:`zlib.crc32`) covers every byte before it. Bodies, in field
order (``u8/u16/u32/u64`` unsigned; ``str8`` = u8 length + UTF-8; ``bytes32`` = u32 length +
bytes):

==========  ====  ==========================================================================
type        code  body
==========  ====  ==========================================================================
Packet      1     generation u32, field u16 (2|256), k u32, symbol_size u32,
                  coefficients k bytes (one per entry), payload symbol_size bytes
Hello       2     sender str8, role str8, purpose str8, round u32
Done        3     count u32, generation u32
SourceChunk 4     generation u32, offset u64, total u64, sha256 32 bytes, data bytes32
==========  ====  ==========================================================================

:func:`parse` checks, in order: minimum length, magic, version, type (an unknown code is an
error), ``Limits.max_message``, checksum, then each field (declared lengths against the remaining
bytes and the limits *before* anything is allocated; zero packet sizes), then the values as the
message object is built (enums, names, GF(2) entries, ranges), and finally trailing bytes. Any
problem raises :class:`WireError` naming the field and its byte offset. Message objects validate
their values on construction too (then ``WireError.offset`` is -1).

Splitting large messages for a data channel is the transport's job
(:mod:`rlnc_testbed.transport.webrtc`), not this format's.
"""

from __future__ import annotations

import hashlib
import operator
import struct
import zlib
from dataclasses import dataclass, fields
from typing import Any, Final, TypeAlias

import numpy as np

from rlnc_testbed.coding.gf import FIELDS as GF_FIELDS
from rlnc_testbed.coding.packet import CodedPacket

__all__ = [
    "DEFAULT_LIMITS",
    "FIELDS",
    "MAGIC",
    "MAX_NAME",
    "PURPOSES",
    "ROLES",
    "VERSION",
    "Done",
    "Hello",
    "Limits",
    "Message",
    "PacketMessage",
    "SourceChunk",
    "WireError",
    "packet_message_size",
    "parse",
    "serialize",
    "source_chunks",
]

MAGIC: Final = b"RL"
VERSION: Final = 1
#: Field orders a :class:`PacketMessage` may carry.
FIELDS: Final = GF_FIELDS
#: The roles a node plays (the one home of these names): a :class:`Hello` announces one, a
#: signaling client joins as one.
ROLES: Final = ("engine", "peer", "newcomer", "collector")
#: Why a data channel was opened, as a :class:`Hello` announces it.
PURPOSES: Final = ("store", "repair", "collect", "source", "provenance")
#: Longest ``Hello`` string, in UTF-8 bytes.
MAX_NAME: Final = 64

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_HEADER = struct.Struct(">2sBB")
_PACKET_HEAD = struct.Struct(">IHII")
_CHUNK_HEAD = struct.Struct(">IQQ32sI")
_CRC_SIZE = 4
_MIN_SIZE = _HEADER.size + _CRC_SIZE
_SHA256_SIZE = 32


class WireError(ValueError):
    """Malformed bytes or an invalid message value; names the ``field`` and byte ``offset``.

    ``offset`` is the position in the parsed bytes, or -1 for a message object built in code.
    """

    def __init__(self, field: str, offset: int, problem: str) -> None:
        where = f"at offset {offset}" if offset >= 0 else "(message object)"
        super().__init__(f"wire field {field!r} {where}: {problem}")
        self.field = field
        self.offset = offset
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.offset, self.problem))


@dataclass(frozen=True)
class Limits:
    """Upper bounds :func:`parse` enforces before allocating."""

    max_symbols: int = 4096
    max_symbol_size: int = 16 * 1024 * 1024
    max_message: int = 32 * 1024 * 1024
    max_chunk: int = 1024 * 1024

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{f.name} must be a positive int; got {value!r}")
        if self.max_message < _MIN_SIZE:
            raise ValueError(f"Limits.max_message must be at least {_MIN_SIZE}")


DEFAULT_LIMITS: Final = Limits()


def _uint(owner: object, name: str, bits: int) -> None:
    """Normalise integer attribute ``name`` of a frozen dataclass and range-check it."""
    value = getattr(owner, name)
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int; got {type(value).__name__}") from None
    if not 0 <= number < 1 << bits:
        raise WireError(name, -1, f"must be in 0..{(1 << bits) - 1}; got {number}")
    object.__setattr__(owner, name, number)


def _bytes(owner: object, name: str) -> bytes:
    value = getattr(owner, name)
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes; got {type(value).__name__}")
    return value


def _name(owner: object, name: str, allowed: tuple[str, ...] | None) -> None:
    value = getattr(owner, name)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {type(value).__name__}")
    if allowed is not None and value not in allowed:
        raise WireError(name, -1, f"must be one of {', '.join(allowed)}; got {value!r}")
    size = len(value.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= MAX_NAME or not value.isprintable() or value != value.strip():
        raise WireError(
            name, -1, f"must be 1..{MAX_NAME} UTF-8 bytes, printable, unpadded; got {value!r}"
        )


@dataclass(frozen=True)
class PacketMessage:
    """One coded packet of a generation over GF(``field``) (2 or 256)."""

    generation: int
    field: int
    packet: CodedPacket

    def __post_init__(self) -> None:
        _uint(self, "generation", 32)
        _uint(self, "field", 16)
        if self.field not in FIELDS:
            raise WireError("field", -1, f"must be one of {FIELDS}; got {self.field}")
        if not isinstance(self.packet, CodedPacket):
            raise TypeError(f"packet must be a CodedPacket; got {type(self.packet).__name__}")
        for name in ("coefficients", "payload"):
            array = getattr(self.packet, name)
            if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 1:
                raise TypeError(f"packet.{name} must be a 1-D uint8 numpy array")
            if not 1 <= array.shape[0] < 1 << 32:
                raise WireError(name, -1, f"length must be in 1..2**32-1; got {array.shape[0]}")
        if self.field == 2 and bool((self.packet.coefficients > 1).any()):
            raise WireError("coefficients", -1, "GF(2) entries must be 0 or 1")


@dataclass(frozen=True)
class Hello:
    """First message on every data channel: who is talking, in which role, why, which round."""

    sender: str
    role: str
    purpose: str
    round: int

    def __post_init__(self) -> None:
        _name(self, "sender", None)
        _name(self, "role", ROLES)
        _name(self, "purpose", PURPOSES)
        _uint(self, "round", 32)


@dataclass(frozen=True)
class Done:
    """End of a batch: the sender sent ``count`` PacketMessages of ``generation``."""

    count: int
    generation: int

    def __post_init__(self) -> None:
        _uint(self, "count", 32)
        _uint(self, "generation", 32)


@dataclass(frozen=True)
class SourceChunk:
    """Bytes ``offset .. offset+len(data)`` of a ``total``-byte source file with ``sha256``."""

    generation: int
    offset: int
    total: int
    sha256: bytes
    data: bytes

    def __post_init__(self) -> None:
        _uint(self, "generation", 32)
        _uint(self, "offset", 64)
        _uint(self, "total", 64)
        if len(_bytes(self, "sha256")) != _SHA256_SIZE:
            raise WireError("sha256", -1, f"must be 32 bytes; got {len(self.sha256)}")
        if len(_bytes(self, "data")) >= 1 << 32:
            raise WireError("data", -1, "longer than 2**32-1 bytes")
        if self.offset + len(self.data) > self.total:
            raise WireError(
                "data", -1, f"offset {self.offset} + {len(self.data)} bytes exceeds {self.total}"
            )


Message: TypeAlias = PacketMessage | Hello | Done | SourceChunk

_CODES: Final[dict[type, int]] = {PacketMessage: 1, Hello: 2, Done: 3, SourceChunk: 4}


def packet_message_size(k: int, symbol_size: int) -> int:
    """Exact serialized size of a :class:`PacketMessage` with ``k`` symbols of that size."""
    if k < 1 or symbol_size < 1:
        raise ValueError(f"k and symbol_size must be >= 1; got {k}, {symbol_size}")
    return _MIN_SIZE + _PACKET_HEAD.size + k + symbol_size


def _seal(parts: list[bytes | memoryview]) -> bytes:
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    parts.append(_U32.pack(crc))
    return b"".join(parts)


def _str8(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _U8.pack(len(raw)) + raw


def serialize(msg: Message) -> bytes:
    """Return the bytes of ``msg`` (one join; arrays are not copied before it)."""
    code = _CODES.get(type(msg))
    if code is None:
        raise TypeError(f"cannot serialize {type(msg).__name__}; expected a wire message")
    parts: list[bytes | memoryview] = [_HEADER.pack(MAGIC, VERSION, code)]
    if isinstance(msg, PacketMessage):
        coefficients = np.ascontiguousarray(msg.packet.coefficients)
        payload = np.ascontiguousarray(msg.packet.payload)
        head = (msg.generation, msg.field, coefficients.shape[0], payload.shape[0])
        parts += [_PACKET_HEAD.pack(*head), coefficients.data, payload.data]
    elif isinstance(msg, Hello):
        parts += [_str8(msg.sender), _str8(msg.role), _str8(msg.purpose), _U32.pack(msg.round)]
    elif isinstance(msg, Done):
        parts += [_U32.pack(msg.count), _U32.pack(msg.generation)]
    else:
        chunk = (msg.generation, msg.offset, msg.total, msg.sha256, len(msg.data))
        parts += [_CHUNK_HEAD.pack(*chunk), msg.data]
    return _seal(parts)


class _Reader:
    """Bounds-checked cursor over a message body; remembers where each field started."""

    __slots__ = ("buf", "end", "offsets", "pos")

    def __init__(self, buf: memoryview, end: int) -> None:
        self.buf = buf
        self.pos = _HEADER.size
        self.end = end
        self.offsets: dict[str, int] = {}

    def take(self, field: str, size: int) -> int:
        start = self.pos
        remain = self.end - start
        if size > remain:
            raise WireError(field, start, f"needs {size} bytes, only {remain} before the checksum")
        self.pos = start + size
        self.offsets.setdefault(field, start)
        return start

    def uint(self, field: str, fmt: struct.Struct) -> int:
        value: int = fmt.unpack_from(self.buf, self.take(field, fmt.size))[0]
        return value

    def length(self, field: str, fmt: struct.Struct, limit: int, limit_name: str) -> int:
        start = self.pos
        size = self.uint(field, fmt)
        if size > limit:
            raise WireError(field, start, f"length {size} exceeds {limit_name}={limit}")
        return size

    def raw(self, field: str, size: int) -> bytes:
        start = self.take(field, size)
        return bytes(self.buf[start : start + size])

    def text(self, field: str) -> str:
        size = self.uint(field, _U8)
        start = self.take(field, size)
        try:
            return str(self.buf[start : start + size], "utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(field, start + exc.start, "not valid UTF-8") from None


def _read_packet(r: _Reader, limits: Limits) -> PacketMessage:
    generation = r.uint("generation", _U32)
    field = r.uint("field", _U16)
    k = r.length("symbols", _U32, limits.max_symbols, "max_symbols")
    size = r.length("symbol_size", _U32, limits.max_symbol_size, "max_symbol_size")
    for name, value in (("symbols", k), ("symbol_size", size)):
        if value == 0:
            raise WireError(name, r.offsets[name], "must be at least 1")
    start = r.take("coefficients", k)
    r.take("payload", size)
    block = np.frombuffer(r.buf, np.uint8, k + size, start).copy()
    return PacketMessage(generation, field, CodedPacket(block[:k], block[k:]))


def _read_hello(r: _Reader, limits: Limits) -> Hello:
    return Hello(r.text("sender"), r.text("role"), r.text("purpose"), r.uint("round", _U32))


def _read_done(r: _Reader, limits: Limits) -> Done:
    return Done(r.uint("count", _U32), r.uint("generation", _U32))


def _read_chunk(r: _Reader, limits: Limits) -> SourceChunk:
    generation = r.uint("generation", _U32)
    offset = r.uint("offset", _U64)
    total = r.uint("total", _U64)
    sha256 = r.raw("sha256", _SHA256_SIZE)
    size = r.length("data", _U32, limits.max_chunk, "max_chunk")
    return SourceChunk(generation, offset, total, sha256, r.raw("data", size))


_READERS: Final = (_read_packet, _read_hello, _read_done, _read_chunk)


def parse(data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> Message:
    """Parse one serialized message; raise :class:`WireError` for anything malformed."""
    buf = memoryview(data).cast("B")
    n = buf.nbytes
    if n < _MIN_SIZE:
        raise WireError("header", n, f"message has {n} bytes; at least {_MIN_SIZE} needed")
    magic, version, code = _HEADER.unpack_from(buf)
    if magic != MAGIC:
        raise WireError("magic", 0, f"expected {MAGIC!r}; got {magic!r}")
    if version != VERSION:
        raise WireError("version", 2, f"unsupported version {version}; this is {VERSION}")
    if not 1 <= code <= len(_READERS):
        raise WireError("type", 3, f"unknown message type {code}")
    if n > limits.max_message:
        raise WireError("length", 0, f"message has {n} bytes; max_message={limits.max_message}")
    end = n - _CRC_SIZE
    (expected,) = _U32.unpack_from(buf, end)
    if zlib.crc32(buf[:end]) != expected:
        raise WireError("checksum", end, "CRC32 does not match the message")
    reader = _Reader(buf, end)
    try:
        msg = _READERS[code - 1](reader, limits)
    except WireError as exc:
        if exc.offset >= 0:
            raise
        raise WireError(exc.field, reader.offsets.get(exc.field, 0), exc.problem) from None
    if reader.pos != end:
        raise WireError("trailing", reader.pos, f"{end - reader.pos} bytes after the last field")
    return msg


def source_chunks(data: bytes, *, generation: int, max_chunk: int) -> list[SourceChunk]:
    """Cut a source file into :class:`SourceChunk` s of at most ``max_chunk`` bytes each."""
    if isinstance(max_chunk, bool) or not isinstance(max_chunk, int) or max_chunk < 1:
        raise ValueError(f"max_chunk must be a positive int; got {max_chunk!r}")
    digest = hashlib.sha256(data).digest()
    total = len(data)
    starts = range(0, total, max_chunk) if total else [0]
    return [
        SourceChunk(generation, s, total, digest, bytes(data[s : s + max_chunk])) for s in starts
    ]
