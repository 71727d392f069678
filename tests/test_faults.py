"""Faults on a schedule: specs, the pure "which faults happen when, to whom", the history's
``fault`` events, and the verdict each kind ends in over real clusters (docs/protocol.md §7).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from rlnc_testbed.analysis.history import HistoryWriter, read_history
from rlnc_testbed.experiment.cluster import Cluster, ReliableShaper, run_trial
from rlnc_testbed.experiment.runner import run_point
from rlnc_testbed.experiment.scenario import ScenarioError, load_scenario
from rlnc_testbed.protocol import Params
from rlnc_testbed.protocol.draws import Role, stream_for
from rlnc_testbed.protocol.faults import (
    PPM,
    FaultError,
    FaultPlan,
    FaultSpec,
    link_index,
    round_faults,
)
from rlnc_testbed.protocol.params import ParameterError
from rlnc_testbed.protocol.records import RoundRecord
from rlnc_testbed.protocol.rules import choose_parents, failed_peer
from rlnc_testbed.transport.shaping import Fate, LinkShape

FIVE = Params(scheme="rlnc", seed=4, peers=5, symbols=8, symbol_size=32, parents=2, rounds=3)


@pytest.fixture(scope="module")
def warm() -> None:
    """One honest trial first: the kernels' JIT compile would outlast a 0.1-factor setup."""
    run_point(FIVE.with_(trials=1, rounds=1), transport="memory")


@pytest.fixture
def fast_timeouts(warm, monkeypatch):
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "0.1")


def plan(*specs: dict) -> FaultPlan:
    return FaultPlan.from_list(specs)


# -- specs -------------------------------------------------------------------------------


def test_specs_take_defaults_and_round_trip():
    spec = FaultSpec.from_mapping({"kind": "crash", "round": 3})
    assert (spec.target, spec.when) == ("parent", "mid-repair")
    assert FaultSpec.from_mapping(spec.to_dict()) == spec
    link = FaultSpec.from_mapping({"kind": "link", "rate": 0.5, "loss": 0.1})
    assert link.target == "repair" and FaultSpec.from_mapping(link.to_dict()) == link


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"kind": "meteor", "round": 1}, "kind must be one of"),
        ({"kind": "crash"}, "exactly one of"),
        ({"kind": "crash", "round": 1, "rate": 0.5}, "exactly one of"),
        ({"kind": "crash", "round": 0}, "round must be"),
        ({"kind": "crash", "round": True}, "round must be"),
        ({"kind": "crash", "rate": 1.5}, "rate must be"),
        ({"kind": "crash", "target": "engine", "round": 1}, "target must be"),
        ({"kind": "silent", "when": "mid-collect", "round": 1}, "when must be"),
        ({"kind": "link", "round": 1}, "at least one of"),
        ({"kind": "link", "round": 1, "loss": float("nan")}, "loss must be"),
        ({"kind": "zombie", "round": 1, "loss": 0.1}, "only for kind"),
        ({"kind": "crash", "round": 1, "colour": "red"}, "unknown fault key"),
        ({"round": 1}, "needs a kind"),
    ],
)
def test_bad_specs_are_refused_naming_the_problem(table, message):
    with pytest.raises(FaultError, match=message):
        FaultPlan.from_list([table])


def test_a_scenario_declares_faults(tmp_path: Path):
    path = tmp_path / "faulty.toml"
    path.write_text(
        'transport = "memory"\n[params]\npeers = 4\nsymbols = 4\nparents = 2\nrounds = 2\n'
        '[[faults]]\nkind = "crash"\ntarget = "parent"\nround = 2\nwhen = "mid-repair"\n'
        '[[faults]]\nkind = "link"\ntarget = "collect"\nrate = 0.25\nloss = 0.1\n'
    )
    scenario = load_scenario(path)
    assert [s.kind for s in scenario.faults.specs] == ["crash", "link"]
    assert scenario.to_dict()["faults"][1]["rate"] == 0.25
    assert scenario.with_params(seed=3).faults == scenario.faults
    with pytest.raises(ScenarioError, match="only over memory or webrtc"):
        scenario.with_transport("sim")
    path.write_text(path.read_text().replace("round = 2", "round = 5"))
    with pytest.raises(ScenarioError, match="round 5 > rounds = 2"):
        load_scenario(path)
    path.write_text('[params]\npeers = 4\n[[faults]]\nkind = "zombie"\n')
    with pytest.raises(ScenarioError, match=r"faults\[0\]: zombie: give exactly one"):
        load_scenario(path)


