"""Finite-field constants for GF(2) and GF(2^8): orders, the 0x11d polynomial and lookup tables.

Pure numpy, computed once at import (well under a millisecond). The tables are module
constants so numba kernels can read them as compile-time globals. GF(2) shares the GF(2^8)
tables: on the sub-field {0, 1} they give exactly GF(2) arithmetic (1 * 1 = 1, 1^-1 = 1, XOR).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FIELDS",
    "GF2",
    "GF256",
    "GF256_EXP",
    "GF256_GENERATOR",
    "GF256_INV",
    "GF256_LOG",
    "GF256_MUL",
    "GF256_POLY",
    "check_field",
]

#: Order of the binary field.
GF2 = 2
#: Order of the byte field.
GF256 = 256
#: Supported field orders, as passed in ``field=``.
FIELDS = (GF2, GF256)
#: Primitive polynomial x^8 + x^4 + x^3 + x^2 + 1 (galois' default for GF(2^8), ISA-L's).
GF256_POLY = 0x11D
#: Primitive element used for the log/exp tables.
GF256_GENERATOR = 2


def _build_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    exp = np.zeros(512, dtype=np.uint8)
    log = np.zeros(256, dtype=np.int16)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= GF256_POLY
    exp[255:510] = exp[0:255]
    # mul[a, b] = exp[log a + log b], zero row and column for 0.
    logs = log[1:].astype(np.int64)
    mul = np.zeros((256, 256), dtype=np.uint8)
    mul[1:, 1:] = exp[logs[:, None] + logs[None, :]]
    inv = np.zeros(256, dtype=np.uint8)
    inv[1:] = exp[(255 - logs) % 255]
    for table in (exp, log, mul, inv):
        table.flags.writeable = False
    return exp, log, mul, inv


#: ``GF256_EXP[i] = 2**i`` for i in [0, 510) (doubled so ``exp[log a + log b]`` needs no mod).
#: ``GF256_LOG[a]`` for a != 0 (``GF256_LOG[0]`` is 0 and meaningless).
#: ``GF256_MUL[a, b] = a * b``; ``GF256_INV[a] = a^-1`` for a != 0 (``GF256_INV[0]`` is 0).
GF256_EXP, GF256_LOG, GF256_MUL, GF256_INV = _build_tables()


def check_field(field: object) -> int:
    """Return ``field`` as an int if it is a supported order (2 or 256), else raise ValueError."""
    if (
        isinstance(field, bool)
        or not isinstance(field, int | np.integer)
        or int(field) not in FIELDS
    ):
        raise ValueError(f"field must be 2 or 256 (the field order), got {field!r}")
    return int(field)
