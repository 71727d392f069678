"""The signaling server: admits clients over websockets, relays WebRTC signals, hands the rest
of the messages to a coordinator (the :class:`ServerHandler`) and lets it talk back.

Admission: a client joins with the run token (ids in join order), or - what ``Cluster``
does, with ``admit_run_token=False`` - with a per-slot credential,
:meth:`SignalingServer.credential` (``HMAC-SHA256`` under a key that never leaves this
process, over ``role|slot``), claiming that slot: the id follows the slot, not the join
order, a peer or newcomer slot is used once (the engine's and collector's may be rejoined
after their holder left), and neither the run token nor another slot's credential takes it.

Sessions (``rlnc-testbed serve``, :mod:`rlnc_testbed.experiment.serve`): one server serves
many trials. :meth:`SignalingServer.begin_trial` opens trial t - it resets the per-trial slot
state (used slots, resumable slots, joins) - and from then on a slot's credential is that
trial's, :func:`trial_credential` of the slot's *session credential*
(:meth:`SignalingServer.session_credential`; every newcomer slot's of the one
:meth:`SignalingServer.pool_credential`): a node holding the session credential derives each
trial's itself, so one token file serves every trial and a credential seen on the wire in one
trial admits nobody in another. ``/health`` then also shows :attr:`SignalingServer.session`.
A newcomer waiting in the pool says so on every poll of ``/health`` (header
:data:`POOL_WAITER_HEADER`: its waiter id and :func:`pool_waiter_proof`, so only a holder of
the pool's token file counts) and the server counts the waiters heard from in the last
:data:`POOL_FRESH_SECONDS` (:meth:`SignalingServer.pool_waiting`): a session waits for its
trial's newcomers before it opens the trial, as it does for its external peers.

Interruptions: :meth:`SignalingServer.restart` (stop listening, close every connection with
code 1012 "service restart", listen again on the same port) and :meth:`SignalingServer.drop`
(one connection) end connections the server means to see again. Only those slots may be
rejoined, once each, with their own credential (a failed or crashed node's slot stays used);
the :class:`~rlnc_testbed.signaling.client.SignalingClient` reconnects by itself on 1012.

What happens to a bad message (each is logged as a warning naming the client and reason, and
counted in :attr:`SignalingServer.rejected` under the reason in brackets):

- error reply, connection kept (the client is known and the message is merely wrong): not
  JSON [not-json], not an object [not-object], unknown type [unknown-type], missing field
  [missing-field], unknown field [unknown-field], wrong field type/value [bad-field], a
  number that is not finite or not a safe integer [bad-number], nesting too deep
  [too-deep], a string/list/object over its limit [too-large], a type only the server
  sends [wrong-direction], a second join [rejoin], a signal without ``to``
  [missing-field], to an unknown id [unknown-target] or to a member that has left
  [target-left: a race, logged at info, not as a warning].
- error reply, then close (code 1008): anything before a valid join (the schema reasons
  above, or [before-join] for a valid non-join message), a wrong or missing token or
  credential [bad-token], a slot that does not fit the role [bad-slot], a slot taken or
  used before [slot-taken], a second engine or collector [duplicate-role], a spoofed
  ``from`` [spoofed-from], a binary frame [binary], joining a closing server
  [server-closing], no join in time [join-timeout], more joins than the run allows
  [too-many-joins], more messages or bytes per second than allowed [rate-limited], too
  many offers to one target [too-many-offers].
- error reply, then close (code 1013): too many connections waiting to join
  [too-many-unjoined].
- close without reply: a frame over ``max_message`` bytes [oversize], closed by aiohttp with
  code 1009 before the message is read; no pong to the heartbeat [heartbeat-timeout],
  code 1006. A TCP connection that sends no HTTP request in time is closed by aiohttp.

Every limit is a named constant below, gathered in :class:`ServerLimits` (times in timeout
units, scaled by ``RLNC_TIMEOUT_FACTOR``; rates per wall-clock second, not scaled) and
documented in ``docs/protocol.md`` §1 ("Limits"). :class:`TokenBucket` is the sans-I/O rate
limiter (the clock is passed in).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from ..protocol.messages import (
    CLIENT_TYPES,
    COLLECTOR_ID,
    ENGINE_ID,
    MAX_MESSAGE_BYTES,
    MAX_TEXT,
    ROLES,
    SCHEMA_ERROR_KINDS,
    SchemaError,
    decode_message,
    encode_message,
)
from ..timeouts import unit
from .web import add_web_routes

__all__ = [
    "BYTE_BURST",
    "BYTE_BURST_PER_PEER",
    "BYTE_RATE",
    "CLOSE_POLICY",
    "CLOSE_RESTART",
    "CLOSE_TRY_AGAIN",
    "HEARTBEAT_UNITS",
    "JOIN_TIMEOUT_UNITS",
    "MAX_JOINS",
    "MAX_OFFERS_PER_TARGET",
    "MAX_PENDING_OFFERS",
    "MAX_UNJOINED",
    "MESSAGE_BURST",
    "MESSAGE_BURST_PER_PEER",
    "MESSAGE_RATE",
    "NUMBERED_ROLES",
    "OFFER_TIMEOUT_UNITS",
    "POOL_FRESH_SECONDS",
    "POOL_WAITER_HEADER",
    "RACE_REJECTIONS",
    "REJECTION_KINDS",
    "UNIQUE_ROLES",
    "ServerHandler",
    "ServerLimits",
    "SignalingServer",
    "TokenBucket",
    "UnknownClientError",
    "pool_waiter_proof",
    "trial_credential",
]

# -- limits: one named constant each -------------------------------------------------------

#: A connection must send a valid ``join`` within this many units of being accepted (and a
#: TCP connection must send its HTTP upgrade request within it), or it is closed.
JOIN_TIMEOUT_UNITS = 10.0
#: After this many units without a frame from a joined client the server pings it; no pong
#: within half of it and the connection is closed (a half-open or hung client).
HEARTBEAT_UNITS = 30.0
#: Connections accepted but not (yet) joined, at most, at any moment.
MAX_UNJOINED = 64
#: Successful joins per server (per run), at most.
MAX_JOINS = 20_000
#: Messages per second per connection, sustained, and the burst allowed above that.
MESSAGE_RATE = 100
MESSAGE_BURST = 500
#: Bytes (UTF-8) per second per connection, sustained, and the burst allowed above that.
BYTE_RATE = 1024 * 1024
BYTE_BURST = 4 * 1024 * 1024
#: The bursts grow with the run: every other member that joins adds this many messages and
#: bytes to each connection's burst (and its saved-up budget). A legitimate node sends a
#: handful of messages per member it talks to - the collector answers every peer's link
#: offer, the engine offers one link to each peer - so a 1,000-peer run needs ~1,000-message
#: bursts from those two, while a connection alone on the server still has the base burst.
#: The sustained rates stay fixed: a flooder is refused as before, only later.
MESSAGE_BURST_PER_PEER = 4
BYTE_BURST_PER_PEER = 4 * 1024
#: WebRTC offers (``signal`` payload ``type: "offer"``) relayed from one client to one
#: target and not yet answered, at most; an unanswered offer stops counting after
#: :data:`OFFER_TIMEOUT_UNITS` units (the time a peer waits for an answer).
MAX_PENDING_OFFERS = 4
OFFER_TIMEOUT_UNITS = 10.0
#: Offers one client may send to one target over its whole connection (a node pools its
#: links: a trial needs one or two per pair).
MAX_OFFERS_PER_TARGET = 64

#: Close codes: 1008 (policy violation) for a misbehaving client, 1013 (try again later)
#: when the server is full.
CLOSE_POLICY = 1008
#: "Service restart": the server will be back; the client reconnects (its slot is kept).
CLOSE_RESTART = 1012
CLOSE_TRY_AGAIN = 1013


@dataclass(frozen=True)
class ServerLimits:
    """The limits one :class:`~rlnc_testbed.signaling.server.SignalingServer` enforces.

    Defaults are the module constants; tests and callers pass smaller or larger ones. The
    message and byte bursts of a connection are ``message_burst + message_burst_per_peer x
    m`` (bytes alike), m the other members joined so far (at most ``max_joins``): they scale
    with the run, the rates do not.
    """

    join_timeout_units: float = JOIN_TIMEOUT_UNITS
    heartbeat_units: float = HEARTBEAT_UNITS
    max_unjoined: int = MAX_UNJOINED
    max_joins: int = MAX_JOINS
    message_rate: float = MESSAGE_RATE
    message_burst: int = MESSAGE_BURST
    byte_rate: float = BYTE_RATE
    byte_burst: int = BYTE_BURST
    message_burst_per_peer: int = MESSAGE_BURST_PER_PEER
    byte_burst_per_peer: int = BYTE_BURST_PER_PEER
    max_pending_offers: int = MAX_PENDING_OFFERS
    offer_timeout_units: float = OFFER_TIMEOUT_UNITS
    max_offers_per_target: int = MAX_OFFERS_PER_TARGET

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number > 0, got {value!r}")


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; :meth:`take` spends them."""

    def __init__(self, rate: float, burst: float, *, clock: Callable[[], float]) -> None:
        if not rate > 0 or not burst > 0:
            raise ValueError(f"rate and burst must be > 0, got {rate!r} and {burst!r}")
        self.rate, self.burst = float(rate), float(burst)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def grant(self, amount: float) -> None:
        """Raise the burst by ``amount`` and add as many tokens (a member joined the run)."""
        self.burst += amount
        self._tokens += amount

    def take(self, amount: float = 1.0) -> bool:
        """Spend ``amount`` tokens if there are that many; False (nothing spent) if not."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if amount > self._tokens:
            return False
        self._tokens -= amount
        return True


#: Roles whose id is the role name itself; only one client may hold each.
UNIQUE_ROLES = (ENGINE_ID, COLLECTOR_ID)
#: Roles whose ids are decimal ("1", "2", ...): the slot claimed, or the next in join order.
NUMBERED_ROLES = tuple(role for role in ROLES if role not in UNIQUE_ROLES)

#: Rejections that an honest member meets in an ordinary race, logged at info rather than as
#: a warning: a signal to a member that left while it was under way (a collector answering
#: the warm-link offer of a peer that has just failed).
RACE_REJECTIONS = frozenset({"target-left"})
#: Every key of :attr:`SignalingServer.rejected`: the schema's kinds and the server's own.
REJECTION_KINDS = SCHEMA_ERROR_KINDS | {
    "wrong-direction",
    "rejoin",
    "unknown-target",
    "target-left",
    "unreachable-target",
    "before-join",
    "bad-token",
    "bad-slot",
    "slot-taken",
    "duplicate-role",
    "spoofed-from",
    "binary",
    "server-closing",
    "join-timeout",
    "too-many-joins",
    "rate-limited",
    "too-many-offers",
    "too-many-unjoined",
    "heartbeat-timeout",
    "ws-error",
}

_CLOSE_REASON_BYTES = 120  # a websocket close reason must fit in 123 bytes


def trial_credential(credential: str, trial: int, slot: str) -> str:
    """The join credential of ``slot`` in a session's trial ``trial``: HMAC-SHA256 under the
    slot's session credential (or, for a newcomer slot, the pool credential) over
    ``rlnc-trial|<trial>|<slot>``, lowercase hex. What a session's node computes for itself."""
    message = f"rlnc-trial|{trial}|{slot}".encode()
    return hmac.new(credential.encode(), message, hashlib.sha256).hexdigest()


