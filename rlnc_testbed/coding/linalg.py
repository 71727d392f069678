"""Public matrix helpers over GF(2) / GF(2^8) (``rank``, ``matmul``) and the payload product.

The wrappers check inputs once and call the numba kernels of :mod:`.kernels`, which (with
numba itself) are imported on first use so ``import rlnc_testbed.coding`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .gf import GF2, check_field

__all__ = [
    "ALIGNMENT",
    "aligned_zeros",
    "as_field_matrix",
    "kernels",
    "matmul",
    "payload_product",
    "rank",
]

#: Below this many output columns, ``matmul`` uses the byte-table kernel instead of words.
_WORD_KERNEL_MIN_COLS = 64
#: Byte alignment of payload buffers: one cache line (and one 512-bit vector), so the word
#: kernels' vector loads never straddle two lines (numpy itself only aligns to 16 bytes).
ALIGNMENT = 64


def aligned_zeros(shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """A new zeroed C-contiguous array whose data starts on an ``ALIGNMENT``-byte boundary."""
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    buffer = np.zeros(nbytes + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start : start + nbytes].view(dt).reshape(shape)


def kernels() -> ModuleType:
    """Import and return :mod:`rlnc_testbed.coding.kernels` (imports numba on first call)."""
    from . import kernels as module

    return module


def gf256_product_kernel() -> Callable[[np.ndarray, np.ndarray, np.ndarray], None]:
    """The fastest ``out ^= a @ y`` GF(2^8) word kernel for this host (GFNI or portable)."""
    from . import gfni

    return gfni.gf256_matmul_gfni if gfni.HAS_GFNI else kernels().gf256_matmul_swar


def as_field_matrix(value: Any, field: int, name: str) -> np.ndarray:
    """Return ``value`` as a C-contiguous uint8 2-D array of elements of GF(field), or raise."""
    array = np.asarray(value)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {array.shape}")
    if array.dtype != np.uint8:
        if array.dtype.kind not in "iub":
            raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
        if array.size and (array.min() < 0 or array.max() >= field):
            raise ValueError(f"{name} has elements outside GF({field}) (0..{field - 1})")
        array = array.astype(np.uint8)
    elif field == GF2 and array.size and array.max() > 1:
        raise ValueError(f"{name} has elements outside GF(2) (0..1)")
    return np.ascontiguousarray(array)


def rank(matrix: Any, field: int) -> int:
    """Rank of ``matrix`` (m, k) over GF(field), field 2 or 256."""
    field = check_field(field)
    m = as_field_matrix(matrix, field, "matrix")
    if m.size == 0:
        return 0
    return int(kernels().rank_kernel(m, field == GF2))


def payload_product(a: np.ndarray, y: np.ndarray, field: int) -> np.ndarray:
    """``a @ y`` for checked uint8 a (n, k) and y (k, s); returns a new uint8 (n, s) array.

    Internal fast path (no validation): works on 8-byte words, padding y's columns when
    ``s % 8 != 0``. The result is ``ALIGNMENT``-aligned; the product is fastest when y is too
    (and s is a multiple of 64), as the coders' payload buffers are.
    """
    n, k = a.shape
    s = y.shape[1]
    width = -(-s // 8) * 8
    if width != s or not y.flags.c_contiguous:
        padded = aligned_zeros((k, width), np.uint8)
        padded[:, :s] = y
        y = padded
    out = aligned_zeros((n, width // 8), np.uint64)
    if n and k and width:
        kernel = kernels().gf2_matmul_words if field == GF2 else gf256_product_kernel()
        kernel(np.ascontiguousarray(a), y.view(np.uint64), out)
    result = out.view(np.uint8)
    return result if width == s else np.ascontiguousarray(result[:, :s])


def matmul(a: Any, b: Any, field: int) -> np.ndarray:
    """Matrix product ``a @ b`` over GF(field); a (n, k), b (k, m) -> new uint8 (n, m)."""
    field = check_field(field)
    left = as_field_matrix(a, field, "a")
    right = as_field_matrix(b, field, "b")
    if left.shape[1] != right.shape[0]:
        raise ValueError(f"shapes do not align for a @ b: {left.shape} and {right.shape}")
    if right.shape[1] >= _WORD_KERNEL_MIN_COLS:
        return payload_product(left, right, field)
    out = np.zeros((left.shape[0], right.shape[1]), dtype=np.uint8)
    if out.size and left.shape[1]:
        kernels().matmul_bytes(left, right, out)
    return out
