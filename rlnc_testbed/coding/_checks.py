"""Argument checks shared by the coding classes (public-boundary validation, clear messages)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .gf import GF2
from .packet import CodedPacket

__all__ = [
    "CoefficientSource",
    "check_count",
    "check_packet",
    "check_positive",
    "check_rng",
    "draw_elements",
]


class CoefficientSource(Protocol):
    """Where random coefficients come from: ``elements(field, shape)`` -> uint8 array.

    The experiment passes the specified streams of :mod:`rlnc_testbed.protocol.draws`;
    library users may pass a ``numpy.random.Generator`` instead.
    """

    def elements(self, field: int, shape: tuple[int, ...]) -> np.ndarray: ...


def check_positive(value: object, name: str) -> int:
    """Return ``value`` if it is an int >= 1, else raise (TypeError / ValueError)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_count(value: object, name: str) -> int:
    """Return ``value`` if it is an int >= 0, else raise (TypeError / ValueError)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def check_rng(rng: object) -> CoefficientSource:
    """Return ``rng`` if it can draw coefficients (see :class:`CoefficientSource`), else raise."""
    if isinstance(rng, np.random.Generator) or callable(getattr(rng, "elements", None)):
        return rng  # type: ignore[return-value]
    raise TypeError(
        "rng must be a numpy.random.Generator or have an elements(field, shape) method "
        f"(e.g. a rlnc_testbed.protocol.draws.DrawStream), got {type(rng).__name__}"
    )


def draw_elements(rng: CoefficientSource, field: int, shape: tuple[int, int]) -> np.ndarray:
    """One draw of a uint8 ``shape`` matrix of GF(field) elements from ``rng``.

    A specified stream (``elements``) draws as it specifies; a numpy Generator by
    ``integers(0, field, size=shape, dtype=uint8)``.
    """
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, field, size=shape, dtype=np.uint8)
    return np.asarray(rng.elements(field, shape), dtype=np.uint8).reshape(shape)


def check_packet(packet: object, *, symbols: int, symbol_size: int | None, field: int) -> None:
    """Raise ValueError/TypeError naming the problem unless ``packet`` fits (k, s, field)."""
    if not isinstance(packet, CodedPacket):
        raise TypeError(f"expected a CodedPacket, got {type(packet).__name__}")
    c, p = packet.coefficients, packet.payload
    if not isinstance(c, np.ndarray) or c.dtype != np.uint8 or c.ndim != 1:
        raise ValueError("packet coefficients must be a 1-D uint8 numpy array")
    if not isinstance(p, np.ndarray) or p.dtype != np.uint8 or p.ndim != 1:
        raise ValueError("packet payload must be a 1-D uint8 numpy array")
    if c.shape[0] != symbols:
        raise ValueError(f"packet has {c.shape[0]} coefficients, expected {symbols} (symbols)")
    if symbol_size is not None and p.shape[0] != symbol_size:
        raise ValueError(f"packet payload has {p.shape[0]} bytes, expected {symbol_size}")
    if field == GF2 and c.size and c.max() > 1:
        raise ValueError("packet coefficients outside GF(2): entries must be 0 or 1")
