"""QuerySet and Manager a-methods, natively, with their SQL effects."""

from __future__ import annotations

import datetime

import pytest
from django.db import DatabaseError, connections
from django.db.models import Count, F, OuterRef, Prefetch, Subquery, Sum
from django.test.utils import override_settings

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from django_async_backend.test import AsyncCaptureQueriesContext
from tests.app.models import Author, Book, Chapter, Event, Publisher, Tag
from tests.conftest import requires_direct_connection, requires_postgresql

pytestmark = pytest.mark.async_django_db


async def library():
    publisher = await Publisher.objects.acreate(name="Casterman")
    herge = await Author.objects.acreate(name="Hergé", publisher=publisher)
    jacobs = await Author.objects.acreate(name="Jacobs")
    books = [
        await Book.objects.acreate(
            title=title, author=author, pages=pages, published=datetime.date(year, 1, 1)
        )
        for title, author, pages, year in [
            ("Tintin au Tibet", herge, 62, 1960),
            ("Objectif Lune", herge, 62, 1953),
            ("Blake et Mortimer", jacobs, 48, 1950),
        ]
    ]
    return herge, jacobs, books


async def test_get_create_count_exists():
    herge, _, books = await library()
    assert await Book.objects.acount() == 3
    assert (await Book.objects.aget(pk=books[0].pk)).title == "Tintin au Tibet"
    with pytest.raises(Book.DoesNotExist):
        await Book.objects.aget(title="nope")
    with pytest.raises(Book.MultipleObjectsReturned):
        await Book.objects.aget(author=herge)
    assert await Book.objects.filter(pages__gt=60).aexists()
    assert not await Book.objects.filter(pages__gt=100).aexists()
    assert await Book.objects.acontains(books[1])


async def test_get_or_create_and_update_or_create():
    author, created = await Author.objects.aget_or_create(name="Franquin")
    assert created
    again, created = await Author.objects.aget_or_create(name="Franquin")
    assert (again.pk, created) == (author.pk, False)
    updated, created = await Author.objects.aupdate_or_create(
        name="Franquin", defaults={"name": "André Franquin"}
    )
    assert not created and updated.pk == author.pk
    assert await Author.objects.filter(name="André Franquin").acount() == 1
    made, created = await Author.objects.aupdate_or_create(
        name="Peyo", create_defaults={"name": "Peyo (created)"}
    )
    assert created and made.name == "Peyo (created)"


async def test_bulk_create_and_bulk_update():
    books = await Book.objects.abulk_create(
        [Book(title=f"t{i}", pages=i) for i in range(5)]
    )
    assert all(book.pk for book in books)  # PostgreSQL returns the new keys
    for book in books:
        book.pages *= 10
    assert await Book.objects.abulk_update(books, ["pages"]) == 5
    assert [b.pages async for b in Book.objects.order_by("pages")] == [
        0,
        10,
        20,
        30,
        40,
    ]


async def test_in_bulk_first_last_latest_earliest():
    _, _, books = await library()
    by_pk = await Book.objects.ain_bulk([books[0].pk, books[2].pk])
    assert set(by_pk) == {books[0].pk, books[2].pk}
    assert (await Book.objects.order_by("pages").afirst()).pages == 48
    assert (
        await Book.objects.order_by("pages", "title").alast()
    ).title == "Tintin au Tibet"
    assert (await Book.objects.alatest("published")).title == "Tintin au Tibet"
    assert (await Book.objects.aearliest("published")).title == "Blake et Mortimer"
    assert await Book.objects.filter(pages=0).afirst() is None


async def test_aggregate_annotate_subqueries_combinators():
    herge, _, _ = await library()
    assert await Book.objects.aaggregate(total=Sum("pages")) == {"total": 172}
    counts = [
        (a.name, a.n)
        async for a in Author.objects.annotate(n=Count("books")).order_by("name")
    ]
    assert counts == [("Hergé", 2), ("Jacobs", 1)]
    newest = Book.objects.filter(author=OuterRef("pk")).order_by("-published")
    latest = [
        (a.name, a.latest)
        async for a in Author.objects.annotate(
            latest=Subquery(newest.values("title")[:1])
        ).order_by("name")
    ]
    assert latest == [("Hergé", "Tintin au Tibet"), ("Jacobs", "Blake et Mortimer")]
    # .order_by(): SQLite allows no ORDER BY inside a compound statement.
    union = (
        Book.objects.filter(pages=48)
        .order_by()
        .union(Book.objects.filter(title__startswith="Obj").order_by())
    )
    assert sorted([b.title async for b in union]) == [
        "Blake et Mortimer",
        "Objectif Lune",
    ]
    assert await Book.objects.filter(author=herge).aupdate(pages=F("pages") + 1) == 2
    assert await Book.objects.filter(pages=63).acount() == 2


