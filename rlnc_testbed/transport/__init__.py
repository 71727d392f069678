"""Transports: in-memory (fast tests, simulation) and WebRTC (aiortc data channels).

``import rlnc_testbed.transport`` stays light: the WebRTC names are imported from
:mod:`rlnc_testbed.transport.webrtc` (which pulls in aiortc) only on first attribute access.
"""

from __future__ import annotations

from typing import Any

from rlnc_testbed.transport.base import (
    Channel,
    ChannelClosed,
    Connector,
    LinkStats,
    TransportError,
)
from rlnc_testbed.transport.memory import MemoryChannel, MemoryConnector, MemoryNetwork, memory_pair
from rlnc_testbed.transport.shaping import Draws, LinkShape, Shaper

__all__ = [
    "Channel",
    "ChannelClosed",
    "Connector",
    "Draws",
    "LinkShape",
    "LinkStats",
    "MemoryChannel",
    "MemoryConnector",
    "MemoryNetwork",
    "Shaper",
    "TransportError",
    "WebRTCChannel",
    "WebRTCConnector",
    "memory_pair",
    "webrtc_connectors",
    "webrtc_pair",
]

_LAZY = {"WebRTCChannel", "WebRTCConnector", "webrtc_connectors", "webrtc_pair"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from rlnc_testbed.transport import webrtc

        return getattr(webrtc, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
