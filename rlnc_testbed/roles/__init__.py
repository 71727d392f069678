"""Roles: asyncio pumps for the engine, storage peers, newcomers and the collector."""

from .collector import Collector
from .engine import Engine
from .node import Node
from .storage import Newcomer, StoragePeer

__all__ = ["ROLE_CLASSES", "Collector", "Engine", "Newcomer", "Node", "StoragePeer"]

#: The node class that plays each signaling role.
ROLE_CLASSES: dict[str, type[Node]] = {
    "engine": Engine,
    "collector": Collector,
    "peer": StoragePeer,
    "newcomer": Newcomer,
}
