"""Kernels and coders against galois, the independent oracle (GF(2) and GF(2^8), 0x11d)."""

from __future__ import annotations

import galois
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rlnc_testbed.coding import (
    GF256_INV,
    GF256_MUL,
    GF256_POLY,
    CodedPacket,
    Decoder,
    Encoder,
    Recoder,
    matmul,
    rank,
    rank_kernel,
)
from rlnc_testbed.strategies import coefficient_matrices, fields

SETTINGS = settings(deadline=None)
GF_BY_ORDER = {2: galois.GF(2), 256: galois.GF(2**8)}


def _gf(field: int, array: np.ndarray) -> galois.FieldArray:
    return GF_BY_ORDER[field](np.asarray(array))


def test_tables_match_galois() -> None:
    gf = GF_BY_ORDER[256]
    assert int(gf.irreducible_poly) == GF256_POLY
    x = np.arange(256)
    np.testing.assert_array_equal(GF256_MUL, np.array(gf(x[:, None]) * gf(x[None, :])))
    np.testing.assert_array_equal(GF256_INV[1:], np.array(gf(x[1:]) ** -1))


@SETTINGS
@given(field=fields(), data=st.data())
def test_matmul_matches_galois(field: int, data: st.DataObject) -> None:
    a = data.draw(coefficient_matrices(field, min_rows=0, max_rows=9, max_cols=9))
    cols = data.draw(st.sampled_from([1, 5, 63, 64, 72, 1001, 2056]))
    b = data.draw(coefficient_matrices(field, rows=a.shape[1], cols=cols))
    expected = np.array(_gf(field, a) @ _gf(field, b), dtype=np.uint8)
    np.testing.assert_array_equal(matmul(a, b, field), expected)


@SETTINGS
@given(field=fields(), data=st.data())
def test_rank_matches_galois(field: int, data: st.DataObject) -> None:
    # Low-rank products exercise dependent rows, not just full-rank random matrices.
    left = data.draw(coefficient_matrices(field, max_rows=40, max_cols=6))
    right = data.draw(coefficient_matrices(field, rows=left.shape[1], max_cols=70))
    matrix = matmul(left, right, field) if data.draw(st.booleans()) else right
    expected = int(np.linalg.matrix_rank(_gf(field, matrix)))
    assert rank(matrix, field) == expected
    assert rank_kernel(matrix, field == 2) == expected


@SETTINGS
@given(field=fields(), k=st.integers(1, 9), n=st.integers(0, 12), seed=st.integers(0, 2**32))
def test_encoder_payloads_are_matrix_products(field: int, k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = int(rng.integers(1, 300))
    data = rng.integers(0, 256, size=int(rng.integers(0, k * s + 1)), dtype=np.uint8).tobytes()
    enc = Encoder(data, symbols=k, symbol_size=s, field=field, rng=rng)
    packets = enc.encode(n)
    assert len(packets) == n
    if n:
        c = np.stack([p.coefficients for p in packets])
        y = np.stack([p.payload for p in packets])
        if field == 256:
            expected = np.array(_gf(256, c) @ _gf(256, enc.source))
        else:  # GF(2) acts bitwise on payload bytes: multiply the bit planes.
            bits = np.unpackbits(enc.source[:, :, None], axis=2).reshape(k, -1)
            product = np.array(_gf(2, c) @ _gf(2, bits))
            expected = np.packbits(product.reshape(n, s, 8), axis=2)[:, :, 0]
        np.testing.assert_array_equal(y, expected)


@SETTINGS
@given(field=fields(), k=st.integers(1, 8), m=st.integers(1, 10), seed=st.integers(0, 2**32))
def test_recoder_matches_galois_and_draws(field: int, k: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = rng.integers(0, field, size=(m, k), dtype=np.uint8)
    y = rng.integers(0, 256, size=(m, 77), dtype=np.uint8)
    packets = [CodedPacket(c[i], y[i]) for i in range(m)]
    n = int(rng.integers(0, 12))
    mirror = np.random.default_rng(seed + 1)
    recoded = Recoder(packets, field=field, rng=np.random.default_rng(seed + 1)).recode(n)
    mix = mirror.integers(0, field, size=(n, m), dtype=np.uint8)
    new_c = np.stack([p.coefficients for p in recoded]) if n else np.zeros((0, k), np.uint8)
    new_y = np.stack([p.payload for p in recoded]) if n else np.zeros((0, 77), np.uint8)
    np.testing.assert_array_equal(new_c, np.array(_gf(field, mix) @ _gf(field, c)))
    if field == 256:
        np.testing.assert_array_equal(new_y, np.array(_gf(256, mix) @ _gf(256, y)))
    else:
        expected = np.zeros((n, 77), np.uint8)
        for i in range(n):
            for j in range(m):
                if mix[i, j]:
                    expected[i] ^= y[j]
        np.testing.assert_array_equal(new_y, expected)


@SETTINGS
@given(field=fields(), k=st.integers(1, 10), seed=st.integers(0, 2**32))
def test_decoder_agrees_with_linear_solve(field: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = rng.integers(0, field, size=(k, k), dtype=np.uint8)
    assume(int(np.linalg.matrix_rank(_gf(field, c))) == k)
    y = rng.integers(0, field, size=(k, 33), dtype=np.uint8)  # payload bytes in the field
    dec = Decoder(symbols=k, symbol_size=33, field=field)
    for i in range(k):
        assert dec.consume(CodedPacket(c[i], y[i])) is True
    solved = np.array(np.linalg.solve(_gf(field, c), _gf(field, y)), dtype=np.uint8)
    assert dec.recover() == solved.tobytes()


@SETTINGS
@given(
    field=fields(),
    k=st.integers(1, 8),
    stored=st.integers(1, 10),
    n=st.integers(0, 12),
    seed=st.integers(0, 2**32),
)
def test_recoded_packets_decode_iff_rank_k(
    field: int, k: int, stored: int, n: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=k * 16, dtype=np.uint8).tobytes()
    enc = Encoder(data, symbols=k, symbol_size=16, field=field, rng=rng)
    recoded = Recoder(enc.encode(stored), field=field, rng=rng).recode(n)
    dec = Decoder(symbols=k, symbol_size=16, field=field)
    for packet in recoded:
        dec.consume(packet)
    coefficients = np.array([p.coefficients for p in recoded], dtype=np.uint8).reshape(n, k)
    expected_rank = int(np.linalg.matrix_rank(_gf(field, coefficients))) if n else 0
    assert dec.rank == expected_rank
    assert dec.is_complete == (expected_rank == k)
    if dec.is_complete:
        assert dec.recover() == data
