"""Root conftest: Hypothesis profiles for rlnc-testbed's own tests.

``dev`` (default) keeps runs short; ``ci`` (selected when the CI environment variable is set, or
with ``--hypothesis-profile=ci``) runs more examples and prints statistics-friendly output.
``deadline=None`` in both: numba JIT compiles and WebRTC handshakes make first examples slow.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

#: pytester drives the plugin and the README example in a temporary project.
pytest_plugins = ["pytester"]

settings.register_profile(
    "dev",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def keep_artifact() -> Callable[[Path], Path | None]:
    """``keep_artifact(path)`` copies a file a test made (a figure, a screenshot) into
    ``$RLNC_ARTIFACTS`` when that names a directory (``.ci/run`` sets it), so a reader can look
    at what the assertions were about; returns the copy, or None when the variable is unset."""

    def keep(path: Path) -> Path | None:
        folder = os.environ.get("RLNC_ARTIFACTS")
        if not folder:
            return None
        target = Path(folder) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        return target

    return keep