def test_sim_runs_no_faults():
    with pytest.raises(ParameterError, match="only over the memory and webrtc"):
        run_point(FIVE, transport="sim", faults=plan({"kind": "zombie", "round": 1}))


# -- the pure schedule -------------------------------------------------------------------


def test_link_index_is_specified():
    assert link_index("3", "collector") == 3 * 2**32 + 2**32 - 2
    assert link_index("engine", "1") == (2**32 - 1) * 2**32 + 1
    with pytest.raises(ValueError):
        link_index("x", "1")


def test_round_faults_follow_the_specified_draws():
    """Written from §7's text: draw 1 decides, draw 2 picks among the ascending candidates."""
    specs = plan(
        {"kind": "crash", "target": "parent", "rate": 0.5},
        {"kind": "crash", "target": "peer", "when": "mid-collect", "round": 2},
        {"kind": "link", "target": "repair", "rate": 0.3, "delay": 0.01},
    )
    alive = [1, 2, 3, 4, 5]
    for trial in range(20):
        for number in (1, 2, 3):
            got = round_faults(specs, FIVE, trial, number, alive)
            server = stream_for(FIVE.seed, trial, number, Role.SERVER)
            failed = failed_peer(FIVE, number, alive, server)
            survivors = [x for x in alive if x != failed]
            parents = choose_parents(server, survivors, FIVE.parents)
            want = []
            for index, spec in enumerate(specs.specs):
                stream = stream_for(FIVE.seed, trial, number, Role.FAULT, index)
                draw = stream.below(PPM)
                if spec.round is not None and spec.round != number:
                    continue
                if spec.rate is not None and not draw < round(spec.rate * PPM):
                    continue
                if spec.kind == "link":
                    want.append(
                        ("link", tuple((str(p), str(FIVE.peers + number)) for p in parents))
                    )
                else:
                    pool = parents if spec.target == "parent" else survivors
                    want.append((spec.kind, str(sorted(pool)[stream.below(len(pool))])))
            assert [(f.kind, f.links or f.node) for f in got] == want
            assert got == round_faults(specs, FIVE, trial, number, alive)  # pure


def test_rates_are_honoured_over_many_trials():
    specs = plan({"kind": "zombie", "rate": 0.2})
    hits = sum(bool(round_faults(specs, FIVE, t, 1, [1, 2, 3, 4, 5])) for t in range(2000))
    assert 320 < hits < 480


# -- records and history -----------------------------------------------------------------


def test_fault_events_are_written_and_read_back(tmp_path: Path):
    faults = [
        {"spec": 0, "kind": "zombie", "target": "failed", "when": "after-fail", "node": "2"},
        {
            "spec": 1,
            "kind": "link",
            "target": "repair",
            "when": "round",
            "links": [["1", "6"]],
            "loss": 0.1,
            "delay": 0.0,
            "jitter": 0.0,
            "reorder": 0.0,
        },
    ]
    record = RoundRecord(1, 2, 6, (1, 3), 8, 8, True, True, faults=faults)
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path, params=FIVE) as writer:
        writer.round(0, record)
        writer.round(0, RoundRecord(2, 3, 7, (1, 4), 8, 8, True, True))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in lines[1:4]] == ["failure", "fault", "fault"]
    assert lines[2]["trial"] == 0 and lines[2]["round"] == 1 and lines[2]["kind"] == "zombie"
    (_, first), (_, second) = read_history(path).rounds
    assert first == record and second.faults == []


def test_older_histories_without_faults_still_load(tmp_path: Path):
    record = RoundRecord(1, 2, 6, (1, 3), 8, 8, True, True)
    data = record.to_dict()
    del data["faults"]
    assert RoundRecord.from_dict(data).faults == []
    path = tmp_path / "old.jsonl"
    with HistoryWriter(path, params=FIVE) as writer:
        writer.round(0, record)
    assert read_history(path).rounds[0][1] == record


# -- the memory link shaper --------------------------------------------------------------


def test_reliable_shaper_delivers_lost_and_held_messages_late_and_in_order():
    draws = stream_for(1, 0, 1, Role.LINK, link_index("1", "collector"))
    shaper = ReliableShaper(LinkShape(loss=0.3, reorder=0.3), draws=draws, retransmit=0.5)
    fates = [shaper.push((None, bytes([i])), 1, float(i) * 0.001).fate for i in range(50)]  # type: ignore[arg-type]
    assert Fate.DROP in fates and Fate.HOLD in fates
    out = shaper.pop_due(100.0)
    assert [data[0] for _, data in out] == list(range(50))
    assert shaper.stats.dropped == fates.count(Fate.DROP)


