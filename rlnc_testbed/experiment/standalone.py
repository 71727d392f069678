"""One role as its own process: join a signaling server over the network, serve until closed.

``rlnc-testbed node --server ws://HOST:PORT/ws --token T --role peer`` runs a storage peer (or
newcomer, collector, engine) that talks to the rest of the system only through signaling and
WebRTC - the same code path as the in-process roles, so peers can live in separate processes
or on other hosts (``--ice-interfaces all`` there).
:class:`~rlnc_testbed.experiment.cluster.Cluster`
uses it for ``processes=True``.
"""

from __future__ import annotations

import logging
from typing import Any

from ..roles import ROLE_CLASSES
from ..roles.node import Node
from ..signaling.client import SignalingClient

__all__ = ["attach_webrtc", "run_node"]


def attach_webrtc(client: SignalingClient, *, interfaces: str = "loopback") -> Any:
    """A :class:`~rlnc_testbed.transport.webrtc.WebRTCConnector` for a joined client, its
    offers and answers relayed through signaling in both directions."""
    from ..transport.webrtc import WebRTCConnector

    connector = WebRTCConnector(client.id, send_signal=client.signal, interfaces=interfaces)
    client.on_signal = connector.handle_signal
    return connector


async def run_node(
    url: str,
    *,
    token: str,
    role: str,
    interfaces: str = "loopback",
    data: bytes | None = None,
    log: logging.Logger | None = None,
) -> Node:
    """Join ``url`` as ``role`` over WebRTC and serve until the server closes the trial (or
    this peer is told to fail); return the finished node (its ``stop_reason`` says why)."""
    if role not in ROLE_CLASSES:
        raise ValueError(f"role must be one of {', '.join(ROLE_CLASSES)}; got {role!r}")
    client = await SignalingClient.connect(url, token=token, role=role)
    connector = attach_webrtc(client, interfaces=interfaces)
    extra: dict[str, Any] = {"data": data} if role == "engine" else {}
    node = ROLE_CLASSES[role](signaling=client, connector=connector, log=log, **extra)
    await node.run()
    return node
