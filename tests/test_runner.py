"""The runner: points over every transport agree, histories resume, grids validate."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.experiment.runner import expand_grid, run_point, run_sweep, trial_indices
from rlnc_testbed.protocol import ParameterError, Params
from rlnc_testbed.protocol.records import TrialRecord

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


# -- trials that stop without judging a round never poison the point -------------------------


#: What the runner calls per networked trial (patched by name: imported only when used).
RUN_TRIAL = "rlnc_testbed.experiment.cluster.run_trial"


def fake_run_trial(unjudged: dict[int, tuple[str, str]], ran: list[int] | None = None):
    """A stand-in for ``cluster.run_trial``: the listed trials end before round 1 with
    (finish, error), as the round controller records them; the rest are the reference
    simulator's trials, streamed round by round as a cluster streams them."""
    from rlnc_testbed.simulation.reference import simulate_trial

    async def run_trial(params, trial, *, transport, data=None, on_round=None, **network):
        if ran is not None:
            ran.append(trial)
        if trial in unjudged:
            finish, error = unjudged[trial]
            return TrialRecord(trial=trial, seed=params.seed, finish=finish, error=error)
        record = simulate_trial(params, trial, data=data)
        for rnd in record.rounds:
            if on_round is not None:
                on_round(rnd)
        return replace(record, finish="max-round" if record.success else "end")

    return run_trial


UNJUDGED = {2: ("setup-timeout", "deadline passed in joining"), 4: ("error", "ValueError: x")}


def test_a_trial_that_ends_before_round_1_counts_as_a_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(RUN_TRIAL, fake_run_trial(UNJUDGED))
    path = tmp_path / "net.jsonl"
    result = run_point(SMALL, transport="memory", history=path)
    judged = run_point(SMALL, transport="sim")
    assert [t.trial for t in result.trials] == list(range(6))
    assert [t.unjudged for t in result.trials] == ["", "", "setup-timeout", "", "error", ""]
    s = result.summary
    assert s.trials == 6 and dict(s.unjudged) == {"error": 1, "setup-timeout": 1}
    expected = sum(t.success for i, t in enumerate(judged.trials) if i not in UNJUDGED)
    assert s.successes == expected
    contents = read_history(path)
    assert contents.trials == {t.trial: t for t in result.trials}
    assert contents.points == [s]


def test_resume_keeps_unjudged_trials_and_runs_the_rest(tmp_path, monkeypatch):
    ran: list[int] = []
    monkeypatch.setattr(RUN_TRIAL, fake_run_trial(UNJUDGED, ran))
    path = tmp_path / "net.jsonl"
    run_point(SMALL, transport="memory", trials=[0, 1, 2], history=path)
    assert ran == [0, 1, 2]
    resumed = run_point(SMALL, transport="memory", history=path, resume=True)
    assert ran == [0, 1, 2, 3, 4, 5]  # trial 2 (setup-timeout) is recorded: not run again
    assert dict(resumed.summary.unjudged) == {"error": 1, "setup-timeout": 1}
    contents = read_history(path)
    assert sorted(contents.trials) == list(range(6)) and contents.resumes == 1
