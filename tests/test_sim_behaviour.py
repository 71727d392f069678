"""Simulator behaviour: determinism, workers, statistical cross-checks, errors."""

from __future__ import annotations

import random

import pytest

from rlnc_testbed.analysis.stats import wilson_interval
from rlnc_testbed.protocol.params import ParameterError, Params
from rlnc_testbed.simulation import simulate_point, simulate_trial, simulate_trials_fast


def test_same_seed_same_records_and_trials_differ() -> None:
    p = Params(peers=8, symbols=10, symbol_size=4, redundancy=2.0, parents=2, rounds=6, seed=9)
    first = [r.to_dict() for r in simulate_trials_fast(p, range(5))]
    again = [r.to_dict() for r in simulate_trials_fast(p, [0, 1, 2, 3, 4])]
    assert first == again
    assert (
        simulate_trial(p, 2).to_dict()["rounds"][0]["parents"] == first[2]["rounds"][0]["parents"]
    )
    decisions = {tuple((r["failed"], *r["parents"]) for r in rec["rounds"]) for rec in first}
    assert len(decisions) == 5  # each trial draws its own failures and parents
    other_seed = simulate_trials_fast(p.with_(seed=10), range(5))
    assert [r.to_dict() for r in other_seed] != first


def test_two_workers_give_the_same_records_as_one() -> None:
    p = Params(peers=10, symbols=20, redundancy=2.0, parents=2, rounds=10, trials=40, seed=5)
    one = simulate_point(p, workers=1)
    two = simulate_point(p, workers=2)
    assert [r.trial for r in one] == list(range(40))
    assert [r.to_dict() for r in two] == [r.to_dict() for r in one]
    picked = simulate_point(p, trials=[30, 3, 17], workers=2)
    assert [r.to_dict() for r in picked] == [one[t].to_dict() for t in (30, 3, 17)]


def _copy_model_success(
    n: int,
    k: int,
    q: int,
    parents: int,
    rounds: int,
    rng: random.Random,
    *,
    distinct: int,
    keep: str = "shuffle",
) -> bool:
    """Independent model of the copy schemes with keep=shuffle or distinct, on packet labels.

    Packet j of the engine carries label ``j % distinct``: ``distinct = k`` is replication
    (label = source symbol), ``distinct = K`` is coded copy (label = original coded packet).
    Data survives while at least k distinct labels are stored (exact for replication; for coded
    copy over GF(2^8) k distinct random packets are independent with probability > 0.99, so
    the model is a hair high). keep=distinct: flat shuffled, each label's first copy before
    the repeats, the first q of that."""
    stored = {
        peer: [j % distinct for j in range((peer - 1) * q, peer * q)] for peer in range(1, n + 1)
    }
    for r in range(1, rounds + 1):
        failed = rng.choice(sorted(stored))
        del stored[failed]
        chosen = rng.sample(sorted(stored), parents)
        flat = [s for peer in sorted(chosen) for s in stored[peer]]  # beta = Q: all of it
        if keep == "shuffle":
            stored[n + r] = rng.sample(flat, min(q, len(flat)))
        else:
            shuffled = rng.sample(flat, len(flat))
            firsts = [s for i, s in enumerate(shuffled) if s not in shuffled[:i]]
            repeats = [s for i, s in enumerate(shuffled) if s in shuffled[:i]]
            stored[n + r] = (firsts + repeats)[: min(q, len(flat))]
        if len({s for block in stored.values() for s in block}) < k:
            return False
    return True


def test_replication_success_rate_agrees_with_an_independent_model() -> None:
    n, k, parents, rounds = 10, 20, 3, 10
    p = Params(peers=n, symbols=k, redundancy=4.0, parents=parents, scheme="replication",
               keep="shuffle", rounds=rounds, seed=123)  # fmt: skip
    records = simulate_point(p, trials=range(600))
    wins = sum(r.success for r in records)
    for record in records:  # the rank of unit vectors is the number of distinct symbols
        assert all(r.global_rank <= k and r.verified == (r.global_rank == k) for r in record.rounds)
    rng = random.Random(2024)
    model_trials = 6000
    model = sum(
        _copy_model_success(n, k, p.per_peer, parents, rounds, rng, distinct=k)
        for _ in range(model_trials)
    )
    lo, hi = wilson_interval(wins, len(records))
    assert 0.2 < wins / len(records) < 0.8  # a point where the rate says something
    assert lo <= model / model_trials <= hi, (wins, model)


