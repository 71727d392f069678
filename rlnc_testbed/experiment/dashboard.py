"""The dashboard: one small aiohttp server for the animated system model, live or replayed.

``/`` redirects to ``/web/model.html?mode=live|replay`` (the page and its ES modules are
``rlnc_testbed/web/``, served as :mod:`rlnc_testbed.signaling.web` serves them), ``/events`` is
a websocket that sends every line of the run's JSONL history, one message per line, exactly as
written, and ``/history.jsonl`` is the file itself.

The history file is the one source: the runner already streams it (flushed line by line), so
the live dashboard follows the file as it grows (polled every :data:`POLL_SECONDS`; only
complete lines are sent, so a line caught half-written waits for its newline) and a replay
sends a finished or interrupted file from its start. Each page gets every line from the first,
however late it connects. A line that is not a JSON object is reported, never fatal: a warning
in the log and a ``{"event": "malformed", "line": N, "error": ...}`` message in its place (so
is a truncated last line once the run is over). When the run finishes
(:meth:`Dashboard.finish`), each page is sent the rest of the file and its websocket is closed;
a run that ended before any page connected waits for one (:meth:`Dashboard.wait_for_page`,
at most :data:`LINGER_UNITS`).

The server runs on its own thread and event loop, so a synchronous run (``run_point``, which
runs its own loop for networked transports) goes on undisturbed. Every wait is bounded in
timeout units: the start (:data:`START_UNITS`), each send (:data:`SEND_UNITS`; a page that does
not keep up is dropped) and the stop (:data:`STOP_UNITS`, pages drained first). It binds
127.0.0.1 by default, port 0 (a free port) unless given; :attr:`Dashboard.url` says where.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import WSCloseCode, web

from ..signaling.web import WEB_PREFIX, add_web_routes
from ..timeouts import unit

__all__ = [
    "DEFAULT_HOST",
    "LINGER_UNITS",
    "MODES",
    "PAGE",
    "POLL_SECONDS",
    "SEND_UNITS",
    "START_UNITS",
    "STOP_UNITS",
    "Dashboard",
    "DashboardError",
    "parse_address",
]

#: Where the dashboard listens unless told otherwise.
DEFAULT_HOST = "127.0.0.1"
#: ``live``: follow a history being written; ``replay``: send a finished one.
MODES = ("live", "replay")
#: The page, under the web prefix.
PAGE = "model.html"
#: How often a live dashboard looks for new lines.
POLL_SECONDS = 0.05
#: Bound on starting the server, per send to a page, and on stopping (pages drained first).
START_UNITS = 10.0
SEND_UNITS = 10.0
STOP_UNITS = 10.0
#: How long ``run --dashboard`` waits after the run for a first page, if none connected.
LINGER_UNITS = 10.0
#: Bytes read from the history at a time.
_CHUNK = 1 << 16

logger = logging.getLogger(__name__)


class DashboardError(RuntimeError):
    """The dashboard could not start (e.g. its port is taken); the message says why."""


def parse_address(text: str, *, default_port: int = 0) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST``, ``:PORT`` or ``PORT`` -> (host, port); host defaults to
    :data:`DEFAULT_HOST`, port to ``default_port``. ``[::1]:8080`` for IPv6. ValueError names
    what is wrong."""
    text = text.strip()
    host, port = DEFAULT_HOST, str(default_port)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in address {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"expected ':PORT' after ']' in {text!r}")
            port = rest[1:]
    elif text.isdigit():
        port = text
    elif ":" in text:
        head, _, port = text.rpartition(":")
        host = head or DEFAULT_HOST
    elif text:
        host = text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port must be an integer 0..65535; got {port!r} in {text!r}")
    if not host:
        raise ValueError(f"empty host in address {text!r}")
    return host, int(port)


