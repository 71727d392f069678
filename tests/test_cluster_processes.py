"""Storage peers and newcomers as separate OS processes (``rlnc-testbed node``) decide exactly
what the in-process system and the simulator decide."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.protocol import Params
from rlnc_testbed.simulation import simulate_trial


@pytest.mark.webrtc
async def test_peers_in_their_own_processes_match_the_simulator():
    params = Params(scheme="rlnc", seed=4, peers=4, symbols=8, symbol_size=256, parents=2, rounds=2)
    async with Cluster(params, 0, transport="webrtc", processes=True) as cluster:
        record = await cluster.run()
        pids = [p.pid for p in cluster._processes]
    assert [r.outcome() for r in record.rounds] == [
        r.outcome() for r in simulate_trial(params, 0).rounds
    ]
    assert len(pids) == params.peers + params.rounds  # N peers + one newcomer per round
    assert cluster._processes == []  # every process was waited for
    links = [link for r in record.rounds for link in r.links]
    assert links and all(link["info"]["remote_address"] == "127.0.0.1" for link in links)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


def test_processes_need_webrtc():
    with pytest.raises(ValueError, match="webrtc"):
        Cluster(Params(), 0, transport="memory", processes=True)


def test_node_command_reports_an_unreachable_server():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlnc_testbed",
            "node",
            "--server",
            "ws://127.0.0.1:9/ws",
            "--token",
            "t",
            "--role",
            "peer",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot connect" in result.stderr and "Traceback" not in result.stderr
