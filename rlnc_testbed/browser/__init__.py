"""Real browsers for the testbed: one Chromium per run (Playwright for Python), a page per
browser storage peer (the JavaScript peer of ``rlnc_testbed/web/``), failures collected per
page. Importing this package needs no Playwright; starting a browser does."""

from __future__ import annotations

from .chromium import (
    CHROMIUM_ENV,
    CHROMIUM_FLAGS,
    DEFAULT_CHROMIUM,
    BrowserError,
    BrowserPage,
    Chromium,
    PageEvent,
    chromium_executable,
    unavailable,
)
from .standby import StandbyPages

__all__ = [
    "CHROMIUM_ENV",
    "CHROMIUM_FLAGS",
    "DEFAULT_CHROMIUM",
    "BrowserError",
    "BrowserPage",
    "Chromium",
    "PageEvent",
    "StandbyPages",
    "chromium_executable",
    "unavailable",
]
