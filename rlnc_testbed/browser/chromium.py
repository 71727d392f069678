"""One Chromium per run, driven by Playwright for Python: start, a page per browser peer, stop.

The browser is the system's (``/usr/bin/chromium``, or ``$RLNC_CHROMIUM``; never a browser a
tool downloads, never ``playwright install``), started with :data:`CHROMIUM_FLAGS` on a fresh
temporary profile directory that is removed when it stops. Start and stop are bounded
(``start_units`` / ``stop_units`` timeout units); a Chromium that does not stop in time is
left to Playwright's driver, whose exit kills it.

Every page is watched: ``console.error`` messages, uncaught page errors (``pageerror``,
unhandled rejections included) and page crashes become :class:`PageEvent` records naming the
page's slot, kept in :attr:`Chromium.events` and handed to ``on_event`` (the cluster turns them
into the trial's ``error`` verdict). Not so Chromium's own log line for a websocket that could
not connect: a peer rejoining a restarting signaling server retries until it is back (and the
cluster names one that does not come back). Other console lines go to the logger. A page that prints
``[rlnc] done ...`` (the browser peer when its node stopped) is closed in the background.

A newcomer's page is best opened ahead: opened when its round needs it, it costs ~0.5 s of
that round's failing phase (a new page and its renderer, a dozen ES modules to fetch and
evaluate, the media permission). :meth:`Chromium.open_standby` opens a peer page in standby
(``peers.standby_url``): loaded, joined to nothing - a newcomer that joined early would be
announced with ``new id`` and sent ``expect`` early (docs/protocol.md §2 step 6);
:meth:`Chromium.start_standby` later starts its node, which joins with its slot's credential
as a page opened then would. :mod:`rlnc_testbed.browser.standby` keeps such pages, one per
upcoming slot, and holds what they report while they wait. Every wait is bounded.

Playwright is imported when :meth:`Chromium.start` runs, so importing this module needs only
the standard library (the ``browser`` extra installs ``playwright``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..timeouts import unit

__all__ = [
    "CHROMIUM_ENV",
    "CHROMIUM_FLAGS",
    "DEFAULT_CHROMIUM",
    "DONE_PREFIX",
    "ERROR_KINDS",
    "BrowserError",
    "BrowserPage",
    "Chromium",
    "PageEvent",
    "chromium_executable",
    "unavailable",
]

#: The system Chromium (Debian's ``chromium`` package).
DEFAULT_CHROMIUM = "/usr/bin/chromium"
#: Environment variable naming another Chromium executable.
CHROMIUM_ENV = "RLNC_CHROMIUM"
#: Command-line flags of every run (ARCHITECTURE.md "Known pitfalls"): headless, no sandbox
#: (root), no background traffic, and a 127.0.0.1 ICE candidate (loopback allowed, media
#: permission granted without a prompt).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
)
#: What a browser peer prints (console.info) when its node stopped.
DONE_PREFIX = "[rlnc] done"
#: :attr:`PageEvent.kind` values that are failures (give the ``error`` verdict).
ERROR_KINDS = ("console", "pageerror", "crash", "closed", "load")
#: Longest event text kept.
_MAX_TEXT = 2000


class BrowserError(RuntimeError):
    """Chromium could not be started, or a page could not be opened."""


def unavailable() -> str | None:
    """Why Chromium cannot be driven here, naming the fix (None: it can)."""
    executable = chromium_executable()
    if not os.path.exists(executable):
        return (
            f"no Chromium at {executable}: install Debian's package (apt-get install chromium, "
            f"as .ci/run does) or set {CHROMIUM_ENV}"
        )
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed: pip install 'rlnc-testbed[browser]'"
    return None


def chromium_executable(environ: dict[str, str] | None = None) -> str:
    """The Chromium to run: ``$RLNC_CHROMIUM`` if set, else :data:`DEFAULT_CHROMIUM`."""
    env = os.environ if environ is None else environ
    return env.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


@dataclass(frozen=True)
class PageEvent:
    """Something a page did that the run must know about.

    ``kind``: ``console`` (a console.error line), ``pageerror`` (an uncaught error or unhandled
    rejection), ``crash`` (the renderer died), ``closed`` (the page closed before the run was
    done with it), ``load`` (the page could not be loaded).
    """

    slot: str
    role: str
    kind: str
    text: str
    #: Seconds since the browser started.
    at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"slot": self.slot, "role": self.role, "kind": self.kind, "text": self.text,
                "at": round(self.at, 3)}  # fmt: skip

    def describe(self) -> str:
        return f"browser {self.role} {self.slot}: {self.kind}: {self.text}"


@dataclass
class BrowserPage:
    """One page of the run (a browser peer or newcomer)."""

    slot: str
    role: str
    page: Any
    #: True once the page said its node stopped (or the run closed it).
    done: bool = False
    console: list[str] = field(default_factory=list)
    #: Called with this page's failure events (instead of the browser's ``on_event``).
    on_event: Callable[[PageEvent], None] | None = None
    #: True while the page waits, loaded, for :meth:`Chromium.start_standby`.
    standby: bool = False
    #: ``time.monotonic()`` of each step of its start: ``open`` (asked for), ``page`` (a new
    #: page), ``loaded`` (its load event), ``ready`` (a standby page loaded its modules and
    #: got the media permission), ``start`` / ``started`` (its node asked to start / told).
    marks: dict[str, float] = field(default_factory=dict)

    async def close(self, *, timeout: float) -> None:
        """Close the page (bounded); closing it is not a failure."""
        self.done = True
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                await self.page.close()


class Chromium:
    """``async with Chromium() as browser: page = await browser.open_page(url, slot=..)``."""

    def __init__(
        self,
        *,
        executable: str | None = None,
        flags: tuple[str, ...] = CHROMIUM_FLAGS,
        start_units: float = 30.0,
        stop_units: float = 10.0,
        on_event: Callable[[PageEvent], None] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.executable = executable or chromium_executable()
        self.flags = tuple(flags)
        self.start_units = start_units
        self.stop_units = stop_units
        self.on_event = on_event
        self.log = log or logging.getLogger(__name__)
        #: ``Chromium 150.0.7871.100``, once started.
        self.version = ""
        #: Every failure event of every page, in order.
        self.events: list[PageEvent] = []
        self.pages: list[BrowserPage] = []
        self._playwright: Any = None
        self._context: Any = None
        self._profile: str | None = None
        self._started_at = 0.0
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Chromium:
        """Start Chromium (bounded by ``start_units``); BrowserError naming what failed."""
        if self._context is not None:
            raise RuntimeError("Chromium already started")
        if not os.path.exists(self.executable):
            raise BrowserError(
                f"no Chromium at {self.executable} (install Debian's chromium package, or set "
                f"{CHROMIUM_ENV})"
            )
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise BrowserError(
                "Playwright for Python is not installed (pip install 'rlnc-testbed[browser]')"
            ) from exc
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        self._profile = tempfile.mkdtemp(prefix="rlnc-chromium-")
        limit = self.start_units * unit()
        try:
            async with asyncio.timeout(limit):
                self._playwright = await async_playwright().start()
                self._context = await self._playwright.chromium.launch_persistent_context(
                    self._profile,
                    executable_path=self.executable,
                    args=list(self.flags),
                    headless=False,  # --headless=new is in the flags
                    timeout=limit * 1000,
                    handle_sigint=False,
                    handle_sigterm=False,
                    handle_sighup=False,
                )
                browser = self._context.browser
                version = browser.version if browser is not None else ""
                if not version:
                    page = await self._context.new_page()
                    version = await page.evaluate("navigator.userAgent")
                    await page.close()
                self.version = f"Chromium {version}"
                # The persistent context opens one blank page: not needed.
                for page in list(self._context.pages):
                    await page.close()
        except BaseException as exc:
            await self.close()
            if isinstance(exc, TimeoutError):
                raise BrowserError(
                    f"Chromium ({self.executable}) did not start within {limit:.1f} s"
                ) from None
            if isinstance(exc, Exception) and not isinstance(exc, BrowserError):
                raise BrowserError(
                    f"Chromium ({self.executable}) did not start: {type(exc).__name__}: {exc}"
                ) from exc
            raise
        self.log.info("%s started (%s)", self.version, self.executable)
        return self

    async def close(self) -> None:
        """Close every page and Chromium, then the driver (each bounded); idempotent."""
        self._closing = True
        limit = self.stop_units * unit()
        for task in list(self._tasks):
            task.cancel()
        context, self._context = self._context, None
        if context is not None:
            try:
                async with asyncio.timeout(limit):
                    await context.close()
            except Exception as exc:  # the driver's exit below kills Chromium
                self.log.warning("Chromium did not close within %.1f s: %r", limit, exc)
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            try:
                async with asyncio.timeout(limit):
                    await playwright.stop()
            except Exception as exc:
                self.log.warning("Playwright's driver did not stop within %.1f s: %r", limit, exc)
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    async def __aenter__(self) -> Chromium:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def started(self) -> bool:
        return self._context is not None

    @property
    def context(self) -> Any:
        """The Playwright ``BrowserContext`` every page opens in (None when stopped)."""
        return self._context

    # -- pages -----------------------------------------------------------------------------

    async def open_page(
        self,
        url: str,
        *,
        slot: str,
        role: str,
        on_event: Callable[[PageEvent], None] | None = None,
    ) -> BrowserPage:
        """Open a page for ``slot`` at ``url`` and wait (bounded) until it loaded.

        The page's failures are watched from before it loads and go to ``on_event`` (default:
        the browser's). A page that cannot be loaded is a :class:`BrowserError` (and a
        ``load`` event)."""
        if self._context is None:
            raise BrowserError("Chromium is not started")
        limit = 10 * unit()
        asked = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                page = await self._context.new_page()
        except Exception as exc:
            raise BrowserError(
                f"browser {role} {slot}: no new page: {type(exc).__name__}: {exc}"
            ) from None
        entry = BrowserPage(slot=slot, role=role, page=page, on_event=on_event)
        entry.marks.update(open=asked, page=time.monotonic())
        self.pages.append(entry)
        page.on("console", lambda message: self._on_console(entry, message))
        page.on("pageerror", lambda error: self._on_page_error(entry, error))
        page.on("crash", lambda _page: self._event(entry, "crash", "the page crashed"))
        page.on("close", lambda _page: self._on_close(entry))
        try:
            try:
                async with asyncio.timeout(limit):
                    response = await page.goto(url, wait_until="load", timeout=limit * 1000)
            except Exception as exc:
                text = f"could not load {_redact(url)}: {type(exc).__name__}: {exc}"
                self._event(entry, "load", text)
                raise BrowserError(f"browser {role} {slot}: {text}") from None
            if response is not None and not response.ok:
                text = f"loading {_redact(url)} gave HTTP {response.status}"
                self._event(entry, "load", text)
                raise BrowserError(f"browser {role} {slot}: {text}")
        except BaseException:
            await entry.close(timeout=self.stop_units * unit())  # no page left behind
            raise
        entry.marks["loaded"] = time.monotonic()
        return entry

    async def open_standby(
        self,
        url: str,
        *,
        slot: str,
        role: str,
        on_event: Callable[[PageEvent], None] | None = None,
    ) -> BrowserPage:
        """Open a peer page in standby for ``slot`` (``url``: ``peers.standby_url``) and wait,
        bounded, until it is ready: every module loaded, the media permission asked for,
        nothing joined. A page that does not get there is a :class:`BrowserError` (and a
        ``load`` event), and is closed."""
        entry = await self.open_page(url, slot=slot, role=role, on_event=on_event)
        try:
            try:
                async with asyncio.timeout(10 * unit()):
                    state = await entry.page.evaluate("() => window.rlncStandby")
            except Exception as exc:
                state = f"{type(exc).__name__}: {exc}"
            if state != "ready":
                text = f"the standby page {_redact(url)} did not get ready: " + (
                    "its modules did not load" if state is None else str(state)
                )
                self._event(entry, "load", text)
                raise BrowserError(f"browser {role} {slot}: {text}")
        except BaseException:
            await entry.close(timeout=self.stop_units * unit())
            raise
        entry.standby = True
        entry.marks["ready"] = time.monotonic()
        return entry

    async def start_standby(self, entry: BrowserPage, fragment: str) -> None:
        """Start the node of a page opened with :meth:`open_standby`: ``fragment`` holds what
        a page opened with it would read (``peers.peer_fragment``; handed over as an argument,
        it never enters the address bar). Bounded; the node then joins by itself, its failures
        reported as any page's. A page that cannot be started is a :class:`BrowserError`."""
        if not entry.standby:
            raise BrowserError(f"browser {entry.role} {entry.slot}: the page is not in standby")
        entry.standby = False
        entry.marks["start"] = time.monotonic()
        try:
            async with asyncio.timeout(10 * unit()):
                await entry.page.evaluate("(fragment) => window.rlncStart(fragment)", fragment)
        except Exception as exc:
            why = str(exc).replace(fragment, "...")  # never the credential
            text = f"could not start the standby page: {type(exc).__name__}: {why}"
            self._event(entry, "load", text)
            raise BrowserError(f"browser {entry.role} {entry.slot}: {text}") from None
        entry.marks["started"] = time.monotonic()

    def _elapsed(self) -> float:
        try:
            return asyncio.get_running_loop().time() - self._started_at
        except RuntimeError:
            return 0.0

    def _event(self, entry: BrowserPage, kind: str, text: str) -> None:
        event = PageEvent(entry.slot, entry.role, kind, text[:_MAX_TEXT], self._elapsed())
        self.events.append(event)
        self.log.error("%s", event.describe())
        callback = entry.on_event or self.on_event
        if callback is not None:
            try:
                callback(event)
            except Exception:
                self.log.exception("on_event failed for %s", event.describe())

    def _on_console(self, entry: BrowserPage, message: Any) -> None:
        text = message.text
        kind = message.type
        entry.console.append(f"{kind}: {text}"[:_MAX_TEXT])
        if kind == "error" and _refused_websocket(message):
            # Chromium's own log line for a websocket or /health poll that could not connect (a
            # peer rejoining a restarting server tries until it is back; a session page polls
            # a server that ended): the page's code decides whether that matters (a first join
            # that fails is its console.error).
            self.log.info("browser %s %s: %s", entry.role, entry.slot, text)
        elif kind == "error":
            self._event(entry, "console", text)
        elif text.startswith(DONE_PREFIX):
            self.log.info("browser %s %s: %s", entry.role, entry.slot, text)
            entry.done = True
            self._close_later(entry)
        elif kind == "warning":
            self.log.warning("browser %s %s: %s", entry.role, entry.slot, text)
        else:
            self.log.debug("browser %s %s: %s: %s", entry.role, entry.slot, kind, text)

    def _on_page_error(self, entry: BrowserPage, error: Any) -> None:
        stack = getattr(error, "stack", None) or ""
        name, message = getattr(error, "name", "Error"), getattr(error, "message", str(error))
        self._event(entry, "pageerror", f"{name}: {message}" + (f"\n{stack}" if stack else ""))

    def _on_close(self, entry: BrowserPage) -> None:
        if not entry.done and not self._closing:
            self._event(entry, "closed", "the page closed before its node stopped")
        entry.done = True

    def _close_later(self, entry: BrowserPage) -> None:
        """Close a finished page (frees its memory: a page is ~100-400 MB)."""

        task = asyncio.ensure_future(entry.close(timeout=self.stop_units * unit()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _refused_websocket(message: Any) -> bool:
    """Whether a console message is Chromium's own line for a connection to the signaling
    server that failed: "WebSocket connection to ... failed" (a peer rejoining a restarting
    server), or "Failed to load resource" for a ``/health`` poll (a serve-session page, whose
    server goes away when the session ends). Chromium logs them itself, so without arguments
    (a page's ``console.error`` has some); the page's own code decides whether it matters."""
    if message.args:
        return False
    if message.text.startswith("WebSocket connection to "):
        return True
    where = (getattr(message, "location", None) or {}).get("url", "")
    return message.text.startswith("Failed to load resource: net::") and where.split("?")[
        0
    ].endswith("/health")


def _redact(url: str) -> str:
    """``url`` without its fragment (which carries a credential)."""
    return url.split("#", 1)[0] + ("#..." if "#" in url else "")
