"""Both GF(2^8) payload kernels - portable SWAR and GFNI (where the CPU has it) - agree with
galois, whichever one this host would pick."""

from __future__ import annotations

import galois
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlnc_testbed.coding import gfni, kernels
from rlnc_testbed.coding.linalg import aligned_zeros, gf256_product_kernel

GF = galois.GF(2**8)

KERNELS = [pytest.param(kernels.gf256_matmul_swar, id="swar")]
if gfni.HAS_GFNI:
    KERNELS.append(pytest.param(gfni.gf256_matmul_gfni, id="gfni"))


def product(kernel, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Run ``kernel`` on word-aligned copies, as linalg does, and return bytes (n, s)."""
    n, k = a.shape
    s = y.shape[1]
    width = -(-s // 8) * 8
    padded = aligned_zeros((k, width), np.uint8)
    padded[:, :s] = y
    out = aligned_zeros((n, width // 8), np.uint64)
    kernel(a, padded.view(np.uint64), out)
    return out.view(np.uint8)[:, :s]


@pytest.mark.parametrize("kernel", KERNELS)
@given(
    n=st.integers(1, 9),
    k=st.integers(1, 11),
    s=st.sampled_from([1, 7, 8, 63, 64, 65, 520, 2048 + 24, 4096]),
    density=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernel_matches_galois(kernel, n, k, s, density, seed) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=(n, k), dtype=np.uint8)
    a[rng.random((n, k)) >= density] = 0
    y = rng.integers(0, 256, size=(k, s), dtype=np.uint8)
    expected = np.asarray(GF(a) @ GF(y), dtype=np.uint8)
    assert np.array_equal(product(kernel, a, y), expected)


def test_host_kernel_is_one_of_them() -> None:
    chosen = gf256_product_kernel()
    assert chosen is (gfni.gf256_matmul_gfni if gfni.HAS_GFNI else kernels.gf256_matmul_swar)


def test_affine_matrices_encode_multiplication() -> None:
    """AFFINE[c] applied bit by bit (as vgf2p8affineqb does) multiplies by c."""
    from rlnc_testbed.coding.gf import GF256_MUL

    for c in (0, 1, 2, 0x1D, 0x80, 0xFF):
        matrix = int(gfni.AFFINE[c])
        for x in (0, 1, 2, 0x53, 0xCA, 0xFF):
            out = 0
            for r in range(8):
                row = (matrix >> (8 * (7 - r))) & 0xFF
                out |= (bin(row & x).count("1") & 1) << r
            assert out == GF256_MUL[c, x], (c, x)
