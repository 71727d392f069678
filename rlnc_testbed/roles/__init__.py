"""Roles: asyncio pumps for the engine, storage peers, newcomers and the collector."""
