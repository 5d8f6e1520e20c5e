"""Django on the embedded replica: migrations, the ORM in sync code and in
async code (``async_connections``, ``async_atomic``, the a-methods), and
``await async_connections[alias].sync()``."""

from __future__ import annotations

import asyncio

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connections

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from tests.app.models import Author, Book, Publisher, Unique

from ..helpers import libsql_suite
from .test_sync_mode import run_in_thread


@pytest.fixture
def migrated(replica_alias, primary):
    """Two replicas of a primary that ``migrate`` ran on (through the first)."""
    a, b = replica_alias(), replica_alias()

    def migrate():
        call_command("migrate", database=a, run_syncdb=True, verbosity=0)
        connections[b].sync()

    run_in_thread(migrate)
    try:
        yield a, b
    finally:

        def flush():
            for model in (Book, Author, Publisher, Unique):
                model.objects.using(a).all().delete()

        run_in_thread(flush)


pytestmark = libsql_suite


def test_migrate_and_the_sync_orm(migrated):
    a, b = migrated

    def main():
        publisher = Publisher.objects.using(a).create(name="P")
        author = Author.objects.using(a).create(name="A", publisher=publisher)
        assert isinstance(author.pk, int)
        Book.objects.using(a).create(title="B", author=author, pages=2**40 + 1)
        connections[b].sync()
        book = Book.objects.using(b).select_related("author").get(title="B")
        assert (book.author.name, book.pages) == ("A", 2**40 + 1)
        assert Book.objects.using(b).filter(pages__gt=2**40).count() == 1
        # Django's introspection and a schema change (table rebuild) on the primary.
        with connections[a].cursor() as cursor:
            tables = connections[a].introspection.table_names(cursor)
        assert "app_book" in tables

    run_in_thread(main)


def test_async_api_orm_transactions_and_sync(migrated):
    a, b = migrated

    async def main():
        # b's connection opens (and syncs, as the ENGINE does on connect) first.
        assert await Book.objects.using(b).acount() == 0
        publisher = await Publisher.objects.using(a).acreate(name="P")
        author = await Author.objects.using(a).acreate(name="A", publisher=publisher)
        async with async_atomic(using=a):
            await Book.objects.using(a).acreate(title="kept", author=author)
            try:
                async with async_atomic(using=a):
                    await Book.objects.using(a).acreate(
                        title="savepoint", author=author
                    )
                    raise ValueError
            except ValueError:
                pass
            # Inside the transaction (on the primary) the writer sees its rows.
            titles = [bk.title async for bk in Book.objects.using(a).order_by("id")]
            assert titles == ["kept"]
        try:
            async with async_atomic(using=a):
                await Book.objects.using(a).acreate(title="rolled back", author=author)
                raise ValueError
        except ValueError:
            pass
        await Unique.objects.using(a).acreate(code="x")
        with pytest.raises(IntegrityError):
            async with async_atomic(using=a):
                await Unique.objects.using(a).acreate(code="x")
        # Read your writes: visible through the writing replica at once.
        assert await Book.objects.using(a).acount() == 1
        # The other replica sees them after sync().
        assert await Book.objects.using(b).acount() == 0  # same connection
        await async_connections[b].sync()
        assert [bk.title async for bk in Book.objects.using(b).all()] == ["kept"]
        # Raw async cursors, big integers both ways.
        async with async_connections[b].cursor() as cursor:
            await cursor.execute("SELECT %s, %s", [2**62 + 3, b"\x00\xff"])
            assert await cursor.fetchone() == (2**62 + 3, b"\x00\xff")

    asyncio.run(main())


def test_concurrent_tasks_each_on_their_own_replica_connection(migrated):
    a, _ = migrated

    async def main():
        publisher = await Publisher.objects.using(a).acreate(name="P")

        async def write(i):
            return await Author.objects.using(a).acreate(
                name=f"A{i}", publisher=publisher
            )

        authors = await asyncio.gather(*(write(i) for i in range(8)))
        assert len({author.pk for author in authors}) == 8
        assert await Author.objects.using(a).acount() == 8

    asyncio.run(main())
