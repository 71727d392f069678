"""Speed-ups of aiortc's internals, kept in this one place: a node's one DTLS certificate,
SCTP chunk bundling, a leaner connection setup, a quicker close and delayed SACKs.

Everything here is CPU saved, not waiting skipped: with every node of a cluster in one process a
repair round is CPU-bound (its wall time equals the process's CPU time), so the round lasts
as long as the work its connections and messages cost - and most of that work is per datagram
(a DTLS record, a UDP send and receive, a trip through aioice, DTLS and SCTP on both ends), so
most of what follows sends fewer datagrams. :class:`Tuning` names the switches; a
:class:`~rlnc_testbed.transport.webrtc.WebRTCConnector` takes its own or, by default, those of
the enclosing :func:`tuning` block (all on outside any).

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
  most aiortc's own packet size (``SCTP_MAX_PACKET_LENGTH``) as they fit in, the SACK first
  (control chunks precede DATA, §6.10) and only the latest one (a SACK acknowledges
  cumulatively: an older one still waiting says nothing the newer does not), then the DATA in
  the order sent. A COOKIE ACK waits the same way and leads its packet (§5.1 lets it share one
  with DATA and SACK), so the data channel's opening message, queued as the association
  becomes established, leaves with it. Any other chunk (INIT, COOKIE ECHO, RECONFIG, ABORT,
  SHUTDOWN, ...) first sends what waits, then goes alone and at once, as before. Chunk
  contents, order, sequence numbers and retransmissions are aiortc's: only the packing of
  chunks into packets changes, which every SCTP receiver accepts (aiortc's ``parse_packet``
  reads every chunk of a packet; so do Chromium's usrsctp and dcsctp). The messages sent in
  one pass also share one of aiortc's flush tasks instead of starting one each.

* **Lean setup** (:func:`lean_setup`, ``Tuning.lean_setup``), for connections that carry only
  data channels:

  - *One SCTP initiator.* aiortc has both ends send an INIT once DTLS is up, so every
    association is set up twice over (an INIT collision, RFC 9260 §5.2.1: two INITs, two INIT
    ACKs, two COOKIE ECHOs, two COOKIE ACKs). One initiator suffices (§5.1): the DTLS client
    sends the INIT and the DTLS server answers it, as aiortc answers an INIT in any state. A
    Chromium peer initiates whatever its DTLS role, so it meets an initiator either way.
  - *No SRTP keys.* After the DTLS handshake aiortc exports keying material and makes two
    libsrtp sessions for media that a data-only connection never carries.
  - *One fingerprint.* With a node's one certificate, the SDP carries its SHA-256
    fingerprint only (as browsers' SDPs do; :class:`NodeCertificate` ``algorithms``) instead
    of SHA-256, SHA-384 and SHA-512; the far end checks the fingerprints it was given, so it
    computes one digest instead of three, and every SDP is shorter (~0.5 KB, not ~0.9).

* **Quick close** (:func:`sctp_idle`, ``Tuning.quick_close``). Closing a data channel
  gracefully is a stream reset (a RECONFIG chunk each way and their responses) and then the
  peer connection's close sends an SCTP ABORT and a DTLS close_notify anyway. When nothing of
  ours is still unsent or unacknowledged, the reset carries nothing the ABORT does not: the far
  end has already taken every message in (its SCTP acknowledged them, after handing them to
  the channel), and on the ABORT its channel closes just the same. The channel then closes its
  connection directly, two datagrams instead of six; with data in flight it closes gracefully,
  and so it does on a shaped link (an ABORT, unlike a stream reset, is never retransmitted, so
  a shaper's loss could leave the far end waiting).

* **Delayed SACKs** (``Tuning.delayed_sack``, :data:`SACK_DELAY`). aiortc acknowledges every
  packet that carried data at once; most of those SACKs leave alone, a packet each. RFC 9260
  §6.2 lets a receiver wait (at most 200 ms) for at least every second packet, so a SACK now
  waits, bundled, for the next DATA going the other way (a batch's acknowledgement, the next
  batch), for a second data packet, or for the delay, whichever comes first; one that reports
  a gap or a duplicate (a loss to repair) leaves at once, as before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiortc.rtcpeerconnection
from aiortc import rtcsctptransport
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsFingerprint

__all__ = [
    "SACK_DELAY",
    "NodeCertificate",
    "Tuning",
    "abort_association",
    "bundle_chunks",
    "current_tuning",
    "install",
    "lean_setup",
    "node_certificate",
    "sctp_idle",
    "tuning",
]

logger = logging.getLogger(__name__)

#: A node's certificate is made again when it expires within this (aiortc's last 30 days).
RENEW_BEFORE = datetime.timedelta(days=1)

#: None -> aiortc makes a fresh certificate per connection (its own behaviour).
_CHOSEN: ContextVar[NodeCertificate | None] = ContextVar("rlnc_dtls_certificate", default=None)


@dataclass(frozen=True)
class Tuning:
    """Which speed-ups a connector's connections use (each on by default; all off is plain
    aiortc). None of them changes what crosses a channel."""

    #: A node's connections share one DTLS certificate.
    share_certificate: bool = True
    #: SCTP DATA and SACK chunks (and a COOKIE ACK) share packets.
    bundle_sctp: bool = True
    #: One SCTP initiator, no SRTP keys, one fingerprint in the SDP.
    lean_setup: bool = True
    #: A channel with nothing in flight closes its connection without a stream reset.
    quick_close: bool = True
    #: SACKs wait (at most :data:`SACK_DELAY`) to ride with DATA, as RFC 9260 allows; only
    #: with ``bundle_sctp``.
    delayed_sack: bool = True

    @classmethod
    def off(cls) -> Tuning:
        """Plain aiortc."""
        return cls(
            share_certificate=False,
            bundle_sctp=False,
            lean_setup=False,
            quick_close=False,
            delayed_sack=False,
        )


#: None -> ``Tuning()``, everything on.
_TUNING: ContextVar[Tuning | None] = ContextVar("rlnc_transport_tuning", default=None)


def current_tuning() -> Tuning:
    """The tuning a connector made here takes by default (see :func:`tuning`)."""
    return _TUNING.get() or Tuning()


@contextmanager
def tuning(choice: Tuning | None = None, **changes: bool) -> Iterator[Tuning]:
    """Connectors made in this block (and in tasks created in it) default to ``choice`` (the
    current tuning if None) with ``changes`` applied, e.g. ``with tuning(quick_close=False)``;
    benchmarks compare configurations this way."""
    chosen = dataclasses.replace(choice or current_tuning(), **changes)
    token = _TUNING.set(chosen)
    try:
        yield chosen
    finally:
        _TUNING.reset(token)


class NodeCertificate(RTCCertificate):
    """An ``RTCCertificate`` shared by the connections of one node: it keeps its fingerprints
    and, per SRTP profile list, its OpenSSL context (a context serves any number of DTLS
    connections; each gets its own ``SSL.Connection``)."""

    def __init__(self, key: Any, cert: Any, *, algorithms: tuple[str, ...] | None = None) -> None:
        super().__init__(key=key, cert=cert)
        #: The digests its SDP fingerprints use (None: every one aiortc knows).
        self.algorithms = algorithms
        self._fingerprints: list[RTCDtlsFingerprint] | None = None
        self._contexts: dict[tuple[bytes, ...], Any] = {}

    @classmethod
    def make(cls, *, algorithms: tuple[str, ...] | None = None) -> NodeCertificate:
        """A new key and certificate, made the way aiortc makes them; ``algorithms`` limits
        the fingerprints given in SDPs (e.g. ``("sha-256",)``, as browsers give)."""
        fresh = RTCCertificate.generateCertificate()
        return cls(key=fresh._key, cert=fresh._cert, algorithms=algorithms)

    @property
    def fresh(self) -> bool:
        """Whether it stays valid for more than :data:`RENEW_BEFORE`."""
        now = datetime.datetime.now(tz=datetime.UTC)
        return self.expires - now > RENEW_BEFORE

    def getFingerprints(self) -> list[RTCDtlsFingerprint]:
        if self._fingerprints is None:
            prints = super().getFingerprints()
            if self.algorithms is not None:
                prints = [f for f in prints if f.algorithm in self.algorithms]
            self._fingerprints = prints
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


#: Longest a SACK waits for DATA to ride with (RFC 9260 §6.2: 200 ms, never more than 500).
SACK_DELAY = 0.2
_HEADER = rtcsctptransport.SCTP_COMMON_HEADER_LENGTH
_MAX_PACKET = rtcsctptransport.SCTP_MAX_PACKET_LENGTH


def bundle_chunks(pc: Any, *, delay_sack: float | None = None) -> bool:
    """Let ``pc``'s SCTP association bundle its DATA and SACK chunks (see the module text).

    With ``delay_sack`` (seconds), a SACK that reports no gap and no duplicate waits for
    DATA to ride with, for at most that long, unless it is the second data-bearing packet
    since the last SACK left (RFC 9260 §6.2's delayed acknowledgement: at least every second
    packet, within 200 ms; at once when a gap shows a loss). A SACK still waiting when an
    ABORT goes is dropped (the association ends).

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
    # What waits for the end of the pass: a COOKIE ACK (leads its packet), the latest SACK,
    # then the DATA chunks in the order sent; each as bytes, its fields as of when it was sent
    # (a retransmission re-sends).
    lead: list[bytes] = []
    sack: list[bytes] = []
    data: list[bytes] = []
    scheduled = False
    acks = 0  # SACKs aiortc made since one last left: data-bearing packets unacknowledged
    timer: asyncio.TimerHandle | None = None
    loop = asyncio.get_running_loop()

    def packet(body: bytes) -> bytes:
        header = struct.pack(
            "!HHL", sctp._local_port, sctp._remote_port, sctp._remote_verification_tag
        )
        checksum = rtcsctptransport.crc32c(header + b"\x00\x00\x00\x00" + body)
        return header + struct.pack("<L", checksum) + body

    async def flush() -> None:
        nonlocal scheduled, acks, timer
        scheduled = False
        if sack:
            acks = 0
            if timer is not None:
                timer.cancel()
                timer = None
        chunks = [*lead, *sack, *data]
        if not chunks:
            return
        lead.clear()
        sack.clear()
        data.clear()
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

    def sack_due() -> None:
        nonlocal timer
        timer = None
        if getattr(sctp, "state", "") == "closed":  # ended meanwhile (the far end's ABORT)
            sack.clear()
        elif sack:
            start_flush()

    def schedule() -> None:
        nonlocal scheduled
        if not scheduled:
            scheduled = True
            loop.call_soon(start_flush)

    async def send_chunk(chunk: Any) -> None:
        nonlocal acks, timer
        if isinstance(chunk, rtcsctptransport.DataChunk):
            data.append(bytes(chunk))
            schedule()
        elif isinstance(chunk, rtcsctptransport.SackChunk):
            sack[:] = [bytes(chunk)]  # cumulative: the latest says all the older did
            acks += 1
            if delay_sack is None or chunk.gaps or chunk.duplicates or acks >= 2:
                schedule()
            elif timer is None and not scheduled:
                timer = loop.call_later(delay_sack, sack_due)
        elif isinstance(chunk, rtcsctptransport.CookieAckChunk):
            if lead or sack or data:
                await flush()
            lead.append(bytes(chunk))
            schedule()
        else:
            if isinstance(chunk, rtcsctptransport.AbortChunk):
                sack.clear()
                if timer is not None:
                    timer.cancel()
                    timer = None
            if lead or sack or data:
                await flush()
            await original(chunk)

    sctp._send_chunk = send_chunk
    _one_flush_per_pass(sctp)
    sctp._rlnc_bundled = True
    return True


