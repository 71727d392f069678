"""Storage peers and newcomers as real Chromium pages (rlnc_testbed/web/peer.js) next to aiortc
peers, over real WebRTC and websockets: they do exactly what the specification says, round by
round and packet by packet (the oracle of tests/test_cluster_equivalence.py), every ICE pair
with an aiortc end is 127.0.0.1 at both ends, and a failing page ends the trial with the
``error`` verdict naming it, in time."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import pytest
import pytest_asyncio
from browser_support import require_chromium
from test_cluster_equivalence import assert_as_specified

from rlnc_testbed.browser import Chromium
from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.experiment.hosts import loopback_only, unavailable
from rlnc_testbed.protocol import Params, TrialRecord
from rlnc_testbed.timeouts import unit

pytestmark = [pytest.mark.browser, pytest.mark.webrtc, pytest.mark.asyncio(loop_scope="module")]

SMALL = dict(peers=5, symbols=8, symbol_size=64, parents=2, rounds=3, redundancy=2.0)
LINK_PREFIX = "[rlnc] link "


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium():
    """One Chromium for the module's trials (each trial opens and closes its own pages)."""
    require_chromium()
    async with Chromium() as browser:
        yield browser


async def run(params: Params, trial: int, chromium: Chromium, **options: Any):
    """One trial; returns its record and every link record either end of each link kept:
    the round records (receivers), the aiortc nodes' own and the browser pages' own."""
    async with asyncio.timeout(120 * unit()):
        async with Cluster(params, trial, browser=chromium, **options) as cluster:
            record = await cluster.run()
            # Pages log each batch's record as it ends; let the last lines arrive.
            await asyncio.sleep(0.2)
    links = [link for r in record.rounds for link in r.links]
    for node in cluster.nodes:
        links.extend(node.links)
    for page in cluster.browser_pages:
        for line in page.console:
            if LINK_PREFIX in line:
                links.append(json.loads(line.split(LINK_PREFIX, 1)[1]))
    return record, links


def assert_loopback(record: TrialRecord, links: list[dict[str, Any]]) -> None:
    """Every selected ICE pair is 127.0.0.1 at both ends - except between two Chromium pages,
    where the offering page's end is Chromium's choice (see test_browser_to_browser_links)."""
    browsers = set(record.browsers)
    assert links, "no link recorded"
    for link in links:
        info = link["info"]
        pair = (link["local"], link["remote"], link["label"], info.get("local_address"),
                info.get("remote_address"))  # fmt: skip
        if link["local"] in browsers and link["remote"] in browsers:
            # The receiving page's own end is loopback.
            assert link["local"] != link["remote"]
            continue
        assert info.get("local_address") == "127.0.0.1", pair
        assert info.get("remote_address") == "127.0.0.1", pair
        assert info.get("protocol") == "udp", pair


def assert_browsers(record: TrialRecord, expected: list[str]) -> None:
    assert record.browsers == expected
    assert record.browser_version.startswith("Chromium "), record.browser_version
    assert record.browser_errors == [], record.browser_errors
    # ("end": the collector ended it after a round that lost data, as the oracle says)
    assert record.finish in ("max-round", "end") and not record.error, (record.finish, record.error)


async def test_three_peer_rlnc_workflow_with_a_browser_newcomer(chromium):
    params = Params(scheme="rlnc", seed=3, peers=3, symbols=6, symbol_size=256, parents=2,
                    failures=(2,), rounds=1)  # fmt: skip
    record, links = await run(params, 0, chromium, browser_newcomers=True)
    assert record.success
    assert_browsers(record, ["4"])
    assert_as_specified(params, 0, record)
    assert_loopback(record, links)
    repair = [x for x in record.rounds[0].links if x["local"] == "4"]
    assert sorted(x["remote"] for x in repair) == ["1", "3"]
    assert all(x["info"]["browser"] is True for x in repair)  # recorded by the page itself


async def test_ten_peer_loop_with_browser_peers_and_newcomers(chromium):
    """The 10-peer loop: three browser peers (a count: slots 1..3) and browser newcomers,
    which serve as parents in later rounds (beta < Q: the PARENT stream draws)."""
    params = Params(peers=10, symbols=20, symbol_size=220, redundancy=2.0, parents=3,
                    scheme="rlnc", rounds=4, seed=99, beta=2)  # fmt: skip
    record, links = await run(params, 0, chromium, browser_peers=3, browser_newcomers=True)
    assert record.success and len(record.rounds) == 4
    assert_browsers(record, ["1", "2", "3", "11", "12", "13", "14"])
    assert_as_specified(params, 0, record)
    assert_loopback(record, links)
    parents = {p for r in record.rounds for p in r.parents}
    assert parents & {1, 2, 3, 11, 12, 13}, "no browser served as a parent"


@pytest.mark.parametrize("field", [2, 256])
@pytest.mark.parametrize("scheme", ["replication", "coded-copy", "rlnc"])
async def test_mixed_runs_are_as_specified(chromium, scheme, field):
    """Browser peers 2 and 4 and browser newcomers beside aiortc peers: the same decisions,
    stored packets (digests) and measured traffic as the compiled simulator, per round."""
    params = Params(scheme=scheme, field=field, seed=11, beta=2, **SMALL)
    record, links = await run(params, 2, chromium, browser_peers=[2, 4], browser_newcomers=True)
    assert_browsers(record, ["2", "4", *(str(r.newcomer) for r in record.rounds)])
    assert_as_specified(params, 2, record)
    assert_loopback(record, links)


