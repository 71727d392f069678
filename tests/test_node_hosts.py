"""Node hosts (``Cluster(node_hosts=W)``, ``rlnc-testbed node-host``): many peers and newcomers
in a few OS processes decide exactly what the simulator decides, their credentials travel on
stdin only, and a host survives malformed input, reporting each problem by its line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import pytest

from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.experiment.node_hosts import MAX_LINE_BYTES, parse_node_line
from rlnc_testbed.experiment.standalone import TOKEN_ENV
from rlnc_testbed.protocol import Params
from rlnc_testbed.protocol.faults import FaultPlan
from rlnc_testbed.protocol.rounds import Phase, phase_deadline_units
from rlnc_testbed.signaling import SignalingServer
from rlnc_testbed.simulation import simulate_trial
from rlnc_testbed.timeouts import unit


def _text_of(pid: int, name: str) -> str:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        return Path(f"/proc/{pid}/{name}").read_bytes().decode("utf-8", "replace")
    return ""


@pytest.mark.webrtc
async def test_a_cluster_on_two_node_hosts_matches_the_simulator():
    params = Params(scheme="rlnc", seed=5, peers=7, symbols=14, symbol_size=64, parents=3, rounds=3)
    async with Cluster(params, 0, transport="webrtc", node_hosts=2) as cluster:
        run = asyncio.ensure_future(cluster.run())
        looked: dict[int, str] = {}
        while not run.done():  # read each host's command line and environment while it runs
            hosts = cluster._node_hosts
            for process in hosts.processes if hosts is not None else ():
                if process.returncode is None and process.pid not in looked:
                    looked[process.pid] = _text_of(process.pid, "cmdline") + _text_of(
                        process.pid, "environ"
                    )
            await asyncio.sleep(0.01)
        record = await run
        server = cluster.server
        slots = [("peer", str(i)) for i in range(1, params.peers + 1)] + [
            ("newcomer", str(params.peers + r)) for r in range(1, params.rounds + 1)
        ]
        secrets = [server.credential(role, slot) for role, slot in slots]
        placed = dict(cluster._node_hosts.placed) if cluster._node_hosts else {}
        in_process = sorted(node.role for node in cluster.nodes)
    assert [r.outcome() for r in record.rounds] == [
        r.outcome() for r in simulate_trial(params, 0).rounds
    ]
    assert all(r.verified for r in record.rounds)
    assert in_process == ["collector", "engine"]  # every peer and newcomer ran in a host
    assert placed == {slot: (int(slot) - 1) % 2 for _, slot in slots}
    assert cluster.node_host_exits == [0, 0]  # each host exited by itself, every node fine
    assert len(looked) == 2, "the test must have read both hosts' /proc entries"
    assert not any(secret in text for text in looked.values() for secret in secrets)


@pytest.mark.webrtc
async def test_nodes_in_hosts_rejoin_a_restarted_server():
    params = Params(scheme="rlnc", seed=4, peers=4, symbols=8, symbol_size=64, parents=2, rounds=2)
    faults = FaultPlan.from_list([{"kind": "server-restart", "round": 1, "downtime": 0.1}])
    async with Cluster(params, 0, transport="webrtc", node_hosts=2, faults=faults) as cluster:
        record = await cluster.run()
    assert [r.outcome() for r in record.rounds] == [
        r.outcome() for r in simulate_trial(params, 0).rounds
    ]
    ((restart),) = cluster.interruptions
    assert restart["missing"] == [] and len(restart["rejoined"]) == params.peers + 2
    assert cluster.node_host_exits == [0, 0]


@pytest.mark.webrtc
async def test_a_node_host_that_dies_mid_trial_is_the_trial_s_error_naming_it():
    """Killing a host takes all its nodes at once, which no round rule accounts for: the
    trial ends with ``error`` naming the host and its nodes, well before a deadline."""
    params = Params(scheme="rlnc", seed=1, peers=6, symbols=12, symbol_size=64, parents=2, rounds=4)
    async with Cluster(params, 0, transport="webrtc", node_hosts=2) as cluster:
        run = asyncio.ensure_future(cluster.run())
        async with asyncio.timeout(60):
            while not cluster.controller.record.rounds and not run.done():
                await asyncio.sleep(0.01)
        assert cluster._node_hosts is not None
        cluster._node_hosts.processes[0].kill()
        started = asyncio.get_running_loop().time()
        record = await run
        took = asyncio.get_running_loop().time() - started
    assert record.finish == "error", record
    assert "node host 0" in record.error and "exited with status -9" in record.error
    assert "1, 3, 5" in record.error  # the peers it held (slot s in host (s - 1) mod 2)
    assert record.rounds[-1].verdict == "error"
    assert cluster.node_host_exits[0] == -9
    # Before this was reported, the round waited out its deadline (repair-timeout).
    deadline = min(phase_deadline_units(p, params) for p in (Phase.FAILING, Phase.REPAIRING))
    assert took < deadline * unit(), (took, deadline)


def test_node_host_lines_are_checked():
    good = {"role": "peer", "slot": "3", "credential": "c" * 64}
    assert parse_node_line(json.dumps(good).encode()) == ("peer", "3", "c" * 64)
    bad = {
        b"not json": "not JSON",
        b"\xff\xfe": "not JSON",
        b"[1, 2]": "exactly",
        json.dumps({**good, "extra": 1}).encode(): "exactly",
        json.dumps({**good, "role": "engine"}).encode(): "role must be one of peer, newcomer",
        json.dumps({**good, "slot": 3}).encode(): "slot must be",
        json.dumps({**good, "slot": "03"}).encode(): "slot must be",
        json.dumps({**good, "slot": "²"}).encode(): "slot must be",
        json.dumps({**good, "credential": ""}).encode(): "credential must be",
        b"x" * (MAX_LINE_BYTES + 1): "longer than",
    }
    for line, problem in bad.items():
        with pytest.raises(ValueError, match=problem):
            parse_node_line(line)


@pytest.mark.webrtc
async def test_a_node_host_reports_bad_lines_and_failed_nodes_and_goes_on():
    """Garbage, a wrong credential and a line over the length limit: each reported by its
    line, the host keeps reading; it exits 1 once stdin closes, within its bounded wait."""
    async with SignalingServer(admit_run_token=False) as server:
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        host = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "rlnc_testbed", "node-host", "--server", server.url),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert host.stdin is not None and host.stderr is not None
        wrong = {"role": "peer", "slot": "1", "credential": "0" * 64}
        host.stdin.write(b"hello\n" + b"y" * (2 * MAX_LINE_BYTES) + b"\n")
        host.stdin.write(json.dumps(wrong).encode() + b"\n\n" + b'{"role": "engine"}\n')
        await host.stdin.drain()
        host.stdin.close()
        async with asyncio.timeout(60):
            err = (await host.stderr.read()).decode()
            code = await host.wait()
        assert server.clients == {}  # nobody got in
    assert code == 1, err
    assert "stdin line 1 ignored: not JSON" in err, err
    assert "stdin line 2 ignored: longer than" in err, err
    assert "peer 1 failed: SignalingError" in err and "credential" in err, err
    assert "stdin line 5 ignored: not an object with exactly" in err, err


def test_node_hosts_refuse_what_they_cannot_carry_out():
    with pytest.raises(ValueError, match="webrtc"):
        Cluster(Params(), 0, transport="memory", node_hosts=2)
    with pytest.raises(ValueError, match="replaces processes=True"):
        Cluster(Params(), 0, processes=True, node_hosts=2)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="node_hosts must be a count"):
            Cluster(Params(), 0, node_hosts=bad)  # type: ignore[arg-type]
    for kind in ({"kind": "crash", "round": 1}, {"kind": "link", "loss": 0.1, "round": 1}):
        with pytest.raises(ValueError, match="only collector-reconnect, server-restart"):
            Cluster(Params(), 0, node_hosts=2, faults=FaultPlan.from_list([kind]))


@pytest.mark.webrtc
def test_run_with_node_hosts_gives_the_simulator_s_outcomes(tmp_path: Path):
    from rlnc_testbed.cli.entry import main
    from rlnc_testbed.protocol.records import TrialRecord

    scenario = tmp_path / "hosted.toml"
    scenario.write_text(
        'name = "hosted"\ntransport = "webrtc"\n[params]\npeers = 5\nsymbols = 10\n'
        "symbol_size = 32\nparents = 2\nrounds = 2\ntrials = 2\nseed = 3\n",
        encoding="utf-8",
    )
    out = tmp_path / "hosted.json"
    assert main(["run", str(scenario), "--node-hosts", "2", "--json", str(out), "--quiet"]) == 0
    written = json.loads(out.read_text())
    params = Params(peers=5, symbols=10, symbol_size=32, parents=2, rounds=2, trials=2, seed=3)
    assert [[r.outcome() for r in TrialRecord.from_dict(t).rounds] for t in written["trials"]] == [
        [r.outcome() for r in simulate_trial(params, t).rounds] for t in range(2)
    ]


def test_scenario_files_take_node_hosts_and_check_them(tmp_path: Path):
    from rlnc_testbed.experiment.scenario import ScenarioError, load_scenario

    def scenario(top: str, faults: str = "") -> Path:
        path = tmp_path / "hosted.toml"
        path.write_text(
            f'name = "hosted"\n{top}\n[params]\npeers = 5\nsymbols = 10\nparents = 2\n{faults}',
            encoding="utf-8",
        )
        return path

    loaded = load_scenario(scenario('transport = "webrtc"\nnode_hosts = 2'))
    assert loaded.deployment == {"node_hosts": 2} and loaded.to_dict()["node_hosts"] == 2
    assert load_scenario(scenario('transport = "webrtc"')).deployment == {}
    assert loaded.with_deployment(node_hosts=3).deployment == {"node_hosts": 3}
    bad = {
        'transport = "webrtc"\nnode_hosts = -1': "node_hosts must be a count",
        'transport = "webrtc"\nnode_hosts = true': "node_hosts must be a count",
        'transport = "webrtc"\nnode_hosts = "2"': "node_hosts must be a count",
        'transport = "memory"\nnode_hosts = 2': "got transport 'memory'",
        'transport = "webrtc"\nhosts = "netns"\nnode_hosts = 2': "hosts 'netns'",
    }
    for top, problem in bad.items():
        with pytest.raises(ScenarioError, match=problem):
            load_scenario(scenario(top))
    crash = '[[faults]]\nkind = "crash"\nround = 1\n'
    with pytest.raises(ScenarioError, match="only collector-reconnect, server-restart faults"):
        load_scenario(scenario('transport = "webrtc"\nnode_hosts = 2\n', crash))


@pytest.mark.webrtc
def test_a_sweep_on_node_hosts_gives_the_simulator_s_trials(tmp_path: Path):
    from rlnc_testbed.cli.entry import main
    from rlnc_testbed.protocol.records import TrialRecord

    grid = ["--peers", "5", "--symbols", "10", "--symbol-size", "32", "--parents", "1", "2"]
    grid += ["--rounds", "2", "--trials", "2", "--seed", "4", "--trial-outcomes", "--quiet"]
    outcomes = {}
    for name, where in (("hosted", ["--transport", "webrtc", "--node-hosts", "2"]),
                        ("sim", ["--transport", "sim"])):  # fmt: skip
        out = tmp_path / f"{name}.json"
        assert main(["sweep", *grid, *where, "--json", str(out)]) == 0
        points = json.loads(out.read_text())["points"]
        outcomes[name] = [
            [[r.outcome() for r in TrialRecord.from_dict(t).rounds] for t in point["records"]]
            for point in points
        ]
    assert len(outcomes["sim"]) == 2 and outcomes["hosted"] == outcomes["sim"]
