"""Verdicts a hostile or broken peer cannot fool: the server's membership is the collector's.

Each test injects one misbehaving node class (``roles=``) into a real memory cluster and
checks the round records against the independent oracle (the compiled simulator) or against
the verdict the specification demands: a zombie, a peer that pre-submits the next round, a
stranger uploading to a newcomer, a bloated batch, a polluting peer, a role raising a bug and
a signaling server that goes away.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest
from test_cluster_equivalence import assert_as_specified

from rlnc_testbed.coding import CodedPacket
from rlnc_testbed.experiment.cluster import Cluster, run_trial
from rlnc_testbed.protocol import Params
from rlnc_testbed.roles.storage import Newcomer, StoragePeer

FIVE = Params(scheme="rlnc", seed=4, peers=5, symbols=8, symbol_size=32, parents=2, rounds=4)


@pytest.fixture
def fast_timeouts(monkeypatch):
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "0.1")


class ZombiePeer(StoragePeer):
    """A failed peer that stays connected and keeps delivering its old packets every round."""

    failed = False

    def on_fail(self, msg: dict[str, Any]) -> None:
        self.failed = True

    async def on_new_id(self, msg: dict[str, Any]) -> None:
        if self.failed:
            await self.on_collect({"round": msg["round"]})


class PreSubmitter(StoragePeer):
    """Delivers the next round's batch together with this round's."""

    async def on_collect(self, msg: dict[str, Any]) -> None:
        await super().on_collect(msg)
        await super().on_collect({"round": msg["round"] + 1})


class Stranger(StoragePeer):
    """Uploads to every newcomer at once, naming the next round (never one it was asked for)."""

    async def on_new_id(self, msg: dict[str, Any]) -> None:
        if self.stored:
            repair = {"round": msg["round"] + 1, "newcomer": msg["id"], "beta": 1}
            await super().on_repair(repair)


class BloatedPeer(StoragePeer):
    """Peer 1 delivers 50 copies of its packets to the collector."""

    async def on_collect(self, msg: dict[str, Any]) -> None:
        if self.id != "1":
            return await super().on_collect(msg)
        await self.send_batch(
            "collector",
            purpose="collect",
            round=msg["round"],
            messages=self.packet_messages(self.stored * 50),
            count=50 * len(self.stored),
        )


class Polluter(StoragePeer):
    """Peer 3 delivers well-formed packets whose payloads do not match their coefficients."""

    async def on_collect(self, msg: dict[str, Any]) -> None:
        if self.id == "3":
            self.stored = [
                CodedPacket(pk.coefficients, np.bitwise_xor(pk.payload, 1)) for pk in self.stored
            ]
        await super().on_collect(msg)


class LyingNewcomer(Newcomer):
    """Reports a lower rank and one packet more than it kept."""

    async def report(self, kind: str, **fields: Any) -> None:
        if kind == "stored" and fields["round"] > 0:
            fields = {**fields, "rank": 1, "count": fields["count"] + 1}
        await super().report(kind, **fields)


class BuggyParent(StoragePeer):
    """A parent whose repair code has a bug."""

    async def on_repair(self, msg: dict[str, Any]) -> None:
        raise ValueError("a bug in on_repair")


@pytest.mark.parametrize("cls", [ZombiePeer, PreSubmitter, Stranger], ids=lambda c: c.__name__)
async def test_misbehaviour_changes_nothing_the_honest_system_decides(cls):
    for trial in (0, 1, 2):
        record = await run_trial(FIVE, trial, transport="memory", roles={"peer": cls})
        assert_as_specified(FIVE, trial, record, honest=False)


async def test_a_zombie_is_refused_and_recorded():
    record = await run_trial(FIVE, 0, transport="memory", roles={"peer": ZombiePeer})
    refused = [r for rnd in record.rounds for r in rnd.refused]
    failed = {str(rnd.failed) for rnd in record.rounds}
    assert refused, "the zombies' batches were not recorded"
    assert {r["sender"] for r in refused} <= failed
    assert all("not alive" in r["reason"] for r in refused)


async def test_a_bloated_batch_is_refused_and_bounded(fast_timeouts):
    params = FIVE.with_(rounds=1)
    started = time.monotonic()
    record = await run_trial(params, 0, transport="memory", roles={"peer": BloatedPeer})
    (rnd,) = record.rounds
    assert rnd.verdict == "collect-timeout" and not record.success
    assert any(r["sender"] == "1" and "at most" in r["reason"] for r in rnd.refused), rnd.refused
    assert time.monotonic() - started < 10


async def test_a_polluter_is_never_ok_and_is_named():
    for trial in range(3):
        record = await run_trial(FIVE, trial, transport="memory", roles={"peer": Polluter})
        last = record.rounds[-1]
        assert not record.success
        assert last.verdict == "corrupt" and not last.verified
        if last.failed != 3:  # peer 3 is alive and delivered its packets
            assert set(last.polluted) == {"3"}, last.polluted
        assert all(rnd.verdict != "ok" or "3" not in rnd.stored for rnd in record.rounds)


async def test_a_newcomers_false_claims_are_recorded_as_disputes():
    record = await run_trial(FIVE, 0, transport="memory", roles={"newcomer": LyingNewcomer})
    for rnd in record.rounds:
        assert any(f"said it kept {FIVE.per_peer + 1}, delivered" in d for d in rnd.disputes)
        assert any("said it received rank 1, delivered packets of rank" in d for d in rnd.disputes)


async def test_a_bug_in_a_role_is_the_error_verdict_at_once(fast_timeouts):
    started = time.monotonic()
    record = await run_trial(FIVE, 0, transport="memory", roles={"peer": BuggyParent})
    (rnd,) = record.rounds
    assert rnd.verdict == "error"
    assert "ValueError" in rnd.error and "a bug in on_repair" in rnd.error
    assert record.finish == "error"
    repair_deadline = 10 * 0.1
    assert time.monotonic() - started < 20 * 0.1 + repair_deadline  # setup, not the deadline


async def test_a_lost_signaling_server_is_signaling_lost(fast_timeouts):
    async with Cluster(FIVE, 0, transport="memory") as cluster:
        closing: list[asyncio.Task[None]] = []

        def on_round(record: Any) -> None:
            if record.round == 1:
                closing.append(asyncio.ensure_future(cluster.server.close()))

        cluster.on_round = on_round
        started = time.monotonic()
        record = await cluster.run()
    assert record.rounds[0].verdict == "ok"
    assert record.rounds[-1].verdict == "signaling-lost", record.rounds[-1]
    assert record.finish == "signaling-lost"
    assert time.monotonic() - started < 5
