"""Two speed-ups of aiortc's internals, kept in this one place: a node's one DTLS certificate,
and SCTP chunk bundling.

Everything here is CPU saved, not waiting skipped: with every node of a cluster in one process a
repair round is CPU-bound (its wall time equals the process's CPU time), so the round lasts
as long as the work its connections and messages cost.

* **One certificate per node** (:func:`node_certificate`, :class:`NodeCertificate`). aiortc
  makes a new ECDSA key and X.509 certificate for every ``RTCPeerConnection``, then for every
  DTLS transport a new OpenSSL context loaded with it, and it recomputes the certificate's
  fingerprints (four digests, formatted) each time an SDP is written. A node's connections may
  share one certificate, as a browser's do when a page passes the same ``RTCCertificate`` to
  each of them (WebRTC's ``certificates`` option): the fingerprint in each SDP is that node's.
  :class:`NodeCertificate` keeps its OpenSSL context and fingerprints, and is made again when
  it nears expiry. The hook: aiortc's ``RTCPeerConnection.__init__`` calls
  ``RTCCertificate.generateCertificate()`` of module ``aiortc.rtcpeerconnection``;
  :func:`install` puts there a subclass whose ``generateCertificate`` returns the certificate
  chosen by the enclosing ``with node_certificate(...)`` (a :class:`~contextvars.ContextVar`)
  and aiortc's own fresh one everywhere else, so nothing outside changes behaviour (the same
  pattern as :func:`rlnc_testbed.transport.ice.host_interfaces`).

* **SCTP bundling** (:func:`bundle_chunks`). aiortc sends every SCTP chunk in a packet of its
  own ("no bundling for now"), so a batch of six small messages costs six DATA packets and six
  SACKs, each one DTLS record, one UDP datagram and one trip through both stacks. RFC 9260
  §6.10 lets DATA and SACK chunks share a packet up to the path MTU. :func:`bundle_chunks`
  replaces one association's ``_send_chunk`` (an instance attribute, like
  :func:`rlnc_testbed.transport.ice.unpaced_checks`): DATA and SACK chunks wait for the end of
  the event loop's current pass (``call_soon``) and then leave together, as few packets of at
  most aiortc's own packet size (``SCTP_MAX_PACKET_LENGTH``) as they fit in, in the order they
  were sent; any other chunk (INIT, COOKIE, RECONFIG, ABORT, SHUTDOWN, ...) first sends what
  waits, then goes alone and at once, as before. Chunk contents, order, sequence numbers and
  retransmissions are aiortc's: only the packing of chunks into packets changes, which every
  SCTP receiver accepts (aiortc's ``parse_packet`` reads every chunk of a packet; so do
  Chromium's usrsctp and dcsctp).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiortc.rtcpeerconnection
from aiortc import rtcsctptransport
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsFingerprint

__all__ = [
    "NodeCertificate",
    "bundle_chunks",
    "install",
    "node_certificate",
]

logger = logging.getLogger(__name__)

#: A node's certificate is made again when it expires within this (aiortc's last 30 days).
RENEW_BEFORE = datetime.timedelta(days=1)

#: None -> aiortc makes a fresh certificate per connection (its own behaviour).
_CHOSEN: ContextVar[NodeCertificate | None] = ContextVar("rlnc_dtls_certificate", default=None)


class NodeCertificate(RTCCertificate):
    """An ``RTCCertificate`` shared by the connections of one node: it keeps its fingerprints
    and, per SRTP profile list, its OpenSSL context (a context serves any number of DTLS
    connections; each gets its own ``SSL.Connection``)."""

    def __init__(self, key: Any, cert: Any) -> None:
        super().__init__(key=key, cert=cert)
        self._fingerprints: list[RTCDtlsFingerprint] | None = None
        self._contexts: dict[tuple[bytes, ...], Any] = {}

    @classmethod
    def make(cls) -> NodeCertificate:
        """A new key and certificate, made the way aiortc makes them."""
        fresh = RTCCertificate.generateCertificate()
        return cls(key=fresh._key, cert=fresh._cert)

    @property
    def fresh(self) -> bool:
        """Whether it stays valid for more than :data:`RENEW_BEFORE`."""
        now = datetime.datetime.now(tz=datetime.UTC)
        return self.expires - now > RENEW_BEFORE

    def getFingerprints(self) -> list[RTCDtlsFingerprint]:
        if self._fingerprints is None:
            self._fingerprints = super().getFingerprints()
        return list(self._fingerprints)

    def _create_ssl_context(self, srtp_profiles: list[Any]) -> Any:
        key = tuple(profile.openssl_profile for profile in srtp_profiles)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = super()._create_ssl_context(srtp_profiles)
        return context


class _HookedCertificate(RTCCertificate):
    """What ``aiortc.rtcpeerconnection`` sees as ``RTCCertificate`` once installed."""

    @classmethod
    def generateCertificate(cls) -> RTCCertificate:  # type: ignore[override]
        chosen = _CHOSEN.get()
        if chosen is not None:
            return chosen
        return RTCCertificate.generateCertificate()


def install() -> None:
    """Route aiortc's per-connection certificate through :data:`_CHOSEN` (idempotent)."""
    aiortc.rtcpeerconnection.RTCCertificate = _HookedCertificate  # type: ignore[misc]


