"""Benchmark of the in-process simulator: numba compile, one point, the whole grid.

Prints medians of a few runs measured in this one process (plus two child processes for the
numba compile / cache-load times):

* compile: the fast path's kernels compiled into an empty numba cache, then loaded from it;
* point: 10,000 loop tests of (r=2, P=3, rlnc, GF(2^8), N=10, k=20, R=10) on 1 and 2 workers,
  and the reference (full payload) time per trial for the ratio;
* grid: r = 1.5..6.5 step 0.5, P = 1..9, replication/coded-copy/rlnc, 30 trials each, R=10,
  N=10, k=20, GF(2^8), on 1 process and on 2 (points spread over a process pool).

Run: ``python benchmarks/sim.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlnc_testbed.protocol.params import SCHEMES, Params  # noqa: E402
from rlnc_testbed.simulation import simulate_trial  # noqa: E402
from rlnc_testbed.simulation.fast import simulate_point, simulate_rows, warm_up  # noqa: E402

__all__ = ["main"]

_WARM = (
    "import time; t = time.perf_counter(); "
    "from rlnc_testbed.simulation.fast import warm_up; warm_up(); "
    "print(time.perf_counter() - t)"
)


def _child_seconds(cache_dir: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", _WARM], env=env, check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def _median(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _grid(trials: int) -> list[Params]:
    return [
        Params(
            peers=10, symbols=20, redundancy=r / 2, parents=p, scheme=s, rounds=10, trials=trials
        )
        for s in SCHEMES
        for r in range(3, 14)
        for p in range(1, 10)
    ]


def _run_point(params: Params) -> int:
    return len(simulate_rows(params, range(params.trials)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000, help="loop tests of the point")
    parser.add_argument("--repeats", type=int, default=3, help="runs per median")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    args = parser.parse_args(argv)
    trials, repeats, grid_trials = args.trials, args.repeats, 30
    if args.quick:
        trials, repeats, grid_trials = 500, 1, 3

    with tempfile.TemporaryDirectory() as cache:
        cold = _child_seconds(cache)
        cached = _child_seconds(cache)
    print(f"numba compile (empty cache): {cold:.2f} s; load from cache: {cached:.2f} s")
    warm_up()

    point = Params(
        peers=10,
        symbols=20,
        redundancy=2.0,
        parents=3,
        scheme="rlnc",
        field=256,
        rounds=10,
        trials=trials,
    )
    records = simulate_point(point)
    rounds = sum(len(r.rounds) for r in records)
    success = sum(r.success for r in records) / len(records)
    one = _median(lambda: simulate_point(point, workers=1), repeats)
    two = _median(lambda: simulate_point(point, workers=2), repeats)
    ref_n = max(20, trials // 100)
    ref = _median(lambda: [simulate_trial(point, t) for t in range(ref_n)], repeats) / ref_n
    print(
        f"point r=2 P=3 rlnc GF(2^8) N=10 k=20 R=10: {trials} trials, {rounds} rounds played, "
        f"success {success:.3f}"
    )
    print(f"  1 worker : {one:.2f} s ({one / rounds * 1e6:.1f} us/round)  [target <= 5 s]")
    print(f"  2 workers: {two:.2f} s (speed-up x{one / two:.2f})")
    print(
        f"  reference: {ref * 1e3:.2f} ms/trial; fast {one / trials * 1e3:.3f} ms/trial "
        f"(x{ref / (one / trials):.0f})"
    )

    grid = _grid(grid_trials)
    grid_rounds = sum(_run_point(p) for p in grid)
    g1 = _median(lambda: [_run_point(p) for p in grid], repeats)

    def pooled() -> None:
        with ProcessPoolExecutor(max_workers=2) as pool:
            list(pool.map(_run_point, grid, chunksize=8))

    g2 = _median(pooled, repeats)
    print(f"grid: {len(grid)} points x {grid_trials} trials, {grid_rounds} rounds played")
    print(f"  1 process  : {g1:.2f} s  [target <= 60 s]")
    print(f"  2 processes: {g2:.2f} s (speed-up x{g1 / g2:.2f})")


if __name__ == "__main__":
    main()
