"""The Chromium launcher (rlnc_testbed.browser): bounded start and stop, its version, a fresh
profile that is removed, and every page failure - console error, uncaught error, crash, a page
that cannot load - reported with the page's slot, never a hang."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
import pytest_asyncio
from browser_support import require_chromium

from rlnc_testbed.browser import BrowserError, Chromium, PageEvent
from rlnc_testbed.signaling.server import SignalingServer
from rlnc_testbed.timeouts import unit

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium():
    """One Chromium for the module's tests."""
    require_chromium()
    async with Chromium() as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def web():
    """A signaling server (it serves /web/); its HTTP base URL."""
    async with SignalingServer() as server:
        yield f"http://127.0.0.1:{server.port}"


async def _events(found: list[PageEvent], count: int, within: float = 10.0) -> list[PageEvent]:
    """Wait (bounded) until ``found`` holds ``count`` events."""
    async with asyncio.timeout(within * unit()):
        while len(found) < count:
            await asyncio.sleep(0.02)
    return list(found)


def _chromium_processes(profile: str) -> list[int]:
    """Pids whose command line names ``profile`` (Chromium and its helpers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if profile.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


async def test_chromium_starts_and_stops_within_bounds_and_says_its_version():
    require_chromium()
    browser = Chromium(start_units=30, stop_units=10)
    started = time.monotonic()
    await browser.start()
    took = time.monotonic() - started
    profile = browser._profile
    assert profile is not None and Path(profile).is_dir()
    assert _chromium_processes(profile), "no Chromium process runs on the fresh profile"
    assert re.fullmatch(r"Chromium \d+\.\d+\.\d+\.\d+", browser.version), browser.version
    assert took < 30 * unit()
    started = time.monotonic()
    await browser.close()
    assert time.monotonic() - started < 2 * 10 * unit()
    assert not Path(profile).exists(), "the temporary profile was left behind"
    async with asyncio.timeout(5 * unit()):
        while _chromium_processes(profile):
            await asyncio.sleep(0.05)
    await browser.close()  # idempotent


@pytest.mark.parametrize("executable", ["/nonexistent/chromium", "/bin/false"])
async def test_a_chromium_that_cannot_start_is_a_browser_error_in_time(executable):
    require_chromium()
    browser = Chromium(executable=executable, start_units=5)
    started = time.monotonic()
    with pytest.raises(BrowserError, match=re.escape(executable)):
        await browser.start()
    assert time.monotonic() - started < 2 * 5 * unit()
    assert not browser.started


async def test_console_errors_uncaught_errors_and_crashes_are_reported_per_slot(chromium, web):
    found: list[PageEvent] = []
    # The peer page itself reports a fragment it cannot use (console.error).
    page = await chromium.open_page(
        web + "/web/peer.html#server=nowhere", slot="7", role="peer", on_event=found.append
    )
    (event,) = await _events(found, 1)
    assert (event.slot, event.role, event.kind) == ("7", "peer", "console")
    assert "fragment: server must be a ws:// URL" in event.text
    # (a page that said its node stopped is closed: not a failure)
    async with asyncio.timeout(5 * unit()):
        while not page.page.is_closed():
            await asyncio.sleep(0.02)
    assert page.done and len(found) == 1
    # An uncaught error, thrown later.
    blank = "data:text/html,<title>blank</title>"
    other = await chromium.open_page(blank, slot="8", role="newcomer", on_event=found.append)
    await other.page.evaluate("setTimeout(() => { throw new RangeError('kaboom') }, 0)")
    events = await _events(found, 2)
    assert (events[1].slot, events[1].kind) == ("8", "pageerror")
    assert "RangeError: kaboom" in events[1].text
    # The renderer dies.
    with pytest.raises(Exception, match=r"crash|closed|Navigation"):
        await other.page.goto("chrome://crash", timeout=10_000)
    events = await _events(found, 3)
    assert (events[2].slot, events[2].role, events[2].kind) == ("8", "newcomer", "crash")
    await other.close(timeout=5 * unit())
    await asyncio.sleep(0.1)
    assert len(found) == 3, found  # closing a page is no failure


async def test_a_page_that_cannot_load_is_a_browser_error(chromium, web):
    found: list[PageEvent] = []
    with pytest.raises(BrowserError, match="HTTP 404"):
        await chromium.open_page(web + "/web/missing.html", slot="3", role="peer",
                                 on_event=found.append)  # fmt: skip
    # (Chromium logs the 404 as a console error of its own, too)
    assert ("3", "load") in [(e.slot, e.kind) for e in found]
    with pytest.raises(BrowserError, match="could not load"):
        await chromium.open_page("http://127.0.0.1:9/", slot="4", role="peer",
                                 on_event=found.append)  # fmt: skip
    assert ("4", "load") in [(e.slot, e.kind) for e in found]


_JS_HELPERS = """async () => {
  const channels = await import('/web/channels.js');
  const signaling = await import('/web/signaling.js');
  const peer = await import('/web/peer.js');
  // A real Chromium offer, gathered to completion, then made loopback-only.
  const pc = new RTCPeerConnection({iceServers: []});
  pc.createDataChannel('x');
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    const done = () => pc.iceGatheringState === 'complete' && resolve();
    pc.addEventListener('icegatheringstatechange', done);
    done();
  });
  const raw = pc.localDescription.sdp;
  const sent = channels.loopbackOnly(raw);
  pc.close();
  const big = signaling.parseJson('{"seed": 9223372036854775807, "n": 3, "x": 0.5}');
  let refused = '';
  try { peer.readFragment('server=ws://h/ws&role=engine&slot=1&token=t'); }
  catch (e) { refused = e.message; }
  return {
    gathered: channels.candidateAddresses(raw),
    sent: channels.candidateAddresses(sent),
    ends: sent.trimEnd().endsWith('a=end-of-candidates'),
    marked: channels.fromBrowser(sent) && !channels.fromBrowser(raw),
    connection: sent.split('\\r\\n').filter((l) => l.startsWith('c=')),
    stripped: channels.candidateAddresses(channels.withoutCandidates(raw)),
    seed: String(big.seed), seedType: typeof big.seed, n: big.n, x: big.x,
    fragment: peer.readFragment(
      '#server=ws%3A%2F%2F127.0.0.1%3A1%2Fws&role=newcomer&slot=5&token=c&unit=2'),
    refused,
  };
}"""


async def test_the_pages_sdp_holds_only_loopback_and_big_integers_stay_exact(chromium, web):
    """Run in Chromium: what peer.js sends of a real offer has candidates on 127.0.0.1 only
    (Chromium gathers its other interfaces too), and a seed beyond 2^53 parses exactly."""
    page = await chromium.context.new_page()  # not a browser peer: main() fails, ignored
    try:
        await page.goto(web + "/web/peer.html")
        out = await page.evaluate(_JS_HELPERS)
    finally:
        await page.close()
    assert "127.0.0.1" in out["gathered"]
    assert out["sent"] and set(out["sent"]) == {"127.0.0.1"}, out
    assert out["ends"] and out["marked"] and out["connection"] == ["c=IN IP4 127.0.0.1"]
    assert out["stripped"] == []
    assert (out["seed"], out["seedType"], out["n"], out["x"]) == (
        "9223372036854775807", "bigint", 3, 0.5,
    )  # fmt: skip
    assert out["fragment"] == {"server": "ws://127.0.0.1:1/ws", "role": "newcomer",
                               "slot": "5", "token": "c", "unitMs": 2000}  # fmt: skip
    assert "role must be peer or newcomer" in out["refused"]


async def test_chromiums_own_refused_websocket_line_is_no_failure_but_the_pages_errors_are(
    chromium,
):
    """A peer rejoining a restarting server meets refused connections, which Chromium logs
    as errors of its own (no arguments): not failures. The page's console.error still is."""
    found: list[PageEvent] = []
    blank = "data:text/html,<title>blank</title>"
    page = await chromium.open_page(blank, slot="9", role="peer", on_event=found.append)
    closed = await page.page.evaluate(
        """() => new Promise((resolve) => {
             const ws = new WebSocket('ws://127.0.0.1:1/ws');
             ws.onclose = (event) => resolve(event.code);
           })"""
    )
    assert closed == 1006
    await asyncio.sleep(0.2)
    assert any("WebSocket connection to 'ws://127.0.0.1:1/ws' failed" in line
               for line in page.console), page.console  # fmt: skip
    assert found == []
    await page.page.evaluate("console.error('WebSocket connection to nowhere, said the page')")
    (event,) = await _events(found, 1)
    assert (event.slot, event.kind) == ("9", "console") and "said the page" in event.text
    await page.close(timeout=5 * unit())
