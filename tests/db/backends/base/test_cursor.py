"""Async cursors: the DB-API surface, Django's error classes, logging, wrappers."""

from __future__ import annotations

import asyncio

import pytest
from django.db import (
    DataError,
    IntegrityError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)
from django.db.transaction import TransactionManagementError
from django.test.utils import override_settings

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from django_async_backend.test import AsyncCaptureQueriesContext
from tests.conftest import requires_postgresql

pytestmark = pytest.mark.async_django_db


async def test_cursor_as_context_manager_and_awaitable():
    connection = async_connections["default"]
    async with connection.cursor() as cursor:
        result = await cursor.execute("SELECT %s + 1", [41])
        assert result is cursor  # execute returns the cursor, as psycopg does
        assert await cursor.fetchone() == (42,)
    async with await connection.cursor() as cursor:
        await cursor.execute("SELECT 'a', 'b'")
        assert await cursor.fetchall() == [("a", "b")]
    cursor = await connection.cursor()
    await cursor.execute("SELECT 1")
    assert await cursor.fetchone() == (1,)
    await cursor.close()


@requires_postgresql  # generate_series(); see sqlite3/test_cursor.py
async def test_fetchmany_fetchall_iteration_description_rowcount():
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute("SELECT n, n * 2 AS twice FROM generate_series(1, 10) n")
        assert cursor.rowcount == 10
        assert [column.name for column in cursor.description] == ["n", "twice"]
        assert await cursor.fetchone() == (1, 2)
        assert await cursor.fetchmany(3) == [(2, 4), (3, 6), (4, 8)]
        rest = [row async for row in cursor]
        assert rest == [(n, n * 2) for n in range(5, 11)]
        assert await cursor.fetchone() is None


@pytest.mark.requires_temporary_tables
async def test_executemany():
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute("CREATE TEMPORARY TABLE t (v int)")
        result = await cursor.executemany(
            "INSERT INTO t VALUES (%s)", [(1,), (2,), (3,)]
        )
        assert result is cursor
        await cursor.execute("SELECT sum(v) FROM t")
        assert await cursor.fetchone() == (6,)


@requires_postgresql  # see sqlite3/test_cursor.py
@pytest.mark.async_django_db(transaction=True)
async def test_errors_are_django_exception_classes():
    async with async_connections["default"].cursor() as cursor:
        with pytest.raises(ProgrammingError):
            await cursor.execute("SELECT * FROM no_such_table")
        with pytest.raises(DataError):
            await cursor.execute("SELECT 1/0")
        await cursor.execute("SET statement_timeout = 1")
        with pytest.raises(OperationalError):  # QueryCanceled
            await cursor.execute("SELECT pg_sleep(1)")
        await cursor.execute("RESET statement_timeout")


@pytest.mark.async_django_db(transaction=True)
@pytest.mark.requires_temporary_tables
async def test_connection_usable_after_error_outside_transaction():
    connection = async_connections["default"]
    async with connection.cursor() as cursor:
        await cursor.execute("CREATE TEMPORARY TABLE u (v int UNIQUE)")
        await cursor.execute("INSERT INTO u VALUES (1)")
        with pytest.raises(IntegrityError):
            await cursor.execute("INSERT INTO u VALUES (1)")
        await cursor.execute("SELECT count(*) FROM u")
        assert await cursor.fetchone() == (1,)


@pytest.mark.async_django_db(transaction=True)
@pytest.mark.requires_temporary_tables
async def test_error_inside_atomic_breaks_transaction_until_block_ends():
    connection = async_connections["default"]
    async with connection.cursor() as cursor:
        await cursor.execute("CREATE TEMPORARY TABLE w (v int UNIQUE)")
    with pytest.raises(IntegrityError):
        async with async_atomic():
            async with connection.cursor() as cursor:
                await cursor.execute("INSERT INTO w VALUES (1)")
                try:
                    async with async_atomic(savepoint=False):
                        await cursor.execute("INSERT INTO w VALUES (1)")
                except IntegrityError:
                    # As in Django: the transaction is broken until the
                    # outer block ends.
                    assert connection.needs_rollback
                    with pytest.raises(TransactionManagementError):
                        await cursor.execute("SELECT 1")
                    raise
    async with connection.cursor() as cursor:
        await cursor.execute("SELECT count(*) FROM w")
        assert await cursor.fetchone() == (0,)


