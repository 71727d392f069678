"""Node faults carried out by browser peers (Chromium pages running rlnc_testbed/web/peer.js):
a page given the trial's fault plan replays it with the specified draws (web/faults.js) and,
when the plan strikes it, crashes, goes silent, turns zombie or pollutes exactly as an aiortc
node does (web/faulty.js, roles/faulty.py). For each node fault kind a small RLNC cluster runs
with the struck node a browser, and its per-round records - decisions, verdict, the faults,
polluters and refusals - equal those of the same seed and plan run by the Python roles, the
rounds before the fault are the fault-free simulator's, the round of the fault ends in §7's
verdict, and the page says it carried the fault out. A page that ignored its fault would give
an ``ok`` round (or no refusal) instead.

Also here: ``tests/vectors/faults.json`` (the JS schedule's vectors) is what the Python side
makes today, and the fault kinds a page cannot carry out (``link``) are refused by name.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio
from browser_support import require_chromium
from test_browser_cluster import assert_loopback

from rlnc_testbed.browser import Chromium
from rlnc_testbed.browser.peers import peer_url
from rlnc_testbed.experiment.cluster import Cluster, run_trial
from rlnc_testbed.protocol import Params, TrialRecord
from rlnc_testbed.protocol.faults import FaultPlan, round_faults
from rlnc_testbed.protocol.params import ParameterError
from rlnc_testbed.simulation import simulate_trial
from rlnc_testbed.timeouts import unit

#: The Chromium trials' marks (the vector and refusal checks need no browser).
BROWSER_TRIAL = [pytest.mark.browser, pytest.mark.webrtc, pytest.mark.asyncio(loop_scope="module")]

TESTS = Path(__file__).resolve().parent
FIVE = Params(scheme="rlnc", seed=4, peers=5, symbols=8, symbol_size=64, parents=2, rounds=2,
              beta=2)  # fmt: skip
LINK_PREFIX = "[rlnc] link "
FAULT_PREFIX = "[rlnc] fault "
#: Timeout-ending faults wait out a phase deadline (10 units): keep the unit short.
FACTOR = "0.3"


# -- the vectors -----------------------------------------------------------------------------


def test_fault_vectors_are_up_to_date() -> None:
    path = TESTS / "vectors" / "make_fault_vectors.py"
    spec = importlib.util.spec_from_file_location("make_fault_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.rendered().items():
        committed = (TESTS / "vectors" / name).read_text(encoding="utf-8")
        assert committed == text, (
            f"tests/vectors/{name} differs from what the Python implementation makes; if the "
            "change is intended, run: python tests/vectors/make_fault_vectors.py"
        )


def test_the_page_gets_the_whole_plan_in_its_fragment_only() -> None:
    plan = FaultPlan.from_list(
        [{"kind": "server-restart", "round": 1}, {"kind": "zombie", "nodes": [3], "rate": 0.5}]
    )
    url = peer_url("ws://127.0.0.1:4321/ws", role="peer", slot="3", token="t", unit=1.0,
                   faults=plan.to_list())  # fmt: skip
    parts = urlsplit(url)
    assert parts.query == ""
    (given,) = parse_qs(parts.fragment)["faults"]
    assert FaultPlan.from_list(json.loads(given)) == plan  # every spec, in plan order
    plain = peer_url("ws://127.0.0.1:4321/ws", role="peer", slot="3", token="t", unit=1.0)
    assert "faults" not in parse_qs(urlsplit(plain).fragment)


# -- what stays refused ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        dict(faults=FaultPlan.from_list([{"kind": "link", "round": 1, "loss": 0.1}])),
        dict(shaping={("1", "collector"): None}),
    ],
    ids=["link-fault", "shaping"],
)
def test_link_faults_and_shaping_stay_refused_with_browsers(options: dict[str, Any]) -> None:
    with pytest.raises(ParameterError, match="links cannot be shaped") as info:
        Cluster(FIVE, browser_peers=[1], **options)
    if "faults" in options:
        assert str(info.value).endswith("got link")


def test_every_node_fault_is_accepted_with_browsers() -> None:
    for kind in ("crash", "silent", "zombie", "newcomer-crash", "pollute"):
        faults = FaultPlan.from_list([{"kind": kind, "round": 1}])
        Cluster(FIVE, browser_peers=[2], browser_newcomers=True, faults=faults)


# -- the faults, carried out by pages ------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium():
    """One Chromium for the module's trials (each trial opens and closes its own pages)."""
    require_chromium()
    async with Chromium() as browser:
        yield browser


def struck(params: Params, trial: int, specs: list[dict[str, Any]], number: int) -> list[str]:
    """The nodes the plan strikes with node faults in round ``number`` (alive: the round's
    start, as the simulator plays it)."""
    alive = list(range(1, params.peers + 1))
    for rnd in simulate_trial(params, trial).rounds[: number - 1]:
        alive = sorted([x for x in alive if x != rnd.failed] + [rnd.newcomer])
    faults = round_faults(FaultPlan.from_list(specs), params, trial, number, alive)
    return [f.node for f in faults if f.kind not in ("server-restart", "collector-reconnect")]


def decided(record: TrialRecord) -> list[tuple[Any, ...]]:
    """What both runs must agree on, per round: decisions, verdict, faults, polluters."""
    return [(r.outcome(), r.verdict, r.faults, r.polluters) for r in record.rounds]


def refused_senders(record: TrialRecord) -> list[str]:
    """Who had batches refused in the trial. (Not per round: a zombie's batch for round r
    races with the round's judging - refused as not alive, or as too late, in either round's
    record.)"""
    return sorted({x["sender"] for r in record.rounds for x in r.refused})


