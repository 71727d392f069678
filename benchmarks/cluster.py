"""Cluster timings over real WebRTC: setup, repair rounds, and where a round's time goes.

Reports medians over several trials, measured in one run, for the 3-peer RLNC workflow and a
10-peer cluster (k=20, 220-byte symbols, r=2, P=3):

* setup: cluster start -> every peer stored its packets and the collector holds the source
  (all signaling joins, 11-12 WebRTC connections, distribution);
* round: failure -> verified retrieval (fail, newcomer joins, parents upload over new
  channels, newcomer recodes, every peer uploads to the collector, decode, verify);
* the round's breakdown, five steps that add up to it:
  - failing: fail sent -> the newcomer joined (its start and signaling join);
  - connect: newcomer joined -> the last of its P parents' repair channels open and its
    first message read (signaling ``repair``, offers/answers relayed, ICE, DTLS, SCTP);
  - repair transfer: -> the newcomer's ``stored`` (the uploads, its recoding, the report);
  - collect: -> the collector read the last batch of the round (every alive peer's batch
    over its warm link, the newcomer's provenance);
  - verify: -> the round's verdict (decode, verify, report, ``nextRound``).

Every node is in this one process, so a round is CPU-bound: its wall time is the process's CPU
time (also printed: the machine's load moves it least), and the load moves both (compare
ratios measured in one run, not absolute figures across runs).

With ``--compare`` (the default) the 10-peer trials alternate between transport configurations
(:class:`rlnc_testbed.transport.tuning.Tuning`), each trial on a fresh event loop, and the
ratio of their medians is printed with the median of per-trial-pair ratios (pairing keeps it
meaningful while the machine's speed drifts): ``before`` = a node's one certificate and SCTP
bundling only; ``after`` = every speed-up (also the lean setup: one SCTP initiator, no SRTP
keys, one fingerprint; the quick close; delayed SACKs). ``--uvloop`` adds a third, ``after``
on uvloop's event loop (``pip install uvloop``); ``--node-hosts W`` another, ``after`` with the
peers and newcomers in W node host processes (``Cluster(node_hosts=W)``: the round uses every
core; its CPU figures are this process's only, and its breakdown is left out: the probes see
only this process).

Target (issue 13): a 10-peer repair round in <= 40 ms median.

    python benchmarks/cluster.py [--trials 6] [--rounds 6] [--no-compare] [--uvloop]
                                 [--node-hosts W]
                                 [--node-hosts W]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

from rlnc_testbed import wire
from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.protocol import Params
from rlnc_testbed.roles import Collector, Newcomer
from rlnc_testbed.roles.streams import MessageReader
from rlnc_testbed.transport.tuning import Tuning, tuning

#: The configurations ``--compare`` alternates, in this order within each pair of trials.
CONFIGS = {
    "before": Tuning(lean_setup=False, quick_close=False, delayed_sack=False),
    "after": Tuning(),
}
STEPS = ("failing", "connect", "repair transfer", "collect", "verify")


class _Marks:
    """(clock time, round, what) stamps the probing roles leave, on the controller's clock."""

    def __init__(self) -> None:
        self.stamps: list[tuple[float, int, str]] = []

    def add(self, number: int, what: str) -> None:
        self.stamps.append((time.monotonic(), number, what))


class _CpuTimeline(list[tuple[float, int, str]]):
    """The controller's timeline, also noting this process's CPU time at each phase change
    (a round's CPU seconds: what the machine's load moves least)."""

    def __init__(self, entries: list[tuple[float, int, str]]) -> None:
        super().__init__(entries)
        self.cpu: list[tuple[float, int, str]] = [(time.process_time(), r, p) for _, r, p in self]

    def append(self, entry: tuple[float, int, str]) -> None:
        super().append(entry)
        self.cpu.append((time.process_time(), entry[1], entry[2]))


