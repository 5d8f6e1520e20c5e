"""Shared test helpers.

The ``observer`` looks at the server from outside the system under test: a
plain sync psycopg connection to the maintenance database, used to read
``pg_stat_activity`` (which backends our code left connected, running or in a
transaction).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connections

from django_async_backend.db.backends.sqlite3.creation import DatabaseCreation

pytest_plugins = ["pytester"]


def is_postgresql() -> bool:
    return connections.settings["default"]["ENGINE"].endswith("postgresql")


def is_sqlite_family() -> bool:
    """SQLite or libSQL: one writer per database."""
    return connections.settings["default"]["ENGINE"].endswith(("sqlite3", "libsql"))


def is_libsql() -> bool:
    return connections.settings["default"]["ENGINE"].endswith("libsql")


def is_libsql_replica() -> bool:
    """The libSQL ENGINE's embedded-replica mode (DAB_TEST_LIBSQL_REPLICA)."""
    return is_libsql() and bool(connections.settings["default"].get("SYNC_URL"))


def scratch_database(suffix: str) -> str:
    """A database name for subprocess tests, unique to this checkout's run.

    Derived from the configured database name (``PGDATABASE``), so that
    concurrent runs from other checkouts against the same server don't
    collide.
    """
    base = os.environ.get("PGDATABASE") or "django_async_backend"
    return f"{base}_{suffix}"


requires_postgresql = pytest.mark.requires_postgresql
"""Mark tests of PostgreSQL-specific behaviour (skipped on other ENGINEs)."""

requires_concurrent_writers = pytest.mark.requires_concurrent_writers
"""Mark tests that write on two connections at once (skipped on SQLite).

SQLite has one writer per database: a second write transaction waits for the
first to end, so a test that writes outside a transaction it keeps open
waits for itself until the timeout. See tests/db/backends/sqlite3/.
"""

through_pgbouncer = os.environ.get("DAB_TEST_PGBOUNCER") == "transaction"

requires_direct_connection = pytest.mark.requires_direct_connection
"""Mark tests that need what PgBouncer's transaction mode takes away (named
cursors, the server connection's identity or its pg_stat_activity row):
skipped in scripts/test's PgBouncer stage."""

requires_readers_beside_writer = pytest.mark.requires_readers_beside_writer
"""Mark tests that read on one connection while another has a write
transaction open (skipped on an in-memory SQLite database, which has no WAL:
its readers wait for the writer to commit)."""