#: The ``/health`` request header of a newcomer waiting in a session's pool:
#: ``<waiter id>:<pool_waiter_proof(pool credential, waiter id)>``.
POOL_WAITER_HEADER = "X-Rlnc-Pool-Waiter"
#: A pool waiter counts as waiting this long after its last ``/health`` poll (seconds).
POOL_FRESH_SECONDS = 1.0
#: Pool waiters remembered at most (the longest silent forgotten first), and a waiter id's
#: length limit (it is a random hex string).
MAX_POOL_WAITERS = 1024
MAX_WAITER_ID = 64


def pool_waiter_proof(pool_credential: str, waiter: str) -> str:
    """What a pool newcomer sends with its waiter id ``waiter`` to be counted as waiting:
    HMAC-SHA256 under the pool credential over ``rlnc-pool-wait|<waiter>``, lowercase hex."""
    message = f"rlnc-pool-wait|{waiter}".encode()
    return hmac.new(pool_credential.encode(), message, hashlib.sha256).hexdigest()


class UnknownClientError(LookupError):
    """No client with the given id is connected."""


class ServerHandler(Protocol):
    """The coordinator's side of the server: told about joins, messages and leaves.

    Calls for one client arrive in order, from that client's connection task; an exception is
    logged and appended to :attr:`SignalingServer.handler_errors`, and serving continues.
    """

    async def on_join(self, id: str, role: str) -> None:
        """A client joined (its welcome is already sent)."""

    async def on_message(self, id: str, msg: dict[str, Any]) -> None:
        """A valid non-signal message arrived from ``id`` (``msg["from"] == id``)."""

    async def on_leave(self, id: str) -> None:
        """A joined client's connection ended."""


