"""The executable spec of one trial: full payloads, plain Python over the coding API.

Every step calls the rules the networked roles call (:mod:`rlnc_testbed.protocol.rules`): the
engine encodes and places K packets, each round the server fails one peer and picks P parents,
each parent uploads, the newcomer keeps, and a collector decodes everything alive and verifies
the bytes. Slow but obvious; :mod:`rlnc_testbed.simulation.compiled`, written independently
from the specification, must agree with it exactly on every record field.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np

from rlnc_testbed.coding import CodedPacket, Decoder, rank
from rlnc_testbed.protocol.draws import Role, stream_for
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord, stored_digest, verdict_of
from rlnc_testbed.protocol.rules import (
    choose_parents,
    engine_packets,
    failed_peer,
    newcomer_id,
    newcomer_keep,
    parent_upload,
    source_bytes,
)
from rlnc_testbed.wire import packet_message_size

__all__ = ["check_trial", "simulate_trial"]


def check_trial(trial: object) -> int:
    """Return ``trial`` if it is a trial index (an int in [0, 2**63)), else raise ValueError."""
    if (
        isinstance(trial, bool)
        or not isinstance(trial, int | np.integer)
        or not 0 <= int(trial) < 2**63
    ):
        raise ValueError(f"trial must be an integer in [0, 2**63); got {trial!r}")
    return int(trial)


def simulate_trial(
    params: Params,
    trial: int,
    *,
    data: bytes | None = None,
    on_round: Callable[[RoundRecord, Mapping[int, list[CodedPacket]]], None] | None = None,
) -> TrialRecord:
    """Run trial ``trial`` of ``params`` in process with full payloads; verify the bytes.

    ``data`` (at most k * symbol_size bytes) replaces the synthetic source bytes of the trial.
    ``on_round(record, stored)`` sees every round's record and what each alive peer stores
    after it (peer id -> packets in stored order), e.g. for test vectors and digests.
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

    stored = dict(zip(range(1, n + 1), engine_packets(p, trial, data), strict=True))
    alive = list(range(1, n + 1))
    record = TrialRecord(trial=trial, seed=p.seed)

    for r in range(1, p.rounds + 1):
        start = time.perf_counter()
        server = stream_for(p.seed, trial, r, Role.SERVER)
        failed = failed_peer(p, r, alive, server)
        survivors = [peer for peer in alive if peer != failed]
        parents = choose_parents(server, survivors, parents_count)
        newcomer = newcomer_id(p, r)

        uploads = [
            parent_upload(
                p.scheme,
                stored[q],
                beta,
                field=p.field,
                stream=stream_for(p.seed, trial, r, Role.PARENT, q),
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
            stream=stream_for(p.seed, trial, r, Role.NEWCOMER),
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
                verdict=verdict_of(decoded, verified),
                repair_packets=repair_packets,
                repair_bytes=repair_packets * message,
                collect_packets=collect_packets,
                collect_bytes=collect_packets * message,
                duration=time.perf_counter() - start,
                stored={str(peer): stored_digest(stored[peer]) for peer in alive},
            )
        )
        if on_round is not None:
            on_round(record.rounds[-1], {peer: list(stored[peer]) for peer in alive})
        if not verified:
            break
    return record
