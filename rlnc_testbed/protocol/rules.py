"""The rules of a trial, in one place: what the engine stores, who fails, who repairs, what is kept.

Each rule is a pure function of the parameters, what a node holds and the specified streams of
:mod:`rlnc_testbed.protocol.draws`; the server's round control, the roles and the reference
simulator all call these (the compiled simulator is a second, independent implementation that
the tests compare against). ``docs/protocol.md`` §6 states every rule and draw in words.

Ids sort *numerically* wherever a rule says "ascending". A function that needs no choice makes
no draw.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from ..coding import CodedPacket, Encoder, Recoder
from ..coding.encoder import packets_from_rows
from .draws import DrawStream, Role, stream_for
from .params import KEEP_RULES, SCHEMES, ParameterError, Params

__all__ = [
    "choose_parents",
    "engine_packets",
    "failed_peer",
    "make_packets",
    "newcomer_id",
    "newcomer_keep",
    "parent_upload",
    "placement",
    "source_bytes",
]


def source_bytes(seed: int, trial: int, length: int) -> bytes:
    """Synthetic source data of one trial (when no file is given): stream (SOURCE, round 0),
    ``elements(256, length)``."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    return stream_for(seed, trial, 0, Role.SOURCE).elements(256, length).tobytes()


def make_packets(scheme: str, encoder: Encoder, count: int) -> list[CodedPacket]:
    """The ``count`` (K) packets the engine makes.

    replication: packet j is source symbol ``j mod k`` with a unit coefficient vector (no
    draws); coded-copy and rlnc: ``encoder.encode(count)``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if scheme != "replication":
        return encoder.encode(count)
    k = encoder.symbols
    index = np.arange(count) % k
    coefficients = np.zeros((count, k), dtype=np.uint8)
    coefficients[np.arange(count), index] = 1
    return packets_from_rows(coefficients, encoder.source[index])


def placement(count: int, q: int, peers: int) -> list[range]:
    """Packet indices per peer: the i-th peer in ascending id order (0-based) stores
    ``range(i * q, i * q + q)``; packets past ``peers * q`` are not stored."""
    if min(count, q, peers) < 0:
        raise ValueError(f"count, q and peers must be >= 0, got {count}, {q}, {peers}")
    if peers * q > count:
        raise ValueError(f"{peers} peers x q={q} = {peers * q} packets, but only {count} exist")
    return [range(i * q, i * q + q) for i in range(peers)]


def engine_packets(params: Params, trial: int, data: bytes) -> list[list[CodedPacket]]:
    """What each peer (in ascending id order) stores at round 0: stream (ENGINE, round 0)
    draws the encoding coefficients (:func:`make_packets`), :func:`placement` places them."""
    p = params
    encoder = Encoder(
        data,
        symbols=p.symbols,
        symbol_size=p.symbol_size,
        field=p.field,
        systematic=p.systematic,
        rng=stream_for(p.seed, trial, 0, Role.ENGINE),
    )
    packets = make_packets(p.scheme, encoder, p.total_packets_made)
    return [[packets[j] for j in slot] for slot in placement(len(packets), p.per_peer, p.peers)]


def failed_peer(params: Params, round: int, alive: Sequence[int], server: DrawStream) -> int:
    """Who fails in ``round``: ``failures[round - 1]`` if scheduled (no draw; it must be alive),
    else ``sorted(alive)[server.below(len(alive))]``."""
    ordered = sorted(alive)
    if round <= len(params.failures):
        failed = params.failures[round - 1]
        if failed not in ordered:
            raise ParameterError(
                f"failures[{round - 1}] = {failed} is not alive in round {round} (alive: {ordered})"
            )
        return failed
    if not ordered:
        raise ValueError("no alive peer to fail")
    return ordered[server.below(len(ordered))]


def choose_parents(server: DrawStream, survivors: Sequence[int], count: int) -> tuple[int, ...]:
    """``count`` parents: ``sample(len(survivors), count)`` over the ascending survivors;
    returned in ascending id order."""
    ordered = sorted(survivors)
    if not 1 <= count <= len(ordered):
        raise ValueError(f"cannot choose {count} parents among {len(ordered)} survivors")
    return tuple(sorted(ordered[i] for i in server.sample(len(ordered), count)))


def newcomer_id(params: Params, round: int) -> int:
    """The id of round ``round``'s newcomer: N + round."""
    return params.peers + round


def parent_upload(
    scheme: str, stored: Sequence[CodedPacket], beta: int, *, field: int, stream: DrawStream
) -> list[CodedPacket]:
    """What one parent sends the newcomer: ``beta`` packets derived from its ``stored`` ones.

    ``beta >= len(stored)``: all stored packets in order, no draw. Otherwise rlnc: a
    (beta, len(stored)) matrix ``elements(field, ...)`` recodes them; other schemes: the
    stored packets at ``sample(len(stored), beta)``, in draw order.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if beta < 1:
        raise ValueError(f"beta must be >= 1, got {beta}")
    if beta >= len(stored):
        return list(stored)
    if scheme == "rlnc":
        return Recoder(stored, field=field, rng=stream).recode(beta)
    return [stored[i] for i in stream.sample(len(stored), beta)]


def newcomer_keep(
    scheme: str,
    received: Sequence[Sequence[CodedPacket]],
    q: int,
    *,
    field: int,
    keep: str,
    stream: DrawStream,
) -> list[CodedPacket]:
    """What a newcomer stores from ``received`` (one upload per parent, ascending parent id).

    flat = the uploads concatenated. rlnc: a (q, len(flat)) matrix ``elements(field, ...)``
    recodes flat (nothing, and no draw, if flat is empty). Copies, keep="distinct": flat in
    the order ``sample(len(flat), len(flat))``, each coefficient vector's first packet before
    every repeat (both groups in that order), the first ``min(q, len(flat))`` of it - never a
    duplicate while a distinct packet is unused; keep="shuffle": the packets of flat at
    ``sample(len(flat), min(q, len(flat)))``; keep="block": the first q of upload
    ``below(len(received))`` (nothing, no draw, without parents).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if keep not in KEEP_RULES:
        raise ValueError(f"keep must be one of {KEEP_RULES}, got {keep!r}")
    flat = [packet for block in received for packet in block]
    if scheme == "rlnc":
        if not flat:
            return []
        return Recoder(flat, field=field, rng=stream).recode(q)
    if keep == "distinct":
        order = stream.sample(len(flat), len(flat))
        vectors = [flat[i].coefficients.tobytes() for i in order]
        return [flat[order[j]] for j in _distinct_first(vectors, min(q, len(flat)))]
    if keep == "shuffle":
        return [flat[i] for i in stream.sample(len(flat), min(q, len(flat)))]
    if not received:
        return []
    return list(received[stream.below(len(received))][:q])


def _distinct_first(items: Sequence[Hashable], count: int) -> list[int]:
    """The first ``count`` positions of ``items`` when each item's first occurrence comes before
    every repeat, both groups in their order: ``["a", "b", "a", "c"], 3 -> [0, 1, 3]``,
    ``["a", "a", "b"], 3 -> [0, 2, 1]``. No draw: keep="distinct" applies it to the shuffled
    coefficient vectors."""
    if not 0 <= count <= len(items):
        raise ValueError(f"count must be in [0, {len(items)}], got {count}")
    seen: set[Hashable] = set()
    first: list[int] = []
    repeats: list[int] = []
    for position, item in enumerate(items):
        if len(first) == count:
            break
        if item in seen:
            repeats.append(position)
        else:
            seen.add(item)
            first.append(position)
    return (first + repeats)[:count]
