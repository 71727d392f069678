"""The executable spec of one trial: full payloads, plain Python over the coding API.

Every step follows the round semantics shared with the WebRTC runner: the engine encodes and
places K packets, each round the server fails one peer and picks P parents, each parent uploads
(``parent_upload``), the newcomer keeps (``newcomer_keep``), and a collector decodes everything
alive and verifies the bytes. Slow but obvious; :mod:`rlnc_testbed.simulation.fast` must agree
with it exactly on every :meth:`~rlnc_testbed.protocol.records.RoundRecord.outcome`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from rlnc_testbed.coding import (
    Decoder,
    Encoder,
    make_packets,
    newcomer_keep,
    parent_upload,
    placement,
    rank,
)
from rlnc_testbed.coding.packet import CodedPacket
from rlnc_testbed.protocol.draws import Role, choose_failure, choose_parents, rng_for, source_bytes
from rlnc_testbed.protocol.params import ParameterError, Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord
from rlnc_testbed.wire import packet_message_size

__all__ = ["check_trial", "scheduled_failure", "simulate_trial"]


def check_trial(trial: object) -> int:
    """Return ``trial`` if it is a trial index (an int in [0, 2**63)), else raise ValueError."""
    if (
        isinstance(trial, bool)
        or not isinstance(trial, int | np.integer)
        or not 0 <= int(trial) < 2**63
    ):
        raise ValueError(f"trial must be an integer in [0, 2**63); got {trial!r}")
    return int(trial)


def scheduled_failure(params: Params, round_: int, alive: Sequence[int]) -> int | None:
    """The peer ``params.failures`` fails in ``round_`` (None if none); it must be alive."""
    if round_ > len(params.failures):
        return None
    failed = params.failures[round_ - 1]
    if failed not in alive:
        raise ParameterError(
            f"failures[{round_ - 1}] = {failed} is not alive in round {round_} "
            f"(alive: {sorted(alive)})"
        )
    return failed


def simulate_trial(params: Params, trial: int, *, data: bytes | None = None) -> TrialRecord:
    """Run trial ``trial`` of ``params`` in process with full payloads; verify the bytes.

    ``data`` (at most k * symbol_size bytes) replaces the synthetic source bytes of the trial.
    """
    if not isinstance(params, Params):
        raise TypeError(f"params must be a Params; got {type(params).__name__}")
    trial = check_trial(trial)
    p = params
    k, s = p.symbols, p.symbol_size
    if data is None:
        data = source_bytes(p.seed, trial, k * s)
    elif not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    elif len(data) > k * s:
        raise ValueError(f"data is {len(data)} bytes; at most symbols * symbol_size = {k * s}")
    data = bytes(data)
    n, q_keep, parents_count, beta = p.peers, p.per_peer, p.parents, p.upload
    message = packet_message_size(k, s)

    encoder = Encoder(
        data,
        symbols=k,
        symbol_size=s,
        field=p.field,
        systematic=p.systematic,
        rng=rng_for(p.seed, trial, 0, Role.ENGINE),
    )
    packets = make_packets(p.scheme, encoder, p.total_packets_made)
    slots = placement(p.total_packets_made, q_keep, n)
    stored: dict[int, list[CodedPacket]] = {
        peer: [packets[j] for j in slots[peer - 1]] for peer in range(1, n + 1)
    }
    alive = list(range(1, n + 1))
    record = TrialRecord(trial=trial, seed=p.seed)

    for r in range(1, p.rounds + 1):
        start = time.perf_counter()
        srv = rng_for(p.seed, trial, r, Role.SERVER)
        failed = scheduled_failure(p, r, alive)
        if failed is None:
            failed = choose_failure(srv, alive)
        survivors = [peer for peer in alive if peer != failed]
        parents = choose_parents(srv, survivors, parents_count)
        newcomer = n + r

        uploads = [
            parent_upload(
                p.scheme,
                stored[q],
                beta,
                field=p.field,
                rng=rng_for(p.seed, trial, r, Role.PARENT, q),
            )
            for q in parents
        ]
        received = [pkt.coefficients for upload in uploads for pkt in upload]
        newcomer_rank = rank(np.stack(received), p.field) if received else 0
        kept = newcomer_keep(
            p.scheme,
            uploads,
            q_keep,
            field=p.field,
            keep=p.keep,
            rng=rng_for(p.seed, trial, r, Role.NEWCOMER),
        )
        del stored[failed]
        stored[newcomer] = list(kept)
        alive = [*survivors, newcomer]

        decoder = Decoder(symbols=k, symbol_size=s, field=p.field, data_length=len(data))
        for peer in alive:
            for pkt in stored[peer]:
                decoder.consume(pkt)
        global_rank = int(decoder.rank)
        decoded = global_rank == k
        verified = decoded and decoder.recover() == data
        repair_packets = len(received)
        collect_packets = sum(len(stored[peer]) for peer in alive)
        record.rounds.append(
            RoundRecord(
                round=r,
                failed=failed,
                newcomer=newcomer,
                parents=tuple(parents),
                newcomer_rank=int(newcomer_rank),
                global_rank=global_rank,
                decoded=decoded,
                verified=verified,
                verdict="ok" if verified else ("undecodable" if not decoded else "corrupt"),
                repair_packets=repair_packets,
                repair_bytes=repair_packets * message,
                collect_packets=collect_packets,
                collect_bytes=collect_packets * message,
                duration=time.perf_counter() - start,
            )
        )
        if not verified:
            break
    return record