# -- verdicts over a real cluster --------------------------------------------------------

#: (fault, verdict of the round it happens in) - the table of docs/protocol.md §7.
VERDICTS = [
    ({"kind": "crash", "target": "parent", "when": "mid-repair", "round": 2}, "repair-timeout"),
    ({"kind": "crash", "target": "peer", "when": "mid-collect", "round": 2}, "collect-timeout"),
    ({"kind": "crash", "target": "parent", "when": "mid-collect", "round": 1}, "collect-timeout"),
    ({"kind": "silent", "round": 2}, "repair-timeout"),
    ({"kind": "newcomer-crash", "round": 1}, "repair-timeout"),
]


@pytest.mark.parametrize(("spec", "verdict"), VERDICTS, ids=lambda v: str(v))
async def test_each_node_fault_ends_in_its_verdict(fast_timeouts, spec, verdict):
    started = time.monotonic()
    record = await run_trial(FIVE, 0, transport="memory", faults=plan(spec))
    last = record.rounds[-1]
    assert last.round == spec["round"] and last.verdict == verdict, last
    assert all(r.verdict == "ok" for r in record.rounds[:-1])
    (fault,) = last.faults
    assert fault["kind"] == spec["kind"] and fault["node"]
    if spec.get("target") == "parent" or spec["kind"] == "silent":
        assert int(fault["node"]) in last.parents
    if spec["kind"] == "newcomer-crash":
        assert int(fault["node"]) == last.newcomer
    assert time.monotonic() - started < 20 * 0.1 * 2 + 3 * 40 * 0.1  # well inside the bound


async def test_a_crashed_non_parent_mid_repair_is_missing_at_collect(fast_timeouts):
    specs = plan({"kind": "crash", "target": "peer", "when": "mid-repair", "round": 1})
    for trial in range(4):
        record = await run_trial(FIVE, trial, transport="memory", faults=specs)
        (rnd,) = record.rounds
        node = int(rnd.faults[0]["node"])
        assert rnd.verdict == ("repair-timeout" if node in rnd.parents else "collect-timeout")


async def test_zombies_change_no_verdict_and_are_refused():
    honest = await run_trial(FIVE, 1, transport="memory")
    record = await run_trial(
        FIVE, 1, transport="memory", faults=plan({"kind": "zombie", "rate": 1.0})
    )
    assert [r.outcome() for r in record.rounds] == [r.outcome() for r in honest.rounds]
    assert [r.verdict for r in record.rounds] == [r.verdict for r in honest.rounds]
    assert [f["node"] for r in record.rounds for f in r.faults] == [
        str(r.failed) for r in record.rounds
    ]
    refused = [x for r in record.rounds for x in r.refused]
    assert refused and all("not alive" in x["reason"] for x in refused)


async def test_link_faults_keep_the_verdict_and_record_their_links():
    honest = await run_trial(FIVE, 2, transport="memory")
    specs = plan(
        {"kind": "link", "target": "all", "rate": 1.0, "loss": 0.2, "delay": 0.002, "reorder": 0.1}
    )
    record = await run_trial(FIVE, 2, transport="memory", faults=specs)
    assert [r.outcome() for r in record.rounds] == [r.outcome() for r in honest.rounds]
    assert [r.stored for r in record.rounds] == [r.stored for r in honest.rounds]
    for rnd in record.rounds:
        (fault,) = rnd.faults
        assert [tuple(x) for x in fault["links"]][: FIVE.parents] == [
            (str(p), str(rnd.newcomer)) for p in rnd.parents
        ]


async def test_same_seed_same_faults_and_verdicts():
    specs = plan(
        {"kind": "crash", "target": "peer", "when": "mid-collect", "rate": 0.3},
        {"kind": "zombie", "rate": 0.5},
    )
    runs = [await run_trial(FIVE, 5, transport="memory", faults=specs) for _ in range(2)]
    a, b = ([(r.outcome(), r.verdict, r.faults) for r in run.rounds] for run in runs)
    assert a == b


def test_faults_stream_to_the_history_through_the_runner(tmp_path: Path):
    history = tmp_path / "run.jsonl"
    specs = plan({"kind": "zombie", "round": 1})
    result = run_point(
        FIVE.with_(trials=1, rounds=1), transport="memory", history=history, faults=specs
    )
    (rnd,) = result.trials[0].rounds
    assert rnd.faults[0]["kind"] == "zombie"
    events = [json.loads(x)["event"] for x in history.read_text().splitlines()]
    assert "fault" in events
    assert read_history(history).rounds[0][1].faults == rnd.faults


