"""ENGINE ``django_async_backend.db.backends.postgresql``.

In sync code this is Django's PostgreSQL backend, unchanged: the class below
only adds behaviour for instances in async mode (see ``base/async_mode.py``),
where the connection is psycopg's ``AsyncConnection`` (optionally from a
per-event-loop ``AsyncConnectionPool``) seen through a sync adapter.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLWrapper
from psycopg.pq import TransactionStatus

from ...bridge import await_only
from ..base.async_mode import AsyncModeMixin, unguarded
from ..base.wrapper import AsyncDatabaseWrapper
from . import prepared_statements
from .creation import DatabaseCreation
from .driver import AsyncDriver, AwaitingPool, server_closed
from .operations import DatabaseOperations
from .pool import close_pools, pool_for

__all__ = ["AsyncDatabaseWrapper", "DatabaseWrapper"]


class DatabaseWrapper(AsyncModeMixin, PostgreSQLWrapper):
    """Django's PostgreSQL wrapper, able to serve async connections."""

    creation_class = DatabaseCreation
    ops_class = DatabaseOperations

    # Set by prepared querysets (models/prepared.py) around their execution:
    # the cursor opened meanwhile runs server-side prepared statements.
    prepare_statements = False

    def prepared_statements_enabled(self) -> bool:
        """Whether prepared querysets use server-side prepared statements
        (``OPTIONS["prepared_statements"]``, see prepared_statements.py)."""
        return prepared_statements.enabled(self.settings_dict)

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        params.pop(prepared_statements.OPTION, None)  # ours, not psycopg's
        return params

    def _setup_async_driver(self) -> None:
        # Django calls self.Database.connect(); errors are looked up on it.
        self.Database = AsyncDriver(self)

    @property
    def pool(self) -> Any:
        if self._async_face is None:
            return super().pool
        connection = self.connection
        if connection is not None:
            # The pool this connection came from (None if not pooled).
            return connection.pool
        return pool_for(self)

    def close_if_health_check_failed(self) -> None:
        if self._async_face is None:
            return super().close_if_health_check_failed()
        # Django skips health checks for pooled connections because its pool
        # checks them at checkout; a connection kept for the next task (see
        # idle.py) skipped the pool, so check it as Django checks a reused
        # persistent connection.
        return BaseDatabaseWrapper.close_if_health_check_failed(self)

    def close_pool(self) -> None:
        if self._async_face is None:
            return super().close_pool()
        await_only(close_pools(self.alias))

    def create_cursor(self, name: str | None = None) -> Any:
        if self.prepare_statements and not name:
            return self._create_preparing_cursor()
        if self._async_face is None:
            return super().create_cursor(name)
        if name:
            # Let Django build the cursor (and apply its time zone handling)
            # while the adapter makes it the async named cursor it must be.
            self.connection.name_next_cursor(name)
            name = None
        return unguarded(super().create_cursor)(name)

    def _create_preparing_cursor(self) -> Any:
        # Django's create_cursor() takes the connection's cursor_factory (and
        # applies its time zone handling); give it the preparing class.
        adapter = self.connection
        raw = adapter if self._async_face is None else adapter.raw
        saved = raw.cursor_factory
        raw.cursor_factory = prepared_statements.preparing_cursor_class(raw)
        try:
            if self._async_face is None:
                return super().create_cursor(None)
            return unguarded(super().create_cursor)(None)
        finally:
            raw.cursor_factory = saved

    # -- read replicas (db/routers.py, "position" read-your-writes) ----------

    def read_your_writes_position(self) -> str:
        """The primary's WAL position now, at or after every committed write."""
        with self.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            return str(cursor.fetchone()[0])

    def has_replayed(self, position: str) -> bool:
        """Whether this replica has replayed the WAL up to ``position``
        (False on a server that is not a replica)."""
        with self.cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position])
            return bool(cursor.fetchone()[0])

    # -- async-mode hooks ------------------------------------------------------

    def _driver_state(self) -> str:
        raw = self.connection.raw
        if raw.closed or raw.broken:
            return "broken"
        status = raw.pgconn.transaction_status
        if status == TransactionStatus.IDLE:
            return "idle"
        if status == TransactionStatus.ACTIVE:
            return "active"
        if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            return "transaction"
        return "broken"

    def _others_wait_for_connection(self) -> bool:
        adapter = self.connection
        pool = adapter.pool if adapter is not None else None
        return pool is not None and pool.has_waiters()

    def _kept_connection_ok(self) -> bool:
        raw = self.connection.raw
        if server_closed(raw):
            return False
        pool = self.connection.pool
        if pool is None:
            return True  # a persistent connection; close_at is checked by idle
        expire_at = getattr(raw, "_expire_at", None)  # psycopg_pool's max_lifetime
        if expire_at is not None and expire_at <= time.monotonic():
            return False
        # Still the pool these settings give (tests swap settings).
        return pool is pool_for(self)

    async def _tidy_for_reuse(self) -> bool:
        adapter = self.connection
        try:
            while adapter.pending_closes:
                cursor = adapter.pending_closes.pop()
                if not cursor.closed:
                    await cursor.close()
        except Exception:
            return False
        return self._driver_state() == "idle"

    async def _release_driver_connection(self, adapter: Any) -> None:
        raw = adapter.raw
        for cursor in adapter.pending_closes:
            try:
                await cursor.close()
            except Exception:
                pass
        adapter.pending_closes.clear()
        pool: AwaitingPool | None = adapter.pool
        if pool is not None:
            # A queued task takes it at once (no task, nothing to await);
            # else back to the pool, shielded so a cancellation can't lose it.
            if not pool.hand_over(raw):
                await asyncio.shield(pool.give_back(raw))
            return
        if not raw.closed and raw.pgconn.transaction_status == TransactionStatus.ACTIVE:
            try:
                await raw.cancel_safe(timeout=5.0)
            except Exception:
                pass
        await raw.close()
