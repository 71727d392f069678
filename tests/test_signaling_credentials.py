"""Per-slot credentials: a slot is taken only with its own credential, ids follow slots, and
``rlnc-testbed node`` takes its token from the environment, a 0600 file or stdin - never the
command line."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.experiment.standalone import TOKEN_ENV, read_token
from rlnc_testbed.protocol import Params
from rlnc_testbed.protocol.params import ParameterError
from rlnc_testbed.signaling import SignalingClient, SignalingError, SignalingServer
from rlnc_testbed.timeouts import unit


@pytest.fixture
async def server() -> AsyncIterator[SignalingServer]:
    """A server like Cluster's: only per-slot credentials admit."""
    async with SignalingServer(admit_run_token=False) as srv:
        yield srv


async def join(
    server: SignalingServer, role: str, slot: str | None = None, *, token: str | None = None
) -> SignalingClient:
    if token is None:
        assert slot is not None
        token = server.credential(role, slot)
    return await SignalingClient.connect(server.url, token=token, role=role, slot=slot)


async def refused(server: SignalingServer, match: str, *args: str, token: str) -> None:
    with pytest.raises(SignalingError, match=match):
        await join(server, *args, token=token)


async def test_ids_follow_slots_not_join_order(server: SignalingServer) -> None:
    async with (
        await join(server, "peer", "3") as third,
        await join(server, "newcomer", "5") as newcomer,
        await join(server, "peer", "1") as first,
        await join(server, "collector", "collector") as collector,
    ):
        assert (third.id, newcomer.id, first.id, collector.id) == ("3", "5", "1", "collector")
        assert server.clients == {
            "3": "peer",
            "5": "newcomer",
            "1": "peer",
            "collector": "collector",
        }
    assert server.rejected == {}


async def test_a_stranger_with_the_run_token_takes_no_slot(server: SignalingServer) -> None:
    run_token = server.token
    await refused(server, "per-slot credentials only", "peer", token=run_token)
    await refused(server, "per-slot credentials only", "newcomer", token=run_token)
    await refused(server, "wrong credential for peer slot '3'", "peer", "3", token=run_token)
    await refused(
        server, "wrong credential for newcomer slot '11'", "newcomer", "11", token=run_token
    )
    await refused(server, "wrong credential", "collector", "collector", token=run_token)
    assert server.rejected == {"bad-token": 5}
    assert server.clients == {}


async def test_another_slots_or_roles_credential_takes_no_slot(server: SignalingServer) -> None:
    slot2 = server.credential("peer", "2")
    await refused(server, "wrong credential for peer slot '3'", "peer", "3", token=slot2)
    # The same id under another role is another credential.
    await refused(server, "wrong credential for newcomer slot '2'", "newcomer", "2", token=slot2)
    await refused(server, "wrong credential", "engine", "engine", token=slot2)
    assert server.rejected == {"bad-token": 3}
    async with await join(server, "peer", "2", token=slot2) as peer:  # its own slot: fine
        assert peer.id == "2"


async def test_a_slot_is_taken_once(server: SignalingServer) -> None:
    first = await join(server, "peer", "3")
    await refused(server, "slot '3' is taken", "peer", "3", token=server.credential("peer", "3"))
    await first.close()
    async with asyncio.timeout(5 * unit()):
        while server.clients:
            await asyncio.sleep(0.01)
    # Its holder left (a failed peer): the slot is spent, no zombie comes back as "3".
    await refused(
        server, "slot '3' is taken or used", "peer", "3", token=server.credential("peer", "3")
    )
    assert server.rejected == {"slot-taken": 2}


async def test_the_collectors_slot_can_be_rejoined_after_it_left(server: SignalingServer) -> None:
    collector = await join(server, "collector", "collector")
    await refused(
        server, "already connected", "collector", "collector",
        token=server.credential("collector", "collector"),
    )  # fmt: skip
    await collector.close()
    async with asyncio.timeout(5 * unit()):
        while server.clients:
            await asyncio.sleep(0.01)
    async with await join(server, "collector", "collector") as again:
        assert again.id == "collector"


