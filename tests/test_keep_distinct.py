"""keep = "distinct" (docs/protocol.md §6.3, NEWCOMER): the rule's properties, and what it changes.

The rule: ``order = sample(len(flat), len(flat))`` on the NEWCOMER stream; in that order, each
coefficient vector's first packet before every repeat; the first min(Q, len(flat)). The property
tests drive :func:`rlnc_testbed.protocol.rules.newcomer_keep` with uploads drawn from a small
pool of vectors (so repeats are common) and compare it with the tests' own model
(``tests/spec_model.py``). The behavioural tests measure survival with the compiled simulator
and print the rates in their messages.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_model import Stream, keep_distinct

from rlnc_testbed.analysis.stats import wilson_interval
from rlnc_testbed.coding import CodedPacket
from rlnc_testbed.protocol import Params, Role
from rlnc_testbed.protocol.draws import DrawStream, stream_key
from rlnc_testbed.protocol.rules import newcomer_keep
from rlnc_testbed.simulation.compiled import simulate_columns

SETTINGS = settings(deadline=None)
COPIES = ("replication", "coded-copy")


def _packet(vector: tuple[int, ...], tag: int) -> CodedPacket:
    """A packet with coefficient vector ``vector`` (payload ``tag``: tells copies apart)."""
    return CodedPacket(
        coefficients=np.array(vector, dtype=np.uint8), payload=np.array([tag], dtype=np.uint8)
    )


@st.composite
def uploads(draw: st.DrawFn) -> list[list[CodedPacket]]:
    """0-4 uploads of 0-5 packets whose vectors come from a pool of 1-4 (repeats are common);
    shrinks towards no upload."""
    pool = draw(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=1, max_size=4))
    sizes = draw(st.lists(st.integers(0, 5), max_size=4))
    tag = iter(range(256))
    return [[_packet(draw(st.sampled_from(pool)), next(tag)) for _ in range(n)] for n in sizes]


def _vectors(packets: list[CodedPacket]) -> list[tuple[int, ...]]:
    return [tuple(p.coefficients.tolist()) for p in packets]


@SETTINGS
@given(
    scheme=st.sampled_from(COPIES),
    received=uploads(),
    q=st.integers(1, 12),
    seed=st.integers(0, 2**63 - 1),
    rnd=st.integers(1, 50),
)
def test_distinct_keeps_min_q_and_no_duplicate_while_a_distinct_packet_is_unused(
    scheme: str, received: list[list[CodedPacket]], q: int, seed: int, rnd: int
) -> None:
    key = stream_key(seed, 0, rnd, Role.NEWCOMER, 0)
    stream = DrawStream(key)
    kept = newcomer_keep(scheme, received, q, field=256, keep="distinct", stream=stream)
    flat = [p for block in received for p in block]
    # as many as shuffle stores, each a packet of flat, none of flat's packets twice
    assert len(kept) == min(q, len(flat))
    positions = [next(i for i, p in enumerate(flat) if p is x) for x in kept]
    assert len(set(positions)) == len(positions)
    # never a repeat while a distinct vector is unused: the kept distinct vectors are as many
    # as can be, and every repeat comes after all of them
    vectors = _vectors(kept)
    distinct = len(set(_vectors(flat)))
    assert len(set(vectors)) == min(len(kept), distinct)
    firsts = [v not in vectors[:i] for i, v in enumerate(vectors)]
    assert firsts == sorted(firsts, reverse=True)
    # exactly the specified draws, and what the tests' own model of §6.3 keeps
    model = Stream(seed, 0, rnd, int(Role.NEWCOMER), 0)
    assert positions == keep_distinct(model, _vectors(flat), q)
    assert stream.used == model.used  # a full shuffle: len(flat) below() calls, none if empty
    # a function of the stream: the same key keeps the same packets, in the same order
    again = newcomer_keep(scheme, received, q, field=256, keep="distinct", stream=DrawStream(key))
    assert [x is y for x, y in zip(again, kept, strict=True)] == [True] * len(kept)


@SETTINGS
@given(
    sizes=st.lists(st.integers(0, 5), max_size=4),
    q=st.integers(1, 12),
    seed=st.integers(0, 2**63 - 1),
)
def test_without_repeats_distinct_keeps_what_shuffle_keeps(
    sizes: list[int], q: int, seed: int
) -> None:
    """sample(n, n) starts with sample(n, m): the rules differ only where vectors repeat."""
    tags = iter(range(256))
    received = [[_packet((next(tags), 0, 0), 0) for _ in range(n)] for n in sizes]
    key = stream_key(seed, 0, 1, Role.NEWCOMER, 0)
    got = {
        keep: newcomer_keep("replication", received, q, field=2, keep=keep, stream=DrawStream(key))
        for keep in ("distinct", "shuffle")
    }
    assert [x is y for x, y in zip(got["distinct"], got["shuffle"], strict=True)] == [True] * len(
        got["shuffle"]
    )


def test_repeats_fill_only_what_distinct_vectors_cannot() -> None:
    a, b = (1, 0, 0), (0, 1, 0)
    received = [[_packet(a, 0), _packet(a, 1)], [_packet(a, 2), _packet(b, 3)]]
    for seed in range(20):
        stream = DrawStream(stream_key(seed, 0, 1, Role.NEWCOMER, 0))
        kept = newcomer_keep("replication", received, 3, field=256, keep="distinct", stream=stream)
        assert sorted(_vectors(kept[:2])) == sorted([a, b]) and _vectors(kept)[2] == a
        assert stream.used == 4
        one = newcomer_keep(
            "coded-copy", received, 1, field=256, keep="distinct", stream=DrawStream(stream.key)
        )
        assert len(one) == 1


# -- behaviour: survival with the compiled simulator ------------------------------------------

#: The issue's setting (issue 12, "Fair baselines"): the default 10 peers, 20 symbols, r = 2,
#: 10 rounds, replication.
ISSUE = Params(peers=10, symbols=20, redundancy=2.0, scheme="replication", rounds=10, seed=1)
#: Each symbol on 3 of 6 peers, Q = 3: parents often hold the same symbol.
CROWDED = Params(peers=6, symbols=6, redundancy=3.0, scheme="replication", rounds=10, seed=1)
TRIALS = 8000


def _survival(params: Params, **changes: object) -> tuple[int, float, float, float]:
    """(successes, rate, Wilson 99.9% lo, hi) over TRIALS trials of ``params`` + ``changes``."""
    wins = int(simulate_columns(params.with_(**changes), range(TRIALS)).success.sum())
    lo, hi = wilson_interval(wins, TRIALS, confidence=0.999)
    return wins, wins / TRIALS, lo, hi


def _table(rates: dict[tuple[str, int], tuple[int, float, float, float]]) -> str:
    return "; ".join(
        f"{keep} P={p}: {rate:.4f} [{lo:.4f}, {hi:.4f}]"
        for (keep, p), (_, rate, lo, hi) in sorted(rates.items())
    )


@pytest.mark.parametrize("params", [ISSUE, CROWDED], ids=["issue-N10k20r2", "crowded-N6k6r3"])
def test_distinct_survives_at_least_as_often_as_shuffle(params: Params) -> None:
    """Same draws where nothing repeats, fewer wasted slots where something does."""
    rates = {
        (keep, p): _survival(params, keep=keep, parents=p)
        for keep in ("shuffle", "distinct")
        for p in (1, 2, 3, 4)
    }
    message = f"{TRIALS} trials each: {_table(rates)}"
    assert rates["shuffle", 1] == rates["distinct", 1], message  # one parent: nothing repeats
    for p in (2, 3, 4):
        # never worse beyond noise: shuffle's rate is inside or below distinct's interval
        assert rates["shuffle", p][1] <= rates["distinct", p][3], message
        if params is CROWDED:  # many repeats: clearly better (99.9% intervals apart)
            assert rates["distinct", p][2] > rates["shuffle", p][3], message


def test_at_the_issues_setting_p1_still_wins_because_it_clones_a_parent() -> None:
    """Duplicates are not why replication at P = 1 beats P >= 2 at r = 2: with K = 2k the
    placement stores every block of Q symbols on two peers, and a newcomer that copies one
    parent (P = 1, or keep = "block" at any P) keeps such blocks whole, so only k / Q = 5
    blocks must survive instead of k = 20 symbols. keep = "distinct" removes the duplicates
    (a little better than shuffle) but not that gap."""
    rates = {("distinct", p): _survival(ISSUE, keep="distinct", parents=p) for p in (1, 2, 3, 4)}
    rates |= {("block", p): _survival(ISSUE, keep="block", parents=p) for p in (2, 4)}
    message = f"{TRIALS} trials each: {_table(rates)}"
    one = rates["distinct", 1]
    for p in (2, 3, 4):
        assert rates["distinct", p][3] < one[2], message  # P >= 2 clearly below P = 1
    for p in (2, 4):
        block = rates["block", p]
        assert block[2] < one[1] < block[3], message  # cloning at any P: as P = 1
