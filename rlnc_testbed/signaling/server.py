"""The signaling server: admits clients over websockets, relays WebRTC signals, hands the rest
of the messages to a coordinator (the :class:`ServerHandler`) and lets it talk back.

What happens to a bad message (each is logged as a warning naming the client and reason, and
counted in :attr:`SignalingServer.rejected` under the reason in brackets):

- error reply, connection kept (the client is known and the message is merely wrong): not
  JSON [not-json], not an object [not-object], unknown type [unknown-type], missing field
  [missing-field], unknown field [unknown-field], wrong field type/value [bad-field], a type
  only the server sends [wrong-direction], a second join [rejoin], a signal without ``to``
  [missing-field] or to an unknown id [unknown-target].
- error reply, then close (code 1008): anything before a valid join (the schema reasons
  above, or [before-join] for a valid non-join message), a wrong or missing token
  [bad-token], a second engine or collector [duplicate-role], a spoofed ``from``
  [spoofed-from], a binary frame [binary], joining a closing server [server-closing], no join
  within 10 units [join-timeout].
- close without reply: a frame over ``max_message`` bytes [oversize]; aiohttp closes the
  connection with code 1009 before the message is read.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from ..protocol.messages import (
    CLIENT_TYPES,
    COLLECTOR_ID,
    ENGINE_ID,
    MAX_MESSAGE_BYTES,
    ROLES,
    SchemaError,
    decode_message,
    encode_message,
)
from ..timeouts import unit

__all__ = [
    "NUMBERED_ROLES",
    "UNIQUE_ROLES",
    "ServerHandler",
    "SignalingServer",
    "UnknownClientError",
]

#: Roles whose id is the role name itself; only one client may hold each.
UNIQUE_ROLES = (ENGINE_ID, COLLECTOR_ID)
#: Roles that get the next decimal id in join order ("1", "2", ...).
NUMBERED_ROLES = tuple(role for role in ROLES if role not in UNIQUE_ROLES)

_CLOSE_REASON_BYTES = 120  # a websocket close reason must fit in 123 bytes


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
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    gone: asyncio.Event = field(default_factory=asyncio.Event)


class _Rejected(Exception):
    def __init__(self, kind: str, reason: str, *, close: bool) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.close = kind, reason, close


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
    ) -> None:
        if not isinstance(max_message, int) or max_message < 1024:
            raise ValueError(f"max_message must be an integer >= 1024, got {max_message!r}")
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("token must be a non-empty string or None")
        self.host, self._port = host, port
        self.token: str = token or secrets.token_urlsafe(16)
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
        self._next_peer = 1
        self._runner: web.AppRunner | None = None
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving (port 0 picks a free port, see :attr:`port`)."""
        if self._runner is not None:
            raise RuntimeError("server already started")
        app = web.Application()
        app.router.add_get("/ws", self._serve_ws)
        app.router.add_get("/health", self._health)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=2 * unit()
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
    def url(self) -> str:
        """The websocket URL clients connect to."""
        return f"ws://{self.host}:{self.port}/ws"

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
        return web.json_response(
            {"clients": len(self._clients), "ids": list(self._clients), "roles": self.clients}
        )

    async def _send_text(self, client: _Client, text: str) -> None:
        try:
            async with asyncio.timeout(5 * unit()), client.lock:
                await client.ws.send_str(text)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            raise ConnectionError(
                f"cannot send to {client.id}: {exc or type(exc).__name__}"
            ) from exc

    async def _close_ws(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        message = reason.encode()[:_CLOSE_REASON_BYTES]
        try:
            async with asyncio.timeout(3 * unit()):
                await ws.close(code=code, message=message)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            self.logger.info("closing a websocket failed: %r", exc)

    async def _serve_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            max_msg_size=self.max_message, timeout=2 * unit(), compress=False
        )
        await ws.prepare(request)
        self._sockets.add(ws)
        client: _Client | None = None
        try:
            client = await self._admit(ws, request.remote or "?")
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

    async def _admit(self, ws: web.WebSocketResponse, remote: str) -> _Client | None:
        who = f"unjoined client {remote}"
        try:
            async with asyncio.timeout(10 * unit()):
                raw = await ws.receive()
        except TimeoutError:
            await self._reject(ws, who, _Rejected("join-timeout", "no join in time", close=True))
            return None
        try:
            msg = self._parse(raw, who)
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
        if not secrets.compare_digest(msg["token"].encode(), self.token.encode()):
            raise _Rejected("bad-token", "wrong join token", close=True)
        if self._closing:
            raise _Rejected("server-closing", "server is closing", close=True)
        role: str = msg["role"]
        if role in NUMBERED_ROLES:
            cid = str(self._next_peer)
            self._next_peer += 1
        elif role in self._clients or role in self._joining:
            raise _Rejected("duplicate-role", f"a {role} is already connected", close=True)
        else:
            cid = role
        client = _Client(cid, role, ws, asyncio.current_task())
        welcome = {"type": "welcome", "id": cid, "params": self.params}
        self._joining.add(cid)
        try:
            await self._send_text(client, encode_message(welcome, max_bytes=self.max_message))
        finally:
            self._joining.discard(cid)
        self._clients[cid] = client  # only now can others address it
        self.logger.info("client %s joined as %s", cid, role)
        return client

    async def _serve_client(self, client: _Client) -> None:
        while True:
            raw = await client.ws.receive()
            try:
                msg = self._parse(raw, client.id)
                if msg is None:
                    return
                await self._dispatch(client, msg)
            except _Rejected as rejection:
                await self._reject(client.ws, client.id, rejection, client)
                if rejection.close:
                    return

    def _parse(self, raw: Any, who: str) -> dict[str, Any] | None:
        """Decode one websocket message; None when the connection ended."""
        if raw.type is WSMsgType.TEXT:
            try:
                return decode_message(raw.data, max_bytes=self.max_message)
            except SchemaError as exc:
                raise _Rejected(exc.kind, str(exc), close=False) from None
        if raw.type is WSMsgType.BINARY:
            raise _Rejected("binary", "binary frames are not accepted", close=True)
        if raw.type is WSMsgType.ERROR:
            too_big = isinstance(raw.data, WebSocketError) and (
                raw.data.code == WSCloseCode.MESSAGE_TOO_BIG
            )
            kind = "oversize" if too_big else "ws-error"
            self.rejected[kind] += 1
            self.logger.warning("closed connection of %s (%s): %s", who, kind, raw.data)
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
        if target is None:
            raise _Rejected("unknown-target", f"no client with id {target_id!r}", close=False)
        relayed = {"type": "signal", "from": client.id, "payload": msg["payload"]}
        try:
            await self._send_text(target, encode_message(relayed, max_bytes=self.max_message))
        except ConnectionError as exc:
            raise _Rejected("unreachable-target", str(exc), close=False) from None

    async def _reject(
        self,
        ws: web.WebSocketResponse,
        who: str,
        rejection: _Rejected,
        client: _Client | None = None,
    ) -> None:
        self.rejected[rejection.kind] += 1
        action = "closing" if rejection.close else "error reply"
        self.logger.warning(
            "rejected message from %s (%s, %s): %s", who, rejection.kind, action, rejection.reason
        )
        text = encode_message({"type": "error", "reason": rejection.reason})
        try:
            if client is not None:
                await self._send_text(client, text)
            else:
                async with asyncio.timeout(5 * unit()):
                    await ws.send_str(text)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            self.logger.info("could not send error to %s: %s", who, exc)
        if rejection.close:
            await self._close_ws(ws, WSCloseCode.POLICY_VIOLATION, rejection.reason)

    async def _call(self, name: str, *args: Any) -> None:
        if self.handler is None:
            return
        try:
            await getattr(self.handler, name)(*args)
        except Exception as exc:
            self.handler_errors.append(exc)
            self.logger.exception("handler %s%r failed", name, args)
