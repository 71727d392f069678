"""``--shard i/n``: shards run anywhere give the unsharded records, and ``show`` merges them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.analysis.summary import PointResult, Shard, SummaryError, merge_shards
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.runner import history_path, recorded_shard, run_point, run_sweep
from rlnc_testbed.protocol import ParameterError, Params

SMALL = Params(peers=4, symbols=6, symbol_size=16, parents=2, rounds=3, trials=7, seed=9)

SCENARIO = """\
name = "tiny"
transport = "{transport}"
[params]
peers = 4
symbols = 6
symbol_size = 16
parents = 2
rounds = 3
trials = {trials}
seed = 5
"""


def records(result: PointResult) -> list[dict]:
    return [t.to_dict() for t in result.trials]


def decided(trials: list[dict]) -> list[list]:
    """What a trial decided (not the durations a networked run measures)."""
    keys = ("round", "failed", "newcomer", "parents", "newcomer_rank", "global_rank", "verdict")
    return [[t["trial"], [[r[k] for k in keys] for r in t["rounds"]]] for t in trials]


def test_shard_parses_selects_and_refuses_what_is_not_a_shard():
    assert Shard.parse("1/3") == Shard(1, 3) and str(Shard(1, 3)) == "1/3"
    assert Shard(1, 3).select(range(8)) == [1, 4, 7]
    assert Shard.from_json([0, 2]) == Shard(0, 2) and Shard.from_json(None) is None
    for text in ("3/3", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(SummaryError):
            Shard.parse(text)


@pytest.mark.parametrize("transport", ["sim", "memory"])
def test_two_shards_merge_into_the_unsharded_run_record_for_record(transport: str):
    params = SMALL.with_(trials=5) if transport == "memory" else SMALL
    full = run_point(params, transport=transport)
    halves = [run_point(params, transport=transport, shard=Shard(i, 2)) for i in range(2)]
    assert [t.trial for t in halves[0].trials] == list(range(0, params.trials, 2))
    assert halves[1].shard == Shard(1, 2) and halves[1].to_dict()["shard"] == [1, 2]
    merged, missing = merge_shards([("a", halves[1]), ("b", halves[0])])
    assert missing == ()
    assert merged.summary == full.summary
    if transport == "sim":
        assert records(merged) == records(full)
    else:  # durations are measured; everything decided (and counted) is equal
        assert decided(records(merged)) == decided(records(full))
        assert [t.success for t in merged.trials] == [t.success for t in full.trials]


def test_merging_refuses_overlaps_other_splits_other_points_and_stray_trials():
    a = run_point(SMALL, shard=Shard(0, 2))
    with pytest.raises(SummaryError, match="overlap: both are shard 0/2"):
        merge_shards([("a", a), ("a again", a)])
    with pytest.raises(SummaryError, match="different splits"):
        merge_shards([("a", a), ("c", run_point(SMALL, shard=Shard(1, 3)))])
    with pytest.raises(SummaryError, match="not shards of the same point: seed 9 != 10"):
        merge_shards([("a", a), ("d", run_point(SMALL.with_(seed=10), shard=Shard(1, 2)))])
    with pytest.raises(SummaryError, match="overlap: both are the whole run"):
        merge_shards([("full", run_point(SMALL)), ("full", run_point(SMALL))])
    stray = PointResult(a.params, a.transport, run_point(SMALL, trials=[1]).trials, a.summary,
                        shard=Shard(0, 2))  # fmt: skip
    with pytest.raises(SummaryError, match="holds trial 1"):
        merge_shards([("stray", stray)])
    alone, missing = merge_shards([("a", a)])
    assert missing == (1,) and len(alone.trials) == 4


def test_a_shard_without_trials_and_sequential_shards_are_refused():
    with pytest.raises(ParameterError, match="shard 3/4 has no trials"):
        run_point(SMALL.with_(trials=3), shard=Shard(3, 4))
    from rlnc_testbed.experiment.runner import run_sequential

    with pytest.raises(ParameterError, match="cannot run in shards"):
        run_sequential(SMALL, ci_width=0.5, max_trials=20, shard=Shard(0, 2))


def test_a_shards_history_says_so_and_refuses_another_shard(tmp_path: Path):
    path = tmp_path / "run.jsonl"
    run_point(SMALL, history=path, shard=Shard(1, 2))
    assert read_history(path).events[0]["shard"] == [1, 2]
    assert recorded_shard(path) == Shard(1, 2)
    resumed = run_point(SMALL, history=path, resume=True, shard=Shard(1, 2))
    assert [t.trial for t in resumed.trials] == [1, 3, 5]
    with pytest.raises(ValueError, match="holds the trials of shard 1/2; this run is every trial"):
        run_point(SMALL, history=path, resume=True)
    assert history_path(tmp_path, SMALL, Shard(1, 2)).name.endswith("-shard1of2.jsonl")


def _scenario(tmp_path: Path, transport: str = "sim", trials: int = 7) -> Path:
    path = tmp_path / f"tiny-{transport}.toml"
    path.write_text(SCENARIO.format(transport=transport, trials=trials))
    return path


@pytest.mark.parametrize("transport", ["sim", "memory"])
def test_run_shards_and_show_merges_their_json_and_histories(
    tmp_path: Path, transport: str, capsys: pytest.CaptureFixture[str]
):
    trials = 7 if transport == "sim" else 4
    scenario = _scenario(tmp_path, transport, trials=trials)
    assert main(["run", str(scenario), "--json", str(tmp_path / "full.json"), "--quiet"]) == 0
    for i in range(2):
        assert main(["run", str(scenario), "--shard", f"{i}/2", "--quiet",
                     "--json", str(tmp_path / f"s{i}.json"),
                     "--history", str(tmp_path / f"s{i}.jsonl"),
                     "--csv-trials", str(tmp_path / f"s{i}.csv")]) == 0  # fmt: skip
    full = json.loads((tmp_path / "full.json").read_text())
    shard = json.loads((tmp_path / "s1.json").read_text())
    odd = [str(t) for t in range(1, trials, 2)]
    assert shard["shard"] == [1, 2] and [str(t["trial"]) for t in shard["trials"]] == odd
    with (tmp_path / "s1.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["shard"] for row in rows} == {"1/2"} and [r["trial"] for r in rows] == odd
    for suffix in ("json", "jsonl"):
        capsys.readouterr()
        parts = [str(tmp_path / f"s{i}.{suffix}") for i in (1, 0)]
        assert main(["show", *parts, "--json", "-"]) == 0
        merged = json.loads(capsys.readouterr().out)
        assert merged["summary"] == full["summary"], suffix
        if transport == "sim":
            assert merged["trials"] == full["trials"], suffix
        else:
            assert decided(merged["trials"]) == decided(full["trials"]), suffix
        shards = [s["shard"] for s in merged["recorded"]["shards"]]
        assert shards == [[1, 2], [0, 2]] and merged["recorded"]["missing_shards"] == []


def test_sweep_shards_merge_into_the_unsharded_sweep(tmp_path: Path):
    grid = ["sweep", "--peers", "4", "--symbols", "6", "--parents", "1", "2", "--rounds", "4",
            "--trials", "9", "--quiet"]  # fmt: skip
    assert main([*grid, "--json", str(tmp_path / "full.json")]) == 0
    for i in range(3):
        assert main([*grid, "--shard", f"{i}/3", "--json", str(tmp_path / f"s{i}.json"),
                     "--history-dir", str(tmp_path / "h")]) == 0  # fmt: skip
    assert len(list((tmp_path / "h").glob("*-shard?of3.jsonl"))) == 6
    part = json.loads((tmp_path / "s2.json").read_text())
    assert part["shard"] == [2, 3] and part["points"][0]["trials"] == 3
    out = tmp_path / "merged.json"
    parts = [str(tmp_path / f"s{i}.json") for i in range(3)]
    assert main(["show", *parts, "--json", str(out), "--csv", str(tmp_path / "m.csv")]) == 0
    merged = json.loads(out.read_text())
    full = json.loads((tmp_path / "full.json").read_text())
    points = [{k: v for k, v in p.items() if k != "records"} for p in merged["points"]]
    assert points == full["points"]
    histories = sorted(str(path) for path in (tmp_path / "h").glob("*.jsonl"))
    assert main(["show", *histories, "--json", str(out), "--quiet"]) == 0  # grouped by point
    by_history = json.loads(out.read_text())["points"]
    assert [{k: v for k, v in p.items() if k != "records"} for p in by_history] == full["points"]


def test_show_refuses_mismatched_shards_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    scenario = _scenario(tmp_path)
    paths = {}
    for name, extra in {"a": ["--shard", "0/2"], "b": ["--shard", "1/3"],
                        "c": ["--shard", "1/2", "--seed", "6"]}.items():  # fmt: skip
        paths[name] = str(tmp_path / f"{name}.json")
        assert main(["run", str(scenario), *extra, "--json", paths[name], "--quiet"]) == 0
    cases = {
        ("a", "a"): "overlap: both are shard 0/2",
        ("a", "b"): "different splits",
        ("a", "c"): "not shards of the same point: seed 5 != 6",
    }
    for (x, y), message in cases.items():
        capsys.readouterr()
        assert main(["show", paths[x], paths[y]]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert main(["show", paths["a"], "--quiet"]) == 0
    assert "shard(s) 1/2 missing" in capsys.readouterr().err


def test_shard_is_refused_with_ci_width(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # with --until-loss it works: tests/test_lifetime_shards.py
    scenario = str(_scenario(tmp_path))
    assert main(["run", scenario, "--shard", "0/2", "--ci-width", "0.3"]) == EXIT_USAGE
    assert main(["run", scenario, "--shard", "2/2"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--ci-width" in err and "0 <= i < n" in err


def test_sweep_shards_run_through_run_sweep(tmp_path: Path):
    points = [SMALL.with_(parents=p) for p in (1, 2)]
    full = run_sweep(points)
    parts = [run_sweep(points, shard=Shard(i, 2), history_dir=tmp_path) for i in range(2)]
    for j in range(2):
        merged, _ = merge_shards([(f"s{i}", parts[i][j]) for i in range(2)])
        assert records(merged) == records(full[j])
