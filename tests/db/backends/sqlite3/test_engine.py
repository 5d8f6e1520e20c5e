"""The ENGINE's settings and what stays Django's own.

Standalone connections on files of the test's own, except where marked
``sqlite_suite``.
"""

from __future__ import annotations

import asyncio
import datetime
import sqlite3

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import StdDev
from django.db.models.functions import MD5, ExtractYear
from django.test.utils import CaptureQueriesContext

from django_async_backend.db import async_connections
from django_async_backend.db.backends.sqlite3.base import DatabaseWrapper
from django_async_backend.db.backends.sqlite3.driver import ROWS_PER_TRIP
from django_async_backend.db.transaction import async_atomic
from django_async_backend.test import AsyncCaptureQueriesContext
from tests.app.models import Book

from .helpers import query, sqlite_settings, sqlite_suite, standalone


def test_files_default_to_wal_and_immediate_transactions(tmp_path):
    async def main():
        async with standalone(tmp_path / "db.sqlite3") as conn:
            assert await query(conn, "PRAGMA journal_mode") == [("wal",)]
            assert conn.sync_wrapper.transaction_mode == "IMMEDIATE"

    asyncio.run(main())


def test_journal_and_transaction_mode_can_be_chosen(tmp_path):
    async def main():
        async with standalone(
            tmp_path / "a.sqlite3", journal_mode="truncate", transaction_mode=None
        ) as conn:
            assert await query(conn, "PRAGMA journal_mode") == [("truncate",)]
            assert conn.sync_wrapper.transaction_mode is None
        async with standalone(tmp_path / "b.sqlite3", journal_mode=None) as conn:
            assert await query(conn, "PRAGMA journal_mode") == [("delete",)]

    asyncio.run(main())


def test_init_command_runs_after_the_defaults(tmp_path):
    async def main():
        async with standalone(
            tmp_path / "db.sqlite3",
            init_command="PRAGMA journal_mode = DELETE; PRAGMA user_version = 7",
        ) as conn:
            assert await query(conn, "PRAGMA journal_mode") == [("delete",)]
            assert await query(conn, "PRAGMA user_version") == [(7,)]

    asyncio.run(main())


def test_a_wrong_journal_mode_is_a_clear_error(tmp_path):
    wrapper = DatabaseWrapper(
        sqlite_settings(tmp_path / "db.sqlite3", journal_mode="fast"), "x"
    )
    with pytest.raises(
        ImproperlyConfigured,
        match=r"DATABASES\['x'\]\['OPTIONS'\]\['journal_mode'\] is 'fast'.*'WAL'.*None",
    ):
        wrapper.get_connection_params()


def test_a_connection_factory_option_is_used_on_the_thread(tmp_path):
    class Marked(sqlite3.Connection):
        pass

    async def main():
        async with standalone(tmp_path / "db.sqlite3", factory=Marked) as conn:
            await conn.ensure_connection()
            assert isinstance(conn.connection.raw, Marked)

    asyncio.run(main())


def test_transactions_begin_immediate_by_default(tmp_path):
    async def main():
        async with standalone(tmp_path / "db.sqlite3") as conn:
            await query(conn, "CREATE TABLE t (v integer)")
            async with AsyncCaptureQueriesContext(conn) as captured:
                await conn.set_autocommit(False, True)  # what atomic() does
                assert conn.connection.holds_write_lock
                await conn.commit()
                await conn.set_autocommit(True)
            assert captured[0]["sql"] == "BEGIN IMMEDIATE"
            assert not conn.connection.holds_write_lock

    asyncio.run(main())


@sqlite_suite
@pytest.mark.async_django_db(transaction=True)
async def test_djangos_sql_functions_aggregates_and_converters():
    await Book.objects.acreate(title="abc", pages=1)
    await Book.objects.acreate(title="abd", pages=3)
    hashes = [b.h async for b in Book.objects.annotate(h=MD5("title"))]
    assert hashes[0] == "900150983cd24fb0d6963f7d28e17f72"
    assert await Book.objects.filter(title__regex=r"^ab[c]$").acount() == 1
    spread = await Book.objects.aaggregate(s=StdDev("pages"))
    assert spread == {"s": 1.0}
    user = await User.objects.acreate_user("ada", password="x")
    await user.arefresh_from_db()
    assert isinstance(user.date_joined, datetime.datetime)
    assert user.date_joined.tzinfo is not None
    years = [u.y async for u in User.objects.annotate(y=ExtractYear("date_joined"))]
    assert years == [user.date_joined.year]


@sqlite_suite
@pytest.mark.async_django_db(transaction=True)
async def test_sync_code_is_djangos_stock_backend():
    def in_a_thread():
        connection = connections["default"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        assert type(connection.connection) is sqlite3.Connection
        Book.objects.create(title="sync")
        with (
            CaptureQueriesContext(connection) as captured,
            connection.constraint_checks_disabled(),
        ):
            pass
        return Book.objects.count(), len(captured) > 0

    assert await sync_to_async(in_a_thread)() == (1, True)
    # ...and the async side sees the sync side's commit.
    assert await Book.objects.acount() == 1
    async with async_atomic():
        assert async_connections["default"].sync_wrapper.connection.raw.holds_write_lock


@sqlite_suite
@pytest.mark.async_django_db(transaction=True)
async def test_aiterator_streams_past_the_prefetched_rows():
    total = ROWS_PER_TRIP + 250
    await Book.objects.abulk_create([Book(title=f"b{i:05}") for i in range(total)])
    seen = []
    async for book in Book.objects.order_by("title").aiterator(chunk_size=100):
        seen.append(book.title)
        if len(seen) == 10:
            # Another query on the same connection while the stream is open.
            assert await Book.objects.acount() == total
    assert seen == [f"b{i:05}" for i in range(total)]
