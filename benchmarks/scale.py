"""How a real-WebRTC cluster scales with N: start, memory and the cost of a repair round.

For each size N (default 10, 100, 300, 1000: k = 2N symbols of 64 bytes, r = 2, P = 3) this
runs whole 2-round trials, every node in this process (with ``--node-hosts W``: the peers and
newcomers in W node host processes, ``Cluster(node_hosts=W)``, which 1,000 peers fit in; with
``--processes``, each peer and newcomer its own OS process, which they do not), each trial in
a fresh child process so that its peak RSS is its own, and prints medians over ``--trials``:

* start: cluster start -> round 1 begins (all joins, every store/source/warm link open, the
  packets distributed);
* round 1 and round 2: a repair round, failure -> verified (and its phases: failing,
  repairing, collecting, medians over both rounds); round 1 pays each process's first numba
  calls and meets warm links still opening, round 2 is the steady cost the ratios compare;
* whole: the trial from start to its verdicts, and the child's CPU seconds and peak RSS;
* the round's work: the bytes the collector read (``collect_bytes``; with k = 2N every packet
  carries 2N coefficient bytes, so a round moves ~4N * (2N + 64) bytes, quadratic in N, and
  the rank takes ~k^3; ``--symbols K`` holds k, and so the bytes and the judging, the same at
  every N, which leaves the testbed's own per-peer cost to grow) and the collector's judging
  CPU (per-batch checks, rank), measured by a probing collector;

then the per-round cost ratios between consecutive sizes, against N's own ratio (the target:
round cost growing no faster than linearly in N) and against the ratio of the bytes the
round moved (the round's cost per collected byte: what the testbed adds to the work the
parameters ask for), and whether the 1,000-peer trial verified within 60 s. Figures are
measured in this one run; the machine's load moves them (compare the CPU seconds when it is
shared).

    python benchmarks/scale.py [--sizes 10,100,300,1000] [--trials 1] [--symbols K]
                               [--node-hosts W | --processes]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

SIZES = (10, 100, 300, 1000)
#: A size the issue asks to finish, verified, within this many seconds (whole trial).
TARGET = (1000, 60.0)


def params(n: int, symbols: int = 0) -> Any:
    """Size ``n``'s parameters: k = 2N symbols (Q = 4 per peer), or ``symbols`` for every N
    (the same work at every size, Q = floor(2k / N))."""
    from rlnc_testbed.protocol import Params

    return Params(
        peers=n,
        symbols=symbols or 2 * n,
        symbol_size=64,
        redundancy=2.0,
        parents=3,
        rounds=2,
        seed=1,
    )


def probing_collector(judged: dict[int, float]) -> type[Any]:
    """The real collector, noting each round's judging CPU seconds in ``judged``: the checks
    of each batch as it arrives and the round's verdict."""
    import contextvars

    from rlnc_testbed.roles import Collector

    reading: contextvars.ContextVar[int] = contextvars.ContextVar("reading", default=-1)

    def note(number: int, started: float) -> None:
        judged[number] = judged.get(number, 0.0) + time.process_time() - started

    class JudgeTimed(Collector):
        async def on_channel(self, hello: Any, reader: Any) -> int:
            reading.set(hello.round)  # this channel's task: the round its batch is for
            return await super().on_channel(hello, reader)

        def _delivery(self, batch: Any) -> Any:
            started = time.process_time()
            try:
                return super()._delivery(batch)
            finally:
                note(reading.get(), started)

        async def _judge(self, number: int, state: Any) -> None:
            started = time.process_time()
            try:
                await super()._judge(number, state)
            finally:
                note(number, started)

    return JudgeTimed


