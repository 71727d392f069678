"""Compiled simulator: every round of every trial, draws included, played inside numba.

The project's independent second implementation of the round rules (the first is the
full-payload :mod:`rlnc_testbed.simulation.reference`). It tracks coefficient vectors only
(verified == decoded) and shares nothing with :mod:`rlnc_testbed.coding` but the GF(2^8)
tables: the draw primitives of the specification (splitmix64 key mixing, Philox4x64-10 words,
Lemire bounded integers, partial Fisher-Yates sampling, byte/bit field elements), the engine's
packets, the placement, failure and parent choice, uploads, keep rules and ranks are all
written here, in numba.

One kernel call (:func:`_play`) plays a chunk of trials into preallocated columnar outputs;
:func:`iter_columns` streams chunks (memory flat in the number of trials),
:func:`simulate_columns` gathers them (optionally over a process pool), :func:`records`
turns columns into :class:`~rlnc_testbed.protocol.records.TrialRecord` objects only when
asked. GF(2) uses the GF(2^8) tables: on {0, 1} they are GF(2) arithmetic, and the rank of
0/1 rows is the same over both fields.

PYTEST_DONT_REWRITE: pytest rewrites asserts in every module of a plugin's distribution (this
package ships a pytest11 plugin), and numba cannot compile rewritten asserts.
"""

from __future__ import annotations

import itertools
import math
import mmap
import multiprocessing
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from numba import njit

from rlnc_testbed.coding.gf import GF256_INV, GF256_MUL
from rlnc_testbed.protocol.params import ParameterError, Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord
from rlnc_testbed.wire import packet_message_size

__all__ = [
    "COLUMNS",
    "KEEP_CODES",
    "ROLES",
    "SCHEME_CODES",
    "Columns",
    "Trace",
    "iter_columns",
    "records",
    "simulate_columns",
    "simulate_point",
    "simulate_trials_fast",
    "stream_below",
    "stream_elements",
    "stream_key",
    "stream_sample",
    "stream_words",
    "trace_trial",
    "warm_up",
]

#: Stream roles of the draw specification.
ROLES = {"server": 1, "engine": 2, "parent": 3, "newcomer": 4, "source": 5}
#: Scheme and keep rule as the kernel's integer codes.
SCHEME_CODES = {"replication": 0, "coded-copy": 1, "rlnc": 2}
KEEP_CODES = {"shuffle": 0, "block": 1, "distinct": 2}
#: The per-(trial, round) columns of :class:`Columns` (``parents`` has one more axis, P).
COLUMNS = (
    "failed",
    "newcomer",
    "newcomer_rank",
    "global_rank",
    "repair_packets",
    "collect_packets",
)

#: dtypes of the :class:`Columns` arrays: ids and ranks fit int32, packet counts may not.
_DTYPES = {
    "rounds_played": np.int32,
    "failed": np.int32,
    "newcomer": np.int32,
    "parents": np.int32,
    "newcomer_rank": np.int32,
    "global_rank": np.int32,
    "repair_packets": np.int64,
    "collect_packets": np.int64,
}
#: Trial indices: a sequence of ints (a range stays lazy) or a 1-D integer array.
Trials: TypeAlias = Sequence[int] | np.ndarray

_SERVER, _ENGINE, _PARENT, _NEWCOMER = 1, 2, 3, 4
_REPLICATION, _RLNC = 0, 2
_SHUFFLE, _DISTINCT = 0, 2
#: Output cells per chunk the default chunk size aims at (~16 MB of columns).
_CHUNK_CELLS = 2**21
_MAX_CHUNK = 8192
#: Memory for the prefix bases of the global rank (else it is recomputed from scratch).
_SNAPSHOT_BYTES = 2**24

# -- uint64 constants (never mix numba int64 with uint64: the result would be float64) ---------

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U4 = np.uint64(4)
_BYTE = np.uint64(0xFF)
_LOW32 = np.uint64(0xFFFFFFFF)
_S8, _S27, _S30, _S31, _S32 = (np.uint64(s) for s in (8, 27, 30, 31, 32))
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_HI_SALT = np.uint64(0x5851F42D4C957F2D)
_PH_M0 = np.uint64(0xD2E7470EE14C6C93)
_PH_M1 = np.uint64(0xCA5A826395121157)
_PH_W0 = np.uint64(0x9E3779B97F4A7C15)
_PH_W1 = np.uint64(0xBB67AE8584CAA73B)

_MUL = np.ascontiguousarray(GF256_MUL)
_INV = np.ascontiguousarray(GF256_INV)

# -- draw primitives ---------------------------------------------------------------------------
# A stream is a uint64 (8,) array: key k0, k1 | block counter | position in the buffer (4 =
# empty) | the buffer's 4 words.


