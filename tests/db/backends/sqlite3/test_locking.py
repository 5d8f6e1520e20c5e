"""One writer at a time: writers queue on the event loop, readers don't."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from django.db import OperationalError

from django_async_backend.db.backends.sqlite3.locking import database_key, may_write

from .helpers import query, standalone


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select * from t",
        "-- a comment\nSELECT 1",
        "/* hint */ (SELECT 1)",
        "VALUES (1)",
        "EXPLAIN QUERY PLAN SELECT 1",
        "PRAGMA foreign_keys = ON",
        "BEGIN",
        "BEGIN DEFERRED",
        'SAVEPOINT "s1"',
        'RELEASE SAVEPOINT "s1"',
        'ROLLBACK TO SAVEPOINT "s1"',
        "COMMIT",
    ],
)
def test_reads_and_transaction_control_take_no_write_lock(sql):
    assert not may_write(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t VALUES (1)",
        "update t set v = 1",
        "DELETE FROM t",
        "REPLACE INTO t VALUES (1)",
        "CREATE TABLE t (v int)",
        "DROP TABLE t",
        "ALTER TABLE t ADD COLUMN w int",
        "BEGIN IMMEDIATE",
        "begin exclusive transaction",
        "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",  # WITH: assumed
        "VACUUM",
        "ANALYZE",
        "",
    ],
)
def test_writes_take_the_write_lock(sql):
    assert may_write(sql)


def test_database_key_identifies_the_file(tmp_path):
    path = tmp_path / "db.sqlite3"
    assert database_key(path) == database_key(str(path))
    assert database_key(f"file:{path}?mode=rwc") == database_key(path)
    assert database_key("file:/x?vfs=memdb") != database_key("file:/y?vfs=memdb")


def test_a_second_writer_waits_for_the_first_to_commit(tmp_path):
    async def main():
        name = tmp_path / "db.sqlite3"
        async with standalone(name) as first, standalone(name) as second:
            await query(first, "CREATE TABLE t (v integer)")
            await query(first, "BEGIN IMMEDIATE")
            await query(first, "INSERT INTO t VALUES (1)")
            assert first.connection.holds_write_lock
            await second.ensure_connection()
            waiting = asyncio.create_task(query(second, "INSERT INTO t VALUES (2)"))
            for _ in range(5):
                await asyncio.sleep(0)
            assert not waiting.done()  # queued on the loop, not failing
            assert not second.connection.busy  # nothing sent to SQLite yet
            await query(first, "COMMIT")
            assert not first.connection.holds_write_lock
            await waiting
            assert not second.connection.holds_write_lock  # autocommit write
            assert await query(second, "SELECT v FROM t ORDER BY v") == [(1,), (2,)]

    asyncio.run(main())


def test_writers_take_turns_in_arrival_order(tmp_path):
    async def main():
        name = tmp_path / "db.sqlite3"
        async with standalone(name) as holder:
            await query(holder, "CREATE TABLE t (v integer)")
            await query(holder, "BEGIN IMMEDIATE")

            async with contextlib.AsyncExitStack() as stack:
                writers = [
                    await stack.enter_async_context(standalone(name, alias=f"w{v}"))
                    for v in range(1, 6)
                ]
                for writer in writers:
                    await writer.ensure_connection()
                tasks = []
                for v, writer in enumerate(writers, start=1):
                    sql = "INSERT INTO t VALUES (%s)"
                    tasks.append(asyncio.create_task(query(writer, sql, [v])))
                    for _ in range(3):
                        await asyncio.sleep(0)  # let it reach the queue
                await query(holder, "COMMIT")
                await asyncio.gather(*tasks)
            rows = await query(holder, "SELECT v FROM t ORDER BY rowid")
            assert rows == [(v,) for v in range(1, 6)]

    asyncio.run(main())


def test_waiting_longer_than_timeout_is_database_is_locked(tmp_path):
    async def main():
        name = tmp_path / "db.sqlite3"
        async with standalone(name) as first, standalone(name, timeout=0.2) as second:
            await query(first, "CREATE TABLE t (v integer)")
            await query(first, "BEGIN IMMEDIATE")
            with pytest.raises(OperationalError, match="database is locked.*timeout"):
                await query(second, "INSERT INTO t VALUES (2)")
            await query(first, "ROLLBACK")
            await query(second, "INSERT INTO t VALUES (2)")  # free again

    asyncio.run(main())


def test_a_cancelled_waiter_leaves_the_queue(tmp_path):
    async def main():
        name = tmp_path / "db.sqlite3"
        async with (
            standalone(name) as first,
            standalone(name, alias="b") as second,
            standalone(name, alias="c") as third,
        ):
            await query(first, "CREATE TABLE t (v integer)")
            await query(first, "BEGIN IMMEDIATE")
            waiting = asyncio.create_task(query(second, "INSERT INTO t VALUES (2)"))
            for _ in range(5):
                await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await query(first, "COMMIT")
            await query(third, "INSERT INTO t VALUES (3)")
            assert await query(third, "SELECT v FROM t") == [(3,)]
            assert not second.connection or not second.connection.holds_write_lock

    asyncio.run(main())


def test_readers_run_beside_an_open_write_transaction(tmp_path):
    async def main():
        name = tmp_path / "db.sqlite3"
        async with standalone(name) as writer, standalone(name, alias="r") as reader:
            await query(writer, "CREATE TABLE t (v integer)")
            await query(writer, "INSERT INTO t VALUES (1)")
            await query(writer, "BEGIN IMMEDIATE")
            await query(writer, "INSERT INTO t VALUES (2)")
            # WAL: the reader sees the last commit, at once.
            assert await query(reader, "SELECT v FROM t") == [(1,)]
            await query(writer, "COMMIT")
            assert await query(reader, "SELECT v FROM t") == [(1,), (2,)]

    asyncio.run(main())


def test_closing_a_connection_in_a_transaction_frees_the_lock(tmp_path):
    async def main():
        name = tmp_path / "db.sqlite3"
        async with standalone(name, alias="b") as other:
            async with standalone(name) as first:
                await query(first, "CREATE TABLE t (v integer)")
                await query(first, "BEGIN IMMEDIATE")
                await query(first, "INSERT INTO t VALUES (1)")
            # Released while in a transaction: rolled back, lock freed.
            await query(other, "INSERT INTO t VALUES (2)")
            assert await query(other, "SELECT v FROM t") == [(2,)]

    asyncio.run(main())


def test_executescript_takes_the_write_lock(tmp_path):
    async def main():
        name = tmp_path / "db.sqlite3"
        async with standalone(name) as first, standalone(name, alias="b") as second:
            await query(first, "CREATE TABLE t (v integer)")
            await query(first, "BEGIN IMMEDIATE")
            await second.ensure_connection()
            adapter = second.sync_wrapper.connection
            script = "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);"
            waiting = asyncio.create_task(second._run(adapter.executescript, script))
            for _ in range(5):
                await asyncio.sleep(0)
            assert not waiting.done() and not second.connection.busy
            await query(first, "COMMIT")
            await waiting
            assert not second.connection.holds_write_lock
            assert await query(first, "SELECT count(*) FROM t") == [(2,)]

    asyncio.run(main())
