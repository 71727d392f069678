"""``sweep --browser-peers/--browser-newcomers/--hosts``: every point's nodes run where asked
(the records name the Chromium pages); over sim or memory, with a remote executor, or with
slots a point does not have, they are usage errors naming the options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser_support import require_chromium

from rlnc_testbed.cli import main
from rlnc_testbed.cli.entry import EXIT_USAGE

ROOT = Path(__file__).resolve().parents[1]
#: Two tiny webrtc points: 3 peers, peer 2 fails in round 1, P = 1 and 2.
SWEEP = ["sweep", "--transport", "webrtc", "--peers", "3", "--symbols", "6", "--symbol-size",
         "32", "--redundancy", "2", "--parents", "1", "2", "--rounds", "1", "--trials", "1",
         "--seed", "3"]  # fmt: skip


@pytest.mark.browser
@pytest.mark.webrtc
def test_a_webrtc_sweep_runs_every_point_with_a_browser_peer(tmp_path: Path) -> None:
    require_chromium()
    out = tmp_path / "sweep.json"
    argv = [*SWEEP, "--browser-peers", "1", "--trial-outcomes", "--json", str(out), "--quiet"]
    assert main(argv) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [p["params"]["parents"] for p in doc["points"]] == [1, 2]
    for point in doc["points"]:
        (trial,) = point["records"]
        assert trial["browsers"] == ["1"], trial["browsers"]  # peer slot 1: a Chromium page
        assert trial["browser_version"].startswith("Chromium"), trial["browser_version"]
        assert trial["browser_errors"] == []
        assert [r["verdict"] for r in trial["rounds"]] == ["ok"]


def _usage_error(capsys: Any, argv: list[str]) -> str:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals exit from inside
        code = exc.code
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--browser-peers", "1"], "--browser-peers: only for the webrtc transport"),
        (["--transport", "memory", "--browser-newcomers"],
         "--browser-newcomers: only for the webrtc transport (Chromium pages, emulated and node "
         "hosts join over WebRTC), and this sweep's transport is 'memory' (give --transport "
         "webrtc)"),
        (["--transport", "sim", "--hosts", "netns", "--browser-peers", "2"],
         "--browser-peers, --hosts: only for the webrtc transport"),
        (["--transport", "webrtc", "--peers", "3", "4", "--browser-peers", "4"],
         "the sweep's point with N = 3: browser_peers = 4: a count must be in 0..3"),
        (["--transport", "webrtc", "--peers", "3", "--browser-peers", "1,5"],
         "browser_peers: slot 5 is not a peer slot (1..3)"),
        (["--transport", "webrtc", "--browser-newcomers", "--executor", "dask"],
         "--executor dask runs the chunks in other processes"),
        (["--browser-peers", "x"], "expected a count or comma-separated peer slots"),
    ],
)  # fmt: skip
def test_impossible_placements_are_usage_errors(
    capsys: Any, extra: list[str], message: str
) -> None:
    err = _usage_error(capsys, ["sweep", "--parents", "2", "--trials", "1", *extra])
    assert message in err, err


def test_a_scenarios_browsers_go_with_it_and_are_checked_too(capsys: Any) -> None:
    scenario = str(ROOT / "scenarios" / "three_peers_rlnc_browser_newcomer.toml")
    err = _usage_error(capsys, ["sweep", "--scenario", scenario, "--transport", "memory"])
    its = "its browser_peers, browser_newcomers, hosts or node_hosts"
    assert f"{scenario}: {its}: only for the webrtc " in err
    assert "this sweep's transport is 'memory'" in err
