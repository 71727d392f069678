"""Signaling over websockets: the server that admits and relays, and the client that joins.

The only layer besides ``transport`` that touches sockets; the message schema itself lives in
:mod:`rlnc_testbed.protocol.messages` (sans-I/O).
"""

from .client import SignalHandler, SignalingClient, SignalingError
from .server import (
    NUMBERED_ROLES,
    UNIQUE_ROLES,
    ServerHandler,
    ServerLimits,
    SignalingServer,
    UnknownClientError,
)

__all__ = [
    "NUMBERED_ROLES",
    "UNIQUE_ROLES",
    "ServerHandler",
    "ServerLimits",
    "SignalHandler",
    "SignalingClient",
    "SignalingError",
    "SignalingServer",
    "UnknownClientError",
]
