"""Browser peers (Chromium pages running rlnc_testbed/web/peer.js) under the signaling faults
of docs/protocol.md §7: after a ``server-restart`` every page that was connected rejoins its
own slot by itself (web/signaling.js, close code 1012), keeps its stored packets and data
channels, and the trial ends exactly as the fault-free simulator says, packet by packet; a
``collector-reconnect`` leaves them alone; a page that does not come back ends the trial
``signaling-lost`` naming it, in time. Fault kinds a page cannot carry out are still refused.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import pytest_asyncio
from browser_support import require_chromium
from test_browser_cluster import assert_loopback
from test_cluster_equivalence import assert_as_specified

from rlnc_testbed.browser import Chromium
from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.protocol import Params, TrialRecord
from rlnc_testbed.protocol.faults import FaultPlan
from rlnc_testbed.signaling.client import RECONNECT_UNITS
from rlnc_testbed.simulation import simulate_trial
from rlnc_testbed.timeouts import unit

pytestmark = [pytest.mark.browser, pytest.mark.webrtc, pytest.mark.asyncio(loop_scope="module")]

FIVE = Params(scheme="rlnc", seed=4, peers=5, symbols=8, symbol_size=64, parents=2, rounds=3,
              beta=1)  # fmt: skip
LINK_PREFIX = "[rlnc] link "
REJOINED = "[rlnc] rejoined signaling as "


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium():
    """One Chromium for the module's trials (each trial opens and closes its own pages)."""
    require_chromium()
    async with Chromium() as browser:
        yield browser


def plan(*specs: dict[str, Any]) -> FaultPlan:
    return FaultPlan.from_list(specs)


async def run(
    params: Params, trial: int, chromium: Chromium, configure: Any = None, **options: Any
) -> tuple[Cluster, TrialRecord, list[dict[str, Any]]]:
    """One trial with browser pages; the cluster (after it closed), its record and the link
    records the pages logged."""
    import json

    async with asyncio.timeout(120 * unit()):
        async with Cluster(params, trial, browser=chromium, **options) as cluster:
            if configure is not None:
                configure(cluster)
            record = await cluster.run()
            await asyncio.sleep(0.2)  # the pages' last console lines
    links = [link for r in record.rounds for link in r.links]
    for node in cluster.nodes:
        links.extend(node.links)
    for page in cluster.browser_pages:
        for line in page.console:
            if LINK_PREFIX in line:
                links.append(json.loads(line.split(LINK_PREFIX, 1)[1]))
    return cluster, record, links


def rejoins_of(cluster: Cluster) -> dict[str, int]:
    """slot -> how many times its page said it rejoined signaling."""
    return {
        page.slot: sum(REJOINED + page.slot + " (" in line for line in page.console)
        for page in cluster.browser_pages
    }


def survivors(record: TrialRecord, number: int, params: Params) -> set[str]:
    """The nodes connected after round ``number``: engine, collector, alive peers (the
    newcomers of rounds 1..number included)."""
    alive = {str(x) for x in range(1, params.peers + 1)}
    for rnd in record.rounds[:number]:
        alive = (alive - {str(rnd.failed)}) | {str(rnd.newcomer)}
    return alive | {"engine", "collector"}


@pytest.mark.parametrize("downtime", [0.0, 0.3])
async def test_browsers_rejoin_a_restarted_server_and_the_trial_is_the_fault_free_one(
    chromium, downtime
):
    """Browser peers 2 and 4 and browser newcomers next to aiortc peers; the server restarts
    after round 1 (0.3 s of nothing listening: the pages' first attempts are refused)."""
    faults = plan({"kind": "server-restart", "round": 1, "downtime": downtime})
    cluster, record, links = await run(
        FIVE, 2, chromium, browser_peers=[2, 4], browser_newcomers=True, faults=faults
    )
    # The fault-free simulator's outcome, round for round - and the compiled oracle's
    # decisions, stored packets and measured traffic.
    honest = simulate_trial(FIVE, 2)
    assert [r.outcome() for r in record.rounds] == [r.outcome() for r in honest.rounds]
    assert len(record.rounds) == FIVE.rounds and record.finish == "max-round", record.finish
    assert_as_specified(FIVE, 2, record)
    assert_loopback(record, links)
    assert [f["kind"] for f in record.rounds[0].faults] == ["server-restart"]
    assert all(r.faults == [] for r in record.rounds[1:])
    # Every node connected after round 1 rejoined - the browser pages among them.
    (restart,) = cluster.interruptions
    expected = survivors(record, 1, FIVE)
    assert restart["missing"] == [] and set(restart["rejoined"]) == expected, restart
    browsers_back = expected & set(record.browsers)
    assert browsers_back >= {"2", "4"} - {str(record.rounds[0].failed)}
    assert str(FIVE.peers + 1) in browsers_back  # the browser newcomer of round 1
    assert browsers_back <= set(cluster.controller.rejoins)
    assert sorted(cluster.controller.rejoins) == sorted(expected)
    # ... and said so, once each; later pages (newcomers of rounds 2, 3) never had to.
    said = rejoins_of(cluster)
    assert {slot for slot, n in said.items() if n} == browsers_back, said
    assert all(n <= 1 for n in said.values()), said
    assert record.browser_errors == [], record.browser_errors