# -- the same over WebRTC ----------------------------------------------------------------


@pytest.mark.webrtc
async def test_webrtc_crash_gives_the_memory_verdict_and_faults(monkeypatch):
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "0.5")
    specs = plan({"kind": "crash", "target": "parent", "when": "mid-repair", "round": 2})
    memory = await run_trial(FIVE, 0, transport="memory", faults=specs)
    webrtc = await run_trial(FIVE, 0, transport="webrtc", faults=specs)
    for record in (memory, webrtc):
        assert record.rounds[-1].verdict == "repair-timeout"
    assert [(r.outcome(), r.verdict, r.faults) for r in webrtc.rounds] == [
        (r.outcome(), r.verdict, r.faults) for r in memory.rounds
    ]


@pytest.mark.webrtc
async def test_webrtc_link_loss_gives_the_memory_verdict_and_faults():
    params = FIVE.with_(rounds=2)
    specs = plan({"kind": "link", "target": "collect", "rate": 1.0, "loss": 0.05, "delay": 0.002})
    memory = await run_trial(params, 3, transport="memory", faults=specs)
    webrtc = await run_trial(params, 3, transport="webrtc", faults=specs)
    assert all(r.verdict == "ok" for r in webrtc.rounds) and len(webrtc.rounds) == 2
    assert [(r.outcome(), r.verdict, r.faults, r.stored) for r in webrtc.rounds] == [
        (r.outcome(), r.verdict, r.faults, r.stored) for r in memory.rounds
    ]


# -- pollution on a schedule, and faults kept to chosen nodes ------------------------------


def test_nodes_keep_a_fault_to_the_ids_named_and_round_trip():
    spec = FaultSpec.from_mapping(
        {"kind": "pollute", "target": "parent", "when": "mid-repair", "nodes": [3], "rate": 1.0}
    )
    assert FaultSpec.from_mapping(spec.to_dict()) == spec and spec.nodes == (3,)
    specs = FaultPlan((spec,))
    struck = []
    for trial in range(40):
        server = stream_for(FIVE.seed, trial, 1, Role.SERVER)
        failed = failed_peer(FIVE, 1, [1, 2, 3, 4, 5], server)
        survivors = [x for x in [1, 2, 3, 4, 5] if x != failed]
        parents = sorted(choose_parents(server, survivors, FIVE.parents))
        got = round_faults(specs, FIVE, trial, 1, [1, 2, 3, 4, 5])
        assert [f.node for f in got] == (["3"] if 3 in parents else [])
        struck.append(bool(got))
    assert any(struck) and not all(struck)  # peer 3 is a parent in some rounds, not all


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (
            {"kind": "pollute", "target": "peer", "when": "mid-repair", "round": 1},
            "target = 'parent'",
        ),
        ({"kind": "crash", "nodes": [], "round": 1}, "non-empty list"),
        ({"kind": "crash", "nodes": ["3"], "round": 1}, "peer ids"),
        ({"kind": "crash", "nodes": [0], "round": 1}, "peer ids"),
        ({"kind": "link", "nodes": [2], "loss": 0.1, "round": 1}, "only for node faults"),
    ],
)
def test_bad_pollute_and_nodes_specs_name_the_problem(spec, problem):
    with pytest.raises(FaultError, match=problem):
        FaultSpec.from_mapping(spec)


@pytest.mark.parametrize("when", ["mid-collect", "mid-repair"])
async def test_a_scheduled_polluter_is_caught_and_named(when):
    """A polluting peer (its collect batch) or parent (its upload, recoded by an honest
    newcomer): the round is ``corrupt``, never ``ok``, and the polluter is the one named."""
    target = "parent" if when == "mid-repair" else "peer"
    specs = plan({"kind": "pollute", "target": target, "when": when, "round": 2})
    for trial in range(3):
        honest = await run_trial(FIVE, trial, transport="memory")
        record = await run_trial(FIVE, trial, transport="memory", faults=specs)
        assert [r.outcome() for r in record.rounds[:1]] == [r.outcome() for r in honest.rounds[:1]]
        last = record.rounds[-1]
        (fault,) = last.faults
        assert last.round == 2 and last.verdict == "corrupt", last
        assert last.polluters == [fault["node"]]
        if target == "parent":
            assert int(fault["node"]) in last.parents