async def test_queries_logged_with_debug():
    connection = async_connections["default"]
    await connection.ensure_connection()
    with override_settings(DEBUG=True):
        before = len(connection.queries)
        async with connection.cursor() as cursor:
            await cursor.execute("SELECT %s", [7])
        queries = connection.queries[before:]
    assert [q["sql"] for q in queries] == ["SELECT 7"]
    assert float(queries[0]["time"]) >= 0


async def test_queries_not_logged_without_debug():
    connection = async_connections["default"]
    async with connection.cursor() as cursor:
        await cursor.execute("SELECT 1")
    assert connection.queries == []


async def test_capture_queries_context():
    connection = async_connections["default"]
    async with AsyncCaptureQueriesContext(connection) as captured:
        async with connection.cursor() as cursor:
            await cursor.execute("SELECT 1")
            await cursor.execute("SELECT 2")
    assert [q["sql"] for q in captured] == ["SELECT 1", "SELECT 2"]


@requires_postgresql  # executemany(SELECT); see sqlite3/test_cursor.py
async def test_execute_wrapper_sees_every_query():
    connection = async_connections["default"]
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, params, many, context["connection"].alias))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        async with connection.cursor() as cursor:
            await cursor.execute("SELECT %s", [1])
    async with connection.execute_wrapper(wrapper):
        async with connection.cursor() as cursor:
            await cursor.executemany("SELECT %s", [(1,), (2,)])
    async with connection.cursor() as cursor:
        await cursor.execute("SELECT 3")  # no wrapper any more
    assert seen == [
        ("SELECT %s", [1], False, "default"),
        ("SELECT %s", [(1,), (2,)], True, "default"),
    ]


async def test_execute_wrapper_can_block_queries():
    connection = async_connections["default"]

    def blocker(execute, sql, params, many, context):
        raise RuntimeError("no queries here")

    with connection.execute_wrapper(blocker):
        async with connection.cursor() as cursor:
            with pytest.raises(RuntimeError, match="no queries here"):
                await cursor.execute("SELECT 1")


@requires_postgresql  # SQLite has no stored procedures
async def test_callproc():
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute(
            "CREATE FUNCTION dab_add_one(v int) RETURNS int "
            "AS 'SELECT v + 1' LANGUAGE sql"
        )
        await cursor.callproc("dab_add_one", [41])
        assert await cursor.fetchone() == (42,)


async def make_copy_table(cursor) -> None:
    await cursor.execute("CREATE TEMPORARY TABLE c (n int, label text)")


@requires_postgresql
async def test_copy_from_stdin_writes_rows_and_data():
    async with async_connections["default"].cursor() as cursor:
        await make_copy_table(cursor)
        async with cursor.copy("COPY c (n, label) FROM STDIN") as copy:
            await copy.write_row((1, "one"))
            await copy.write_row((2, None))
            await copy.write(b"3\tthree\n")
        assert cursor.rowcount == 3
        await cursor.execute("SELECT n, label FROM c ORDER BY n")
        assert await cursor.fetchall() == [(1, "one"), (2, None), (3, "three")]


