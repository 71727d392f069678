"""``run --isolate`` / ``sweep --isolate``: the same command line again, in a fresh network
namespace that has nothing but loopback.

Why: between two Chromium pages, the offering page nominates the ICE pair from its cheapest
network. On a host with an interface that is not loopback it picks that one, whatever the SDPs
carry (measured with Chromium 150; ``tests/test_browser_cluster.py``). Inside a namespace made
by ``unshare --net`` the only interface is ``lo``: every socket that the run and its children
open (Chromium's ICE included) is on 127.0.0.1, so every selected pair is loopback at both
ends, and nothing leaves the machine.

The child is ``python -m rlnc_testbed`` with the same words. It inherits stdin, stdout, stderr
and the working directory, so files, tables and the exit status are what the plain command
would give. :data:`ISOLATED_ENV` marks the child, which does not re-run itself. The parent
only waits. Every wait that the run makes is bounded inside the child, which bounds this one
too. Ctrl-C reaches both processes (same process group): the parent then gives the child
:data:`INTERRUPT_GRACE` seconds to write its history before it kills it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from ..experiment.hosts import loopback_only, unavailable
from ..protocol.params import ParameterError

__all__ = ["INTERRUPT_GRACE", "ISOLATED_ENV", "isolated", "rerun_isolated", "wants_isolation"]

#: Set to "1" in the child's environment: that process is already inside the namespace.
ISOLATED_ENV = "RLNC_ISOLATED"
#: Seconds the child gets after Ctrl-C to write its history and exit.
INTERRUPT_GRACE = 10.0


def isolated() -> bool:
    """Whether this process runs in the namespace that ``--isolate`` made."""
    return os.environ.get(ISOLATED_ENV) == "1"


def wants_isolation(args: argparse.Namespace) -> bool:
    """Whether ``args`` asks for ``--isolate`` and this process is not isolated yet. Refuses
    the options that need a network outside: a dashboard that a browser on this host must
    reach, and emulated hosts, which confine themselves to the addresses they create."""
    if not getattr(args, "isolate", False) or isolated():
        return False
    if getattr(args, "dashboard", None) is not None:
        raise ParameterError(
            "--isolate runs the command in a namespace with nothing but loopback: a --dashboard "
            "served there cannot be reached from this host (use replay on the history instead)"
        )
    if getattr(args, "hosts", None) == "netns":
        raise ParameterError(
            "--isolate with --hosts netns: emulated hosts already use only the addresses the "
            "run creates; drop one of them"
        )
    problem = unavailable()
    if problem is not None:
        raise ParameterError(f"--isolate needs a network namespace, but {problem}")
    return True


def rerun_isolated(words: Sequence[str]) -> int:
    """Run ``rlnc-testbed WORDS`` in a fresh loopback-only namespace; return its exit status."""
    argv = loopback_only([sys.executable, "-m", "rlnc_testbed", *words])
    env = {**os.environ, ISOLATED_ENV: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    child = subprocess.Popen(argv, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        try:
            return child.wait(timeout=INTERRUPT_GRACE)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=INTERRUPT_GRACE)
            raise KeyboardInterrupt from None
