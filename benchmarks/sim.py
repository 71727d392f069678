"""Benchmark of the compiled simulator against today's fast path, and its memory when streaming.

Prints medians of a few runs measured in this one process (plus two child processes for the
numba compile / cache-load times):

* compile: the compiled simulator's kernels into an empty numba cache, then loaded from it;
* point: 10,000 loop tests of (N=10, k=20, r=2, P=3, rlnc, GF(2^8), R=10, seed 0):
  ``fast.simulate_point`` (while :mod:`rlnc_testbed.simulation.fast` exists) against
  ``compiled.simulate_columns`` (and ``compiled.simulate_point``, records included) on one
  worker [target x6], the compiled one on 2 workers against 1 [target x1.8];
* the heaviest grid cell (r=5, P=9, R=10) and the point with R=50, 10,000 trials each;
* the whole grid (r = 1.5..6.5 step 0.5, P = 1..9, three schemes, 30 trials, R=10);
* machine: two concurrent forked halves against one process, i.e. the parallelism this host
  actually offers right now (other load on shared cores caps the 2-worker ratio);
* memory: tracemalloc peak streaming ``iter_columns`` over 10k and 100k trials (flat), and
  gathering ``simulate_columns`` (grows with the trials).

Run: ``python benchmarks/sim.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlnc_testbed.protocol.params import SCHEMES, Params  # noqa: E402
from rlnc_testbed.simulation import compiled  # noqa: E402

__all__ = ["main"]

_WARM = (
    "import time; t = time.perf_counter(); "
    "from rlnc_testbed.simulation.compiled import warm_up; warm_up(); "
    "print(time.perf_counter() - t)"
)


_BASELINE = """
import json, statistics, sys, time
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.simulation import fast
fast.warm_up()
repeats, specs = json.loads(sys.argv[1])
out = []
for spec in specs:
    params = Params(**spec)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fast.simulate_point(params)
        times.append(time.perf_counter() - start)
    out.append(statistics.median(times))
print(json.dumps(out))
"""


def _fast() -> ModuleType | None:
    """Today's fast path in this process, while it exists and imports."""
    try:
        from rlnc_testbed.simulation import fast
    except ImportError:
        return None
    return fast


def _last_fast_rev() -> str:
    """HEAD if it has simulation/fast.py, else the parent of the commit that removed it."""
    path = "rlnc_testbed/simulation/fast.py"
    git = ["git", "-C", str(ROOT)]
    here = subprocess.run([*git, "cat-file", "-e", f"HEAD:{path}"], capture_output=True)
    if here.returncode == 0:
        return "HEAD"
    out = subprocess.run(
        [*git, "log", "-1", "--format=%H", "--diff-filter=D", "--", path],
        capture_output=True,
        text=True,
        check=False,
    )
    removed = out.stdout.strip()
    return f"{removed[:10]}^" if removed else "HEAD"


def _baseline(rev: str, repeats: int, points: list[Params]) -> list[float] | None:
    """Medians of ``fast.simulate_point`` from revision ``rev`` (a ``git archive`` in a temporary
    directory, run in a child process), or None if that revision has no fast path."""
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=False
        )
        if archive.returncode != 0:
            return None
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        if not (Path(tree) / "rlnc_testbed/simulation/fast.py").is_file():
            return None
        env = dict(os.environ, PYTHONPATH=tree, NUMBA_CACHE_DIR=str(Path(tree) / ".numba"))
        specs = [p.to_dict() for p in points]
        out = subprocess.run(
            [sys.executable, "-c", _BASELINE, json.dumps([repeats, specs])],
            env=env,
            cwd=tree,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"baseline at {rev} failed: {out.stderr.strip().splitlines()[-1:]}")
            return None
        return [float(x) for x in json.loads(out.stdout.strip().splitlines()[-1])]


def _fast_medians(rev: str, repeats: int, points: list[Params]) -> tuple[list[float], str] | None:
    fast = _fast()
    if fast is not None:
        fast.warm_up()
        return [_median(lambda p=p: fast.simulate_point(p), repeats) for p in points], "here"
    found = _baseline(rev, repeats, points)
    return None if found is None else (found, f"git {rev}")


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


def _streamed_peak(params: Params, trials: int, chunk: int | None) -> tuple[int, int]:
    """(tracemalloc peak bytes, rounds played) consuming iter_columns chunk by chunk."""
    tracemalloc.start()
    played = 0
    for cols in compiled.iter_columns(params, range(trials), chunk):
        played += int(cols.rounds_played.sum())
        del cols  # hold one chunk at a time
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, played


def _gathered_peak(params: Params, trials: int) -> int:
    tracemalloc.start()
    compiled.simulate_columns(params, range(trials))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _timed(params: Params, trials: range) -> float:
    start = time.perf_counter()
    compiled.simulate_columns(params, trials)
    return time.perf_counter() - start


