"""Pages opened ahead of their round: one standby page per upcoming browser newcomer.

A newcomer's page opened when its round needs it costs that round ~0.5 s (a new page and its
renderer, a dozen ES modules, the media permission). :class:`StandbyPages` opens a slot's page
in standby in the background (:meth:`Chromium.open_standby`: loaded, joined to nothing) and
hands it over when the slot is taken, with the failures it held while waiting, so a page that
failed in standby gives the same ``error`` verdict naming the slot, in the same round, as a
page opened late would: never earlier, never a hang. Pages never taken are closed at the end
of the trial.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..timeouts import unit
from .chromium import BrowserError, BrowserPage, PageEvent

__all__ = ["STANDBY_TAKE_UNITS", "StandbyOpener", "StandbyPages"]

#: Opens the standby page of a slot, its failures going to the given callback.
StandbyOpener = Callable[[str, Callable[[PageEvent], None]], Awaitable[BrowserPage]]
#: Longest wait for a standby page still opening when its slot is taken (timeout units; the
#: opener's own steps are bounded too: Chromium's start, the new page, the load, ready).
STANDBY_TAKE_UNITS = 60.0


@dataclass
class _Standby:
    slot: str
    task: asyncio.Task[BrowserPage]
    held: list[PageEvent] = field(default_factory=list)


class StandbyPages:
    """``pages.prepare("12")`` opens slot 12's page in the background; ``await
    pages.take("12", on_event=...)`` hands it over (opening it then if it was not prepared);
    ``await pages.close()`` closes what was never taken."""

    def __init__(
        self,
        opener: StandbyOpener,
        *,
        log: logging.Logger | None = None,
        take_units: float = STANDBY_TAKE_UNITS,
    ) -> None:
        self._opener = opener
        #: Longest wait in :meth:`take` for a page still opening (timeout units).
        self.take_units = take_units
        self._log = log or logging.getLogger(__name__)
        self._pages: dict[str, _Standby] = {}
        self._closed = False
        #: Slots prepared, in order (taken or not).
        self.prepared: list[str] = []

    def __contains__(self, slot: str) -> bool:
        return slot in self._pages

    def waiting(self) -> list[BrowserPage]:
        """The pages opened and not taken yet (those still opening not included)."""
        tasks = [standby.task for standby in self._pages.values()]
        return [t.result() for t in tasks if t.done() and not t.cancelled() and not t.exception()]

    def prepare(self, slot: str) -> None:
        """Start opening ``slot``'s page in the background (no-op if it is, or once closed)."""
        if self._closed or slot in self._pages:
            return
        held: list[PageEvent] = []
        task = asyncio.ensure_future(self._opener(slot, held.append))
        self._pages[slot] = _Standby(slot, task, held)
        self.prepared.append(slot)

    async def take(self, slot: str, *, on_event: Callable[[PageEvent], None] | None) -> BrowserPage:
        """``slot``'s standby page, from now on reporting to ``on_event``: what it held is
        handed over first. Raises :class:`BrowserError` (after handing over its events) when
        the page could not be opened or failed while waiting, so it is not started."""
        closed = BrowserError(f"browser slot {slot}: the trial's standby pages are closed")
        self.prepare(slot)
        standby = self._pages.get(slot)
        if standby is None:
            raise closed
        limit = self.take_units * unit()
        try:
            async with asyncio.timeout(limit):
                # (cancelling the taker leaves the page to close(), not half opened)
                await asyncio.wait({standby.task})
        except TimeoutError:
            self._hand_over(standby, on_event)  # the task stays: close() ends it
            raise BrowserError(
                f"browser slot {slot}: its standby page was not ready within {limit:.1f} s"
            ) from None
        if self._pages.pop(slot, None) is None:
            raise closed  # close() came first and closes the page
        try:
            page = standby.task.result()
        except Exception as exc:
            self._hand_over(standby, on_event)
            if isinstance(exc, BrowserError):
                raise
            raise BrowserError(
                f"browser slot {slot}: its standby page failed: {type(exc).__name__}: {exc}"
            ) from exc
        page.on_event = on_event
        failed = list(standby.held)
        self._hand_over(standby, on_event)
        if failed:
            await page.close(timeout=5 * unit())
            raise BrowserError(f"{failed[0].describe()} (while in standby)")
        return page

    def _hand_over(self, standby: _Standby, on_event: Callable[[PageEvent], None] | None) -> None:
        held, standby.held[:] = list(standby.held), []
        for event in held:
            if on_event is not None:
                on_event(event)

    async def close(self, *, timeout: float | None = None) -> None:
        """Close every page not taken, waiting (at most ``timeout`` s, default 5 units) for
        those still opening; later :meth:`prepare` calls do nothing. Idempotent."""
        self._closed = True
        pages, self._pages = list(self._pages.values()), {}
        if not pages:
            return
        limit = 5 * unit() if timeout is None else timeout
        tasks = [standby.task for standby in pages]
        _done, pending = await asyncio.wait(tasks, timeout=limit)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=limit)
        closing = []
        for standby in pages:
            for event in standby.held:
                self._log.warning("standby page never used: %s", event.describe())
            task = standby.task
            if task.done() and not task.cancelled() and task.exception() is None:
                closing.append(task.result().close(timeout=limit))
        with contextlib.suppress(Exception):
            await asyncio.gather(*closing)