@pytest.mark.parametrize(
    "changes",
    [dict(keep="block", systematic=True, beta=1), dict(keep="shuffle", field=2)],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
async def test_mixed_keep_rules_are_as_specified(chromium, changes):
    params = Params(scheme="coded-copy", seed=5, **{**SMALL, **changes})
    record, links = await run(params, 1, chromium, browser_peers=[1, 3, 5], browser_newcomers=True)
    assert_as_specified(params, 1, record)
    assert_loopback(record, links)


#: A browser-to-browser run, as a program: prints each link record as one JSON line.
_BROWSER_TO_BROWSER = """
import asyncio, json
from rlnc_testbed.experiment.cluster import run_trial
from rlnc_testbed.protocol import Params
params = Params(scheme="rlnc", seed=3, peers=3, symbols=6, symbol_size=64, parents=2,
                failures=(1,), rounds=1)
record = asyncio.run(run_trial(params, 0, transport="webrtc", browser_peers=[2, 3],
                               browser_newcomers=True))
print(json.dumps({"success": record.success, "browsers": record.browsers}))
for rnd in record.rounds:
    for link in rnd.links:
        print(json.dumps(link))
"""


@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
async def test_browser_to_browser_links_are_loopback_at_both_ends_in_a_loopback_netns():
    """Between two Chromium pages the offering page nominates the pair from its cheapest
    network: on a host with another interface that is not loopback, whatever the SDPs carry
    (measured with Chromium 150). Run inside a namespace with nothing but loopback
    (``experiment.hosts.loopback_only``), every selected pair is 127.0.0.1 at both ends."""
    argv = loopback_only([sys.executable, "-c", _BROWSER_TO_BROWSER])
    process = await asyncio.create_subprocess_exec(*argv, stdout=-1, stderr=-1)
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-2000:]
    head, *lines = out.decode().splitlines()
    summary, links = json.loads(head), [json.loads(line) for line in lines]
    assert summary["success"] and summary["browsers"] == ["2", "3", "4"]
    between = [
        x for x in links if x["local"] in summary["browsers"] and x["remote"] in summary["browsers"]
    ]
    assert {(x["local"], x["remote"]) for x in between} >= {("4", "2"), ("4", "3")}
    for link in links:
        assert link["info"]["local_address"] == "127.0.0.1", link
        assert link["info"]["remote_address"] == "127.0.0.1", link


async def test_a_bug_in_a_browser_peer_is_the_error_verdict_at_once(chromium):
    """A page whose code raises reports it like a Python role: the trial ends with ``error``
    naming the exception, long before the collect deadline. (Planted in the collect step:
    every link is open by then. An aiortc handshake cut off by the trial's end - a warm link
    a bug in repair would interrupt - can leave aioice's UDP socket open: a transport matter.)"""
    params = Params(scheme="rlnc", seed=3, peers=3, symbols=6, symbol_size=64, parents=2,
                    failures=(1,), rounds=2, beta=1)  # fmt: skip

    async def broken(route):
        response = await route.fetch()
        body = await response.text()
        planted = body.replace(
            "  delivery(round) {\n",
            "  delivery(round) {\n    throw new TypeError('planted bug');\n",
        )
        assert planted != body
        await route.fulfill(response=response, body=planted)

    await chromium.context.route("**/web/storage.js", broken)
    try:
        started = time.monotonic()
        record, _ = await run(params, 0, chromium, browser_peers=[2])
    finally:
        await chromium.context.unroute("**/web/storage.js", broken)
    assert record.finish == "error"
    (rnd,) = record.rounds
    assert rnd.verdict == "error"
    assert "peer 2: collect raised TypeError: planted bug" in rnd.error
    assert time.monotonic() - started < 10 * unit()  # the collect deadline is 10 units
    assert any("planted bug" in e["text"] for e in record.browser_errors)


async def test_a_crashed_browser_page_is_the_error_verdict_not_a_timeout(chromium):
    params = Params(scheme="rlnc", seed=3, peers=4, symbols=6, symbol_size=64, parents=2,
                    failures=(1, 4), rounds=3)  # fmt: skip
    crashes: list[asyncio.Task[Any]] = []

    def crash_after_round_one(cluster: Cluster):
        def on_round(rnd):
            if rnd.round == 1:
                (page,) = [p for p in cluster.browser_pages if p.slot == "2"]
                crashes.append(asyncio.ensure_future(page.page.goto("chrome://crash")))

        cluster.on_round = on_round

    started = time.monotonic()
    async with asyncio.timeout(120 * unit()):
        async with Cluster(params, 0, browser=chromium, browser_peers=[2]) as cluster:
            crash_after_round_one(cluster)
            record = await cluster.run()
    await asyncio.gather(*crashes, return_exceptions=True)
    assert record.finish == "error", (record.finish, record.error)
    assert record.rounds[0].verdict == "ok"
    assert record.rounds[-1].verdict == "error" and "crash" in record.rounds[-1].error
    assert [(e["slot"], e["kind"]) for e in record.browser_errors][:1] == [("2", "crash")]
    assert time.monotonic() - started < 10 * unit()
