"""numba kernels for GF(2) and GF(2^8) matrix products, elimination and rank.

Kernels only assert: shapes, dtypes and field ranges are checked once by the public wrappers
(:mod:`.linalg`, the Encoder/Decoder/Recoder). All kernels are ``cache=True`` and compiled on
first use; this module (and numba) is imported lazily by the wrappers, so importing
:mod:`rlnc_testbed.coding` stays cheap.

Payload products work on ``uint64`` words (8 payload bytes each, so loops vectorise):

* GF(2): ``out_i ^= y_j`` for every ``a[i, j] == 1``.
* GF(2^8), portable SWAR (``gf256_matmul_swar``): per source row j and column chunk, two
  16-entry tables
  ``lo[v] = v * y_j`` and ``hi[v] = (16 v) * y_j`` are built with SWAR doubling; then
  ``out_i ^= lo[c & 15] ^ hi[c >> 4]`` for ``c = a[i, j]``, one streaming pass per (i, j) (the
  split-nibble method of ISA-L, with whole table rows instead of shuffles).

On CPUs with GFNI and AVX-512, :mod:`.gfni` has a faster GF(2^8) product; :mod:`.linalg`
picks whichever suits the host.

PYTEST_DONT_REWRITE: pytest rewrites asserts in every module of a plugin's distribution (this
package ships a pytest11 plugin), and numba cannot compile rewritten asserts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .gf import GF256_INV, GF256_MUL

__all__ = [
    "CHUNK_WORDS",
    "MUL",
    "INV",
    "eliminate_insert",
    "gf2_matmul_words",
    "gf256_matmul_swar",
    "matmul_bytes",
    "rank_kernel",
]

#: Column chunk (in 8-byte words) of the payload kernels: 32 table rows of this many words
#: stay in L1/L2 cache while all outputs are updated.
CHUNK_WORDS = 128
#: Tables as module globals: numba freezes them into the compiled code.
MUL = np.ascontiguousarray(GF256_MUL)
INV = np.ascontiguousarray(GF256_INV)

_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HIGH1 = np.uint64(0x8080808080808080)
_REDUCE = np.uint64(0x1D1D1D1D1D1D1D1D)
_ONE = np.uint64(1)
_SEVEN = np.uint64(7)


@njit(cache=True, inline="always")
def _double(v: np.uint64) -> np.uint64:
    """Multiply 8 packed GF(2^8) bytes by 2 (x) modulo 0x11d."""
    hi = v & _HIGH1
    mask = (hi << _ONE) - (hi >> _SEVEN)  # 0xff in each byte whose top bit was set
    return ((v & _LOW7) << _ONE) ^ (mask & _REDUCE)


@njit(cache=True)
def gf256_matmul_swar(a: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """``out ^= a @ y`` over GF(2^8) (portable); a: uint8 (n, k), y, out: uint64 (k|n, w)."""
    n, k = a.shape
    w = y.shape[1]
    assert y.shape[0] == k and out.shape[0] == n and out.shape[1] == w
    tab = np.zeros((32, CHUNK_WORDS), dtype=np.uint64)
    for c0 in range(0, w, CHUNK_WORDS):
        width = min(CHUNK_WORDS, w - c0)
        for j in range(k):
            used = False
            for i in range(n):
                if a[i, j] != 0:
                    used = True
                    break
            if not used:
                continue
            # Powers of two: tab[1,2,4,8] = 1,2,4,8 * y; tab[17,18,20,24] = 16..128 * y.
            src = y[j, c0 : c0 + width]
            for t in range(width):
                v = src[t]
                tab[1, t] = v
                v = _double(v)
                tab[2, t] = v
                v = _double(v)
                tab[4, t] = v
                v = _double(v)
                tab[8, t] = v
                v = _double(v)
                tab[17, t] = v
                v = _double(v)
                tab[18, t] = v
                v = _double(v)
                tab[20, t] = v
                v = _double(v)
                tab[24, t] = v
            for base in (0, 16):
                for m in range(3, 16):
                    low = m & (-m)
                    if low == m:
                        continue
                    ra = tab[base + low]
                    rb = tab[base + m - low]
                    rc = tab[base + m]
                    for t in range(width):
                        rc[t] = ra[t] ^ rb[t]
            for i in range(n):
                c = a[i, j]
                if c == 0:
                    continue
                o = out[i, c0 : c0 + width]
                tl = tab[c & 15]
                th = tab[16 + (c >> 4)]
                for t in range(width):
                    o[t] ^= tl[t] ^ th[t]


@njit(cache=True)
def gf2_matmul_words(a: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """``out ^= a @ y`` over GF(2); a: uint8 (n, k) of 0/1, y: uint64 (k, w), out: (n, w)."""
    n, k = a.shape
    w = y.shape[1]
    assert y.shape[0] == k and out.shape[0] == n and out.shape[1] == w
    for c0 in range(0, w, CHUNK_WORDS):
        c1 = min(c0 + CHUNK_WORDS, w)
        for i in range(n):
            o = out[i]
            for j in range(k):
                if a[i, j] == 0:
                    continue
                src = y[j]
                for t in range(c0, c1):
                    o[t] ^= src[t]


@njit(cache=True)
def matmul_bytes(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out ^= a @ b`` byte by byte with the product table (for small, coefficient-sized b)."""
    n, k = a.shape
    m = b.shape[1]
    assert b.shape[0] == k and out.shape[0] == n and out.shape[1] == m
    for i in range(n):
        for j in range(k):
            c = a[i, j]
            if c == 0:
                continue
            row = MUL[c]
            for t in range(m):
                out[i, t] ^= row[b[j, t]]


