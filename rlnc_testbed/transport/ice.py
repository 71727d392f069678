"""Which local addresses ICE may offer as host candidates: the one place that restricts aioice.

aioice (under aiortc) gathers host candidates from ``aioice.ice.get_host_addresses``, which
lists every interface address *except* 127.0.0.1. On the test machines only loopback may be
addressed, so by default we offer exactly ``127.0.0.1``.

How: :func:`install` replaces ``aioice.ice.get_host_addresses`` (once, idempotently) with a
wrapper that reads a :class:`contextvars.ContextVar`. Outside :func:`host_interfaces` the
variable is unset and the wrapper calls the original function, so nothing else in the process
changes behaviour. Inside ``with host_interfaces(...)`` - which the WebRTC connector wraps
around ``setLocalDescription``, the call that gathers candidates - the wrapper returns the
chosen addresses. asyncio tasks copy the context when created, so the tasks aiortc spawns for
gathering see the same choice.

``interfaces`` is ``"loopback"`` (only 127.0.0.1), ``"all"`` (aioice's own choice, for real
multi-host runs) or a comma-separated list of IP addresses (e.g. hosts in network namespaces).

This module also reads the selected ICE candidate pair of a connection
(:func:`selected_candidate_pair`), the proof that data crossed a real socket, and shapes the
datagrams a connection sends (:func:`shape_datagrams`: loss, delay, reordering in user space,
since this kernel has no ``netem``), and lets a connection's ICE checks finish without waiting
out aioice's pacing timer once nothing is left to pace (:func:`unpaced_checks`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aioice.ice

from rlnc_testbed.transport.shaping import ShapedLink

__all__ = [
    "LOOPBACK",
    "host_addresses_for",
    "host_interfaces",
    "install",
    "parse_interfaces",
    "sdp_candidate_addresses",
    "selected_candidate_pair",
    "shape_datagrams",
    "unpaced_checks",
]

#: The address offered when ``interfaces == "loopback"``.
LOOPBACK = "127.0.0.1"

_ORIGINAL: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
#: None -> aioice's own behaviour; otherwise the exact list of host addresses to offer.
_CHOSEN: ContextVar[tuple[str, ...] | None] = ContextVar("rlnc_ice_host_addresses", default=None)


def parse_interfaces(interfaces: str) -> tuple[str, ...] | None:
    """Validate ``interfaces``; return the addresses to offer, or None for ``"all"``."""
    if not isinstance(interfaces, str):
        raise TypeError(f"interfaces must be a str, got {type(interfaces).__name__}")
    if interfaces == "loopback":
        return (LOOPBACK,)
    if interfaces == "all":
        return None
    addresses = tuple(part.strip() for part in interfaces.split(",") if part.strip())
    if not addresses:
        raise ValueError(
            f"interfaces must be 'loopback', 'all' or a comma-separated list of IP addresses, "
            f"got {interfaces!r}"
        )
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(
                f"interfaces: {address!r} is not an IP address (expected 'loopback', 'all' "
                f"or a comma-separated list of IP addresses)"
            ) from None
    return addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    chosen = _CHOSEN.get()
    if chosen is None:
        return _ORIGINAL(use_ipv4, use_ipv6)
    return host_addresses_for(chosen, use_ipv4=use_ipv4, use_ipv6=use_ipv6)


def host_addresses_for(chosen: tuple[str, ...], *, use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """Filter ``chosen`` by IP version the way aioice asks for host addresses."""
    out = []
    for address in chosen:
        version = ipaddress.ip_address(address).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            out.append(address)
    return out


def install() -> None:
    """Route aioice's host-address lookup through :data:`_CHOSEN` (idempotent)."""
    aioice.ice.get_host_addresses = _get_host_addresses


@contextmanager
def host_interfaces(interfaces: str) -> Iterator[None]:
    """In this block (and tasks created in it) ICE offers host candidates per ``interfaces``."""
    chosen = parse_interfaces(interfaces)
    install()
    token = _CHOSEN.set(chosen)
    try:
        yield
    finally:
        _CHOSEN.reset(token)


