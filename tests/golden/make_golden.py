"""Regenerate the wire-format golden files ``tests/golden/wire_*.bin`` deterministically.

Run ``python tests/golden/make_golden.py`` only after an intended format change (and bump
``rlnc_testbed.wire.VERSION``); ``tests/test_wire_golden.py`` compares the committed files
byte-for-byte with what :func:`rlnc_testbed.wire.serialize` produces from :data:`GOLDEN`.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

if __name__ == "__main__":  # make the repo importable when run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rlnc_testbed.coding.packet import CodedPacket
from rlnc_testbed.wire import Done, Hello, Message, PacketMessage, SourceChunk, serialize

__all__ = ["GOLDEN", "GOLDEN_DIR", "golden_path", "main"]

GOLDEN_DIR = Path(__file__).resolve().parent

_SOURCE = bytes(range(256)) * 3 + b"tail"


def _packet(field: int, k: int, symbol_size: int, step: int) -> CodedPacket:
    """A packet from plain integer arithmetic (no RNG, so no dependence on numpy versions)."""
    coefficients = ((np.arange(k) * step + 1) * (np.arange(k) + 3)) % field
    payload = (np.arange(symbol_size) * 7 + step) % 251
    return CodedPacket(coefficients.astype(np.uint8), payload.astype(np.uint8))


#: Golden file stem -> the message it holds.
GOLDEN: dict[str, Message] = {
    "wire_packet_gf2": PacketMessage(7, 2, _packet(2, 20, 220, step=5)),
    "wire_packet_gf256": PacketMessage(0x01020304, 256, _packet(256, 16, 64, step=29)),
    "wire_hello": Hello("12", "newcomer", "repair", 3),
    # Purposes are str8 text, not codes: a new purpose changes no byte of the format.
    "wire_hello_provenance": Hello("9", "newcomer", "provenance", 4),
    "wire_done": Done(count=5, generation=9),
    "wire_source_chunk": SourceChunk(
        1, 512, len(_SOURCE), hashlib.sha256(_SOURCE).digest(), _SOURCE[512:700]
    ),
}


def golden_path(name: str) -> Path:
    """Path of the golden file ``name`` (a key of :data:`GOLDEN`)."""
    return GOLDEN_DIR / f"{name}.bin"


def main() -> None:
    """Write every golden file."""
    for name, message in GOLDEN.items():
        golden_path(name).write_bytes(serialize(message))
        print(f"wrote {golden_path(name)}")


if __name__ == "__main__":
    main()
