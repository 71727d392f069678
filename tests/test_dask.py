"""``sweep --executor dask``: chunks on a Dask LocalCluster (127.0.0.1) give the local records,
progress moves as chunks finish, and a chunk whose task raised or whose worker died runs again.

Dask is a test dependency (the ``test`` extra has ``dask[distributed]``): without it these tests
fail with the install hint rather than skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.executors import DASK_HINT, DaskExecutor, LocalExecutor
from rlnc_testbed.experiment.runner import CHUNK_TRIALS, expand_grid, run_sweep
from rlnc_testbed.protocol import ParameterError, Params

BASE = Params(peers=4, symbols=6, symbol_size=16, parents=2, rounds=3, trials=7, seed=9)


@pytest.fixture(autouse=True)
def _dask_installed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        pytest.fail(f"Dask is not installed: {DASK_HINT}", pytrace=False)


def _records(results):
    return [[t.to_dict() for t in r.trials] for r in results]


def test_a_sweep_on_a_local_cluster_gives_the_local_records(tmp_path: Path):
    # 2 x 600 trials: 3 chunks per point, so chunks of one point finish apart.
    points = expand_grid(BASE.with_(trials=600), {"parents": [1, 2], "seed": [3]})
    local = run_sweep(points)
    seen: list[int] = []
    finished: list[int] = []
    with DaskExecutor(workers=2, processes=False) as executor:
        assert executor.address.startswith("tcp://127.0.0.1:")
        remote = run_sweep(
            points,
            executor=executor,
            history_dir=tmp_path,
            on_trial=lambda record: seen.append(record.trial),
            on_point=lambda result: finished.append(result.params.parents),
        )
    assert _records(remote) == _records(local)
    assert [r.summary for r in remote] == [r.summary for r in local]
    assert len(seen) == 1200 and sorted(finished) == [1, 2]
    for params, result in zip(points, local, strict=True):
        history = read_history(next(tmp_path.glob(f"*-P{params.parents}-*.jsonl")))
        assert [history.trials[t].to_dict() for t in sorted(history.trials)] == [
            t.to_dict() for t in result.trials
        ]
        assert history.points[-1] == result.summary


def test_the_local_executor_gives_the_same_records_and_memory_trials_run_on_dask():
    points = expand_grid(BASE.with_(trials=3), {"parents": [1, 2]})
    assert _records(run_sweep(points, executor=LocalExecutor())) == _records(run_sweep(points))
    local = run_sweep(points, transport="memory")
    with DaskExecutor(workers=2, processes=False) as executor:
        remote = run_sweep(points, transport="memory", executor=executor)
    assert [r.summary for r in remote] == [r.summary for r in local]
    assert CHUNK_TRIALS["memory"] < CHUNK_TRIALS["sim"]


def fail_once(marker: str, value: int) -> int:
    """Raise the first time (no marker yet), then double."""
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("a worker hiccup")
    return value * 2


def die_once(marker: str, value: int) -> int:
    """Kill the worker process the first time (no marker yet), then double."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died once")
        os._exit(1)
    return value * 2


def test_a_chunk_that_raised_is_retried_and_without_retries_the_error_comes_back(tmp_path: Path):
    done: dict[int, int] = {}
    tasks = [(str(tmp_path / "marker-0"), 1), (str(tmp_path / "marker-1"), 2)]
    with DaskExecutor(workers=1, processes=False, retries=1) as executor:
        executor.run(fail_once, tasks, done.__setitem__)
    assert done == {0: 2, 1: 4}
    with (
        DaskExecutor(workers=1, processes=False, retries=0) as executor,
        pytest.raises(RuntimeError, match="a worker hiccup"),
    ):
        executor.run(fail_once, [(str(tmp_path / "marker-2"), 3)], done.__setitem__)


def test_a_chunk_whose_worker_process_died_is_run_again(tmp_path: Path):
    done: dict[int, int] = {}
    with DaskExecutor(workers=2, processes=True) as executor:
        executor.run(die_once, [(str(tmp_path / "marker"), 21)], done.__setitem__)
    assert done == {0: 42}
    assert (tmp_path / "marker").read_text() == "died once"


def test_sweep_executor_dask_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture):
    grid = ["sweep", "--peers", "4", "--symbols", "6", "--parents", "1", "2", "--rounds", "3",
            "--trials", "300", "--quiet"]  # fmt: skip
    assert main([*grid, "--json", str(tmp_path / "local.json")]) == 0
    assert main([*grid, "--json", str(tmp_path / "dask.json"), "--executor", "dask",
                 "--workers", "1"]) == 0  # fmt: skip
    local = json.loads((tmp_path / "local.json").read_text())
    remote = json.loads((tmp_path / "dask.json").read_text())
    assert remote["points"] == local["points"]
    capsys.readouterr()
    assert main([*grid, "--executor", "dask", "--ci-width", "0.2"]) == EXIT_USAGE
    assert main([*grid, "--scheduler", "tcp://127.0.0.1:9"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--ci-width" in err and "--scheduler is for --executor dask" in err


def test_the_package_imports_without_dask_and_says_how_to_get_it():
    code = (
        "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None\n"
        "from rlnc_testbed.cli.entry import build_parser; build_parser()\n"
        "from rlnc_testbed.experiment.executors import DaskExecutor\n"
        "from rlnc_testbed.protocol import ParameterError\n"
        "try:\n    DaskExecutor().__enter__()\n"
        "except ParameterError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert "pip install 'rlnc-testbed[dask]'" in done.stdout


def test_bad_executor_arguments_are_refused():
    with pytest.raises(ParameterError, match="tcp://HOST:PORT"):
        DaskExecutor("127.0.0.1:8786")
    with pytest.raises(ParameterError, match="workers"):
        DaskExecutor(workers=0)
