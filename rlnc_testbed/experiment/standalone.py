"""One role as its own process: join a signaling server over the network, serve until closed.

``RLNC_TOKEN=T rlnc-testbed node --server ws://HOST:PORT/ws --role peer [--slot 3]`` runs a
storage peer (or newcomer, collector, engine) that talks to the rest of the system only through
signaling and WebRTC - the same code path as the in-process roles, so peers can live in
separate processes or on other hosts (``--ice-interfaces all`` there). The token (the run
token, or with ``--slot`` that slot's credential) comes from the environment, a 0600 file or
stdin, never the command line.
:class:`~rlnc_testbed.experiment.cluster.Cluster`
uses it for ``processes=True``.

In a serve session (:mod:`rlnc_testbed.experiment.serve`) :func:`serve_trials` stays for every
trial (``node --trials all``): the token is then the slot's session credential, the node learns
the open trial from the server's ``GET /health`` (``session``), joins its slot with that trial's
credential (:func:`~rlnc_testbed.signaling.server.trial_credential`), serves until the trial's
``close`` and does it again, until the session's last trial is over. A pool newcomer
(``node --role newcomer --pool``) joins whichever newcomer slot the session announces, and goes
back to the pool after the trial. Every wait is bounded (:data:`SESSION_WAIT_UNITS` without news).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from ..protocol.messages import MAX_TOKEN
from ..protocol.params import ParameterError
from ..roles import ROLE_CLASSES
from ..roles.node import Node
from ..signaling.client import SignalingClient, SignalingError
from ..signaling.server import POOL_WAITER_HEADER, pool_waiter_proof, trial_credential
from ..timeouts import unit
from ..transport.shaping import Shaper

__all__ = [
    "POLL_SECONDS",
    "SESSION_WAIT_UNITS",
    "TOKEN_ENV",
    "attach_webrtc",
    "node_command",
    "read_token",
    "run_node",
    "serve_trials",
    "spawn_node_process",
]

#: Environment variable ``rlnc-testbed node`` takes its token (or credential) from.
TOKEN_ENV = "RLNC_TOKEN"
#: How often a session's node asks ``/health`` what the session is doing (seconds).
POLL_SECONDS = 0.05
#: A session's node gives up after this many units without news (no new trial, no newcomer
#: slot, no end) from the server.
SESSION_WAIT_UNITS = 600.0


def read_token(
    token_file: str | None,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
) -> str:
    """The node's join token: from ``token_file`` (``"-"``: the first line of ``stdin``), else
    the :data:`TOKEN_ENV` environment variable.

    Raises :class:`~rlnc_testbed.protocol.params.ParameterError` naming the problem when there
    is none, it is empty or too long, or the file is readable or writable by group or others
    (``chmod 600`` it).
    """
    if token_file == "-":
        source, token = "stdin", (stdin or sys.stdin).readline()
    elif token_file is not None:
        path = Path(token_file)
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ParameterError(
                f"token file {token_file} is accessible by group or others (mode "
                f"{stat.S_IMODE(mode):04o}): chmod 600 it"
            )
        source, token = f"token file {token_file}", path.read_text(encoding="utf-8")
    else:
        env = os.environ if environ is None else environ
        if TOKEN_ENV not in env:
            raise ParameterError(
                f"no token: set {TOKEN_ENV}, or give --token-file PATH (mode 0600) or "
                "--token-file - (read from stdin)"
            )
        source, token = f"${TOKEN_ENV}", env[TOKEN_ENV]
    token = token.strip()
    if not token:
        raise ParameterError(f"the token from {source} is empty")
    if len(token) > MAX_TOKEN:
        raise ParameterError(f"the token from {source} is longer than {MAX_TOKEN} characters")
    return token


def attach_webrtc(
    client: SignalingClient,
    *,
    interfaces: str = "loopback",
    shaping: Mapping[str, Shaper] | None = None,
) -> Any:
    """A :class:`~rlnc_testbed.transport.webrtc.WebRTCConnector` for a joined client, its
    offers and answers relayed through signaling in both directions; ``shaping`` maps a
    remote id to the :class:`~rlnc_testbed.transport.shaping.Shaper` of what this node sends
    it (link faults)."""
    from ..transport.webrtc import WebRTCConnector

    connector = WebRTCConnector(
        client.id, send_signal=client.signal, interfaces=interfaces, shaping=shaping
    )
    client.on_signal = connector.handle_signal
    return connector


async def run_node(
    url: str,
    *,
    token: str,
    role: str,
    slot: str | None = None,
    interfaces: str = "loopback",
    data: bytes | None = None,
    log: logging.Logger | None = None,
    joining: asyncio.Semaphore | None = None,
) -> Node:
    """Join ``url`` as ``role`` (in ``slot``, whose credential ``token`` then is) over WebRTC
    and serve until the server closes the trial (or this peer is told to fail); return the
    finished node (its ``stop_reason`` says why). ``joining`` bounds the joins in flight of
    the nodes that share it (a node host's: the server admits few unjoined connections)."""
    if role not in ROLE_CLASSES:
        raise ValueError(f"role must be one of {', '.join(ROLE_CLASSES)}; got {role!r}")
    async with joining or contextlib.nullcontext():
        client = await SignalingClient.connect(url, token=token, role=role, slot=slot)
    connector = attach_webrtc(client, interfaces=interfaces)
    extra: dict[str, Any] = {"data": data} if role == "engine" else {}
    node = ROLE_CLASSES[role](signaling=client, connector=connector, log=log, **extra)
    await node.run()
    return node


def node_command(*words: str) -> list[str]:
    """The command line of a node process this package starts: ``python -m rlnc_testbed
    --log-level warning WORDS...`` (``node ...`` or ``node-host ...``)."""
    return [sys.executable, "-m", "rlnc_testbed", "--log-level", "warning", *words]


async def spawn_node_process(argv: list[str]) -> asyncio.subprocess.Process:
    """Start ``argv`` (:func:`node_command`, maybe wrapped to enter a namespace) with its
    stdin piped - credentials go down it, never on a command line (``/proc/PID/cmdline`` is
    world-readable) nor in the environment (:data:`TOKEN_ENV` is removed) - its stdout
    discarded and its stderr piped, for the caller to forward."""
    env = {name: value for name, value in os.environ.items() if name != TOKEN_ENV}
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


def health_url(url: str) -> str:
    """The ``/health`` address of the signaling server at websocket ``url``."""
    base = url.removesuffix("/ws")
    return ("http" + base[2:] if base.startswith("ws") else base) + "/health"


async def _session_state(
    session: Any, url: str, headers: Mapping[str, str] | None = None
) -> tuple[dict[str, Any] | None, Any]:
    """The server's ``session`` (None: not a session) and its word on a pool waiter's
    ``headers`` (``"waiting"``, ``"refused"``), bounded; ConnectionError when the server
    cannot be reached."""
    import aiohttp

    try:
        async with (
            asyncio.timeout(5 * unit()),
            session.get(url, headers=headers) as response,
        ):
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ConnectionError(f"cannot ask {url}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(body, dict):
        return None, None
    state = body.get("session")
    return (state if isinstance(state, dict) else None), body.get("pool")


async def serve_trials(
    url: str,
    *,
    token: str,
    role: str,
    slot: str | None = None,
    pool: bool = False,
    trials: int | None = None,
    interfaces: str = "loopback",
    data: bytes | None = None,
    log: logging.Logger | None = None,
    on_trial: Callable[[int, int, Node], None] | None = None,
    joining: asyncio.Semaphore | None = None,
) -> list[Node]:
    """Take part in a serve session's trials: ``slot``'s (``token`` its session credential)
    in each trial, at most ``trials`` of them (None: all), or with ``pool`` (a newcomer,
    ``token`` the pool credential) the newcomer slot the session announces, each time one is
    free. Returns the finished nodes, one per trial taken part in, once the session's last
    trial is over (or ``trials`` were served); ``on_trial(trial, trials, node)`` after each.
    ``joining`` bounds the joins in flight of the session nodes sharing it (a node host's).

    Raises :class:`~rlnc_testbed.signaling.client.SignalingError` when the server refuses a
    join (a pool newcomer merely goes back to the pool: another took the slot) or is no
    session, ``ConnectionError`` when it goes away before the session ended, and
    ``TimeoutError`` after :data:`SESSION_WAIT_UNITS` without news.
    """
    import aiohttp

    if pool != (slot is None):
        raise ValueError("give a slot, or pool=True (a newcomer) without one")
    if pool and role != "newcomer":
        raise ValueError(f"only newcomers wait in the pool, not a {role}")
    log = log or logging.getLogger(__name__)
    where = health_url(url)
    nodes: list[Node] = []
    done: set[tuple[int, str]] = set()  # (trial, slot) taken part in or tried
    last_seen: tuple[int, int] | None = None  # (trial, trials) of the last state seen
    waiter = secrets.token_hex(8)  # a pool newcomer is counted as waiting under this id
    headers = {POOL_WAITER_HEADER: f"{waiter}:{pool_waiter_proof(token, waiter)}"} if pool else None
    async with aiohttp.ClientSession() as http:
        while trials is None or len(nodes) < trials:
            loop = asyncio.get_running_loop()
            give_up = loop.time() + SESSION_WAIT_UNITS * unit()
            while True:
                try:
                    state, pool_word = await _session_state(http, where, headers)
                except ConnectionError:
                    if last_seen is not None and last_seen[0] >= last_seen[1] - 1:
                        return nodes  # the last trial had begun: the session is over
                    raise
                if state is None:
                    raise SignalingError(f"{url} runs no serve session (no session on /health)")
                if pool and pool_word == "refused":
                    raise SignalingError(
                        f"the session at {url} refused this pool token: give --token-file "
                        "the newcomer-pool.token that this session's serve printed"
                    )
                trial, total = int(state.get("trial", -1)), int(state.get("trials", 0))
                if (trial, total) != last_seen:
                    give_up = loop.time() + SESSION_WAIT_UNITS * unit()
                    last_seen = (trial, total)
                if state.get("done"):
                    return nodes
                target = state.get("newcomer") if pool else slot
                if isinstance(target, str) and trial >= 0 and (trial, target) not in done:
                    break
                if not pool and any(t >= total - 1 for t, _ in done):
                    return nodes  # our part of the last trial is over
                if loop.time() > give_up:
                    raise TimeoutError(
                        f"no news from the session at {url} within "
                        f"{SESSION_WAIT_UNITS * unit():.0f} s"
                    )
                await asyncio.sleep(POLL_SECONDS)
            done.add((trial, target))
            credential = trial_credential(token, trial, target)
            try:
                node = await run_node(
                    url,
                    token=credential,
                    role=role,
                    slot=target,
                    interfaces=interfaces,
                    data=data,
                    log=log,
                    joining=joining,
                )
            except SignalingError as exc:
                if not pool:
                    raise
                log.info("newcomer slot %s of trial %d went to another: %s", target, trial, exc)
                continue
            log.info("trial %d: %s %s stopped: %s", trial, role, target, node.stop_reason)
            nodes.append(node)
            if on_trial is not None:
                on_trial(trial, total, node)
    return nodes
