"""Storage-scheme functions: outputs and the exact random draws a simulator mirrors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlnc_testbed.coding import (
    SCHEMES,
    CodedPacket,
    Encoder,
    Recoder,
    make_packets,
    newcomer_keep,
    parent_upload,
    placement,
)
from rlnc_testbed.strategies import coded_packets, fields

SETTINGS = settings(deadline=None)


def _encoder(k: int = 4, s: int = 8, field: int = 256, seed: int = 0) -> Encoder:
    data = bytes(range(k * s))
    return Encoder(data, symbols=k, symbol_size=s, field=field, rng=np.random.default_rng(seed))


def _same(a: list[CodedPacket], b: list[CodedPacket]) -> bool:
    return len(a) == len(b) and all(x == y for x, y in zip(a, b, strict=True))


def test_schemes_constant() -> None:
    assert SCHEMES == ("replication", "coded-copy", "rlnc")


@pytest.mark.parametrize("count", [0, 3, 4, 11])
def test_replication_packets_cycle_source_symbols_without_draws(count: int) -> None:
    enc = _encoder()
    before = enc._rng.bit_generator.state
    packets = make_packets("replication", enc, count)
    assert enc._rng.bit_generator.state == before
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
    with pytest.raises(ValueError, match="q must be >= 0"):
        placement(8, -1, 3)


@SETTINGS
@given(
    scheme=st.sampled_from(SCHEMES),
    field=fields(),
    stored_n=st.integers(0, 8),
    beta=st.integers(0, 10),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_parent_upload_draws(
    scheme: str, field: int, stored_n: int, beta: int, seed: int, data: st.DataObject
) -> None:
    stored = [data.draw(coded_packets(field, symbols=3, symbol_size=4)) for _ in range(stored_n)]
    rng, mirror = np.random.default_rng(seed), np.random.default_rng(seed)
    sent = parent_upload(scheme, stored, beta, field=field, rng=rng)
    if beta >= stored_n:
        assert sent == stored and sent is not stored
    elif scheme == "rlnc":
        assert _same(sent, Recoder(stored, field=field, rng=mirror).recode(beta))
    else:
        perm = mirror.permutation(stored_n)
        assert all(sent[i] is stored[int(perm[i])] for i in range(beta))
        assert len(sent) == beta
    assert rng.bit_generator.state == mirror.bit_generator.state


@SETTINGS
@given(
    scheme=st.sampled_from(SCHEMES),
    keep=st.sampled_from(["shuffle", "block"]),
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
    rng, mirror = np.random.default_rng(seed), np.random.default_rng(seed)
    kept = newcomer_keep(scheme, received, q, field=field, keep=keep, rng=rng)
    if scheme == "rlnc":
        if flat:
            assert _same(kept, Recoder(flat, field=field, rng=mirror).recode(q))
        else:
            assert kept == []
    elif keep == "shuffle":
        perm = mirror.permutation(len(flat))
        assert len(kept) == min(q, len(flat))
        assert all(kept[i] is flat[int(perm[i])] for i in range(len(kept)))
    elif received:
        j = int(mirror.integers(len(received)))
        assert kept == received[j][:q]
    else:
        assert kept == []
    assert rng.bit_generator.state == mirror.bit_generator.state


def test_scheme_functions_reject_bad_names() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="scheme must be one of"):
        make_packets("raid", _encoder(), 3)
    with pytest.raises(ValueError, match="keep must be one of"):
        newcomer_keep("coded-copy", [], 2, field=256, keep="first", rng=rng)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        parent_upload("rlnc", [], -1, field=256, rng=rng)
