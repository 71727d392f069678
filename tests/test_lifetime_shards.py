"""``--shard i/n`` with runs until loss: a shard runs its trials' lifetimes, and ``show`` merges
the shards' JSON into exactly the unsharded run's lifetimes and Kaplan-Meier summary (mean and
median with their intervals, the curve), for ``run`` and ``sweep``."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.analysis.lifetime import LifetimeResult, merge_lifetime_shards
from rlnc_testbed.analysis.summary import Shard, SummaryError
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.runner import recorded_shard, run_lifetime
from rlnc_testbed.protocol.params import Params

SCENARIO = """\
name = "tiny"
transport = "{transport}"

[params]
peers = 4
symbols = 6
symbol_size = 16
redundancy = 1.5
parents = 2
rounds = 0
max_rounds_cap = {cap}
trials = {trials}
seed = 11
"""
PARAMS = Params(
    peers=4, symbols=6, symbol_size=16, redundancy=1.5, parents=2, rounds=1, trials=11, seed=11
)


def scenario(tmp_path: Path, *, transport: str = "sim", cap: int = 4, trials: int = 11) -> str:
    path = tmp_path / f"tiny-{transport}-{cap}.toml"
    path.write_text(SCENARIO.format(transport=transport, cap=cap, trials=trials), "utf-8")
    return str(path)


def run(*argv: str) -> None:
    assert main([*argv, "--quiet"]) == 0


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_two_run_shards_merge_into_the_unsharded_lifetimes_exactly(tmp_path: Path) -> None:
    file = scenario(tmp_path)
    whole, parts, merged = tmp_path / "whole.json", tmp_path / "part{}.json", tmp_path / "m.json"
    run("run", file, "--json", str(whole))
    for i in range(2):
        run("run", file, "--shard", f"{i}/2", "--json", str(parts).format(i))
    part = load(Path(str(parts).format(1)))
    assert part["shard"] == [1, 2] and [life["trial"] for life in part["lifetimes"]] == [
        1, 3, 5, 7, 9,
    ]  # fmt: skip
    assert part["lifetime"]["trials"] == 5 and part["scenario"]["trials"] == 11
    # the second shard first: the order of the inputs does not matter
    run("show", str(parts).format(1), str(parts).format(0), "--json", str(merged))
    full, back = load(whole), load(merged)
    assert back["lifetime"] == full["lifetime"]  # mean, median, intervals, curve: exactly
    assert back["lifetimes"] == full["lifetimes"] and back["scenario"] == full["scenario"]
    assert full["lifetime"] == json.loads(json.dumps(run_lifetime(PARAMS, cap=4).summary.to_dict()))
    assert full["lifetime"]["censored"] == 6  # the cap censors some: Kaplan-Meier matters
    assert back["recorded"]["shards"] == [
        {"source": str(parts).format(1), "shard": [1, 2]},
        {"source": str(parts).format(0), "shard": [0, 2]},
    ]
    assert back["recorded"]["missing_shards"] == []


def test_two_sweep_shards_merge_into_the_unsharded_sweep(tmp_path: Path) -> None:
    argv = ["sweep", "--scenario", scenario(tmp_path), "--parents", "1", "2", "--redundancy",
            "1.5", "2"]  # fmt: skip
    whole, merged = tmp_path / "whole.json", tmp_path / "merged.json"
    run(*argv, "--json", str(whole))
    for i in range(3):
        run(*argv, "--shard", f"{i}/3", "--json", str(tmp_path / f"s{i}.json"))
    shard = load(tmp_path / "s2.json")
    assert shard["shard"] == [2, 3] and shard["until_loss"] is True
    assert [life["trial"] for life in shard["points"][0]["records"]] == [2, 5, 8]
    run("show", *(str(tmp_path / f"s{i}.json") for i in range(3)), "--json", str(merged),
        "--csv-trials", str(tmp_path / "trials.csv"))  # fmt: skip
    full, back = load(whole), load(merged)
    assert back["until_loss"] is True and back["max_rounds_cap"] == 4
    assert len(back["points"]) == len(full["points"]) == 4
    for a, b in zip(full["points"], back["points"], strict=True):
        assert {k: v for k, v in b.items() if k != "records"} == a
    with (tmp_path / "trials.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 11
    assert [int(r["rounds_survived"]) for r in rows[:11]] == full["points"][0]["lifetimes"]


def test_a_memory_shard_keeps_a_history_that_names_its_shard(tmp_path: Path) -> None:
    file = scenario(tmp_path, transport="memory", cap=6, trials=4)
    history = tmp_path / "h1.jsonl"
    for i in range(2):
        extra = ["--history", str(history)] if i == 1 else []
        run("run", file, "--shard", f"{i}/2", "--json", str(tmp_path / f"m{i}.json"), *extra)
    assert recorded_shard(history) == Shard(1, 2)
    assert sorted(read_history(history).trials) == [1, 3]
    run("show", str(tmp_path / "m0.json"), str(tmp_path / "m1.json"), "--json",
        str(tmp_path / "m.json"))  # fmt: skip
    merged = load(tmp_path / "m.json")
    expected = run_lifetime(PARAMS.with_(trials=4), cap=6)  # the simulator gives the same
    assert merged["lifetime"] == json.loads(json.dumps(expected.summary.to_dict()))
    rounds = [(life["trial"], life["rounds_survived"]) for life in merged["lifetimes"]]
    assert rounds == [(life.trial, life.rounds) for life in expected.lifetimes]


def test_show_refuses_what_are_not_shards_of_one_point(tmp_path: Path, capsys: Any) -> None:
    file, other = scenario(tmp_path), scenario(tmp_path, cap=3)
    paths = {name: tmp_path / f"{name}.json" for name in ("a", "b", "c", "whole", "sweep")}
    run("run", file, "--shard", "0/2", "--json", str(paths["a"]))
    run("run", other, "--shard", "1/2", "--json", str(paths["b"]))
    run("run", file, "--shard", "1/3", "--json", str(paths["c"]))
    run("run", file, "--json", str(paths["whole"]))
    run("sweep", "--scenario", file, "--shard", "1/2", "--json", str(paths["sweep"]))
    capsys.readouterr()
    for x, y, message in [
        ("a", "b", "not shards of the same point: rounds 4 != 3"),
        ("a", "c", "shards of different splits cannot be merged"),
        ("a", "a", "overlap: both are shard 0/2"),
        ("a", "whole", "shards of different splits"),
        ("a", "sweep", "cannot merge a run until loss with a sweep until loss"),
    ]:
        assert main(["show", str(paths[x]), str(paths[y])]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, err
    assert main(["show", str(paths["a"]), "--quiet"]) == 0
    assert "shard(s) 1/2 missing" in capsys.readouterr().err


def test_merge_lifetime_shards_keeps_what_it_is_given() -> None:
    parts = [
        dataclasses.replace(
            run_lifetime(PARAMS, cap=4, trials=Shard(i, 3).select(range(11))), shard=Shard(i, 3)
        )
        for i in range(3)
    ]
    merged, missing = merge_lifetime_shards([("b", parts[2]), ("a", parts[0])])
    assert missing == (1,) and [life.trial for life in merged.lifetimes] == [0, 2, 3, 5, 6, 8, 9]
    assert merged.shard is None and merged.summary.trials == 7
    back = LifetimeResult.from_dict(json.loads(json.dumps(parts[1].to_dict())))
    assert back == parts[1]
    stray = dataclasses.replace(parts[1], shard=Shard(0, 3))
    with pytest.raises(SummaryError, match="is shard 0/3 but holds trial 1"):
        merge_lifetime_shards([("x", stray)])