@requires_postgresql
async def test_copy_to_stdout_reads_blocks_and_rows():
    async with async_connections["default"].cursor() as cursor:
        await make_copy_table(cursor)
        await cursor.executemany("INSERT INTO c VALUES (%s, %s)", [(1, "a"), (2, "b")])
        sql = "COPY (SELECT n, label FROM c ORDER BY n) TO STDOUT"
        async with cursor.copy(sql) as copy:
            assert bytes(await copy.read()) == b"1\ta\n"
            assert bytes(await copy.read()) == b"2\tb\n"
            assert bytes(await copy.read()) == b""
        async with cursor.copy(sql) as copy:
            assert b"".join([bytes(block) async for block in copy]) == b"1\ta\n2\tb\n"
        async with cursor.copy(sql) as copy:
            copy.set_types(["int4", "text"])
            assert [row async for row in copy.rows()] == [(1, "a"), (2, "b")]
        # Iterating the copy itself reads its rows (text, without set_types).
        assert [row async for row in cursor.copy(sql)] == [("1", "a"), ("2", "b")]
        await cursor.execute("SELECT count(*) FROM c")  # the connection is free
        assert await cursor.fetchone() == (2,)


@requires_postgresql
async def test_copy_is_part_of_the_transaction():
    connection = async_connections["default"]
    async with connection.cursor() as cursor:
        await cursor.execute("CREATE TABLE dab_copy_tx (n int)")
    try:
        with pytest.raises(RuntimeError):
            async with async_atomic():
                async with connection.cursor() as cursor:
                    async with cursor.copy("COPY dab_copy_tx FROM STDIN") as copy:
                        await copy.write_row((1,))
                raise RuntimeError("roll it back")
        async with connection.cursor() as cursor:
            await cursor.execute("SELECT count(*) FROM dab_copy_tx")
            assert await cursor.fetchone() == (0,)
    finally:
        async with connection.cursor() as cursor:
            await cursor.execute("DROP TABLE dab_copy_tx")


@requires_postgresql
@pytest.mark.async_django_db(transaction=True)
async def test_copy_errors_are_djangos_and_with_says_what_to_use():
    async with async_connections["default"].cursor() as cursor:
        with pytest.raises(ProgrammingError):
            async with cursor.copy("COPY no_such_table FROM STDIN"):
                pass
        with pytest.raises(TypeError, match=r"use `async with cursor.copy\(...\)"):
            with cursor.copy("COPY (SELECT 1) TO STDOUT"):
                pass
        await cursor.execute("SELECT 1")
        assert await cursor.fetchone() == (1,)


async def test_copy_and_stream_on_sqlite_say_they_need_postgresql():
    connection = async_connections["default"]
    if connection.vendor == "postgresql":
        pytest.skip("checks the message other ENGINEs give")
    async with connection.cursor() as cursor:
        with pytest.raises(NotSupportedError, match="needs the PostgreSQL ENGINE"):
            async with cursor.copy("COPY t FROM STDIN"):
                pass
        with pytest.raises(NotSupportedError, match="needs the PostgreSQL ENGINE"):
            [row async for row in cursor.stream("SELECT 1")]


@requires_postgresql
@pytest.mark.async_django_db(transaction=True)
async def test_a_task_cancelled_inside_copy_leaves_nothing_behind(observer):
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute("CREATE TABLE dab_copy_cancel (n int)")
    started = asyncio.Event()

    async def copy_forever():
        async with async_connections["default"].cursor() as cursor:
            async with cursor.copy("COPY dab_copy_cancel FROM STDIN") as copy:
                await copy.write_row((1,))
                started.set()
                await asyncio.Event().wait()

    task = asyncio.create_task(copy_forever())
    try:
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await observer.settle(lambda o: not o.busy())
        async with async_connections["default"].cursor() as cursor:
            await cursor.execute("SELECT count(*) FROM dab_copy_cancel")
            assert await cursor.fetchone() == (0,)
    finally:
        async with async_connections["default"].cursor() as cursor:
            await cursor.execute("DROP TABLE dab_copy_cancel")


@requires_postgresql
async def test_stream_yields_rows_as_they_come():
    async with async_connections["default"].cursor() as cursor:
        rows = [row async for row in cursor.stream("SELECT generate_series(1, 3)")]
        assert rows == [(1,), (2,), (3,)]
        with pytest.raises(ProgrammingError):
            [row async for row in cursor.stream("SELECT * FROM no_such_table")]
