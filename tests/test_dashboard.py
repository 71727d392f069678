"""The dashboard (rlnc_testbed/experiment/dashboard.py) and the system model page.

Without a browser: the websocket sends every history line as written (a live file followed as
it grows, only complete lines; a replay from the start), malformed lines are reported in place
and never end the stream, ``run --dashboard`` prints its URL and pushes every event of a real
run, ``replay`` serves a recorded one until Ctrl-C; the JS tests' fixture is still a history of
today's format whose outcomes are the simulator's.

In headless Chromium (marker ``browser``, the project's launcher): during a real memory run
with ``--dashboard`` the page shows the failed peer highlighted, the parents, every peer's rank
and contribution to the global rank (``rank R · +C``, adding up to the collector's rank) and
the verdict; the replay's pause stops the counter and its slider jumps to a round, whose shares
it shows; at the end of every repair of 10- and 30-peer runs, at 1280 and 800 px wide, no two
labels of the model overlap (the failed peer's with the newcomer's was the old defect), none
covers another node or leaves the drawing, and the page does not get wider than the window.
Screenshots go to ``tmp_path`` and, through ``keep_artifact``, to ``$RLNC_ARTIFACTS``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from browser_support import require_chromium

from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.experiment.dashboard import Dashboard, parse_address
from rlnc_testbed.timeouts import unit

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "js" / "model-fixture.jsonl"
SCENARIO = ROOT / "scenarios" / "ten_peers_rlnc_rounds.toml"
URL = re.compile(r"(http://127\.0\.0\.1:\d+/)")


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


async def _receive(url: str, *, within: float = 20.0) -> list[str]:
    """Every message of the dashboard's /events websocket until it closes (bounded)."""
    got: list[str] = []
    async with (
        asyncio.timeout(within * unit()),
        aiohttp.ClientSession() as session,
        session.ws_connect(url.rstrip("/") + "/events") as ws,
    ):
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                got.append(message.data)
    return got


# -- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("8080", ("127.0.0.1", 8080)),
        (":0", ("127.0.0.1", 0)),
        ("localhost", ("localhost", 0)),
        ("[::1]:9000", ("::1", 9000)),
    ],
)
def test_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1:99999", "host:port", "[::1", "[::1]9"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


# -- the fixture of the JS tests ------------------------------------------------------------


def test_the_js_fixture_is_a_real_history_with_the_simulators_outcomes() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "js"))
    try:
        import model_fixture
    finally:
        sys.path.pop(0)
    from rlnc_testbed.experiment.runner import run_point

    contents = read_history(FIXTURE)
    assert contents.params == model_fixture.PARAMS
    assert contents.transport == model_fixture.TRANSPORT
    assert any(e["event"] == "transfer" for e in contents.events)
    simulated = run_point(model_fixture.PARAMS, transport="sim")
    recorded = [r.outcome() for t in sorted(contents.trials) for r in contents.trials[t].rounds]
    assert recorded == [r.outcome() for t in simulated.trials for r in t.rounds]


# -- the websocket --------------------------------------------------------------------------


async def test_a_replay_sends_every_line_then_closes(tmp_path: Path) -> None:
    with Dashboard(FIXTURE, mode="replay") as dashboard:
        got = await _receive(dashboard.url)
        again = await _receive(dashboard.url)  # every page gets everything
    assert got == _lines(FIXTURE)
    assert again == got
    assert dashboard.connections == 2 and dashboard.malformed == 0


async def test_the_page_and_its_modules_are_served() -> None:
    with Dashboard(FIXTURE, mode="replay") as dashboard:
        async with asyncio.timeout(10 * unit()), aiohttp.ClientSession() as session:
            async with session.get(dashboard.url) as response:
                assert response.status == 200
                assert str(response.url).endswith("/web/model.html?mode=replay")
                assert "model.js" in await response.text()
            for name in (
                "model.js",
                "model-state.js",
                "model-layout.js",
                "model-view.js",
                "rules.js",
                "wire.js",
            ):
                async with session.get(f"{dashboard.url}web/{name}") as response:
                    assert response.status == 200, name
                    assert response.content_type == "text/javascript"
            async with session.get(f"{dashboard.url}history.jsonl") as response:
                assert (await response.text()) == FIXTURE.read_text(encoding="utf-8")


