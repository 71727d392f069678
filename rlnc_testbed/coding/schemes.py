"""Storage schemes: which packets are made, where they are stored and what repair moves.

Three schemes (``SCHEMES``): ``replication`` stores plain source symbols; ``coded-copy``
stores RLNC-coded packets and repairs by copying them; ``rlnc`` stores coded packets and
repairs by recoding. Every random choice uses exactly the draws documented per function - a
coefficient-only simulator elsewhere mirrors them - and a function that needs no choice makes
no draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._checks import check_count, check_rng
from .encoder import Encoder, packets_from_rows
from .gf import check_field
from .packet import CodedPacket
from .recoder import Recoder

__all__ = [
    "KEEP_RULES",
    "SCHEMES",
    "make_packets",
    "newcomer_keep",
    "parent_upload",
    "placement",
]

#: Storage schemes, in the order used by reports.
SCHEMES = ("replication", "coded-copy", "rlnc")
#: What a copying newcomer keeps: a random Q of everything, or one random parent's block.
KEEP_RULES = ("shuffle", "block")


def _check_scheme(scheme: object) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    return str(scheme)


def make_packets(scheme: str, encoder: Encoder, count: int) -> list[CodedPacket]:
    """The ``count`` packets the source stores (K in the parameters).

    replication: packet j is source symbol ``j mod k`` with a unit coefficient vector (no
    draws); coded-copy and rlnc: ``encoder.encode(count)``.
    """
    scheme = _check_scheme(scheme)
    count = check_count(count, "count")
    if scheme != "replication":
        return encoder.encode(count)
    k = encoder.symbols
    index = np.arange(count) % k
    coefficients = np.zeros((count, k), dtype=np.uint8)
    coefficients[np.arange(count), index] = 1
    return packets_from_rows(coefficients, encoder.source[index])


def placement(count: int, q: int, peers: int) -> list[range]:
    """Packet indices per peer: peer i (0-based) stores ``range(i * q, i * q + q)``."""
    count = check_count(count, "count")
    q = check_count(q, "q")
    peers = check_count(peers, "peers")
    if peers * q > count:
        raise ValueError(f"{peers} peers x q={q} = {peers * q} packets, but only {count} exist")
    return [range(i * q, i * q + q) for i in range(peers)]


def parent_upload(
    scheme: str,
    stored: Sequence[CodedPacket],
    beta: int,
    *,
    field: int,
    rng: np.random.Generator,
) -> list[CodedPacket]:
    """What one parent sends a newcomer: ``beta`` packets derived from its ``stored`` ones.

    If ``beta >= len(stored)``: ``list(stored)`` with no draws. Otherwise rlnc:
    ``Recoder(stored).recode(beta)``; other schemes: ``perm = rng.permutation(len(stored))``
    and ``stored[perm[i]]`` for ``i < beta``.
    """
    scheme = _check_scheme(scheme)
    beta = check_count(beta, "beta")
    field = check_field(field)
    check_rng(rng)
    if beta >= len(stored):
        return list(stored)
    if scheme == "rlnc":
        return Recoder(stored, field=field, rng=rng).recode(beta)
    perm = rng.permutation(len(stored))
    return [stored[int(perm[i])] for i in range(beta)]


def newcomer_keep(
    scheme: str,
    received: Sequence[Sequence[CodedPacket]],
    q: int,
    *,
    field: int,
    keep: str = "shuffle",
    rng: np.random.Generator,
) -> list[CodedPacket]:
    """What a newcomer stores from ``received`` (one list per parent, ascending parent id).

    rlnc: ``Recoder(flat).recode(q)`` on the concatenation (``[]``, no draws, if it is empty).
    Copies keep at most what they got: keep="shuffle" draws ``perm = rng.permutation(len(flat))``
    and keeps ``flat[perm[i]]`` for ``i < q``; keep="block" draws
    ``j = int(rng.integers(len(received)))`` and keeps ``received[j][:q]`` (no parents: ``[]``,
    no draws).
    """
    scheme = _check_scheme(scheme)
    q = check_count(q, "q")
    field = check_field(field)
    check_rng(rng)
    if keep not in KEEP_RULES:
        raise ValueError(f"keep must be one of {KEEP_RULES}, got {keep!r}")
    flat = [packet for block in received for packet in block]
    if scheme == "rlnc":
        if not flat:
            return []
        return Recoder(flat, field=field, rng=rng).recode(q)
    if keep == "shuffle":
        perm = rng.permutation(len(flat))
        return [flat[int(perm[i])] for i in range(min(q, len(flat)))]
    if not received:
        return []
    j = int(rng.integers(len(received)))
    return list(received[j][:q])
