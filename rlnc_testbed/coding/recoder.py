"""The RLNC recoder: fresh random combinations of coded packets, without decoding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._checks import CoefficientSource, check_count, check_packet, check_rng, draw_elements
from .encoder import packets_from_rows
from .gf import check_field
from .linalg import aligned_zeros, kernels, payload_product
from .packet import CodedPacket

__all__ = ["Recoder"]


class Recoder:
    """Recode ``packets`` (all with the same k and symbol size) over GF(field).

    ``recode(n)`` draws one (n, len(packets)) matrix R from ``rng`` (see
    :func:`~rlnc_testbed.coding._checks.draw_elements`) and returns packets with coefficients
    ``R @ C`` and payloads ``R @ Y``.
    """

    def __init__(
        self,
        packets: Sequence[CodedPacket],
        *,
        field: int = 256,
        rng: CoefficientSource | np.random.Generator,
    ) -> None:
        self.field = check_field(field)
        self._rng = check_rng(rng)
        packets = list(packets)
        if not packets:
            raise ValueError("Recoder needs at least one packet to recode")
        first = packets[0]
        check_packet(first, symbols=first.symbols, symbol_size=None, field=self.field)
        self.symbols = first.symbols
        self.symbol_size = first.symbol_size
        for packet in packets[1:]:
            check_packet(
                packet, symbols=self.symbols, symbol_size=self.symbol_size, field=self.field
            )
        self._coefficients = np.stack([p.coefficients for p in packets])
        self._payloads = aligned_zeros((len(packets), self.symbol_size), np.uint8)
        for row, packet in zip(self._payloads, packets, strict=True):
            row[:] = packet.payload

    def __len__(self) -> int:
        return int(self._coefficients.shape[0])

    def recode(self, n: int) -> list[CodedPacket]:
        """Return ``n`` recoded packets (one draw of an (n, len(packets)) matrix)."""
        n = check_count(n, "n")
        mix = draw_elements(self._rng, self.field, (n, len(self)))
        coefficients = np.zeros((n, self.symbols), dtype=np.uint8)
        if n:
            kernels().matmul_bytes(mix, self._coefficients, coefficients)
        payloads = payload_product(mix, self._payloads, self.field)
        return packets_from_rows(coefficients, payloads)
