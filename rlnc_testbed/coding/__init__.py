"""RLNC coding core: GF(2) / GF(2^8) (0x11d) arithmetic, Encoder/Decoder/Recoder.

No I/O, clocks or globals; numpy plus numba kernels. Importing this package does not import
numba (nor aiortc, aiohttp, galois): kernels compile/load from cache on first use, and
``rank_kernel`` (the jitted rank, callable from other numba code) is resolved lazily.
"""

from __future__ import annotations

from typing import Any

from .decoder import DecodeError, Decoder
from .encoder import Encoder
from .gf import (
    FIELDS,
    GF2,
    GF256,
    GF256_EXP,
    GF256_INV,
    GF256_LOG,
    GF256_MUL,
    GF256_POLY,
    check_field,
)
from .linalg import matmul, rank
from .packet import CodedPacket
from .recoder import Recoder

__all__ = [
    "FIELDS",
    "GF2",
    "GF256",
    "GF256_EXP",
    "GF256_INV",
    "GF256_LOG",
    "GF256_MUL",
    "GF256_POLY",
    "CodedPacket",
    "DecodeError",
    "Decoder",
    "Encoder",
    "Recoder",
    "check_field",
    "matmul",
    "rank",
    "rank_kernel",
]


def __getattr__(name: str) -> Any:
    """Resolve ``rank_kernel`` lazily (it imports numba)."""
    if name == "rank_kernel":
        from .kernels import rank_kernel

        return rank_kernel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