def round_cpu(cpu: list[tuple[float, int, str]]) -> list[float]:
    """CPU seconds of each round (its failing phase to the next phase change after collecting)."""
    out = []
    for i, (t, number, phase) in enumerate(cpu):
        if number >= 1 and phase == "failing":
            end = next(
                (u for u, _n, p in cpu[i + 1 :] if p not in ("repairing", "collecting")), None
            )
            if end is not None:
                out.append(end - t)
    return out


def probing_roles(marks: _Marks) -> dict[str, type[Any]]:
    """Newcomer and collector classes that behave exactly as the real ones and stamp when a
    repair batch's first message arrived, when the newcomer stored, and when the collector
    read each batch."""

    class ProbeNewcomer(Newcomer):
        async def on_channel(self, hello: wire.Hello, reader: MessageReader) -> int:
            if hello.purpose == "repair":
                marks.add(hello.round, "repair open")
            return await super().on_channel(hello, reader)

    class ProbeCollector(Collector):
        async def on_channel(self, hello: wire.Hello, reader: MessageReader) -> int:
            if hello.purpose not in ("collect", "provenance"):
                return await super().on_channel(hello, reader)

            class Stamped(MessageReader):
                async def next(self, *, timeout_units: float | None = None) -> wire.Message:
                    message = await super().next(timeout_units=timeout_units)
                    if isinstance(message, wire.Done):
                        marks.add(hello.round, "batch read")
                    return message

            return await super().on_channel(hello, Stamped(reader.channel))

    return {"newcomer": ProbeNewcomer, "collector": ProbeCollector}


def breakdown(
    timeline: list[tuple[float, int, str]], stamps: list[tuple[float, int, str]]
) -> dict[int, dict[str, float]]:
    """Each round's five steps (seconds) from the controller's phases and the probes' stamps."""
    phases: dict[int, dict[str, float]] = defaultdict(dict)
    for t, number, phase in timeline:
        phases[number].setdefault(phase, t)
    ends = sorted(t for t, _n, _p in timeline)
    out: dict[int, dict[str, float]] = {}
    for number, marks in phases.items():
        if number < 1 or not {"failing", "repairing", "collecting"} <= marks.keys():
            continue
        end = next((t for t in ends if t > marks["collecting"]), None)
        opened = [t for t, n, what in stamps if n == number and what == "repair open"]
        read = [t for t, n, what in stamps if n == number and what == "batch read"]
        if end is None or not opened or not read:
            continue
        connect_end, collect_end = max(opened), max(read)
        out[number] = {
            "failing": marks["repairing"] - marks["failing"],
            "connect": connect_end - marks["repairing"],
            "repair transfer": marks["collecting"] - connect_end,
            "collect": collect_end - marks["collecting"],
            "verify": end - collect_end,
        }
    return out


async def one_trial(
    params: Params, trial: int, choice: Tuning | None, node_hosts: int = 0
) -> dict[str, Any]:
    marks = _Marks()
    started = time.monotonic()
    with tuning(choice or Tuning()):
        async with Cluster(
            params,
            trial,
            transport="webrtc",
            roles=probing_roles(marks),
            node_hosts=node_hosts,
        ) as c:
            c.controller.timeline = cpu = _CpuTimeline(c.controller.timeline)
            record = await c.run()
    timeline = c.controller.timeline
    first_round = next(t for t, _r, phase in timeline if phase == "failing")
    return {
        "setup": first_round - started,
        "rounds": [r.duration for r in record.rounds],
        "cpu": round_cpu(cpu.cpu),
        "verified": [r.verified for r in record.rounds],
        "steps": breakdown(timeline, marks.stamps),
    }


Runner = Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]]
#: A configuration: the transport tuning, the event loop's runner, node host processes.
Config = tuple[Tuning | None, Runner, int]


