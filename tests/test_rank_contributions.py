"""Each peer's share of the global rank (``RoundRecord.ranks`` / ``.contributions``).

The collector reports, per alive peer, the rank of the packets it delivered and how much its
clean packets raise the rank when the senders are taken in ascending id order. These tests
check both against this file's own Gaussian elimination over galois fields (not the project's
decoder or kernels), on what the peers of real memory-transport runs hold (their digests must
be the record's, so they are the packets the collector judged), over both of the collector's
paths: the per-packet decoder and, above ``DECODE_LIMIT``, block elimination
(:func:`~rlnc_testbed.roles.collector.blocked_pivots`).
"""

from __future__ import annotations

from typing import Any

import galois
import numpy as np
import pytest

from rlnc_testbed.experiment.cluster import Cluster, run_trial
from rlnc_testbed.experiment.runner import run_point
from rlnc_testbed.protocol import Params, RoundRecord
from rlnc_testbed.protocol.records import stored_digest
from rlnc_testbed.roles import collector
from rlnc_testbed.roles.byzantine import byzantine
from rlnc_testbed.roles.collector import blocked_pivots, blocked_rank
from rlnc_testbed.roles.storage import StoragePeer

GF256 = galois.GF(2**8, irreducible_poly=0x11D)
GF2 = galois.GF(2)
#: Five peers, k = 8, redundancy 1.6: trials lose a round now and then (rank < k), and many
#: peers' packets are partly spanned by lower ids'.
SMALL = Params(
    peers=5, symbols=8, symbol_size=32, redundancy=1.6, parents=2, scheme="rlnc", rounds=4,
    trials=3, seed=0,
)  # fmt: skip


def _innovative(rows: np.ndarray, field: int) -> list[bool]:
    """Whether each row is outside the span of the rows before it (this file's own reduced
    row echelon basis, galois arithmetic)."""
    gf = GF2 if field == 2 else GF256
    k = rows.shape[1]
    basis = gf.Zeros((0, k))  # each row 1 at its pivot, 0 at every other row's pivot
    pivots: list[int] = []
    out = []
    for raw in rows:
        row = gf(np.array(raw, dtype=np.uint8))
        if pivots:
            row = row - row[pivots] @ basis
        nonzero = np.flatnonzero(row)
        if not nonzero.size:
            out.append(False)
            continue
        lead = int(nonzero[0])
        row = row / row[lead]
        basis = basis - np.outer(basis[:, lead], row)
        basis = np.vstack([basis, row.reshape(1, k)])
        pivots.append(lead)
        out.append(True)
    return out


def _rank(rows: np.ndarray, field: int) -> int:
    gf = GF2 if field == 2 else GF256
    return int(np.linalg.matrix_rank(gf(rows))) if rows.shape[0] else 0


# -- the oracle itself, and block elimination -----------------------------------------------


