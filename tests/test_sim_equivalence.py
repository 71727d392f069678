"""The coefficient-only fast simulator decides every round exactly as the full-payload reference."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlnc_testbed.protocol.params import FIELDS, KEEP_RULES, SCHEMES, Params
from rlnc_testbed.protocol.records import TrialRecord
from rlnc_testbed.simulation import simulate_trial, simulate_trials_fast
from rlnc_testbed.strategies import params


def _full(record: TrialRecord) -> list[tuple[object, ...]]:
    """Outcome plus the counted (not measured) fields of every round."""
    return [
        (
            *r.outcome(),
            r.verdict,
            r.repair_packets,
            r.repair_bytes,
            r.collect_packets,
            r.collect_bytes,
        )
        for r in record.rounds
    ]


def _assert_same(p: Params, trials: list[int]) -> list[TrialRecord]:
    fast = simulate_trials_fast(p, trials)
    assert [f.trial for f in fast] == trials
    for t, got in zip(trials, fast, strict=True):
        want = simulate_trial(p, t)
        assert _full(got) == _full(want), (p, t)
        assert got.success == want.success
    return fast


CASES = [
    pytest.param(scheme, field, keep, systematic, id=f"{scheme}-gf{field}-{keep}-sys{systematic}")
    for scheme, field, keep, systematic in itertools.product(
        SCHEMES, FIELDS, KEEP_RULES, (False, True)
    )
    if scheme != "rlnc" or keep == Params().keep  # rlnc recodes; keep does not apply
]


@pytest.mark.parametrize(("scheme", "field", "keep", "systematic"), CASES)
def test_fast_matches_reference(scheme: str, field: int, keep: str, systematic: bool) -> None:
    verdicts = set()
    for seed, redundancy, parents, beta in [
        (1, 1.5, 1, None),  # Q = 2 = beta
        (2, 2.5, 2, 1),  # beta < Q
        (3, 3.0, 3, 2),  # beta < Q, more parents
        (4, 2.0, 2, None),
    ]:
        p = Params(
            peers=6,
            symbols=8,
            symbol_size=12,
            redundancy=redundancy,
            parents=parents,
            scheme=scheme,
            field=field,
            keep=keep,
            systematic=systematic,
            beta=beta,
            rounds=8,
            seed=seed,
        )
        for record in _assert_same(p, [0, 1, 2]):
            verdicts.update(r.verdict for r in record.rounds)
    assert "ok" in verdicts  # the comparison covered played-out rounds ...
    if scheme != "rlnc" or field == 2:
        assert "undecodable" in verdicts  # ... and lost ones


def test_scheduled_failures_match_and_are_used() -> None:
    for scheme in SCHEMES:
        p = Params(peers=4, symbols=6, q=3, parents=2, scheme=scheme, rounds=5, failures=(2, 5, 1))
        (record,) = _assert_same(p, [7])
        assert [r.failed for r in record.rounds[:3]] == [2, 5, 1][: len(record.rounds)]


def test_target_point_matches_reference() -> None:
    p = Params(peers=10, symbols=20, symbol_size=8, redundancy=2.0, parents=3, rounds=10, seed=11)
    records = _assert_same(p, list(range(6)))
    assert sum(len(r.rounds) for r in records) >= 6


@given(p=params(), trial=st.integers(0, 2**20))
def test_fast_matches_reference_on_random_params(p: Params, trial: int) -> None:
    _assert_same(p, [trial])


@given(p=params())
def test_params_strategy_gives_valid_small_params(p: Params) -> None:
    assert 2 <= p.peers <= 6 and 1 <= p.symbols <= 8 and 1 <= p.rounds <= 5
    assert 1 <= p.upload <= p.per_peer and 1 <= p.parents < p.peers
    assert len(p.failures) <= p.rounds