@contextmanager
def node_certificate(certificate: NodeCertificate | None) -> Iterator[None]:
    """``RTCPeerConnection`` objects made in this block use ``certificate`` (None: aiortc's
    own fresh one each)."""
    install()
    token = _CHOSEN.set(certificate)
    try:
        yield
    finally:
        _CHOSEN.reset(token)


#: Chunks that wait to share a packet; every other kind goes alone, at once.
_BUNDLED = (rtcsctptransport.DataChunk, rtcsctptransport.SackChunk)
_HEADER = rtcsctptransport.SCTP_COMMON_HEADER_LENGTH
_MAX_PACKET = rtcsctptransport.SCTP_MAX_PACKET_LENGTH


def bundle_chunks(pc: Any) -> bool:
    """Let ``pc``'s SCTP association bundle its DATA and SACK chunks (see the module text).

    Call it once ``pc.sctp`` exists (offerer: after ``createDataChannel``; answerer: after
    ``setRemoteDescription``), before the association starts. Idempotent; returns False (nothing
    changed) if ``pc`` has no SCTP transport or aiortc lacks what this relies on.
    """
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return False
    if getattr(sctp, "_rlnc_bundled", False):
        return True
    original = getattr(sctp, "_send_chunk", None)
    if original is None or not hasattr(sctp, "_remote_verification_tag"):
        return False
    waiting: list[bytes] = []
    scheduled = False
    loop = asyncio.get_running_loop()

    def packet(body: bytes) -> bytes:
        header = struct.pack(
            "!HHL", sctp._local_port, sctp._remote_port, sctp._remote_verification_tag
        )
        checksum = rtcsctptransport.crc32c(header + b"\x00\x00\x00\x00" + body)
        return header + struct.pack("<L", checksum) + body

    async def flush() -> None:
        nonlocal scheduled
        scheduled = False
        if not waiting:
            return
        chunks = waiting[:]
        waiting.clear()
        bodies: list[bytes] = []
        current: list[bytes] = []
        size = _HEADER
        for chunk in chunks:
            if current and size + len(chunk) > _MAX_PACKET:
                bodies.append(b"".join(current))
                current, size = [], _HEADER
            current.append(chunk)
            size += len(chunk)
        bodies.append(b"".join(current))
        for body in bodies:
            try:
                await sctp.transport._send_data(packet(body))
            except ConnectionError:  # DTLS gone: lost, as a datagram after close would be
                return

    def start_flush() -> None:
        task = asyncio.ensure_future(flush())
        task.add_done_callback(_retrieve)

    async def send_chunk(chunk: Any) -> None:
        nonlocal scheduled
        if isinstance(chunk, _BUNDLED):
            waiting.append(bytes(chunk))  # its fields as of now (a retransmission re-sends)
            if not scheduled:
                scheduled = True
                loop.call_soon(start_flush)
            return
        if waiting:
            await flush()
        await original(chunk)

    sctp._send_chunk = send_chunk
    sctp._rlnc_bundled = True
    return True


def _retrieve(task: asyncio.Task[None]) -> None:
    """A flush that failed otherwise than on a closed DTLS transport: nothing waits for it
    (logged); SCTP retransmits what did not leave."""
    if not task.cancelled() and task.exception() is not None:
        logger.debug("SCTP bundle not sent: %r", task.exception())