def _matrix(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A (m, k) matrix with dependent rows spread through it, and its field."""
    m, k = 300, 150  # several column blocks (64) and row chunks (128)
    if kind == "low-rank":  # rank 90: a product of (m, 90) and (90, k)
        left = GF256.Random((m, 90), seed=rng)
        return np.asarray(left @ GF256.Random((90, k), seed=rng), dtype=np.uint8), 256
    if kind == "gf2":
        rows = rng.integers(0, 2, (m, k), dtype=np.uint8)
        rows[::4] = rows[1::4][: len(rows[::4])] ^ rows[2::4][: len(rows[::4])]
        return rows, 2
    rows = rng.integers(0, 256, (m, k), dtype=np.uint8)
    rows[5] = 0
    rows[7] = rows[3]  # a duplicate of an earlier row
    combos = GF256(rows[:40]).T @ GF256.Random(40, seed=rng)
    rows[60] = np.asarray(combos, dtype=np.uint8)  # a combination of earlier rows
    rows[200:] = np.asarray(GF256.Random((100, 60), seed=rng) @ GF256(rows[:60]), dtype=np.uint8)
    return rows, 256


@pytest.mark.parametrize("kind", ["dense", "low-rank", "gf2"])
def test_blocked_pivots_are_the_rows_innovative_in_order(kind: str) -> None:
    rows, field = _matrix(kind, np.random.default_rng(7))
    flags = _innovative(rows, field)
    assert sum(flags) == _rank(rows, field)  # the oracle agrees with galois' rank
    assert not all(flags), "the matrix should have dependent rows"
    pivots = blocked_pivots(rows)
    assert pivots.tolist() == np.flatnonzero(flags).tolist()
    assert blocked_rank(rows) == len(pivots)
    for j in (1, 64, 129, 250):  # any prefix's rank is the pivots before it
        assert int((pivots < j).sum()) == _rank(rows[:j], field)


def test_blocked_pivots_when_the_first_k_plus_slack_rows_are_not_full_rank() -> None:
    """The shortcut (the first k + slack rows alone) must fall back to the whole matrix
    when that prefix is short of rank k, and give the oracle's pivots either way."""
    rng = np.random.default_rng(11)
    k = 150
    low = GF256.Random((260, 100), seed=rng) @ GF256.Random((100, k), seed=rng)
    rows = np.vstack([np.asarray(low, dtype=np.uint8), rng.integers(0, 256, (80, k), np.uint8)])
    assert _rank(rows[: k + 64], 256) == 100 and _rank(rows, 256) == k  # the fallback case
    flags = _innovative(rows, 256)
    assert blocked_pivots(rows).tolist() == np.flatnonzero(flags).tolist()
    full = rng.integers(0, 256, (2 * k + 40, k), dtype=np.uint8)  # the shortcut case
    assert blocked_pivots(full).tolist() == np.flatnonzero(_innovative(full, 256)).tolist()


def test_blocked_pivots_edge_shapes() -> None:
    assert blocked_pivots(np.zeros((0, 5), dtype=np.uint8)).tolist() == []
    assert blocked_pivots(np.zeros((4, 0), dtype=np.uint8)).tolist() == []
    assert blocked_pivots(np.zeros((4, 70), dtype=np.uint8)).tolist() == []
    twice = np.vstack([np.eye(70, dtype=np.uint8)] * 2)
    assert blocked_pivots(twice).tolist() == list(range(70))
    late = np.zeros((3, 70), dtype=np.uint8)
    late[2, 69] = 5  # the only nonzero entry: in the last column block, the last row
    assert blocked_pivots(late).tolist() == [2]


# -- real memory-transport runs -------------------------------------------------------------


async def _run(params: Params, trial: int, roles: dict[str, Any] | None = None) -> list[Any]:
    """A memory trial; after each round, what every alive storage node holds (id -> packets)."""
    held: list[tuple[RoundRecord, dict[str, list[Any]]]] = []
    alive = {str(i) for i in range(1, params.peers + 1)}
    async with Cluster(params, trial, transport="memory", roles=roles or {}) as cluster:

        def on_round(record: RoundRecord) -> None:
            alive.discard(str(record.failed))
            alive.add(str(record.newcomer))
            nodes = [n for n in cluster.nodes if isinstance(n, StoragePeer) and n.id in alive]
            held.append((record, {n.id: list(n.stored) for n in nodes}))

        cluster.on_round = on_round
        await cluster.run()
    return held


def _expected(stored: dict[str, list[Any]], field: int) -> tuple[dict[str, int], dict[str, int]]:
    """Per peer: the rank of its own packets, and what they add in ascending id order."""
    senders = sorted(stored, key=int)
    rows = np.vstack(
        [np.stack([pk.coefficients for pk in stored[x]]) for x in senders if stored[x]]
    )
    flags = iter(_innovative(rows, field))
    contributions = {x: sum(next(flags) for _ in stored[x]) for x in senders}
    ranks = {
        x: _rank(np.stack([pk.coefficients for pk in stored[x]]), field) if stored[x] else 0
        for x in senders
    }
    return ranks, contributions


@pytest.mark.parametrize("path", ["decoder", "blocked"])
@pytest.mark.parametrize("field", [256, 2])
async def test_contributions_of_a_real_run_are_the_prefix_ranks(
    path: str, field: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = SMALL.with_(field=field)
    if path == "blocked":  # judge by block elimination, as rounds of more than 512 symbols are
        monkeypatch.setattr(collector, "DECODE_LIMIT", 0)
    spanned = lost = 0
    for trial in range(params.trials):
        for record, stored in await _run(params, trial):
            assert record.verdict in ("ok", "undecodable")
            # The packets this test looked at are the ones the collector judged.
            assert record.stored == {x: stored_digest(pks) for x, pks in stored.items()}
            ranks, contributions = _expected(stored, field)
            assert record.ranks == ranks
            assert record.contributions == contributions
            assert sum(record.contributions.values()) == record.global_rank
            for peer, share in record.contributions.items():
                assert 0 <= share <= record.ranks[peer] <= len(stored[peer])
            spanned += sum(record.contributions[x] < record.ranks[x] for x in stored)
            lost += record.global_rank < params.symbols
    # Not a trivial run: some peers' packets were partly spanned, some round was lost.
    assert spanned > 0
    assert lost > 0


async def test_a_polluters_packets_add_nothing_but_keep_their_rank() -> None:
    params = SMALL.with_(seed=4, trials=1)
    record = await run_trial(
        params, 0, transport="memory", roles={"peer": byzantine({"3"}, "peer")}
    )
    rnd = record.rounds[-1]
    assert rnd.verdict == "corrupt" and rnd.polluters == ["3"]
    assert rnd.contributions["3"] == 0
    assert rnd.ranks["3"] > 0  # its coefficients are fine; its payloads are not
    assert sum(rnd.contributions.values()) == rnd.global_rank
    assert set(rnd.contributions) == set(rnd.ranks) == set(rnd.stored)


def test_the_sim_transport_leaves_them_empty() -> None:
    # Documented in RoundRecord: the simulators do not simulate per-peer payloads for this.
    result = run_point(SMALL.with_(trials=2), transport="sim")
    rounds = [r for t in result.trials for r in t.rounds]
    assert rounds and all(r.ranks == {} and r.contributions == {} for r in rounds)