def measure(
    params: Params, trials: int, configs: dict[str, Config]
) -> dict[str, list[dict[str, Any]]]:
    """``trials`` trials per configuration, the configurations taking turns, each trial on an
    event loop of its own (as a ``run`` makes)."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    for trial in range(trials):
        for name, (choice, run, hosts) in configs.items():
            out[name].append(run(one_trial(params, trial, choice, hosts)))
    return out


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:7.1f} ms" if values else "      -   "


def report(name: str, results: list[dict[str, Any]]) -> float:
    """Print one configuration's medians; return its median round (seconds)."""
    rounds = [d for r in results for d in r["rounds"]]
    verified = [v for r in results for v in r["verified"]]
    steps = [s for r in results for s in r["steps"].values()]
    print(f"\n{name}")
    print(f"  setup (start -> distributed):  {_ms([r['setup'] for r in results])}")
    print(f"  round (failure -> verified):   {_ms(rounds)}   n={len(rounds)}")
    print(f"  round's CPU time:              {_ms([c for r in results for c in r['cpu']])}")
    for step in STEPS:
        print(f"    {step:<16}             {_ms([s[step] for s in steps])}")
    print(f"  rounds verified: {sum(verified)}/{len(verified)}")
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="trials per configuration")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per 10-peer trial")
    parser.add_argument(
        "--compare",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="alternate the before/after transport configurations (default: on)",
    )
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="also run every speed-up on uvloop's event loop (third configuration)",
    )
    parser.add_argument(
        "--node-hosts",
        type=int,
        default=0,
        metavar="W",
        help="also run every speed-up with the peers and newcomers in W node host processes "
        "(a configuration of its own; its round CPU and breakdown are not this process's)",
    )
    args = parser.parse_args()
    configs: dict[str, Config] = {
        name: (choice, asyncio.run, 0) for name, choice in CONFIGS.items()
    }
    if not args.compare:
        del configs["before"]
    if args.uvloop:
        import uvloop

        configs["after, uvloop"] = (Tuning(), uvloop.run, 0)
    if args.node_hosts:
        configs[f"after, {args.node_hosts} node hosts"] = (Tuning(), asyncio.run, args.node_hosts)
    three = Params(
        peers=3,
        symbols=6,
        symbol_size=1024,
        redundancy=2.0,
        parents=2,
        scheme="rlnc",
        failures=(2,),
        rounds=1,
        seed=1,
    )
    ten = Params(
        peers=10,
        symbols=20,
        symbol_size=220,
        redundancy=2.0,
        parents=3,
        scheme="rlnc",
        rounds=args.rounds,
        seed=1,
    )
    report("3 peers, RLNC (workflow 2)", measure(three, args.trials, {"": configs["after"]})[""])
    results = measure(ten, args.trials, configs)
    medians = {
        name: report(f"10 peers, RLNC, k=20, 220 B symbols, r=2, P=3: {name}", data)
        for name, data in results.items()
    }
    after = medians["after"]
    print(
        f"\n10-peer repair round median {after * 1e3:.1f} ms; target <= 40 ms: "
        f"{'met' if after <= 0.040 else 'NOT met'}"
    )
    others = [name for name in results if name != "before"] if "before" in results else []
    for name in others:
        for what in ("rounds", "cpu"):
            pairs = [
                statistics.median(a[what]) / statistics.median(b[what])
                for a, b in zip(results[name], results["before"], strict=True)
            ]
            every = {n: [x for r in results[n] for x in r[what]] for n in (name, "before")}
            ratio = statistics.median(every[name]) / statistics.median(every["before"])
            print(
                f"  {name}/before, round {'wall' if what == 'rounds' else 'CPU'} time: ratio "
                f"of medians {ratio:.2f}, median of paired trial ratios "
                f"{statistics.median(pairs):.2f} (n={len(pairs)})"
            )
    steps = [s for r in results["after"] for s in r["steps"].values()]
    if steps:
        shares = {step: statistics.median([s[step] for s in steps]) for step in STEPS}
        print(
            "  breakdown (after): "
            + ", ".join(f"{k} {v * 1e3:.1f} ms ({v / after:.0%})" for k, v in shares.items())
        )


if __name__ == "__main__":
    main()
