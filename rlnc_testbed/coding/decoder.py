"""The progressive RLNC decoder: Gaussian elimination packet by packet, recovery at rank k."""

from __future__ import annotations

import numpy as np

from ._checks import check_count, check_packet, check_positive
from .gf import check_field
from .linalg import aligned_zeros, kernels, payload_product
from .packet import CodedPacket

__all__ = ["DecodeError", "Decoder"]


class DecodeError(ValueError):
    """Raised by :meth:`Decoder.recover` when the decoder does not yet have rank k."""


class Decoder:
    """Collect coded packets until their coefficients span GF(field)^k, then recover the data.

    Each ``consume`` reduces the coefficient vector against a reduced row-echelon basis (numba,
    O(k^2)) and keeps the packet only if it is innovative. Payload row operations are not
    repeated per packet: every basis row is tracked as a combination of the stored innovative
    payloads (a k x k transform), and ``recover`` applies the final transform - the inverse
    of the received coefficient matrix - in one fast matrix product (the same work as ISA-L's
    decode), then caches the result.
    """

    def __init__(
        self,
        *,
        symbols: int,
        symbol_size: int,
        field: int = 256,
        data_length: int | None = None,
    ) -> None:
        self.symbols = check_positive(symbols, "symbols")
        self.symbol_size = check_positive(symbol_size, "symbol_size")
        self.field = check_field(field)
        capacity = self.symbols * self.symbol_size
        if data_length is not None:
            data_length = check_count(data_length, "data_length")
            if data_length > capacity:
                raise ValueError(
                    f"data_length {data_length} exceeds symbols * symbol_size = {capacity}"
                )
        self.data_length = data_length
        k = self.symbols
        self._basis = np.zeros((k, k), dtype=np.uint8)
        self._transform = np.zeros((k, k), dtype=np.uint8)
        self._pivot_row = np.full(k, -1, dtype=np.int64)
        self._payloads = aligned_zeros((k, self.symbol_size), np.uint8)
        self._rank = 0
        self._recovered: bytes | None = None

    @property
    def rank(self) -> int:
        """Dimension of the span of the coefficient vectors consumed so far."""
        return self._rank

    @property
    def is_complete(self) -> bool:
        """True once rank == k (the data can be recovered)."""
        return self._rank == self.symbols

    def consume(self, packet: CodedPacket) -> bool:
        """Add one packet; return True iff it was innovative (raised the rank).

        Raises TypeError/ValueError naming the problem if the packet does not match this
        decoder's symbols, symbol_size or field.
        """
        check_packet(packet, symbols=self.symbols, symbol_size=self.symbol_size, field=self.field)
        if self.is_complete:
            return False
        innovative = kernels().eliminate_insert(
            self._basis,
            self._transform,
            self._pivot_row,
            self._rank,
            np.ascontiguousarray(packet.coefficients),
        )
        if innovative:
            self._payloads[self._rank] = packet.payload
            self._rank += 1
        return bool(innovative)

    def recover(self) -> bytes:
        """Return the decoded data (``data[:data_length]`` if data_length was given).

        Raises DecodeError if the rank is still below k.
        """
        if self._recovered is None:
            if not self.is_complete:
                raise DecodeError(
                    f"cannot recover: rank {self._rank} < {self.symbols} symbols "
                    f"({self.symbols - self._rank} more innovative packets needed)"
                )
            inverse = self._transform[self._pivot_row]
            symbols = payload_product(inverse, self._payloads, self.field)
            data = symbols.tobytes()
            self._recovered = data if self.data_length is None else data[: self.data_length]
        return self._recovered