async def one_trial(n: int, processes: bool, node_hosts: int, symbols: int) -> dict[str, Any]:
    """One trial of size ``n``; its figures (seconds), measured inside this process."""
    import logging

    from rlnc_testbed.experiment.cluster import Cluster

    logging.disable(logging.WARNING)
    judged: dict[int, float] = {}
    started = time.monotonic()
    async with Cluster(
        params(n, symbols),
        0,
        transport="webrtc",
        processes=processes,
        node_hosts=node_hosts,
        roles={"collector": probing_collector(judged)},
    ) as cluster:
        record = await cluster.run()
    whole = time.monotonic() - started
    timeline = cluster.controller.timeline
    first = next((t for t, _r, phase in timeline if phase == "failing"), None)
    phases: dict[str, list[float]] = {"failing": [], "repairing": [], "collecting": []}
    marks = [(t, phase) for t, r, phase in timeline if r >= 1]
    for (t0, ph0), (t1, _ph1) in itertools.pairwise(marks):
        if ph0 in phases:
            phases[ph0].append(t1 - t0)
    return {
        "n": n,
        "start": None if first is None else first - started,
        "rounds": [r.duration for r in record.rounds],
        "collect_bytes": [r.collect_bytes for r in record.rounds],
        "judge": [judged.get(r.round, 0.0) for r in record.rounds],
        "verified": [r.verified for r in record.rounds],
        "finish": record.finish,
        "whole": whole,
        **phases,
    }


def child(n: int, processes: bool, node_hosts: int, symbols: int) -> None:
    """Run one trial and print its figures as one JSON line (with this process's CPU, RSS)."""
    figures = asyncio.run(one_trial(n, processes, node_hosts, symbols))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures["cpu"] = usage.ru_utime + usage.ru_stime + kids.ru_utime + kids.ru_stime
    figures["rss_mb"] = usage.ru_maxrss / 1024
    print(json.dumps(figures))


def run_child(n: int, processes: bool, node_hosts: int, symbols: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(n), "--node-hosts", str(node_hosts)]
    command += ["--symbols", str(symbols)]
    command += ["--processes"] if processes else []
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    wall = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"n": n, "error": f"exit {done.returncode}: {' | '.join(tail)}", "process": wall}
    figures: dict[str, Any] = json.loads(lines[-1])
    figures["process"] = wall
    return figures


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(seconds: float | None, unit: str = "s") -> str:
    if seconds is None:
        return "      -"
    if unit == "ms":
        return f"{seconds * 1e3:8.1f} ms"
    return f"{seconds:7.2f} s"


