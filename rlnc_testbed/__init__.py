"""rlnc-testbed: a testbed for network-coded distributed storage on WebRTC peers.

Importing the package is cheap: it pulls in neither aiortc, aiohttp nor galois. The layers
live in subpackages (``coding``, ``wire``, ``protocol``, ``transport``, ``signaling``,
``roles``) and are imported on demand.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