# -- the signaling plane interrupted between rounds --------------------------------------

SIGNALING = [
    {"kind": "server-restart", "round": 1, "downtime": 0.1},
    {"kind": "collector-reconnect", "rate": 1.0},
]


@pytest.mark.parametrize("spec", SIGNALING, ids=lambda v: v["kind"])
async def test_signaling_interruptions_change_no_decision(spec):
    """Every node that was connected rejoins its own slot by itself; nothing of the trial
    changes but time (same outcomes, stored packets and verdicts as without the fault)."""
    honest = await run_trial(FIVE, 0, transport="memory")
    async with Cluster(FIVE, 0, transport="memory", faults=plan(spec)) as cluster:
        record = await cluster.run()
    assert [(r.outcome(), r.verdict, r.stored) for r in record.rounds] == [
        (r.outcome(), r.verdict, r.stored) for r in honest.rounds
    ]
    expected_rounds = [1] if spec["kind"] == "server-restart" else [1, 2, 3]
    assert [i["round"] for i in cluster.interruptions] == expected_rounds
    assert all(not i["missing"] for i in cluster.interruptions)
    if spec["kind"] == "server-restart":
        (restart,) = cluster.interruptions
        # everyone connected after round 1: the engine, the collector, the 4 survivors and
        # newcomer 6 - not peer 2's slot or whoever failed (it left for good)
        first = record.rounds[0]
        alive = {str(x) for x in range(1, FIVE.peers + 1)} - {str(first.failed)}
        assert restart["rejoined"] == sorted({"engine", "collector", str(first.newcomer)} | alive)
        assert str(record.rounds[0].failed) not in cluster.server.rejoined
    else:
        assert cluster.controller.rejoins == ["collector"] * 3
    assert [f["kind"] for f in record.rounds[0].faults] == [spec["kind"]]


async def test_a_restart_after_the_last_round_still_ends_the_trial_cleanly():
    params = FIVE.with_(rounds=1)
    specs = plan({"kind": "server-restart", "round": 1})
    async with Cluster(params, 0, transport="memory", faults=specs) as cluster:
        record = await cluster.run()
    assert [r.verdict for r in record.rounds] == ["ok"] and len(cluster.interruptions) == 1


def test_signaling_fault_specs_check_their_keys():
    assert FaultSpec.from_mapping({"kind": "server-restart", "round": 2}).target == "server"
    with pytest.raises(FaultError, match="downtime is only for"):
        FaultSpec.from_mapping({"kind": "crash", "round": 1, "downtime": 0.1})
    with pytest.raises(FaultError, match="nodes is only for node faults"):
        FaultSpec.from_mapping({"kind": "server-restart", "round": 1, "nodes": [1]})
    with pytest.raises(FaultError, match="downtime must be a number"):
        FaultSpec.from_mapping({"kind": "server-restart", "round": 1, "downtime": 60})


@pytest.mark.webrtc
async def test_webrtc_server_restart_gives_the_memory_records():
    """Over real WebRTC the data channels outlive the signaling server's restart."""
    specs = plan({"kind": "server-restart", "round": 1, "downtime": 0.05})
    memory = await run_trial(FIVE, 1, transport="memory", faults=specs)
    webrtc = await run_trial(FIVE, 1, transport="webrtc", faults=specs)
    assert len(webrtc.rounds) == FIVE.rounds
    assert [(r.outcome(), r.verdict, r.faults, r.stored) for r in webrtc.rounds] == [
        (r.outcome(), r.verdict, r.faults, r.stored) for r in memory.rounds
    ]


async def test_a_node_that_does_not_rejoin_is_signaling_lost_and_named(fast_timeouts):
    """If the restarted server does not get a node back, the trial ends ``signaling-lost``
    naming it - not a later round's timeout - and the held round never starts."""
    specs = plan({"kind": "server-restart", "round": 1})
    async with Cluster(FIVE, 0, transport="memory", faults=specs) as cluster:
        run = asyncio.ensure_future(cluster.run())
        async with asyncio.timeout(10):
            while not any(n.role == "engine" for n in cluster.nodes):
                await asyncio.sleep(0.005)
        (engine,) = [n for n in cluster.nodes if n.role == "engine"]
        engine.signaling._rejoin = None  # this one will not come back by itself
        record = await run
    assert [r.verdict for r in record.rounds] == ["ok", "signaling-lost"]
    assert "engine did not rejoin" in record.rounds[-1].error
    assert cluster._slots_started["newcomer"] == 1  # round 2's newcomer was never started
