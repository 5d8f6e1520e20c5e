"""The five workloads, once per API family.

* ``ORM_ASYNC``: Django's a-methods. Our ENGINE runs them natively; on the
  stock backend they are Django's ``sync_to_async`` shells. ``atomic3`` is the
  one that differs: ours uses ``async_atomic``; Django has no async
  transaction, so the stock contender runs ``sync_to_async`` of a function
  using ``transaction.atomic`` (:data:`STOCK_ASYNC_ATOMIC`).
* ``ORM_SYNC``: the same queries on the sync ORM (the WSGI-like contender).
* ``UPSTREAM``: the PyPI package's ``Model.async_objects`` API. It does not
  support ``prefetch_related``, so that workload is absent.
* ``PREPARED``: the read workloads as prepared querysets
  (``django_async_backend.models.prepare``), compiled once per process.
* ``CEILING``: the SQL Django sends, on bare psycopg (no ORM).

Every function takes the worker's ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from . import data

AsyncWork = Callable[[random.Random], Awaitable[Any]]
SyncWork = Callable[[random.Random], Any]
WORKLOADS = ("pk_get", "page", "prefetch", "create", "atomic3")


def orm_sync() -> dict[str, SyncWork]:
    from django.db import transaction
    from django.db.models import F

    from .app.models import Author, Book, Entry

    def pk_get(rng: random.Random) -> Any:
        return Book.objects.get(pk=data.book_pk(rng))

    def page(rng: random.Random) -> Any:
        query = Book.objects.select_related("author").filter(
            price__gte=data.min_price(rng)
        )
        return list(query.order_by("id")[: data.PAGE])

    def prefetch(rng: random.Random) -> Any:
        first = data.first_author(rng)
        query = Author.objects.filter(
            id__gte=first, id__lt=first + data.PREFETCH_AUTHORS
        ).prefetch_related("books")
        return list(query)

    def create(rng: random.Random) -> Any:
        return Entry.objects.create(author_id=data.author_pk(rng), amount=1)

    def atomic3(rng: random.Random) -> Any:
        author = data.author_pk(rng)
        with transaction.atomic():
            Entry.objects.create(author_id=author, amount=1)
            Entry.objects.create(author_id=author, amount=2)
            Author.objects.filter(pk=author).update(entries=F("entries") + 1)

    return {
        "pk_get": pk_get,
        "page": page,
        "prefetch": prefetch,
        "create": create,
        "atomic3": atomic3,
    }


def orm_async(*, native_atomic: bool) -> dict[str, AsyncWork]:
    from asgiref.sync import sync_to_async
    from django.db.models import F

    from .app.models import Author, Book, Entry

    async def pk_get(rng: random.Random) -> Any:
        return await Book.objects.aget(pk=data.book_pk(rng))

    async def page(rng: random.Random) -> Any:
        query = Book.objects.select_related("author").filter(
            price__gte=data.min_price(rng)
        )
        return [book async for book in query.order_by("id")[: data.PAGE]]

    async def prefetch(rng: random.Random) -> Any:
        first = data.first_author(rng)
        query = Author.objects.filter(
            id__gte=first, id__lt=first + data.PREFETCH_AUTHORS
        ).prefetch_related("books")
        return [author async for author in query]

    async def create(rng: random.Random) -> Any:
        return await Entry.objects.acreate(author_id=data.author_pk(rng), amount=1)

    async def atomic3(rng: random.Random) -> Any:
        from django_async_backend.db.transaction import async_atomic

        author = data.author_pk(rng)
        async with async_atomic():
            await Entry.objects.acreate(author_id=author, amount=1)
            await Entry.objects.acreate(author_id=author, amount=2)
            await Author.objects.filter(pk=author).aupdate(entries=F("entries") + 1)

    stock_atomic3 = sync_to_async(orm_sync()["atomic3"])

    return {
        "pk_get": pk_get,
        "page": page,
        "prefetch": prefetch,
        "create": create,
        "atomic3": atomic3 if native_atomic else stock_atomic3,
    }


# The workloads a prepared queryset can express (it reads; it doesn't create).
PREPARED_WORKLOADS = ("pk_get", "page", "prefetch")


def prepared_async() -> dict[str, AsyncWork]:
    from django_async_backend.models import Param, prepare

    from .app.models import Author, Book

    book_by_pk = prepare(Book.objects.filter(pk=Param("pk")))
    page_from_price = prepare(
        Book.objects.select_related("author")
        .filter(price__gte=Param("price"))
        .order_by("id")[: data.PAGE]
    )
    authors_from = prepare(
        Author.objects.filter(
            id__gte=Param("first"), id__lt=Param("end")
        ).prefetch_related("books")
    )

    async def pk_get(rng: random.Random) -> Any:
        return await book_by_pk.aget(pk=data.book_pk(rng))

    async def page(rng: random.Random) -> Any:
        return [b async for b in page_from_price.aiterate(price=data.min_price(rng))]

    async def prefetch(rng: random.Random) -> Any:
        first = data.first_author(rng)
        end = first + data.PREFETCH_AUTHORS
        return [a async for a in authors_from.aiterate(first=first, end=end)]

    return {"pk_get": pk_get, "page": page, "prefetch": prefetch}


def upstream() -> dict[str, AsyncWork]:
    from django.db.models import F

    from django_async_backend.db.transaction import async_atomic

    from .app.models import Author, Book, Entry

    async def pk_get(rng: random.Random) -> Any:
        return await Book.async_objects.aget(pk=data.book_pk(rng))

    async def page(rng: random.Random) -> Any:
        query = Book.async_objects.select_related("author").filter(
            price__gte=data.min_price(rng)
        )
        return [book async for book in query.order_by("id")[: data.PAGE]]

    async def create(rng: random.Random) -> Any:
        return await Entry.async_objects.acreate(
            author_id=data.author_pk(rng), amount=1
        )

    async def atomic3(rng: random.Random) -> Any:
        author = data.author_pk(rng)
        async with async_atomic():
            await Entry.async_objects.acreate(author_id=author, amount=1)
            await Entry.async_objects.acreate(author_id=author, amount=2)
            await Author.async_objects.filter(pk=author).aupdate(
                entries=F("entries") + 1
            )

    return {"pk_get": pk_get, "page": page, "create": create, "atomic3": atomic3}


# The SQL Django's compiler produces for the queries above (checked by the
# smoke test against the ORM's own SQL).
SQL_PK_GET = (
    'SELECT "bench_book"."id", "bench_book"."title", "bench_book"."author_id", '
    '"bench_book"."price" FROM "bench_book" WHERE "bench_book"."id" = %s LIMIT 21'
)
SQL_PAGE = (
    'SELECT "bench_book"."id", "bench_book"."title", "bench_book"."author_id", '
    '"bench_book"."price", "bench_author"."id", "bench_author"."name", '
    '"bench_author"."entries" FROM "bench_book" INNER JOIN "bench_author" ON '
    '("bench_book"."author_id" = "bench_author"."id") WHERE '
    '"bench_book"."price" >= %s ORDER BY "bench_book"."id" ASC LIMIT 20'
)
SQL_AUTHORS = (
    'SELECT "bench_author"."id", "bench_author"."name", "bench_author"."entries" '
    'FROM "bench_author" WHERE ("bench_author"."id" >= %s AND '
    '"bench_author"."id" < %s)'
)
SQL_AUTHORS_BOOKS = (
    'SELECT "bench_book"."id", "bench_book"."title", "bench_book"."author_id", '
    '"bench_book"."price" FROM "bench_book" WHERE "bench_book"."author_id" IN '
    "({})"
)
SQL_CREATE = (
    'INSERT INTO "bench_entry" ("author_id", "amount") VALUES (%s, %s) '
    'RETURNING "bench_entry"."id"'
)
SQL_BUMP = (
    'UPDATE "bench_author" SET "entries" = ("bench_author"."entries" + %s) '
    'WHERE "bench_author"."id" = %s'
)


def ceiling(pool: Any) -> dict[str, AsyncWork]:
    """``pool`` is a ``psycopg_pool.AsyncConnectionPool``."""

    async def pk_get(rng: random.Random) -> Any:
        async with pool.connection() as conn:
            cursor = await conn.execute(SQL_PK_GET, (data.book_pk(rng),))
            return await cursor.fetchall()

    async def page(rng: random.Random) -> Any:
        async with pool.connection() as conn:
            cursor = await conn.execute(SQL_PAGE, (data.min_price(rng),))
            return await cursor.fetchall()

    async def prefetch(rng: random.Random) -> Any:
        first = data.first_author(rng)
        async with pool.connection() as conn:
            cursor = await conn.execute(
                SQL_AUTHORS, (first, first + data.PREFETCH_AUTHORS)
            )
            authors = await cursor.fetchall()
            ids = [row[0] for row in authors]
            books_sql = SQL_AUTHORS_BOOKS.format(", ".join(["%s"] * len(ids)))
            cursor = await conn.execute(books_sql, ids)
            return authors, await cursor.fetchall()

    async def create(rng: random.Random) -> Any:
        async with pool.connection() as conn:
            cursor = await conn.execute(SQL_CREATE, (data.author_pk(rng), 1))
            return await cursor.fetchone()

    async def atomic3(rng: random.Random) -> Any:
        author = data.author_pk(rng)
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(SQL_CREATE, (author, 1))
            await conn.execute(SQL_CREATE, (author, 2))
            await conn.execute(SQL_BUMP, (1, author))

    return {
        "pk_get": pk_get,
        "page": page,
        "prefetch": prefetch,
        "create": create,
        "atomic3": atomic3,
    }
