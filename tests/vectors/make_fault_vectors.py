"""Generate ``faults.json``: vectors of "which faults happen when, to whom" (docs/protocol.md §7)
that the browser peer's ``rlnc_testbed/web/faults.js`` is checked against.

Run ``python tests/vectors/make_fault_vectors.py`` after a deliberate change of the fault
schedule; ``tests/test_browser_node_faults.py`` fails while the file and the Python
implementation disagree, and ``tests/js/faults.test.mjs`` checks the JS side against it.
Everything here comes from the Python side: ``protocol.faults.round_faults`` (the schedule the
cluster resolves for aiortc nodes) and, for the trial traces a page replays, the reference
simulator's failed peers, parents and newcomers round by round.

Sections:

* ``thresholds``: ``[rate, round(rate * PPM)]`` - Python's round-half-even on the float
  product, including ties (``2.5e-6`` is 2, ``3.5e-6`` is 4).
* ``rounds``: one round each - plan (``FaultPlan.to_list()``), params (``Params.to_dict()``),
  trial, round, the ascending alive peers, and the faults (``Fault.to_dict()``).
* ``triggers``: ``[kind, target, when, trigger]`` for every node fault (``faults.trigger``:
  the server message a node acts on).
* ``trials``: a plan, params and trial, and per round (as the simulator played it) the alive
  peers it started with, its failed peer, parents, newcomer and faults - what a page that
  knows only the plan and the params must replay (``FaultSchedule``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from rlnc_testbed.protocol.faults import (  # noqa: E402
    _KINDS,
    NODE_KINDS,
    PPM,
    Fault,
    FaultPlan,
    round_faults,
    trigger,
)
from rlnc_testbed.protocol.params import Params  # noqa: E402
from rlnc_testbed.simulation.reference import simulate_trial  # noqa: E402

__all__ = ["build", "main", "rendered"]

NAME = "faults.json"

RATES = [0.0, 1.0, 0.5, 0.3, 0.7, 1 / 3, 2 / 3, 5e-7, 1.5e-6, 2.5e-6, 3.5e-6, 0.1234565,
         0.9999995, 0.0000045, 0.2500005]  # fmt: skip

#: Plans mixing every kind, rates and rounds, ``nodes`` filters, and specs that only take
#: up a FAULT stream index (signaling, link).
PLANS: list[list[dict[str, Any]]] = [
    [{"kind": "crash", "target": "parent", "rate": 0.5}],
    [
        {"kind": "crash", "target": "peer", "when": "mid-collect", "rate": 0.3},
        {"kind": "zombie", "rate": 0.5},
        {"kind": "silent", "rate": 0.25},
    ],
    [
        {"kind": "server-restart", "round": 1, "downtime": 0.1},
        {"kind": "pollute", "target": "parent", "when": "mid-repair", "nodes": [3], "rate": 1.0},
        {"kind": "link", "target": "all", "rate": 0.6, "loss": 0.1, "delay": 0.002},
        {"kind": "newcomer-crash", "rate": 0.4},
    ],
    [
        {"kind": "pollute", "target": "peer", "when": "mid-collect", "nodes": [2, 7, 9],
         "rate": 0.9},
        {"kind": "crash", "target": "peer", "when": "mid-repair", "round": 2},
        {"kind": "collector-reconnect", "rate": 1.0},
        {"kind": "zombie", "nodes": [1, 4], "rate": 1.0},
        {"kind": "crash", "target": "parent", "when": "mid-collect", "rate": 2.5e-6},
    ],
]  # fmt: skip

PARAMS = [
    Params(scheme="rlnc", seed=4, peers=5, symbols=8, symbol_size=16, parents=2, rounds=4),
    Params(scheme="replication", seed=2026, peers=7, symbols=7, symbol_size=8, parents=3,
           rounds=5, redundancy=3.0),
    Params(scheme="coded-copy", seed=11, peers=4, symbols=4, symbol_size=8, parents=1, rounds=3,
           failures=(2, 5)),
]  # fmt: skip

ALIVES = [[1, 2, 3, 4, 5], [2, 3, 5, 6, 7, 8], [1, 4, 9, 10, 11, 12, 13]]


def _faults(plan: FaultPlan, params: Params, trial: int, number: int, alive: list[int]) -> Any:
    return [f.to_dict() for f in round_faults(plan, params, trial, number, alive)]


def build() -> dict[str, Any]:
    plans = [FaultPlan.from_list(p) for p in PLANS]
    rounds = []
    for plan in plans:
        for params in PARAMS[:2]:
            for alive in ALIVES:
                if len(alive) <= params.parents:
                    continue
                for trial, number in ((0, 1), (3, 2), (17, 4)):
                    rounds.append(
                        {
                            "plan": plan.to_list(),
                            "params": params.to_dict(),
                            "trial": trial,
                            "round": number,
                            "alive": alive,
                            "faults": _faults(plan, params, trial, number, alive),
                        }
                    )
    trials = []
    for plan in plans:
        for params in PARAMS:
            for trial in (0, 1, 5):
                alive = list(range(1, params.peers + 1))
                played = []
                for rnd in simulate_trial(params, trial).rounds:
                    played.append(
                        {
                            "round": rnd.round,
                            "alive": list(alive),
                            "failed": rnd.failed,
                            "parents": list(rnd.parents),
                            "newcomer": rnd.newcomer,
                            "faults": _faults(plan, params, trial, rnd.round, alive),
                        }
                    )
                    alive = sorted([x for x in alive if x != rnd.failed] + [rnd.newcomer])
                trials.append(
                    {
                        "plan": plan.to_list(),
                        "params": params.to_dict(),
                        "trial": trial,
                        "rounds": played,
                    }
                )
    triggers = []
    for kind in NODE_KINDS:
        targets, whens = _KINDS[kind]
        for target in targets:
            for when in whens:
                if (kind, target, when) == ("pollute", "peer", "mid-repair"):
                    continue  # not a valid spec
                fault = Fault(0, kind, target, when, node="1")
                triggers.append([kind, target, when, trigger(fault)])
    return {
        "ppm": PPM,
        "triggers": triggers,
        "thresholds": [[rate, round(rate * PPM)] for rate in RATES],
        "rounds": rounds,
        "trials": trials,
    }


def rendered() -> dict[str, str]:
    """File name -> the text it must hold."""
    return {NAME: json.dumps(build(), indent=1, sort_keys=True) + "\n"}


def main() -> None:
    for name, text in rendered().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
