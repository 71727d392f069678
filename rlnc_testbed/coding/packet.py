"""The coded packet: a coefficient vector and the payload it describes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CodedPacket"]


@dataclass(frozen=True, eq=False)
class CodedPacket:
    """One coded packet over GF(2) or GF(2^8).

    ``payload == sum_i coefficients[i] * symbol_i`` over the field. ``coefficients`` is a
    ``uint8`` array of length k with one element per entry (also for GF(2), where each entry is
    0 or 1); ``payload`` is a ``uint8`` array of length ``symbol_size``.
    """

    coefficients: np.ndarray
    payload: np.ndarray

    @property
    def symbols(self) -> int:
        """k, the number of source symbols the coefficients refer to."""
        return int(self.coefficients.shape[0])

    @property
    def symbol_size(self) -> int:
        """Length of the payload in bytes."""
        return int(self.payload.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CodedPacket):
            return NotImplemented
        return bool(
            np.array_equal(self.coefficients, other.coefficients)
            and np.array_equal(self.payload, other.payload)
        )

    def __hash__(self) -> int:
        return hash((self.coefficients.tobytes(), self.payload.tobytes()))