def _one_flush_per_pass(sctp: Any) -> None:
    """aiortc starts a task to flush the data channels' queue for every message sent
    (``_data_channel_send``), and the first of them sends everything queued by then: let the
    messages of one pass share that one task (``ensure_future`` of a task returns it)."""
    send = getattr(sctp, "_data_channel_send", None)
    flush = getattr(sctp, "_data_channel_flush", None)
    if send is None or flush is None:
        return
    loop = asyncio.get_running_loop()
    sending = False
    pending: asyncio.Task[None] | None = None

    async def run() -> None:
        nonlocal pending
        pending = None
        await flush()

    def data_channel_flush() -> Any:
        nonlocal pending
        if not sending:  # aiortc's other callers await a flush of their own, at once
            return flush()
        if pending is None:
            pending = loop.create_task(run())
        return pending

    def data_channel_send(channel: Any, data: bytes | str) -> None:
        nonlocal sending
        sending = True
        try:
            send(channel, data)
        finally:
            sending = False

    sctp._data_channel_flush = data_channel_flush
    sctp._data_channel_send = data_channel_send


def lean_setup(pc: Any) -> bool:
    """Set up ``pc``'s association with one initiator and without SRTP keys (see the module
    text; the single fingerprint is :class:`NodeCertificate`'s ``algorithms``).

    Only for a connection without media. Call it once ``pc.sctp`` exists and before DTLS
    starts (where :func:`bundle_chunks` is called). Idempotent; returns False (nothing
    changed) if ``pc`` has no SCTP transport or aiortc lacks what this relies on.
    """
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return False
    if getattr(sctp, "_rlnc_lean", False):
        return True
    dtls = sctp.transport
    init = getattr(sctp, "_init", None)
    if init is None or not hasattr(dtls, "_setup_srtp") or not hasattr(dtls, "_role"):
        return False

    async def initiate() -> None:
        # aiortc calls this as the association starts, on both ends; the DTLS server waits
        # for the client's INIT instead (aiortc answers an INIT in any state).
        if not sctp.is_server:
            await init()

    def no_srtp() -> None:
        """No media on this connection: no SRTP keys to derive."""

    sctp._init = initiate
    dtls._setup_srtp = no_srtp
    sctp._rlnc_lean = True
    return True


async def abort_association(pc: Any) -> None:
    """End ``pc``'s SCTP association at once (an ABORT; aiortc's own close then skips it)."""
    sctp = getattr(pc, "sctp", None)
    if sctp is not None:
        await sctp.stop()


def sctp_idle(pc: Any) -> bool:
    """Whether ``pc``'s association holds nothing of ours unsent or unacknowledged (so that
    closing it at once loses nothing). False when unsure."""
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return False
    try:
        return not (sctp._data_channel_queue or sctp._outbound_queue or sctp._sent_queue)
    except AttributeError:
        return False


def _retrieve(task: asyncio.Task[None]) -> None:
    """A flush that failed otherwise than on a closed DTLS transport: nothing waits for it
    (logged); SCTP retransmits what did not leave."""
    if not task.cancelled() and task.exception() is not None:
        logger.debug("SCTP bundle not sent: %r", task.exception())
