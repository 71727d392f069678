"""Where a result came from: the one place that builds the ``provenance`` of every output.

Run and sweep JSON carry ``{"provenance": provenance(...)}`` and a history's ``start`` (and
``resume``) line carries the same dict, so a result can be told apart from others and rerun:

    tool        {"name": "rlnc-testbed", "version": "0.1.0"}
    git         {"commit": "40 hex digits" | None}   None unless the package's parent
                                                     directory is a git checkout
    python, numpy, aiortc                            versions (None: not installed)
    platform    e.g. "Linux-6.1.0-x86_64-with-glibc2.36"
    command     the command line, as a list of words (sys.argv unless given)
    started, ended    UTC, ISO 8601 ("2025-01-31T12:00:00.123456+00:00"); ended may be None

The environment part (tool, git, versions, platform) is computed once per process; ``git
rev-parse HEAD`` is bounded by :data:`GIT_TIMEOUT` seconds and any failure gives None.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["GIT_TIMEOUT", "environment", "git_commit", "now", "provenance"]

#: Seconds ``git rev-parse HEAD`` may take before the commit is given as None.
GIT_TIMEOUT = 5.0

_PACKAGE = Path(__file__).resolve().parents[1]


def now() -> str:
    """The current time, UTC, ISO 8601."""
    return datetime.now(UTC).isoformat()


def git_commit(root: Path | None = None) -> str | None:
    """HEAD of the git checkout at ``root`` (default: the package's parent directory), or None
    when ``root`` is not one (an installed copy), git is missing, slow or fails."""
    root = _PACKAGE.parent if root is None else root
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    if done.returncode != 0 or len(commit) != 40:
        return None
    return commit


@functools.cache
def environment() -> dict[str, Any]:
    """Tool, git commit, Python/numpy/aiortc versions and platform (computed once)."""
    from .. import __version__

    return {
        "tool": {"name": "rlnc-testbed", "version": __version__},
        "git": {"commit": git_commit()},
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "aiortc": _version("aiortc"),
        "platform": platform.platform(),
    }


def provenance(
    *,
    command: Sequence[str] | None = None,
    started: str | None = None,
    ended: str | None = None,
) -> dict[str, Any]:
    """A fresh provenance dict (see the module docstring); ``started`` defaults to now."""
    env = environment()
    return {
        **{key: dict(value) if isinstance(value, dict) else value for key, value in env.items()},
        "command": list(sys.argv if command is None else command),
        "started": now() if started is None else started,
        "ended": ended,
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