@njit(cache=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    """splitmix64 finaliser."""
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _MIX1
    x = (x ^ (x >> _S27)) * _MIX2
    return x ^ (x >> _S31)


@njit(cache=True, inline="always")
def _mulhi(a: np.uint64, b: np.uint64) -> np.uint64:
    """High 64 bits of the 128-bit product ``a * b`` (from 32-bit halves)."""
    a_lo = a & _LOW32
    a_hi = a >> _S32
    b_lo = b & _LOW32
    b_hi = b >> _S32
    p0 = a_lo * b_lo
    p1 = a_lo * b_hi
    p2 = a_hi * b_lo
    p3 = a_hi * b_hi
    mid = (p0 >> _S32) + (p1 & _LOW32) + (p2 & _LOW32)
    return p3 + (p1 >> _S32) + (p2 >> _S32) + (mid >> _S32)


@njit(cache=True, inline="always")
def _trial_hash(seed: np.uint64, trial: np.uint64) -> np.uint64:
    return _mix(_mix(seed) ^ trial)


@njit(cache=True, inline="always")
def _open(
    st: np.ndarray, h_trial: np.uint64, rnd: np.uint64, role: np.uint64, index: np.uint64
) -> None:
    """Start stream (seed, trial, rnd, role, index) in ``st``; ``h_trial`` from _trial_hash."""
    h = _mix(_mix(h_trial ^ rnd) ^ role)
    lo = _mix(h ^ index)
    st[0] = lo
    st[1] = _mix(lo ^ _HI_SALT)
    st[2] = _U0
    st[3] = _U4


@njit(cache=True)
def _refill(st: np.ndarray) -> None:
    """Next Philox4x64-10 block: counter (c + 1, 0, 0, 0) under key (st[0], st[1])."""
    ctr = st[2] + _U1
    st[2] = ctr
    c0 = ctr
    c1 = _U0
    c2 = _U0
    c3 = _U0
    k0 = st[0]
    k1 = st[1]
    for _ in range(10):
        hi0 = _mulhi(_PH_M0, c0)
        lo0 = _PH_M0 * c0
        hi1 = _mulhi(_PH_M1, c2)
        lo1 = _PH_M1 * c2
        c0 = hi1 ^ c1 ^ k0
        c1 = lo1
        c2 = hi0 ^ c3 ^ k1
        c3 = lo0
        k0 = k0 + _PH_W0
        k1 = k1 + _PH_W1
    st[4] = c0
    st[5] = c1
    st[6] = c2
    st[7] = c3
    st[3] = _U0


@njit(cache=True, inline="always")
def _next(st: np.ndarray) -> np.uint64:
    """The stream's next word."""
    if st[3] == _U4:
        _refill(st)
    pos = st[3]
    st[3] = pos + _U1
    return st[4 + np.int64(pos)]


@njit(cache=True, inline="always")
def _words_used(st: np.ndarray) -> int:
    return int(np.int64(st[2]) * 4 + np.int64(st[3]) - 4)


@njit(cache=True)
def _below(st: np.ndarray, n: np.uint64) -> np.uint64:
    """Uniform integer in [0, n), 1 <= n (Lemire's multiply-and-reject)."""
    x = _next(st)
    low = x * n
    if low < n:
        t = (_U0 - n) % n
        while low < t:
            x = _next(st)
            low = x * n
    return _mulhi(x, n)


@njit(cache=True)
def _sample(st: np.ndarray, n: int, m: int, a: np.ndarray) -> None:
    """``a[:m]`` = m distinct picks of range(n), in draw order (partial Fisher-Yates)."""
    assert 0 <= m <= n <= a.shape[0]
    for i in range(n):
        a[i] = i
    for i in range(m):
        j = i + np.int64(_below(st, np.uint64(n - i)))
        v = a[i]
        a[i] = a[j]
        a[j] = v


@njit(cache=True)
def _elements(st: np.ndarray, field: int, count: int, out: np.ndarray) -> None:
    """``out[:count]`` = field elements: bytes (field 256) or bits (field 2) of fresh words."""
    assert count <= out.shape[0]
    w = _U0
    if field == 256:
        for t in range(count):
            r = t & 7
            if r == 0:
                w = _next(st)
            out[t] = np.uint8((w >> np.uint64(8 * r)) & _BYTE)
    else:
        for t in range(count):
            r = t & 63
            if r == 0:
                w = _next(st)
            out[t] = np.uint8((w >> np.uint64(r)) & _U1)


# -- linear algebra ----------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _insert(basis: np.ndarray, where: np.ndarray, rank: int, row: np.ndarray, k: int) -> int:
    """Reduce ``row`` (scratch, overwritten) on the echelon ``basis``; return the new rank.

    ``where[c]`` is the basis row whose leading 1 is in column c, or -1.
    """
    for c in range(k):
        v = row[c]
        if v == 0:
            continue
        b = where[c]
        if b < 0:
            inv = _MUL[_INV[v]]
            for j in range(c):
                basis[rank, j] = 0
            for j in range(c, k):
                basis[rank, j] = inv[row[j]]
            where[c] = rank
            return rank + 1
        mul = _MUL[v]
        for j in range(c + 1, k):  # basis[b, c] == 1: row[c] becomes 0 and is not read again
            row[j] ^= mul[basis[b, j]]
    return rank


@njit(cache=True, inline="always")
def _mix_rows(
    mat: np.ndarray, rows: int, cols: int, src: np.ndarray, s0: int, out: np.ndarray, o0: int
) -> None:
    """``out[o0 + i] = sum_j mat[i * cols + j] * src[s0 + j]`` for i < rows (GF(2^8))."""
    k = src.shape[1]
    for i in range(rows):
        dst = out[o0 + i]
        for t in range(k):
            dst[t] = 0
        for j in range(cols):
            c = mat[i * cols + j]
            if c == 0:
                continue
            mul = _MUL[c]
            row = src[s0 + j]
            for t in range(k):
                dst[t] ^= mul[row[t]]


# -- the driver --------------------------------------------------------------------------------


# nogil: the pool's manager thread must run while this process plays its own slice.
@njit(cache=True, nogil=True)
def _play(
    trials: np.ndarray,
    seed: np.uint64,
    n: int,
    k: int,
    big_k: int,
    q: int,
    n_par: int,
    beta: int,
    field: int,
    scheme: int,
    keep: int,
    systematic: bool,
    failures: np.ndarray,
    rounds: int,
    o_played: np.ndarray,
    o_failed: np.ndarray,
    o_newcomer: np.ndarray,
    o_parents: np.ndarray,
    o_nrank: np.ndarray,
    o_grank: np.ndarray,
    o_repair: np.ndarray,
    o_collect: np.ndarray,
    trace: bool,
    t_init: np.ndarray,
    t_kept: np.ndarray,
    t_nkept: np.ndarray,
) -> int:
    """Play ``trials`` (int64 array) into row i of the outputs; return -1, or the position of
    the first trial that met a scheduled failure that is not alive (its rounds_played is the
    rounds before it).

    Outputs: ``o_played`` (T,), ``o_failed`` .. ``o_collect`` (T, R), ``o_parents`` (T, R, P).
    With ``trace`` (one trial), ``t_init`` (N, Q, k) gets the placed rows and ``t_kept``
    (R, Q, k) / ``t_nkept`` (R,) each round's kept rows.
    """
    assert n * q <= big_k and beta <= q and 1 <= n_par <= n - 1
    rlnc = scheme == _RLNC
    st = np.empty(8, dtype=np.uint64)
    packets = np.zeros(big_k * k, dtype=np.uint8)
    made = packets.reshape((big_k, k))
    coef = np.zeros((n, q, k), dtype=np.uint8)
    size = np.zeros(n, dtype=np.int64)
    order = np.zeros(n, dtype=np.int64)  # alive position -> slot; ids ascend with positions
    ids = np.zeros(n, dtype=np.int64)
    flat = np.zeros((n_par * q, k), dtype=np.uint8)
    offset = np.zeros(n_par + 1, dtype=np.int64)
    mat = np.zeros(max(beta * q, q * n_par * q, 1), dtype=np.uint8)
    pick = np.zeros(max(n, n_par * q, 1), dtype=np.int64)
    taken = np.zeros(max(n_par * q, 1), dtype=np.bool_)
    ppos = np.zeros(n_par, dtype=np.int64)
    basis = np.zeros((k, k), dtype=np.uint8)
    where = np.zeros(k, dtype=np.int64)
    scratch = np.zeros(k, dtype=np.uint8)
    # Prefix bases of the alive peers in position (= age) order: prefix i (the rows of
    # positions < i) has rank prank[i] and, when snapshots fit, echelon pbasis[i] / pwhere[i].
    # Removing position f leaves prefixes <= f valid; a full-rank prefix needs no basis.
    snap = (n + 1) * k * k <= _SNAPSHOT_BYTES
    depth = n + 1 if snap else 1
    pbasis = np.zeros((depth, k, k), dtype=np.uint8)
    pwhere = np.full((depth, k), -1, dtype=np.int64)
    prank = np.zeros(n + 1, dtype=np.int64)
    n_fail = failures.shape[0]
    plain = 0
    if scheme != _REPLICATION and systematic:
        plain = min(big_k, k)

    for ti in range(trials.shape[0]):
        h_trial = _trial_hash(seed, np.uint64(trials[ti]))
        # round 0: the engine's packets, then placement
        packets[:] = 0
        if scheme == _REPLICATION:
            for j in range(big_k):
                made[j, j % k] = 1
        else:
            for j in range(plain):
                made[j, j] = 1
            if big_k > plain:
                _open(st, h_trial, _U0, np.uint64(_ENGINE), _U0)
                _elements(st, field, (big_k - plain) * k, packets[plain * k :])
        for i in range(n):
            order[i] = i
            ids[i] = i + 1
            size[i] = q
            for j in range(q):
                coef[i, j] = made[i * q + j]
        if trace:
            t_init[:] = coef
        stored = n * q
        valid = 0
        prank[0] = 0
        pwhere[0, :] = -1

        played = 0
        for r in range(1, rounds + 1):
            ru = np.uint64(r)
            _open(st, h_trial, ru, np.uint64(_SERVER), _U0)
            if r <= n_fail:
                f = np.int64(-1)
                for i in range(n):
                    if ids[i] == failures[r - 1]:
                        f = np.int64(i)
                if f < 0:
                    o_played[ti] = played
                    return ti
            else:
                f = np.int64(_below(st, np.uint64(n)))
            fslot = order[f]
            o_failed[ti, r - 1] = ids[f]
            # parents: sample survivor indices, map to alive positions, sort ascending
            _sample(st, n - 1, n_par, pick)
            for j in range(n_par):
                v = pick[j]
                ppos[j] = v if v < f else v + 1
            if n_par <= 32:
                for j in range(1, n_par):
                    v = ppos[j]
                    i = j - 1
                    while i >= 0 and ppos[i] > v:
                        ppos[i + 1] = ppos[i]
                        i -= 1
                    ppos[i + 1] = v
            else:
                ppos[:] = np.sort(ppos)
            # uploads, in ascending parent id order
            total = 0
            for j in range(n_par):
                pos = ppos[j]
                slot = order[pos]
                pid = ids[pos]
                o_parents[ti, r - 1, j] = pid
                have = size[slot]
                offset[j] = total
                if beta >= have:
                    for i in range(have):
                        flat[total + i] = coef[slot, i]
                    total += have
                    continue
                _open(st, h_trial, ru, np.uint64(_PARENT), np.uint64(pid))
                if rlnc:
                    _elements(st, field, beta * have, mat)
                    _mix_rows(mat, beta, have, coef[slot], 0, flat, total)
                else:
                    _sample(st, have, beta, pick)
                    for i in range(beta):
                        flat[total + i] = coef[slot, pick[i]]
                total += beta
            offset[n_par] = total
            # newcomer rank
            where[:] = -1
            rank = 0
            for i in range(total):
                scratch[:] = flat[i]
                rank = _insert(basis, where, rank, scratch, k)
                if rank == k:
                    break
            o_nrank[ti, r - 1] = rank
            # the newcomer keeps, into the failed peer's slot
            _open(st, h_trial, ru, np.uint64(_NEWCOMER), _U0)
            kept = 0
            if rlnc:
                if total > 0:
                    _elements(st, field, q * total, mat)
                    _mix_rows(mat, q, total, flat, 0, coef[fslot], 0)
                    kept = q
            elif keep == _SHUFFLE:
                kept = min(q, total)
                _sample(st, total, kept, pick)
                for i in range(kept):
                    coef[fslot, i] = flat[pick[i]]
            elif keep == _DISTINCT:
                # full shuffle; first occurrences of each vector, then repeats, in that order
                want = min(q, total)
                _sample(st, total, total, pick)
                taken[:total] = False
                for i in range(total):
                    if kept == want:
                        break
                    row = flat[pick[i]]
                    repeat = False
                    for j in range(kept):
                        same = True
                        for t in range(k):
                            if coef[fslot, j, t] != row[t]:
                                same = False
                                break
                        if same:
                            repeat = True
                            break
                    if not repeat:
                        coef[fslot, kept] = row
                        taken[i] = True
                        kept += 1
                for i in range(total):
                    if kept == want:
                        break
                    if not taken[i]:
                        coef[fslot, kept] = flat[pick[i]]
                        kept += 1
            else:
                jb = np.int64(_below(st, np.uint64(n_par)))
                kept = min(q, offset[jb + 1] - offset[jb])
                for i in range(kept):
                    coef[fslot, i] = flat[offset[jb] + i]
            stored += kept - size[fslot]
            size[fslot] = kept
            if trace:
                t_kept[r - 1, :kept] = coef[fslot, :kept]
                t_nkept[r - 1] = kept
            # the failed peer leaves, the newcomer (largest id) joins at the end
            for i in range(f, n - 1):
                order[i] = order[i + 1]
                ids[i] = ids[i + 1]
            order[n - 1] = fslot
            ids[n - 1] = n + r
            o_newcomer[ti, r - 1] = n + r
            o_repair[ti, r - 1] = total
            o_collect[ti, r - 1] = stored
            # global rank over everything alive, extending the longest valid prefix
            if f < valid:
                valid = int(f)
            rank = prank[valid]
            if rank < k:
                basis[:] = pbasis[valid]
                where[:] = pwhere[valid]
                i = valid
                while i < n:
                    slot = order[i]
                    for j in range(size[slot]):
                        scratch[:] = coef[slot, j]
                        rank = _insert(basis, where, rank, scratch, k)
                        if rank == k:
                            break
                    i += 1
                    prank[i] = rank
                    if rank == k:
                        break
                    if snap:
                        pbasis[i] = basis
                        pwhere[i] = where
                prank[i:] = rank
                valid = n if snap else 0
            elif snap:
                valid = n
            o_grank[ti, r - 1] = rank
            played = r
            if rank < k:
                break
        o_played[ti] = played
    return -1


# -- draw wrappers for tests -------------------------------------------------------------------


@njit(cache=True)
def _key_kernel(
    seed: np.uint64, trial: np.uint64, rnd: np.uint64, role: np.uint64, index: np.uint64
) -> np.ndarray:
    st = np.empty(8, dtype=np.uint64)
    _open(st, _trial_hash(seed, trial), rnd, role, index)
    return st[:2].copy()


@njit(cache=True)
def _words_kernel(key: np.ndarray, count: int) -> np.ndarray:
    st = np.empty(8, dtype=np.uint64)
    _open(st, _trial_hash(key[0], key[1]), key[2], key[3], key[4])
    out = np.empty(count, dtype=np.uint64)
    for i in range(count):
        out[i] = _next(st)
    return out


@njit(cache=True)
def _below_kernel(key: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, int]:
    st = np.empty(8, dtype=np.uint64)
    _open(st, _trial_hash(key[0], key[1]), key[2], key[3], key[4])
    out = np.empty(bounds.shape[0], dtype=np.uint64)
    for i in range(bounds.shape[0]):
        out[i] = _below(st, bounds[i])
    return out, _words_used(st)


@njit(cache=True)
def _sample_kernel(key: np.ndarray, n: int, m: int) -> tuple[np.ndarray, int]:
    st = np.empty(8, dtype=np.uint64)
    _open(st, _trial_hash(key[0], key[1]), key[2], key[3], key[4])
    a = np.empty(max(n, 1), dtype=np.int64)
    _sample(st, n, m, a)
    return a[:m].copy(), _words_used(st)


@njit(cache=True)
def _elements_kernel(key: np.ndarray, field: int, count: int) -> tuple[np.ndarray, int]:
    st = np.empty(8, dtype=np.uint64)
    _open(st, _trial_hash(key[0], key[1]), key[2], key[3], key[4])
    out = np.empty(count, dtype=np.uint8)
    _elements(st, field, count, out)
    return out, _words_used(st)


def _u64(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    if not 0 <= int(value) < 2**64:
        raise ValueError(f"{name} must be in [0, 2**64); got {value}")
    return int(value)


def _key_array(seed: int, trial: int, round: int, role: int, index: int) -> np.ndarray:
    values = [
        _u64(name, value)
        for name, value in (
            ("seed", seed),
            ("trial", trial),
            ("round", round),
            ("role", role),
            ("index", index),
        )
    ]
    return np.array(values, dtype=np.uint64)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    if int(value) < 0:
        raise ValueError(f"{name} must be >= 0; got {value}")
    return int(value)


def stream_key(seed: int, trial: int, round: int, role: int, index: int = 0) -> tuple[int, int]:
    """The Philox key ``(lo, hi)`` of stream (seed, trial, round, role, index)."""
    key = _key_kernel(*(np.uint64(v) for v in _key_array(seed, trial, round, role, index)))
    return int(key[0]), int(key[1])


def stream_words(
    seed: int, trial: int, round: int, role: int, index: int, count: int
) -> np.ndarray:
    """The first ``count`` words (uint64) of stream (seed, trial, round, role, index)."""
    return _words_kernel(_key_array(seed, trial, round, role, index), _count("count", count))


def stream_below(
    seed: int, trial: int, round: int, role: int, index: int, bounds: Sequence[int]
) -> tuple[np.ndarray, int]:
    """Successive ``below(n)`` for n in ``bounds`` on one stream: (values uint64, words used)."""
    checked = [_u64("bounds[i]", b) for b in bounds]
    if any(b < 1 for b in checked):
        raise ValueError(f"bounds must be in [1, 2**64); got {list(bounds)!r}")
    values, used = _below_kernel(
        _key_array(seed, trial, round, role, index), np.array(checked, dtype=np.uint64)
    )
    return values, int(used)


def stream_sample(
    seed: int, trial: int, round: int, role: int, index: int, n: int, m: int
) -> tuple[np.ndarray, int]:
    """``sample(n, m)`` at the start of a stream: (picks int64 in draw order, words used)."""
    n, m = _count("n", n), _count("m", m)
    if m > n:
        raise ValueError(f"m must be <= n; got n={n}, m={m}")
    values, used = _sample_kernel(_key_array(seed, trial, round, role, index), n, m)
    return values, int(used)


def stream_elements(
    seed: int, trial: int, round: int, role: int, index: int, field: int, count: int
) -> tuple[np.ndarray, int]:
    """``elements(field, count)`` at the start of a stream: (uint8 values, words used)."""
    if isinstance(field, bool) or field not in (2, 256):
        raise ValueError(f"field must be 2 or 256; got {field!r}")
    values, used = _elements_kernel(
        _key_array(seed, trial, round, role, index), int(field), _count("count", count)
    )
    return values, int(used)


# -- columns -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Columns:
    """Columnar results of some trials of one point; row i is trial ``trials[i]``.

    Per (trial, round) arrays have shape (T, R) (``parents``: (T, R, P), ascending ids); cells
    of rounds not played (round index >= ``rounds_played``) are 0. Ids and ranks are int32,
    packet counts int64.
    """

    params: Params
    trials: np.ndarray
    rounds_played: np.ndarray
    failed: np.ndarray
    newcomer: np.ndarray
    parents: np.ndarray
    newcomer_rank: np.ndarray
    global_rank: np.ndarray
    repair_packets: np.ndarray
    collect_packets: np.ndarray

    def __len__(self) -> int:
        return int(self.trials.shape[0])

    @property
    def survived_rounds(self) -> np.ndarray:
        """Per trial, the rounds with global rank k before the first loss (int64 (T,))."""
        t = np.arange(len(self))
        last = np.maximum(self.rounds_played - 1, 0)
        lost = self.global_rank[t, last] < self.params.symbols
        return np.maximum(self.rounds_played.astype(np.int64) - lost, 0)

    @property
    def success(self) -> np.ndarray:
        """Per trial, True iff all R rounds were played and kept rank k (bool (T,))."""
        return self.survived_rounds == self.params.rounds

    @classmethod
    def empty(cls, params: Params, trials: np.ndarray, *, shared: bool = False) -> Columns:
        """Zeroed columns for ``trials`` (int64 (T,)); with ``shared``, in one anonymous shared
        memory map that processes forked afterwards write into."""
        t, r, p = trials.shape[0], params.rounds, params.parents
        shapes: dict[str, tuple[int, ...]] = {name: (t, r) for name in COLUMNS}
        shapes["rounds_played"] = (t,)
        shapes["parents"] = (t, r, p)
        if not shared:
            arrays = {name: np.zeros(shape, _DTYPES[name]) for name, shape in shapes.items()}
            return cls(params=params, trials=trials, **arrays)
        sizes = {n: math.prod(shape) * np.dtype(_DTYPES[n]).itemsize for n, shape in shapes.items()}
        buffer = mmap.mmap(-1, max(1, sum(-(-size // 8) * 8 for size in sizes.values())))
        arrays, offset = {}, 0
        for name, shape in shapes.items():
            count = math.prod(shape)
            arrays[name] = np.frombuffer(buffer, _DTYPES[name], count, offset).reshape(shape)
            offset += -(-sizes[name] // 8) * 8
        return cls(params=params, trials=trials, **arrays)

    def rows(self, start: int, stop: int) -> Columns:
        """Rows ``start:stop`` as views (writing them writes these columns)."""
        names = ("trials", "rounds_played", "parents", *COLUMNS)
        return Columns(self.params, **{n: getattr(self, n)[start:stop] for n in names})

    @classmethod
    def concat(cls, params: Params, parts: Sequence[Columns]) -> Columns:
        """Rows of ``parts`` one after the other."""
        if not parts:
            return cls.empty(params, np.zeros(0, dtype=np.int64))
        names = ("trials", "rounds_played", "parents", *COLUMNS)
        joined = {name: np.concatenate([getattr(c, name) for c in parts]) for name in names}
        return cls(params=params, **joined)


def _check_params(params: object) -> Params:
    if not isinstance(params, Params):
        raise TypeError(f"params must be a Params; got {type(params).__name__}")
    return params


def _check_trials(params: Params, trials: object) -> range | np.ndarray:
    """``trials`` as a range (kept lazy) or an int64 array; each in [0, 2**63)."""
    if trials is None:
        return range(params.trials)
    if isinstance(trials, range):
        if len(trials) and (min(trials) < 0 or max(trials) >= 2**63):
            raise ValueError(f"trials must be integers in [0, 2**63); got {trials!r}")
        return trials
    if isinstance(trials, str | bytes) or not hasattr(trials, "__iter__"):
        raise TypeError(f"trials must be a sequence of integers; got {type(trials).__name__}")
    if isinstance(trials, np.ndarray):
        if trials.ndim != 1 or not np.issubdtype(trials.dtype, np.integer):
            raise ValueError(f"trials must be a 1-D array of integers; got {trials.dtype}")
        if trials.size and (int(trials.min()) < 0 or int(trials.max()) >= 2**63):
            raise ValueError("trials must be integers in [0, 2**63)")
        return np.ascontiguousarray(trials, dtype=np.int64)
    values = list(trials)
    for t in values:
        if isinstance(t, bool) or not isinstance(t, int | np.integer) or not 0 <= int(t) < 2**63:
            raise ValueError(f"trials must be integers in [0, 2**63); got {t!r}")
    return np.array([int(t) for t in values], dtype=np.int64)


def _check_chunk(params: Params, chunk: object) -> int:
    if chunk is None:
        cells = params.rounds * (len(COLUMNS) + params.parents)
        return max(1, min(_MAX_CHUNK, _CHUNK_CELLS // cells))
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1; got {chunk!r}")
    return chunk


def _check_workers(workers: object) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1; got {workers!r}")
    return workers


def _unreachable_failure(params: Params, round_: int) -> ParameterError:
    """The error for scheduled ``failures[round_ - 1]`` not alive (alive is deterministic)."""
    alive = list(range(1, params.peers + 1))
    for r in range(1, round_):
        alive.remove(params.failures[r - 1])
        alive.append(params.peers + r)
    failed = params.failures[round_ - 1]
    return ParameterError(
        f"failures[{round_ - 1}] = {failed} is not alive in round {round_} (alive: {alive})"
    )


def _run(
    params: Params,
    trials: np.ndarray,
    *,
    out: Columns | None = None,
    trace: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Columns:
    """One kernel call over ``trials`` (int64 array), into ``out`` (zeroed) or new columns."""
    p = params
    if out is None:
        out = Columns.empty(p, trials)
    if trace is None:
        t_init = np.zeros((0, 0, 0), dtype=np.uint8)
        t_kept = np.zeros((0, 0, 0), dtype=np.uint8)
        t_nkept = np.zeros(0, dtype=np.int64)
    else:
        t_init, t_kept, t_nkept = trace
    bad = _play(
        trials,
        np.uint64(p.seed),
        p.peers,
        p.symbols,
        p.total_packets_made,
        p.per_peer,
        p.parents,
        p.upload,
        p.field,
        SCHEME_CODES[p.scheme],
        KEEP_CODES[p.keep],
        p.systematic,
        np.array(p.failures, dtype=np.int64),
        p.rounds,
        out.rounds_played,
        out.failed,
        out.newcomer,
        out.parents,
        out.newcomer_rank,
        out.global_rank,
        out.repair_packets,
        out.collect_packets,
        trace is not None,
        t_init,
        t_kept,
        t_nkept,
    )
    if bad >= 0:
        raise _unreachable_failure(p, int(out.rounds_played[bad]) + 1)
    return out


def iter_columns(
    params: Params, trials: Trials | None = None, chunk: int | None = None
) -> Iterator[Columns]:
    """Yield :class:`Columns` of ``trials`` (default ``range(params.trials)``), ``chunk`` trials
    at a time, in order; memory stays flat in the number of trials (one chunk's columns, if the
    consumer drops each before the next; a range of trials is never materialised).

    The default chunk aims at ~2M cells of columns (at most 8192 trials)."""
    p = _check_params(params)
    chosen = _check_trials(p, trials)
    size = _check_chunk(p, chunk)
    for start in range(0, len(chosen), size):
        yield _run(p, _as_array(chosen[start : start + size]))


def _as_array(trials: range | np.ndarray) -> np.ndarray:
    if isinstance(trials, range):
        return np.arange(trials.start, trials.stop, trials.step, dtype=np.int64)
    return np.ascontiguousarray(trials, dtype=np.int64)


def _columns_of(params: Params, trials: range | np.ndarray, chunk: int) -> Columns:
    return Columns.concat(params, list(iter_columns(params, trials, chunk)))


#: The shared columns that forked workers of :func:`simulate_columns` fill (None otherwise).
_SHARED: Columns | None = None


def _fill_shared(start: int, stop: int, chunk: int) -> None:
    """Play rows ``start:stop`` of the inherited :data:`_SHARED` columns, ``chunk`` at a time."""
    out = _SHARED
    assert out is not None, "only in a process forked by simulate_columns"
    for a in range(start, stop, chunk):
        b = min(stop, a + chunk)
        _run(out.params, out.trials[a:b], out=out.rows(a, b))


def simulate_columns(
    params: Params,
    trials: Trials | None = None,
    *,
    workers: int = 1,
    chunk: int | None = None,
) -> Columns:
    """Play ``trials`` (default ``range(params.trials)``) of ``params``; columns in order.

    ``workers`` > 1 plays contiguous slices, the first in this process and the others in
    ``workers - 1`` child processes (forked while this process has a single thread, else
    spawned); the columns are identical to a one-process run.
    """
    p = _check_params(params)
    chosen = _check_trials(p, trials)
    size = _check_chunk(p, chunk)
    workers = min(_check_workers(workers), max(1, len(chosen)))
    if workers == 1:
        return _columns_of(p, chosen, size)
    warm_up()
    bounds = np.linspace(0, len(chosen), workers + 1).round().astype(int).tolist()
    spans = list(itertools.pairwise(bounds))
    parts = [chosen[a:b] for a, b in spans]
    # The caller plays the first slice while workers - 1 child processes play the others.
    fork = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
    if fork:
        # Forked children inherit the shared columns and write their rows in place.
        global _SHARED
        out = Columns.empty(p, _as_array(chosen), shared=True)
        _SHARED = out
        try:
            with ProcessPoolExecutor(
                max_workers=workers - 1, mp_context=multiprocessing.get_context("fork")
            ) as pool:
                filling = [pool.submit(_fill_shared, a, b, size) for a, b in spans[1:]]
                _fill_shared(*spans[0], size)
                for future in filling:
                    future.result()
        finally:
            _SHARED = None
        return out
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers - 1, mp_context=context) as pool:
        futures = [pool.submit(_columns_of, p, part, size) for part in parts[1:]]
        results = [_columns_of(p, parts[0], size)]
        results.extend(f.result() for f in futures)
    return Columns.concat(p, results)


def records(columns: Columns) -> list[TrialRecord]:
    """:class:`TrialRecord` objects (in row order) of ``columns``; durations are 0."""
    if not isinstance(columns, Columns):
        raise TypeError(f"columns must be a Columns; got {type(columns).__name__}")
    p = columns.params
    k = p.symbols
    message = packet_message_size(k, p.symbol_size)
    played = columns.rounds_played.tolist()
    cols = [getattr(columns, name).tolist() for name in COLUMNS]
    parents = columns.parents.tolist()
    out = []
    for i, trial in enumerate(columns.trials.tolist()):
        record = TrialRecord(trial=int(trial), seed=p.seed)
        failed, newcomer, nrank, grank, repair, collect = (c[i] for c in cols)
        for r in range(played[i]):
            ok = grank[r] == k
            record.rounds.append(
                RoundRecord(
                    round=r + 1,
                    failed=failed[r],
                    newcomer=newcomer[r],
                    parents=tuple(parents[i][r]),
                    newcomer_rank=nrank[r],
                    global_rank=grank[r],
                    decoded=ok,
                    verified=ok,
                    verdict="ok" if ok else "undecodable",
                    repair_packets=repair[r],
                    repair_bytes=repair[r] * message,
                    collect_packets=collect[r],
                    collect_bytes=collect[r] * message,
                )
            )
        out.append(record)
    return out


def simulate_point(
    params: Params, *, trials: Sequence[int] | None = None, workers: int = 1
) -> list[TrialRecord]:
    """Records of ``trials`` (default ``range(params.trials)``), on ``workers`` processes."""
    return records(simulate_columns(params, trials, workers=workers))


def simulate_trials_fast(params: Params, trials: Sequence[int]) -> list[TrialRecord]:
    """Records of ``trials`` of ``params``, in one process."""
    return records(simulate_columns(params, trials))


# -- trace -------------------------------------------------------------------------------------


@dataclass(eq=False)
class Trace:
    """One trial's coefficient rows: ``initial[i]`` (uint8 (Q, k)) is what peer i + 1 stores
    after placement, ``kept[r - 1]`` (uint8 (kept, k)) what round r's newcomer keeps;
    ``columns`` is the trial's one-row :class:`Columns` (who failed, ...)."""

    params: Params
    trial: int
    initial: list[np.ndarray]
    kept: list[np.ndarray]
    columns: Columns

    def stored(self, after_round: int) -> dict[int, np.ndarray]:
        """Every alive peer's stored rows after round ``after_round`` (0: after placement)."""
        played = int(self.columns.rounds_played[0])
        if isinstance(after_round, bool) or not isinstance(after_round, int):
            raise TypeError(f"after_round must be an integer; got {after_round!r}")
        if not 0 <= after_round <= played:
            raise ValueError(f"after_round must be in [0, {played}]; got {after_round}")
        peers = {i + 1: rows for i, rows in enumerate(self.initial)}
        for r in range(after_round):
            del peers[int(self.columns.failed[0, r])]
            peers[int(self.columns.newcomer[0, r])] = self.kept[r]
        return peers


def trace_trial(params: Params, trial: int) -> Trace:
    """Play trial ``trial`` of ``params`` recording every stored coefficient row."""
    p = _check_params(params)
    chosen = _check_trials(p, [trial])
    n, q, k, rounds = p.peers, p.per_peer, p.symbols, p.rounds
    t_init = np.zeros((n, q, k), dtype=np.uint8)
    t_kept = np.zeros((rounds, q, k), dtype=np.uint8)
    t_nkept = np.zeros(rounds, dtype=np.int64)
    cols = _run(p, np.asarray(chosen, dtype=np.int64), trace=(t_init, t_kept, t_nkept))
    played = int(cols.rounds_played[0])
    return Trace(
        params=p,
        trial=int(chosen[0]),
        initial=[t_init[i].copy() for i in range(n)],
        kept=[t_kept[r, : t_nkept[r]].copy() for r in range(played)],
        columns=cols,
    )


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel, e.g. before forking workers."""
    _run(Params(peers=3, symbols=2, q=1, parents=1, rounds=1), np.zeros(1, dtype=np.int64))
    stream_key(0, 0, 0, 1, 0)
    stream_words(0, 0, 0, 1, 0, 1)
    stream_below(0, 0, 0, 1, 0, [1])
    stream_sample(0, 0, 0, 1, 0, 1, 1)
    stream_elements(0, 0, 0, 1, 0, 256, 1)
