"""The server's round control without I/O: decisions, phases, timeouts and hostile input."""

from __future__ import annotations

from rlnc_testbed.protocol import Params, Role, stream_for
from rlnc_testbed.protocol.rounds import Finish, Phase, Send, SpawnNewcomer, TrialController
from rlnc_testbed.protocol.rules import choose_parents, failed_peer


def sends(actions, kind):
    return [a for a in actions if isinstance(a, Send) and a.message["type"] == kind]


def join_all(ctl: TrialController, peers: int) -> list:
    ctl.joined("collector", "collector")
    for i in range(1, peers + 1):
        ctl.joined(str(i), "peer")
    ctl.joined("engine", "engine")
    return ctl.actions_to_take()


def distribute(ctl: TrialController, peers: int) -> list:
    for i in range(1, peers + 1):
        ctl.message(str(i), {"type": "stored", "round": 0, "count": 4, "rank": 4})
    ctl.message("collector", {"type": "stored", "round": 0, "count": 100, "rank": 0})
    return ctl.actions_to_take()


def test_joining_then_distribute_sends_params_to_everyone():
    ctl = TrialController(Params(peers=3, parents=2), trial=5)
    actions = join_all(ctl, 3)
    params = sends(actions, "params")
    assert sorted(a.to for a in params) == ["1", "2", "3", "collector", "engine"]
    assert all(a.message["trial"] == 5 for a in params)
    (dist,) = sends(actions, "distribute")
    assert dist.to == "engine" and dist.message["peers"] == ["1", "2", "3"]
    assert ctl.phase is Phase.DISTRIBUTING


def test_full_round_uses_seeded_decisions():
    p = Params(peers=10, parents=3, seed=42, rounds=2)
    ctl = TrialController(p, trial=3, packet_bytes=100)
    join_all(ctl, 10)
    actions = distribute(ctl, 10)
    server = stream_for(42, 3, 1, Role.SERVER)
    failed = failed_peer(p, 1, range(1, 11), server)
    parents = choose_parents(server, [x for x in range(1, 11) if x != failed], 3)
    (fail,) = sends(actions, "fail")
    assert fail.to == str(failed)
    assert SpawnNewcomer(round=1) in actions
    assert ctl.phase is Phase.FAILING

    ctl.joined("11", "newcomer")
    actions = ctl.actions_to_take()
    (expect,) = sends(actions, "expect")
    assert expect.to == "11" and expect.message["parents"] == [str(x) for x in parents]
    assert sorted(a.to for a in sends(actions, "repair")) == sorted(str(x) for x in parents)
    assert {a.to for a in sends(actions, "new id")} >= {"collector", "engine"}
    assert ctl.phase is Phase.REPAIRING

    ctl.message("11", {"type": "stored", "round": 1, "count": 4, "rank": 12, "received": 12})
    actions = ctl.actions_to_take()
    collect_to = sorted(int(a.to) for a in sends(actions, "collect"))
    assert collect_to == sorted([x for x in range(1, 11) if x != failed] + [11])
    ctl.message(
        "collector",
        {
            "type": "collected",
            "round": 1,
            "report": {
                "global_rank": 20,
                "decoded": True,
                "verified": True,
                "verdict": "ok",
                "packets": 40,
            },
        },
    )
    ctl.message("collector", {"type": "nextRound", "round": 1})
    actions = ctl.actions_to_take()
    assert SpawnNewcomer(round=2) in actions
    (record,) = ctl.record.rounds
    assert record.outcome() == (1, failed, 11, parents, 12, 20, True, True)
    assert record.repair_bytes == 1200 and record.collect_bytes == 4000


def test_end_signal_finishes_and_closes_everyone():
    p = Params(peers=3, parents=2, redundancy=1.0, failures=(2,), rounds=5)
    ctl = TrialController(p, trial=0)
    join_all(ctl, 3)
    distribute(ctl, 3)
    ctl.joined("4", "newcomer")
    ctl.message("4", {"type": "stored", "round": 1, "count": 2, "rank": 4, "received": 4})
    ctl.actions_to_take()
    ctl.message(
        "collector",
        {
            "type": "collected",
            "round": 1,
            "report": {
                "global_rank": 4,
                "decoded": False,
                "verified": False,
                "verdict": "undecodable",
            },
        },
    )
    ctl.message("collector", {"type": "end", "round": 1, "reason": "undecodable"})
    actions = ctl.actions_to_take()
    assert Finish(reason="end") in actions
    assert ctl.phase is Phase.DONE
    assert {a.to for a in sends(actions, "close")} >= {"1", "3", "4", "collector", "engine"}
    (record,) = ctl.record.rounds
    assert record.verdict == "undecodable" and not ctl.record.success


def test_silent_newcomer_is_a_repair_timeout():
    ctl = TrialController(Params(peers=3, parents=2, failures=(2,)), trial=0)
    join_all(ctl, 3)
    distribute(ctl, 3)
    ctl.joined("4", "newcomer")
    ctl.actions_to_take()
    assert ctl.deadline_units() > 0
    ctl.timed_out()
    actions = ctl.actions_to_take()
    assert Finish(reason="repair-timeout") in actions
    (record,) = ctl.record.rounds
    assert record.verdict == "repair-timeout" and not record.verified


def test_messages_from_the_wrong_node_or_round_are_ignored():
    ctl = TrialController(Params(peers=3, parents=2, failures=(2,)), trial=0)
    join_all(ctl, 3)
    distribute(ctl, 3)
    ctl.joined("4", "newcomer")
    ctl.actions_to_take()
    # A peer pretending to be the collector, a stale round, an unknown verb: no transition.
    ctl.message("1", {"type": "nextRound", "round": 1})
    ctl.message("4", {"type": "stored", "round": 7, "count": 4, "rank": 4})
    ctl.message("1", {"type": "bogus"})
    assert ctl.phase is Phase.REPAIRING
    assert ctl.actions_to_take() == []


def test_max_round_finishes():
    p = Params(peers=3, parents=2, rounds=1, failures=(1,))
    ctl = TrialController(p, trial=0)
    join_all(ctl, 3)
    distribute(ctl, 3)
    ctl.joined("4", "newcomer")
    ctl.message("4", {"type": "stored", "round": 1, "count": 4, "rank": 8, "received": 8})
    ctl.message(
        "collector",
        {
            "type": "collected",
            "round": 1,
            "report": {"global_rank": 6, "decoded": True, "verified": True},
        },
    )
    ctl.message("collector", {"type": "nextRound", "round": 1})
    assert Finish(reason="max-round") in ctl.actions_to_take()
    assert ctl.record.success
