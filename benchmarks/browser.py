"""Browser peers against aiortc peers: the 10-peer repair round, Chromium's start and memory.

Measured in one run, over the same trials (same seed: the same failures, parents and packets
in every configuration; the outcomes are checked to agree), for the 10-peer cluster of
``benchmarks/cluster.py`` (RLNC, k = 20, 220-byte symbols, r = 2, P = 3):

* configurations: (1) every peer and newcomer an aiortc node; (2) peers 1..3 and every
  newcomer Chromium pages (``rlnc_testbed/web/peer.js``), the rest aiortc; (3) every peer
  and newcomer a Chromium page (``--no-all-browser`` leaves it out). Trials are interleaved
  (trial t of each configuration, then t + 1), so load drifts hit all alike; one shared
  Chromium serves every trial (each opens and closes its own pages);
* setup: cluster start -> round 1 begins (joins, page loads, links, distribution);
* round: failure -> verified, and its phases: failing = fail sent -> newcomer joined (an
  aiortc newcomer starts in-process; a browser newcomer's page, opened ahead, is started and
  joins), repairing = newcomer joined -> its ``stored``, collecting = ``stored`` -> verdict;
  medians over every round of every trial, and each configuration's ratio to the aiortc one;
* newcomer start (browser newcomers): each newcomer's page is opened ahead, in standby
  (``rlnc_testbed.browser.StandbyPages``: round 1's during setup, round r+1's as round r's
  newcomer starts), so its round pays only the start; the breakdown, medians over every
  newcomer: ahead = the page's new page, load (page, modules) and ready (media permission)
  steps and how long before its round's failure it was ready (negative: its round waited);
  in the round = failure -> start asked (the page taken), the start call (the page's answer
  comes about when its join does), started -> joined (websocket, join, welcome) and the
  failing phase in all;
* Chromium: start (``Chromium.start()``: launch -> ready, fresh profile) and stop, medians
  over ``--starts`` launches; its memory idle (no page) and per page while the pages run
  peers: RSS and PSS summed over the Chromium process tree (browser, zygotes, GPU/utility
  and renderer processes), sampled every 0.25 s; per page = (sample - idle) / open pages
  (a newcomer's page waiting in standby counts as one),
  median over the samples (RSS counts shared pages once per process; PSS splits them).

Between two Chromium pages the offering page picks the ICE pair from the host's cheapest
network, whatever the SDPs say (tests/test_browser_cluster.py); to keep every packet on
127.0.0.1 the benchmark re-runs itself in a network namespace with nothing but loopback
(``experiment.hosts.loopback_only``; needs root) unless ``--here``. One warm-up trial per
configuration (one round) comes first, not counted: numba's first calls, Chromium's caches.

    python benchmarks/browser.py [--trials 3] [--rounds 5] [--starts 3] [--no-all-browser]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from loopback import inside, rerun_unless_inside

from rlnc_testbed.browser import Chromium, unavailable
from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.protocol import Params

#: name -> Cluster options; the first is the baseline the ratios divide by.
CONFIGS: dict[str, dict[str, Any]] = {
    "aiortc": {},
    "3 browser + newcomers": {"browser_peers": 3, "browser_newcomers": True},
    "all browser": {"browser_peers": 10, "browser_newcomers": True},
}
PHASES = ("failing", "repairing", "collecting")
#: The newcomer-start breakdown: name -> (from, to), each a page mark (BrowserPage.marks) or
#: a phase of the newcomer's round (``failing`` began, ``repairing`` = it joined).
NEWCOMER_STEPS = {
    "new page": ("open", "page"),
    "load": ("page", "loaded"),
    "ready": ("loaded", "ready"),
    "ready ahead": ("ready", "failing"),
    "fail->start": ("failing", "start"),
    "start call": ("start", "started"),
    "start->joined": ("started", "repairing"),
    "failing": ("failing", "repairing"),
}
SAMPLE_SECONDS = 0.25
#: Bound on the whole benchmark when it re-runs itself in a namespace (seconds).
WHOLE_BOUND = 3 * 3600


def ten_peers(rounds: int) -> Params:
    return Params(peers=10, symbols=20, symbol_size=220, redundancy=2.0, parents=3,
                  scheme="rlnc", rounds=rounds, seed=1)  # fmt: skip


# -- Chromium's processes and their memory -------------------------------------------------


def _process_table() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every process we can read."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: the ppid follows the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        table[int(entry.name)] = (ppid, cmdline)
    return table


def chromium_tree(profile: str) -> list[int]:
    """Every process of the Chromium on ``profile``: those naming it, and their descendants."""
    table = _process_table()
    roots = {pid for pid, (_ppid, cmd) in table.items() if profile.encode() in cmd}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _cmd) in table.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, ()))
    return sorted(tree)


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(RSS, PSS) summed over ``pids``, in MB (processes gone meanwhile count nothing)."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return rss / 1024, pss / 1024


def chromium_memory(browser: Chromium) -> tuple[float, float]:
    profile = browser._profile  # the launcher's fresh profile directory names its processes
    return memory_mb(chromium_tree(profile)) if profile else (0.0, 0.0)


async def measure_starts(count: int) -> dict[str, Any]:
    """Start and stop Chromium ``count`` times: seconds each, and its idle memory."""
    starts, stops, idle = [], [], []
    version = ""
    for _ in range(count):
        browser = Chromium()
        began = time.monotonic()
        await browser.start()
        starts.append(time.monotonic() - began)
        version = browser.version
        await asyncio.sleep(0.5)  # let its helper processes settle
        idle.append(chromium_memory(browser))
        began = time.monotonic()
        await browser.close()
        stops.append(time.monotonic() - began)
    return {"version": version, "start": starts, "stop": stops, "idle": idle}


# -- trials --------------------------------------------------------------------------------


async def one_trial(
    params: Params, trial: int, options: dict[str, Any], browser: Chromium | None
) -> dict[str, Any]:
    """One trial; its timings (seconds), outcomes and, with browser pages, memory samples
    ``(open pages, RSS MB, PSS MB)``."""
    samples: list[tuple[int, float, float]] = []
    shared = {"browser": browser} if options else {}
    started = time.monotonic()
    async with Cluster(params, trial, transport="webrtc", **options, **shared) as cluster:

        async def sample() -> None:
            while True:
                await asyncio.sleep(SAMPLE_SECONDS)
                pages = sum(not page.done for page in cluster.browser_pages)
                if cluster.standby is not None:  # opened ahead, not started yet
                    pages += len(cluster.standby.waiting())
                if pages:
                    samples.append((pages, *chromium_memory(browser)))

        sampler = asyncio.ensure_future(sample()) if options and browser else None
        try:
            record = await cluster.run()
        finally:
            if sampler is not None:
                sampler.cancel()
    timeline = cluster.controller.timeline
    first = next((t for t, _r, phase in timeline if phase == "failing"), None)
    starts: dict[str, list[float]] = {step: [] for step in NEWCOMER_STEPS}
    for page in cluster.browser_pages:
        number = int(page.slot) - params.peers
        if number < 1:
            continue
        marks = dict(page.marks)
        for t, r, phase in timeline:
            if r == number and phase in ("failing", "repairing"):
                marks.setdefault(phase, t)
        for step, (begin, end) in NEWCOMER_STEPS.items():
            if begin in marks and end in marks:
                starts[step].append(marks[end] - marks[begin])
    phases: dict[str, list[float]] = {phase: [] for phase in PHASES}
    marks = [(t, phase) for t, r, phase in timeline if r >= 1]
    for (t0, ph0), (t1, _ph1) in itertools.pairwise(marks):
        if ph0 in phases:
            phases[ph0].append(t1 - t0)
    return {
        "setup": None if first is None else first - started,
        "rounds": [r.duration for r in record.rounds],
        "verified": [r.verified for r in record.rounds],
        "outcomes": [r.outcome() for r in record.rounds],
        "finish": record.finish,
        "error": record.error or "; ".join(e["text"] for e in record.browser_errors),
        "browsers": len(record.browsers),
        "samples": samples,
        "starts": starts,
        **phases,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    configs = {name: opts for name, opts in CONFIGS.items()
               if args.all_browser or name != "all browser"}  # fmt: skip
    params = ten_peers(args.rounds)
    starts = await measure_starts(args.starts)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    async with Chromium() as browser:
        await asyncio.sleep(0.5)
        idle = chromium_memory(browser)
        for name, options in configs.items():  # warm-up: one round each, not counted
            await one_trial(ten_peers(1), 99, options, browser)
            print(f"  warm-up: {name}", file=sys.stderr)
        for trial in range(args.trials):
            for name, options in configs.items():
                figures = await one_trial(params, trial, options, browser)
                results[name].append(figures)
                ok = sum(figures["verified"])
                print(f"  trial {trial} {name}: {ok}/{len(figures['rounds'])} rounds verified",
                      file=sys.stderr)  # fmt: skip
    return {"starts": starts, "idle": idle, "results": results, "params": params}


# -- report --------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ms(value: float | None) -> str:
    return "       -" if value is None else f"{value * 1e3:8.1f}"


def ratio(value: float | None, base: float | None) -> str:
    return "-" if not value or not base else f"x{value / base:.2f}"


def summarise(trials: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rounds": sum(len(t["rounds"]) for t in trials),
        "verified": sum(sum(t["verified"]) for t in trials),
        "setup": median([t["setup"] for t in trials]),
        "round": median([d for t in trials for d in t["rounds"]]),
        **{phase: median([d for t in trials for d in t[phase]]) for phase in PHASES},
        "errors": [t["error"] for t in trials if t["error"]],
        "browsers": max((t["browsers"] for t in trials), default=0),
        "samples": [s for t in trials for s in t["samples"]],
        "starts": {
            step: median([d for t in trials for d in t["starts"][step]]) for step in NEWCOMER_STEPS
        },
        "newcomers": sum(len(t["starts"]["failing"]) for t in trials),
    }


def report(data: dict[str, Any], args: argparse.Namespace) -> None:
    params: Params = data["params"]
    results = data["results"]
    rows = {name: summarise(trials) for name, trials in results.items()}
    base = rows["aiortc"]
    where = "loopback-only network namespace" if inside() else "host"
    print(
        f"\n{params.peers} peers, RLNC, k={params.symbols}, {params.symbol_size} B symbols, "
        f"r=2, P={params.parents}; {args.trials} trials x {args.rounds} rounds, real WebRTC, "
        f"{where} (medians, ms)"
    )
    head = f"{'configuration':<22} {'browsers':>8} {'verified':>8} {'setup':>8} {'round':>8}"
    print(
        head + "".join(f" {p:>10}" for p in PHASES) + f" {'round/aiortc':>12} {'setup/aiortc':>12}"
    )
    for name, row in rows.items():
        print(
            f"{name:<22} {row['browsers']:>8} {row['verified']:>4}/{row['rounds']:<3} "
            f"{ms(row['setup'])} {ms(row['round'])}"
            + "".join(f"   {ms(row[p])}" for p in PHASES)
            + f" {ratio(row['round'], base['round']):>12} {ratio(row['setup'], base['setup']):>12}"
        )
        for error in row["errors"]:
            print(f"    error: {error[:300]}")
    print("\nphase ratios to aiortc: " + "; ".join(
        f"{name}: " + ", ".join(f"{p} {ratio(row[p], base[p]).strip()}" for p in PHASES)
        for name, row in rows.items() if name != "aiortc"
    ))  # fmt: skip
    reference = [t["outcomes"] for t in results["aiortc"]]
    for name, trials in results.items():
        same = [t["outcomes"] for t in trials] == reference
        print(f"  {name}: outcomes {'equal to' if same else 'DIFFER from'} the aiortc run's")

    print("\nbrowser newcomer start (medians, ms): opened ahead | in its round")
    steps = list(NEWCOMER_STEPS)
    print(f"{'configuration':<22} {'n':>3}" + "".join(f" {step:>13}" for step in steps))
    for name, row in rows.items():
        if row["newcomers"]:
            print(f"{name:<22} {row['newcomers']:>3}"
                  + "".join(f" {ms(row['starts'][step]):>13}" for step in steps))  # fmt: skip

    starts = data["starts"]
    idle_rss, idle_pss = data["idle"]
    print(f"\n{starts['version']}, {len(starts['start'])} launches (fresh profile each):")
    print(
        f"  start {median(starts['start']):.2f} s (min {min(starts['start']):.2f}, "
        f"max {max(starts['start']):.2f}), stop {median(starts['stop']):.2f} s"
    )
    print(f"  idle, no page: RSS {idle_rss:.0f} MB, PSS {idle_pss:.0f} MB (the run's Chromium)")
    for name, row in rows.items():
        samples = row["samples"]
        if not samples:
            continue
        per_rss = median([(rss - idle_rss) / n for n, rss, _pss in samples])
        per_pss = median([(pss - idle_pss) / n for n, _rss, pss in samples])
        most = max(n for n, _r, _p in samples)
        peak = max(rss for _n, rss, _p in samples)
        peak_pss = max(pss for _n, _r, pss in samples)
        print(
            f"  {name}: per page running a peer RSS {per_rss:.0f} MB, PSS {per_pss:.0f} MB "
            f"(median of {len(samples)} samples; up to {most} pages open, "
            f"peak RSS {peak:.0f} MB, PSS {peak_pss:.0f} MB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=3, help="Chromium launches to time")
    parser.add_argument("--no-all-browser", dest="all_browser", action="store_false",
                        help="leave out the all-browser configuration")  # fmt: skip
    parser.add_argument("--here", action="store_true",
                        help="run on this host's network, not in a namespace")  # fmt: skip
    args = parser.parse_args()
    problem = unavailable()
    if problem:
        sys.exit(f"error: {problem}")
    rerun_unless_inside(__file__, here=args.here, bound=WHOLE_BOUND)
    logging.disable(logging.WARNING)
    data = asyncio.run(measure(args))
    report(data, args)


if __name__ == "__main__":
    main()
