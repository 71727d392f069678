"""Hostile peers caught and named: byzantine storage peers, parents and newcomers send
well-formed packets whose payloads do not match their coefficients.

The collector knows the source, so it checks every delivered packet - and every packet of the
newcomer's ``provenance`` batch (what each parent uploaded to it) - against it. These tests
check, against this file's own look at what the nodes hold, that it never says ``ok`` for
polluted data, and that ``RoundRecord.polluters`` names exactly the byzantine node: a
polluting storage peer, a polluting parent (not the honest newcomer that recoded its upload)
and a polluting newcomer. The last test measures the identification rate over many seeded
trials (random byzantine id and kind, three schemes).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pytest
from test_cluster_equivalence import _payloads

from rlnc_testbed.coding import CodedPacket
from rlnc_testbed.experiment.cluster import Cluster, run_trial
from rlnc_testbed.protocol import Params, TrialRecord
from rlnc_testbed.protocol.messages import SchemaError, validate_message
from rlnc_testbed.protocol.rules import source_bytes
from rlnc_testbed.roles.byzantine import KINDS, byzantine, byzantine_roles, pollute
from rlnc_testbed.roles.storage import Newcomer, StoragePeer

FIVE = Params(scheme="rlnc", seed=4, peers=5, symbols=8, symbol_size=32, parents=2, rounds=4)


def _symbols(params: Params, trial: int) -> np.ndarray:
    k, s = params.symbols, params.symbol_size
    data = np.frombuffer(source_bytes(params.seed, trial, k * s), dtype=np.uint8)
    return data.reshape(k, s)


def _bad(packets: list[CodedPacket], symbols: np.ndarray) -> int:
    """How many packets do not match the source (this file's own GF(2^8) arithmetic)."""
    if not packets:
        return 0
    rows = np.stack([pk.coefficients for pk in packets])
    payloads = np.stack([pk.payload for pk in packets])
    return int((~np.all(_payloads(rows, symbols) == payloads, axis=1)).sum())


async def _watched_trial(
    params: Params, trial: int, roles: dict[str, Any]
) -> tuple[TrialRecord, list[dict[str, int]]]:
    """Run a memory trial; after each round, count per alive node the polluted packets it
    delivered to the collector that round, as the nodes themselves hold them."""
    symbols = _symbols(params, trial)
    seen: list[dict[str, int]] = []
    alive = {str(i) for i in range(1, params.peers + 1)}

    async with Cluster(params, trial, transport="memory", roles=roles) as cluster:

        def on_round(record: Any) -> None:
            alive.discard(str(record.failed))
            alive.add(str(record.newcomer))
            counts = {}
            for node in cluster.nodes:
                if isinstance(node, StoragePeer) and node.id in alive:
                    held = list(node.stored)
                    if getattr(node, "byzantine", False) and node.kind == "peer":  # type: ignore[attr-defined]
                        held = pollute(held)  # what it delivered
                    counts[node.id] = _bad(held, symbols)
            seen.append(counts)

        cluster.on_round = on_round
        record = await cluster.run()
    return record, seen


@pytest.mark.parametrize("scheme", ["rlnc", "coded-copy", "replication"])
@pytest.mark.parametrize("kind", KINDS)
async def test_the_collector_never_says_ok_for_polluted_data(scheme, kind):
    params = FIVE.with_(scheme=scheme)
    for trial, bad_id in ((0, "3"), (1, "1"), (2, "5"), (3, "7")):
        record, seen = await _watched_trial(params, trial, byzantine_roles({bad_id}, kind))
        for rnd, counts in zip(record.rounds, seen, strict=True):
            delivered = {node: n for node, n in counts.items() if n}
            if rnd.verdict in ("ok", "corrupt", "undecodable"):  # a judged round
                assert rnd.polluted == delivered, (rnd.round, rnd.polluted, delivered)
            if delivered:
                assert rnd.verdict == "corrupt" and not rnd.verified, rnd
            if rnd.verdict == "ok":
                assert not delivered and rnd.polluted == {}
            assert rnd.polluters in ([], [bad_id]), rnd.polluters


async def test_a_polluting_storage_peer_is_named():
    for trial in range(3):
        roles = {"peer": byzantine({"3"}, "peer")}
        record = await run_trial(FIVE, trial, transport="memory", roles=roles)
        named = [rnd for rnd in record.rounds if rnd.polluters]
        if any(rnd.failed == 3 for rnd in record.rounds[:1]):
            assert not named  # it failed before it ever delivered
            continue
        (rnd,) = named
        assert rnd is record.rounds[-1] and rnd.verdict == "corrupt"
        assert rnd.polluters == ["3"] and rnd.polluted == {"3": FIVE.per_peer}
        assert "packets that do not match their coefficients from 3" in rnd.error


async def _a_parent_of_round_one(params: Params, trial: int) -> tuple[str, str]:
    honest = await run_trial(params, trial, transport="memory")
    first = honest.rounds[0]
    return str(first.parents[0]), str(first.newcomer)


@pytest.mark.parametrize("scheme", ["rlnc", "coded-copy"])
async def test_a_polluting_parent_is_named_not_the_newcomer(scheme):
    params = FIVE.with_(scheme=scheme, beta=FIVE.per_peer)  # beta = Q: it sends all it holds
    parent, newcomer = await _a_parent_of_round_one(params, 0)
    roles = {"peer": byzantine({parent}, "parent")}
    record = await run_trial(params, 0, transport="memory", roles=roles)
    first = record.rounds[0]
    assert first.polluters == [parent], first
    assert newcomer not in first.polluters
    assert f"polluted uploads from parent {parent}" in first.error
    if first.polluted:  # it kept some of the polluted upload (always, with rlnc)
        assert first.polluted == {newcomer: first.polluted[newcomer]}
        assert first.verdict == "corrupt" and "recoded them as specified" in first.error
    else:  # a copy scheme kept none of it: the data is intact, the attempt still named
        assert first.verdict == "ok" and "kept none of them" in first.error
    assert scheme != "rlnc" or first.verdict == "corrupt"


class WithoutProvenance(Newcomer):
    send_provenance = False


async def test_without_provenance_the_recoding_newcomer_is_blamed():
    """What provenance is for: without it the collector can only name the newcomer."""
    parent, newcomer = await _a_parent_of_round_one(FIVE, 0)
    roles = {"peer": byzantine({parent}, "parent"), "newcomer": WithoutProvenance}
    record = await run_trial(FIVE, 0, transport="memory", roles=roles)
    first = record.rounds[0]
    assert first.verdict == "corrupt" and first.polluters == [newcomer]
    assert "no provenance" in first.error


async def test_a_polluting_newcomer_is_named():
    newcomer = str(FIVE.peers + 1)
    roles = byzantine_roles({newcomer}, "peer")
    record = await run_trial(FIVE, 0, transport="memory", roles=roles)
    first = record.rounds[0]
    assert first.verdict == "corrupt"
    assert first.polluters == [newcomer] and first.polluted == {newcomer: FIVE.per_peer}
    assert "not what the rules make of its clean provenance" in first.error


class Recoder(Newcomer):
    """An honest-looking newcomer that received a polluted upload and also pollutes: its
    delivery is not what its provenance makes, so it is named beside the parent."""

    async def on_collect(self, msg: dict[str, Any]) -> None:
        self.stored = pollute(self.stored[:1]) + self.stored[1:]
        await super().on_collect(msg)


async def test_a_newcomer_that_adds_pollution_of_its_own_is_named_too():
    parent, newcomer = await _a_parent_of_round_one(FIVE, 0)
    roles = {"peer": byzantine({parent}, "parent"), "newcomer": Recoder}
    record = await run_trial(FIVE, 0, transport="memory", roles=roles)
    first = record.rounds[0]
    assert first.polluters == sorted([parent, newcomer], key=int), first.polluters
    assert "did not store what its provenance makes" in first.error


class StrayProvenance(StoragePeer):
    """Peer 1 sends a provenance batch (of its own packets, 'from' peer 2) each round."""

    async def on_collect(self, msg: dict[str, Any]) -> None:
        if self.id == "1":
            await self.send_batch(
                "collector",
                purpose="provenance",
                round=msg["round"],
                messages=[
                    m.__class__(2, m.field, m.packet) for m in self.packet_messages(self.stored)
                ],
                count=len(self.stored),
            )
        await super().on_collect(msg)


async def test_provenance_from_anyone_but_the_newcomer_is_refused():
    record = await run_trial(FIVE, 0, transport="memory", roles={"peer": StrayProvenance})
    assert record.success
    for rnd in record.rounds:
        if rnd.failed == 1 or any(r.failed == 1 for r in record.rounds[: rnd.round - 1]):
            continue
        assert any(r["sender"] == "1" and "not the newcomer" in r["reason"] for r in rnd.refused), (
            rnd.refused
        )
        assert rnd.polluters == []


@pytest.mark.parametrize("bad", [["3", 4], "3", [""], ["x" * 65]])
def test_the_report_schema_declares_polluters(bad):
    report = {"verdict": "corrupt", "polluted": {"6": 3}, "polluters": ["3"]}
    assert validate_message({"type": "collected", "round": 1, "report": report})
    with pytest.raises(SchemaError, match="polluters"):
        validate_message({"type": "collected", "round": 1, "report": {"polluters": bad}})


# -- the identification rate -----------------------------------------------------------------

TRIALS = 60


def _first_acted(acted: list[tuple[int, str, str]], record: TrialRecord) -> int | None:
    """The first judged round in which the byzantine node sent polluted packets that reached
    the collector (directly, or as an upload in the newcomer's provenance)."""
    judged = {r.round for r in record.rounds if r.verdict in ("ok", "corrupt", "undecodable")}
    rounds = sorted(number for number, _, _ in acted if number in judged)
    return rounds[0] if rounds else None


async def test_the_polluter_is_named_in_every_identifiable_trial():
    """60 seeded trials over memory: a random byzantine id (an initial peer or a newcomer),
    kind and scheme. Where the byzantine node polluted something that reached the collector,
    the first round naming anyone names exactly it, no earlier round names anyone, and that
    round is never ``ok`` when polluted packets were delivered."""
    rng = random.Random(9)
    outcomes: Counter[str] = Counter()
    for trial in range(TRIALS):
        scheme = rng.choice(["rlnc", "rlnc", "coded-copy", "replication"])
        kind = rng.choice(KINDS)
        bad = str(rng.randint(1, FIVE.peers + FIVE.rounds))
        params = FIVE.with_(scheme=scheme, seed=100 + trial)
        roles = byzantine_roles({bad}, kind)
        record = await run_trial(params, trial, transport="memory", roles=roles)
        acted: list[tuple[int, str, str]] = roles["peer"].acted  # type: ignore[attr-defined]
        first = _first_acted(acted, record)
        named = [r for r in record.rounds if r.polluters]
        if first is None:
            assert not named, (trial, named)
            if any(r.failed == int(bad) for r in record.rounds):
                outcomes["unidentifiable: failed before polluting"] += 1
            elif int(bad) > FIVE.peers and all(r.newcomer != int(bad) for r in record.rounds):
                outcomes["unidentifiable: the trial ended before it joined"] += 1
            else:
                outcomes[
                    f"unidentifiable: never {'a parent' if kind == 'parent' else 'alive'}"
                ] += 1
            continue
        rnd = named[0]
        correct = rnd.round == first and rnd.polluters == [bad]
        outcomes["named correctly" if correct else "named wrongly"] += 1
        assert correct, (trial, scheme, kind, bad, rnd)
        if rnd.polluted:
            assert rnd.verdict == "corrupt"
        identifiable_how = "as a parent" if kind == "parent" else "by its own packets"
        outcomes[f"  {identifiable_how}"] += 1
    identifiable = outcomes["named correctly"] + outcomes["named wrongly"]
    print(f"\nbyzantine identification over {TRIALS} trials: {dict(sorted(outcomes.items()))}")
    print(f"named correctly: {outcomes['named correctly']}/{identifiable} identifiable")
    assert outcomes["named correctly"] == identifiable >= TRIALS // 2
