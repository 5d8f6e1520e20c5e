"""Many tasks, one SQLite database: writers lose nothing, readers don't wait.

These run the ORM on the suite's database (DATABASE_URL=sqlite:///...).
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from tests.app.models import Author, Book
from tests.conftest import requires_readers_beside_writer

from .helpers import sqlite_suite

pytestmark = [sqlite_suite, pytest.mark.async_django_db(transaction=True)]


async def test_thirty_concurrent_writing_transactions_lose_nothing():
    counter = await Book.objects.acreate(title="counter", pages=0)
    connections = set()

    async def writer(i: int) -> None:
        # Read-modify-write: a lost update would show in the counter.
        async with async_atomic():
            connections.add(id(async_connections["default"]))
            book = await Book.objects.aget(pk=counter.pk)
            book.pages += 1
            await book.asave(update_fields=["pages"])
            author = await Author.objects.acreate(name=f"writer {i}")
            await Book.objects.acreate(title=f"book {i}", author=author)

    await asyncio.gather(*(writer(i) for i in range(30)))
    assert len(connections) == 30  # each task on its own connection
    await counter.arefresh_from_db()
    assert counter.pages == 30
    assert await Author.objects.acount() == 30
    titles = {b.title async for b in Book.objects.exclude(pk=counter.pk)}
    assert titles == {f"book {i}" for i in range(30)}


async def test_rolled_back_writers_leave_nothing_and_free_the_lock():
    class Abort(Exception):
        pass

    async def writer(i: int) -> None:
        async with async_atomic():
            await Book.objects.acreate(title=f"kept {i}")
            try:
                async with async_atomic():  # a savepoint
                    await Book.objects.acreate(title=f"dropped {i}")
                    if i % 2:
                        raise Abort
            except Abort:
                pass

    await asyncio.gather(*(writer(i) for i in range(10)))
    titles = {b.title async for b in Book.objects.all()}
    assert titles == {f"kept {i}" for i in range(10)} | {
        f"dropped {i}" for i in range(0, 10, 2)
    }


@requires_readers_beside_writer  # in-memory databases have no WAL
async def test_readers_are_not_blocked_by_an_open_write_transaction():
    await Book.objects.acreate(title="committed")
    in_transaction = asyncio.Event()
    finish = asyncio.Event()

    async def writer() -> None:
        async with async_atomic():
            await Book.objects.acreate(title="not yet")
            in_transaction.set()
            await finish.wait()

    async def reader() -> list[str]:
        return [b.title async for b in Book.objects.all()]

    writing = asyncio.create_task(writer())
    await in_transaction.wait()
    # Five readers, each on its own connection, while the writer holds the
    # write lock: they see the last commit and return (a blocked reader
    # would wait for the writer, which waits for us).
    seen = await asyncio.gather(*(asyncio.create_task(reader()) for _ in range(5)))
    assert seen == [["committed"]] * 5
    finish.set()
    await writing
    assert await reader() == ["committed", "not yet"]


async def test_the_event_loop_stays_responsive_while_a_query_runs():
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    release = threading.Event()

    def wait_for_loop() -> int:
        loop.call_soon_threadsafe(started.set)
        return 1 if release.wait(10) else 0

    async def slow() -> list[int]:
        connection = async_connections["default"]
        await connection.ensure_connection()
        connection.sync_wrapper.connection.create_function(
            "wait_for_loop", 0, wait_for_loop
        )
        books = Book.objects.extra(select={"w": "wait_for_loop()"})
        return [w async for w in books.values_list("w", flat=True)]

    await Book.objects.acreate(title="one")
    running = asyncio.create_task(slow())
    # The query is running, and the loop still turns.
    await asyncio.wait_for(started.wait(), 10)
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0)
        ticks += 1
    assert await Book.objects.acount() == 1  # other tasks query meanwhile
    release.set()
    assert await running == [1]
    assert ticks == 10
