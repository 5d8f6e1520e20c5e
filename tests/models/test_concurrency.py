"""100 tasks doing mixed ORM work at once, each on its own connection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connections

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from tests.app.models import Author, Book, Chapter

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]

TASKS = 100


class Rollback(Exception):
    pass


@contextmanager
def pooled(max_size: int) -> Iterator[None]:
    options = connections.settings["default"]["OPTIONS"]
    options["pool"] = {"min_size": 2, "max_size": max_size, "timeout": 60}
    try:
        yield
    finally:
        del options["pool"]


async def unit_of_work(i: int) -> tuple[int, str]:
    async with async_atomic():
        author = await Author.objects.acreate(name=f"author {i}")
        book = await Book.objects.acreate(title=f"book {i}", author=author, pages=i)
        await Chapter.objects.abulk_create(
            [Chapter(book=book, title=f"{i}.{n}") for n in range(3)]
        )
        try:
            async with async_atomic():
                await Book.objects.acreate(title=f"rolled back {i}", author=author)
                raise Rollback
        except Rollback:
            pass
    fetched = await Book.objects.select_related("author").aget(pk=book.pk)
    prefetched = await Author.objects.prefetch_related("books__chapters").aget(
        pk=author.pk
    )
    chapters = [c.title for b in prefetched.books.all() for c in b.chapters.all()]
    assert chapters == [f"{i}.0", f"{i}.1", f"{i}.2"]
    assert fetched.author.name == f"author {i}"
    pid = await backend_pid()
    if i % 2:
        await author.adelete()  # cascades to the book and its chapters
    return pid, fetched.title


async def backend_pid() -> int:
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute("SELECT pg_backend_pid()")
        return (await cursor.fetchone())[0]


async def test_hundred_tasks_of_mixed_orm_work():
    with pooled(max_size=40):
        results = await asyncio.gather(*(unit_of_work(i) for i in range(TASKS)))
        await async_connections.close_pools()
    assert [title for _, title in results] == [f"book {i}" for i in range(TASKS)]
    assert len({pid for pid, _ in results}) > 1  # really on several connections
    assert await Author.objects.acount() == TASKS // 2
    assert await Book.objects.acount() == TASKS // 2
    assert await Chapter.objects.acount() == 3 * TASKS // 2
    assert not await Book.objects.filter(title__startswith="rolled back").aexists()
