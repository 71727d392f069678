"""What the browser benchmarks share: run the benchmark itself again in a loopback-only
network namespace (``rlnc_testbed.experiment.hosts.loopback_only``), where every ICE pair,
Chromium's included, is 127.0.0.1 at both ends - unless ``--here`` asked for this host's own
network. :data:`INSIDE` marks the child, which measures.
"""

from __future__ import annotations

import os
import subprocess
import sys

from rlnc_testbed.experiment.hosts import loopback_only
from rlnc_testbed.experiment.hosts import unavailable as no_namespaces

__all__ = ["INSIDE", "inside", "rerun_unless_inside"]

#: Set to "1" in the re-run benchmark's environment: it is the one in the namespace.
INSIDE = "RLNC_BENCH_NETNS"


def inside() -> bool:
    """Whether this process is the benchmark re-run in the namespace."""
    return bool(os.environ.get(INSIDE))


def rerun_unless_inside(script: str, *, here: bool, bound: float) -> None:
    """Unless ``here`` or :func:`inside`, run ``script`` with this process's arguments in a
    loopback-only namespace (at most ``bound`` seconds) and exit with its status; exit with
    an error naming the fix when no namespace can be made."""
    if here or inside():
        return
    why = no_namespaces()
    if why:
        sys.exit(
            f"error: no loopback-only namespace ({why}); run with --here to measure on this "
            "host's network"
        )
    argv = loopback_only([sys.executable, os.path.abspath(script), *sys.argv[1:]])
    done = subprocess.run(argv, env={**os.environ, INSIDE: "1"}, timeout=bound, check=False)
    sys.exit(done.returncode)
