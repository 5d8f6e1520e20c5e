"""ENGINE ``django_async_backend.db.backends.libsql.remote`` (remote mode).

Built on the framework as the SQLite ENGINE is: this wrapper *is* the SQLite
ENGINE's (``sqlite3/base.py``: ``AsyncModeMixin`` over Django's SQLite
wrapper, its async-mode hooks unchanged), with the connection swapped. In
sync code ``connection`` is a :class:`~.dbapi.Connection` over the sync
Hrana client; in async mode the same class over the async client, reached
through ``await_only`` in the bridge. Django's SQL, schema editor,
introspection and transaction code run unchanged on either.

What differs from a local file, and is overridden here:

* ``get_connection_params``: the settings (``settings.py``), not
  ``sqlite3.connect`` arguments;
* ``get_new_connection``: no Python SQL functions (the server has none:
  ``operations.py`` writes Django's as SQL) and no ``PRAGMA
  legacy_alter_table`` (sqld refuses it); ``foreign_keys`` is on by default
  on sqld.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ...sqlite3.base import DatabaseWrapper as SQLiteEngineWrapper
from ..base import LibSQLWrapperMixin
from ..creation import DatabaseCreation
from ..features import DatabaseFeatures
from ..operations import DatabaseOperations
from .client import AsyncClient, Client
from .dbapi import Connection

__all__ = ["DatabaseWrapper"]


class DatabaseWrapper(LibSQLWrapperMixin, SQLiteEngineWrapper):
    """The SQLite ENGINE's wrapper on a remote libSQL server."""

    creation_class = DatabaseCreation
    features_class = DatabaseFeatures
    ops_class = DatabaseOperations

    def get_connection_params(self) -> dict[str, Any]:
        settings = self.libsql_settings
        if settings.mode != "remote":
            raise ImproperlyConfigured(
                f"DATABASES[{self.alias!r}]['NAME'] must be a libSQL server URL for "
                f"the ENGINE 'django_async_backend.db.backends.libsql.remote'. Use "
                f"'django_async_backend.db.backends.libsql' for local files and "
                f"embedded replicas."
            )
        self.transaction_mode = settings.transaction_mode
        self.init_commands = []
        return {"settings": settings}

    def get_new_connection(self, conn_params: dict[str, Any]) -> Connection:
        settings = conn_params["settings"]
        client = AsyncClient(settings) if self._async_face is not None else Client(settings)
        return Connection(client, settings.transaction_mode)

    def is_in_memory_db(self) -> bool:
        return False
