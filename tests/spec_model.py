"""docs/protocol.md §6 written again from its text, for the tests: plain Python integers only.

The one test model of the specification (key mixing, Philox4x64-10, below, sample, elements),
of GF(2^8) with the 0x11d polynomial, and of the NEWCOMER rule keep = "distinct". It shares no
code with ``rlnc_testbed``: the Python streams (``protocol/draws.py``, numpy's Philox
underneath), the compiled simulator (numba) and the rule functions are checked against it.
"""

from __future__ import annotations

__all__ = [
    "EXP",
    "LOG",
    "M64",
    "Stream",
    "combine",
    "gmul",
    "keep_distinct",
    "key",
    "mix",
    "rank",
]

M64 = (1 << 64) - 1


def mix(x: int) -> int:
    """splitmix64's finaliser."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def key(seed: int, trial: int, rnd: int, role: int, index: int) -> tuple[int, int]:
    """The Philox key (lo, hi) of stream (seed, trial, round, role, index)."""
    h = mix(mix(mix(mix(seed) ^ trial) ^ rnd) ^ int(role))
    lo = mix(h ^ index)
    return lo, mix(lo ^ 0x5851F42D4C957F2D)


def _philox_block(counter: int, k: tuple[int, int]) -> list[int]:
    c = [counter & M64, 0, 0, 0]
    k0, k1 = k
    for _ in range(10):
        p0 = 0xD2E7470EE14C6C93 * c[0]
        p1 = 0xCA5A826395121157 * c[2]
        c = [(p1 >> 64) ^ c[1] ^ k0, p1 & M64, (p0 >> 64) ^ c[3] ^ k1, p0 & M64]
        k0 = (k0 + 0x9E3779B97F4A7C15) & M64
        k1 = (k1 + 0xBB67AE8584CAA73B) & M64
    return c


class Stream:
    """One stream, word by word; ``Stream(seed, trial, round, role, index)``."""

    def __init__(self, *where: int) -> None:
        self.key = key(*where)
        self.used = 0
        self._block: list[int] = []

    @classmethod
    def from_key(cls, philox_key: tuple[int, int]) -> Stream:
        stream = cls.__new__(cls)
        stream.key, stream.used, stream._block = philox_key, 0, []
        return stream

    def word(self) -> int:
        if self.used % 4 == 0:
            self._block = _philox_block(self.used // 4 + 1, self.key)
        w = self._block[self.used % 4]
        self.used += 1
        return w

    def below(self, n: int) -> int:
        while True:
            m = self.word() * n
            if (m & M64) >= (2**64 - n) % n:
                return m >> 64

    def sample(self, n: int, m: int) -> list[int]:
        a = list(range(n))
        for i in range(m):
            j = i + self.below(n - i)
            a[i], a[j] = a[j], a[i]
        return a[:m]

    def elements(self, field: int, count: int) -> list[int]:
        per, width = (8, 8) if field == 256 else (64, 1)
        words = [self.word() for _ in range(-(-count // per))]
        return [(words[t // per] >> (width * (t % per))) & (field - 1) for t in range(count)]


def keep_distinct(stream: Stream, vectors: list[tuple[int, ...]], q: int) -> list[int]:
    """§6.3 NEWCOMER, keep = "distinct": the positions in flat (``vectors`` = flat's coefficient
    vectors) of the packets kept, in kept order. ``order = sample(len(flat), len(flat))``; walk
    it, putting each vector's first packet in ``firsts`` and every later one in ``repeats``;
    keep the first min(Q, len(flat)) of ``firsts + repeats``."""
    order = stream.sample(len(vectors), len(vectors))
    firsts: list[int] = []
    repeats: list[int] = []
    seen: set[tuple[int, ...]] = set()
    for i in order:
        if vectors[i] in seen:
            repeats.append(i)
        else:
            firsts.append(i)
            seen.add(vectors[i])
    return (firsts + repeats)[: min(q, len(vectors))]


# -- GF(2^8), 0x11d, generator 2 -------------------------------------------------------------

EXP, LOG = [0] * 510, [0] * 256
_x = 1
for _i in range(255):
    EXP[_i] = EXP[_i + 255] = _x
    LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D


def gmul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else EXP[LOG[a] + LOG[b]]


def combine(coefs: list[int], rows: list[tuple[int, ...]]) -> tuple[int, ...]:
    """sum_j coefs[j] * rows[j] over GF(2^8)."""
    out = [0] * len(rows[0])
    for c, row in zip(coefs, rows, strict=True):
        for t, v in enumerate(row):
            out[t] ^= gmul(c, v)
    return tuple(out)


def rank(rows: list[tuple[int, ...]]) -> int:
    """Rank over GF(2^8) (= over GF(2) for 0/1 rows) by Gauss-Jordan elimination."""
    m, r = [list(row) for row in rows], 0
    cols = len(m[0]) if m else 0
    for c in range(cols):
        p = next((i for i in range(r, len(m)) if m[i][c]), None)
        if p is None:
            continue
        m[r], m[p] = m[p], m[r]
        inv = EXP[255 - LOG[m[r][c]]]
        m[r] = [gmul(inv, v) for v in m[r]]
        for i in range(len(m)):
            if i != r and m[i][c]:
                f = m[i][c]
                m[i] = [a ^ gmul(f, b) for a, b in zip(m[i], m[r], strict=True)]
        r += 1
    return r
