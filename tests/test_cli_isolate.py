"""``run --isolate``: the command runs again in a network namespace with nothing but loopback,
so browser pages (which otherwise nominate pairs on the host's other interfaces) and aiortc
peers alike select 127.0.0.1 at both ends; the options that need the host's network are
refused before anything runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from browser_support import require_chromium

from rlnc_testbed.cli import main
from rlnc_testbed.cli.isolate import ISOLATED_ENV
from rlnc_testbed.experiment.hosts import unavailable

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
THREE_PEERS = str(SCENARIOS / "three_peers_rlnc.toml")


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--dashboard"], "--dashboard"),
        (["--hosts", "netns"], "--hosts netns"),
    ],
)
def test_isolate_refuses_what_needs_the_host_network(extra, named, capsys, monkeypatch):
    monkeypatch.delenv(ISOLATED_ENV, raising=False)
    status = main(["run", THREE_PEERS, "--transport", "webrtc", "--isolate", *extra])
    assert status == 2
    err = capsys.readouterr().err
    assert "--isolate" in err and named in err, err


def test_isolate_in_the_namespace_already_runs_the_command_here(tmp_path, capsys, monkeypatch):
    """The child (marked by the environment) runs the command itself, not a third process."""
    monkeypatch.setenv(ISOLATED_ENV, "1")
    out = tmp_path / "out.json"
    status = main(["run", THREE_PEERS, "--transport", "sim", "--isolate", "--json", str(out)])
    assert status == 0, capsys.readouterr().err
    assert len(json.loads(out.read_text())["trials"]) >= 1


def _isolated_run(tmp_path: Path, *words: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    history = tmp_path / "h.jsonl"
    argv = [sys.executable, "-m", "rlnc_testbed", "run", *words, "--isolate", "-q",
            "--history", str(history)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    lines = history.read_text().splitlines() if history.exists() else []
    events = [json.loads(line) for line in lines]
    return done, events


@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
def test_isolated_webrtc_run_selects_loopback_pairs_only(tmp_path):
    done, events = _isolated_run(tmp_path, THREE_PEERS, "--transport", "webrtc")
    assert done.returncode == 0, done.stderr[-2000:]
    links = [event["link"] for event in events if event.get("event") == "transfer"]
    assert links, "no transfer in the history"
    for link in links:
        assert link["info"]["local_address"] == "127.0.0.1", link
        assert link["info"]["remote_address"] == "127.0.0.1", link


@pytest.mark.browser
@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
def test_isolated_browser_run_keeps_browser_to_browser_pairs_on_loopback(tmp_path):
    """Peers 2 and 3 and the newcomer are pages: the newcomer's links from its parents are
    page-to-page, the pairs a page on the host network would nominate off loopback."""
    require_chromium()
    done, events = _isolated_run(
        tmp_path, THREE_PEERS, "--transport", "webrtc", "--browser-peers", "2,3",
        "--browser-newcomers",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    verdicts = [event for event in events if event.get("event") == "verdict"]
    assert verdicts and all(event["verified"] for event in verdicts), verdicts
    links = [event["link"] for event in events if event.get("event") == "transfer"]
    pages = {"2", "3", "4"}
    between = {(x["local"], x["remote"]) for x in links if {x["local"], x["remote"]} <= pages}
    assert between, links
    for link in links:
        assert link["info"]["local_address"] == "127.0.0.1", link
        assert link["info"]["remote_address"] == "127.0.0.1", link
