"""Browser newcomers' pages opened ahead (rlnc_testbed.browser.StandbyPages): a standby page loads
its modules but joins nothing until started; a cluster opens round r+1's page as round r's
newcomer starts, so a newcomer's start is a join, not a page load; the records are still as
specified; a standby page that failed gives its round the ``error`` verdict naming its slot,
at that round; and no page outlives its trial."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import pytest_asyncio
from browser_support import require_chromium
from test_cluster_equivalence import assert_as_specified

from rlnc_testbed.browser import BrowserError, BrowserPage, Chromium, PageEvent, StandbyPages
from rlnc_testbed.browser.peers import peer_fragment, standby_url
from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.protocol import Params
from rlnc_testbed.signaling.server import SignalingServer
from rlnc_testbed.timeouts import unit

SMALL = dict(scheme="rlnc", seed=3, peers=4, symbols=6, symbol_size=64, parents=2, beta=1)


# -- StandbyPages, with stand-in pages (no Chromium) -----------------------------------------


class _Page:
    """What StandbyPages uses of a BrowserPage."""

    def __init__(self, slot: str) -> None:
        self.slot = slot
        self.on_event: Any = None
        self.closed = False

    async def close(self, *, timeout: float) -> None:
        self.closed = True


def _opener(pages: dict[str, _Page], *, fail: set[str] = frozenset(), events=None, gate=None):
    async def open_page(slot: str, on_event) -> BrowserPage:
        if gate is not None:
            await gate.wait()
        for text in (events or {}).get(slot, ()):
            on_event(PageEvent(slot, "newcomer", "console", text))
        if slot in fail:
            on_event(PageEvent(slot, "newcomer", "load", "gave HTTP 404"))
            raise BrowserError(f"browser newcomer {slot}: gave HTTP 404")
        pages[slot] = _Page(slot)
        return pages[slot]  # type: ignore[return-value]

    return open_page


async def test_a_standby_page_is_handed_over_with_what_it_held():
    pages: dict[str, _Page] = {}
    standby = StandbyPages(_opener(pages, events={"7": ["early"]}))
    standby.prepare("6")
    standby.prepare("6")  # once per slot
    found: list[PageEvent] = []
    page = await standby.take("6", on_event=found.append)
    assert page is pages["6"] and page.on_event == found.append and found == []
    # A slot nobody prepared is opened when taken.
    assert "8" not in standby
    assert (await standby.take("8", on_event=found.append)).slot == "8"
    # A page that failed while waiting hands its failures over, is closed and is not used.
    standby.prepare("7")
    with pytest.raises(BrowserError, match=r"browser newcomer 7: console: early \(while in"):
        await standby.take("7", on_event=found.append)
    assert [(e.slot, e.text) for e in found] == [("7", "early")] and pages["7"].closed
    assert standby.prepared == ["6", "8", "7"]
    await standby.close()


async def test_a_standby_page_that_could_not_open_is_its_takers_error_with_its_events():
    standby = StandbyPages(_opener({}, fail={"5"}))
    standby.prepare("5")
    await asyncio.sleep(0.01)  # it failed long before its slot is taken: nothing said yet
    found: list[PageEvent] = []
    with pytest.raises(BrowserError, match="browser newcomer 5: gave HTTP 404"):
        await standby.take("5", on_event=found.append)
    assert [(e.slot, e.kind) for e in found] == [("5", "load")]
    await standby.close()


async def test_closing_closes_every_page_not_taken_and_what_is_still_opening():
    pages: dict[str, _Page] = {}
    gate = asyncio.Event()
    standby = StandbyPages(_opener(pages, gate=gate, fail={"9"}))
    for slot in ("5", "6", "9"):
        standby.prepare(slot)
    asyncio.get_running_loop().call_later(0.05, gate.set)
    await standby.close(timeout=5 * unit())  # waits for the pages still opening, then closes
    assert pages["5"].closed and pages["6"].closed
    standby.prepare("7")  # closed: nothing more opens
    await asyncio.sleep(0.01)
    assert "7" not in pages and "7" not in standby
    with pytest.raises(BrowserError, match="closed"):
        await standby.take("7", on_event=None)


async def test_a_page_that_never_gets_ready_is_a_bounded_error():
    never = asyncio.Event()
    standby = StandbyPages(_opener({}, gate=never), take_units=0.05 / unit())
    with pytest.raises(BrowserError, match="browser slot 5: its standby page was not ready"):
        await standby.take("5", on_event=None)
    await standby.close(timeout=0.05)  # ends the opener still waiting


# -- in Chromium -----------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium():
    """One Chromium for the module's trials (each trial opens and closes its own pages)."""
    require_chromium()
    async with Chromium() as browser:
        yield browser


