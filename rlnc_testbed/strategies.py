"""Public Hypothesis strategies for rlnc-testbed's data types (coding now; scenarios later).

Functions return strategies, like :mod:`hypothesis.strategies`: data arguments are positional,
bounds keyword-only, and bad arguments raise ``InvalidArgument`` when the function is called,
before anything is drawn. Each docstring says what examples shrink towards.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from rlnc_testbed.coding.gf import FIELDS
from rlnc_testbed.coding.packet import CodedPacket

__all__ = [
    "coded_packets",
    "coefficient_matrices",
    "field_elements",
    "fields",
    "source_data",
]


def _check_field(field: object) -> int:
    if isinstance(field, bool) or not isinstance(field, int) or field not in FIELDS:
        raise InvalidArgument(f"field must be one of {FIELDS}, got {field!r}")
    return field


def _check_bounds(name: str, low: object, high: object, minimum: int = 0) -> tuple[int, int]:
    for label, value in ((f"min_{name}", low), (f"max_{name}", high)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{label} must be an int, got {value!r}")
        if value < minimum:
            raise InvalidArgument(f"{label} must be >= {minimum}, got {value}")
    assert isinstance(low, int) and isinstance(high, int)
    if low > high:
        raise InvalidArgument(f"min_{name}={low} exceeds max_{name}={high}")
    return low, high


def fields() -> st.SearchStrategy[int]:
    """Field orders: 2 or 256. Shrinks to 2."""
    return st.sampled_from(FIELDS)


def field_elements(field: int) -> st.SearchStrategy[int]:
    """Elements of GF(field) as ints in [0, field). Shrinks to 0."""
    field = _check_field(field)
    return st.integers(0, field - 1)


def coefficient_matrices(
    field: int,
    *,
    rows: int | None = None,
    cols: int | None = None,
    min_rows: int = 1,
    max_rows: int = 8,
    min_cols: int = 1,
    max_cols: int = 8,
) -> st.SearchStrategy[np.ndarray]:
    """uint8 matrices over GF(field); ``rows``/``cols`` fix a dimension, else min/max bound it.

    Shrinks towards the smallest allowed shape and the all-zero matrix.
    """
    field = _check_field(field)
    if rows is not None:
        min_rows = max_rows = rows
    if cols is not None:
        min_cols = max_cols = cols
    min_rows, max_rows = _check_bounds("rows", min_rows, max_rows)
    min_cols, max_cols = _check_bounds("cols", min_cols, max_cols)
    shapes = st.tuples(st.integers(min_rows, max_rows), st.integers(min_cols, max_cols))
    return hnp.arrays(np.uint8, shapes, elements=st.integers(0, field - 1))


def source_data(*, max_size: int, min_size: int = 0) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes of length in [min_size, max_size]. Shrinks to ``b"\\x00" * min_size``."""
    min_size, max_size = _check_bounds("size", min_size, max_size)
    return st.binary(min_size=min_size, max_size=max_size)


def coded_packets(field: int, *, symbols: int, symbol_size: int) -> st.SearchStrategy[CodedPacket]:
    """Shape-valid packets (k coefficients in GF(field), s payload bytes), not tied to any data.

    Shrinks to all-zero coefficients and payload.
    """
    field = _check_field(field)
    _check_bounds("symbols", symbols, symbols, minimum=1)
    _check_bounds("symbol_size", symbol_size, symbol_size, minimum=1)
    return st.builds(
        CodedPacket,
        hnp.arrays(np.uint8, symbols, elements=st.integers(0, field - 1)),
        hnp.arrays(np.uint8, symbol_size),
    )
