"""Transports: in-memory (fast tests, simulation) and WebRTC (aiortc data channels)."""