def unpaced_checks(pc: Any) -> bool:
    """Let ``pc``'s ICE agent stop pacing once no candidate pair is left to start.

    aioice's ``Connection.connect()`` starts one check every 20 ms (RFC 8445's Ta timer) for
    as long as its ``_check_periodic()`` returns True, and only then waits for the check list
    to complete; with a single pair (127.0.0.1 on both ends) the check succeeds in well under
    a millisecond but ``connect()`` sleeps the full 20 ms first. We wrap that instance's
    ``_check_periodic`` to answer False as soon as no pair is left unstarted (Waiting or Frozen
    without a check task) and no remote
    candidate is still expected - exactly aioice's own condition one period later - so the
    pacing between checks stays and only the idle wait after the last one goes. Checks that
    start later (triggered by incoming checks) start by themselves, as in aioice.

    Call it after the connection's SCTP transport exists (offerer: after
    ``setLocalDescription``; answerer: after ``setRemoteDescription``) and before its ICE
    starts. Idempotent; returns False (nothing changed) if ``pc`` has no ICE connection yet
    or aioice lacks the attributes this relies on.
    """
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return False
    connection: Any = getattr(sctp.transport.transport, "_connection", None)
    original = getattr(connection, "_check_periodic", None)
    if connection is None or original is None or not hasattr(connection, "_check_list"):
        return False
    if getattr(connection, "_rlnc_unpaced", False):
        return True
    pending = (aioice.ice.CandidatePair.State.WAITING, aioice.ice.CandidatePair.State.FROZEN)

    def check_periodic() -> bool:
        more = bool(original())
        if not more:
            return False
        # A pair whose check was just started still reads Waiting until its task runs.
        if any(p.state in pending and p.task is None for p in connection._check_list):
            return True
        return bool(connection._remote_candidates_expected())

    connection._check_periodic = check_periodic
    connection._rlnc_unpaced = True
    return True


def sdp_candidate_addresses(sdp: str) -> list[str]:
    """Return the connection address of every ``a=candidate`` line of an SDP blob."""
    addresses = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) < 6:
                raise ValueError(f"malformed candidate line: {line!r}")
            addresses.append(fields[4])
    return addresses


def selected_candidate_pair(pc: Any) -> dict[str, Any]:
    """Describe the nominated ICE pair of an aiortc ``RTCPeerConnection`` ({} if none yet).

    Reads aioice's ``Connection._nominated`` (aiortc offers no public accessor); kept here so
    that private access lives next to the other aioice detail of this package.
    """
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return {}
    connection = getattr(sctp.transport.transport, "_connection", None)
    nominated = getattr(connection, "_nominated", None) or {}
    pair = nominated.get(1)
    if pair is None:
        return {}
    local, remote = pair.local_candidate, pair.remote_candidate
    return {
        "local_address": local.host,
        "local_port": local.port,
        "local_type": local.type,
        "remote_address": remote.host,
        "remote_port": remote.port,
        "remote_type": remote.type,
        "protocol": local.transport.lower(),
    }


def shape_datagrams(pc: Any, link_for: Callable[[], ShapedLink | None]) -> bool:
    """Send the data datagrams of ``pc`` through the shaped link ``link_for()`` returns.

    The sender side of the data path: aiortc's DTLS transport hands every record (carrying
    SCTP: data, SACKs, retransmissions) to ``RTCIceTransport._send`` (aioice's
    ``Connection.send``); we replace that instance attribute. ``link_for`` is asked at every
    datagram (None: send unshaped), so a link's shaping can change at run time. A datagram
    that may leave goes straight to the UDP socket of aioice's nominated pair (the same
    ``sendto`` aioice would make); one due after the connection closed is lost. STUN traffic
    (ICE checks, consent) does not take this path and is never shaped. Idempotent; returns
    False if ``pc`` has no transport yet.
    """
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return False
    ice_transport = sctp.transport.transport
    if getattr(ice_transport, "_rlnc_shaped", False):
        return True
    connection = ice_transport._connection
    original = ice_transport._send

    def sink(data: bytes) -> None:
        pair = connection._nominated.get(1)
        if pair is None:
            return
        transport = getattr(pair.protocol, "transport", None)
        if transport is None or transport.is_closing():
            return
        transport.sendto(data, pair.remote_addr)

    async def send(data: bytes) -> None:
        link = link_for()
        if link is None:
            await original(data)
            return
        if connection._nominated.get(1) is None:
            raise ConnectionError("Cannot send data, not connected")
        link.send(sink, data)

    ice_transport._send = send
    ice_transport._rlnc_shaped = True
    return True
