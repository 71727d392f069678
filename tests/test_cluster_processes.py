"""Storage peers and newcomers as separate OS processes (``rlnc-testbed node``) decide exactly
what the in-process system and the simulator decide - and no secret is on their command lines
or in their environments: each gets the credential of its own slot down a stdin pipe."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rlnc_testbed.experiment.cluster import Cluster, run_trial
from rlnc_testbed.experiment.standalone import TOKEN_ENV
from rlnc_testbed.protocol import Params
from rlnc_testbed.protocol.faults import FaultPlan
from rlnc_testbed.simulation import simulate_trial


def _secrets_seen(pid: int, secrets: list[str]) -> dict[str, list[str]]:
    """Which of ``secrets`` ``/proc/<pid>/cmdline`` and ``/proc/<pid>/environ`` contain."""
    found: dict[str, list[str]] = {}
    for name in ("cmdline", "environ"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            text = Path(f"/proc/{pid}/{name}").read_bytes().decode("utf-8", "replace")
            found[name] = [secret for secret in secrets if secret in text]
    return found


@pytest.mark.webrtc
async def test_peers_in_their_own_processes_match_the_simulator():
    params = Params(scheme="rlnc", seed=4, peers=4, symbols=8, symbol_size=256, parents=2, rounds=2)
    seen: dict[int, dict[str, list[str]]] = {}
    async with Cluster(params, 0, transport="webrtc", processes=True) as cluster:
        server = cluster.server
        slots = [("peer", str(i)) for i in range(1, params.peers + 1)] + [
            ("newcomer", str(params.peers + r)) for r in range(1, params.rounds + 1)
        ]
        secrets = [server.token] + [server.credential(role, slot) for role, slot in slots]
        run = asyncio.ensure_future(cluster.run())
        while not run.done():  # look at every node process while it lives
            for process in cluster._processes:
                if process.pid not in seen and process.returncode is None:
                    found = _secrets_seen(process.pid, secrets)
                    if found:
                        seen[process.pid] = found
            await asyncio.sleep(0.01)
        record = await run
        pids = [p.pid for p in cluster._processes]
    assert [r.outcome() for r in record.rounds] == [
        r.outcome() for r in simulate_trial(params, 0).rounds
    ]
    assert len(pids) == params.peers + params.rounds  # N peers + one newcomer per round
    assert len(seen) >= params.peers, "the test must have read the peers' /proc entries"
    assert all(found == {"cmdline": [], "environ": []} for found in seen.values()), seen
    assert cluster._processes == []  # every process was waited for
    links = [link for r in record.rounds for link in r.links]
    assert links and all(link["info"]["remote_address"] == "127.0.0.1" for link in links)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


#: Crash faults on process nodes are SIGKILLs; each ends in the verdict of docs/protocol.md §7.
KILLS = [
    ({"kind": "crash", "target": "parent", "when": "mid-repair", "round": 2}, "repair-timeout"),
    # (mid-collect is left out: a process can deliver its whole batch in the milliseconds
    # between receiving 'collect' and the SIGKILL, so that round may verify - a real race,
    # documented in docs/protocol.md §7; in-process crashes send exactly half a batch.)
    ({"kind": "newcomer-crash", "round": 1}, "repair-timeout"),
]


@pytest.mark.webrtc
@pytest.mark.parametrize(("spec", "verdict"), KILLS, ids=lambda v: str(v))
async def test_crash_faults_sigkill_process_nodes(monkeypatch, spec, verdict):
    # process nodes start a Python each: under load a 0.3 factor timed out honest rounds
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "0.7")
    params = Params(scheme="rlnc", seed=4, peers=4, symbols=8, symbol_size=64, parents=2, rounds=2)
    faults = FaultPlan.from_list([spec])
    async with Cluster(params, 0, transport="webrtc", processes=True, faults=faults) as cluster:
        record = await cluster.run()
        processes = {str(p.pid): p for p in cluster._processes}
    in_process = await run_trial(params, 0, transport="memory", faults=faults)
    last = record.rounds[-1]
    assert (last.round, last.verdict) == (spec["round"], verdict), last
    assert [(r.outcome(), r.verdict, r.faults) for r in record.rounds] == [
        (r.outcome(), r.verdict, r.faults) for r in in_process.rounds
    ]
    ((number, slot, pid),) = cluster.killed
    assert (number, slot) == (spec["round"], last.faults[0]["node"])
    assert processes[str(pid)].returncode == -signal.SIGKILL


@pytest.mark.webrtc
async def test_node_processes_rejoin_a_restarted_server():
    params = Params(scheme="rlnc", seed=4, peers=4, symbols=8, symbol_size=64, parents=2, rounds=2)
    faults = FaultPlan.from_list([{"kind": "server-restart", "round": 1, "downtime": 0.1}])
    async with Cluster(params, 0, transport="webrtc", processes=True, faults=faults) as cluster:
        record = await cluster.run()
    assert [r.outcome() for r in record.rounds] == [
        r.outcome() for r in simulate_trial(params, 0).rounds
    ]
    ((restart),) = cluster.interruptions
    assert restart["missing"] == [] and len(restart["rejoined"]) == params.peers + 2


def test_processes_refuse_faults_they_cannot_carry_out():
    for kind in ({"kind": "silent", "round": 1}, {"kind": "link", "loss": 0.1, "round": 1}):
        # the message names what they can: crashes as SIGKILL, and the signaling faults
        can = "only crash, newcomer-crash, collector-reconnect, server-restart"
        with pytest.raises(ValueError, match=can):
            Cluster(Params(), 0, processes=True, faults=FaultPlan.from_list([kind]))


def test_processes_need_webrtc():
    with pytest.raises(ValueError, match="webrtc"):
        Cluster(Params(), 0, transport="memory", processes=True)


def test_node_command_reports_an_unreachable_server():
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV} | {TOKEN_ENV: "t"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlnc_testbed",
            "node",
            "--server",
            "ws://127.0.0.1:9/ws",
            "--role",
            "peer",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 1
    assert "cannot connect" in result.stderr and "Traceback" not in result.stderr
