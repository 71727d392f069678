"""The rule functions: outputs, and exactly the specified draws (no more, no fewer)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_model import Stream, keep_distinct

from rlnc_testbed.coding import CodedPacket, Encoder, Recoder
from rlnc_testbed.protocol import KEEP_RULES, SCHEMES, ParameterError, Params, Role, stream_for
from rlnc_testbed.protocol.draws import DrawStream, stream_key
from rlnc_testbed.protocol.rules import (
    choose_parents,
    failed_peer,
    make_packets,
    newcomer_id,
    newcomer_keep,
    parent_upload,
    placement,
)
from rlnc_testbed.strategies import coded_packets, fields

SETTINGS = settings(deadline=None)


def _pair(seed: int) -> tuple[DrawStream, DrawStream]:
    key = stream_key(seed, 0, 1, Role.PARENT, 0)
    return DrawStream(key), DrawStream(key)


def _encoder(k: int = 4, s: int = 8, field: int = 256, seed: int = 0) -> Encoder:
    data = bytes(range(k * s))
    return Encoder(data, symbols=k, symbol_size=s, field=field, rng=_pair(seed)[0])


def _same(a: list[CodedPacket], b: list[CodedPacket]) -> bool:
    return len(a) == len(b) and all(x == y for x, y in zip(a, b, strict=True))


def test_schemes_constant() -> None:
    assert SCHEMES == ("replication", "coded-copy", "rlnc")
    assert KEEP_RULES == ("distinct", "shuffle", "block")
    assert Params().keep == "distinct"  # the default: the fair copy baseline


@pytest.mark.parametrize("count", [0, 3, 4, 11])
def test_replication_packets_cycle_source_symbols_without_draws(count: int) -> None:
    enc = _encoder()
    packets = make_packets("replication", enc, count)
    assert enc._rng.used == 0
    assert len(packets) == count
    for j, packet in enumerate(packets):
        np.testing.assert_array_equal(packet.coefficients, np.eye(4, dtype=np.uint8)[j % 4])
        np.testing.assert_array_equal(packet.payload, enc.source[j % 4])


@pytest.mark.parametrize("scheme", ["coded-copy", "rlnc"])
def test_coded_schemes_use_encoder(scheme: str) -> None:
    assert _same(make_packets(scheme, _encoder(seed=3), 9), _encoder(seed=3).encode(9))


def test_placement() -> None:
    assert placement(10, 3, 3) == [range(0, 3), range(3, 6), range(6, 9)]
    assert placement(6, 2, 3) == [range(0, 2), range(2, 4), range(4, 6)]
    assert placement(5, 0, 4) == [range(0, 0)] * 4
    with pytest.raises(ValueError, match="3 peers x q=3 = 9 packets, but only 8 exist"):
        placement(8, 3, 3)
    with pytest.raises(ValueError, match="must be >= 0"):
        placement(8, -1, 3)


@SETTINGS
@given(
    scheme=st.sampled_from(SCHEMES),
    field=fields(),
    stored_n=st.integers(0, 8),
    beta=st.integers(1, 10),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_parent_upload_draws(
    scheme: str, field: int, stored_n: int, beta: int, seed: int, data: st.DataObject
) -> None:
    stored = [data.draw(coded_packets(field, symbols=3, symbol_size=4)) for _ in range(stored_n)]
    stream, mirror = _pair(seed)
    sent = parent_upload(scheme, stored, beta, field=field, stream=stream)
    if beta >= stored_n:
        assert sent == stored and sent is not stored
    elif scheme == "rlnc":
        assert _same(sent, Recoder(stored, field=field, rng=mirror).recode(beta))
    else:
        picks = mirror.sample(stored_n, beta)
        assert all(sent[i] is stored[picks[i]] for i in range(beta))
        assert len(sent) == beta
    assert stream.used == mirror.used


@SETTINGS
@given(
    scheme=st.sampled_from(SCHEMES),
    keep=st.sampled_from(KEEP_RULES),
    field=fields(),
    sizes=st.lists(st.integers(0, 4), max_size=4),
    q=st.integers(0, 9),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_newcomer_keep_draws(
    scheme: str,
    keep: str,
    field: int,
    sizes: list[int],
    q: int,
    seed: int,
    data: st.DataObject,
) -> None:
    received = [
        [data.draw(coded_packets(field, symbols=2, symbol_size=3)) for _ in range(size)]
        for size in sizes
    ]
    flat = [p for block in received for p in block]
    stream, mirror = _pair(seed)
    kept = newcomer_keep(scheme, received, q, field=field, keep=keep, stream=stream)
    if scheme == "rlnc":
        if flat:
            assert _same(kept, Recoder(flat, field=field, rng=mirror).recode(q))
        else:
            assert kept == []
    elif keep == "distinct":
        model = Stream.from_key(stream_key(seed, 0, 1, Role.PARENT, 0))
        picks = keep_distinct(model, [tuple(p.coefficients.tolist()) for p in flat], q)
        assert all(kept[i] is flat[picks[i]] for i in range(len(picks)))
        assert len(kept) == len(picks) == min(q, len(flat))
        mirror.sample(len(flat), len(flat))  # a full shuffle: len(flat) below() calls
        assert model.used == mirror.used
    elif keep == "shuffle":
        picks = mirror.sample(len(flat), min(q, len(flat)))
        assert len(kept) == min(q, len(flat))
        assert all(kept[i] is flat[picks[i]] for i in range(len(kept)))
    elif received:
        j = mirror.below(len(received))
        assert kept == received[j][:q]
    else:
        assert kept == []
    assert stream.used == mirror.used


def test_scheme_functions_reject_bad_names() -> None:
    stream = _pair(0)[0]
    with pytest.raises(ValueError, match="scheme must be one of"):
        make_packets("raid", _encoder(), 3)
    with pytest.raises(ValueError, match="keep must be one of"):
        newcomer_keep("coded-copy", [], 2, field=256, keep="first", stream=stream)
    with pytest.raises(ValueError, match="beta must be >= 1"):
        parent_upload("rlnc", [], 0, field=256, stream=stream)


def test_failed_peer_is_scheduled_without_a_draw_or_drawn_over_ascending_ids() -> None:
    params = Params(peers=4, symbols=4, q=1, parents=1, failures=(3,))
    server = stream_for(0, 0, 1, Role.SERVER)
    assert failed_peer(params, 1, [4, 1, 3, 2], server) == 3
    assert server.used == 0
    mirror = stream_for(0, 0, 2, Role.SERVER)
    got = failed_peer(params, 2, [5, 1, 2, 4], stream_for(0, 0, 2, Role.SERVER))
    assert got == [1, 2, 4, 5][mirror.below(4)]
    with pytest.raises(ParameterError, match=r"failures\[0\] = 3 is not alive in round 1"):
        failed_peer(params, 1, [1, 2, 4], server)


def test_parents_are_a_sample_of_the_ascending_survivors_returned_sorted() -> None:
    survivors = [10, 2, 7, 11, 3]
    mirror = stream_for(5, 1, 2, Role.SERVER)
    picks = mirror.sample(5, 3)
    got = choose_parents(stream_for(5, 1, 2, Role.SERVER), survivors, 3)
    assert got == tuple(sorted([2, 3, 7, 10, 11][i] for i in picks))
    with pytest.raises(ValueError, match="cannot choose 6 parents among 5 survivors"):
        choose_parents(mirror, survivors, 6)


def test_newcomer_of_round_r_is_n_plus_r() -> None:
    assert newcomer_id(Params(peers=10), 3) == 13
