"""Emulated hosts: Linux network namespaces joined by veth pairs and a bridge, one per node.

``async with EmulatedHosts(count) as hosts`` makes, for one run, everything it needs and
nothing more, and removes it on the way out (bounded; also after errors):

* a bridge ``rb<tag>`` in the caller's namespace with the gateway address ``10.213.X.1/24``,
  on a subnet no interface of this machine uses (X drawn at random, checked against
  ``ip -4 -o addr``);
* per host i (0-based) a namespace ``rl-<tag>-<i>`` holding ``lo`` and one end of a veth pair
  with address ``10.213.X.(i + 2)/24``; the other end is enslaved to the bridge;
* with ``rate`` (e.g. ``"20mbit"``), a ``tc tbf`` qdisc on both ends of every veth pair, so
  each host's traffic is rate limited both ways (this kernel has ``tbf`` but no ``netem``).

Nodes started with :meth:`EmulatedHosts.command` (``ip netns exec rl-<tag>-<i> ...``) see only
their namespace's interfaces: ICE offers their own address, and data crosses the bridge.
Needs root (CI runs as root) and iproute2; :func:`unavailable` says why it cannot work here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import random
import secrets
import shutil
from collections.abc import Sequence

from ..timeouts import unit

__all__ = ["EmulatedHosts", "HostsError", "loopback_only", "unavailable"]

logger = logging.getLogger(__name__)

#: The /16 the run's /24 is drawn from (private, rarely used on developer machines).
_SUPERNET = "10.213"
#: Most hosts one run may make (addresses .2 .. .254 of its /24).
MAX_HOSTS = 253


class HostsError(RuntimeError):
    """A namespace, link or address could not be made; the message has the failing command."""


def unavailable() -> str | None:
    """Why emulated hosts cannot be made on this machine (None: they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is missing"
    return None


def loopback_only(argv: Sequence[str]) -> list[str]:
    """``argv`` run in a fresh network namespace that has nothing but loopback (``unshare
    --net``, ``lo`` brought up): every socket it and its children open - Chromium's ICE
    included - can only be 127.0.0.1. Chromium otherwise nominates browser-to-browser pairs
    from the host's cheapest non-loopback interface whatever the SDPs carry; inside, both ends
    of every selected pair are 127.0.0.1. Needs root (:func:`unavailable`)."""
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]


async def _run(*argv: str) -> str:
    """Run one command (bounded), returning its stdout; :class:`HostsError` naming it if it
    fails."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(10 * unit()):
            out, err = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise HostsError(f"{' '.join(argv)}: no answer within {10 * unit():.1f} s") from None
    if process.returncode != 0:
        raise HostsError(f"{' '.join(argv)}: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")


class EmulatedHosts:
    """``count`` emulated hosts on one bridge; see the module docstring."""

    def __init__(self, count: int, *, rate: str | None = None) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_HOSTS:
            raise ValueError(f"count must be an integer in 1..{MAX_HOSTS}, got {count!r}")
        if rate is not None and (not isinstance(rate, str) or not rate.strip()):
            raise ValueError(f"rate must be a tc rate such as '20mbit', got {rate!r}")
        self.count = count
        self.rate = rate
        self.tag = secrets.token_hex(3)[:5]
        self.bridge = f"rb{self.tag}"
        self.namespaces = [f"rl-{self.tag}-{i}" for i in range(count)]
        self.subnet: ipaddress.IPv4Network | None = None
        self._made_bridge = False
        self._made: list[str] = []

    # -- addresses -------------------------------------------------------------------------

    @property
    def gateway(self) -> str:
        """The bridge's address: where the host's own sockets (the signaling server, the
        engine and collector) are reached from every namespace."""
        return str(self._network()[1])

    def address(self, index: int) -> str:
        """Host ``index``'s address (0-based)."""
        if not 0 <= index < self.count:
            raise IndexError(f"host {index} is not one of 0..{self.count - 1}")
        return str(self._network()[index + 2])

    def command(self, index: int, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside host ``index``'s namespace."""
        if not 0 <= index < self.count:
            raise IndexError(f"host {index} is not one of 0..{self.count - 1}")
        return ["ip", "netns", "exec", self.namespaces[index], *argv]

    def _network(self) -> ipaddress.IPv4Network:
        if self.subnet is None:
            raise RuntimeError("the hosts are not made yet (use 'async with')")
        return self.subnet

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> EmulatedHosts:
        problem = unavailable()
        if problem:
            raise HostsError(problem)
        try:
            await self._make()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _free_subnet(self) -> ipaddress.IPv4Network:
        used = await _run("ip", "-4", "-o", "addr", "show")
        taken = [
            ipaddress.ip_interface(word).network
            for line in used.splitlines()
            for word in line.split()
            if "/" in word and word[0].isdigit()
        ]
        candidates = list(range(256))
        random.shuffle(candidates)
        for third in candidates:
            net = ipaddress.IPv4Network(f"{_SUPERNET}.{third}.0/24")
            if not any(net.overlaps(other) for other in taken):
                return net
        raise HostsError(f"no free /24 left in {_SUPERNET}.0.0/16")

    async def _make(self) -> None:
        self.subnet = await self._free_subnet()
        prefix = self.subnet.prefixlen
        await _run("ip", "link", "add", self.bridge, "type", "bridge")
        self._made_bridge = True
        await _run("ip", "addr", "add", f"{self.gateway}/{prefix}", "dev", self.bridge)
        await _run("ip", "link", "set", self.bridge, "up")
        for index, namespace in enumerate(self.namespaces):
            outside, inside = f"rh{self.tag}{index}", f"rn{self.tag}{index}"
            await _run("ip", "netns", "add", namespace)
            self._made.append(namespace)
            await _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            await _run("ip", "link", "set", inside, "netns", namespace)
            await _run("ip", "link", "set", outside, "master", self.bridge, "up")
            await _run("ip", "-n", namespace, "addr", "add", f"{self.address(index)}/{prefix}",
                       "dev", inside)  # fmt: skip
            await _run("ip", "-n", namespace, "link", "set", inside, "up")
            await _run("ip", "-n", namespace, "link", "set", "lo", "up")
            if self.rate is not None:
                tbf = ["root", "tbf", "rate", self.rate, "burst", "32kb", "latency", "100ms"]
                await _run("tc", "qdisc", "add", "dev", outside, *tbf)
                await _run("ip", "netns", "exec", namespace, "tc", "qdisc", "add", "dev", inside,
                           *tbf)  # fmt: skip
        logger.info(
            "emulated %d hosts on %s (bridge %s, gateway %s)",
            self.count, self.subnet, self.bridge, self.gateway,
        )  # fmt: skip

    async def close(self) -> None:
        """Remove every namespace (its veth goes with it) and the bridge; bounded, idempotent,
        and it keeps going past a failure (logging it)."""
        for namespace in reversed(self._made):
            try:
                await _run("ip", "netns", "del", namespace)
            except HostsError as exc:
                logger.warning("could not remove namespace %s: %s", namespace, exc)
        self._made.clear()
        if self._made_bridge:
            try:
                await _run("ip", "link", "del", self.bridge)
            except HostsError as exc:
                logger.warning("could not remove bridge %s: %s", self.bridge, exc)
            self._made_bridge = False