@njit(cache=True)
def _rank_gf2_packed(matrix: np.ndarray) -> int:
    rows, cols = matrix.shape
    packed = np.zeros(rows, dtype=np.uint64)
    for i in range(rows):
        v = np.uint64(0)
        for j in range(cols):
            if matrix[i, j] != 0:
                v |= np.uint64(1) << np.uint64(j)
        packed[i] = v
    r = 0
    for j in range(cols):
        bit = np.uint64(1) << np.uint64(j)
        p = -1
        for i in range(r, rows):
            if packed[i] & bit:
                p = i
                break
        if p < 0:
            continue
        pv = packed[p]
        packed[p] = packed[r]
        packed[r] = pv
        for i in range(r + 1, rows):
            if packed[i] & bit:
                packed[i] ^= pv
        r += 1
        if r == rows:
            break
    return r


@njit(cache=True)
def rank_kernel(matrix: np.ndarray, field_is_binary: bool) -> int:
    """Rank of a uint8 (m, k) matrix over GF(2) (entries 0/1) or GF(2^8); input is not changed."""
    rows, cols = matrix.shape
    if field_is_binary and cols <= 64:
        return _rank_gf2_packed(matrix)
    work = matrix.copy()
    r = 0
    for j in range(cols):
        p = -1
        for i in range(r, rows):
            if work[i, j] != 0:
                p = i
                break
        if p < 0:
            continue
        if p != r:
            for t in range(j, cols):
                tmp = work[p, t]
                work[p, t] = work[r, t]
                work[r, t] = tmp
        inv = INV[work[r, j]]
        for i in range(r + 1, rows):
            e = work[i, j]
            if e == 0:
                continue
            row = MUL[MUL[e, inv]]
            for t in range(j, cols):
                work[i, t] ^= row[work[r, t]]
        r += 1
        if r == rows:
            break
    return r


@njit(cache=True)
def eliminate_insert(
    basis: np.ndarray,
    transform: np.ndarray,
    pivot_row: np.ndarray,
    rank: int,
    coefficients: np.ndarray,
) -> bool:
    """Reduce one coefficient vector against a reduced row-echelon basis; insert if innovative.

    ``basis`` (k, k): rows 0..rank-1 are the basis, each with a 1 in its pivot column and 0 in
    every other basis row's pivot column. ``pivot_row[c]`` is the row whose pivot is column c
    (or -1). ``transform`` (k, k) records each basis row as a combination of the innovative
    packets received so far (packet t is the t-th innovative one). Returns True iff innovative,
    in which case the new row is stored at index ``rank`` (the caller then increments rank).
    """
    k = basis.shape[1]
    v = coefficients.copy()
    t = np.zeros(k, dtype=np.uint8)
    t[rank] = 1
    for c in range(k):
        f = v[c]
        p = pivot_row[c]
        if f == 0 or p < 0:
            continue
        row = MUL[f]
        for x in range(k):
            v[x] ^= row[basis[p, x]]
        for x in range(rank + 1):
            t[x] ^= row[transform[p, x]]
    lead = -1
    for c in range(k):
        if v[c] != 0:
            lead = c
            break
    if lead < 0:
        return False
    scale = MUL[INV[v[lead]]]
    for x in range(k):
        v[x] = scale[v[x]]
    for x in range(rank + 1):
        t[x] = scale[t[x]]
    for p in range(rank):
        f = basis[p, lead]
        if f == 0:
            continue
        row = MUL[f]
        for x in range(k):
            basis[p, x] ^= row[v[x]]
        for x in range(rank + 1):
            transform[p, x] ^= row[t[x]]
    basis[rank] = v
    transform[rank] = t
    pivot_row[lead] = rank
    return True