async def test_malformed_lines_are_reported_in_place_and_the_rest_still_comes(
    tmp_path: Path,
) -> None:
    good = _lines(FIXTURE)
    path = tmp_path / "broken.jsonl"
    path.write_text(
        "\n".join([*good[:3], "not json", "[1, 2]", *good[3:]]) + '\n{"event": "fail',
        encoding="utf-8",
    )
    with Dashboard(path, mode="replay") as dashboard:
        got = await _receive(dashboard.url)
    reports = [json.loads(m) for m in got if '"malformed"' in m]
    assert [r["line"] for r in reports] == [4, 5, len(good) + 3]
    assert "not valid JSON" in reports[0]["error"]
    assert "expected a JSON object" in reports[1]["error"]
    assert reports[2]["error"].startswith("truncated last line")
    assert [m for m in got if '"malformed"' not in m] == good
    assert dashboard.malformed == 3


async def test_live_follows_the_file_as_it_grows_and_waits_for_whole_lines(
    tmp_path: Path,
) -> None:
    lines = _lines(FIXTURE)
    path = tmp_path / "live.jsonl"  # does not exist yet: the run has not started
    with Dashboard(path, poll=0.01) as dashboard:
        receiver = asyncio.ensure_future(_receive(dashboard.url))
        await asyncio.sleep(0.1)
        with path.open("w", encoding="utf-8") as handle:
            for line in lines[:10]:
                handle.write(line + "\n")
                handle.flush()
                await asyncio.sleep(0.005)
            middle = len(lines[10]) // 2
            handle.write(lines[10][:middle])  # half a line: must not be sent as it stands
            handle.flush()
            await asyncio.sleep(0.1)
            handle.write(lines[10][middle:] + "\n")
            for line in lines[11:]:
                handle.write(line + "\n")
        await asyncio.sleep(0.1)
        assert not receiver.done(), "a live stream ended before the run finished"
        dashboard.finish()
        got = await receiver
    assert got == lines
    assert dashboard.malformed == 0


# -- the CLI --------------------------------------------------------------------------------


