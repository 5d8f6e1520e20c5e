"""ENGINE ``django_async_backend.db.backends.sqlite3``.

In sync code this is Django's SQLite backend. In async mode (see
``base/async_mode.py``) each connection is a ``sqlite3`` connection on a
thread of its own (``worker.py``), reached through a sync adapter
(``driver.py``), so queries never block the event loop.

Three defaults differ from Django's, in both modes, because a database is
shared by every connection of the process and async code has many of them:

``OPTIONS["journal_mode"]`` (default ``"WAL"``)
    Files are switched to write-ahead logging, where readers run beside the
    one writer instead of being locked out while it commits. ``None`` leaves
    the database's mode alone; any SQLite journal mode is accepted.
``OPTIONS["transaction_mode"]`` (default ``"IMMEDIATE"``)
    A transaction takes the write lock when it begins, so two transactions
    never both read and then both try to write, which SQLite can only resolve
    by failing one with "database is locked". ``None`` restores Django's
    deferred ``BEGIN``.
``NAME = ":memory:"``
    One in-memory database per alias for the whole process, shared by all its
    connections (``memory.py``), instead of one per connection.

Inside the process, async writers queue for a per-database lock on the event
loop (``locking.py``); SQLite's busy ``timeout`` (``OPTIONS["timeout"]``,
5 s by default) bounds that wait and still covers other processes.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper

from ..base.async_mode import AsyncModeMixin, unguarded
from ..base.wrapper import AsyncDatabaseWrapper
from .creation import DatabaseCreation
from .driver import AsyncConnection, opener
from .memory import anchor, is_shared_memory, shared_memory_name

__all__ = ["AsyncDatabaseWrapper", "DatabaseWrapper"]

JOURNAL_MODES = frozenset({"DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF"})
DEFAULT_JOURNAL_MODE = "WAL"
DEFAULT_TRANSACTION_MODE = "IMMEDIATE"


class DatabaseWrapper(AsyncModeMixin, SQLiteWrapper):
    """Django's SQLite wrapper, able to serve async connections."""

    creation_class = DatabaseCreation

    def _setup_async_driver(self) -> None:
        # Nothing to swap: Django opens connections with the sqlite3 module's
        # connect(), whose ``factory`` get_new_connection() below provides.
        pass

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        options = self.settings_dict["OPTIONS"]
        journal_mode = params.pop("journal_mode", DEFAULT_JOURNAL_MODE)
        if journal_mode is not None and (
            not isinstance(journal_mode, str)
            or journal_mode.upper() not in JOURNAL_MODES
        ):
            modes = ", ".join(repr(mode) for mode in sorted(JOURNAL_MODES))
            raise ImproperlyConfigured(
                f"DATABASES[{self.alias!r}]['OPTIONS']['journal_mode'] is "
                f"{journal_mode!r}. Use one of {modes}, or None to leave the "
                f"database's journal mode as it is."
            )
        database = params["database"]
        if database == ":memory:":
            database = params["database"] = shared_memory_name(self.alias)
        if is_shared_memory(database):
            if self._async_face is None:
                anchor(database)  # async connections anchor on their thread
        elif journal_mode is not None and not self._is_memory_or_read_only(database):
            # Before the user's init_command, which may still override it.
            self.init_commands.insert(0, f"PRAGMA journal_mode = {journal_mode}")
        if "transaction_mode" not in options:
            self.transaction_mode = DEFAULT_TRANSACTION_MODE
        return params

    @staticmethod
    def _is_memory_or_read_only(database: Any) -> bool:
        if not isinstance(database, str):
            return False  # a pathlib.Path
        return "mode=memory" in database or "mode=ro" in database

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if self._async_face is None:
            return super().get_new_connection(conn_params)
        # Django's own get_new_connection() (SQL functions, PRAGMAs, init
        # commands) runs unchanged on the async connection this factory opens.
        params = {**conn_params, "factory": opener(conn_params.get("factory"))}
        return unguarded(super().get_new_connection)(params)

    def close(self) -> None:
        if self._async_face is None:
            return super().close()
        # Django keeps connections to in-memory databases open, or their data
        # would be lost. Here the data outlives them (memory.anchor), and a
        # connection per task must not outlive its task.
        unguarded(super(SQLiteWrapper, self).close)()

    # -- async-mode hooks ------------------------------------------------------

    def _driver_state(self) -> str:
        raw: AsyncConnection = self.connection.raw
        if raw.closed:
            return "broken"
        if raw.busy:
            return "active"
        if raw.in_transaction:
            return "transaction"
        return "idle"

    def _kept_connection_ok(self) -> bool:
        # A kept connection (CONN_MAX_AGE) is good while its thread is; Django's
        # health check (CONN_HEALTH_CHECKS) runs a query before first use.
        return not self.connection.raw.closed

    async def _release_driver_connection(self, adapter: Any) -> None:
        raw: AsyncConnection = adapter.raw
        with contextlib.suppress(Exception):  # a broken connection is gone anyway
            await raw.close()