@pytest.mark.parametrize(
    ("role", "slot"),
    [("peer", "03"), ("peer", "0"), ("peer", "engine"), ("newcomer", "x1"), ("engine", "1")],
)
async def test_a_slot_that_is_none_of_the_roles_is_refused(
    server: SignalingServer, role: str, slot: str
) -> None:
    with pytest.raises(ValueError, match="slot"):
        server.credential(role, slot)
    await refused(server, "slot", role, slot, token="0" * 64)
    assert server.rejected == {"bad-slot": 1}


async def test_run_token_joins_skip_claimed_slots() -> None:
    async with (
        SignalingServer() as srv,  # admit_run_token=True: both ways in
        await join(srv, "peer", "1") as claimed,
        await join(srv, "peer", token=srv.token) as anonymous,
    ):
        assert (claimed.id, anonymous.id) == ("1", "2")
        await refused(srv, "taken", "peer", "2", token=srv.credential("peer", "2"))


async def test_a_clusters_server_admits_only_its_slots_credentials() -> None:
    params = Params(peers=3, symbols=4, symbol_size=16, parents=2, rounds=1)
    async with Cluster(params, 0, transport="memory") as cluster:
        server = cluster.server
        assert server.admit_run_token is False
        await refused(server, "per-slot credentials only", "peer", token=server.token)
        await refused(server, "wrong credential", "newcomer", "4", token=server.token)
        assert [cluster.next_slot("peer") for _ in range(3)] == ["1", "2", "3"]
        assert cluster.next_slot("newcomer") == "4"  # N + 1: round 1's newcomer
        assert cluster.next_slot("collector") == "collector"


# -- rlnc-testbed node: where the token comes from -----------------------------------------


def node(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    full_env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "rlnc_testbed", "node", "--server", "ws://127.0.0.1:9/ws", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        input=stdin,
    )


def test_node_refuses_a_token_on_the_command_line() -> None:
    result = node("--token", "secret", "--role", "peer")
    assert result.returncode == 2
    assert "--token is not accepted" in result.stderr and "/proc/PID/cmdline" in result.stderr


def test_node_without_a_token_says_where_to_put_it() -> None:
    result = node("--role", "peer")
    assert result.returncode == 2
    assert f"no token: set {TOKEN_ENV}" in result.stderr


def test_node_refuses_a_token_file_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("secret\n")
    path.chmod(0o644)
    result = node("--token-file", str(path), "--role", "peer")
    assert result.returncode == 2
    assert "accessible by group or others (mode 0644): chmod 600" in result.stderr


@pytest.mark.parametrize("source", ["file", "stdin", "env"])
def test_node_takes_its_token_from_a_file_stdin_or_the_environment(
    tmp_path: Path, source: str
) -> None:
    """Every source gets as far as the (unreachable) server: a runtime failure, exit 1."""
    path = tmp_path / "token"
    path.write_text("secret\n")
    path.chmod(0o600)
    if source == "file":
        result = node("--token-file", str(path), "--role", "peer", "--slot", "3")
    elif source == "stdin":
        result = node("--token-file", "-", "--role", "peer", stdin="secret\n")
    else:
        result = node("--role", "peer", env={TOKEN_ENV: "secret"})
    assert result.returncode == 1, result.stderr
    assert "error: SignalingError: cannot connect" in result.stderr
    assert "Traceback" not in result.stderr


def test_read_token_sources_and_refusals(tmp_path: Path) -> None:
    assert read_token(None, environ={TOKEN_ENV: " t \n"}) == "t"
    assert read_token("-", stdin=io.StringIO("from-stdin\nignored\n")) == "from-stdin"
    with pytest.raises(ParameterError, match="empty"):
        read_token("-", stdin=io.StringIO(""))
    with pytest.raises(ParameterError, match="longer than 256"):
        read_token(None, environ={TOKEN_ENV: "x" * 257})
    path = tmp_path / "token"
    path.write_text("t")
    path.chmod(0o640)
    with pytest.raises(ParameterError, match="mode 0640"):
        read_token(str(path))
    path.chmod(0o600)
    assert read_token(str(path)) == "t"
    with pytest.raises(FileNotFoundError):
        read_token(str(tmp_path / "missing"))