async def _start(*argv: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start ``python -m rlnc_testbed ARGV`` and read the URL it prints on stderr (bounded)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rlnc_testbed", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        async with asyncio.timeout(30 * unit()):
            while True:
                line = (await process.stderr.readline()).decode()
                if not line:
                    raise AssertionError("the command ended without printing a URL")
                found = URL.search(line)
                if found:
                    return process, found.group(1)
    except BaseException:
        process.kill()
        await process.wait()
        raise


async def _finish(process: asyncio.subprocess.Process, within: float = 60.0) -> int:
    try:
        async with asyncio.timeout(within * unit()):
            await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode


async def test_run_with_dashboard_pushes_every_event_of_a_real_run(tmp_path: Path) -> None:
    history = tmp_path / "run.jsonl"
    process, url = await _start(
        "run", str(SCENARIO), "--transport", "memory", "--trials", "2", "--rounds", "3",
        "--history", str(history), "--dashboard", "127.0.0.1:0", "-q",
    )  # fmt: skip
    got = await _receive(url, within=60)
    assert await _finish(process) == 0
    assert got == _lines(history)
    names = {json.loads(m)["event"] for m in got}
    assert {"start", "failure", "parents", "transfer", "verdict", "trial", "point"} <= names


async def test_a_run_nobody_watched_waits_for_a_page_and_its_history_is_temporary(
    tmp_path: Path,
) -> None:
    import tempfile

    temporary = Path(tempfile.gettempdir())
    before = set(temporary.glob("rlnc-dashboard-*"))
    process, url = await _start(
        "run", str(SCENARIO), "--transport", "sim", "--trials", "3", "--dashboard", "-q"
    )
    assert process.stderr is not None
    async with asyncio.timeout(60 * unit()):  # connect only once the run is over
        while "no page connected yet" not in (await process.stderr.readline()).decode():
            pass
    got = await _receive(url)
    assert await _finish(process) == 0
    events = [json.loads(m) for m in got]
    assert events[0]["event"] == "start" and events[-1]["event"] == "point"
    assert sum(e["event"] == "trial" for e in events) == 3
    assert set(temporary.glob("rlnc-dashboard-*")) <= before, "the temporary history stayed"


async def test_replay_serves_a_recorded_run_until_interrupted() -> None:
    process, url = await _start("replay", str(FIXTURE), "--port", "0")
    try:
        got = await _receive(url)
    finally:
        process.send_signal(signal.SIGINT)
    assert await _finish(process, within=20) == 0
    assert got == _lines(FIXTURE)


def test_replay_of_a_missing_file_is_an_input_error(tmp_path: Path, capsys: Any) -> None:
    from rlnc_testbed.cli.entry import main

    assert main(["replay", str(tmp_path / "none.jsonl")]) == 2
    assert "no history there" in capsys.readouterr().err


# -- in Chromium ----------------------------------------------------------------------------


async def _screenshot(page: Any, tmp_path: Path, name: str, keep: Any) -> Path:
    """Save a screenshot in ``tmp_path`` and keep it (``keep_artifact``: under
    ``$RLNC_ARTIFACTS`` when set)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    target = tmp_path / f"{name}-{worker}.png"
    await page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
    keep(target)
    return target


async def _wait(page: Any, expression: str, within: float = 30.0) -> Any:
    return await page.wait_for_function(expression, timeout=within * unit() * 1000)


async def _shares(page: Any) -> dict[str, tuple[int, int, str, str]]:
    """Per peer drawn with a share of the global rank: (its rank, its contribution, the text
    under it, its tooltip), from the DOM."""
    rows = await page.eval_on_selector_all(
        "g.peer[data-contribution]",
        "nodes => nodes.map(n => [n.dataset.id, Number(n.dataset.ownRank), "
        "Number(n.dataset.contribution), n.querySelector('text.peer-share').textContent, "
        "n.querySelector('title').textContent])",
    )
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


@pytest.mark.browser
async def test_during_a_real_run_the_page_shows_failure_parents_and_verdict(
    tmp_path: Path, keep_artifact: Any
) -> None:
    require_chromium()
    from rlnc_testbed.browser import Chromium

    history = tmp_path / "run.jsonl"
    async with Chromium() as browser:
        process, url = await _start(
            "run", str(SCENARIO), "--transport", "memory", "--trials", "3", "--rounds", "4",
            "--history", str(history), "--dashboard", "-q",
        )  # fmt: skip
        try:
            opened = await browser.open_page(url, slot="dashboard", role="dashboard")
            page = opened.page
            await page.set_viewport_size({"width": 1400, "height": 900})
            # While the run goes: a failed peer highlighted, its parents, a verdict.
            await _wait(page, "document.querySelector('g.peer.failed') !== null")
            await _wait(page, "document.querySelectorAll('g.peer.parent').length === 3")
            await _wait(page, "document.querySelector('#verdict').dataset.verdict !== ''")
            # Each peer's share of the global rank, once a round's collect line is in.
            await _wait(page, "document.querySelector('g.peer[data-contribution] "
                        "text.peer-share') !== null")  # fmt: skip
            live = await page.get_attribute("#status", "data-status")
            await _screenshot(page, tmp_path, "dashboard-live", keep_artifact)
            await _wait(page, "document.querySelector('#status').dataset.status === 'finished'", 90)
        finally:
            status = await _finish(process, within=90)
        assert status == 0
        assert live in ("live", "finished")
        events = [json.loads(line) for line in _lines(history)]
        last = {e["event"]: e for e in events}
        failed = await page.get_attribute("g.peer.failed", "data-id")
        assert failed == str(last["failure"]["peer"])
        newcomer = await page.get_attribute("g.peer.newcomer", "data-id")
        assert newcomer == str(last["parents"]["newcomer"])
        parents = await page.eval_on_selector_all(
            "g.peer.parent", "nodes => nodes.map(n => Number(n.dataset.id)).sort((a, b) => a - b)"
        )
        assert parents == last["parents"]["parents"]
        arrows = await page.eval_on_selector_all(
            "path.arrow.repair", "nodes => nodes.map(n => [Number(n.dataset.from), "
            "Number(n.dataset.to), Number(n.dataset.packets)])",
        )  # fmt: skip
        assert sorted(a[0] for a in arrows) == last["parents"]["parents"]
        assert all(a[1] == last["parents"]["newcomer"] and a[2] > 0 for a in arrows)
        assert await page.get_attribute("#verdict", "data-verdict") == last["verdict"]["verdict"]
        # Every peer but the failed one shows the last collect line's rank and contribution.
        shares = await _shares(page)
        collect = last["collect"]
        assert set(shares) == set(collect["contributions"]) and len(shares) == 10
        for peer, (own, share, text, title) in shares.items():
            assert (own, share) == (collect["ranks"][peer], collect["contributions"][peer])
            assert text == f"rank {own} · +{share}", text
            assert f"they add {share} to the collector's rank {collect['rank']}" in title
        assert sum(s[1] for s in shares.values()) == collect["rank"]
        received = await page.eval_on_selector(
            "g.peer.newcomer text.peer-rank", "n => n.textContent"
        )
        assert received == f"received rank {last['store']['rank']}"
        assert await page.get_attribute("#events", "data-count") == str(len(events))
        assert await page.get_attribute("#done", "data-done") == "3"
        points = await page.eval_on_selector_all("circle.survival-point", "n => n.length")
        assert points == 4
        await _screenshot(page, tmp_path, "dashboard-finished", keep_artifact)
        assert not browser.events, [e.describe() for e in browser.events]


@pytest.mark.browser
async def test_replay_pause_stops_the_counter_and_the_slider_jumps_to_a_round(
    tmp_path: Path, keep_artifact: Any
) -> None:
    require_chromium()
    from rlnc_testbed.browser import Chromium

    events = [json.loads(line) for line in _lines(FIXTURE)]
    marks = [(e["trial"], e["round"], e["verdict"]) for e in events if e["event"] == "verdict"]
    with Dashboard(FIXTURE, mode="replay") as dashboard:
        async with Chromium() as browser:
            opened = await browser.open_page(
                dashboard.page_url + "&speed=4", slot="replay", role="dashboard"
            )
            page = opened.page
            await page.set_viewport_size({"width": 1400, "height": 900})
            await _wait(page, "Number(document.querySelector('#events').dataset.count) > 3")
            await _wait(page, "Number(document.querySelector('#slider').max) === "
                        f"{len(marks)}")  # fmt: skip
            assert await page.get_attribute("#play", "data-playing") == "true"
            await page.click("#play")  # pause
            assert await page.get_attribute("#play", "data-playing") == "false"
            paused = await page.get_attribute("#events", "data-count")
            await asyncio.sleep(1.0)
            assert await page.get_attribute("#events", "data-count") == paused
            await page.click("#play")  # play again: the counter moves
            await _wait(page, f"document.querySelector('#events').dataset.count !== '{paused}'")
            # The slider jumps to the lost round (trial 1, round 3).
            target = next(i for i, m in enumerate(marks, start=1) if m[2] != "ok")
            await page.eval_on_selector(
                "#slider",
                "(s, v) => { s.value = String(v); s.dispatchEvent(new Event('input')); }",
                target,
            )
            trial, number, verdict = marks[target - 1]
            await _wait(page, f"document.querySelector('#round').dataset.round === '{number}'")
            assert await page.get_attribute("#play", "data-playing") == "false"
            assert await page.get_attribute("#trial", "data-trial") == str(trial)
            assert await page.get_attribute("#verdict", "data-verdict") == verdict
            assert await page.get_attribute("g.peer.failed", "data-id") is not None
            collect = next(
                e for e in events
                if e["event"] == "collect" and (e["trial"], e["round"]) == (trial, number)
            )  # fmt: skip
            shares = await _shares(page)
            assert {x: s[:2] for x, s in shares.items()} == {
                x: (collect["ranks"][x], collect["contributions"][x]) for x in collect["ranks"]
            }
            assert sum(s[1] for s in shares.values()) == collect["rank"]
            assert collect["rank"] < events[0]["params"]["symbols"]  # the lost round
            started = time.monotonic()
            await _screenshot(page, tmp_path, "dashboard-replay", keep_artifact)
            assert time.monotonic() - started < 30 * unit()
            assert not browser.events, [e.describe() for e in browser.events]


#: Every pair of labels of the system model whose boxes (getBoundingClientRect) intersect, or a
#: label over another node's box, the source, the collector, the verdict or the legend, or a
#: label outside the drawing: the peers' texts (id, packets held, kind, notes, rank shares), the
#: repair arrows' packet counts. An empty list is a readable picture.
OVERLAPS_JS = """svg => {
  const box = (n) => { const b = n.getBoundingClientRect();
    return { x: b.left, y: b.top, w: b.width, h: b.height }; };
  const meets = (a, b) => a.x < b.x + b.w - 0.5 && b.x < a.x + a.w - 0.5
    && a.y < b.y + b.h - 0.5 && b.y < a.y + a.h - 0.5;
  const owner = (n) => { const g = n.closest('g.peer');
    if (g) return `peer ${g.dataset.id}${g.classList.contains('failed') ? ' (failed)' : ''}`;
    return n.closest('g.endpoint')?.id ?? n.getAttribute('class'); };
  const labels = [...svg.querySelectorAll('g.peer text, text.repair-label')]
    .filter((n) => n.textContent.trim() !== '')
    .map((n) => ({ node: n, owner: owner(n), box: box(n),
      what: `${owner(n)} ${n.getAttribute('class')} "${n.textContent}"` }));
  const solids = [...svg.querySelectorAll('g.peer > rect, g.endpoint > rect, '
    + 'text.verdict-badge, g.legend')].map((n) => ({ owner: owner(n), box: box(n),
      what: `${owner(n)} ${n.tagName}` }));
  const frame = box(svg);
  const hits = [];
  labels.forEach((a, i) => {
    labels.slice(i + 1).forEach((b) => {
      if (meets(a.box, b.box)) hits.push(`${a.what} / ${b.what}`);
    });
    for (const s of solids) {
      if (s.owner !== a.owner && meets(a.box, s.box)) hits.push(`${a.what} over ${s.what}`);
    }
    const b = a.box;
    if (b.x < frame.x || b.y < frame.y || b.x + b.w > frame.x + frame.w
        || b.y + b.h > frame.y + frame.h) hits.push(`${a.what} outside the drawing`);
  });
  return hits;
}"""

#: The parts of the page that stick out of the window on the right (the page would scroll
#: sideways, or a panel be cut).
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width) out.push('the page');
  for (const n of document.querySelectorAll('header > *, #controls > *, #model, aside section')) {
    const r = n.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 0.5) out.push(`${n.id || n.tagName} to ${r.right}`);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def crowded_histories(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Histories of memory runs (per-link transfers, so repair labels carry byte counts) with
    10 and 30 peers, several trials each: repairs at many slots of the ring."""
    from rlnc_testbed.experiment.runner import run_point
    from rlnc_testbed.protocol.params import Params

    folder = tmp_path_factory.mktemp("histories")
    out = {}
    for peers, trials in ((10, 2), (30, 2)):
        params = Params(
            peers=peers, symbols=20, symbol_size=64, redundancy=2.0, parents=3,
            scheme="rlnc", rounds=5, trials=trials, seed=0,
        )  # fmt: skip
        out[peers] = folder / f"{peers}.jsonl"
        run_point(params, transport="memory", history=out[peers])
    return out


async def _seek(page: Any, mark: int, trial: int, number: int) -> None:
    """Move the replay's round slider to round mark ``mark`` (trial ``trial``, round
    ``number``) and wait for the page to draw it."""
    await page.eval_on_selector(
        "#slider", "(s, v) => { s.value = String(v); s.dispatchEvent(new Event('input')); }", mark
    )
    await _wait(
        page,
        f"document.querySelector('#round').dataset.round === '{number}' && "
        f"document.querySelector('#trial').dataset.trial === '{trial}' && "
        "document.querySelector('g.peer.failed') !== null",
    )


@pytest.mark.browser
@pytest.mark.parametrize("peers", [10, 30])
async def test_at_every_repair_no_two_labels_of_the_model_overlap(
    peers: int, crowded_histories: dict[int, Path], tmp_path: Path, keep_artifact: Any
) -> None:
    """At the end of every round (the failed peer pushed out, the newcomer in its place, the
    parents' arrows with their packet counts, every peer's share of the rank), at 1280x800 and
    at 800 px wide: no label's box meets another's or another node's, none leaves the drawing,
    and the page does not scroll sideways."""
    require_chromium()
    from rlnc_testbed.browser import Chromium

    history = crowded_histories[peers]
    events = [json.loads(line) for line in _lines(history)]
    marks = [(e["trial"], e["round"]) for e in events if e["event"] == "verdict"]
    assert len(marks) == 10
    with Dashboard(history, mode="replay") as dashboard:
        async with Chromium() as browser:
            opened = await browser.open_page(
                dashboard.page_url + "&autoplay=0", slot="replay", role="dashboard"
            )
            page = opened.page
            await _wait(page, f"Number(document.querySelector('#slider').max) === {len(marks)}")
            await _wait(page, "document.querySelector('#status').dataset.status === 'replay' "
                        "&& window.rlncModel.finished")  # fmt: skip
            for width, height in ((1280, 800), (800, 900)):
                await page.set_viewport_size({"width": width, "height": height})
                for mark, (trial, number) in enumerate(marks, start=1):
                    await _seek(page, mark, trial, number)
                    assert await page.locator("g.peer").count() == peers + 1
                    assert await page.locator("g.peer.newcomer").count() == 1
                    assert await page.locator("path.arrow.repair").count() == 3
                    hits = await page.eval_on_selector("#model", OVERLAPS_JS)
                    where = f"{peers} peers, {width} px, trial {trial} round {number}"
                    assert hits == [], f"{where}: {len(hits)} overlaps, {hits[:8]}"
                    # The failed peer drawn apart, linked to its old slot; every share shown.
                    assert await page.locator("g.peer.failed.ghost").count() == 1
                    assert await page.locator("path.replaced").count() == 1
                    assert await page.locator("g.peer[data-labels=hidden]").count() == 0
                    assert await page.locator("g.peer[data-contribution]").count() == peers
                    assert await page.locator("g.peer text.peer-share").count() == peers
                    legend = await page.eval_on_selector_all(
                        "g.legend .legend-entry", "ns => ns.map(n => n.dataset.entry)"
                    )
                    assert legend == ["memory", "newcomer", "parent", "failed"]
                overflow = await page.evaluate(OVERFLOW_JS)
                assert overflow == [], f"at {width} px, wider than the window: {overflow}"
                await _seek(page, 2, *marks[1])
                name = f"dashboard-repair-{peers}-{width}"
                await _screenshot(page, tmp_path, name, keep_artifact)
            assert not browser.events, [e.describe() for e in browser.events]