def case(name: str, plan: list[dict[str, Any]], trial: int, number: int, verdict: str,
         rounds: int = FIVE.rounds) -> Any:  # fmt: skip
    """One Chromium trial: the plan, the trial, the round of the fault, the verdict of that
    round (§7's table), the rounds of the trial."""
    return pytest.param(plan, trial, number, verdict, rounds, id=name, marks=BROWSER_TRIAL)


#: Trials are chosen so the struck nodes differ (see ``struck``); the struck node is the one
#: page of each run.
CASES = [
    case("crash-parent-mid-repair", [{"kind": "crash", "target": "parent", "round": 1}], 0, 1,
         "repair-timeout"),
    # (peer 2, not a parent: missing at collect)
    case("crash-peer-mid-repair", [{"kind": "crash", "target": "peer", "round": 1}], 9, 1,
         "collect-timeout"),
    case("crash-peer-mid-collect",
         [{"kind": "crash", "target": "peer", "when": "mid-collect", "round": 1}], 1, 1,
         "collect-timeout"),
    case("silent", [{"kind": "silent", "round": 1}], 3, 1, "repair-timeout"),
    case("newcomer-crash", [{"kind": "newcomer-crash", "round": 1}], 0, 1, "repair-timeout"),
    case("pollute-peer-mid-collect", [{"kind": "pollute", "target": "peer", "round": 1}], 4, 1,
         "corrupt"),
    case("pollute-parent-mid-repair",
         [{"kind": "pollute", "target": "parent", "when": "mid-repair", "round": 1}], 5, 1,
         "corrupt"),
    # the browser newcomer of round 1, a storage peer in round 2 (not a parent: no link
    # between two pages), pollutes its collect batch there
    case("newcomer-pollutes-later",
         [{"kind": "pollute", "target": "peer", "round": 2, "nodes": [6]}], 2, 2, "corrupt"),
    # peer 1, a parent in round 1, fails in round 2 and stays a zombie, after a server
    # restart (spec 0: the zombie is spec 1, its FAULT stream index): every round ok, its
    # deliveries (on round 2's and 3's new id, over its warm collector link) refused
    case("zombie", [{"kind": "server-restart", "round": 1, "downtime": 0.05},
                    {"kind": "zombie", "round": 2}], 2, 2, "ok", rounds=3),
]  # fmt: skip


async def _run_browser(
    params: Params, trial: int, chromium: Chromium, faults: FaultPlan, **options: Any
) -> tuple[Cluster, TrialRecord, list[dict[str, Any]]]:
    async with asyncio.timeout(60 * unit()):
        async with Cluster(params, trial, browser=chromium, faults=faults, **options) as cluster:
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


@pytest.mark.parametrize(("plan", "trial", "number", "verdict", "rounds"), CASES)
async def test_a_browser_node_carries_out_its_fault_as_an_aiortc_node_does(
    chromium, monkeypatch, plan, trial, number, verdict, rounds
):
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", FACTOR)
    params = FIVE.with_(rounds=rounds)
    (node,) = struck(params, trial, plan, number)
    newcomer = int(node) > params.peers
    options = dict(browser_newcomers=True) if newcomer else dict(browser_peers=[int(node)])
    faults = FaultPlan.from_list(plan)
    started = time.monotonic()
    # The reference (the Python fault-injecting roles over memory channels) runs meanwhile.
    reference, (cluster, record, links) = await asyncio.gather(
        run_trial(params, trial, transport="memory", faults=faults),
        _run_browser(params, trial, chromium, faults, **options),
    )
    took = time.monotonic() - started
    # The same per-round records as the Python roles give for the same seed and plan ...
    assert decided(record) == decided(reference)
    assert refused_senders(record) == refused_senders(reference)
    assert record.browser_errors == [], record.browser_errors
    # ... the struck node was a page, and the page says it carried the fault out ...
    kinds = {f["kind"]: f for r in record.rounds for f in r.faults}
    kind = plan[-1]["kind"]
    assert kinds[kind]["node"] == node and node in record.browsers, (kinds, record.browsers)
    (page,) = [p for p in cluster.browser_pages if p.slot == node]
    said = [line for line in page.console if FAULT_PREFIX + kind + " " in line]
    assert said and f"round {number}" in said[0], page.console[-20:]
    # ... the fault-free simulator's rounds before the fault, and §7's verdict in its round.
    honest = simulate_trial(params, trial)
    assert [r.outcome() for r in record.rounds[: number - 1]] == [
        r.outcome() for r in honest.rounds[: number - 1]
    ]
    fault_round = record.rounds[number - 1]
    assert fault_round.verdict == verdict, fault_round
    if verdict == "ok":  # a zombie: the whole trial is the fault-free one, but refusals
        assert [r.outcome() for r in record.rounds] == [r.outcome() for r in honest.rounds]
        refused = [x for r in record.rounds for x in r.refused]
        assert refused and {x["sender"] for x in refused} == {node}, refused
        late = ("not alive in round", "was already judged", "is not the current round")
        assert all(any(w in x["reason"] for w in late) for x in refused), refused
    else:
        assert len(record.rounds) == number, record.rounds
    if verdict == "corrupt":
        assert fault_round.polluters == [node]
    if plan[-1].get("target") == "parent" or kind == "silent":
        assert int(node) in fault_round.parents
    assert_loopback(record, links)
    assert took < 40 * float(FACTOR) + 10, took
