"""The runner: points over every transport agree, histories resume, grids validate."""

from __future__ import annotations

import json

import pytest

from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.experiment.runner import expand_grid, run_point, run_sweep, trial_indices
from rlnc_testbed.protocol import ParameterError, Params

SMALL = Params(peers=4, symbols=6, symbol_size=16, parents=2, rounds=3, trials=6, seed=9)


def outcomes(result):
    return [[r.outcome() for r in t.rounds] for t in result.trials]


def test_sim_and_memory_points_decide_the_same():
    sim = run_point(SMALL, transport="sim")
    memory = run_point(SMALL.with_(trials=2), transport="memory")
    assert outcomes(memory) == outcomes(sim)[:2]
    assert sim.summary.trials == 6 and len(sim.trials) == 6


def test_user_data_takes_the_full_payload_path():
    data = b"hello, coded storage" * 4
    result = run_point(SMALL, transport="sim", data=data)
    fast = run_point(SMALL, transport="sim")
    assert outcomes(result) == outcomes(fast)


def test_history_streams_every_trial_and_resume_skips_done_ones(tmp_path):
    path = tmp_path / "run.jsonl"
    first = run_point(SMALL, transport="sim", trials=[0, 1, 2], history=path)
    assert [t.trial for t in first.trials] == [0, 1, 2]
    seen: list[int] = []
    resumed = run_point(
        SMALL, transport="sim", history=path, resume=True, on_trial=lambda r: seen.append(r.trial)
    )
    full = run_point(SMALL, transport="sim")
    assert outcomes(resumed) == outcomes(full)
    assert sorted(seen) == list(range(6))
    contents = read_history(path)
    assert sorted(contents.trials) == list(range(6))


def test_resume_refuses_a_history_of_other_params(tmp_path):
    path = tmp_path / "run.jsonl"
    run_point(SMALL, transport="sim", trials=[0], history=path)
    with pytest.raises(ValueError, match="seed"):
        run_point(SMALL.with_(seed=10), transport="sim", history=path, resume=True)


def test_trial_indices_split_disjointly_and_cover_everything():
    params = SMALL.with_(trials=11)
    shards = [trial_indices(params, worker=w, workers=3) for w in range(3)]
    flat = sorted(t for shard in shards for t in shard)
    assert flat == list(range(11))
    with pytest.raises(ValueError):
        trial_indices(params, worker=3, workers=3)


def test_expand_grid_builds_every_combination_and_names_bad_points():
    points = expand_grid(SMALL, {"scheme": ["replication", "rlnc"], "parents": [1, 2, 3]})
    assert len(points) == 6
    assert {(p.scheme, p.parents) for p in points} == {
        (s, n) for s in ("replication", "rlnc") for n in (1, 2, 3)
    }
    with pytest.raises(ParameterError, match="parents=4"):
        expand_grid(SMALL, {"parents": [3, 4]})
    with pytest.raises(ParameterError, match="cannot sweep over"):
        expand_grid(SMALL, {"colour": ["red"]})
    with pytest.raises(ParameterError, match="no values"):
        expand_grid(SMALL, {"parents": []})


def test_q_axis_replaces_redundancy():
    (point,) = expand_grid(SMALL, {"q": [5]})
    assert point.per_peer == 5 and point.redundancy is None


def test_sweep_writes_one_history_per_point(tmp_path):
    points = expand_grid(SMALL.with_(trials=3), {"scheme": ["coded-copy", "rlnc"]})
    results = run_sweep(points, transport="sim", history_dir=tmp_path)
    assert [r.params.scheme for r in results] == ["coded-copy", "rlnc"]
    files = sorted(tmp_path.glob("*.jsonl"))
    assert len(files) == 2
    first = json.loads(files[0].read_text().splitlines()[0])
    assert first["event"] == "start" and first["params"]["scheme"] == "coded-copy"


def test_unknown_transport_is_refused():
    with pytest.raises(ParameterError, match="transport"):
        run_point(SMALL, transport="carrier-pigeon")


def test_networked_runs_write_every_round_to_history(tmp_path):
    path = tmp_path / "net.jsonl"
    result = run_point(SMALL.with_(trials=2), transport="memory", history=path)
    contents = read_history(path)
    assert sorted(contents.trials) == [0, 1]
    assert len(contents.rounds) == sum(len(t.rounds) for t in result.trials)


async def test_cluster_reports_each_round_while_the_trial_runs():
    from rlnc_testbed.experiment.cluster import Cluster

    seen: list[tuple[int, bool]] = []
    async with Cluster(SMALL, 0, transport="memory") as cluster:

        def on_round(record):
            # Still running: the controller has not finished the trial yet.
            seen.append((record.round, cluster.controller.finish_reason == ""))

        cluster.on_round = on_round
        record = await cluster.run()
    assert [r for r, _ in seen] == [r.round for r in record.rounds]
    assert all(running for _, running in seen[:-1])
