"""One role as its own process: join a signaling server over the network, serve until closed.

``RLNC_TOKEN=T rlnc-testbed node --server ws://HOST:PORT/ws --role peer [--slot 3]`` runs a
storage peer (or newcomer, collector, engine) that talks to the rest of the system only through
signaling and WebRTC - the same code path as the in-process roles, so peers can live in
separate processes or on other hosts (``--ice-interfaces all`` there). The token (the run
token, or with ``--slot`` that slot's credential) comes from the environment, a 0600 file or
stdin, never the command line.
:class:`~rlnc_testbed.experiment.cluster.Cluster`
uses it for ``processes=True``.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from ..protocol.messages import MAX_TOKEN
from ..protocol.params import ParameterError
from ..roles import ROLE_CLASSES
from ..roles.node import Node
from ..signaling.client import SignalingClient
from ..transport.shaping import Shaper

__all__ = ["TOKEN_ENV", "attach_webrtc", "read_token", "run_node"]

#: Environment variable ``rlnc-testbed node`` takes its token (or credential) from.
TOKEN_ENV = "RLNC_TOKEN"


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
) -> Node:
    """Join ``url`` as ``role`` (in ``slot``, whose credential ``token`` then is) over WebRTC
    and serve until the server closes the trial (or this peer is told to fail); return the
    finished node (its ``stop_reason`` says why)."""
    if role not in ROLE_CLASSES:
        raise ValueError(f"role must be one of {', '.join(ROLE_CLASSES)}; got {role!r}")
    client = await SignalingClient.connect(url, token=token, role=role, slot=slot)
    connector = attach_webrtc(client, interfaces=interfaces)
    extra: dict[str, Any] = {"data": data} if role == "engine" else {}
    node = ROLE_CLASSES[role](signaling=client, connector=connector, log=log, **extra)
    await node.run()
    return node
