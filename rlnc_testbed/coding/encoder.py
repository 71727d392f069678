"""The RLNC encoder: split data into k symbols and emit random linear combinations of them."""

from __future__ import annotations

import numpy as np

from ._checks import CoefficientSource, check_count, check_positive, check_rng, draw_elements
from .gf import check_field
from .linalg import aligned_zeros, payload_product
from .packet import CodedPacket

__all__ = ["Encoder", "packets_from_rows"]


def packets_from_rows(coefficients: np.ndarray, payloads: np.ndarray) -> list[CodedPacket]:
    """One read-only packet per row of ``coefficients`` (n, k) and ``payloads`` (n, s)."""
    coefficients.flags.writeable = False
    payloads.flags.writeable = False
    return [CodedPacket(coefficients[i], payloads[i]) for i in range(coefficients.shape[0])]


class Encoder:
    """Encode ``data`` as ``symbols`` (k) zero-padded symbols of ``symbol_size`` (s) bytes.

    ``encode(n)`` draws its coefficients as one (n, k) matrix from ``rng`` (see
    :func:`~rlnc_testbed.coding._checks.draw_elements`) - or, when ``systematic``, first emits
    the k source symbols as unit-vector packets (counting towards n, on every call) and draws
    an (n - k, k) matrix for the rest. The emitted arrays are read-only.
    """

    def __init__(
        self,
        data: bytes,
        *,
        symbols: int,
        symbol_size: int,
        field: int = 256,
        systematic: bool = False,
        rng: CoefficientSource | np.random.Generator,
    ) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        self.symbols = check_positive(symbols, "symbols")
        self.symbol_size = check_positive(symbol_size, "symbol_size")
        self.field = check_field(field)
        self.systematic = bool(systematic)
        self._rng = check_rng(rng)
        raw = bytes(data)
        capacity = self.symbols * self.symbol_size
        if len(raw) > capacity:
            raise ValueError(
                f"data of {len(raw)} bytes does not fit in {self.symbols} symbols of "
                f"{self.symbol_size} bytes ({capacity} bytes)"
            )
        self.data_length = len(raw)
        source = aligned_zeros((capacity,), np.uint8)
        source[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        self.source = source.reshape(self.symbols, self.symbol_size)
        self.source.flags.writeable = False

    def encode(self, n: int) -> list[CodedPacket]:
        """Return ``n`` coded packets (see the class docstring for the exact draws)."""
        n = check_count(n, "n")
        k = self.symbols
        plain = min(n, k) if self.systematic else 0
        drawn = draw_elements(self._rng, self.field, (n - plain, k))
        coefficients = np.zeros((n, k), dtype=np.uint8)
        coefficients[np.arange(plain), np.arange(plain)] = 1
        coefficients[plain:] = drawn
        coded = payload_product(drawn, self.source, self.field)
        payloads = np.concatenate([self.source[:plain], coded]) if plain else coded
        return packets_from_rows(coefficients, payloads)
