"""Emulated hosts: every peer and newcomer in its own Linux network namespace, joined by veth
pairs and a bridge; ICE uses those addresses, never loopback, and the records are the
simulator's. Everything the run made is gone afterwards. Skipped (with the reason) only where
namespaces cannot be made: not root, or no iproute2."""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess

import pytest

from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.experiment.hosts import EmulatedHosts, unavailable
from rlnc_testbed.protocol import Params
from rlnc_testbed.protocol.params import ParameterError
from rlnc_testbed.simulation import simulate_trial

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


async def test_hosts_reach_each_other_over_the_bridge_and_vanish_after() -> None:
    async with EmulatedHosts(2) as hosts:
        assert set(hosts.namespaces) <= _namespaces() and hosts.bridge in _links()
        server = await asyncio.start_server(
            lambda _r, w: (w.write(b"hello"), w.close()), hosts.gateway, 0
        )
        port = server.sockets[0].getsockname()[1]
        code = (
            f"import socket; s = socket.create_connection(({hosts.gateway!r}, {port}), timeout=5); "
            "print(s.getsockname()[0], s.recv(5).decode())"
        )
        process = await asyncio.create_subprocess_exec(
            *hosts.command(1, ["python3", "-c", code]), stdout=-1, stderr=-1
        )  # (asynchronously: the server answers on this event loop)
        async with asyncio.timeout(20):
            out, err = await process.communicate()
        server.close()
        assert out.decode().split() == [hosts.address(1), "hello"], err.decode()
        own = subprocess.run(hosts.command(0, ["ip", "-4", "-o", "addr"]), capture_output=True,
                             text=True).stdout  # fmt: skip
        assert hosts.address(0) in own and hosts.address(1) not in own  # only its own address
        subnet = hosts.subnet
    assert not set(hosts.namespaces) & _namespaces() and hosts.bridge not in _links()
    assert subnet is not None and subnet.subnet_of(ipaddress.IPv4Network("10.213.0.0/16"))


@pytest.mark.webrtc
async def test_a_trial_on_emulated_hosts_matches_the_simulator_over_their_addresses() -> None:
    params = Params(scheme="rlnc", seed=6, peers=4, symbols=8, symbol_size=256, parents=2, rounds=2)
    async with Cluster(params, 0, transport="webrtc", hosts="netns",
                       host_rate="50mbit") as cluster:  # fmt: skip
        hosts = cluster.emulated_hosts
        assert hosts is not None and hosts.count == params.peers + params.rounds
        subnet, made = hosts.subnet, set(hosts.namespaces)
        record = await cluster.run()
    assert [r.outcome() for r in record.rounds] == [
        r.outcome() for r in simulate_trial(params, 0).rounds
    ]
    links = [link for r in record.rounds for link in r.links]
    assert links
    for link in links:  # every selected pair crossed the bridge, none was loopback
        info = link["info"]
        for end in ("local_address", "remote_address"):
            assert ipaddress.ip_address(info[end]) in subnet, link
    assert not made & _namespaces()  # (other tests may be making their own meanwhile)


def test_emulated_hosts_hold_process_nodes_over_webrtc() -> None:
    assert Cluster(Params(), 0, hosts="netns").processes  # implied
    with pytest.raises(ParameterError, match="over the webrtc transport"):
        Cluster(Params(), 0, transport="memory", hosts="netns")
    with pytest.raises(ParameterError, match="hosts must be one of"):
        Cluster(Params(), 0, hosts="docker")
