"""Scenario files name browser slots in ``[params]``; they are checked when loaded and never
reach the experiment parameters (the simulator and the nodes never see them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlnc_testbed.experiment.scenario import Scenario, ScenarioError, load_scenario
from rlnc_testbed.protocol import Params

HEAD = 'name = "b"\ntransport = "webrtc"\n[params]\npeers = 5\nsymbols = 6\nparents = 2\n'


def scenario(tmp_path: Path, extra: str, head: str = HEAD):  # type: ignore[no-untyped-def]
    path = tmp_path / "b.toml"
    path.write_text(head + extra, encoding="utf-8")
    return load_scenario(path)


def test_browser_slots_by_list_or_count(tmp_path: Path) -> None:
    listed = scenario(tmp_path, "browser_peers = [5, 2]\nbrowser_newcomers = true\n")
    assert listed.browser_peers == (2, 5) and listed.browser_newcomers
    assert listed.deployment == {"browser_peers": (2, 5), "browser_newcomers": True}
    assert "browser_peers" not in listed.params.to_dict()
    counted = scenario(tmp_path, "browser_peers = 3\n")
    assert counted.browser_peers == (1, 2, 3) and not counted.browser_newcomers
    assert counted.with_params(rounds=2).browser_peers == (1, 2, 3)  # kept by copies
    assert counted.to_dict()["browser_peers"] == [1, 2, 3]
    assert scenario(tmp_path, "").deployment == {}


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("browser_peers = [6]\n", "not a peer slot"),
        ("browser_peers = [2, 2]\n", "twice"),
        ("browser_peers = 9\n", "a count must be in 0..5"),
        ("browser_peers = 'all'\n", "a count or a list"),
        ("browser_newcomers = 1\n", "true or false"),
    ],
)
def test_bad_browser_slots_name_the_file_and_problem(tmp_path: Path, extra, problem) -> None:
    with pytest.raises(ScenarioError, match=problem) as info:
        scenario(tmp_path, extra)
    assert "b.toml" in str(info.value)


def test_browser_peers_need_webrtc(tmp_path: Path) -> None:
    head = HEAD.replace('"webrtc"', '"memory"')
    with pytest.raises(ScenarioError, match="need transport = 'webrtc'"):
        scenario(tmp_path, "browser_peers = 1\n", head=head)
    with pytest.raises(ScenarioError, match="need transport = 'webrtc'"):
        Scenario(name="x", params=Params(peers=5), transport="sim", browser_newcomers=True)


def test_hosts_netns_is_a_webrtc_deployment(tmp_path: Path) -> None:
    netns = scenario(tmp_path, "", head='hosts = "netns"\n' + HEAD)
    assert netns.hosts == "netns" and netns.deployment == {"hosts": "netns"}
    with pytest.raises(ScenarioError, match="hosts must be one of"):
        scenario(tmp_path, "", head='hosts = "vm"\n' + HEAD)
    with pytest.raises(ScenarioError, match="needs transport = 'webrtc'"):
        scenario(tmp_path, "", head='hosts = "netns"\n' + HEAD.replace('"webrtc"', '"sim"'))
