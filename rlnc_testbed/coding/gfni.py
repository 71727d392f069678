"""GF(2^8) matrix product with the GFNI instruction ``vgf2p8affineqb`` (AVX-512 hosts).

Multiplying bytes by a constant c is GF(2)-linear, so ``c * y_j`` for 64 payload bytes is one
``vgf2p8affineqb`` with c's 8x8 bit matrix (``AFFINE[c]``; ISA-L's GFNI method). numba has no
built-in for it, so :func:`_gfni_axpy` emits the LLVM intrinsic itself. Four source rows are
combined per load/store of an output vector, in column chunks that keep the four source chunks
in L1. Only call :func:`gf256_matmul_gfni` when :data:`HAS_GFNI` is true (numba compiles for
this host, which has gfni, avx512f and avx512bw); ``NUMBA_CPU_NAME=generic`` turns it off.
Tested against galois beside the portable kernel of :mod:`.kernels`.

PYTEST_DONT_REWRITE: numba cannot compile pytest-rewritten asserts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .gf import GF256_MUL
from .kernels import _double

__all__ = ["AFFINE", "GFNI_CHUNK_WORDS", "HAS_GFNI", "gf256_matmul_gfni"]


#: Column chunk (in words) of the GFNI kernel: four 2 KiB source chunks stay in L1.
GFNI_CHUNK_WORDS = 256
#: Source rows combined per load/store of an output vector in the GFNI kernel.
_GFNI_ROWS = 4


def _affine_matrices() -> np.ndarray:
    """``AFFINE[c]``: the ``vgf2p8affineqb`` bit matrix of ``x -> c * x`` (byte 7 - r: bit r)."""
    images = GF256_MUL[:, 1 << np.arange(8)].astype(np.uint64)  # (256, 8): c * 2^b
    matrices = np.zeros(256, dtype=np.uint64)
    for r in range(8):
        row = np.zeros(256, dtype=np.uint64)
        for b in range(8):
            row |= ((images[:, b] >> np.uint64(r)) & np.uint64(1)) << np.uint64(b)
        matrices |= row << np.uint64(8 * (7 - r))
    matrices.flags.writeable = False
    return matrices


#: Per coefficient c, the 8x8 GF(2) matrix of multiplication by c, packed for GFNI.
AFFINE = _affine_matrices()


def _host_has_gfni() -> bool:
    """True iff numba compiles for this host and the host has GFNI with AVX-512 (F and BW)."""
    from llvmlite import binding
    from numba.core import config

    explicit_cpu = getattr(config, "CPU_NAME", None) not in (None, "host")
    if explicit_cpu or getattr(config, "CPU_FEATURES", None) is not None:
        return False  # an explicit (e.g. portable-cache) target: do not assume GFNI
    features = binding.get_host_cpu_features()
    return all(features.get(name, False) for name in ("gfni", "avx512f", "avx512bw"))


#: Whether ``gf256_matmul_words`` is the GFNI kernel on this host.
HAS_GFNI = _host_has_gfni()

_I8X64 = ir.VectorType(ir.IntType(8), 64)
_I64X8 = ir.VectorType(ir.IntType(64), 8)


def _gfni_mul(builder: ir.IRBuilder, x: ir.Value, matrix: ir.Value) -> ir.Value:
    """Emit ``vgf2p8affineqb``: the 64 bytes of ``x`` (<8 x i64>) times ``matrix`` (i64)."""
    name = "llvm.x86.vgf2p8affineqb.512"
    fn = builder.module.globals.get(name)
    if fn is None:
        fnty = ir.FunctionType(_I8X64, [_I8X64, _I8X64, ir.IntType(8)])
        fn = ir.Function(builder.module, fnty, name)
    undef = ir.Constant(_I64X8, ir.Undefined)
    lane0 = builder.insert_element(undef, matrix, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8)
    broadcast = builder.shuffle_vector(lane0, undef, zeros)
    args = [builder.bitcast(x, _I8X64), builder.bitcast(broadcast, _I8X64)]
    product = builder.call(fn, [*args, ir.Constant(ir.IntType(8), 0)])
    return builder.bitcast(product, _I64X8)


def _is_word_matrix(array: Any) -> bool:
    """True for a numba type of a C-contiguous 2-D uint64 array."""
    if not isinstance(array, types.Array):
        return False
    return array.dtype == types.uint64 and array.ndim == 2 and array.layout == "C"


@intrinsic
def _gfni_axpy(
    typingctx: Any, out: Any, i: Any, y: Any, j0: Any, t: Any, matrices: Any
) -> tuple[Any, Any]:
    """``out[i, t:t+8] ^= sum_q y[j0+q, t:t+8] * c_q`` with ``matrices[q] = AFFINE[c_q]``."""
    if not (_is_word_matrix(out) and _is_word_matrix(y) and out.mutable):
        return None  # type: ignore[return-value]
    if not isinstance(matrices, types.UniTuple):
        return None  # type: ignore[return-value]
    sig = types.void(out, i, y, j0, t, matrices)
    count = len(matrices)

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        out_v, i_v, y_v, j0_v, t_v, matrices_v = args
        out_ty, _, y_ty = signature.args[:3]
        out_arr = context.make_array(out_ty)(context, builder, out_v)
        y_arr = context.make_array(y_ty)(context, builder, y_v)
        vec_ptr = _I64X8.as_pointer()
        out_ptr = cgutils.get_item_pointer(context, builder, out_ty, out_arr, [i_v, t_v])
        out_ptr = builder.bitcast(out_ptr, vec_ptr)
        acc = builder.load(out_ptr, align=8)
        for q in range(count):
            row = builder.add(j0_v, ir.Constant(j0_v.type, q))
            src = cgutils.get_item_pointer(context, builder, y_ty, y_arr, [row, t_v])
            x = builder.load(builder.bitcast(src, vec_ptr), align=8)
            acc = builder.xor(acc, _gfni_mul(builder, x, builder.extract_value(matrices_v, q)))
        builder.store(acc, out_ptr, align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, inline="always")
def _mul_word(v: np.uint64, c: np.uint8) -> np.uint64:
    """8 packed GF(2^8) bytes times c (shift-and-add; for the few tail words)."""
    acc = np.uint64(0)
    for b in range(8):
        if (c >> b) & 1:
            acc ^= v
        v = _double(v)
    return acc


@njit(cache=True)
def gf256_matmul_gfni(a: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """``out ^= a @ y`` over GF(2^8) with GFNI (only call if ``HAS_GFNI``); shapes as swar."""
    n, k = a.shape
    w = y.shape[1]
    assert y.shape[0] == k and out.shape[0] == n and out.shape[1] == w
    vec_end = w - w % 8
    full = k - k % _GFNI_ROWS
    for c0 in range(0, vec_end, GFNI_CHUNK_WORDS):
        c1 = min(c0 + GFNI_CHUNK_WORDS, vec_end)
        for j0 in range(0, full, _GFNI_ROWS):
            for i in range(n):
                c_0, c_1, c_2, c_3 = a[i, j0], a[i, j0 + 1], a[i, j0 + 2], a[i, j0 + 3]
                if c_0 == 0 and c_1 == 0 and c_2 == 0 and c_3 == 0:
                    continue
                matrices = (AFFINE[c_0], AFFINE[c_1], AFFINE[c_2], AFFINE[c_3])
                for t in range(c0, c1, 8):
                    _gfni_axpy(out, i, y, j0, t, matrices)  # type: ignore[call-arg]
        for j in range(full, k):
            for i in range(n):
                if a[i, j] == 0:
                    continue
                single = (AFFINE[a[i, j]],)
                for t in range(c0, c1, 8):
                    _gfni_axpy(out, i, y, j, t, single)  # type: ignore[call-arg]
    for i in range(n):
        for j in range(k):
            c = a[i, j]
            if c == 0:
                continue
            for t in range(vec_end, w):
                out[i, t] ^= _mul_word(y[j, t], c)
