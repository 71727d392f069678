"""The signaling client: joins the server, sends validated messages, and queues what arrives.

A background reader task decodes incoming messages. ``signal`` messages go straight to the
owner's :attr:`SignalingClient.on_signal` callback when it is set (awaited inline, so signals
stay in order; it must not wait on this client's :meth:`~SignalingClient.recv`); everything else
is queued for :meth:`~SignalingClient.recv` / :meth:`~SignalingClient.expect`.

When the server closes the connection with code 1012 ("service restart": a restart, or a
connection it drops on purpose), a client that joined a slot reconnects by itself with the
same credential, for at most :data:`RECONNECT_UNITS` (backoff from 50 ms); meanwhile
:meth:`~SignalingClient.send` waits for it and :meth:`~SignalingClient.recv` sees nothing
happen. Any other end of the connection (a ``close`` message, a refusal, an abrupt loss, our
own :meth:`~SignalingClient.close`) ends the client as before.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from ..protocol.messages import (
    MAX_MESSAGE_BYTES,
    ROLES,
    SchemaError,
    decode_message,
    encode_message,
)
from ..timeouts import unit

__all__ = ["RECONNECT_UNITS", "SignalHandler", "SignalingClient", "SignalingError"]

#: How long a client keeps trying to rejoin after a 1012 close (timeout units).
RECONNECT_UNITS = 20.0
#: Longest pause between two rejoin attempts (seconds): many tries inside the window.
_MAX_PAUSE = 0.2
#: The websocket close code of a server that will be back (RFC 6455 "service restart").
_RESTART = 1012

#: ``await on_signal(from_id, payload)`` for each relayed ``signal`` message.
SignalHandler = Callable[[str, dict[str, Any]], Awaitable[None]]

_END = object()  # queued by the reader when the connection ends


class SignalingError(RuntimeError):
    """The server refused us, reported an error, or the connection is gone."""


class SignalingClient:
    """A joined signaling connection; create it with :meth:`connect`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        *,
        id: str,
        role: str,
        params: dict[str, Any] | None,
        logger: logging.Logger,
        max_message: int,
        rejoin: tuple[str, str] | None = None,
    ) -> None:
        self.id = id
        self.role = role
        self.params = params
        self.logger = logger
        #: Set by the owner to receive ``signal`` messages instead of queueing them.
        self.on_signal: SignalHandler | None = None
        #: Reason given by the server's ``close`` message, or by the websocket close.
        self.close_reason: str | None = None
        #: Exceptions raised by :attr:`on_signal` (logged, not re-raised).
        self.signal_errors: list[BaseException] = []
        self._session = session
        self._ws = ws
        self._max_message = max_message
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._deferred: collections.deque[dict[str, Any]] = collections.deque()
        self._ended = False
        self._closed = False
        #: (url, join message text) to rejoin with after a 1012 close; None: never rejoin.
        self._rejoin = rejoin
        #: How many times this client rejoined after the server restarted or dropped it.
        self.reconnects = 0
        self._connected = asyncio.Event()
        self._connected.set()
        self._reader = asyncio.create_task(self._read(), name=f"signaling-reader-{id}")

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        token: str,
        role: str,
        slot: str | None = None,
        timeout: float | None = None,
        logger: logging.Logger | None = None,
        max_message: int = MAX_MESSAGE_BYTES,
    ) -> SignalingClient:
        """Connect to ``url``, join as ``role`` and wait (bounded) for the welcome.

        ``token`` is the run token, or with ``slot`` the credential minted for that slot
        (:meth:`~rlnc_testbed.signaling.server.SignalingServer.credential`); the id is then
        the slot.

        Raises :class:`SignalingError` with the server's reason when the join is refused or
        the server is unreachable, and ``TimeoutError`` when no answer comes in time.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        limit = 10 * unit() if timeout is None else timeout
        log = logger or logging.getLogger(__name__)
        join: dict[str, Any] = {"type": "join", "token": token, "role": role}
        if slot is not None:
            join["slot"] = slot
        text = encode_message(join)  # a bad token or slot is a SchemaError, before connecting
        session, ws, msg = await _handshake(url, text, limit, max_message)
        return cls(
            session,
            ws,
            id=msg["id"],
            role=role,
            params=msg["params"],
            logger=log,
            max_message=max_message,
            rejoin=None if slot is None else (url, text),
        )

    async def send(self, msg: Mapping[str, Any]) -> None:
        """Validate ``msg``, stamp ``from`` with our id and send it (bounded)."""
        if not self._connected.is_set() and not self._closed:
            try:  # rejoining after a restart: wait for it (bounded by the reconnect window)
                async with asyncio.timeout(2 * RECONNECT_UNITS * unit()):
                    await self._connected.wait()
            except TimeoutError:
                pass
        if self._closed or self._ws.closed:
            raise SignalingError(f"client {self.id} is closed")
        stamped = dict(msg)
        if stamped.setdefault("from", self.id) != self.id:
            raise ValueError(f"'from' must be our id {self.id!r}, got {stamped['from']!r}")
        text = encode_message(stamped, max_bytes=self._max_message)
        try:
            async with asyncio.timeout(5 * unit()):
                await self._ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            raise SignalingError(f"client {self.id} cannot send: {exc}") from exc

    async def signal(self, to: str, payload: dict[str, Any]) -> None:
        """Send a ``signal`` for the server to relay to ``to``."""
        await self.send({"type": "signal", "to": to, "payload": payload})

    async def recv(self, *, timeout: float | None = None) -> dict[str, Any]:
        """Return the next queued message (default wait: 10 units).

        Raises ``TimeoutError`` if none arrives in time and :class:`SignalingError` once the
        connection has ended and the queue is drained.
        """
        if self._deferred:
            return self._deferred.popleft()
        limit = 10 * unit() if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await self._next()
        except TimeoutError:
            raise TimeoutError(f"client {self.id}: no message within {limit:.1f} s") from None

    async def expect(self, type: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Return the next message of ``type``; others stay queued for later, in order.

        An ``error`` message arriving meanwhile raises :class:`SignalingError` with its reason
        (unless ``type`` is ``"error"``).
        """
        for index, msg in enumerate(self._deferred):
            if msg["type"] == type:
                del self._deferred[index]
                return msg
        limit = 10 * unit() if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                while True:
                    msg = await self._next()
                    if msg["type"] == type:
                        return msg
                    if msg["type"] == "error":
                        raise SignalingError(
                            f"client {self.id}: server error while waiting for {type!r}: "
                            f"{msg['reason']}"
                        )
                    self._deferred.append(msg)
        except TimeoutError:
            raise TimeoutError(f"client {self.id}: no {type!r} within {limit:.1f} s") from None

    @property
    def closed(self) -> bool:
        """True once the connection has ended (by either side)."""
        return self._closed or self._ws.closed

    async def close(self) -> None:
        """Stop the reader, close the websocket and the HTTP session (bounded, idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._reader.cancel()
        try:
            # The reader may be inside an on_signal callback; never wait on it unboundedly.
            await asyncio.wait([self._reader], timeout=2 * unit())
        finally:
            await _close_quietly(self._session, self._ws)

    async def __aenter__(self) -> SignalingClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _next(self) -> dict[str, Any]:
        if self._ended:
            raise SignalingError(f"client {self.id}: connection closed ({self.close_reason})")
        item = await self._queue.get()
        if item is _END:
            self._ended = True
            raise SignalingError(f"client {self.id}: connection closed ({self.close_reason})")
        result: dict[str, Any] = item
        return result

    async def _read(self) -> None:
        try:
            while True:
                raw = await self._ws.receive()
                if raw.type is aiohttp.WSMsgType.TEXT:
                    await self._handle_text(raw.data)
                elif raw.type is aiohttp.WSMsgType.BINARY:
                    self.logger.warning("client %s: ignored a binary frame", self.id)
                else:  # CLOSE, CLOSING, CLOSED or ERROR
                    if self._restarting(raw) and await self._reconnect():
                        continue
                    if self.close_reason is None:
                        self.close_reason = f"websocket {raw.type.name.lower()} {raw.extra or ''}"
                    return
        except Exception:
            self.logger.exception("client %s: reader failed", self.id)
        finally:
            self._connected.set()  # wake waiting senders: they see the end
            self._queue.put_nowait(_END)

    def _restarting(self, raw: aiohttp.WSMessage) -> bool:
        """The server closed with 1012 (it will be back) and we may rejoin our slot."""
        code = raw.data if raw.type is aiohttp.WSMsgType.CLOSE else self._ws.close_code
        return (
            code == _RESTART
            and self._rejoin is not None
            and not self._closed
            and self.close_reason is None
        )

    async def _reconnect(self) -> bool:
        """Rejoin our slot (bounded by :data:`RECONNECT_UNITS`, backoff from 50 ms); True
        once the new connection is welcomed as the same id."""
        assert self._rejoin is not None
        url, text = self._rejoin
        self._connected.clear()
        await _close_quietly(self._session, self._ws)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + RECONNECT_UNITS * unit()
        pause = 0.05
        self.logger.info("client %s: server restarting; rejoining", self.id)
        while (left := give_up - loop.time()) > 0:
            await asyncio.sleep(min(pause, left))
            pause = min(2 * pause, _MAX_PAUSE)
            try:
                session, ws, msg = await _handshake(
                    url, text, max(give_up - loop.time(), 0.05), self._max_message
                )
            except (SignalingError, TimeoutError) as exc:
                self.logger.debug("client %s: rejoin attempt failed: %s", self.id, exc)
                continue
            if msg["id"] != self.id:
                await _close_quietly(session, ws)
                self.close_reason = f"rejoined as {msg['id']!r}, not {self.id!r}"
                return False
            self._session, self._ws = session, ws
            self.reconnects += 1
            self._connected.set()
            self.logger.info("client %s: rejoined", self.id)
            return True
        window = RECONNECT_UNITS * unit()
        self.close_reason = f"server restarted and did not take us back within {window:.1f} s"
        return False

    async def _handle_text(self, text: str) -> None:
        try:
            msg = decode_message(text, max_bytes=self._max_message)
        except SchemaError as exc:
            self.logger.warning(
                "client %s: dropped a bad message from the server: %s", self.id, exc
            )
            return
        if msg["type"] == "signal" and self.on_signal is not None and "from" in msg:
            try:
                await self.on_signal(msg["from"], msg["payload"])
            except Exception as exc:
                self.signal_errors.append(exc)
                self.logger.exception("client %s: on_signal failed", self.id)
            return
        if msg["type"] == "close":
            self.close_reason = msg["reason"]
        self._queue.put_nowait(msg)


async def _handshake(
    url: str, text: str, limit: float, max_message: int
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """Connect, send the join ``text`` and return the session, socket and welcome (bounded);
    the errors of :meth:`SignalingClient.connect`."""
    session = aiohttp.ClientSession()
    try:
        async with asyncio.timeout(limit):
            ws = await session.ws_connect(
                url,
                max_msg_size=max_message,
                timeout=aiohttp.ClientWSTimeout(ws_close=2 * unit()),
                autoping=True,
            )
            await ws.send_str(text)
            raw = await ws.receive()
    except TimeoutError:
        await _close_quietly(session)
        raise TimeoutError(f"no welcome from {url} within {limit:.1f} s") from None
    except aiohttp.ClientError as exc:
        await _close_quietly(session)
        raise SignalingError(f"cannot connect to {url}: {exc}") from exc
    except BaseException:
        await _close_quietly(session)
        raise
    try:
        msg = _welcome_or_raise(raw, max_message)
    except BaseException:
        await _close_quietly(session, ws)
        raise
    return session, ws, msg


def _welcome_or_raise(raw: aiohttp.WSMessage, max_message: int) -> dict[str, Any]:
    if raw.type is not aiohttp.WSMsgType.TEXT:
        raise SignalingError(f"join refused: connection ended ({raw.type.name}, {raw.extra})")
    try:
        msg = decode_message(raw.data, max_bytes=max_message)
    except SchemaError as exc:
        raise SignalingError(f"bad answer to join: {exc}") from None
    if msg["type"] == "error":
        raise SignalingError(f"join refused: {msg['reason']}")
    if msg["type"] != "welcome":
        raise SignalingError(f"expected 'welcome' after join, got {msg['type']!r}")
    return msg


async def _close_quietly(
    session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse | None = None
) -> None:
    try:
        async with asyncio.timeout(3 * unit()):
            if ws is not None:
                await ws.close()
    except (TimeoutError, ConnectionError, aiohttp.ClientError):
        pass
    finally:
        async with asyncio.timeout(3 * unit()):
            await session.close()
