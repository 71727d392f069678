"""Stress: many seeded loop tests with random scheduled faults; hangs must be 0.

Not a CI test. ``python benchmarks/stress.py [--memory 1000] [--webrtc 100] [--quick]
[--factor 0.1]``: trial t draws its fault plan from ``random.Random(t)`` (one or two specs of
any kind, by ``round`` or ``rate``), runs it over each transport inside an outer bound of
``max_units() * unit()`` + 5 s, and reports hangs (trials past that bound), rounds per
verdict, time to the final verdict per fault kind (median, max), and what leaked: asyncio
tasks left after a trial, child processes, open file descriptors.

It also checks the verdicts themselves: every round that no decision-changing fault touched
(none, or only zombie / link / collector-reconnect / server-restart faults) must give the
fault-free compiled simulator's outcome for the same seed ("decisions vs simulator"; an
``undecodable`` round there is data the honest system loses too), and every round a ``pollute``
fault struck must be ``corrupt`` naming exactly the polluter ("polluters named").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlnc_testbed.experiment.cluster import run_trial
from rlnc_testbed.protocol import Params
from rlnc_testbed.protocol.faults import FAULT_KINDS, FaultPlan
from rlnc_testbed.protocol.rounds import TrialController
from rlnc_testbed.simulation import simulate_trial
from rlnc_testbed.timeouts import unit

#: Faults that must change no decision (only time): their rounds must match the simulator.
HARMLESS = {"zombie", "link", "collector-reconnect", "server-restart"}

PARAMS = Params(scheme="rlnc", seed=11, peers=5, symbols=8, symbol_size=32, parents=2, rounds=3)


def random_plan(rng: random.Random, rounds: int) -> list[dict[str, Any]]:
    specs = []
    for _ in range(rng.choice((1, 1, 2))):
        kind = rng.choice(FAULT_KINDS)
        spec: dict[str, Any] = {"kind": kind}
        if rng.random() < 0.5:
            spec["round"] = rng.randint(1, rounds)
        else:
            spec["rate"] = rng.choice((0.1, 0.3, 0.5))
        if kind == "crash":
            spec["target"] = rng.choice(("parent", "peer"))
            spec["when"] = rng.choice(("mid-repair", "mid-collect"))
        if kind == "pollute":
            spec["target"], spec["when"] = rng.choice(
                (("peer", "mid-collect"), ("parent", "mid-collect"), ("parent", "mid-repair"))
            )
        if kind in ("collector-reconnect", "server-restart"):
            spec["downtime"] = rng.choice((0.0, 0.01, 0.05))
        if kind == "link":
            spec["target"] = rng.choice(("repair", "collect", "all"))
            spec["loss"] = rng.choice((0.0, 0.05, 0.2))
            spec["delay"] = rng.choice((0.0, 0.002, 0.01))
            spec["reorder"] = rng.choice((0.0, 0.1))
            if not (spec["loss"] or spec["delay"] or spec["reorder"]):
                spec["delay"] = 0.001
        specs.append(spec)
    return specs


def _children() -> int:
    me = str(os.getpid())
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me:
                count += 1
    return count


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def stress(transport: str, trials: int) -> dict[str, Any]:
    bound = TrialController(PARAMS, 0).max_units() * unit() + 5.0
    hangs = errors = 0
    verdicts: Counter[str] = Counter()
    times: dict[str, list[float]] = defaultdict(list)
    tasks_before = len(asyncio.all_tasks())
    fds_before = _fds()
    leaked_tasks = 0
    matched = mismatched = lost_honestly = 0
    polluted_rounds = named = 0
    started = time.monotonic()
    for trial in range(trials):
        plan = FaultPlan.from_list(random_plan(random.Random(trial), PARAMS.rounds))
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(bound):
                record = await run_trial(PARAMS, trial, transport=transport, faults=plan)
        except TimeoutError:
            hangs += 1
            continue
        except Exception as exc:
            errors += 1
            print(f"trial {trial}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        elapsed = time.monotonic() - t0
        honest = simulate_trial(PARAMS, trial).rounds
        for rnd in record.rounds:
            verdicts[rnd.verdict] += 1
            kinds_here = {f["kind"] for f in rnd.faults}
            if kinds_here <= HARMLESS and rnd.round <= len(honest):
                if rnd.outcome() == honest[rnd.round - 1].outcome():
                    matched += 1
                    lost_honestly += rnd.verdict == "undecodable"
                else:
                    mismatched += 1
                    print(
                        f"trial {trial} round {rnd.round}: {rnd.verdict} {rnd.faults}",
                        file=sys.stderr,
                    )
            pollutions = [f for f in rnd.faults if f["kind"] == "pollute"]
            if pollutions and not (kinds_here - {"pollute"} - HARMLESS):
                polluted_rounds += 1
                named += rnd.verdict == "corrupt" and rnd.polluters == sorted(
                    {f["node"] for f in pollutions}, key=int
                )
        kinds = {f["kind"] for rnd in record.rounds for f in rnd.faults} or {"none"}
        for kind in kinds:
            times[kind].append(elapsed)
        await asyncio.sleep(0)
        leaked_tasks = max(leaked_tasks, len(asyncio.all_tasks()) - tasks_before)
    return {
        "transport": transport,
        "trials": trials,
        "seconds": round(time.monotonic() - started, 1),
        "outer_bound_s": round(bound, 1),
        "hangs": hangs,
        "errors": errors,
        "rounds_per_verdict": dict(verdicts.most_common()),
        "time_to_verdict": {
            kind: {
                "trials": len(v),
                "median_s": round(statistics.median(v), 3),
                "max_s": round(max(v), 3),
            }
            for kind, v in sorted(times.items())
        },
        "decisions_vs_simulator": {
            "matched": matched,
            "mismatched": mismatched,
            "undecodable_also_in_simulator": lost_honestly,
        },
        "polluters_named": f"{named}/{polluted_rounds}",
        "leaked_tasks": leaked_tasks,
        "child_processes": _children(),
        "fds_leaked": _fds() - fds_before,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", type=int, default=1000)
    parser.add_argument("--webrtc", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="50 memory, 5 webrtc trials")
    parser.add_argument("--factor", default="0.1", help="RLNC_TIMEOUT_FACTOR (default 0.1)")
    args = parser.parse_args(argv)
    os.environ["RLNC_TIMEOUT_FACTOR"] = args.factor
    import logging

    logging.disable(logging.CRITICAL)
    memory, webrtc = (50, 5) if args.quick else (args.memory, args.webrtc)
    hangs = 0
    for transport, count in (("memory", memory), ("webrtc", webrtc)):
        if count:
            report = asyncio.run(stress(transport, count))
            hangs += report["hangs"]
            for key, value in report.items():
                print(f"{key:>20}: {value}")
            print()
    return 1 if hangs else 0


if __name__ == "__main__":
    raise SystemExit(main())
