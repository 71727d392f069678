"""The networked system does exactly what the specification says, checked against an
independent implementation of it, over memory channels and real WebRTC.

The oracle is the compiled simulator (:mod:`rlnc_testbed.simulation.compiled`), written from
docs/protocol.md §6 without calling the rule functions the roles call. For every round the
tests compare:

* every decided field: failed peer, newcomer, parents, newcomer rank, global rank, decoded,
  verified, verdict, packets moved;
* what each alive peer *stores*: the SHA-256 the collector computed over the packets each peer
  delivered (coefficients and payloads) against the digest of the oracle's coefficient rows
  and payloads computed here from the source with this file's own GF(2^8) arithmetic - ranks
  alone are blind to most wrong draws over GF(2^8);
* the traffic the links *measured* (the transports' counters) against what the specification
  says must move: per parent ``min(beta, stored)`` packets, per alive peer all it stores, each
  batch one ``Done`` more.

``tests/test_mutations.py`` proves these tests fail when a rule of the networked path is
changed.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlnc_testbed import strategies, wire
from rlnc_testbed.experiment.cluster import Cluster, run_trial
from rlnc_testbed.protocol import Params, TrialRecord
from rlnc_testbed.simulation import compiled

SMALL = dict(peers=5, symbols=8, symbol_size=64, parents=2, rounds=3)
SOURCE_ROLE = 5  # docs/protocol.md §6.1
DONE_BYTES = len(wire.serialize(wire.Done(count=0, generation=0)))


# -- this file's own GF(2^8) (0x11d) ---------------------------------------------------------


def _gf_mul_table() -> np.ndarray:
    exp, log = [0] * 510, [0] * 256
    x = 1
    for i in range(255):
        exp[i], log[x] = x, i
        x = (x << 1) ^ (0x11D if x & 0x80 else 0)
    for i in range(255, 510):
        exp[i] = exp[i - 255]
    table = np.zeros((256, 256), dtype=np.uint8)
    for a in range(1, 256):
        for b in range(1, 256):
            table[a, b] = exp[log[a] + log[b]]
    return table


MUL = _gf_mul_table()


def _payloads(rows: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """``rows @ symbols`` over GF(2^8): XOR of coefficient-scaled symbols."""
    out = np.zeros((rows.shape[0], symbols.shape[1]), dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, c in enumerate(row):
            if c:
                out[i] ^= MUL[c][symbols[j]]
    return out


def _digest(rows: np.ndarray, symbols: np.ndarray) -> str:
    payloads = _payloads(rows, symbols)
    h = hashlib.sha256()
    for coefficients, payload in zip(rows, payloads, strict=True):
        h.update(coefficients.astype(np.uint8).tobytes())
        h.update(payload.tobytes())
    return h.hexdigest()


# -- the oracle's expectations ---------------------------------------------------------------


def _source(params: Params, trial: int, data: bytes | None) -> np.ndarray:
    k, s = params.symbols, params.symbol_size
    if data is None:
        raw, _ = compiled.stream_elements(params.seed, trial, 0, SOURCE_ROLE, 0, 256, k * s)
        data = bytes(np.asarray(raw, dtype=np.uint8))
    padded = np.zeros(k * s, dtype=np.uint8)
    padded[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return padded.reshape(k, s)


def expected_rounds(params: Params, trial: int, data: bytes | None = None) -> list[dict[str, Any]]:
    """Per round, what the specification says happens (from the compiled oracle)."""
    trace = compiled.trace_trial(params, trial)
    cols, k = trace.columns, params.symbols
    symbols = _source(params, trial, data)
    rounds = []
    for r in range(int(cols.rounds_played[0])):
        before, after = trace.stored(r), trace.stored(r + 1)
        parents = [int(x) for x in cols.parents[0, r]]
        rank = int(cols.global_rank[0, r])
        rounds.append(
            {
                "round": r + 1,
                "failed": int(cols.failed[0, r]),
                "newcomer": int(cols.newcomer[0, r]),
                "parents": tuple(parents),
                "newcomer_rank": int(cols.newcomer_rank[0, r]),
                "global_rank": rank,
                "decoded": rank == k,
                "verified": rank == k,
                "verdict": "ok" if rank == k else "undecodable",
                "repair_packets": int(cols.repair_packets[0, r]),
                "collect_packets": int(cols.collect_packets[0, r]),
                "stored": {str(p): _digest(rows, symbols) for p, rows in after.items()},
                "uploads": {str(p): min(params.upload, len(before[p])) for p in parents},
                "holdings": {str(p): len(rows) for p, rows in after.items()},
            }
        )
    return rounds


def decided(record: TrialRecord) -> list[dict[str, Any]]:
    """The same fields, from a networked run's records."""
    return [
        {
            "round": r.round,
            "failed": r.failed,
            "newcomer": r.newcomer,
            "parents": tuple(r.parents),
            "newcomer_rank": r.newcomer_rank,
            "global_rank": r.global_rank,
            "decoded": r.decoded,
            "verified": r.verified,
            "verdict": r.verdict,
            "repair_packets": r.repair_packets,
            "collect_packets": r.collect_packets,
            "stored": dict(r.stored),
        }
        for r in record.rounds
    ]


