"""``run --browser-peers/--browser-newcomers/--hosts`` reach the cluster: the trial records
name the Chromium pages and their version; impossible combinations are usage errors."""

from __future__ import annotations

import json

import pytest
from browser_support import require_chromium

from rlnc_testbed.cli import main

pytestmark = pytest.mark.browser


def test_run_with_a_browser_newcomer_records_the_pages(tmp_path, capsys) -> None:
    require_chromium()
    out = tmp_path / "run.json"
    argv = ["run", "scenarios/three_peers_rlnc.toml", "--transport", "webrtc", "--quiet",
            "--browser-peers", "1", "--browser-newcomers", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    trials = json.loads(out.read_text())["trials"]
    (trial,) = trials
    assert trial["browsers"] == ["1", "4"] and trial["browser_version"].startswith("Chromium")
    assert all(r["verdict"] == "ok" for r in trial["rounds"])


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (["--transport", "memory", "--browser-peers", "2"], "need transport = 'webrtc'"),
        (["--transport", "webrtc", "--browser-peers", "7"], "a count must be in 0..3"),
        (["--transport", "webrtc", "--browser-peers", "2,7"], "not a peer slot"),
        (["--transport", "webrtc", "--browser-peers", "a,b"], "comma-separated peer slots"),
    ],
)
def test_impossible_browser_options_are_usage_errors(capsys, extra, problem) -> None:
    try:
        code = main(["run", "scenarios/three_peers_rlnc.toml", *extra])
    except SystemExit as exc:  # argparse's own refusals exit from inside
        code = exc.code
    assert code == 2
    assert problem in capsys.readouterr().err
