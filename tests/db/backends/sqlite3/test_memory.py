"""NAME = ":memory:": one in-memory database per alias, shared by the process."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

from django_async_backend.db.backends.sqlite3.base import DatabaseWrapper
from django_async_backend.db.backends.sqlite3.memory import is_shared_memory

from .helpers import query, sqlite_settings, standalone


def unique_alias() -> str:
    # The database belongs to the alias for the life of the process.
    return f"mem_{uuid.uuid4().hex[:8]}"


def test_every_connection_of_the_alias_sees_one_database():
    alias = unique_alias()

    async def main():
        async with standalone(":memory:", alias) as first:
            await query(first, "CREATE TABLE t (v integer)")
            await query(first, "INSERT INTO t VALUES (1)")

        async def other_task():
            async with standalone(":memory:", alias) as conn:
                return await query(conn, "SELECT v FROM t")

        # Another task, another connection; the first one is closed already.
        assert await asyncio.create_task(other_task()) == [(1,)]
        async with standalone(":memory:", unique_alias()) as elsewhere:
            assert await query(
                elsewhere, "SELECT count(*) FROM sqlite_master WHERE name = 't'"
            ) == [(0,)]

    asyncio.run(main())


def test_sync_connections_share_it_too():
    alias = unique_alias()
    wrapper = DatabaseWrapper(sqlite_settings(":memory:"), alias)
    with wrapper.cursor() as cursor:
        cursor.execute("CREATE TABLE t (v integer)")
        cursor.execute("INSERT INTO t VALUES (5)")
    assert type(wrapper.connection) is sqlite3.Connection
    assert is_shared_memory(wrapper.get_connection_params()["database"])
    wrapper.close()  # as in Django, closing an in-memory database is a no-op

    async def main():
        async with standalone(":memory:", alias) as conn:
            return await query(conn, "SELECT v FROM t")

    assert asyncio.run(main()) == [(5,)]


def test_readers_wait_for_the_writer_then_see_its_commit():
    """No WAL in memory: a reader waits (busy timeout) instead of failing."""
    alias = unique_alias()

    async def main():
        async with (
            standalone(":memory:", alias) as writer,
            standalone(":memory:", alias) as reader,
        ):
            await query(writer, "CREATE TABLE t (v integer)")
            await query(writer, "BEGIN IMMEDIATE")
            await query(writer, "INSERT INTO t VALUES (1)")
            reading = asyncio.create_task(query(reader, "SELECT v FROM t"))
            for _ in range(5):
                await asyncio.sleep(0)
            await query(writer, "COMMIT")
            # It could only read after the commit: it sees the row.
            assert await reading == [(1,)]

    asyncio.run(main())


def test_in_memory_test_databases_are_shared_memory_too():
    wrapper = DatabaseWrapper(sqlite_settings(":memory:"), "some_alias")
    name = wrapper.creation._get_test_db_name()
    assert is_shared_memory(name)
    assert "test_some_alias" in name
    assert wrapper.creation.is_in_memory_db(name)
    file_wrapper = DatabaseWrapper(sqlite_settings("x.sqlite3"), "some_alias")
    file_wrapper.settings_dict["TEST"]["NAME"] = "test_x.sqlite3"
    assert file_wrapper.creation._get_test_db_name() == "test_x.sqlite3"
