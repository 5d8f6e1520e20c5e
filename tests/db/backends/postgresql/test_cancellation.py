"""Cancellation at any await leaves nothing behind: no connection checked
out, no transaction open, no query still running on the server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import connections

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic
from tests.app.models import Book
from tests.conftest import Observer

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]

TASKS = 120


@contextmanager
def pooled(alias: str, **options: Any) -> Iterator[None]:
    settings_dict = connections.settings[alias]
    settings_dict["OPTIONS"]["pool"] = options
    try:
        yield
    finally:
        del settings_dict["OPTIONS"]["pool"]


async def sleep_query(alias: str = "default", seconds: float = 30) -> None:
    async with async_connections[alias].cursor() as cursor:
        await cursor.execute("SELECT pg_sleep(%s)", [seconds])


async def wait_until(observer: Observer, predicate, timeout: float = 20) -> None:
    assert await observer.settle(predicate, timeout), observer.backends()


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results


def pool_settled(alias: str = "default"):
    pool = async_connections.pool(alias)

    def settled(_observer: Observer) -> bool:
        stats = pool.get_stats()
        return stats["pool_available"] == stats["pool_size"] and not stats.get(
            "requests_waiting"
        )

    return settled


def running_sleeps(observer: Observer) -> int:
    return sum(
        1 for b in observer.backends() if b[1] == "active" and "pg_sleep" in b[2]
    )


async def test_many_tasks_cancelled_mid_query_and_while_waiting_for_the_pool(observer):
    with pooled("default", min_size=4, max_size=20, timeout=60):
        tasks = [asyncio.create_task(sleep_query()) for _ in range(TASKS)]
        # 20 tasks are mid-query, the other 100 wait for the pool.
        await wait_until(observer, lambda o: running_sleeps(o) == 20)
        await cancel_all(tasks)
        await wait_until(observer, lambda o: not o.busy())
        await wait_until(observer, pool_settled())
        # Every connection is reusable.
        assert (
            await asyncio.gather(
                *(asyncio.create_task(Book.objects.acount()) for _ in range(40))
            )
            == [0] * 40
        )
        await async_connections.close_pools()


async def test_many_tasks_cancelled_mid_transaction(observer):
    async def in_transaction(i: int) -> None:
        async with async_atomic():
            await Book.objects.acreate(title=f"never committed {i}")
            if i % 2:
                await sleep_query()  # mid-query inside the transaction
            else:
                await asyncio.sleep(30)  # idle in transaction

    with pooled("default", min_size=4, max_size=20, timeout=60):
        tasks = [asyncio.create_task(in_transaction(i)) for i in range(TASKS)]
        await wait_until(
            observer,
            lambda o: sum(1 for b in o.backends() if b[1].startswith("idle in trans"))
            + running_sleeps(o)
            == 20,
        )
        await cancel_all(tasks)
        await wait_until(observer, lambda o: not o.busy())
        await wait_until(observer, pool_settled())
        assert await Book.objects.acount() == 0
        await async_connections.close_pools()


async def test_cancelled_twice_while_rolling_back(observer):
    release_rollback = asyncio.Event()

    async def stubborn():
        try:
            async with async_atomic():
                await Book.objects.acreate(title="x")
                await sleep_query()
        finally:
            release_rollback.set()

    with pooled("default", min_size=1, max_size=2, timeout=60):
        task = asyncio.create_task(stubborn())
        await wait_until(observer, lambda o: running_sleeps(o) == 1)
        task.cancel()
        await release_rollback.wait()
        task.cancel()  # again, while the block is being unwound
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_until(observer, lambda o: not o.busy())
        await wait_until(observer, pool_settled())
        assert await Book.objects.acount() == 0
        await async_connections.close_pools()


async def test_timeout_cancels_the_query_and_the_task_carries_on(observer):
    connection = async_connections["default"]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await sleep_query()
    await wait_until(observer, lambda o: running_sleeps(o) == 0)
    # Same task, same connection: usable, not in a transaction.
    assert await Book.objects.acount() == 0
    assert not connection.in_atomic_block

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            async with async_atomic():
                await Book.objects.acreate(title="rolled back")
                await sleep_query()
    assert await Book.objects.acount() == 0
    assert not observer.busy()


async def test_many_unpooled_tasks_cancelled_mid_query(private_alias):
    alias = private_alias()
    observer = Observer(alias)
    try:
        tasks = [asyncio.create_task(sleep_query(alias)) for _ in range(TASKS)]
        await wait_until(observer, lambda o: running_sleeps(o) == TASKS)
        await cancel_all(tasks)
        # Unpooled connections are closed when their task ends.
        await wait_until(observer, lambda o: not o.backends())
    finally:
        observer.close()


async def test_cancelled_while_connecting_leaves_nothing(private_alias):
    alias = private_alias()
    observer = Observer(alias)
    try:
        for _ in range(20):
            task = asyncio.create_task(sleep_query(alias))
            await asyncio.sleep(0.001)  # somewhere in connect or in the query
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await wait_until(observer, lambda o: not o.backends())
    finally:
        observer.close()


async def test_a_cancellation_in_the_commit_may_leave_it_committed(
    private_cluster, private_alias
):
    # The README's "in doubt" case, made deterministic: the private cluster
    # waits for a synchronous standby that never comes, so COMMIT hangs after
    # the commit is durable locally; a cancellation then interrupts the wait
    # (PostgreSQL warns "the transaction has already committed locally") and
    # the block's exit raises CancelledError for a transaction that committed.
    alias = private_alias()
    admin = psycopg.connect(**private_cluster.connect_kwargs())
    try:
        admin.execute("CREATE TABLE IF NOT EXISTS in_doubt (key text PRIMARY KEY)")
        admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
        admin.execute("SELECT pg_reload_conf()")

        async def transfer() -> None:
            async with async_atomic(alias):
                async with async_connections[alias].cursor() as cursor:
                    await cursor.execute("INSERT INTO in_doubt VALUES ('t1')")

        task = asyncio.create_task(transfer())

        def committing() -> bool:
            return bool(
                admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                ).fetchone()
            )

        for _ in range(500):
            if committing():
                break
            await asyncio.sleep(0.02)
        assert committing()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        rows = admin.execute("SELECT key FROM in_doubt").fetchall()
        assert rows == [("t1",)]  # committed, although the block raised
    finally:
        admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
        admin.execute("SELECT pg_reload_conf()")
        admin.execute("DROP TABLE IF EXISTS in_doubt")
        admin.close()
