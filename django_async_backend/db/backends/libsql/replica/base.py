"""ENGINE ``django_async_backend.db.backends.libsql.replica``: embedded replicas.

``NAME`` is a local file, ``SYNC_URL`` the primary (a sqld or Turso URL);
``AUTH_TOKEN``, ``SYNC_INTERVAL`` and ``ENCRYPTION_KEY`` as in ``django-libsql``
(parsed by ``libsql/settings.py``). The local file is a replica of the
primary kept by the ``libsql`` package (0.1.8): reads run on it, writes are
forwarded to the primary and visible locally at once (read your writes), and
an explicit transaction (every ``atomic()`` block) runs wholly on the primary.

This is the SQLite ENGINE's wrapper (``sqlite3/base.py``), sync and async,
with the connection it opens swapped for a replica (``driver.py``), Django's
operations rewritten as native SQL (``libsql/operations.py``: the primary has
no Python functions), and :meth:`DatabaseWrapper.sync` added (``await
async_connections[alias].sync()`` in async code).

**Primary down.** Reads keep working on the local file. Writes and
``sync()`` raise ``OperationalError``; a connection opened while the primary
is unreachable serves reads only until ``sync()`` reaches it again.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.asyncio import async_unsafe

from ...base.wrapper import AsyncDatabaseWrapper
from ...sqlite3.base import DatabaseWrapper as SQLiteEngineWrapper
from ..base import LibSQLWrapperMixin
from ..operations import DatabaseOperations
from .creation import DatabaseCreation
from .driver import ReplicaConnection, connection_factory

__all__ = ["AsyncReplicaWrapper", "DatabaseWrapper", "ReplicaMethods"]


class AsyncReplicaWrapper(AsyncDatabaseWrapper):
    """The async face of a replica connection: adds :meth:`sync`."""

    async def sync(self) -> None:
        """Bring the local replica up to date with the primary."""
        await self._run(self._sync.sync)

    async def has_replayed(self, position: Any) -> bool:
        """See :meth:`DatabaseWrapper.has_replayed`."""
        return await self._run(self._sync.has_replayed, position)

    def _prepare_for_new_owner(self) -> None:
        super()._prepare_for_new_owner()
        self._sync._mark_replica_stale()


class ReplicaMethods:
    """What a replica connection adds to the SQLite ENGINE's wrapper.

    A class of its own: the async-mode machinery re-binds Django's
    ``@async_unsafe`` methods from the wrapper's bases.
    """

    ensure_connection: Any
    wrap_database_errors: Any
    connection: Any

    @async_unsafe
    def sync(self) -> None:
        """Bring the local replica up to date with the primary now.

        ``OperationalError`` if the primary is unreachable. In async code:
        ``await async_connections[alias].sync()``.
        """
        self.ensure_connection()
        with self.wrap_database_errors:
            self.connection.sync()

    def _mark_replica_stale(self) -> None:
        """The connection serves a new task or request: sync it before its
        next statement (see ``ReplicaConnection.refresh_if_stale``)."""
        replica = self.connection
        while replica is not None and not isinstance(replica, ReplicaConnection):
            replica = getattr(replica, "raw", None)  # async: adapter -> driver
        if replica is not None:
            replica.stale = True

    # -- read-your-writes hooks (django_async_backend.db.routers) -----------------

    def read_your_writes_position(self) -> None:
        """No position: ``libsql`` 0.1.8 exposes no replication index.

        Writes made through this replica are visible on it at once, so its
        own readers never need to wait.
        """
        return None

    @async_unsafe
    def has_replayed(self, position: Any) -> bool:
        """Whether this replica has the writes up to ``position``.

        ``libsql`` 0.1.8 exposes no frame number to compare, so this syncs:
        a sync brings every frame the primary had committed when it started,
        which includes any write that finished before the call. False (read
        from the primary) if the primary cannot be reached.
        """
        from django.db import OperationalError

        try:
            self.sync()
        except OperationalError:
            return False
        return True


class DatabaseWrapper(ReplicaMethods, LibSQLWrapperMixin, SQLiteEngineWrapper):
    """The SQLite ENGINE's wrapper on a ``libsql`` embedded replica."""

    def close_if_unusable_or_obsolete(self) -> None:
        # Django's request boundary: a connection kept for the next request
        # syncs before it serves it.
        super().close_if_unusable_or_obsolete()
        self._mark_replica_stale()

    display_name = "libSQL (embedded replica)"
    ops_class = DatabaseOperations
    creation_class = DatabaseCreation

    def get_connection_params(self) -> dict[str, Any]:
        settings = self.libsql_settings
        if settings.mode != "replica":
            raise ImproperlyConfigured(
                f"DATABASES[{self.alias!r}] uses the libSQL embedded-replica ENGINE "
                f"but has no SYNC_URL: set SYNC_URL to the primary's URL, or use "
                f"ENGINE 'django_async_backend.db.backends.libsql'."
            )
        if self.settings_dict["OPTIONS"].get("factory") is not None:
            raise ImproperlyConfigured(
                f"DATABASES[{self.alias!r}]['OPTIONS']['factory'] is not supported "
                f"by the libSQL embedded replica (its connections are libsql's)."
            )
        params = super().get_connection_params()
        for option in ("auth_token", "namespace", "admin_url"):
            params.pop(option, None)
        params["factory"] = connection_factory(settings)
        return params

    # -- async mode ---------------------------------------------------------------

    def _enable_async_mode(self) -> AsyncDatabaseWrapper:
        face = AsyncReplicaWrapper(self)
        self._async_face = face
        self._setup_async_driver()
        return face
