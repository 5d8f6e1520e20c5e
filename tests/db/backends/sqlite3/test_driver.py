"""The SQLite driver: a thread per connection, the event loop left free.

Standalone connections on files of the test's own (see helpers.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest
from django.db import IntegrityError, OperationalError, ProgrammingError

from django_async_backend.db import async_connections
from django_async_backend.db.backends.base import idle
from django_async_backend.db.backends.sqlite3.driver import (
    ROWS_PER_TRIP,
    AsyncConnection,
    AwaitingConnection,
)
from django_async_backend.db.transaction import (
    async_atomic,
    async_mark_for_rollback_on_error,
)

from .helpers import (
    eventually,
    open_files,
    query,
    registered,
    standalone,
    worker_threads,
)

# A query only an interrupt ends; ``started()`` (registered by each test)
# says it is running.
ENDLESS = (
    "WITH RECURSIVE c(x) AS (SELECT started() UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c"
)


def test_each_connection_has_its_own_thread_which_ends_with_it(tmp_path):
    async def main():
        before = set(worker_threads())
        async with (
            standalone(tmp_path / "db.sqlite3") as a,
            standalone(tmp_path / "db.sqlite3") as b,
        ):
            await query(a, "SELECT 1")
            await query(b, "SELECT 1")
            assert isinstance(a.sync_wrapper.connection, AwaitingConnection)
            raw_a, raw_b = a.connection, b.connection
            assert isinstance(raw_a, AsyncConnection)
            assert raw_a.worker.thread is not raw_b.worker.thread
            assert raw_a.worker.thread.ident != threading.get_ident()
            assert len(set(worker_threads()) - before) == 2
        assert raw_a.closed and raw_b.closed
        assert await eventually(lambda: set(worker_threads()) <= before)

    asyncio.run(main())


def test_the_event_loop_runs_while_a_query_runs(tmp_path):
    """A query that can only finish once the loop has run: deterministic."""

    async def main():
        loop = asyncio.get_running_loop()
        started = asyncio.Event()
        release = threading.Event()

        def wait_for_loop() -> int:
            # Runs on the connection's thread, inside the query.
            loop.call_soon_threadsafe(started.set)
            return 1 if release.wait(10) else 0

        async with (
            standalone(tmp_path / "db.sqlite3") as blocked,
            standalone(tmp_path / "db.sqlite3") as other,
        ):
            await blocked.ensure_connection()
            blocked.sync_wrapper.connection.create_function(
                "wait_for_loop", 0, wait_for_loop
            )
            running = asyncio.create_task(query(blocked, "SELECT wait_for_loop()"))
            # The loop runs although the query has not ended.
            await asyncio.wait_for(started.wait(), 10)
            assert not running.done()
            # Another connection's queries run meanwhile, too.
            assert await query(other, "SELECT 40 + 2") == [(42,)]
            release.set()
            assert await running == [(1,)]

    asyncio.run(main())


def test_rows_are_fetched_in_trips_across_the_prefetch_boundary(tmp_path):
    total = ROWS_PER_TRIP * 2 + 500

    async def main():
        async with standalone(tmp_path / "db.sqlite3") as conn, conn.cursor() as cursor:
            await cursor.execute("CREATE TABLE t (v integer)")
            await cursor.executemany(
                "INSERT INTO t VALUES (%s)", [(i,) for i in range(1, total + 1)]
            )
            assert cursor.rowcount == total
            await cursor.execute("SELECT v, v * 2 AS twice FROM t ORDER BY v")
            assert [c[0] for c in cursor.description] == ["v", "twice"]
            assert await cursor.fetchone() == (1, 2)
            assert await cursor.fetchmany(3) == [(2, 4), (3, 6), (4, 8)]
            chunk = await cursor.fetchmany(ROWS_PER_TRIP)
            assert [r[0] for r in chunk] == list(range(5, ROWS_PER_TRIP + 5))
            rest = [row async for row in cursor]
            assert [r[0] for r in rest] == list(range(ROWS_PER_TRIP + 5, total + 1))
            assert await cursor.fetchone() is None
            await cursor.execute("SELECT v FROM t ORDER BY v")
            assert len(await cursor.fetchall()) == total
            assert await cursor.fetchall() == []

    asyncio.run(main())


def test_write_statements_report_rowcount_and_lastrowid(tmp_path):
    async def main():
        async with standalone(tmp_path / "db.sqlite3") as conn, conn.cursor() as cursor:
            await cursor.execute(
                "CREATE TABLE t (id integer PRIMARY KEY, v integer UNIQUE)"
            )
            await cursor.execute("INSERT INTO t (v) VALUES (%s)", [10])
            assert cursor.lastrowid == 1
            await cursor.execute("INSERT INTO t (v) VALUES (%s) RETURNING id", [20])
            assert await cursor.fetchall() == [(2,)]
            await cursor.execute("UPDATE t SET v = v + 1")
            assert cursor.rowcount == 2

    asyncio.run(main())


def test_errors_are_djangos_exception_classes(tmp_path):
    async def main():
        async with standalone(tmp_path / "db.sqlite3") as conn, conn.cursor() as cursor:
            await cursor.execute("CREATE TABLE t (v integer UNIQUE)")
            await cursor.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(IntegrityError) as caught:
                await cursor.execute("INSERT INTO t VALUES (1)")
            assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
            with pytest.raises(OperationalError, match="no such table"):
                await cursor.execute("SELECT * FROM missing")
            with pytest.raises(ProgrammingError, match="bindings"):
                await cursor.execute("SELECT %s", [1, 2])
            # The connection is still usable.
            await cursor.execute("SELECT count(*) FROM t")
            assert await cursor.fetchone() == (1,)

    asyncio.run(main())


def test_cancelling_a_query_interrupts_it_and_leaves_the_connection_clean(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        started = asyncio.Event()

        def mark_started() -> int:
            loop.call_soon_threadsafe(started.set)
            return 1

        async with standalone(tmp_path / "db.sqlite3") as conn:
            await query(conn, "CREATE TABLE t (v integer)")
            conn.sync_wrapper.connection.create_function("started", 0, mark_started)
            await conn.set_autocommit(False)
            await query(conn, "INSERT INTO t VALUES (1)")
            task = asyncio.create_task(query(conn, ENDLESS))
            await asyncio.wait_for(started.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The connection was in a transaction with a query running: it
            # is closed (rolling back) rather than left in an unknown state.
            raw = conn.connection
            assert raw is None or not raw.in_transaction
            assert not (raw and raw.holds_write_lock)
        async with standalone(tmp_path / "db.sqlite3") as conn:
            assert await query(conn, "SELECT count(*) FROM t") == [(0,)]

    asyncio.run(main())


def test_sql_functions_django_registers_work_on_async_connections(tmp_path):
    async def main():
        async with standalone(tmp_path / "db.sqlite3") as conn:
            rows = await query(
                conn,
                "SELECT MD5('a'), 'abc' REGEXP 'b', django_date_extract('year', "
                "'2024-05-06')",
            )
            assert rows == [("0cc175b9c0f1b6a831c399e269772661", 1, 2024)]
            await query(conn, "CREATE TABLE t (v real)")
            async with conn.cursor() as cursor:
                await cursor.executemany("INSERT INTO t VALUES (%s)", [(1,), (3,)])
            assert await query(conn, "SELECT VAR_POP(v) FROM t") == [(1.0,)]

    asyncio.run(main())


def test_kept_connections_are_reused_with_conn_max_age(tmp_path):
    async def main():
        name = tmp_path / "db.sqlite3"
        async with standalone(name, conn_max_age=60) as first:
            await query(first, "SELECT 1")
            raw = first.connection
        assert not raw.closed  # kept for the next task, thread and all
        kept = idle.take("standalone", first.settings_dict)
        assert kept is first and kept.connection is raw
        await query(kept, "SELECT 1")
        await kept._release(final=True, reuse=False)
        assert raw.closed
        async with standalone(name, alias="other") as third:  # CONN_MAX_AGE = 0
            await query(third, "SELECT 1")
            other_raw = third.connection
        assert other_raw.closed

    asyncio.run(main())


def test_a_cancelled_call_is_interrupted_and_the_next_one_runs(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        started = asyncio.Event()
        conn = await AsyncConnection.connect(str(tmp_path / "db.sqlite3"))
        try:
            conn.raw.create_function(
                "started", 0, lambda: loop.call_soon_threadsafe(started.set) and 1
            )
            task = asyncio.create_task(conn.run(conn.raw.execute, ENDLESS))
            await asyncio.wait_for(started.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Without the interrupt this would wait behind the endless query.
            cursor = await conn.run(conn.raw.execute, "SELECT 7")
            assert await conn.run(cursor.fetchone) == (7,)
            assert not conn.busy
        finally:
            await conn.close()
        assert conn.closed
        assert await eventually(lambda: not conn.worker.thread.is_alive())

    asyncio.run(main())


# -- nothing outlives its connection: statements, transactions, the lock --
#
# sqlite3 does not close a connection that has a live statement: it stays a
# "zombie" holding its files, its transaction and the write lock, while the
# in-process lock is released, so every other writer fails with "database is
# locked". The fault-injection run of issue 13 found the sequence below.


def _write_now(name) -> Any:
    """A write on a fresh connection; "database is locked" (after the 2 s
    busy timeout) if a connection that looks closed still holds the lock."""

    async def write() -> None:
        async with standalone(name, alias="writer", timeout=2) as writer:
            await query(writer, "INSERT INTO t VALUES (100)")

    return asyncio.create_task(write())


def _mark_started(started: asyncio.Event) -> Any:
    loop = asyncio.get_running_loop()

    def mark() -> int:
        loop.call_soon_threadsafe(started.set)
        return 1

    return mark


async def _integrity_error_in_a_savepoint(alias: str, kept: list[Any]) -> None:
    """What ``acreate()`` of a duplicate inside ``async_atomic`` does: the
    error is caught by the user, and Django keeps it (``rollback_exc``)."""
    connection = async_connections[alias]
    try:
        async with async_atomic(alias), async_mark_for_rollback_on_error(alias):
            await query(connection, "INSERT INTO t VALUES (1)")
    except IntegrityError as exc:
        kept.append(exc)
    assert connection.sync_wrapper.rollback_exc is kept[-1]


async def _create_table(alias: str) -> None:
    async def create() -> None:
        connection = async_connections[alias]
        await query(connection, "CREATE TABLE t (v integer UNIQUE)")
        await query(connection, "INSERT INTO t VALUES (1)")

    await asyncio.create_task(create())


def test_integrity_error_then_cancel_in_one_transaction_blocks_no_writer(tmp_path):
    name = tmp_path / "db.sqlite3"
    kept: list[Any] = []

    async def main():
        started = asyncio.Event()
        await _create_table("lite")

        async def transaction() -> None:
            connection = async_connections["lite"]
            async with async_atomic("lite"):
                await query(connection, "INSERT INTO t VALUES (2)")
                await _integrity_error_in_a_savepoint("lite", kept)
                connection.sync_wrapper.connection.create_function(
                    "started", 0, _mark_started(started)
                )
                await query(connection, ENDLESS)

        task = asyncio.create_task(transaction())
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _write_now(name)  # not "database is locked"
        async with standalone(name, alias="reader") as reader:
            # The cancelled transaction rolled back; the other write is there.
            assert await query(reader, "SELECT v FROM t ORDER BY v") == [(1,), (100,)]
        assert await eventually(lambda: not open_files(name)), open_files(name)

    with registered(name, "lite", timeout=2):
        asyncio.run(main())
    assert kept  # the error (and its traceback) outlived the connection


def test_integrity_error_then_cancel_across_tasks_blocks_no_writer(tmp_path):
    # CONN_MAX_AGE: the next task gets the connection the error happened on.
    name = tmp_path / "db.sqlite3"
    kept: list[Any] = []

    async def main():
        started = asyncio.Event()
        await _create_table("lite")

        async def first() -> Any:
            async with async_atomic("lite"):
                await _integrity_error_in_a_savepoint("lite", kept)
            return async_connections["lite"].connection

        raw = await asyncio.create_task(first())

        async def second() -> None:
            connection = async_connections["lite"]
            assert connection.connection is raw  # kept for this task
            async with async_atomic("lite"):
                await query(connection, "INSERT INTO t VALUES (2)")
                connection.sync_wrapper.connection.create_function(
                    "started", 0, _mark_started(started)
                )
                await query(connection, ENDLESS)

        task = asyncio.create_task(second())
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert raw.closed
        await _write_now(name)
        async with standalone(name, alias="reader") as reader:
            assert await query(reader, "SELECT v FROM t ORDER BY v") == [(1,), (100,)]

    with registered(name, "lite", conn_max_age=60, timeout=2):
        asyncio.run(main())  # its shutdown closes the kept connections
    assert kept
    assert not open_files(name), open_files(name)


def test_a_failed_statement_is_finalized(tmp_path):
    name = tmp_path / "db.sqlite3"

    async def main():
        conn = await AsyncConnection.connect(str(name))
        await conn.execute(None, None, "CREATE TABLE t (v integer UNIQUE)")
        await conn.execute(None, None, "INSERT INTO t VALUES (1)")
        with pytest.raises(sqlite3.IntegrityError) as failure:
            await conn.execute(None, None, "INSERT INTO t VALUES (1)")
        await conn.close()
        # The error's traceback holds the call's frame; its cursor would keep
        # a statement (and so the connection's files) alive.
        assert failure.value.__traceback__ is not None
        assert not open_files(name), open_files(name)

    asyncio.run(main())


def test_a_connection_closed_inside_a_transaction_is_rolled_back_first(tmp_path):
    # A statement we don't know of (user code on the raw sqlite3 connection)
    # still makes close() a zombie; rolling back first releases the lock.
    name = tmp_path / "db.sqlite3"

    async def main():
        async with standalone(name) as conn:  # WAL, the ENGINE's default
            await query(conn, "CREATE TABLE t (v integer)")
            await conn.set_autocommit(False)
            await query(conn, "INSERT INTO t VALUES (1), (2)")
            driver = conn.connection
            users_cursor = await driver.run(driver.raw.execute, "SELECT v FROM t")
            await conn.close()
        await _write_now(name)
        async with standalone(name, alias="reader") as reader:
            assert await query(reader, "SELECT v FROM t") == [(100,)]
        del users_cursor  # its statement was the last one: the zombie goes
        assert not open_files(name), open_files(name)

    asyncio.run(main())


def test_unfinished_cursors_are_closed_with_their_connection(tmp_path):
    name = tmp_path / "db.sqlite3"

    async def main():
        async with standalone(name) as conn:
            await query(conn, "CREATE TABLE t (v integer)")
            await conn.set_autocommit(False)
            async with conn.cursor() as cursor:
                rows = [(n,) for n in range(3 * ROWS_PER_TRIP)]
                await cursor.executemany("INSERT INTO t VALUES (%s)", rows)
            cursor = await conn.cursor()
            await cursor.execute("SELECT v FROM t")
            assert await cursor.fetchone() == (0,)  # rows left on the thread
            await conn.close()  # inside the transaction, the cursor still open
            assert not open_files(name), open_files(name)
            await _write_now(name)
            with pytest.raises(ProgrammingError):
                await cursor.fetchall()
        async with standalone(name, alias="reader") as reader:
            assert await query(reader, "SELECT v FROM t") == [(100,)]

    asyncio.run(main())
