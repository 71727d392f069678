"""What lets a run scale to hundreds of peers, checked without timing anything.

* the collector's block elimination (:func:`~rlnc_testbed.roles.collector.blocked_rank`) gives
  exactly the rank the reference kernel gives, on dense, low-rank, sparse and 0/1 matrices;
* a collector report that would not fit one signaling message is made to fit, keeping every
  judged figure;
* the signaling bursts grow with the run's members while a lone flooder is refused as before;
* a node's ICE agent stops pacing once no check is left to start, and an offer is answered
  without holding up the signaling reader;
* while a cluster runs, Python's young GC generation scales with its nodes, and is restored
  after (no ``gc.freeze()``: everything stays collectable);
* whole runs with the derived deadlines: 300 peers over memory channels and 100 over real
  WebRTC complete verified (``slow``).
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import aiohttp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlnc_testbed.coding import matmul, rank
from rlnc_testbed.experiment.cluster import run_trial
from rlnc_testbed.experiment.heap import GC_YOUNG_PER_NODE
from rlnc_testbed.protocol import Params
from rlnc_testbed.protocol.messages import MAX_MESSAGE_BYTES, encode_message
from rlnc_testbed.roles.collector import _fit, blocked_rank
from rlnc_testbed.signaling import ServerLimits, SignalingServer
from rlnc_testbed.signaling.server import TokenBucket
from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.webrtc import WebRTCConnector, webrtc_connectors


def scaled(n: int, **overrides: Any) -> Params:
    """The issue's scale family: k = 2N, 64-byte symbols, P = 3."""
    values: dict[str, Any] = dict(
        peers=n, symbols=2 * n, symbol_size=64, redundancy=2.0, parents=3, rounds=2, seed=5
    )
    values.update(overrides)
    return Params(**values)


# -- block elimination -----------------------------------------------------------------------


def _matrix(kind: str, m: int, k: int, r: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "dense":
        return rng.integers(0, 256, (m, k), dtype=np.uint8)
    if kind == "binary":
        return rng.integers(0, 2, (m, k), dtype=np.uint8)
    if kind == "sparse":
        values = rng.integers(0, 256, (m, k), dtype=np.uint8)
        return (values * (rng.random((m, k)) < 0.03)).astype(np.uint8)
    r = min(r, m, k)  # low rank: a product through an r-dimensional space
    if r == 0:
        return np.zeros((m, k), dtype=np.uint8)
    left = rng.integers(0, 256, (m, r), dtype=np.uint8)
    right = rng.integers(0, 256, (r, k), dtype=np.uint8)
    return matmul(left, right, 256)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["dense", "binary", "sparse", "low-rank"]),
    m=st.integers(1, 300),
    k=st.integers(1, 300),
    r=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_blocked_rank_is_the_rank(kind: str, m: int, k: int, r: int, seed: int) -> None:
    matrix = _matrix(kind, m, k, r, np.random.default_rng(seed))
    before = matrix.copy()
    assert blocked_rank(matrix) == rank(matrix, 256)
    assert np.array_equal(matrix, before), "the input was changed"


