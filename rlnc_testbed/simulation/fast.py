"""Coefficient-only simulator: the reference's draws, its linear algebra in numba kernels.

A trial follows exactly the round semantics of :mod:`rlnc_testbed.simulation.reference` and
makes exactly the same numpy draws (same generator keys as ``rng_for``, same calls, same order,
same shapes), but tracks coefficient vectors only: verified == decoded, durations are 0.
Python makes the draws round by round; the state (a uint8 (Q, k) block per peer slot - the
newcomer takes the failed peer's slot) lives in numpy arrays that one numba kernel call updates
for a chunk of rounds (chunks of 1, 2, 4, ... rounds), stopping at the first lost round.

Speed: one ``numpy.random.Generator`` is reused and its Philox state reset to the derived key
(~1 us instead of ~11 us for a new one; the stream is identical, a test checks it); keys are
derived in numba; parents that draw nothing (beta >= what they store) get no generator, as in
``parent_upload``. GF(2) and GF(2^8) share the GF(2^8) tables of :mod:`rlnc_testbed.coding.gf`:
on {0, 1} they are GF(2) arithmetic, and rank does not change in an extension field.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from numba import njit

from rlnc_testbed.coding import placement
from rlnc_testbed.coding.gf import GF256_INV, GF256_MUL
from rlnc_testbed.protocol.draws import Role
from rlnc_testbed.protocol.params import ParameterError, Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord
from rlnc_testbed.simulation.reference import check_trial
from rlnc_testbed.wire import packet_message_size

__all__ = [
    "ROW_FIELDS",
    "PhiloxReset",
    "records_from_rows",
    "simulate_point",
    "simulate_rows",
    "simulate_trials_fast",
    "warm_up",
]

#: Columns of the compact int64 rows (one per round played) that cross process boundaries;
#: the P parent ids follow them.
ROW_FIELDS = (
    "trial",
    "round",
    "failed",
    "newcomer",
    "newcomer_rank",
    "global_rank",
    "repair_packets",
    "collect_packets",
)
_NCOLS = len(ROW_FIELDS)
#: Rounds per kernel call grow 1, 2, 4, ... up to this (few wasted draws after a lost round).
_MAX_CHUNK = 16

# -- numba kernels -----------------------------------------------------------------------------

_UP_ALL, _UP_RECODE, _UP_SELECT = 0, 1, 2
_KEEP_RECODE, _KEEP_SELECT, _KEEP_BLOCK = 0, 1, 2

_MUL = np.ascontiguousarray(GF256_MUL)
_INV = np.ascontiguousarray(GF256_INV)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_HI_SALT = np.uint64(0x5851F42D4C957F2D)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)
_SERVER, _NEWCOMER, _PARENT = int(Role.SERVER), int(Role.NEWCOMER), int(Role.PARENT)


@njit(cache=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    """splitmix64 finaliser, bit for bit the one of :func:`rlnc_testbed.protocol.draws.rng_for`."""
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@njit(cache=True, inline="always")
def _key_into(h0: np.uint64, rnd: int, role: int, index: int, out: np.ndarray) -> None:
    h = _mix(_mix(h0 ^ np.uint64(rnd)) ^ np.uint64(role))
    lo = _mix(h ^ np.uint64(index))
    out[0] = lo
    out[1] = _mix(lo ^ _HI_SALT)


@njit(cache=True)
def _one_key(seed: int, trial: int, rnd: int, role: int, index: int) -> np.ndarray:
    """uint64 (2,): the Philox key ``[low, high]`` of ``rng_for(seed, trial, rnd, role, index)``."""
    out = np.empty(2, dtype=np.uint64)
    _key_into(_mix(_mix(np.uint64(seed)) ^ np.uint64(trial)), rnd, role, index, out)
    return out


@njit(cache=True)
def _round_keys(seed: int, trial: int, r_from: int, count: int) -> np.ndarray:
    """uint64 (count, 2, 2): SERVER and NEWCOMER keys of rounds ``r_from .. r_from + count - 1``."""
    out = np.empty((count, 2, 2), dtype=np.uint64)
    h0 = _mix(_mix(np.uint64(seed)) ^ np.uint64(trial))
    for c in range(count):
        _key_into(h0, r_from + c, _SERVER, 0, out[c, 0])
        _key_into(h0, r_from + c, _NEWCOMER, 0, out[c, 1])
    return out


@njit(cache=True, inline="always")
def _insert(basis: np.ndarray, pivot: np.ndarray, rank: int, row: np.ndarray, k: int) -> int:
    """Reduce ``row`` (scratch, changed) against a row-echelon basis; return the new rank.

    Basis row b has a 1 in its pivot column c (``pivot[c] == b``) and zeros before c.
    """
    for c in range(k):
        v = row[c]
        if v == 0:
            continue
        b = pivot[c]
        if b < 0:
            scale = _MUL[_INV[v]]
            for j in range(c):
                basis[rank, j] = 0
            for j in range(c, k):
                basis[rank, j] = scale[row[j]]
            pivot[c] = rank
            return rank + 1
        m = _MUL[v]
        for j in range(c, k):
            row[j] ^= m[basis[b, j]]
    return rank


@njit(cache=True, inline="always")
def _combine(mat: np.ndarray, rows: int, cols: int, src: np.ndarray, out: np.ndarray) -> None:
    """``out[:rows] = mat[:rows, :cols] @ src[:cols]`` over GF(2^8) (GF(2) on 0/1 entries)."""
    k = src.shape[1]
    for i in range(rows):
        for t in range(k):
            out[i, t] = 0
        for j in range(cols):
            c = mat[i, j]
            if c == 0:
                continue
            m = _MUL[c]
            for t in range(k):
                out[i, t] ^= m[src[j, t]]


@njit(cache=True)
def _run_rounds(
    coef: np.ndarray,
    size: np.ndarray,
    failed: np.ndarray,
    parents: np.ndarray,
    up_mode: np.ndarray,
    up_mat: np.ndarray,
    up_idx: np.ndarray,
    keep_mode: int,
    keep_mat: np.ndarray,
    keep_idx: np.ndarray,
    keep_j: np.ndarray,
    beta: int,
    q: int,
    count: int,
    out_newcomer_rank: np.ndarray,
    out_global_rank: np.ndarray,
) -> int:
    """Play ``count`` recorded rounds on the state; stop after the first lost round.

    State (changed in place): ``coef`` uint8 (N, Q, k) rows stored per slot, ``size`` int64
    (N,). Round c: ``failed[c]`` is the failed peer's slot (the newcomer takes it),
    ``parents[c]`` slots in ascending id order, ``up_mode[c, p]`` with ``up_mat[c, p]``
    (beta, Q) recoding coefficients or ``up_idx[c, p]`` (beta,) stored-row indices; the newcomer
    keeps by ``keep_mode`` from ``keep_mat[c]`` (Q, P * beta), ``keep_idx[c]`` (Q,) or
    ``keep_j[c]``. Writes both ranks per round; returns the rounds played.
    """
    n_slots, _, k = coef.shape
    n_par = parents.shape[1]
    flat = np.empty((n_par * coef.shape[1], k), dtype=np.uint8)
    offset = np.empty(n_par + 1, dtype=np.int64)
    basis = np.empty((k, k), dtype=np.uint8)
    pivot = np.empty(k, dtype=np.int64)
    scratch = np.empty(k, dtype=np.uint8)
    c = 0
    while c < count:
        total = 0
        for p in range(n_par):
            offset[p] = total
            slot = parents[c, p]
            have = size[slot]
            mode = up_mode[c, p]
            if mode == _UP_ALL:
                for i in range(have):
                    flat[total + i] = coef[slot, i]
                total += have
            elif mode == _UP_RECODE:
                _combine(up_mat[c, p], beta, have, coef[slot], flat[total : total + beta])
                total += beta
            else:
                for i in range(beta):
                    flat[total + i] = coef[slot, up_idx[c, p, i]]
                total += beta
        offset[n_par] = total
        pivot[:] = -1
        rank = 0
        for i in range(total):
            scratch[:] = flat[i]
            rank = _insert(basis, pivot, rank, scratch, k)
            if rank == k:
                break
        out_newcomer_rank[c] = rank

        new = failed[c]
        if keep_mode == _KEEP_RECODE:
            _combine(keep_mat[c], q, total, flat, coef[new])
            size[new] = q
        elif keep_mode == _KEEP_SELECT:
            kept = min(q, total)
            for i in range(kept):
                coef[new, i] = flat[keep_idx[c, i]]
            size[new] = kept
        else:
            j = keep_j[c]
            kept = min(q, offset[j + 1] - offset[j])
            for i in range(kept):
                coef[new, i] = flat[offset[j] + i]
            size[new] = kept

        pivot[:] = -1
        rank = 0
        for slot in range(n_slots):
            for i in range(size[slot]):
                scratch[:] = coef[slot, i]
                rank = _insert(basis, pivot, rank, scratch, k)
                if rank == k:
                    break
            if rank == k:
                break
        out_global_rank[c] = rank
        c += 1
        if rank < k:
            break
    return c


# -- draws -------------------------------------------------------------------------------------


class PhiloxReset:
    """One Generator whose Philox state is reset to a key: the stream of a fresh ``rng_for``.

    ``np.random.Philox(key=K)`` starts at counter 0 with an empty buffer; setting exactly that
    state on a reused bit generator gives the same stream without building a new object.
    """

    def __init__(self) -> None:
        self._bits = np.random.Philox(key=0)
        self.rng = np.random.Generator(self._bits)
        self._key = np.zeros(2, np.uint64)
        self._state: Any = {
            "bit_generator": "Philox",
            "state": {"counter": np.zeros(4, np.uint64), "key": self._key},
            "buffer": np.zeros(4, np.uint64),
            "buffer_pos": 4,
            "has_uint32": 0,
            "uinteger": 0,
        }

    def at(self, key: np.ndarray) -> np.random.Generator:
        """Return the generator, reset to Philox key ``[low, high]`` (uint64 (2,))."""
        self._key[:] = key
        self._bits.state = self._state
        return self.rng


# -- one point ---------------------------------------------------------------------------------


class _Point:
    """Everything fixed for one Params: shapes, the initial placement, reusable buffers."""

    def __init__(self, params: Params) -> None:
        p = self.p = params
        self.n, self.k, self.q, self.beta = p.peers, p.symbols, p.per_peer, p.upload
        self.big_k, self.n_par, self.field = p.total_packets_made, p.parents, p.field
        self.rlnc = p.scheme == "rlnc"
        self.keep_mode = (
            _KEEP_RECODE if self.rlnc else (_KEEP_SELECT if p.keep == "shuffle" else _KEEP_BLOCK)
        )
        slots = placement(self.big_k, self.q, self.n)
        self.sizes0 = [len(s) for s in slots]
        self.q_cap = max(self.q, *self.sizes0)
        index = np.zeros((self.n, self.q_cap), dtype=np.int64)
        for i, s in enumerate(slots):
            index[i, : len(s)] = np.fromiter(s, dtype=np.int64, count=len(s))
        self.index = index
        self.units = min(self.big_k, self.k) if (p.systematic or p.scheme == "replication") else 0
        identity = np.zeros((self.big_k, self.k), dtype=np.uint8)
        rows = np.arange(self.big_k) if p.scheme == "replication" else np.arange(self.units)
        identity[rows, rows % self.k] = 1
        self.identity = identity
        c, par, qc = _MAX_CHUNK, self.n_par, self.q_cap
        self.failed = np.zeros(c, dtype=np.int64)
        self.parents = np.zeros((c, par), dtype=np.int64)
        self.up_mode = np.zeros((c, par), dtype=np.int64)
        self.up_mat = np.zeros((c, par, self.beta, qc), dtype=np.uint8)
        self.up_idx = np.zeros((c, par, self.beta), dtype=np.int64)
        self.keep_mat = np.zeros((c, self.q, par * qc), dtype=np.uint8)
        self.keep_idx = np.zeros((c, self.q), dtype=np.int64)
        self.keep_j = np.zeros(c, dtype=np.int64)
        self.nrank = np.zeros(c, dtype=np.int64)
        self.grank = np.zeros(c, dtype=np.int64)
        self.gens = PhiloxReset()

    def initial(self, trial: int) -> np.ndarray:
        """The (N, Q, k) coefficient blocks the engine places (draws as ``make_packets``)."""
        p = self.p
        made = self.identity
        if p.scheme != "replication":
            engine = self.gens.at(_one_key(p.seed, trial, 0, int(Role.ENGINE), 0))
            drawn = engine.integers(
                0, self.field, size=(self.big_k - self.units, self.k), dtype=np.uint8
            )
            made = np.concatenate((self.identity[: self.units], drawn))
        coef = made[self.index]
        for i, have in enumerate(self.sizes0):
            coef[i, have:] = 0
        return coef

    def trial_rows(self, trial: int) -> list[list[int]]:
        """Play one trial; one row (ROW_FIELDS + parent ids) per round played."""
        p, k = self.p, self.k
        state = _TrialState(self, trial)
        rows: list[list[int]] = []
        r, chunk = 1, 1
        while r <= p.rounds:
            count = min(chunk, p.rounds - r + 1)
            chunk = min(2 * chunk, _MAX_CHUNK)
            keys = _round_keys(p.seed, trial, r, count)
            pending = [self._draw_round(state, c, r + c, keys[c]) for c in range(count)]
            played = _run_rounds(
                state.coef,
                state.size,
                self.failed,
                self.parents,
                self.up_mode,
                self.up_mat,
                self.up_idx,
                self.keep_mode,
                self.keep_mat,
                self.keep_idx,
                self.keep_j,
                self.beta,
                self.q,
                count,
                self.nrank,
                self.grank,
            )
            for c in range(played):
                row = pending[c]
                row[4] = int(self.nrank[c])
                row[5] = int(self.grank[c])
                rows.append(row)
            if played < count or self.grank[played - 1] < k:
                break
            r += count
        return rows

    def _draw_round(self, st: _TrialState, c: int, rnd: int, keys: np.ndarray) -> list[int]:
        """Make round ``rnd``'s draws into buffer row ``c``; advance who is alive and sizes.

        Same generators, calls, order and shapes as ``choose_failure``, ``choose_parents``,
        ``parent_upload`` and ``newcomer_keep``. Returns the round's row (ranks still 0).
        """
        p, n, beta, q, at, field = self.p, self.n, self.beta, self.q, self.gens.at, self.field
        alive, sizes, slot_of = st.alive, st.sizes, st.slot_of
        srv = at(keys[0])
        if rnd <= len(p.failures):
            failed = p.failures[rnd - 1]
            if failed not in slot_of:
                raise ParameterError(
                    f"failures[{rnd - 1}] = {failed} is not alive in round {rnd} (alive: {alive})"
                )
        else:
            failed = alive[int(srv.integers(n))]
        alive.remove(failed)
        parents = sorted([alive[i] for i in srv.choice(n - 1, size=self.n_par, replace=False)])
        counts = []
        for x, peer in enumerate(parents):
            slot = slot_of[peer]
            self.parents[c, x] = slot
            have = sizes[slot]
            if beta >= have:
                self.up_mode[c, x] = _UP_ALL
                counts.append(have)
                continue
            g = at(_one_key(p.seed, st.trial, rnd, _PARENT, peer))
            if self.rlnc:
                self.up_mode[c, x] = _UP_RECODE
                self.up_mat[c, x, :, :have] = g.integers(0, field, (beta, have), dtype=np.uint8)
            else:
                self.up_mode[c, x] = _UP_SELECT
                self.up_idx[c, x] = g.permutation(have)[:beta]
            counts.append(beta)
        repair = sum(counts)
        g = at(keys[1])
        if self.rlnc:
            self.keep_mat[c, :, :repair] = g.integers(0, field, (q, repair), dtype=np.uint8)
            kept = q if repair else 0
        elif self.keep_mode == _KEEP_SELECT:
            kept = min(q, repair)
            self.keep_idx[c, :kept] = g.permutation(repair)[:kept]
        else:
            j = int(g.integers(self.n_par))
            self.keep_j[c] = j
            kept = min(q, counts[j])
        slot = slot_of.pop(failed)
        self.failed[c] = slot
        newcomer = n + rnd
        slot_of[newcomer] = slot
        st.stored += kept - sizes[slot]
        sizes[slot] = kept
        alive.append(newcomer)
        return [st.trial, rnd, failed, newcomer, 0, 0, repair, st.stored, *parents]


class _TrialState:
    """Who is alive, in which slot, storing how many rows; the (N, Q, k) coefficient blocks."""

    def __init__(self, point: _Point, trial: int) -> None:
        self.trial = trial
        self.coef = point.initial(trial)
        self.size = np.array(point.sizes0, dtype=np.int64)
        self.sizes = list(point.sizes0)
        self.slot_of = {peer: peer - 1 for peer in range(1, point.n + 1)}
        self.alive = list(range(1, point.n + 1))
        self.stored = sum(self.sizes)


def simulate_rows(params: Params, trials: Sequence[int]) -> np.ndarray:
    """The compact int64 rows (ROW_FIELDS + P parent ids) of ``trials``, round by round."""
    if not isinstance(params, Params):
        raise TypeError(f"params must be a Params; got {type(params).__name__}")
    checked = [check_trial(t) for t in trials]
    point = _Point(params)
    rows: list[list[int]] = []
    for t in checked:
        rows.extend(point.trial_rows(t))
    out = np.array(rows, dtype=np.int64).reshape(len(rows), _NCOLS + params.parents)
    return out


def records_from_rows(params: Params, trials: Sequence[int], rows: np.ndarray) -> list[TrialRecord]:
    """Rebuild TrialRecords (in ``trials`` order) from :func:`simulate_rows` output."""
    k = params.symbols
    message = packet_message_size(k, params.symbol_size)
    by_trial: dict[int, TrialRecord] = {}
    records = []
    for t in trials:
        record = TrialRecord(trial=int(t), seed=params.seed)
        by_trial[int(t)] = record
        records.append(record)
    for row in rows.tolist():
        trial, rnd, failed, newcomer, nrank, grank, repair, collect = row[:_NCOLS]
        ok = grank == k
        by_trial[trial].rounds.append(
            RoundRecord(
                round=rnd,
                failed=failed,
                newcomer=newcomer,
                parents=tuple(row[_NCOLS:]),
                newcomer_rank=nrank,
                global_rank=grank,
                decoded=ok,
                verified=ok,
                verdict="ok" if ok else "undecodable",
                repair_packets=repair,
                repair_bytes=repair * message,
                collect_packets=collect,
                collect_bytes=collect * message,
            )
        )
    return records


def simulate_trials_fast(params: Params, trials: Sequence[int]) -> list[TrialRecord]:
    """Run ``trials`` of ``params`` coefficient-only; records equal to the reference's outcomes."""
    trials = list(trials)
    return records_from_rows(params, trials, simulate_rows(params, trials))


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel, e.g. before forking workers."""
    for scheme, keep in (("rlnc", "shuffle"), ("replication", "shuffle"), ("coded-copy", "block")):
        simulate_rows(
            Params(peers=3, symbols=2, q=1, parents=1, rounds=1, scheme=scheme, keep=keep), [0]
        )


def simulate_point(
    params: Params, *, trials: Sequence[int] | None = None, workers: int = 1
) -> list[TrialRecord]:
    """Run the trials (default ``range(params.trials)``), on ``workers`` processes if > 1.

    Workers get contiguous slices of the trials and send back compact int64 rows; the records
    are identical to a one-process run.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1; got {workers!r}")
    chosen = list(range(params.trials)) if trials is None else [check_trial(t) for t in trials]
    workers = min(workers, max(1, len(chosen)))
    if workers == 1:
        return simulate_trials_fast(params, chosen)
    warm_up()
    bounds = np.linspace(0, len(chosen), workers + 1).round().astype(int)
    parts = [chosen[a:b] for a, b in itertools.pairwise(bounds.tolist())]
    # fork shares the loaded kernels; it is only safe while this process has a single thread.
    single = threading.active_count() == 1
    fork = single and "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        results = list(pool.map(simulate_rows, [params] * workers, parts))
    rows = np.concatenate(results)
    return records_from_rows(params, chosen, rows)