class Dashboard:
    """``with Dashboard(path) as dash: print(dash.url); ...run...`` (live), or
    ``Dashboard(path, mode="replay")`` for a finished history.

    Leaving the ``with`` block (or :meth:`stop`) finishes the stream, lets every page receive
    the rest of the file (bounded) and stops the server.
    """

    def __init__(
        self,
        history: str | os.PathLike[str],
        *,
        mode: str = "live",
        host: str = DEFAULT_HOST,
        port: int = 0,
        poll: float = POLL_SECONDS,
        log: logging.Logger | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        self.history = Path(history)
        self.mode = mode
        self.host = host
        self.port = port
        self.poll = poll
        self.log = log or logger
        #: Pages that connected, and malformed lines reported (counted over every page).
        self.connections = 0
        self.malformed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._finished: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._sockets: set[web.WebSocketResponse] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The page's address (``http://HOST:PORT/``), once started."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def page_url(self) -> str:
        """The page itself, with its mode."""
        return f"{self.url.rstrip('/')}{WEB_PREFIX}{PAGE}?mode={self.mode}"

    def start(self) -> Dashboard:
        """Start serving (bounded by :data:`START_UNITS`); DashboardError if it cannot."""
        if self._thread is not None:
            raise RuntimeError("dashboard already started")
        self._thread = threading.Thread(target=self._run, name="rlnc-dashboard", daemon=True)
        self._thread.start()
        limit = START_UNITS * unit()
        if not self._ready.wait(limit):
            raise DashboardError(f"the dashboard did not start within {limit:.1f} s")
        if self._error is not None:
            self._thread.join(limit)
            raise DashboardError(
                f"the dashboard cannot listen on {self.host}:{self.port}: {self._error}"
            ) from self._error
        self.log.info("dashboard (%s) at %s for %s", self.mode, self.url, self.history)
        return self

    def finish(self) -> None:
        """The run is over: each page gets the rest of the file, then its websocket closes."""
        loop, finished = self._loop, self._finished
        if loop is not None and finished is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                loop.call_soon_threadsafe(finished.set)

    def stop(self) -> None:
        """Finish, drain the pages and stop the server, all bounded; idempotent."""
        thread = self._thread
        if thread is None:
            return
        self.finish()
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join(2 * STOP_UNITS * unit())
        if thread.is_alive():
            self.log.warning("the dashboard thread did not stop in time (it is a daemon)")
        self._thread = None

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for_page(self, units: float = LINGER_UNITS) -> bool:
        """Wait (at most ``units`` timeout units) until a page has connected; True if one
        has. A run that ends before anyone looked waits here, so its page can still be seen."""
        deadline = time.monotonic() + units * unit()
        while self.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.connections > 0

    def serve_forever(self) -> None:
        """Block until the server stops (a replay: until Ctrl-C, which then stops it)."""
        thread = self._thread
        try:
            while thread is not None and thread.is_alive():
                thread.join(0.5)
        finally:
            self.stop()

    # -- the server's thread -----------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start() if it happened while starting
            if not self._ready.is_set():
                self._error = exc
            else:
                self.log.exception("the dashboard stopped with an error")
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._finished = asyncio.Event()
        self._stopping = asyncio.Event()
        if self.mode == "replay":
            self._finished.set()
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/events", self._events)
        app.router.add_get("/history.jsonl", self._file)
        add_web_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            async with asyncio.timeout(START_UNITS * unit()):
                await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or ()
            if sockets:
                self.port = sockets[0].getsockname()[1]
            self._ready.set()
            await self._stopping.wait()
            await self._drain()
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_UNITS * unit()):
                    await runner.cleanup()

    async def _drain(self) -> None:
        """Let every page receive the rest of the file (bounded), then close what is left."""
        assert self._finished is not None
        self._finished.set()
        handlers = list(self._handlers)
        if handlers:
            _done, pending = await asyncio.wait(handlers, timeout=STOP_UNITS * unit())
            for task in pending:
                task.cancel()
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(unit()):
                    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"dashboard stopped")

    # -- routes ------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{WEB_PREFIX}{PAGE}?mode={self.mode}")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if not self.history.is_file():
            raise web.HTTPNotFound(text="no history yet")
        return web.FileResponse(
            self.history, headers={"Content-Type": "application/x-ndjson; charset=utf-8"}
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=5 * unit())
        await ws.prepare(request)
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._sockets.add(ws)
        reader = asyncio.ensure_future(self._read(ws))  # handles the page's close frames
        try:
            async for text in self._lines():
                if ws.closed or reader.done():
                    break
                async with asyncio.timeout(SEND_UNITS * unit()):
                    await ws.send_str(text)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(unit()):
                    await ws.close(code=WSCloseCode.OK, message=b"end of history")
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            self.log.warning("dashboard: dropping a page: %s", exc or type(exc).__name__)
        finally:
            reader.cancel()
            self._sockets.discard(ws)
            self._handlers.discard(task)
        return ws

    @staticmethod
    async def _read(ws: web.WebSocketResponse) -> None:
        async for _message in ws:
            pass  # the page sends nothing we need

    async def _lines(self) -> Any:
        """Every line of the history as text to send (malformed ones as reports), following
        the file until the run is finished."""
        assert self._finished is not None
        buffer = b""
        number = 0
        handle = None
        try:
            while True:
                finished = self._finished.is_set()  # read before reading: no line is missed
                if handle is None and self.history.is_file():
                    handle = self.history.open("rb")
                chunk = handle.read(_CHUNK) if handle is not None else b""
                if chunk:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for raw in lines:
                        number += 1
                        yield self._line(number, raw)
                    continue
                if finished:
                    break
                await asyncio.sleep(self.poll)
            if buffer:
                number += 1
                yield self._line(number, buffer, last=True)
            if handle is None:
                yield self._report(0, f"no history at {self.history}")
        finally:
            if handle is not None:
                handle.close()

    def _line(self, number: int, raw: bytes, *, last: bool = False) -> str:
        try:
            text = raw.decode("utf-8").strip()
            value = json.loads(text)
        except UnicodeDecodeError as exc:
            return self._report(number, f"not UTF-8 ({exc.reason} at byte {exc.start})", last)
        except json.JSONDecodeError as exc:
            return self._report(number, f"not valid JSON ({exc.msg} at column {exc.colno})", last)
        if not isinstance(value, dict):
            return self._report(number, f"expected a JSON object; got {type(value).__name__}", last)
        return text

    def _report(self, number: int, error: str, last: bool = False) -> str:
        if last:
            error = f"truncated last line: {error}"
        self.malformed += 1
        self.log.warning("%s: line %d: %s (reported to the page)", self.history, number, error)
        return json.dumps({"event": "malformed", "line": number, "error": error})
