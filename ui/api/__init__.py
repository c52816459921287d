"""The HTTP API under /api/v1: thin adapters over chat.engine.Engine."""
