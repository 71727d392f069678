"""What the Chromium tests share: a missing browser is a broken setup, not a skipped feature."""

from __future__ import annotations

import pytest

from rlnc_testbed.browser import unavailable


def require_chromium() -> None:
    """Fail (never skip) the calling test when Chromium or Playwright is missing, naming the
    fix: CI installs both (``.ci/run``), so a skip here would hide that nothing ran."""
    problem = unavailable()
    if problem:
        pytest.fail(problem, pytrace=False)