async def _no_pages_left(chromium: Chromium) -> None:
    """Every page of the trial is closed (bounded: a page that said it is done closes in the
    background)."""
    async with asyncio.timeout(5 * unit()):
        while chromium.context.pages:
            await asyncio.sleep(0.02)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.browser
async def test_a_standby_page_joins_nothing_until_started_then_joins_its_slot(chromium):
    async with SignalingServer() as server:
        sockets: list[str] = []
        page = await chromium.open_standby(standby_url(server.url), slot="5", role="newcomer")
        page.page.on("websocket", lambda ws: sockets.append(ws.url))
        assert page.standby and page.marks["open"] <= page.marks["loaded"] <= page.marks["ready"]
        await asyncio.sleep(0.3)
        assert sockets == [] and server.clients == {}
        assert "standby" in await page.page.locator("#status").inner_text()
        fragment = peer_fragment(server.url, role="newcomer", slot="5",
                                 token=server.credential("newcomer", "5"), unit=unit())  # fmt: skip
        await chromium.start_standby(page, fragment)
        async with asyncio.timeout(10 * unit()):
            while "5" not in server.clients or not sockets:  # (Playwright's event may lag)
                await asyncio.sleep(0.02)
        assert sockets == [server.url] and server.clients == {"5": "newcomer"}
        assert page.page.url.endswith("/web/peer.html")  # no credential in the address bar
        with pytest.raises(BrowserError, match="not in standby"):
            await chromium.start_standby(page, fragment)
        await page.close(timeout=5 * unit())
    await _no_pages_left(chromium)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.browser
@pytest.mark.webrtc
async def test_newcomers_start_from_pages_opened_ahead_as_specified_and_leave_none(chromium):
    params = Params(rounds=3, **SMALL)
    async with asyncio.timeout(120 * unit()):
        async with Cluster(params, 0, browser=chromium, browser_newcomers=True) as cluster:
            record = await cluster.run()
            timeline = cluster.controller.timeline
            pages = {p.slot: p for p in cluster.browser_pages}
    assert record.success and record.browser_errors == [], (record.error, record.browser_errors)
    assert_as_specified(params, 0, record)
    assert record.browsers == ["5", "6", "7"]
    # One page per round's newcomer, opened before its round began, loaded and ready when
    # started (and none for a round 4 that does not come).
    assert cluster.standby.prepared == ["5", "6", "7"]
    for number, slot in enumerate(["5", "6", "7"], start=1):
        failing = next(t for t, r, phase in timeline if r == number and phase == "failing")
        marks = pages[slot].marks
        assert marks["open"] < failing, (slot, marks, failing)
        assert marks["ready"] <= marks["start"] <= marks["started"]
    await _no_pages_left(chromium)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.browser
@pytest.mark.webrtc
@pytest.mark.parametrize("broken", [1, 2])
async def test_a_standby_page_that_cannot_load_is_its_rounds_error_naming_it(chromium, broken):
    """The ``broken``-th standby page gets a 404: held while it waits, the failure is round
    ``broken``'s ``error`` verdict naming the newcomer's slot, at once - not earlier, not a
    timeout."""
    params = Params(rounds=3, **SMALL)
    loads = []

    async def route(request_route):
        loads.append(request_route.request.url)
        if len(loads) == broken:
            await request_route.fulfill(status=404, body="gone")
        else:
            await request_route.continue_()

    slot = str(params.peers + broken)
    await chromium.context.route("**/web/peer.html", route)
    try:
        started = time.monotonic()
        async with asyncio.timeout(120 * unit()):
            async with Cluster(params, 0, browser=chromium, browser_newcomers=True) as cluster:
                record = await cluster.run()
    finally:
        await chromium.context.unroute("**/web/peer.html", route)
    assert record.finish == "error", (record.finish, record.error)
    assert [r.verdict for r in record.rounds] == ["ok"] * (broken - 1) + ["error"]
    assert f"browser newcomer {slot}: loading" in record.error and "HTTP 404" in record.error
    assert "#..." in record.error  # (the fragment is not shown)
    assert record.browser_errors and {e["slot"] for e in record.browser_errors} == {slot}
    assert record.browsers == [str(params.peers + r) for r in range(1, broken + 1)]
    assert time.monotonic() - started < 10 * unit()
    await _no_pages_left(chromium)