def assert_as_specified(
    params: Params,
    trial: int,
    record: TrialRecord,
    data: bytes | None = None,
    *,
    honest: bool = True,
):
    """Decisions, stored packets and measured traffic of every round equal the oracle's (and,
    when every node was ``honest``, nothing was refused, polluted or disputed). The newcomer's
    ``provenance`` batch (its link labelled ``provenance-<round>``) carries its uploads again."""
    want = expected_rounds(params, trial, data)
    plain = [{k: v for k, v in w.items() if k not in ("uploads", "holdings")} for w in want]
    assert decided(record) == plain
    for rnd in record.rounds if honest else ():
        assert (rnd.refused, rnd.polluted, rnd.polluters, rnd.disputes) == ([], {}, [], []), rnd
    m = wire.packet_message_size(params.symbols, params.symbol_size)
    for rnd, spec in zip(record.rounds, want, strict=True):
        # The newcomer's provenance batch (collector side, labelled) repeats its uploads.
        tag = f"provenance-{rnd.round}"
        others = [x for x in rnd.links if x["label"] != tag]
        provenance = {x["remote"]: x for x in rnd.links if x["label"] == tag}
        repair = {x["remote"]: x for x in others if x["local"] == str(spec["newcomer"])}
        collect = {x["remote"]: x for x in others if x["local"] == "collector"}
        assert len(repair) + len(collect) + len(provenance) == len(rnd.links), rnd.links
        uploaded = {str(spec["newcomer"]): sum(spec["uploads"].values())}
        for links, counts in (
            (repair, spec["uploads"]),
            (collect, spec["holdings"]),
            (provenance, uploaded),
        ):
            measured = {
                peer: (x["messages_received"], x["bytes_received"], x["messages_sent"])
                for peer, x in links.items()
            }
            assert measured == {
                peer: (c + 1, c * m + DONE_BYTES, 0) for peer, c in counts.items()
            }, f"round {rnd.round}: measured traffic differs from the specification"


# -- memory --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["replication", "coded-copy", "rlnc"])
@pytest.mark.parametrize("seed", [1, 2])
async def test_memory_cluster_is_as_specified(scheme, seed):
    params = Params(scheme=scheme, seed=seed, redundancy=2.0, **SMALL)
    for trial in (0, 3):
        record = await run_trial(params, trial, transport="memory")
        assert_as_specified(params, trial, record)