def test_blocked_rank_of_gf2_rows_is_their_gf2_rank() -> None:
    """0/1 rows: GF(2^8) arithmetic gives the GF(2) rank (rank is field-extension invariant)."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        matrix = rng.integers(0, 2, (int(rng.integers(1, 150)), 70), dtype=np.uint8)
        assert blocked_rank(matrix) == rank(matrix, 2)


def test_blocked_rank_edge_shapes() -> None:
    assert blocked_rank(np.zeros((0, 5), dtype=np.uint8)) == 0
    assert blocked_rank(np.zeros((5, 0), dtype=np.uint8)) == 0
    assert blocked_rank(np.eye(200, dtype=np.uint8)) == 200
    twice = np.vstack([np.eye(130, dtype=np.uint8)] * 2)
    assert blocked_rank(twice) == 130


# -- a report that fits one message ----------------------------------------------------------


def _link(remote: str) -> dict[str, Any]:
    info = {
        "local_address": "127.0.0.1",
        "local_port": 40000,
        "local_type": "host",
        "remote_address": "127.0.0.1",
        "remote_port": 40001,
        "remote_type": "host",
        "protocol": "udp",
        "connection": f"{remote}/0/0123abcd",
        "setup_seconds": 1.2345678901234,
        "accepted": 4,
    }
    return {
        "local": "collector",
        "remote": remote,
        "label": "collect",
        "messages_sent": 0,
        "bytes_sent": 0,
        "messages_received": 5,
        "bytes_received": 8500,
        "info": info,
    }


def _report(n: int) -> dict[str, Any]:
    ids = [str(i) for i in range(1, n + 1)]
    return {
        "global_rank": 2 * n,
        "decoded": True,
        "verified": True,
        "verdict": "ok",
        "packets": 4 * n,
        "rejected": 0,
        "error": "",
        "links": [_link(x) for x in ids],
        "stored": {x: "ab" * 32 for x in ids},
        "polluted": {},
        "polluters": [],
        "delivered": {x: 4 for x in ids},
        "ranks": {x: 4 for x in ids},
    }


def _collected(report: dict[str, Any]) -> str:
    return encode_message({"type": "collected", "round": 1, "report": report})


@pytest.mark.parametrize("n", [10, 1000, 2000])
def test_reports_are_made_to_fit_one_message(n: int, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    report = _report(n)
    fitted = _fit(1, report, logging.getLogger("test"))
    text = _collected(fitted)  # valid and within MAX_MESSAGE_BYTES (else SchemaError)
    assert len(text) <= MAX_MESSAGE_BYTES
    for name in ("global_rank", "decoded", "verified", "verdict", "stored", "delivered", "ranks"):
        assert fitted[name] == report[name], name
    if len(json.dumps(report, separators=(",", ":"))) < MAX_MESSAGE_BYTES - 256:
        assert fitted == report  # small reports are untouched
    else:
        assert all(set(link["info"]) <= {"setup_seconds", "accepted"} for link in fitted["links"])
        kept = len(fitted["links"])
        assert kept == n or f"{n - kept} of {n} link records left out" in fitted["error"]


# -- signaling bursts that grow with the run ------------------------------------------------


def test_a_grant_raises_burst_and_budget() -> None:
    bucket = TokenBucket(1.0, 2, clock=lambda: 0.0)
    assert bucket.take(2) and not bucket.take(1)
    bucket.grant(4)
    assert bucket.burst == 6
    assert bucket.take(4) and not bucket.take(1)


async def _join(session: aiohttp.ClientSession, server: SignalingServer) -> Any:
    ws = await session.ws_connect(server.url)
    await ws.send_json({"type": "join", "token": server.token, "role": "peer"})
    async with asyncio.timeout(5 * unit()):
        welcome = json.loads((await ws.receive()).data)
    assert welcome["type"] == "welcome"
    return ws, welcome["id"]


async def test_bursts_grow_with_members_and_floods_are_still_refused() -> None:
    limits = ServerLimits(message_rate=0.5, message_burst=5, message_burst_per_peer=4)
    async with SignalingServer(limits=limits) as srv, aiohttp.ClientSession() as session:
        talker, own = await _join(session, srv)
        others = [await _join(session, srv) for _ in range(5)]  # 5 members: +20 messages
        for n in range(25):  # within 5 + 4 x 5: every one relayed back
            await talker.send_json({"type": "signal", "to": own, "payload": {"n": n}})
        for n in range(25):
            async with asyncio.timeout(5 * unit()):
                assert json.loads((await talker.receive()).data)["payload"] == {"n": n}
        assert srv.rejected == {}
        for n in range(10):  # past the grown burst: refused like any flood
            await talker.send_json({"type": "signal", "to": own, "payload": {"n": n}})
        async with asyncio.timeout(5 * unit()):
            while (msg := json.loads((await talker.receive()).data))["type"] != "error":
                pass
        assert "messages per second" in msg["reason"]
        assert srv.rejected == {"rate-limited": 1}
        async with asyncio.timeout(5 * unit()):
            while own in srv.clients:  # the flooder was closed
                await asyncio.sleep(0.01)
        latecomer, late = await _join(session, srv)  # base + 4 per member: the 5 others
        assert srv._clients[late].messages.burst == 5 + 4 * 5
        for ws, _ in [*others, (latecomer, None)]:
            await ws.close()
        await talker.close()


# -- WebRTC handshakes -----------------------------------------------------------------------


async def test_ice_agents_stop_pacing_when_no_check_is_left() -> None:
    async with webrtc_connectors("a", "b") as nodes:
        ab = await nodes["a"].open("b", label="x")
        ba = await nodes["b"].accept()
        for channel in (ab, ba):
            connection = channel.peer_connection.sctp.transport.transport._connection
            assert connection._rlnc_unpaced
            assert connection._check_periodic() is False  # nothing left to start


async def test_an_offer_is_answered_in_the_background() -> None:
    """handle_signal returns before the answer is even made: the signaling reader is free."""
    sent: list[tuple[str, dict[str, Any]]] = []
    answered = asyncio.Event()

    async def record(remote: str, payload: dict[str, Any]) -> None:
        sent.append((remote, payload))
        answered.set()

    offers: list[dict[str, Any]] = []

    async def capture(remote: str, payload: dict[str, Any]) -> None:
        offers.append(payload)

    offerer = WebRTCConnector("x", send_signal=capture)
    answerer = WebRTCConnector("b", send_signal=record)
    try:
        opening = asyncio.ensure_future(offerer.open("b", label="x"))
        async with asyncio.timeout(10 * unit()):
            while not offers:
                await asyncio.sleep(0.005)
        await answerer.handle_signal("x", offers[0])
        assert not sent, "the offer was answered inside handle_signal"
        async with asyncio.timeout(10 * unit()):
            await answered.wait()
        assert sent[0][1]["type"] == "answer" and sent[0][1]["conn"] == offers[0]["conn"]
        opening.cancel()
        await asyncio.gather(opening, return_exceptions=True)
    finally:
        await offerer.close()
        await answerer.close()


# -- the garbage collector while a cluster runs ----------------------------------------------


async def test_the_young_generation_scales_with_a_running_cluster_and_is_restored() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    params = scaled(30, rounds=1)
    record = await run_trial(
        params, 0, transport="memory", on_round=lambda _: seen.append(gc.get_threshold())
    )
    assert record.finish == "max-round", record.error
    young = max(before[0], GC_YOUNG_PER_NODE * (30 + 2))
    assert seen == [(young, *before[1:])]
    assert gc.get_threshold() == before
    assert not gc.get_freeze_count()
    small = await run_trial(
        scaled(4, rounds=1),
        0,
        transport="memory",
        on_round=lambda _: seen.append(gc.get_threshold()),
    )
    assert small.finish == "max-round" and seen[-1] == before  # small runs keep Python's own


# -- whole runs with derived deadlines -------------------------------------------------------


@pytest.mark.slow
async def test_three_hundred_memory_peers_verify() -> None:
    params = scaled(300)
    record = await run_trial(params, 0, transport="memory")
    assert record.finish == "max-round", record.error
    assert [r.verified for r in record.rounds] == [True, True]
    assert all(r.collect_packets == 300 * params.per_peer for r in record.rounds)


@pytest.mark.slow
@pytest.mark.webrtc
async def test_a_hundred_webrtc_peers_verify() -> None:
    params = scaled(100)
    record = await run_trial(params, 0, transport="webrtc")
    assert record.finish == "max-round", record.error
    assert [r.verified for r in record.rounds] == [True, True]
    assert all(r.global_rank == params.symbols for r in record.rounds)
