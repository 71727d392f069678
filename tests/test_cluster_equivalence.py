"""The networked system decides exactly what the simulator decides, over memory and WebRTC.

Same Params and trial -> identical RoundRecord.outcome() (failed peer, newcomer, parents,
newcomer rank, global rank, decoded, verified) from the real roles over real signaling as from
the reference simulator. Also: real data channels were used (selected ICE pair on loopback)
and a trial leaves nothing running.
"""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlnc_testbed import strategies
from rlnc_testbed.experiment.cluster import Cluster, run_trial
from rlnc_testbed.protocol import Params
from rlnc_testbed.simulation.reference import simulate_trial

SMALL = dict(peers=5, symbols=8, symbol_size=64, parents=2, rounds=3)


def outcomes(record):
    """Every decided field of every round, plus the counted ones (packets and bytes moved,
    verdict), which are equal too: only durations and link details are measured."""
    return [
        (
            *r.outcome(),
            r.verdict,
            r.repair_packets,
            r.repair_bytes,
            r.collect_packets,
            r.collect_bytes,
        )
        for r in record.rounds
    ]


@pytest.mark.parametrize("scheme", ["replication", "coded-copy", "rlnc"])
@pytest.mark.parametrize("seed", [1, 2])
async def test_memory_cluster_matches_simulator(scheme, seed):
    params = Params(scheme=scheme, seed=seed, redundancy=2.0, **SMALL)
    for trial in (0, 3):
        record = await run_trial(params, trial, transport="memory")
        assert outcomes(record) == outcomes(simulate_trial(params, trial))


@pytest.mark.parametrize(
    "changes",
    [
        dict(field=2, scheme="rlnc"),
        dict(keep="block", scheme="coded-copy"),
        dict(beta=1, scheme="rlnc"),
        dict(beta=1, scheme="replication"),
        dict(systematic=True, scheme="rlnc"),
        dict(redundancy=1.0, scheme="rlnc"),  # loses data: exercises the 'end' path
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
async def test_memory_cluster_matches_simulator_variants(changes):
    params = Params(seed=7, **{"redundancy": 2.0, **SMALL, **changes})
    record = await run_trial(params, 1, transport="memory")
    assert outcomes(record) == outcomes(simulate_trial(params, 1))


@pytest.mark.webrtc
@pytest.mark.parametrize("scheme", ["replication", "coded-copy", "rlnc"])
@pytest.mark.parametrize("seed", [11, 12])
async def test_webrtc_cluster_matches_simulator(scheme, seed):
    params = Params(scheme=scheme, seed=seed, redundancy=2.0, **SMALL)
    record = await run_trial(params, 2, transport="webrtc")
    assert outcomes(record) == outcomes(simulate_trial(params, 2))
    # Each round records every link: one per parent (repair) and one per alive peer (collect).
    for rnd in record.rounds:
        labels = sorted(link["label"].split("-")[0] for link in rnd.links)
        assert labels == ["collect"] * params.peers + ["repair"] * params.parents
    # Every link of every round went over a real ICE pair on loopback.
    links = [link for r in record.rounds for link in r.links]
    assert links, "no link recorded"
    for link in links:
        info = link["info"]
        assert info["local_address"] == "127.0.0.1" and info["remote_address"] == "127.0.0.1"
        assert link["bytes_sent"] + link["bytes_received"] > 0


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
        scheme="rlnc",
        seed=3,
        peers=3,
        symbols=6,
        symbol_size=256,
        parents=2,
        failures=(2,),
        rounds=1,
    )
    async with Cluster(params, 0, transport="webrtc") as cluster:
        record = await cluster.run()
    assert record.success
    assert all(node.signaling.closed for node in cluster.nodes)
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []
    gc.collect()
    assert _sockets() <= before, "a UDP/TCP socket of the trial is still open"


@pytest.mark.webrtc
async def test_ten_peer_webrtc_rounds_match_simulator():
    params = Params(
        peers=10,
        symbols=20,
        symbol_size=220,
        redundancy=2.0,
        parents=3,
        scheme="rlnc",
        rounds=5,
        seed=99,
    )
    record = await run_trial(params, 0, transport="webrtc")
    assert outcomes(record) == outcomes(simulate_trial(params, 0))


async def test_user_data_is_stored_and_verified():
    data = bytes(range(256)) * 3 + b"tail"  # not a multiple of the symbol size
    params = Params(
        scheme="rlnc",
        seed=5,
        peers=3,
        symbols=8,
        symbol_size=128,
        parents=2,
        failures=(2,),
        rounds=1,
    )
    record = await run_trial(params, 0, transport="memory", data=data)
    assert record.success
    assert outcomes(record) == outcomes(simulate_trial(params, 0, data=data))


@settings(max_examples=30 if not os.environ.get("CI") else 60, deadline=None)
@given(
    params=strategies.params(max_peers=5, max_symbols=6, max_rounds=3, max_symbol_size=16),
    trial=st.integers(0, 1000),
)
def test_memory_cluster_matches_simulator_on_random_params(params, trial):
    """Any valid point: the networked roles (memory channels, real websocket signaling) decide
    exactly what the reference simulator decides."""
    record = asyncio.run(run_trial(params, trial, transport="memory"))
    assert outcomes(record) == outcomes(simulate_trial(params, trial))