@pytest.mark.parametrize(
    "changes",
    [
        dict(field=2, scheme="rlnc"),
        dict(field=2, scheme="coded-copy", beta=1),
        dict(keep="block", scheme="coded-copy"),
        dict(keep="block", scheme="replication", beta=1),
        dict(keep="shuffle", scheme="replication"),
        dict(keep="shuffle", scheme="coded-copy", field=2),
        # keep="distinct" (the default) where uploads repeat vectors, so it skips repeats
        dict(keep="distinct", scheme="replication", redundancy=3.0, parents=3),
        dict(
            keep="distinct",
            scheme="coded-copy",
            field=2,
            symbols=2,
            q=3,
            redundancy=None,
            parents=3,
            beta=2,
        ),
        dict(beta=1, scheme="rlnc"),
        dict(beta=1, scheme="replication"),
        dict(systematic=True, scheme="rlnc"),
        dict(systematic=True, scheme="coded-copy", field=2),
        dict(failures=(3, 1), scheme="rlnc"),
        dict(redundancy=1.0, scheme="rlnc"),  # loses data: exercises the 'end' path
        dict(redundancy=1.2, scheme="replication", parents=1),
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
async def test_memory_cluster_is_as_specified_variants(changes):
    params = Params(seed=7, **{"redundancy": 2.0, **SMALL, **changes})
    record = await run_trial(params, 1, transport="memory")
    assert_as_specified(params, 1, record)


async def test_twelve_peer_memory_rounds_are_as_specified():
    """Ids past 9 sort numerically everywhere ("10" after "9")."""
    params = Params(
        peers=12, symbols=24, symbol_size=16, redundancy=2.0, parents=4, scheme="rlnc",
        rounds=4, seed=21, beta=2,
    )  # fmt: skip
    for trial in (0, 1):
        record = await run_trial(params, trial, transport="memory")
        assert_as_specified(params, trial, record)


async def test_user_data_is_stored_and_verified():
    data = bytes(range(256)) * 3 + b"tail"  # not a multiple of the symbol size
    params = Params(
        scheme="rlnc", seed=5, peers=3, symbols=8, symbol_size=128, parents=2,
        failures=(2,), rounds=1,
    )  # fmt: skip
    record = await run_trial(params, 0, transport="memory", data=data)
    assert record.success
    assert_as_specified(params, 0, record, data)


@settings(max_examples=30 if not os.environ.get("CI") else 60, deadline=None)
@given(
    params=strategies.params(max_peers=5, max_symbols=6, max_rounds=3, max_symbol_size=16),
    trial=st.integers(0, 1000),
)
def test_memory_cluster_is_as_specified_on_random_params(params, trial):
    """Any valid point: the networked roles (memory channels, real websocket signaling) do
    exactly what the independent oracle says, packet for packet."""
    record = asyncio.run(run_trial(params, trial, transport="memory"))
    assert_as_specified(params, trial, record)


def test_the_oracle_is_not_blind():
    """The comparison sees a single changed coefficient in any stored packet."""
    params = Params(seed=3, **{**SMALL, "rounds": 1})
    want = expected_rounds(params, 0)[0]
    trace = compiled.trace_trial(params, 0)
    rows = dict(trace.stored(1))
    peer = next(iter(rows))
    changed = rows[peer].copy()
    changed[0, 0] ^= 1
    assert _digest(changed, _source(params, 0, None)) != want["stored"][str(peer)]


# -- WebRTC --------------------------------------------------------------------------------


@pytest.mark.webrtc
@pytest.mark.parametrize("scheme", ["replication", "coded-copy", "rlnc"])
async def test_webrtc_cluster_is_as_specified(scheme):
    params = Params(scheme=scheme, seed=11, redundancy=2.0, beta=None, **SMALL)
    record = await run_trial(params, 2, transport="webrtc")
    assert_as_specified(params, 2, record)
    # Every link of every round went over a real ICE pair on loopback.
    links = [link for r in record.rounds for link in r.links]
    assert links, "no link recorded"
    for link in links:
        info = link["info"]
        assert info["local_address"] == "127.0.0.1" and info["remote_address"] == "127.0.0.1"


@pytest.mark.webrtc
async def test_ten_peer_webrtc_rounds_are_as_specified():
    params = Params(
        peers=10, symbols=20, symbol_size=220, redundancy=2.0, parents=3, scheme="rlnc",
        rounds=5, seed=99, beta=2,
    )  # fmt: skip
    record = await run_trial(params, 0, transport="webrtc")
    assert_as_specified(params, 0, record)


def _sockets() -> int:
    """Open sockets of this process (Linux /proc)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if "socket:" in _readlink(fd))


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


@pytest.mark.webrtc
async def test_webrtc_trial_leaves_no_task_or_socket_behind():
    before = _sockets()
    params = Params(
        scheme="rlnc", seed=3, peers=3, symbols=6, symbol_size=256, parents=2,
        failures=(2,), rounds=1,
    )  # fmt: skip
    async with Cluster(params, 0, transport="webrtc") as cluster:
        record = await cluster.run()
    assert record.success
    assert all(node.signaling.closed for node in cluster.nodes)
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []
    gc.collect()
    assert _sockets() <= before, "a UDP/TCP socket of the trial is still open"
