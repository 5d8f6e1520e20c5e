"""Async database access: connections per task, cursors, independent blocks."""

from .handler import AsyncConnectionHandler, async_connections
from .new_connection import async_new_connection

__all__ = [
    "AsyncConnectionHandler",
    "async_connections",
    "async_new_connection",
    "close_old_async_connections",
    "independent_connection",
]

independent_connection = async_connections.independent_connection


async def close_old_async_connections(**kwargs: object) -> None:
    """Close the current task's connections (usable as a signal receiver)."""
    await async_connections.close_all()