@dataclass
class _Client:
    id: str
    role: str
    ws: web.WebSocketResponse
    task: asyncio.Task[Any] | None
    messages: TokenBucket
    bytes: TokenBucket
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    #: target id -> offers relayed to it (whole connection).
    offers: collections.Counter[str] = field(default_factory=collections.Counter)
    #: target id -> {conn: expiry (loop time)} of offers not answered yet.
    pending: dict[str, dict[str, float]] = field(default_factory=dict)


class _Rejected(Exception):
    def __init__(self, kind: str, reason: str, *, close: bool, code: int = CLOSE_POLICY) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.close, self.code = kind, reason, close, code


class SignalingServer:
    """Websocket signaling server on ``ws://host:port/ws`` with ``GET /health``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        logger: logging.Logger | None = None,
        max_message: int = MAX_MESSAGE_BYTES,
        handler: ServerHandler | None = None,
        params: dict[str, Any] | None = None,
        limits: ServerLimits | None = None,
        admit_run_token: bool = True,
    ) -> None:
        if not isinstance(max_message, int) or max_message < 1024:
            raise ValueError(f"max_message must be an integer >= 1024, got {max_message!r}")
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("token must be a non-empty string or None")
        self.host, self._port = host, port
        #: The run token: admits a join without ``slot`` (when ``admit_run_token``) and shows
        #: the ids on ``/health``.
        self.token: str = token or secrets.token_urlsafe(16)
        #: False: only per-slot credentials (:meth:`credential`) admit; the run token does not.
        self.admit_run_token = admit_run_token
        self.limits = limits or ServerLimits()
        self._slot_key = secrets.token_bytes(32)  # never leaves this process
        self.logger = logger or logging.getLogger(__name__)
        self.max_message = max_message
        self.handler = handler
        #: Sent in every welcome; the coordinator may replace it before clients join.
        self.params = params
        #: Rejected messages/connections counted by reason (see the module docstring).
        self.rejected: collections.Counter[str] = collections.Counter()
        #: Exceptions raised by the handler (logged, not re-raised).
        self.handler_errors: list[BaseException] = []
        self._clients: dict[str, _Client] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._joining: set[str] = set()
        self._spent: set[str] = set()  # every id that ever joined: slots are used once
        self._resumable: set[str] = set()  # ids the server disconnected meaning to see again
        #: Ids that rejoined after a restart or drop, in order (a rejoin is ``on_join`` again).
        self.rejoined: list[str] = []
        self._next_peer = 1
        self._unjoined = 0
        self._joins = 0
        self._runner: web.AppRunner | None = None
        self._closing = False
        #: The open trial of a session (:meth:`begin_trial`); None outside a session.
        self.trial: int | None = None
        #: A session's public state, shown on ``/health`` as ``session`` (None: not shown).
        self.session: dict[str, Any] | None = None
        #: Pool newcomers' waiter ids -> when each last polled (loop time), oldest first.
        self._pool_waiters: collections.OrderedDict[str, float] = collections.OrderedDict()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving (port 0 picks a free port, see :attr:`port`)."""
        if self._runner is not None:
            raise RuntimeError("server already started")
        app = web.Application()
        self._closing = False
        app.router.add_get("/ws", self._serve_ws)
        app.router.add_get("/health", self._health)
        add_web_routes(app)  # the browser peer's pages, /web/ (signaling/web.py)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=2 * unit(),
            # a TCP connection that sends no request in time is closed (idle/half-open)
            keepalive_timeout=self.limits.join_timeout_units * unit(),
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        self.logger.info("signaling server listening on %s", self.url)

    async def close(self, reason: str = "server closing") -> None:
        """Tell every client ``close``, close all connections and stop listening (bounded)."""
        self._closing = True
        if self._runner is None:
            return
        await asyncio.gather(*(self.disconnect(cid, reason) for cid in list(self._clients)))
        for ws in list(self._sockets):
            await self._close_ws(ws, WSCloseCode.GOING_AWAY, reason)
        runner, self._runner = self._runner, None
        async with asyncio.timeout(5 * unit()):
            await runner.cleanup()

    async def restart(self, downtime: float = 0.0) -> list[str]:
        """Go away and come back on the same address: every connection is closed with code
        1012, nothing listens for ``downtime`` seconds, then the server serves again with its
        state (credentials, used slots) kept. Returns the ids that were connected: each may
        rejoin its slot once (clients do so by themselves)."""
        if self._runner is None:
            raise RuntimeError("server not started")
        ids = list(self._clients)
        self._resumable.update(ids)
        await asyncio.gather(*(self.drop(cid, "server restarting") for cid in ids))
        for ws in list(self._sockets):
            await self._close_ws(ws, CLOSE_RESTART, "server restarting")
        runner, self._runner = self._runner, None
        async with asyncio.timeout(5 * unit()):
            await runner.cleanup()
        await asyncio.sleep(downtime)
        await self.start()
        return ids

    async def drop(self, id: str, reason: str = "connection dropped") -> bool:
        """Close ``id``'s connection with code 1012 (no ``close`` message), letting it rejoin
        its slot once; False if not connected. Bounded like :meth:`disconnect`."""
        client = self._clients.get(id)
        if client is None:
            return False
        self._resumable.add(id)
        await self._close_ws(client.ws, CLOSE_RESTART, reason)
        if client.task is not asyncio.current_task():
            async with asyncio.timeout(5 * unit()):
                await client.gone.wait()
        return True

    async def __aenter__(self) -> SignalingServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._runner is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def closing(self) -> bool:
        """True once :meth:`close` began: leaving clients are then the server's doing."""
        return self._closing

    @property
    def url(self) -> str:
        """The websocket URL clients connect to."""
        return f"ws://{self.host}:{self.port}/ws"

    def credential(self, role: str, slot: str) -> str:
        """The join credential of ``role``'s ``slot`` (``"3"``, ``"engine"``, ...).

        Hand it to the one node meant to hold that slot (never on a command line); it joins
        with ``{"type": "join", "token": credential, "role": role, "slot": slot}``.
        """
        if self.trial is None:
            return self.session_credential(role, slot)
        base = self.pool_credential() if role == "newcomer" else self.session_credential(role, slot)
        return trial_credential(base, self.trial, slot)

    def session_credential(self, role: str, slot: str) -> str:
        """``role``'s ``slot`` credential for a whole session (what a token file holds):
        HMAC-SHA256 over ``rlnc-slot|role|slot`` under the server's key; outside a session
        it is :meth:`credential` itself."""
        problem = _slot_problem(role, slot)
        if problem:
            raise ValueError(problem)
        message = f"rlnc-slot|{role}|{slot}".encode()
        return hmac.new(self._slot_key, message, hashlib.sha256).hexdigest()

    def pool_credential(self) -> str:
        """The session credential of the newcomer pool: every newcomer slot's trial
        credential derives from it (HMAC-SHA256 over ``rlnc-pool|newcomer``)."""
        return hmac.new(self._slot_key, b"rlnc-pool|newcomer", hashlib.sha256).hexdigest()

    def pool_waiting(self) -> int:
        """How many newcomers wait in the session's pool: distinct waiters whose proven
        ``/health`` poll came within the last :data:`POOL_FRESH_SECONDS`."""
        since = asyncio.get_running_loop().time() - POOL_FRESH_SECONDS
        return sum(seen >= since for seen in self._pool_waiters.values())

    def begin_trial(self, trial: int) -> None:
        """Open a session's trial ``trial``: credentials become that trial's and every slot
        is free again (used, resumable slots and the join count reset). Disconnect the last
        trial's clients first."""
        if self._clients:
            raise RuntimeError(f"clients still connected: {', '.join(self._clients)}")
        self.trial = trial
        self._spent.clear()
        self._resumable.clear()
        self._next_peer = 1
        self._joins = 0

    @property
    def clients(self) -> dict[str, str]:
        """Joined clients, id -> role, in join order (a copy)."""
        return {cid: c.role for cid, c in self._clients.items()}

    # -- coordinator API -------------------------------------------------------------------

    async def send(self, id: str, msg: dict[str, Any]) -> None:
        """Send one validated message to client ``id``.

        Raises :class:`UnknownClientError` if ``id`` is not connected, ``SchemaError`` for an
        invalid message and ``ConnectionError`` if the connection fails meanwhile.
        """
        client = self._clients.get(id)
        if client is None:
            raise UnknownClientError(f"no client with id {id!r} is connected")
        await self._send_text(client, encode_message(msg, max_bytes=self.max_message))

    async def broadcast(
        self,
        msg: dict[str, Any],
        *,
        roles: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> list[str]:
        """Send ``msg`` to every client (of ``roles`` if given, not in ``exclude``).

        Returns the ids it reached; a failed connection is logged and skipped.
        """
        text = encode_message(msg, max_bytes=self.max_message)
        wanted = None if roles is None else set(roles)
        skip = set(exclude)
        targets = [
            c
            for c in self._clients.values()
            if c.id not in skip and (wanted is None or c.role in wanted)
        ]
        results = await asyncio.gather(
            *(self._send_text(c, text) for c in targets), return_exceptions=True
        )
        reached = []
        for client, result in zip(targets, results, strict=True):
            if isinstance(result, Exception):
                self.logger.warning("broadcast to %s failed: %s", client.id, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                reached.append(client.id)
        return reached

    async def disconnect(self, id: str, reason: str) -> bool:
        """Send ``close {reason}`` to ``id`` and close its connection; False if not connected.

        Waits (bounded) until the client is removed and ``on_leave`` has run, unless called
        from that client's own connection task (e.g. from ``on_message``).
        """
        client = self._clients.get(id)
        if client is None:
            return False
        try:
            await self._send_text(client, encode_message({"type": "close", "reason": reason}))
        except ConnectionError as exc:
            self.logger.info("could not tell %s to close: %s", id, exc)
        await self._close_ws(client.ws, WSCloseCode.OK, reason)
        if client.task is not asyncio.current_task():
            async with asyncio.timeout(5 * unit()):
                await client.gone.wait()
        return True

    # -- internals -------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        """``{"clients": n}`` (and a session's ``session``); with ``Authorization: Bearer <run
        token>`` also ids and roles."""
        body: dict[str, Any] = {"clients": len(self._clients)}
        if self.session is not None:
            body["session"] = self.session
            waiter = request.headers.get(POOL_WAITER_HEADER)
            if waiter is not None:
                body["pool"] = "waiting" if self._note_pool_waiter(waiter) else "refused"
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and secrets.compare_digest(
            given[len("Bearer ") :].encode("utf-8", "replace"), self.token.encode()
        ):
            body.update(ids=list(self._clients), roles=self.clients)
        return web.json_response(body)

    def _note_pool_waiter(self, header: str) -> bool:
        """Count the pool waiter that sent ``header`` (True) if its proof holds."""
        waiter, _, proof = header.partition(":")
        if not 0 < len(waiter) <= MAX_WAITER_ID or not waiter.isascii() or not waiter.isalnum():
            return False
        expected = pool_waiter_proof(self.pool_credential(), waiter)
        if not secrets.compare_digest(proof.encode("utf-8", "replace"), expected.encode()):
            return False
        self._pool_waiters[waiter] = asyncio.get_running_loop().time()
        self._pool_waiters.move_to_end(waiter)
        while len(self._pool_waiters) > MAX_POOL_WAITERS:
            self._pool_waiters.popitem(last=False)
        return True

    async def _send_text(self, client: _Client, text: str) -> None:
        try:
            async with asyncio.timeout(5 * unit()), client.lock:
                await client.ws.send_str(text)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            raise ConnectionError(
                f"cannot send to {client.id}: {exc or type(exc).__name__}"
            ) from exc

    async def _close_ws(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        message = reason.encode()[:_CLOSE_REASON_BYTES].decode("utf-8", "ignore").encode()
        try:
            async with asyncio.timeout(3 * unit()):
                await ws.close(code=code, message=message)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            self.logger.info("closing a websocket failed: %r", exc)

    async def _serve_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            max_msg_size=self.max_message,
            timeout=2 * unit(),
            compress=False,
            heartbeat=self.limits.heartbeat_units * unit(),
        )
        await ws.prepare(request)
        self._sockets.add(ws)
        client: _Client | None = None
        who = f"unjoined client {request.remote or '?'}"
        try:
            if self._unjoined >= self.limits.max_unjoined:
                reason = f"too many connections waiting to join (limit {self.limits.max_unjoined})"
                rejection = _Rejected("too-many-unjoined", reason, close=True, code=CLOSE_TRY_AGAIN)
                await self._reject(ws, who, rejection)
                return ws
            self._unjoined += 1
            try:
                client = await self._admit(ws, who)
            finally:
                self._unjoined -= 1
            if client is not None:
                await self._call("on_join", client.id, client.role)
                await self._serve_client(client)
        finally:
            self._sockets.discard(ws)
            if client is not None:
                del self._clients[client.id]
                self.logger.info("client %s (%s) left", client.id, client.role)
                try:
                    await self._call("on_leave", client.id)
                finally:
                    client.gone.set()
            await self._close_ws(ws, WSCloseCode.GOING_AWAY, "bye")
        return ws

    async def _admit(self, ws: web.WebSocketResponse, who: str) -> _Client | None:
        try:
            async with asyncio.timeout(self.limits.join_timeout_units * unit()):
                raw = await ws.receive()
        except TimeoutError:
            await self._reject(ws, who, _Rejected("join-timeout", "no join in time", close=True))
            return None
        try:
            msg = self._parse(raw, who, ws)
            if msg is None:
                return None
            return await self._join(ws, msg)
        except ConnectionError as exc:
            self.logger.info("%s vanished while joining: %s", who, exc)
            return None
        except _Rejected as rejection:
            rejection.close = True  # nothing but a valid join is tolerated before joining
            await self._reject(ws, who, rejection)
            return None

    async def _join(self, ws: web.WebSocketResponse, msg: dict[str, Any]) -> _Client:
        if msg["type"] != "join":
            raise _Rejected("before-join", f"{msg['type']!r} message before join", close=True)
        if "from" in msg:
            raise _Rejected("spoofed-from", "join must not carry 'from'", close=True)
        role: str = msg["role"]
        slot: str | None = msg.get("slot")
        token = msg["token"].encode()
        if slot is None:
            if not self.admit_run_token:
                raise _Rejected(
                    "bad-token",
                    "this server admits per-slot credentials only: join with 'slot' and "
                    "the credential minted for it",
                    close=True,
                )
            if not secrets.compare_digest(token, self.token.encode()):
                raise _Rejected("bad-token", "wrong join token", close=True)
        else:
            problem = _slot_problem(role, slot)
            if problem:
                raise _Rejected("bad-slot", problem, close=True)
            if not secrets.compare_digest(token, self.credential(role, slot).encode()):
                raise _Rejected(
                    "bad-token", f"wrong credential for {role} slot {slot!r}", close=True
                )
        if self._closing:
            raise _Rejected("server-closing", "server is closing", close=True)
        if self._joins >= self.limits.max_joins:
            raise _Rejected(
                "too-many-joins",
                f"this run admits at most {self.limits.max_joins} joins",
                close=True,
            )
        if role not in NUMBERED_ROLES:
            # (its slot may be rejoined once its holder left: a reconnecting collector)
            if role in self._clients or role in self._joining:
                raise _Rejected("duplicate-role", f"a {role} is already connected", close=True)
            cid = role
        elif slot is not None:
            resuming = slot in self._resumable and slot not in self._clients
            if not resuming and (
                slot in self._clients or slot in self._joining or slot in self._spent
            ):
                raise _Rejected("slot-taken", f"slot {slot!r} is taken or used", close=True)
            cid = slot
        else:
            while (cid := str(self._next_peer)) in self._spent or cid in self._joining:
                self._next_peer += 1
            self._next_peer += 1
        loop = asyncio.get_running_loop()
        limits = self.limits
        members = min(len(self._clients), limits.max_joins)
        client = _Client(
            cid,
            role,
            ws,
            asyncio.current_task(),
            messages=TokenBucket(
                limits.message_rate,
                limits.message_burst + limits.message_burst_per_peer * members,
                clock=loop.time,
            ),
            bytes=TokenBucket(
                limits.byte_rate,
                limits.byte_burst + limits.byte_burst_per_peer * members,
                clock=loop.time,
            ),
        )
        welcome = {"type": "welcome", "id": cid, "params": self.params}
        if cid in self._resumable:
            self._resumable.discard(cid)
            self.rejoined.append(cid)
        self._joining.add(cid)
        self._spent.add(cid)
        self._joins += 1
        try:
            await self._send_text(client, encode_message(welcome, max_bytes=self.max_message))
        finally:
            self._joining.discard(cid)
        for other in self._clients.values():  # one more member each may talk to (a grant
            other.messages.grant(limits.message_burst_per_peer)  # per join: max_joins bounds it)
            other.bytes.grant(limits.byte_burst_per_peer)
        self._clients[cid] = client  # only now can others address it
        self.logger.info("client %s joined as %s", cid, role)
        return client

    async def _serve_client(self, client: _Client) -> None:
        while True:
            raw = await client.ws.receive()
            try:
                self._charge(client, raw)
                msg = self._parse(raw, client.id, client.ws)
                if msg is None:
                    return
                await self._dispatch(client, msg)
            except _Rejected as rejection:
                await self._reject(client.ws, client.id, rejection, client)
                if rejection.close:
                    return

    def _charge(self, client: _Client, raw: Any) -> None:
        """Spend the client's message and byte budgets on one frame (rate limits)."""
        if raw.type is WSMsgType.TEXT:
            size = len(raw.data.encode("utf-8", "surrogatepass"))
        elif raw.type is WSMsgType.BINARY:
            size = len(raw.data)
        else:
            return
        limits = self.limits
        if not client.messages.take(1):
            raise _Rejected(
                "rate-limited",
                f"more than {_number(limits.message_rate)} messages per second "
                f"(burst {limits.message_burst})",
                close=True,
            )
        if not client.bytes.take(size):
            raise _Rejected(
                "rate-limited",
                f"more than {_number(limits.byte_rate)} bytes per second "
                f"(burst {limits.byte_burst})",
                close=True,
            )

    def _parse(self, raw: Any, who: str, ws: web.WebSocketResponse) -> dict[str, Any] | None:
        """Decode one websocket message; None when the connection ended."""
        if raw.type is WSMsgType.TEXT:
            try:
                return decode_message(raw.data, max_bytes=self.max_message)
            except SchemaError as exc:
                raise _Rejected(exc.kind, str(exc), close=False) from None
        if raw.type is WSMsgType.BINARY:
            raise _Rejected("binary", "binary frames are not accepted", close=True)
        error = raw.data if raw.type is WSMsgType.ERROR else ws.exception()
        if isinstance(error, TimeoutError):  # aiohttp's heartbeat got no pong
            kind = "heartbeat-timeout"
        elif raw.type is not WSMsgType.ERROR:
            return None  # an orderly close
        elif isinstance(error, WebSocketError) and error.code == WSCloseCode.MESSAGE_TOO_BIG:
            kind = "oversize"
        else:
            kind = "ws-error"
        self.rejected[kind] += 1
        self.logger.warning("closed connection of %s (%s): %s", who, kind, error)
        return None

    async def _dispatch(self, client: _Client, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if "from" in msg and msg["from"] != client.id:
            raise _Rejected("spoofed-from", f"'from' must be your id {client.id!r}", close=True)
        if kind not in CLIENT_TYPES:
            raise _Rejected("wrong-direction", f"clients may not send {kind!r}", close=False)
        if kind == "join":
            raise _Rejected("rejoin", f"already joined as {client.id!r}", close=False)
        msg["from"] = client.id
        if kind == "signal":
            await self._relay(client, msg)
        elif self.handler is not None:
            await self._call("on_message", client.id, msg)

    async def _relay(self, client: _Client, msg: dict[str, Any]) -> None:
        target_id = msg.get("to")
        if target_id is None:
            raise _Rejected("missing-field", "'signal' message is missing field 'to'", close=False)
        target = self._clients.get(target_id)
        if target is None and target_id in self._spent:  # a race, not a fault: see below
            raise _Rejected("target-left", f"client {target_id!r} has left", close=False)
        if target is None:
            raise _Rejected("unknown-target", f"no client with id {target_id!r}", close=False)
        payload = msg["payload"]
        self._count_offer(client, target, payload)
        relayed = {"type": "signal", "from": client.id, "payload": payload}
        try:
            await self._send_text(target, encode_message(relayed, max_bytes=self.max_message))
        except SchemaError as exc:
            raise _Rejected(exc.kind, str(exc), close=False) from None
        except ConnectionError as exc:
            raise _Rejected("unreachable-target", str(exc), close=False) from None

    def _count_offer(self, client: _Client, target: _Client, payload: dict[str, Any]) -> None:
        """Bound the WebRTC offers ``client`` has pending at (and sent to) ``target``."""
        kind, conn = payload.get("type"), payload.get("conn")
        if kind == "answer" and isinstance(conn, str):
            target.pending.get(client.id, {}).pop(conn, None)
            return
        if kind != "offer":
            return
        limits = self.limits
        now = asyncio.get_running_loop().time()
        pending = client.pending.setdefault(target.id, {})
        for key in [key for key, expiry in pending.items() if expiry <= now]:
            del pending[key]
        if len(pending) >= limits.max_pending_offers:
            raise _Rejected(
                "too-many-offers",
                f"{len(pending)} offers to {target.id!r} are still unanswered "
                f"(limit {limits.max_pending_offers})",
                close=True,
            )
        if client.offers[target.id] >= limits.max_offers_per_target:
            raise _Rejected(
                "too-many-offers",
                f"more than {limits.max_offers_per_target} offers to {target.id!r}",
                close=True,
            )
        client.offers[target.id] += 1
        # An offer without a string conn can never be answered: it waits out its timeout.
        key = conn if isinstance(conn, str) else f"#{client.offers[target.id]}"
        pending[key] = now + limits.offer_timeout_units * unit()

    async def _reject(
        self,
        ws: web.WebSocketResponse,
        who: str,
        rejection: _Rejected,
        client: _Client | None = None,
    ) -> None:
        self.rejected[rejection.kind] += 1
        action = "closing" if rejection.close else "error reply"
        self.logger.log(
            logging.INFO if rejection.kind in RACE_REJECTIONS else logging.WARNING,
            "rejected message from %s (%s, %s): %s",
            who,
            rejection.kind,
            action,
            rejection.reason,
        )
        reason = rejection.reason[:MAX_TEXT] or rejection.kind
        text = encode_message({"type": "error", "reason": reason})
        try:
            if client is not None:
                await self._send_text(client, text)
            else:
                async with asyncio.timeout(5 * unit()):
                    await ws.send_str(text)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            self.logger.info("could not send error to %s: %s", who, exc)
        if rejection.close:
            await self._close_ws(ws, rejection.code, reason)

    async def _call(self, name: str, *args: Any) -> None:
        if self.handler is None:
            return
        try:
            await getattr(self.handler, name)(*args)
        except Exception as exc:
            self.handler_errors.append(exc)
            self.logger.exception("handler %s%r failed", name, args)


def _slot_problem(role: str, slot: str) -> str | None:
    """Why ``slot`` is no slot of ``role`` (None when it is one)."""
    if role not in ROLES:
        return f"unknown role {role!r}"
    if role in UNIQUE_ROLES:
        return None if slot == role else f"the {role}'s slot is {role!r}, not {slot!r}"
    if slot.isascii() and slot.isdecimal() and slot[0] != "0" and len(slot) <= 9:
        return None
    return f"a {role} slot is a decimal id >= 1 without leading zeros, not {slot!r}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
