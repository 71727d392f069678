"""Encoder -> Decoder round trips, rank bookkeeping and input validation (no oracle needed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlnc_testbed.coding import (
    CodedPacket,
    DecodeError,
    Decoder,
    Encoder,
    Recoder,
    matmul,
    rank,
)
from rlnc_testbed.strategies import coded_packets, fields, source_data

SETTINGS = settings(deadline=None)


def _split(data: bytes, k: int) -> int:
    """A symbol size that fits ``data`` in k symbols (at least 1 byte)."""
    return max(1, -(-len(data) // k))


@SETTINGS
@given(
    data=source_data(max_size=600),
    field=fields(),
    k=st.integers(1, 12),
    systematic=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_decode_of_encode_is_identity(
    data: bytes, field: int, k: int, systematic: bool, seed: int
) -> None:
    s = _split(data, k)
    rng = np.random.default_rng(seed)
    enc = Encoder(data, symbols=k, symbol_size=s, field=field, systematic=systematic, rng=rng)
    dec = Decoder(symbols=k, symbol_size=s, field=field, data_length=len(data))
    rounds = 0
    while not dec.is_complete:
        rounds += 1
        assert rounds < 200, "decoder never reached rank k"
        for packet in enc.encode(k):
            dec.consume(packet)
    assert dec.recover() == data
    assert dec.recover() == data  # cached, still right
    full = Decoder(symbols=k, symbol_size=s, field=field)
    for packet in enc.encode(3 * k + 40):
        full.consume(packet)
    if full.is_complete:
        assert full.recover() == data + bytes(k * s - len(data))


@SETTINGS
@given(field=fields(), k=st.integers(1, 10), extra=st.integers(0, 6), seed=st.integers(0, 2**32))
def test_any_k_innovative_packets_decode(field: int, k: int, extra: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=k * 24, dtype=np.uint8).tobytes()
    packets = Encoder(data, symbols=k, symbol_size=24, field=field, rng=rng).encode(k + extra)
    coefficients = np.stack([p.coefficients for p in packets])
    # Greedily pick innovative packets by the public rank helper, in a shuffled order.
    chosen: list[CodedPacket] = []
    for index in rng.permutation(len(packets)):
        trial = [*chosen, packets[int(index)]]
        if rank(np.stack([p.coefficients for p in trial]), field) == len(trial):
            chosen = trial
    assert len(chosen) == rank(coefficients, field)
    dec = Decoder(symbols=k, symbol_size=24, field=field)
    for packet in chosen:
        assert dec.consume(packet) is True
    assert dec.rank == len(chosen)
    if len(chosen) == k:
        assert dec.recover() == data
    else:
        with pytest.raises(DecodeError, match=rf"rank {len(chosen)} < {k}"):
            dec.recover()


@SETTINGS
@given(
    field=fields(),
    k=st.integers(1, 8),
    packets=st.data(),
)
def test_rank_bounded_and_non_innovative_reported(
    field: int, k: int, packets: st.DataObject
) -> None:
    dec = Decoder(symbols=k, symbol_size=5, field=field)
    consumed: list[np.ndarray] = []
    for _ in range(packets.draw(st.integers(0, 2 * k + 2))):
        packet = packets.draw(coded_packets(field, symbols=k, symbol_size=5))
        before = dec.rank
        innovative = dec.consume(packet)
        consumed.append(packet.coefficients)
        expected = rank(np.stack(consumed), field)
        assert dec.rank == expected <= min(k, len(consumed))
        assert innovative == (expected > before)
        assert innovative == (dec.rank == before + 1)
        # The same packet again is never innovative.
        assert dec.consume(packet) is False


def test_zero_and_repeated_packets_are_not_innovative() -> None:
    dec = Decoder(symbols=3, symbol_size=4, field=256)
    zero = CodedPacket(np.zeros(3, np.uint8), np.zeros(4, np.uint8))
    assert dec.consume(zero) is False
    a = CodedPacket(np.array([1, 2, 3], np.uint8), np.arange(4, dtype=np.uint8))
    assert dec.consume(a) is True
    scaled = CodedPacket(matmul([[7]], a.coefficients[None, :], 256)[0], np.zeros(4, np.uint8))
    assert dec.consume(scaled) is False
    assert dec.rank == 1 and not dec.is_complete


@pytest.mark.parametrize("field", [2, 256])
def test_recoded_packets_decode_to_source(field: int) -> None:
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, size=10 * 100 - 3, dtype=np.uint8).tobytes()
    enc = Encoder(data, symbols=10, symbol_size=100, field=field, rng=rng)
    recoder = Recoder(enc.encode(30), field=field, rng=rng)
    dec = Decoder(symbols=10, symbol_size=100, field=field, data_length=len(data))
    for packet in recoder.recode(60):
        dec.consume(packet)
    assert dec.is_complete
    assert dec.recover() == data


def test_encoder_draws_exactly_one_integers_call() -> None:
    data = bytes(range(200))
    for field in (2, 256):
        for systematic, n in ((False, 7), (True, 7), (True, 3)):
            rng, mirror = np.random.default_rng(5), np.random.default_rng(5)
            enc = Encoder(
                data, symbols=5, symbol_size=40, field=field, systematic=systematic, rng=rng
            )
            packets = enc.encode(n)
            plain = min(n, 5) if systematic else 0
            expected = mirror.integers(0, field, size=(n - plain, 5), dtype=np.uint8)
            got = np.stack([p.coefficients for p in packets])
            np.testing.assert_array_equal(got[:plain], np.eye(5, dtype=np.uint8)[:plain])
            np.testing.assert_array_equal(got[plain:], expected)
            for i in range(plain):
                np.testing.assert_array_equal(packets[i].payload, enc.source[i])
            assert rng.bit_generator.state == mirror.bit_generator.state


def test_encoder_attributes_and_padding() -> None:
    enc = Encoder(b"abcdefg", symbols=3, symbol_size=3, rng=np.random.default_rng(0))
    assert (enc.data_length, enc.symbols, enc.symbol_size, enc.field) == (7, 3, 3, 256)
    assert enc.source.dtype == np.uint8 and enc.source.shape == (3, 3)
    assert enc.source.tobytes() == b"abcdefg\x00\x00"
    assert enc.encode(0) == []


def test_bad_arguments_name_the_problem() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="does not fit in 2 symbols of 3 bytes"):
        Encoder(b"1234567", symbols=2, symbol_size=3, rng=rng)
    with pytest.raises(ValueError, match="field must be 2 or 256"):
        Encoder(b"", symbols=2, symbol_size=3, field=16, rng=rng)
    with pytest.raises(ValueError, match="symbols must be >= 1"):
        Decoder(symbols=0, symbol_size=3)
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        Encoder(b"", symbols=2, symbol_size=3, rng=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="data_length 7 exceeds"):
        Decoder(symbols=2, symbol_size=3, data_length=7)
    with pytest.raises(ValueError, match="at least one packet"):
        Recoder([], rng=rng)
    dec = Decoder(symbols=3, symbol_size=4, field=2)
    ok_payload = np.zeros(4, np.uint8)
    with pytest.raises(ValueError, match="2 coefficients, expected 3"):
        dec.consume(CodedPacket(np.zeros(2, np.uint8), ok_payload))
    with pytest.raises(ValueError, match="payload has 5 bytes, expected 4"):
        dec.consume(CodedPacket(np.zeros(3, np.uint8), np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match="outside GF\\(2\\)"):
        dec.consume(CodedPacket(np.array([0, 2, 0], np.uint8), ok_payload))
    with pytest.raises(ValueError, match="coefficients must be a 1-D uint8"):
        dec.consume(CodedPacket(np.zeros(3, np.int64), ok_payload))
    with pytest.raises(TypeError, match="expected a CodedPacket"):
        dec.consume("packet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside GF\\(2\\)"):
        rank([[0, 3]], 2)
    with pytest.raises(ValueError, match="shapes do not align"):
        matmul(np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.uint8), 256)
    with pytest.raises(DecodeError, match="rank 0 < 3"):
        dec.recover()
    assert issubclass(DecodeError, ValueError)
