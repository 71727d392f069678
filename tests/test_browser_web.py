"""Serving the browser peer (signaling/web.py), the page address, which slots are browsers, and
the trial record's browser fields - everything about browser peers that needs no Chromium."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from rlnc_testbed.browser.peers import browser_slots, peer_url
from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.protocol import Params, TrialRecord
from rlnc_testbed.protocol.faults import FaultPlan
from rlnc_testbed.protocol.params import ParameterError
from rlnc_testbed.protocol.records import RoundRecord
from rlnc_testbed.signaling import client as client_module
from rlnc_testbed.signaling.client import RECONNECT_UNITS
from rlnc_testbed.signaling.server import CLOSE_RESTART, SignalingServer
from rlnc_testbed.signaling.web import WEB_DIR, web_file

WEB_MODULES = ["peer.js", "signaling.js", "channels.js", "node.js", "storage.js", "util.js"]


async def _get(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.request(method, url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


@pytest.fixture
async def base():
    async with SignalingServer() as server:
        yield f"http://127.0.0.1:{server.port}"


async def test_the_peer_page_and_its_modules_are_served_with_their_types(base):
    status, kind, body = await _get(base + "/web/peer.html")
    assert (status, kind.split(";")[0]) == (200, "text/html")
    assert b'<script type="module" src="peer.js">' in body
    for name in WEB_MODULES:
        status, kind, body = await _get(f"{base}/web/{name}")
        assert (status, kind.split(";")[0]) == (200, "text/javascript"), name
        assert body == (WEB_DIR / name).read_bytes()
    status, kind, body = await _get(base + "/web/peer.js", "HEAD")
    assert (status, kind.split(";")[0], body) == (200, "text/javascript", b"")


@pytest.mark.parametrize(
    "path",
    [
        "/web/",  # no listing
        "/web",
        "/web/missing.js",
        "/web/../signaling/server.py",
        "/web/%2e%2e/signaling/web.py",
        "/web/..%2fsignaling%2fweb.py",
        "/web/.hidden.js",
        "/web/peer.py",  # not a served type
        "/web//etc/passwd",
        "/web/%2Fetc%2Fpasswd",
    ],
)
async def test_nothing_else_is_served(base, path):
    status, _, body = await _get(base + path)
    assert status == 404, (path, body[:80])


def test_web_file_stays_inside_its_folder(tmp_path: Path):
    root = tmp_path / "web"
    root.mkdir()
    (root / "ok.js").write_text("export {};")
    (tmp_path / "secret.js").write_text("secret")
    os.symlink(tmp_path / "secret.js", root / "link.js")
    (root / "sub").mkdir()
    (root / "sub" / "deep.json").write_text("{}")
    assert web_file("ok.js", root) == (root / "ok.js").resolve()
    assert web_file("sub/deep.json", root) == (root / "sub" / "deep.json").resolve()
    for name in ["link.js", "../secret.js", "sub", "sub/", "", "ok.js/", "/ok.js", "a/../ok.js"]:
        assert web_file(name, root) is None, name


def test_peer_url_carries_its_arguments_in_the_fragment_only():
    url = peer_url("ws://127.0.0.1:4321/ws", role="newcomer", slot="12", token="s3cr3t", unit=2.5)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.query) == (
        "http",
        "127.0.0.1:4321",
        "/web/peer.html",
        "",
    )
    args = {k: v[0] for k, v in parse_qs(parts.fragment).items()}
    assert args == {
        "server": "ws://127.0.0.1:4321/ws",
        "role": "newcomer",
        "slot": "12",
        "token": "s3cr3t",
        "unit": "2.5",
    }
    with pytest.raises(ValueError, match="ws://"):
        peer_url("http://127.0.0.1/ws", role="peer", slot="1", token="t", unit=1.0)


@pytest.mark.parametrize(
    ("value", "slots"),
    [(None, ()), (0, ()), (3, (1, 2, 3)), ([5, 2], (2, 5)), ((), ()), (range(1, 3), (1, 2))],
)
def test_browser_slots(value, slots):
    assert browser_slots(value, 5) == slots


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (6, "count must be in 0..5"),
        (-1, "count must be in 0..5"),
        ([0], "not a peer slot"),
        ([6], "not a peer slot"),
        ([2, 2], "twice"),
        (["2"], "not an integer"),
        (True, "count or a list"),
        ("2", "count or a list"),
    ],
)
def test_bad_browser_slots_are_named(value, match):
    with pytest.raises(ParameterError, match=match):
        browser_slots(value, 5)


@pytest.mark.parametrize(
    "options",
    [
        dict(transport="memory"),
        dict(shaping={("1", "collector"): None}),
    ],
)
def test_browser_peers_need_plain_webrtc(options):
    params = Params(peers=3, symbols=4, symbol_size=8, parents=2, rounds=1)
    with pytest.raises(ParameterError, match="browser peers need the webrtc transport"):
        Cluster(params, browser_peers=[1], **options)
    with pytest.raises(ParameterError, match="browser peers need the webrtc transport"):
        Cluster(params, browser_newcomers=True, **options)


def test_link_faults_a_page_cannot_carry_out_are_still_refused_naming_them():
    """Link shaping sits in an aiortc connector's datagram path; a page sends from Chromium's
    own WebRTC stack. (Node faults are carried out by pages: test_browser_node_faults.py.)"""
    spec = {"kind": "link", "round": 1, "loss": 0.1}
    params = Params(peers=3, symbols=4, symbol_size=8, parents=2, rounds=1)
    faults = FaultPlan.from_list([spec, {"kind": "server-restart", "round": 1}])
    with pytest.raises(ParameterError, match=f"server-restart.*got {spec['kind']}$"):
        Cluster(params, browser_peers=[1], faults=faults)
    with pytest.raises(ParameterError, match="browser peers need the webrtc transport"):
        Cluster(params, browser_newcomers=True, faults=faults)


def test_signaling_faults_are_accepted_with_browser_peers():
    params = Params(peers=3, symbols=4, symbol_size=8, parents=2, rounds=2)
    for spec in (
        {"kind": "server-restart", "round": 1},
        {"kind": "collector-reconnect", "rate": 1.0},
    ):
        cluster = Cluster(
            params, browser_peers=[1, 2], browser_newcomers=True, faults=FaultPlan.from_list([spec])
        )
        assert cluster.browser_peers == (1, 2) and cluster.faults.specs[0].kind == spec["kind"]
        # the server serves the pages' modules: no page is loaded ahead while it may be down
        assert (cluster.standby is None) == (spec["kind"] == "server-restart")
    with pytest.raises(ParameterError, match="webrtc"):
        Cluster(params, transport="memory", browser_peers=[1],
                faults=FaultPlan.from_list([{"kind": "server-restart", "round": 1}]))  # fmt: skip


def test_the_pages_rejoin_constants_are_the_python_clients():
    """web/signaling.js rejoins as signaling/client.py does: the same close code, window and
    pauses (each constant has its home in Python; the JS copy is checked against it)."""
    text = (WEB_DIR / "signaling.js").read_text(encoding="utf-8")
    found = dict(re.findall(r"^export const ([A-Z_]+) = (\d+);", text, flags=re.M))
    assert int(found["RECONNECT_UNITS"]) == RECONNECT_UNITS
    assert int(found["RESTART_CODE"]) == CLOSE_RESTART == 1012
    assert int(found["MAX_PAUSE_MS"]) == round(client_module._MAX_PAUSE * 1000)
    assert int(found["FIRST_PAUSE_MS"]) == 50  # the Python client's first pause, 0.05 s


def test_trial_records_say_which_nodes_were_browsers():
    rnd = RoundRecord(1, 2, 4, (1, 3), 6, 6, True, True)
    record = TrialRecord(
        trial=0,
        seed=1,
        rounds=[rnd],
        finish="max-round",
        browsers=["2", "4"],
        browser_version="Chromium 150.0.7871.100",
        browser_errors=[{"slot": "4", "role": "newcomer", "kind": "console", "text": "x"}],
    )
    data = record.to_dict()
    assert data["browsers"] == ["2", "4"] and data["browser_version"].startswith("Chromium ")
    assert TrialRecord.from_dict(data) == record
    # Without browsers a record keeps the shape it always had, and old records load.
    plain = TrialRecord(trial=0, seed=1, rounds=[rnd], finish="max-round")
    assert set(plain.to_dict()) == {"trial", "seed", "success", "finish", "error", "rounds"}
    assert TrialRecord.from_dict(plain.to_dict()) == plain
    with pytest.raises(TypeError, match="browsers"):
        TrialRecord.from_dict({**data, "browsers": [2]})
    with pytest.raises(TypeError, match="browser_version"):
        TrialRecord.from_dict({**data, "browser_version": 150})
