"""The specified random draws: one counter-based word stream per key, and three algorithms on it.

Every random decision of an experiment is a pure function of a key ``(seed, trial, round,
role, index)``, never of arrival order or wall-clock time, and is defined here - not by any
library's sampling algorithms - so that another language (the browser peer in JavaScript) or
the compiled simulator reproduces it bit for bit. ``docs/protocol.md`` §6 is the written
specification; ``tests/vectors/draws.json`` holds its test vectors.

A :class:`DrawStream` yields 64-bit words (Philox4x64-10 keyed by :func:`stream_key`) and
consumes whole words in each primitive:

* :meth:`DrawStream.below` - a uniform integer in ``[0, n)`` (Lemire's multiply-and-reject);
* :meth:`DrawStream.sample` - ``m`` of ``range(n)`` without replacement, in draw order (a
  partial Fisher-Yates shuffle; ``sample(n, n)`` is a shuffle);
* :meth:`DrawStream.elements` - field elements: the little-endian bytes (GF(2^8)) or bits
  (GF(2)) of fresh words, row-major for a matrix.

Which role draws what, in which order, is :mod:`rlnc_testbed.protocol.rules`.
"""

from __future__ import annotations

import enum
import math

import numpy as np

__all__ = ["Role", "DrawStream", "stream_for", "stream_key"]

_MASK = (1 << 64) - 1
_WORD = 1 << 64


class Role(enum.IntEnum):
    """Who draws from a stream; part of its key."""

    SERVER = 1
    ENGINE = 2
    PARENT = 3
    NEWCOMER = 4
    SOURCE = 5
    FAULT = 6  # the fault plan: whether fault spec i happens in round r, and to whom
    LINK = 7  # a shaped link's loss/jitter/reorder decisions; index: faults.link_index()


def _mix(x: int) -> int:
    """splitmix64's finaliser: a bijective 64-bit mixer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def stream_key(seed: int, trial: int, round: int, role: Role, index: int = 0) -> tuple[int, int]:
    """The Philox key ``(lo, hi)`` of one stream: a chain of splitmix64 mixes of the five."""
    for name, value in (("seed", seed), ("trial", trial), ("round", round), ("index", index)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if not 0 <= int(value) <= _MASK:
            raise ValueError(f"{name} must be in [0, 2**64), got {value}")
    h = _mix(int(seed))
    h = _mix(h ^ int(trial))
    h = _mix(h ^ int(round))
    h = _mix(h ^ int(Role(role)))
    lo = _mix(h ^ int(index))
    hi = _mix(lo ^ 0x5851F42D4C957F2D)
    return lo, hi


class DrawStream:
    """The word stream of one key and the specified draws on it.

    Word ``w`` is output word ``w mod 4`` of Philox4x64-10 with key ``(lo, hi)`` applied to the
    counter ``(w div 4 + 1, 0, 0, 0)``: exactly numpy's ``Philox(key=(hi << 64) | lo)``
    raw stream, which is used here as the bit source (the compiled simulator has its own).
    """

    __slots__ = ("_bits", "key", "used")

    def __init__(self, key: tuple[int, int]) -> None:
        lo, hi = key
        self.key = (int(lo), int(hi))
        self._bits = np.random.Philox(key=(self.key[1] << 64) | self.key[0])
        #: Words consumed so far.
        self.used = 0

    def words(self, count: int) -> np.ndarray:
        """The next ``count`` words (uint64)."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        self.used += count
        return np.asarray(self._bits.random_raw(count), dtype=np.uint64)

    def _word(self) -> int:
        self.used += 1
        return int(self._bits.random_raw())

    def below(self, n: int) -> int:
        """A uniform integer in ``[0, n)``, ``1 <= n < 2**64`` (Lemire's method).

        ``m = x * n`` (128-bit) for the next word x; while ``low64(m) < (2**64 - n) mod n``
        (checked only when ``low64(m) < n``), retry with the next word; answer ``m >> 64``.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= _MASK:
            raise ValueError(f"below(n) needs an integer 1 <= n < 2**64, got {n!r}")
        n = int(n)
        m = self._word() * n
        low = m & _MASK
        if low < n:
            threshold = (_WORD - n) % n
            while low < threshold:
                m = self._word() * n
                low = m & _MASK
        return m >> 64

    def sample(self, n: int, m: int) -> list[int]:
        """``m`` distinct values of ``range(n)`` in draw order (partial Fisher-Yates).

        ``a = [0 .. n-1]``; for ``i < m``: ``j = i + below(n - i)``, swap ``a[i]``, ``a[j]``;
        answer ``a[:m]``. The first ``m`` of ``sample(n, n)`` equal ``sample(n, m)``.
        """
        if not 0 <= m <= n:
            raise ValueError(f"sample(n, m) needs 0 <= m <= n, got n={n}, m={m}")
        a = list(range(n))
        for i in range(m):
            j = i + self.below(n - i)
            a[i], a[j] = a[j], a[i]
        return a[:m]

    def elements(self, field: int, shape: int | tuple[int, ...]) -> np.ndarray:
        """Field elements (uint8) of ``shape``, row-major, from fresh words.

        GF(2^8): element t is byte ``t mod 8`` (little-endian) of word ``t div 8``;
        GF(2): element t is bit ``t mod 64`` (least significant first) of word ``t div 64``.
        """
        dims = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
        if any(d < 0 for d in dims):
            raise ValueError(f"shape must not be negative, got {shape!r}")
        count = math.prod(dims)
        if field == 256:
            raw = self.words(-(-count // 8)).astype("<u8").view(np.uint8)[:count]
        elif field == 2:
            octets = self.words(-(-count // 64)).astype("<u8").view(np.uint8)
            raw = np.unpackbits(octets, bitorder="little")[:count]
        else:
            raise ValueError(f"field must be 2 or 256, got {field!r}")
        return raw.astype(np.uint8).reshape(dims)


def stream_for(seed: int, trial: int, round: int, role: Role, index: int = 0) -> DrawStream:
    """The fresh stream of one ``(seed, trial, round, role, index)``."""
    return DrawStream(stream_key(seed, trial, round, role, index))
