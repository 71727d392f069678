"""The coding package's declared surface, and what importing it pulls in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rlnc_testbed.coding as coding
import rlnc_testbed.strategies as strategies

EXPECTED = {
    "CodedPacket", "DecodeError", "Decoder", "Encoder", "Recoder", "GF256_POLY", "FIELDS",
    "matmul", "rank", "rank_kernel", "GF256_MUL", "GF256_INV",
}  # fmt: skip


def test_all_is_complete_and_resolvable() -> None:
    assert set(coding.__all__) >= EXPECTED
    for name in coding.__all__:
        assert getattr(coding, name) is not None, name
    for name in strategies.__all__:
        assert callable(getattr(strategies, name)), name
    assert coding.GF256_POLY == 0x11D


def test_import_pulls_no_heavy_modules() -> None:
    """Neither coding nor the protocol rules (which the roles import) pull in numba etc."""
    code = (
        "import sys, rlnc_testbed.coding, rlnc_testbed.protocol.rules;"
        "print(sorted(m for m in ('numba', 'galois', 'aiortc', 'aiohttp') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=Path(coding.__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "[]"