def summarise(n: int, trials: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [t for t in trials if "error" not in t]
    rounds = [d for t in ok for d in t["rounds"]]
    return {
        "n": n,
        "trials": len(trials),
        "errors": [t["error"] for t in trials if "error" in t],
        "verified": sum(all(t["verified"]) and t["finish"] == "max-round" for t in ok),
        "start": median([t["start"] for t in ok]),
        "round": median(rounds),
        "round1": median([t["rounds"][0] for t in ok if t["rounds"]]),
        "round2": median([t["rounds"][-1] for t in ok if len(t["rounds"]) > 1]),
        "mb2": median([t["collect_bytes"][-1] / 1e6 for t in ok if len(t["rounds"]) > 1]),
        "judge2": median([t["judge"][-1] for t in ok if len(t["rounds"]) > 1]),
        "failing": median([d for t in ok for d in t["failing"]]),
        "repairing": median([d for t in ok for d in t["repairing"]]),
        "collecting": median([d for t in ok for d in t["collecting"]]),
        "whole": median([t["whole"] for t in ok]),
        "process": median([t["process"] for t in trials]),
        "cpu": median([t["cpu"] for t in ok]),
        "rss_mb": median([t["rss_mb"] for t in ok]),
    }


def report(rows: list[dict[str, Any]], processes: bool, node_hosts: int, symbols: int) -> None:
    where = (
        "peers as OS processes"
        if processes
        else f"peers and newcomers in {node_hosts} node hosts"
        if node_hosts
        else "one process"
    )
    k = f"k = {symbols} (Q = 2k / N)" if symbols else "k = 2N (Q = 4)"
    print(f"\nreal WebRTC, {where}; {k}, 64 B symbols, r = 2, P = 3 (medians)")
    print(
        f"{'N':>6} {'ok':>5} {'start':>9} {'round 1':>11} {'round 2':>11} {'failing':>11} "
        f"{'repairing':>11} "
        f"{'collecting':>11} {'whole':>9} {'process':>9} {'cpu':>9} {'peak RSS':>9} "
        f"{'MB/round':>9} {'judging':>11}"
    )
    for row in rows:
        print(
            f"{row['n']:>6} {row['verified']:>2}/{row['trials']:<2} {fmt(row['start'])} "
            f"{fmt(row['round1'], 'ms')} {fmt(row['round2'], 'ms')} {fmt(row['failing'], 'ms')} "
            f"{fmt(row['repairing'], 'ms')} {fmt(row['collecting'], 'ms')} "
            f"{fmt(row['whole'])} {fmt(row['process'])} {fmt(row['cpu'])} "
            f"{row['rss_mb'] or 0:7.0f} MB {row['mb2'] or 0:9.3f} {fmt(row['judge2'], 'ms')}"
        )
        for error in row["errors"]:
            print(f"       error: {error}")
    print(
        "\nround 2 (steady: no first-call compiles, warm links in place) cost ratio between "
        "sizes,\nagainst N's ratio (target: at most linear in N) and the ratio of the bytes the "
        "round moved\n"
        + (
            f"(k = {symbols} at every N: the same bytes and judging, so the growth is the "
            "testbed's own per-peer cost)"
            if symbols
            else "(k = 2N: each packet's coefficients grow with N; per MB: the cost of the "
            "testbed per unit of work)"
        )
    )
    for small, big in itertools.pairwise(rows):
        if small["round2"] and big["round2"]:
            ratio = big["round2"] / small["round2"]
            start = big["start"] / small["start"] if small["start"] and big["start"] else 0
            grows = big["n"] / small["n"]
            work = big["mb2"] / small["mb2"] if small["mb2"] and big["mb2"] else float("nan")
            verdict = "at most linear" if ratio <= grows else "FASTER than linear"
            per_byte = "at most linear" if ratio <= work else "FASTER than linear"
            # With k fixed the bytes stay the same: a ratio per byte would say nothing more.
            in_bytes = (
                ""
                if symbols
                else f"; bytes x{work:6.2f}, per MB x{ratio / work:5.2f} ({per_byte} in the bytes)"
            )
            print(
                f"  N {small['n']:>5} -> {big['n']:<5} (x{grows:5.1f}): round x{ratio:6.2f} "
                f"({verdict} in N){in_bytes}; start x{start:6.2f}"
            )
    size, bound = TARGET
    for row in rows:
        if row["n"] == size:
            met = row["verified"] == row["trials"] and (row["process"] or 1e9) <= bound
            print(
                f"\n{size}-peer 2-round trial verified in {fmt(row['process']).strip()} whole "
                f"process; target <= {bound:.0f} s: {'met' if met else 'NOT met'}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument(
        "--processes", action="store_true", help="each peer and newcomer its own OS process"
    )
    parser.add_argument(
        "--node-hosts",
        type=int,
        default=0,
        metavar="W",
        help="the peers and newcomers in W node host processes (default 0: this process)",
    )
    parser.add_argument(
        "--symbols",
        type=int,
        default=0,
        metavar="K",
        help="k = K at every size (the same work: Q = floor(2K / N); K >= N / 2) instead of k = 2N",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.processes, args.node_hosts, args.symbols)
        return
    sizes = [int(x) for x in args.sizes.split(",") if x]
    rows = []
    for n in sizes:
        trials = [
            run_child(n, args.processes, args.node_hosts, args.symbols) for _ in range(args.trials)
        ]
        rows.append(summarise(n, trials))
        print(f"  N={n}: {rows[-1]['verified']}/{len(trials)} verified", file=sys.stderr)
    report(rows, args.processes, args.node_hosts, args.symbols)
    if os.environ.get("SCALE_JSON"):
        with open(os.environ["SCALE_JSON"], "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