def _machine_parallelism(params: Params, repeats: int) -> float:
    """How many times one process's throughput two concurrent forked processes give (each
    timing its own half inside the child): 2.0 on two free cores, ~1.0 on one."""
    half = range(params.trials // 2)
    alone = _median(lambda: _timed(params, half), repeats)
    context = multiprocessing.get_context("fork")
    together = []
    for _ in range(repeats):
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
            together.append(max(pool.map(_timed, [params] * 2, [half] * 2)))
    return 2 * alone / statistics.median(together)


def _grid(trials: int) -> list[Params]:
    return [
        Params(
            peers=10, symbols=20, redundancy=r / 2, parents=p, scheme=s, rounds=10, trials=trials
        )
        for s in SCHEMES
        for r in range(3, 14)
        for p in range(1, 10)
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000, help="loop tests per point")
    parser.add_argument("--repeats", type=int, default=3, help="runs per median")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument(
        "--baseline-rev",
        default="auto",
        help="git revision whose simulation/fast.py is timed when it does not import here "
        "(auto: HEAD, or the parent of the commit that removed it)",
    )
    args = parser.parse_args(argv)
    trials, repeats, grid_trials, big = args.trials, args.repeats, 30, 100_000
    if args.quick:
        trials, repeats, grid_trials, big = 500, 1, 3, 5_000

    if not args.quick:
        with tempfile.TemporaryDirectory() as cache:
            cold = _child_seconds(cache)
            cached = _child_seconds(cache)
        print(f"numba compile (empty cache): {cold:.2f} s; load from cache: {cached:.2f} s")
    compiled.warm_up()

    point = Params(
        peers=10,
        symbols=20,
        redundancy=2.0,
        parents=3,
        scheme="rlnc",
        field=256,
        rounds=10,
        trials=trials,
        seed=0,
    )
    heavy = point.with_(redundancy=5.0, parents=9)
    few = heavy.with_(trials=max(1, trials // 10))
    rev = _last_fast_rev() if args.baseline_rev == "auto" else args.baseline_rev
    baseline = _fast_medians(rev, repeats, [point, few])
    cols = compiled.simulate_columns(point)
    rounds = int(cols.rounds_played.sum())
    rows: list[tuple[str, float, str]] = []

    def row(label: str, seconds: float, note: str = "") -> None:
        rows.append((label, seconds, note))

    new1 = _median(lambda: compiled.simulate_columns(point), repeats)
    new2 = _median(lambda: compiled.simulate_columns(point, workers=2), repeats)
    new_rec = _median(lambda: compiled.simulate_point(point), repeats)
    h1 = _median(lambda: compiled.simulate_columns(heavy), repeats)
    h2 = _median(lambda: compiled.simulate_columns(heavy, workers=2), repeats)
    heavy_rounds = int(compiled.simulate_columns(heavy).rounds_played.sum())
    if baseline is not None:
        (old1, old_few), where = baseline
        hf = old_few * trials / few.trials
        row(f"point: fast.simulate_point ({where}), 1 worker", old1)
        row("point: simulate_columns, 1 worker", new1, f"x{old1 / new1:.1f} vs fast [>= 6]")
        row("point: compiled.simulate_point (records)", new_rec, f"x{old1 / new_rec:.1f} vs fast")
    else:
        row("point: simulate_columns, 1 worker", new1, "(no fast path to compare)")
        row("point: compiled.simulate_point (records)", new_rec)
    machine = _machine_parallelism(point, repeats)
    row(
        "point: simulate_columns, 2 workers",
        new2,
        f"x{new1 / new2:.2f} vs 1 [>= 1.8]; machine gives x{machine:.2f} "
        f"(load {os.getloadavg()[0]:.1f})",
    )
    if baseline is not None:
        row("heaviest r=5 P=9: fast (from 1/10 trials)", hf)
        row("heaviest r=5 P=9: simulate_columns, 1", h1, f"x{hf / h1:.1f} vs fast")
    else:
        row("heaviest r=5 P=9: simulate_columns, 1", h1)
    row("heaviest r=5 P=9: simulate_columns, 2", h2, f"x{h1 / h2:.2f} vs 1")

    long = point.with_(rounds=50)
    l1 = _median(lambda: compiled.simulate_columns(long), repeats)
    long_rounds = int(compiled.simulate_columns(long).rounds_played.sum())
    row("R=50: simulate_columns, 1 worker", l1, f"{long_rounds} rounds played")

    grid = _grid(grid_trials)
    g1 = _median(lambda: [compiled.simulate_columns(p) for p in grid], repeats)
    row(f"grid: {len(grid)} points x {grid_trials} trials, 1 process", g1)

    print(
        f"\npoint: {trials} trials, {rounds} rounds played, success {cols.success.mean():.4f}; "
        f"heaviest: {heavy_rounds} rounds played"
    )
    width = max(len(label) for label, _, _ in rows)
    print(f"{'median of ' + str(repeats):<{width}}  {'seconds':>8}  {'us/trial':>9}  note")
    for label, seconds, note in rows:
        per = seconds / trials * 1e6 if not label.startswith("grid") else float("nan")
        print(f"{label:<{width}}  {seconds:8.3f}  {per:9.1f}  {note}")

    chunk = trials // 2 if args.quick else None
    small_peak, _ = _streamed_peak(point, trials, chunk)
    big_peak, big_rounds = _streamed_peak(point, big, chunk)
    g_small = _gathered_peak(point, trials)
    g_big = _gathered_peak(point, big)
    print(f"\nmemory (tracemalloc peak), {trials} vs {big} trials (chunk {chunk or 'default'}):")
    print(
        f"  iter_columns streamed: {small_peak / 2**20:7.2f} MiB vs {big_peak / 2**20:7.2f} MiB"
        f"  ({big_rounds} rounds played)"
    )
    print(f"  simulate_columns     : {g_small / 2**20:7.2f} MiB vs {g_big / 2**20:7.2f} MiB")


if __name__ == "__main__":
    main()