async def test_browsers_rejoin_a_server_restarted_after_every_round(chromium):
    """Three restarts: pages rejoin each time (a page that joined in round r rejoins after
    rounds r..R), and nothing of the trial changes."""
    faults = plan({"kind": "server-restart", "rate": 1.0, "downtime": 0.05})
    cluster, record, _ = await run(
        FIVE, 1, chromium, browser_peers=[1, 3, 5], browser_newcomers=True, faults=faults
    )
    honest = simulate_trial(FIVE, 1)
    assert [r.outcome() for r in record.rounds] == [r.outcome() for r in honest.rounds]
    assert_as_specified(FIVE, 1, record)
    rounds = len(record.rounds)
    assert [i["round"] for i in cluster.interruptions] == list(range(1, rounds + 1))
    assert all(i["missing"] == [] for i in cluster.interruptions), cluster.interruptions
    said = rejoins_of(cluster)
    for number, restart in enumerate(cluster.interruptions, start=1):
        assert set(restart["rejoined"]) == survivors(record, number, FIVE)
    for slot in set(record.browsers):
        times = sum(slot in i["rejoined"] for i in cluster.interruptions)
        assert said[slot] == times and cluster.controller.rejoins.count(slot) == times, slot
    # (trial 1: peers 1 and newcomer 6 fail in rounds 1 and 2; browser peers 3 and 5 stay)
    assert said["3"] == said["5"] == rounds == 3, said
    assert record.browser_errors == []


async def test_a_collector_reconnect_leaves_browser_peers_alone(chromium):
    faults = plan({"kind": "collector-reconnect", "rate": 1.0, "downtime": 0.05})
    cluster, record, _ = await run(
        FIVE, 0, chromium, browser_peers=[2, 3], browser_newcomers=True, faults=faults
    )
    assert_as_specified(FIVE, 0, record)
    assert cluster.controller.rejoins == ["collector"] * len(record.rounds)
    assert all(n == 0 for n in rejoins_of(cluster).values())
    assert record.browser_errors == []


async def test_a_browser_peer_that_does_not_rejoin_is_signaling_lost_and_named(
    chromium, monkeypatch
):
    """Page 2 is told not to rejoin (as test_faults.py does to an aiortc engine): the trial
    ends ``signaling-lost`` naming it once the rejoin window (2 x RECONNECT_UNITS) ran out,
    not with a later round's timeout, and round 2 never starts."""
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "0.3")
    params = FIVE.with_(failures=(1,))  # peer 2 survives round 1
    faults = plan({"kind": "server-restart", "round": 1})
    disabled: list[str] = []

    def configure(cluster: Cluster) -> None:
        async def disable_rejoin() -> None:
            async with asyncio.timeout(30 * unit()):
                while not any(p.slot == "2" for p in cluster.browser_pages):
                    await asyncio.sleep(0.01)
                (page,) = [p for p in cluster.browser_pages if p.slot == "2"]
                while not await page.page.evaluate("() => Boolean(window.rlncNode)"):
                    await asyncio.sleep(0.01)
                await page.page.evaluate("() => { window.rlncNode.signaling._rejoin = false; }")
            disabled.append("2")

        task = asyncio.ensure_future(disable_rejoin())
        cluster._tasks.add(task)

    started = time.monotonic()
    cluster, record, _ = await run(params, 0, chromium, configure, browser_peers=[2],
                                   faults=faults)  # fmt: skip
    took = time.monotonic() - started
    assert disabled == ["2"]
    assert [r.verdict for r in record.rounds] == ["ok", "signaling-lost"], record.rounds
    assert "2 did not rejoin" in record.rounds[-1].error, record.rounds[-1].error
    (restart,) = cluster.interruptions
    assert restart["missing"] == ["2"]
    assert cluster._slots_started["newcomer"] == 1  # round 2's newcomer was never started
    assert took < 2 * RECONNECT_UNITS * unit() + 30 * unit()
    assert record.browser_errors == []  # the page stopped quietly: not a bug
