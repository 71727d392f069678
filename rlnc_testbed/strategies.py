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
from rlnc_testbed.experiment.scenario import Scenario
from rlnc_testbed.protocol.params import FIELDS as PARAM_FIELDS
from rlnc_testbed.protocol.params import KEEP_RULES, SCHEMES, Params

__all__ = [
    "coded_packets",
    "params",
    "scenarios",
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


def params(
    *,
    max_peers: int = 6,
    max_symbols: int = 8,
    max_rounds: int = 5,
    max_symbol_size: int = 8,
) -> st.SearchStrategy[Params]:
    """Valid experiment :class:`~rlnc_testbed.protocol.Params`, small by default.

    Covers every scheme, field and keep rule, redundancy- or q-sized storage, beta <= Q,
    systematic on/off and scheduled failures of peers alive in their round. Shrinks towards
    2 peers, 1 symbol, replication, 1 round.
    """
    _check_bounds("peers", 2, max_peers, minimum=2)
    _check_bounds("symbols", 1, max_symbols, minimum=1)
    _check_bounds("rounds", 1, max_rounds, minimum=1)
    _check_bounds("symbol_size", 1, max_symbol_size, minimum=1)
    return _params(
        max_peers=max_peers,
        max_symbols=max_symbols,
        max_rounds=max_rounds,
        max_symbol_size=max_symbol_size,
    )


@st.composite
def _params(
    draw: st.DrawFn,
    *,
    max_peers: int = 6,
    max_symbols: int = 8,
    max_rounds: int = 5,
    max_symbol_size: int = 8,
) -> Params:
    peers = draw(st.integers(2, max_peers))
    symbols = draw(st.integers(1, max_symbols))
    if draw(st.booleans()):
        q = draw(st.integers(1, 2 * symbols))
        sizing: dict[str, object] = {"q": q, "redundancy": None}
    else:
        # Q >= 1 needs redundancy >= peers / symbols; go up to 4x that plus 1.
        low = peers / symbols
        redundancy = draw(st.floats(low, 4 * low + 1, allow_nan=False, allow_infinity=False))
        redundancy = max(round(redundancy, 3), low)
        sizing = {"redundancy": redundancy}
        q = Params(peers=peers, symbols=symbols, redundancy=redundancy, parents=1).per_peer
    rounds = draw(st.integers(1, max_rounds))
    alive = list(range(1, peers + 1))
    failures = []
    for r in range(1, draw(st.integers(0, rounds)) + 1):
        failed = draw(st.sampled_from(alive))
        failures.append(failed)
        alive.remove(failed)
        alive.append(peers + r)
    return Params(
        peers=peers,
        symbols=symbols,
        symbol_size=draw(st.integers(1, max_symbol_size)),
        parents=draw(st.integers(1, peers - 1)),
        scheme=draw(st.sampled_from(SCHEMES)),
        field=draw(st.sampled_from(PARAM_FIELDS)),
        keep=draw(st.sampled_from(KEEP_RULES)),
        beta=draw(st.none() | st.integers(1, q)),
        rounds=rounds,
        seed=draw(st.integers(0, 2**63 - 1)),
        systematic=draw(st.booleans()),
        failures=tuple(failures),
        **sizing,  # type: ignore[arg-type]
    )


def scenarios(
    *,
    transports: tuple[str, ...] = ("sim",),
    max_peers: int = 6,
    max_symbols: int = 8,
    max_rounds: int = 5,
) -> st.SearchStrategy[Scenario]:
    """:class:`~rlnc_testbed.experiment.scenario.Scenario` objects over ``params()`` with a
    transport
    from ``transports`` and no expectations. Shrinks like ``params()``, to the first
    transport."""
    from .experiment.scenario import RUN_TRANSPORTS

    if not transports or any(t not in RUN_TRANSPORTS for t in transports):
        raise InvalidArgument(
            f"transports must be a non-empty subset of {RUN_TRANSPORTS}; got {transports!r}"
        )
    return st.builds(
        lambda p, transport: Scenario(name="generated", params=p, transport=transport),
        params(max_peers=max_peers, max_symbols=max_symbols, max_rounds=max_rounds),
        st.sampled_from(transports),
    )