requires_temporary_tables = pytest.mark.requires_temporary_tables
"""Mark tests that use ``CREATE TEMPORARY TABLE`` (skipped on a libSQL server,
which refuses temporary tables: no server connection outlives a statement
outside a transaction; tests/db/backends/libsql covers the same behaviour)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_temporary_tables: CREATE TEMPORARY TABLE (not on a libSQL "
        "server, not through PgBouncer)",
    )
    config.addinivalue_line(
        "markers", "requires_postgresql: PostgreSQL-specific behaviour"
    )
    config.addinivalue_line(
        "markers",
        "requires_concurrent_writers: writes on two connections at once "
        "(SQLite allows one writer)",
    )
    config.addinivalue_line(
        "markers",
        "requires_direct_connection: needs a server connection of its own "
        "(not through PgBouncer in transaction mode)",
    )
    config.addinivalue_line(
        "markers",
        "requires_readers_beside_writer: reads beside an open write "
        "transaction (not on in-memory SQLite)",
    )


# Tests of the shared suite whose premise a libSQL server does not have.
LIBSQL_SKIPS = {
    "tests/models/test_queryset.py::test_select_for_update_locks_rows": (
        "sqld resolves a wait for the write lock by rolling the holder back "
        "after ~5 s (lock steal, tests/db/backends/libsql/test_faults.py), so "
        "the contender gets the lock instead of an error"
    ),
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    if is_libsql() and item.nodeid.split("[")[0] in LIBSQL_SKIPS:
        pytest.skip(LIBSQL_SKIPS[item.nodeid.split("[")[0]])
    if item.get_closest_marker("requires_direct_connection") and through_pgbouncer:
        pytest.skip(
            "through PgBouncer in transaction mode: needs a server connection "
            "of its own (named cursors, pg_backend_pid, pg_stat_activity)"
        )
    if item.get_closest_marker("requires_temporary_tables") and is_libsql():
        pytest.skip("a libSQL server refuses temporary tables (sqld's parser)")
    if (
        item.get_closest_marker("requires_temporary_tables")
        and os.environ.get("DAB_TEST_PGBOUNCER") == "transaction"
    ):
        pytest.skip(
            "through PgBouncer in transaction mode a temporary table stays on "
            "whichever server connection created it (README: Behind PgBouncer)"
        )
    if item.get_closest_marker("requires_postgresql") and not is_postgresql():
        pytest.skip("PostgreSQL-specific behaviour (the ENGINE under test is not)")
    if item.get_closest_marker("requires_concurrent_writers") and is_sqlite_family():
        pytest.skip(
            "two write transactions at once: SQLite allows one writer, the "
            "second waits for the first (tests/db/backends/sqlite3 covers it)"
        )
    if item.get_closest_marker("requires_readers_beside_writer") and (
        connections.settings["default"]["ENGINE"].endswith("sqlite3")
        and DatabaseCreation.is_in_memory_db(connections.settings["default"]["NAME"])
    ):
        pytest.skip(
            "reads beside an open write transaction: an in-memory SQLite "
            "database has no WAL, its readers wait for the writer to commit"
        )
    if item.get_closest_marker("requires_readers_beside_writer") and (
        is_libsql_replica()
    ):
        pytest.skip(
            "reads beside an open write transaction: the embedded replica's "
            "connections of a process share one libsql connection per file "
            "(libsql 0.1.8 corrupts a file opened twice), and a transaction "
            "holds it until its end (libsql/replica/driver.py, ReplicaFile)"
        )


def admin_connection(alias: str = "default") -> psycopg.Connection:
    """A plain psycopg connection to the alias's server (maintenance db)."""
    settings = connections.settings[alias]
    params: dict[str, object] = {"dbname": "postgres", "autocommit": True}
    for key, name in (
        ("USER", "user"),
        ("PASSWORD", "password"),
        ("HOST", "host"),
        ("PORT", "port"),
    ):
        if settings[key]:
            params[name] = settings[key]
    return psycopg.connect(**params)


class Observer:
    """Reads the server's view of the test database's connections."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self.conn = admin_connection(alias)

    def database(self, alias: str | None = None) -> str:
        return connections.settings[alias or self.alias]["NAME"]

    def backends(self, alias: str | None = None) -> list[tuple[int, str, str]]:
        """(pid, state, query) of client backends on the alias's database."""
        return self.conn.execute(
            "SELECT pid, coalesce(state, ''), query FROM pg_stat_activity "
            "WHERE datname = %s AND backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()",
            [self.database(alias)],
        ).fetchall()

    def busy(self, alias: str | None = None) -> list[tuple[int, str, str]]:
        """Backends running a query or sitting in a transaction."""
        return [b for b in self.backends(alias) if b[1] not in ("idle", "")]

    async def settle(self, predicate, timeout: float = 10.0) -> bool:
        """Poll until ``predicate(self)`` holds, letting the event loop run
        (connections are released by callbacks after their task ends)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            await asyncio.sleep(0.02)
        return predicate(self)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def observer() -> Iterator[Observer]:
    if not is_postgresql():
        pytest.skip("observes PostgreSQL's pg_stat_activity")
    if through_pgbouncer:
        pytest.skip("observes the server's own connections (PgBouncer's here)")
    obs = Observer()
    try:
        yield obs
    finally:
        obs.close()


@pytest.fixture
def pool_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count checkouts and returns that go through psycopg_pool itself."""
    from psycopg_pool import AsyncConnectionPool

    calls: list[str] = []
    getconn, putconn = AsyncConnectionPool.getconn, AsyncConnectionPool.putconn

    async def counted_getconn(self: Any, timeout: Any = None) -> Any:
        calls.append("getconn")
        return await getconn(self, timeout)

    async def counted_putconn(self: Any, conn: Any) -> None:
        calls.append("putconn")
        await putconn(self, conn)

    monkeypatch.setattr(AsyncConnectionPool, "getconn", counted_getconn)
    monkeypatch.setattr(AsyncConnectionPool, "putconn", counted_putconn)
    return calls
