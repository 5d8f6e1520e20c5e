"""``async_connections``: the current task's async connection per alias."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import ConnectionDoesNotExist, load_backend

from .backends.base import idle
from .backends.base.async_mode import is_async_capable
from .scope import current_scope, existing_scope
from .task_local import install

if TYPE_CHECKING:
    from .backends.base.wrapper import AsyncDatabaseWrapper
    from .new_connection import IndependentConnection

__all__ = ["AsyncConnectionHandler", "async_connections"]


class AsyncConnectionHandler:
    """Hands each asyncio task its own connection per database alias.

    ``async_connections[alias]`` is the current task's connection (created on
    first use); settings come from ``settings.DATABASES`` through Django's own
    ``connections.settings``, so the test runner's database renames apply.
    """

    def __getitem__(self, alias: str) -> AsyncDatabaseWrapper:
        install()
        return current_scope().face(alias)

    def __setitem__(self, alias: str, connection: AsyncDatabaseWrapper) -> None:
        current_scope().faces[alias] = connection

    def __delitem__(self, alias: str) -> None:
        scope = current_scope()
        del scope.faces[alias]
        scope.owned.discard(alias)
        scope.joins.pop(alias, None)

    def __iter__(self) -> Iterator[str]:
        return iter(connections.settings)

    @property
    def settings(self) -> dict[str, dict[str, Any]]:
        """The configured databases (Django's ``connections.settings``)."""
        return connections.settings

    def all(self, initialized_only: bool = False) -> list[AsyncDatabaseWrapper]:
        """The current task's connections: opened ones, or one per async alias."""
        if initialized_only:
            scope = existing_scope()
            return list(scope.faces.values()) if scope is not None else []
        result = []
        for alias in self:
            try:
                result.append(self[alias])
            except ImproperlyConfigured:
                continue
        return result

    def acquire(self, alias: str) -> AsyncDatabaseWrapper:
        """A connection object for a task: a kept one if any, else a new one."""
        settings_dict = connections.settings.get(alias)
        if settings_dict is not None:
            kept = idle.take(alias, settings_dict)
            if kept is not None:
                return kept
        return self.create_connection(alias)

    def create_connection(self, alias: str) -> AsyncDatabaseWrapper:
        """A new, unconnected async connection for ``alias``."""
        try:
            settings_dict = connections.settings[alias]
        except KeyError:
            raise ConnectionDoesNotExist(
                f"The connection '{alias}' doesn't exist."
            ) from None
        engine = settings_dict["ENGINE"]
        wrapper_class = load_backend(engine).DatabaseWrapper
        if not is_async_capable(wrapper_class):
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}]['ENGINE'] is {engine!r}, which has no "
                f"async connections. Use an async ENGINE, e.g. "
                f"'django_async_backend.db.backends.postgresql' or "
                f"'django_async_backend.db.backends.sqlite3'."
            )
        return wrapper_class(settings_dict, alias)._enable_async_mode()

    async def close_all(self) -> None:
        """Close the current task's own connections (pooled ones go back).

        Like Django's ``connections.close_all()``: the connection objects stay
        usable and reconnect on next use. Connections joined from another
        task's transaction are not closed here.
        """
        scope = existing_scope()
        if scope is None:
            return
        for alias in list(scope.owned):
            await scope.faces[alias].close()

    def pool(self, alias: str = DEFAULT_DB_ALIAS) -> Any:
        """The running event loop's ``psycopg_pool.AsyncConnectionPool`` for
        ``alias`` (e.g. for ``get_stats()``), or None before its first use."""
        from .backends.postgresql.pool import existing_pool

        return existing_pool(alias)

    async def close_pools(self, alias: str | None = None) -> None:
        """Close the running event loop's kept connections, then its pools.

        Call it on shutdown (an ASGI lifespan handler), so pooled
        connections are closed cleanly instead of being dropped with the loop.
        Connections kept for the next task (see ``backends/base/idle.py``)
        are released first: they are checked out of their pool, which would
        otherwise close them only when they came back.
        """
        from .backends.postgresql.pool import close_pools

        await idle.drain(alias)
        await close_pools(alias)

    def independent_connection(self, arg: Any = None) -> IndependentConnection:
        """Run a block (or coroutine) on fresh connections (DEP 0009).

        See :func:`django_async_backend.db.new_connection.async_new_connection`.
        """
        from .new_connection import async_new_connection

        return async_new_connection(arg)

    # The upstream project's README spells it with an underscore.
    _independent_connection = independent_connection


async_connections = AsyncConnectionHandler()
