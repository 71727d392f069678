"""Provenance: every run and sweep JSON, and every history's start line, says what made it."""

from __future__ import annotations

import json
import os
import platform
import stat
import subprocess
import time
from dataclasses import fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import rlnc_testbed
from rlnc_testbed.analysis import provenance as prov
from rlnc_testbed.analysis.history import HistoryWriter, read_history
from rlnc_testbed.cli.entry import main
from rlnc_testbed.protocol.params import Params

ROOT = Path(__file__).resolve().parents[1]
PARAM_NAMES = {f.name for f in fields(Params)}
SCENARIO = """\
name = "tiny"
transport = "sim"
[params]
peers = 4
symbols = 6
symbol_size = 16
parents = 2
rounds = 3
trials = 3
seed = 7
systematic = true
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(SCENARIO)
    return path


def json_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main([*argv, "--json", "-"]) == 0
    return json.loads(capsys.readouterr().out)


def check_provenance(doc: dict[str, Any], argv: list[str]) -> None:
    assert doc["tool"] == {"name": "rlnc-testbed", "version": rlnc_testbed.__version__}
    # computed once per process (the code running is what was there then)
    assert doc["git"] == prov.environment()["git"]
    commit = doc["git"]["commit"]
    assert commit is None or (len(commit) == 40 and int(commit, 16) >= 0)
    assert doc["python"] == platform.python_version()
    assert doc["numpy"] == metadata.version("numpy")
    assert doc["aiortc"] == metadata.version("aiortc")
    assert doc["command"] == ["rlnc-testbed", *argv, "--json", "-"]
    started = datetime.fromisoformat(doc["started"])
    ended = datetime.fromisoformat(doc["ended"])
    assert started.utcoffset() == ended.utcoffset() == UTC.utcoffset(None)
    assert started <= ended <= datetime.now(UTC)


def test_run_json_carries_every_parameter_the_transport_and_provenance(
    tiny: Path, capsys: pytest.CaptureFixture[str]
):
    argv = ["run", str(tiny), "--seed", "3"]
    doc = json_of(capsys, argv)
    check_provenance(doc["provenance"], argv)
    scenario = doc["scenario"]
    assert PARAM_NAMES | {"name", "transport"} == set(scenario)
    assert (scenario["seed"], scenario["symbol_size"], scenario["systematic"]) == (3, 16, True)
    assert scenario["transport"] == "sim"


def test_sweep_json_points_carry_every_parameter_and_the_transport(
    capsys: pytest.CaptureFixture[str],
):
    argv = ["sweep", "--peers", "4", "--symbols", "6", "--parents", "1", "2", "--rounds", "2",
            "--symbol-size", "12", "--seed", "5", "--trials", "2"]  # fmt: skip
    doc = json_of(capsys, argv)
    check_provenance(doc["provenance"], argv)
    assert doc["transport"] == "sim"
    assert doc["axes"]["parents"] == [1, 2]
    assert [p["params"]["parents"] for p in doc["points"]] == [1, 2]
    for point in doc["points"]:
        assert set(point["params"]) == PARAM_NAMES
        assert point["transport"] == "sim"
        assert Params.from_dict(point["params"]).with_(parents=1).symbol_size == 12
        assert (point["seed"], point["symbol_size"], point["systematic"]) == (5, 12, False)


def test_history_start_line_records_transport_version_and_command(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    history = tmp_path / "h.jsonl"
    argv = ["run", str(tiny), "--history", str(history), "--quiet"]
    assert main(argv) == 0
    start = json.loads(history.read_text().splitlines()[0])
    assert start["event"] == "start" and start["transport"] == "sim"
    assert start["provenance"]["tool"]["version"] == rlnc_testbed.__version__
    assert start["provenance"]["command"] == ["rlnc-testbed", *argv]
    contents = read_history(history)
    assert contents.transport == "sim" and contents.provenance == start["provenance"]
    # show reports what the history recorded, and its own provenance
    doc = json_of(capsys, ["show", str(history)])
    assert doc["scenario"]["transport"] == "sim"
    assert doc["recorded"] == {"transport": "sim", "provenance": start["provenance"]}
    assert doc["provenance"]["command"][:2] == ["rlnc-testbed", "show"]


def test_an_old_history_without_transport_or_provenance_still_loads(tmp_path: Path):
    path = tmp_path / "old.jsonl"
    params = Params(peers=4, symbols=6, parents=2, rounds=2, trials=1)
    with HistoryWriter(path, params=params, transport="memory"):
        pass
    lines = path.read_text().splitlines()
    start = json.loads(lines[0])
    del start["transport"], start["provenance"]
    path.write_text(json.dumps(start) + "\n")
    contents = read_history(path)
    assert contents.transport is None and contents.provenance is None
    assert contents.params == params
    # and it may be resumed over any transport
    with HistoryWriter(path, params=params, resume=True, transport="sim"):
        pass
    assert read_history(path).resumes == 1


def test_git_commit_is_none_outside_a_checkout(tmp_path: Path):
    assert prov.git_commit(tmp_path) is None


def test_git_commit_is_head_in_a_checkout():
    if not (ROOT / ".git").exists():
        assert prov.git_commit() is None
        return
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert prov.git_commit() == head


def test_git_commit_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(prov, "GIT_TIMEOUT", 0.3)
    began = time.monotonic()
    assert prov.git_commit(tmp_path / "repo") is None
    assert time.monotonic() - began < 10


def test_provenance_is_fresh_per_call_and_json_ready():
    a = prov.provenance(command=["x"], started="then")
    a["tool"]["version"] = "changed"
    b = prov.provenance(command=["y"])
    assert b["tool"]["version"] == rlnc_testbed.__version__ and b["command"] == ["y"]
    assert b["ended"] is None and a["started"] == "then"
    json.dumps(b)
