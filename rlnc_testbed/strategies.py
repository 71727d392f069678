"""Public Hypothesis strategies for rlnc-testbed's data types: coding values, experiment
parameters (with data that fits them) and scenarios.

Functions return strategies, like :mod:`hypothesis.strategies`: data arguments are positional,
bounds keyword-only, and bad arguments raise ``InvalidArgument`` when the function is called,
before anything is drawn. Each docstring says what examples shrink towards.

The strategies:

- ``fields()``: a field order, 2 or 256.
- ``field_elements(field)``: an element of GF(field) as an int.
- ``coefficient_matrices(field, ...)``: a uint8 matrix over GF(field) (``rows``/``cols`` fix
  a dimension, ``min_*``/``max_*`` bound it).
- ``coded_packets(field, *, symbols, symbol_size)``: a shape-valid
  :class:`~rlnc_testbed.coding.packet.CodedPacket`, not tied to any data.
- ``source_data(params)``: bytes that fit ``params`` (``symbols * symbol_size`` at most);
  without params, ``source_data(max_size=..., min_size=...)``.
- ``params(...)``: valid :class:`~rlnc_testbed.protocol.Params`; ``scheme``, ``field``,
  ``keep`` fix one value or filter to several, ``systematic`` fixes it, ``peers``,
  ``symbols``, ``symbol_size`` and ``rounds`` fix a size or ``min_*``/``max_*`` bound it,
  ``failures=False`` schedules no failures.
- ``params_and_data(..., min_data_size=0, max_data_size=None)``: ``(params, data)`` pairs
  whose data fits the params (the other keyword arguments are ``params()``'s).
- ``scenarios(transports=("sim",), ...)``: a
  :class:`~rlnc_testbed.experiment.scenario.Scenario` named ``generated`` over ``params(...)``
  (the other keyword arguments are ``params()``'s), on one of ``transports``, without
  expectations or faults: run it with the ``rlnc_scenario_runner`` fixture.

Data for a simulator or cluster must fit its params (``simulate_trial(p, t, data=d)`` refuses
more than ``p.symbols * p.symbol_size`` bytes): draw the two together with
``params_and_data()``, or draw ``source_data(p)`` for params ``p`` already drawn (with
``st.data()``), never ``params()`` and ``source_data(max_size=...)`` independently.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from rlnc_testbed.coding.gf import FIELDS
from rlnc_testbed.coding.packet import CodedPacket
from rlnc_testbed.experiment.scenario import Scenario
from rlnc_testbed.protocol.params import FIELDS as PARAM_FIELDS
from rlnc_testbed.protocol.params import (
    KEEP_RULES,
    MAX_PEERS,
    MAX_SYMBOL_SIZE,
    MAX_SYMBOLS,
    SCHEMES,
    Params,
)

__all__ = [
    "coded_packets",
    "coefficient_matrices",
    "field_elements",
    "fields",
    "params",
    "params_and_data",
    "scenarios",
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


def source_data(
    params: Params | None = None, *, max_size: int | None = None, min_size: int = 0
) -> st.SearchStrategy[bytes]:
    """Source bytes of length in [min_size, max_size]. Shrinks to ``b"\\x00" * min_size``.

    Given ``params``, the data fits them: ``max_size`` defaults to (and may not exceed) its
    capacity ``params.symbols * params.symbol_size``. Without ``params``, ``max_size`` is
    required. To draw parameters *and* data that fits them, use :func:`params_and_data`.
    """
    if params is not None:
        if not isinstance(params, Params):
            raise InvalidArgument(f"params must be a Params; got {type(params).__name__}")
        capacity = params.symbols * params.symbol_size
        if max_size is None:
            max_size = capacity
        elif isinstance(max_size, int) and not isinstance(max_size, bool) and max_size > capacity:
            raise InvalidArgument(
                f"max_size={max_size} exceeds the params' capacity symbols * symbol_size = "
                f"{capacity}"
            )
    elif max_size is None:
        raise InvalidArgument("give max_size, or params to fit the data to")
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


def _choices(name: str, value: object, allowed: tuple[Any, ...]) -> tuple[Any, ...]:
    """``value`` (None: every allowed value; one value; or a collection of them) as a tuple."""
    if value is None:
        return allowed
    values = tuple(value) if isinstance(value, list | tuple | set | frozenset) else (value,)
    if set(map(type, values)) & {bool}:  # True == 1, but never a field or a scheme
        raise InvalidArgument(f"{name} must be among {allowed}; got {value!r}")
    if not values or any(v not in allowed for v in values):
        raise InvalidArgument(
            f"{name} must be one of {allowed} (or a collection of them); got {value!r}"
        )
    return tuple(sorted(set(values), key=allowed.index))


def _fixed_or_bounds(
    name: str, fixed: object, low: object, high: object, minimum: int, maximum: int
) -> tuple[int, int]:
    if fixed is not None:
        low = high = fixed
    low, high = _check_bounds(name, low, high, minimum=minimum)
    if high > maximum:
        raise InvalidArgument(f"max_{name}={high} exceeds the largest allowed, {maximum}")
    return low, high


@dataclass(frozen=True)
class _Space:
    """The checked arguments of :func:`params` (every bound inclusive)."""

    schemes: tuple[str, ...]
    fields: tuple[int, ...]
    keeps: tuple[str, ...]
    systematic: tuple[bool, ...]
    peers: tuple[int, int]
    symbols: tuple[int, int]
    symbol_size: tuple[int, int]
    rounds: tuple[int, int]
    failures: bool
    #: Data of at least this many bytes must fit: symbols * symbol_size >= min_capacity.
    min_capacity: int = 0

    def fitting(self, min_capacity: int) -> _Space:
        largest = self.symbols[1] * self.symbol_size[1]
        if min_capacity > largest:
            raise InvalidArgument(
                f"min_data_size={min_capacity} cannot fit: at most max_symbols * "
                f"max_symbol_size = {self.symbols[1]} * {self.symbol_size[1]} = {largest} bytes"
            )
        return dataclasses.replace(self, min_capacity=min_capacity)


def _space(
    *,
    scheme: object,
    field: object,
    keep: object,
    systematic: object,
    peers: object,
    min_peers: object,
    max_peers: object,
    symbols: object,
    min_symbols: object,
    max_symbols: object,
    symbol_size: object,
    min_symbol_size: object,
    max_symbol_size: object,
    rounds: object,
    min_rounds: object,
    max_rounds: object,
    failures: object,
) -> _Space:
    if systematic is not None and not isinstance(systematic, bool):
        raise InvalidArgument(f"systematic must be True, False or None; got {systematic!r}")
    if not isinstance(failures, bool):
        raise InvalidArgument(f"failures must be True or False; got {failures!r}")
    return _Space(
        schemes=_choices("scheme", scheme, SCHEMES),
        fields=_choices("field", field, PARAM_FIELDS),
        keeps=_choices("keep", keep, KEEP_RULES),
        systematic=(False, True) if systematic is None else (systematic,),
        peers=_fixed_or_bounds("peers", peers, min_peers, max_peers, 2, MAX_PEERS),
        symbols=_fixed_or_bounds("symbols", symbols, min_symbols, max_symbols, 1, MAX_SYMBOLS),
        symbol_size=_fixed_or_bounds(
            "symbol_size", symbol_size, min_symbol_size, max_symbol_size, 1, MAX_SYMBOL_SIZE
        ),
        rounds=_fixed_or_bounds("rounds", rounds, min_rounds, max_rounds, 1, 1_000_000),
        failures=failures,
    )


def params(
    *,
    scheme: str | Collection[str] | None = None,
    field: int | Collection[int] | None = None,
    keep: str | Collection[str] | None = None,
    systematic: bool | None = None,
    peers: int | None = None,
    min_peers: int = 2,
    max_peers: int = 6,
    symbols: int | None = None,
    min_symbols: int = 1,
    max_symbols: int = 8,
    symbol_size: int | None = None,
    min_symbol_size: int = 1,
    max_symbol_size: int = 8,
    rounds: int | None = None,
    min_rounds: int = 1,
    max_rounds: int = 5,
    failures: bool = True,
) -> st.SearchStrategy[Params]:
    """Valid experiment :class:`~rlnc_testbed.protocol.Params`, small by default.

    Covers every scheme, field and keep rule, redundancy- or q-sized storage, beta <= Q,
    systematic on/off and scheduled failures of peers alive in their round. ``scheme``,
    ``field`` and ``keep`` fix one value or allow a collection of them (``scheme="rlnc"``,
    ``field=(2, 256)``); ``systematic`` fixes it. ``peers``, ``symbols``, ``symbol_size`` and
    ``rounds`` fix a size, else ``min_*``/``max_*`` bound it (inclusive). ``failures=False``
    schedules none (every failed peer is drawn by the round rules). Shrinks towards the fewest
    peers and symbols, the first allowed scheme (replication when allowed), 1 round.
    """
    space = _space(
        scheme=scheme, field=field, keep=keep, systematic=systematic,
        peers=peers, min_peers=min_peers, max_peers=max_peers,
        symbols=symbols, min_symbols=min_symbols, max_symbols=max_symbols,
        symbol_size=symbol_size, min_symbol_size=min_symbol_size,
        max_symbol_size=max_symbol_size,
        rounds=rounds, min_rounds=min_rounds, max_rounds=max_rounds, failures=failures,
    )  # fmt: skip
    return _params(space)


def params_and_data(
    *, min_data_size: int = 0, max_data_size: int | None = None, **params_options: Any
) -> st.SearchStrategy[tuple[Params, bytes]]:
    """``(params, data)`` pairs whose data fits the params: ``len(data)`` in
    [min_data_size, min(max_data_size, params.symbols * params.symbol_size)].

    ``params_options`` are :func:`params`'s keyword arguments; the params are drawn so that
    ``min_data_size`` bytes fit (a ``min_data_size`` no allowed params can hold is an
    ``InvalidArgument`` at the call). Shrinks like :func:`params`, and the data to
    ``b"\\x00" * min_data_size``.
    """
    unknown = sorted(set(params_options) - set(inspect.signature(params).parameters))
    if unknown:
        raise InvalidArgument(f"unknown argument(s) for params(): {', '.join(unknown)}")
    space = _space(**{**_PARAMS_DEFAULTS, **params_options}).fitting(
        _check_bounds("data_size", min_data_size, min_data_size)[0]
    )
    if max_data_size is not None:
        _check_bounds("data_size", min_data_size, max_data_size)
    return _params_and_data(space, max_data_size)


@st.composite
def _params_and_data(
    draw: st.DrawFn, space: _Space, max_data_size: int | None
) -> tuple[Params, bytes]:
    p = draw(_params(space))
    capacity = p.symbols * p.symbol_size
    top = capacity if max_data_size is None else min(max_data_size, capacity)
    return p, draw(st.binary(min_size=space.min_capacity, max_size=top))


#: Scheduled failures drawn at most for this many first rounds (later ones: the round rules).
_MAX_SCHEDULED_FAILURES = 8


@st.composite
def _params(draw: st.DrawFn, space: _Space) -> Params:
    peers = draw(st.integers(*space.peers))
    need = space.min_capacity
    low_symbols = max(space.symbols[0], -(-need // space.symbol_size[1]))
    symbols = draw(st.integers(low_symbols, space.symbols[1]))
    low_size = max(space.symbol_size[0], -(-need // symbols))
    symbol_size = draw(st.integers(low_size, space.symbol_size[1]))
    if draw(st.booleans()):
        # Q packets per peer; keep Q small next to k (and never above Params' limit).
        q = draw(st.integers(1, min(2 * symbols, MAX_SYMBOLS * 64)))
        sizing: dict[str, object] = {"q": q, "redundancy": None}
    else:
        # Q >= 1 needs redundancy >= peers / symbols; go up to 4x that plus 1.
        low = peers / symbols
        redundancy = draw(st.floats(low, 4 * low + 1, allow_nan=False, allow_infinity=False))
        redundancy = max(round(redundancy, 3), low)
        sizing = {"redundancy": redundancy}
        q = Params(peers=peers, symbols=symbols, redundancy=redundancy, parents=1).per_peer
    rounds = draw(st.integers(*space.rounds))
    alive = list(range(1, peers + 1))
    failures = []
    scheduled = draw(st.integers(0, min(rounds, _MAX_SCHEDULED_FAILURES))) if space.failures else 0
    for r in range(1, scheduled + 1):
        failed = draw(st.sampled_from(alive))
        failures.append(failed)
        alive.remove(failed)
        alive.append(peers + r)
    return Params(
        peers=peers,
        symbols=symbols,
        symbol_size=symbol_size,
        parents=draw(st.integers(1, peers - 1)),
        scheme=draw(st.sampled_from(space.schemes)),
        field=draw(st.sampled_from(space.fields)),
        keep=draw(st.sampled_from(space.keeps)),
        beta=draw(st.none() | st.integers(1, q)),
        rounds=rounds,
        seed=draw(st.integers(0, 2**63 - 1)),
        systematic=draw(st.sampled_from(space.systematic)),
        failures=tuple(failures),
        **sizing,  # type: ignore[arg-type]
    )


def scenarios(
    *,
    transports: tuple[str, ...] = ("sim",),
    **params_options: Any,
) -> st.SearchStrategy[Scenario]:
    """:class:`~rlnc_testbed.experiment.scenario.Scenario` objects named ``generated`` over
    :func:`params` (``params_options`` are its keyword arguments, e.g. ``max_peers=3``,
    ``scheme="rlnc"``), with a transport from ``transports`` and no expectations or faults.
    Shrinks like :func:`params`, to the first transport."""
    from .experiment.scenario import RUN_TRANSPORTS

    if not transports or any(t not in RUN_TRANSPORTS for t in transports):
        raise InvalidArgument(
            f"transports must be a non-empty subset of {RUN_TRANSPORTS}; got {transports!r}"
        )
    return st.builds(
        lambda p, transport: Scenario(name="generated", params=p, transport=transport),
        params(**params_options),
        st.sampled_from(transports),
    )


#: params()'s keyword defaults, for params_and_data.
_PARAMS_DEFAULTS: dict[str, Any] = {
    name: parameter.default for name, parameter in inspect.signature(params).parameters.items()
}
