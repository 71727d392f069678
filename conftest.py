"""Root conftest: Hypothesis profiles for rlnc-testbed's own tests.

``dev`` (default) keeps runs short; ``ci`` (selected when the CI environment variable is set, or
with ``--hypothesis-profile=ci``) runs more examples and prints statistics-friendly output.
``deadline=None`` in both: numba JIT compiles and WebRTC handshakes make first examples slow.
"""

from __future__ import annotations

import os

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
