"""The compiled simulator against the draw specification (the model in tests/spec_model.py) and
the round rules, written again here as a small pure-Python model (python ints)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from spec_model import Stream, combine, keep_distinct, key, rank

from rlnc_testbed.protocol.params import ParameterError, Params
from rlnc_testbed.simulation import compiled
from rlnc_testbed.simulation.compiled import (
    COLUMNS,
    iter_columns,
    records,
    simulate_columns,
    simulate_point,
    stream_below,
    stream_elements,
    stream_key,
    stream_sample,
    stream_words,
    trace_trial,
)
from rlnc_testbed.wire import packet_message_size

SERVER, ENGINE, PARENT, NEWCOMER = 1, 2, 3, 4

# -- the round rules ---------------------------------------------------------------------------


def model_trial(p: Params, trial: int) -> tuple[list[tuple], list[dict[int, list[tuple]]]]:
    """(per round: failed, newcomer, parents, ranks, repair, collect; stored rows per round)."""
    n, k, big_k, q, n_par, beta = (
        p.peers,
        p.symbols,
        p.total_packets_made,
        p.per_peer,
        p.parents,
        p.upload,
    )
    unit = [tuple(int(i == j) for i in range(k)) for j in range(k)]
    if p.scheme == "replication":
        packets = [unit[j % k] for j in range(big_k)]
    else:
        plain = min(big_k, k) if p.systematic else 0
        drawn = Stream(p.seed, trial, 0, ENGINE, 0).elements(p.field, (big_k - plain) * k)
        packets = unit[:plain] + [tuple(drawn[i * k : i * k + k]) for i in range(big_k - plain)]
    stored = {i + 1: packets[i * q : i * q + q] for i in range(n)}
    rounds, states = [], [dict(stored)]
    for r in range(1, p.rounds + 1):
        alive = sorted(stored)
        srv = Stream(p.seed, trial, r, SERVER, 0)
        if r <= len(p.failures):
            failed = p.failures[r - 1]
            assert failed in alive
        else:
            failed = alive[srv.below(len(alive))]
        survivors = [x for x in alive if x != failed]
        parents = sorted(survivors[i] for i in srv.sample(len(survivors), n_par))
        uploads = []
        for x in parents:
            rows, have = stored[x], len(stored[x])
            if beta >= have:
                uploads.append(list(rows))
                continue
            g = Stream(p.seed, trial, r, PARENT, x)
            if p.scheme == "rlnc":
                m = g.elements(p.field, beta * have)
                uploads.append([combine(m[i * have : i * have + have], rows) for i in range(beta)])
            else:
                uploads.append([rows[i] for i in g.sample(have, beta)])
        flat = [row for up in uploads for row in up]
        g = Stream(p.seed, trial, r, NEWCOMER, 0)
        if p.scheme == "rlnc":
            m = g.elements(p.field, q * len(flat)) if flat else []
            size = len(flat)
            kept = [combine(m[i * size : i * size + size], flat) for i in range(q)] if flat else []
        elif p.keep == "distinct":
            kept = [flat[i] for i in keep_distinct(g, flat, q)]
        elif p.keep == "shuffle":
            kept = [flat[i] for i in g.sample(len(flat), min(q, len(flat)))]
        else:
            kept = uploads[g.below(n_par)][:q]
        del stored[failed]
        stored[n + r] = kept
        everything = [row for x in sorted(stored) for row in stored[x]]
        g_rank = rank(everything)
        rounds.append(
            (failed, n + r, tuple(parents), rank(flat), g_rank, len(flat), len(everything))
        )
        states.append(dict(stored))
        if g_rank < k:
            break
    return rounds, states


def columns_rounds(cols: compiled.Columns, i: int) -> list[tuple]:
    out = []
    for r in range(int(cols.rounds_played[i])):
        failed, newcomer, nrank, grank, repair, collect = (
            int(getattr(cols, name)[i, r]) for name in COLUMNS
        )
        parents = tuple(int(x) for x in cols.parents[i, r])
        out.append((failed, newcomer, parents, nrank, grank, repair, collect))
    return out


CASES = [
    Params(peers=4, symbols=4, redundancy=2.0, parents=2, rounds=6),
    Params(peers=4, symbols=4, redundancy=2.0, parents=2, rounds=6, field=2),
    Params(peers=5, symbols=3, q=3, parents=2, beta=1, rounds=6, field=2),
    Params(peers=5, symbols=4, q=3, parents=3, beta=2, rounds=6),
    Params(peers=4, symbols=5, redundancy=2.0, parents=2, rounds=5, systematic=True),
    Params(peers=3, symbols=4, redundancy=2.5, parents=2, rounds=6),  # K = 10 > N * Q = 9
    Params(peers=4, symbols=4, q=2, parents=3, rounds=6, failures=(2, 5, 1)),
    Params(peers=4, symbols=4, q=3, parents=2, rounds=6, scheme="coded-copy", keep="shuffle"),
    Params(peers=4, symbols=4, q=3, parents=2, beta=2, rounds=6, scheme="coded-copy", field=2),
    # GF(2), k = 2: four possible vectors, so uploads repeat them and "distinct" must skip
    Params(peers=5, symbols=2, q=3, parents=3, rounds=6, scheme="coded-copy", field=2),
    Params(peers=4, symbols=4, q=3, parents=3, rounds=6, scheme="coded-copy", systematic=True),
    Params(peers=4, symbols=4, q=3, parents=2, beta=1, rounds=6, scheme="coded-copy", keep="block"),
    Params(
        peers=5,
        symbols=4,
        q=2,
        parents=3,
        rounds=6,
        scheme="coded-copy",
        keep="block",
        systematic=True,
        failures=(3,),
    ),
    Params(peers=4, symbols=3, q=2, parents=2, rounds=6, scheme="replication", keep="shuffle"),
    Params(peers=4, symbols=3, q=2, parents=2, rounds=6, scheme="replication"),
    # every symbol on 4 of 5 peers: most uploads hold duplicates; beta < Q too
    Params(peers=5, symbols=3, q=3, parents=3, rounds=6, scheme="replication", keep="distinct"),
    Params(peers=6, symbols=4, q=2, parents=4, beta=1, rounds=6, scheme="replication"),
    Params(
        peers=4, symbols=3, q=3, parents=3, beta=2, rounds=6, scheme="replication", keep="block"
    ),
]


def _case_id(p: Params) -> str:
    extra = [f"beta{p.upload}<Q{p.per_peer}"] if p.upload < p.per_peer else []
    extra += ["systematic"] * p.systematic + [f"failures{list(p.failures)}"] * bool(p.failures)
    return "-".join(
        [p.scheme, p.keep, f"GF{p.field}", f"N{p.peers}k{p.symbols}K{p.total_packets_made}", *extra]
    )


@pytest.mark.parametrize("params", CASES, ids=_case_id)
def test_every_column_and_stored_row_equals_the_model(params: Params) -> None:
    trials = list(range(10))
    cols = simulate_columns(params, trials)
    assert cols.trials.tolist() == trials
    lost = 0
    for i, t in enumerate(trials):
        expected, states = model_trial(params, t)
        assert columns_rounds(cols, i) == expected, f"trial {t}"
        lost += expected[-1][4] < params.symbols
        assert int(cols.survived_rounds[i]) == sum(e[4] == params.symbols for e in expected)
        trace = trace_trial(params, t)
        for r, state in enumerate(states):
            got = trace.stored(r)
            assert sorted(got) == sorted(state)
            for peer, rows in state.items():
                assert [tuple(int(v) for v in row) for row in got[peer]] == rows, (t, r, peer)
    assert cols.success.tolist() == [
        int(cols.rounds_played[i]) == params.rounds
        and int(cols.survived_rounds[i]) == params.rounds
        for i in range(len(trials))
    ]


# -- draw primitives ---------------------------------------------------------------------------


def test_philox_words_equal_numpy_random_raw() -> None:
    for i in range(60):
        where = (i * 7919, 3 * i, i % 5, 1 + i % 5, 2**64 - 1 - i if i % 2 else i)
        lo, hi = key(*where)
        assert stream_key(*where) == (lo, hi)
        expected = np.random.Philox(key=(hi << 64) | lo).random_raw(1 + 3 * i % 13)
        np.testing.assert_array_equal(stream_words(*where, 1 + 3 * i % 13), expected)


def test_below_sample_elements_equal_the_model() -> None:
    rng = np.random.default_rng(1)
    for i in range(40):
        where = (i, 2 * i + 1, i % 3, PARENT, i)
        bounds = [int(b) for b in rng.integers(1, 2**63, 5)] + [1, 2, 3, 2**64 - 1, 10]
        model = Stream(*where)
        values, used = stream_below(*where, bounds)
        assert values.tolist() == [model.below(b) for b in bounds]
        assert used == model.used
        n = int(rng.integers(0, 30))
        m = int(rng.integers(0, n + 1))
        model = Stream(*where)
        picks, used = stream_sample(*where, n, m)
        assert picks.tolist() == model.sample(n, m) and used == model.used
        for field in (2, 256):
            count = int(rng.integers(0, 200))
            model = Stream(*where)
            elements, used = stream_elements(*where, field, count)
            assert elements.tolist() == model.elements(field, count)
            assert used == model.used == -(-count // (8 if field == 256 else 64))


def test_below_rejection_consumes_extra_words() -> None:
    n = 2**63 + 1  # rejects about half of the first words: low(x * n) < 2**63 - 1
    rejecting = []
    for t in range(200):
        model = Stream(0, t, 0, SERVER, 0)
        model.below(n)
        if model.used >= 2:
            rejecting.append((t, model.used))
    assert any(used >= 3 for _, used in rejecting)
    for t, words in rejecting[:20]:
        model = Stream(0, t, 0, SERVER, 0)
        bounds = [n, n, 2**64 - 1, 7]
        values, used = stream_below(0, t, 0, SERVER, 0, bounds)
        expected = [model.below(b) for b in bounds]
        assert values.tolist() == expected and used == model.used
        first, used = stream_below(0, t, 0, SERVER, 0, [n])
        assert used == words and first.tolist() == expected[:1]


# -- API ---------------------------------------------------------------------------------------

POINT = Params(peers=6, symbols=6, redundancy=1.5, parents=2, rounds=8, field=2)


def _assert_same(a: compiled.Columns, b: compiled.Columns) -> None:
    for name in ("trials", "rounds_played", "parents", *COLUMNS):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_workers_and_chunks_do_not_change_the_columns() -> None:
    one = simulate_columns(POINT, range(5, 45))
    assert one.rounds_played.min() < POINT.rounds  # some trials lose data
    _assert_same(one, simulate_columns(POINT, range(5, 45), workers=2))
    _assert_same(one, simulate_columns(POINT, list(range(5, 45)), chunk=3))
    parts = list(iter_columns(POINT, range(5, 45), chunk=7))
    assert [len(c) for c in parts] == [7] * 5 + [5]
    _assert_same(one, compiled.Columns.concat(POINT, parts))
    _assert_same(simulate_columns(POINT.with_(trials=40)), simulate_columns(POINT, range(40)))


def test_spawned_workers_when_threads_run_give_the_same_columns() -> None:
    release = threading.Event()
    helper = threading.Thread(target=release.wait, daemon=True)
    helper.start()  # a second thread makes fork unsafe: simulate_columns spawns instead
    try:
        spawned = simulate_columns(POINT, range(12), workers=2)
    finally:
        release.set()
        helper.join()
    _assert_same(spawned, simulate_columns(POINT, range(12)))


def test_trials_may_be_arrays_or_empty() -> None:
    _assert_same(
        simulate_columns(POINT, np.array([7, 2, 9], dtype=np.int32)),
        simulate_columns(POINT, [7, 2, 9]),
    )
    empty = simulate_columns(POINT, [])
    assert len(empty) == 0 and empty.parents.shape == (0, POINT.rounds, POINT.parents)
    assert records(empty) == []


def test_records_carry_every_column() -> None:
    cols = simulate_columns(POINT, [3, 1, 4])
    recs = records(cols)
    assert [r.trial for r in recs] == [3, 1, 4]
    assert recs == simulate_point(POINT, trials=[3, 1, 4])
    message = packet_message_size(POINT.symbols, POINT.symbol_size)
    for i, rec in enumerate(recs):
        assert rec.seed == POINT.seed and len(rec.rounds) == cols.rounds_played[i]
        for r, rr in enumerate(rec.rounds):
            assert (rr.round, rr.failed, rr.newcomer, rr.parents) == (
                r + 1,
                cols.failed[i, r],
                cols.newcomer[i, r],
                tuple(cols.parents[i, r]),
            )
            assert rr.decoded == rr.verified == (rr.global_rank == POINT.symbols)
            assert rr.verdict == ("ok" if rr.decoded else "undecodable")
            assert (
                rr.repair_bytes
                == rr.repair_packets * message
                == cols.repair_packets[i, r] * message
            )
            assert rr.collect_bytes == rr.collect_packets * message


def test_argument_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match="params"):
        simulate_columns("rlnc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="trials"):
        simulate_columns(POINT, [0, -1])
    with pytest.raises(ValueError, match="trials"):
        simulate_columns(POINT, [1.5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="trials"):
        simulate_columns(POINT, 7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers"):
        simulate_columns(POINT, workers=0)
    with pytest.raises(ValueError, match="chunk"):
        list(iter_columns(POINT, chunk=0))
    with pytest.raises(TypeError, match="columns"):
        records([])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bounds"):
        stream_below(0, 0, 0, 1, 0, [0])
    with pytest.raises(ValueError, match="m must be"):
        stream_sample(0, 0, 0, 1, 0, 2, 3)
    with pytest.raises(ValueError, match="field"):
        stream_elements(0, 0, 0, 1, 0, 3, 1)
    with pytest.raises(ValueError, match="seed"):
        stream_words(-1, 0, 0, 1, 0, 1)
    with pytest.raises(ValueError, match="trials"):
        simulate_columns(POINT, np.array([[1]]))
    with pytest.raises(ValueError, match="after_round"):
        trace_trial(POINT, 0).stored(POINT.rounds + 1)


def test_a_scheduled_failure_that_is_not_alive_raises_parameter_error() -> None:
    params = Params(peers=3, symbols=2, q=2, parents=2, rounds=3, failures=(2, 2))
    with pytest.raises(ParameterError, match=r"failures\[1\] = 2 is not alive in round 2"):
        simulate_columns(params, range(3))