def test_rlnc_with_enough_parents_keeps_data() -> None:
    # P * Q = 5 * 4 = 20 >= k: the information-flow min-cut stays >= k, so GF(2^8) RLNC survives.
    p = Params(peers=10, symbols=20, redundancy=2.0, parents=5, scheme="rlnc", rounds=10, seed=77)
    records = simulate_point(p, trials=range(300), workers=2)
    assert sum(r.success for r in records) / len(records) >= 0.99
    # with one parent a newcomer's rank is <= Q < k, and data is lost more often
    few = simulate_trials_fast(p.with_(parents=1), range(300))
    assert all(r.newcomer_rank <= p.per_peer for rec in few for r in rec.rounds)
    assert sum(r.success for r in few) / len(few) < 0.9


def test_bad_inputs_are_refused_by_name() -> None:
    p = Params(peers=4, symbols=4, q=2, parents=1, rounds=3, failures=(2, 2))
    with pytest.raises(ParameterError, match=r"failures\[1\] = 2 is not alive"):
        simulate_trial(p, 0)
    with pytest.raises(ParameterError, match=r"failures\[1\] = 2 is not alive"):
        simulate_trials_fast(p, [0])
    ok = p.with_(failures=())
    for bad in (-1, 2**63, 1.5, True, "0"):
        with pytest.raises(ValueError, match=r"trials must be integers in \[0, 2\*\*63\)"):
            simulate_trials_fast(ok, [bad])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="trial must be an integer"):
            simulate_trial(ok, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers must be"):
        simulate_point(ok, workers=0)
    with pytest.raises(ValueError, match="at most symbols"):
        simulate_trial(ok, 0, data=bytes(4 * 220 + 1))
    with pytest.raises(TypeError, match="params must be a Params"):
        simulate_trials_fast({"peers": 4}, [0])  # type: ignore[arg-type]


def test_user_data_is_verified_and_default_trials_are_used() -> None:
    p = Params(peers=5, symbols=6, symbol_size=5, q=3, parents=2, rounds=4, trials=3, seed=1)
    record = simulate_trial(p, 0, data=b"hello, rlnc")
    assert record.rounds[0].verified
    assert [r.outcome() for r in record.rounds] == [
        r.outcome() for r in simulate_trial(p, 0).rounds
    ]
    assert [r.trial for r in simulate_point(p)] == [0, 1, 2]


def test_coded_copy_success_rate_agrees_with_an_independent_model() -> None:
    n, k, parents, rounds = 10, 20, 3, 10
    p = Params(peers=n, symbols=k, redundancy=2.0, parents=parents, scheme="coded-copy",
               keep="shuffle", rounds=rounds, seed=321)  # fmt: skip
    records = simulate_point(p, trials=range(600))
    wins = sum(r.success for r in records)
    rng = random.Random(99)
    model_trials = 6000
    model = sum(
        _copy_model_success(n, k, p.per_peer, parents, rounds, rng, distinct=p.total_packets_made)
        for _ in range(model_trials)
    )
    lo, hi = wilson_interval(wins, len(records))
    assert 0.2 < wins / len(records) < 0.8  # a point where the rate says something
    assert lo <= model / model_trials <= hi, (wins, model)
    # and copies never create rank: the newcomer's kept packets are among what it received
    assert all(r.global_rank <= k for rec in records for r in rec.rounds)


@pytest.mark.parametrize("keep", ["distinct", "shuffle"])
def test_keep_rules_agree_with_the_independent_model_where_symbols_repeat(keep: str) -> None:
    # Each symbol on 3 of 6 peers, 3 parents of Q = 3: most uploads repeat a symbol, and the
    # two rules differ by ~0.07 here (tests/test_keep_distinct.py).
    n, k, parents, rounds = 6, 6, 3, 10
    p = Params(peers=n, symbols=k, redundancy=3.0, parents=parents, scheme="replication",
               keep=keep, rounds=rounds, seed=5)  # fmt: skip
    wins = sum(r.success for r in simulate_point(p, trials=range(3000)))
    rng = random.Random(7)
    model_trials = 6000
    model = sum(
        _copy_model_success(n, k, p.per_peer, parents, rounds, rng, distinct=k, keep=keep)
        for _ in range(model_trials)
    )
    lo, hi = wilson_interval(wins, 3000, confidence=0.999)
    assert 0.2 < wins / 3000 < 0.8
    assert lo <= model / model_trials <= hi, (keep, wins, model)
