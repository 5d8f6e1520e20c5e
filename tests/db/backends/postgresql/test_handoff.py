"""Tasks queued at an exhausted pool (handoff.py): first come, first served,
handed released connections directly, with timeouts and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import OperationalError, connections

from django_async_backend.db import async_connections

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]


@contextmanager
def pooled(**pool: Any) -> Iterator[None]:
    options = connections.settings["default"]["OPTIONS"]
    saved = dict(options)
    options["pool"] = {"min_size": 1, **pool}
    try:
        yield
    finally:
        options.clear()
        options.update(saved)


async def backend_pid() -> int:
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute("SELECT pg_backend_pid()")
        return (await cursor.fetchone())[0]


def facade() -> Any:
    """Our face of the running loop's pool (with its queue)."""
    from django_async_backend.db.backends.postgresql.pool import _pools

    return _pools[asyncio.get_running_loop()]["default"].facade


@pytest.fixture
def pool_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the connections that go through psycopg_pool's own putconn."""
    from psycopg_pool import AsyncConnectionPool

    calls: list[str] = []
    original = AsyncConnectionPool.putconn

    async def putconn(self: Any, conn: Any) -> None:
        calls.append("putconn")
        await original(self, conn)

    monkeypatch.setattr(AsyncConnectionPool, "putconn", putconn)
    return calls


class Holder:
    """A task holding the pool's connection until told to finish."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.finish = asyncio.Event()
        self.pid: int | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        self.pid = await backend_pid()
        self.connected.set()
        await self.finish.wait()


async def queued(count: int) -> None:
    while facade().queue.waiting < count:
        await asyncio.sleep(0.005)


async def test_a_released_connection_goes_straight_to_the_queued_task(
    pool_round_trips,
):
    with pooled(max_size=1, timeout=10):
        holder = Holder()
        await holder.connected.wait()
        waiter = asyncio.create_task(backend_pid())
        await queued(1)
        holder.finish.set()
        assert await waiter == holder.pid  # the same server connection...
        assert pool_round_trips == []  # ...without going through the pool
        await async_connections.close_pools()


async def test_queued_tasks_are_served_in_order_and_all_complete():
    # One connection, so the order queries finish in is the order the
    # connection was handed over in.
    with pooled(max_size=1, timeout=20):
        order: list[int] = []

        async def request(n: int) -> None:
            await backend_pid()
            order.append(n)
            await asyncio.sleep(0.01)  # hold it a little, as a view would

        holders = [Holder()]
        for holder in holders:
            await holder.connected.wait()
        tasks = []
        for n in range(20):
            tasks.append(asyncio.create_task(request(n)))
            await queued(n + 1)
        for holder in holders:
            holder.finish.set()
        await asyncio.gather(*tasks)
        assert order == list(range(20))
        assert facade().queue.waiting == 0
        await async_connections.close_pools()


async def test_a_queued_task_times_out_with_operational_error():
    with pooled(max_size=1, timeout=0.3):
        holder = Holder()
        await holder.connected.wait()
        with pytest.raises(OperationalError, match=r"after 0\.30 sec"):
            await asyncio.create_task(backend_pid())
        assert facade().queue.waiting == 0
        holder.finish.set()
        await holder.task
        await asyncio.sleep(0.05)
        assert await asyncio.create_task(backend_pid()) == holder.pid
        await async_connections.close_pools()


async def test_a_cancelled_queued_task_leaves_the_queue():
    with pooled(max_size=1, timeout=10):
        holder = Holder()
        await holder.connected.wait()
        waiter = asyncio.create_task(backend_pid())
        await queued(1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert facade().queue.waiting == 0
        holder.finish.set()
        await holder.task
        assert await asyncio.create_task(backend_pid()) == holder.pid
        await async_connections.close_pools()


async def test_a_connection_handed_to_a_task_cancelled_meanwhile_goes_on():
    with pooled(max_size=1, timeout=10):
        await asyncio.create_task(backend_pid())  # open the pool
        queue = facade().queue
        raw = await facade().raw.getconn()
        first = asyncio.create_task(queue.checkout(5))
        second = asyncio.create_task(queue.checkout(5))
        await asyncio.sleep(0.01)
        assert queue.offer(raw)  # handed to ``first``...
        first.cancel()  # ...which gives up before it resumes
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second is raw
        await facade().raw.putconn(raw)
        await async_connections.close_pools()


async def test_connections_the_pool_frees_by_itself_reach_the_queue(observer):
    # The holder's connection is terminated: it cannot be handed over, the
    # pool replaces it, and the queue's scout passes the new one on.
    with pooled(max_size=1, timeout=10):
        holder = Holder()
        await holder.connected.wait()
        waiter = asyncio.create_task(backend_pid())
        await queued(1)
        observer.conn.execute("SELECT pg_terminate_backend(%s)", [holder.pid])
        # Only once the server has closed it: a connection that dies just
        # after being handed over fails its next query, as anywhere.
        assert await observer.settle(
            lambda o: holder.pid not in {b[0] for b in o.backends()}
        )
        holder.finish.set()
        replacement = await waiter
        assert replacement != holder.pid
        await async_connections.close_pools()


async def test_queued_tasks_fail_when_the_pool_closes():
    with pooled(max_size=1, timeout=10):
        holder = Holder()
        await holder.connected.wait()
        waiter = asyncio.create_task(backend_pid())
        await queued(1)
        await async_connections.close_pools()
        with pytest.raises(OperationalError, match="closed"):
            await waiter
        holder.finish.set()
        await holder.task
