"""One prepared queryset shared by many tasks and threads at once, each on
its own connection, from its very first use (when the operations compile)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.db import connections

from django_async_backend.db import async_connections
from django_async_backend.db.bridge import greenlet_spawn
from django_async_backend.models import Param, prepare
from tests.app.models import Book

from .prepared_cases import make_library

TASKS = 16
THREADS = 4
CALLS = 10


def connection_id(connection: Any) -> Any:
    """Which database connection this is (the server's backend pid on
    PostgreSQL, the driver connection object elsewhere: the object itself,
    held in the test's sets, since the id of a closed and freed one can be
    reused by the next thread's)."""
    raw = connection.connection
    info = getattr(raw, "info", None)
    return info.backend_pid if info is not None else raw


@pytest.mark.allows_thread_hops  # the sync half runs in threads of its own
@pytest.mark.async_django_db(transaction=True)
async def test_tasks_and_threads_share_one_prepared_queryset() -> None:
    library = await greenlet_spawn(make_library)
    books = library["books"]
    expected = {
        author.pk: [b.title for b in books if b.author_id == author.pk]
        for author in library["authors"]
    }
    by_pk = prepare(Book.objects.select_related("author").filter(pk=Param("pk")))
    by_author = prepare(
        Book.objects.filter(author=Param("a")).values_list("title", flat=True)
    )
    start = threading.Barrier(THREADS + 1)
    failures: list[BaseException] = []
    used: set[Any] = set()
    lock = threading.Lock()

    def check(book: Book, got: Book, titles: list[str]) -> None:
        assert (got.pk, got.title, got.author.name) == (
            book.pk,
            book.title,
            book.author.name,
        )
        assert titles == expected[book.author_id]

    def sync_worker(n: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(CALLS):
                book = books[(n + i) % len(books)]
                got = by_pk.get(pk=book.pk)
                check(book, got, list(by_author.iterate(a=book.author_id)))
                assert by_author.count(a=book.author_id) == len(
                    expected[book.author_id]
                )
            with lock:
                used.add(connection_id(connections["default"]))
        except BaseException as exc:  # reported by the test below
            failures.append(exc)
        finally:
            connections.close_all()

    async def task_worker(n: int) -> Any:
        for i in range(CALLS):
            book = books[(n + i) % len(books)]
            got = await by_pk.aget(pk=book.pk)
            check(book, got, [t async for t in by_author.aiterate(a=book.author_id)])
            assert await by_author.acount(a=book.author_id) == len(
                expected[book.author_id]
            )
        return connection_id(async_connections["default"].sync_wrapper)

    threads = [threading.Thread(target=sync_worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait(timeout=30)  # the threads' first calls race the tasks'
    task_connections = await asyncio.gather(*(task_worker(n) for n in range(TASKS)))
    for thread in threads:
        await asyncio.to_thread(thread.join, 60)
    assert not failures, failures
    assert len(set(task_connections)) == TASKS  # a connection per task
    assert len(used) == THREADS  # and per thread
    assert not used & set(task_connections)