async def test_async_for_over_every_iterable():
    await library()
    assert [b.title async for b in Book.objects.order_by("title")][
        0
    ] == "Blake et Mortimer"
    assert [v async for v in Book.objects.order_by("pages").values("pages")][0] == {
        "pages": 48
    }
    assert [
        v async for v in Book.objects.order_by("pages").values_list("pages", flat=True)
    ] == [
        48,
        62,
        62,
    ]
    years = [d.year async for d in Book.objects.dates("published", "year")]
    assert years == [1950, 1953, 1960]
    await Event.objects.acreate(
        name="e", at=datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC)
    )
    assert [d.month async for d in Event.objects.datetimes("at", "month")] == [5]
    raw = Book.objects.raw(
        "SELECT * FROM app_book WHERE pages > %s ORDER BY title", [50]
    )
    assert [b.title async for b in raw] == ["Objectif Lune", "Tintin au Tibet"]


async def test_select_related_prefetch_related_and_prefetch_objects():
    await library()
    async with AsyncCaptureQueriesContext(async_connections["default"]) as queries:
        books = [
            b
            async for b in Book.objects.select_related("author__publisher").order_by(
                "title"
            )
        ]
        assert books[2].author.publisher.name == "Casterman"
    assert len(queries) == 1

    async with AsyncCaptureQueriesContext(async_connections["default"]) as queries:
        authors = [
            a
            async for a in Author.objects.prefetch_related(
                Prefetch(
                    "books",
                    queryset=Book.objects.order_by("title"),
                    to_attr="sorted_books",
                ),
                "books__chapters",
            ).order_by("name")
        ]
        assert [b.title for b in authors[0].sorted_books] == [
            "Objectif Lune",
            "Tintin au Tibet",
        ]
    assert len(queries) == 4  # authors, books (to_attr), books, chapters


async def test_only_defer_and_lazy_loading_still_guarded():
    _, _, books = await library()
    book = await Book.objects.only("title").aget(pk=books[0].pk)
    assert book.title == "Tintin au Tibet"
    from django.core.exceptions import SynchronousOnlyOperation

    # Loading a deferred field or an unfetched relation from async code is
    # sync I/O outside the bridge: Django's usual error, as today.
    with pytest.raises(SynchronousOnlyOperation):
        _ = book.pages
    book = await Book.objects.defer("pages").aget(pk=books[0].pk)
    with pytest.raises(SynchronousOnlyOperation):
        _ = book.author


@requires_postgresql  # pg_cursors; SQLite: tests/db/backends/sqlite3
@requires_direct_connection
async def test_aiterator_streams_with_a_server_side_cursor():
    await Book.objects.abulk_create([Book(title=f"b{i}") for i in range(25)])
    connection = async_connections["default"]
    seen, cursors = 0, []
    async for _book in Book.objects.all().aiterator(chunk_size=10):
        seen += 1
        if seen == 5:
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT name FROM pg_cursors")
                cursors = [row[0] for row in await cursor.fetchall()]
    assert seen == 25
    assert any(name.startswith("_django_curs_") for name in cursors)

    authors = [
        a
        async for a in Author.objects.prefetch_related("books").aiterator(chunk_size=2)
    ]
    assert authors == []


@requires_postgresql  # pg_cursors
@pytest.mark.async_django_db(transaction=True)
async def test_aiterator_without_server_side_cursors():
    await Book.objects.abulk_create([Book(title=f"b{i}") for i in range(5)])
    settings_dict = connections.settings["default"]
    settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        connection = async_connections["default"]
        titles = []
        async for book in Book.objects.order_by("title").aiterator(chunk_size=2):
            titles.append(book.title)
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT count(*) FROM pg_cursors")
                assert await cursor.fetchone() == (0,)
        assert titles == [f"b{i}" for i in range(5)]
    finally:
        del settings_dict["DISABLE_SERVER_SIDE_CURSORS"]


async def test_adelete_and_aexplain():
    await library()
    deleted, by_model = await Author.objects.filter(name="Jacobs").adelete()
    assert deleted == 2 and by_model == {"app.Book": 1, "app.Author": 1}
    plan = await Book.objects.filter(pages=62).aexplain()
    assert "scan" in plan.lower()  # "Seq Scan" (PostgreSQL), "SCAN" (SQLite)


@pytest.mark.async_django_db(transaction=True)
async def test_select_for_update_locks_rows():
    _, _, books = await library()
    import asyncio

    locked, release = asyncio.Event(), asyncio.Event()

    async def holder():
        async with async_atomic():
            book = await Book.objects.select_for_update().aget(pk=books[0].pk)
            assert book.pk == books[0].pk
            locked.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await locked.wait()

    async def contender():
        async with async_atomic():
            return await Book.objects.select_for_update(nowait=True).aget(
                pk=books[0].pk
            )

    with pytest.raises(DatabaseError):
        await asyncio.create_task(contender())
    release.set()
    await task
    assert (await asyncio.create_task(contender())).pk == books[0].pk


async def test_queries_are_logged_like_djangos():
    await library()
    with override_settings(DEBUG=True):
        connection = async_connections["default"]
        before = len(connection.queries)
        await Book.objects.filter(pages=48).acount()
        sql = connection.queries[before]["sql"]
    assert "COUNT(*)" in sql and '"app_book"."pages" = 48' in sql


async def test_chapters_via_related_manager_queryset():
    _, _, books = await library()
    await Chapter.objects.acreate(book=books[0], title="1")
    assert [c.title async for c in books[0].chapters.all()] == ["1"]
    assert await Tag.objects.acount() == 0
