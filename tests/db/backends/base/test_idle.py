"""Connections kept for the next task (idle.py): persistent connections
(CONN_MAX_AGE, CONN_HEALTH_CHECKS) and pooled connections handed over between
tasks before they go back to the pool."""

from __future__ import annotations

import asyncio
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import OperationalError, connections
from django.test.utils import override_settings

from django_async_backend.db import async_connections
from django_async_backend.db.backends.base import idle
from django_async_backend.db.backends.postgresql.base import DatabaseWrapper

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]


@contextmanager
def persistent(**settings: Any) -> Iterator[None]:
    settings_dict = connections.settings["default"]
    saved = {key: settings_dict[key] for key in settings}
    settings_dict.update(settings)
    try:
        yield
    finally:
        settings_dict.update(saved)


async def request(sql: str = "SELECT pg_backend_pid()") -> Any:
    async def handle():
        async with async_connections["default"].cursor() as cursor:
            await cursor.execute(sql)
            return (await cursor.fetchone())[0]

    return await asyncio.create_task(handle())


async def test_connection_reused_by_the_next_task():
    with persistent(CONN_MAX_AGE=60):
        assert await request() == await request()


async def test_no_reuse_with_conn_max_age_zero(observer):
    first = await request()
    assert await request() != first
    assert await observer.settle(lambda o: first not in {b[0] for b in o.backends()})


async def test_expired_connection_is_replaced_and_closed(observer):
    with persistent(CONN_MAX_AGE=0.2):
        first = await request()
        await asyncio.sleep(0.3)
        assert await request() != first
        assert await observer.settle(
            lambda o: first not in {b[0] for b in o.backends()}
        )


async def test_unlimited_age():
    with persistent(CONN_MAX_AGE=None):
        first = await request()
        await asyncio.sleep(0.1)
        assert await request() == first


async def test_connection_with_errors_is_not_kept():
    with persistent(CONN_MAX_AGE=60):
        first = await request()

        async def failing():
            async with async_connections["default"].cursor() as cursor:
                await cursor.execute("SET statement_timeout = 1")
                with pytest.raises(OperationalError):
                    await cursor.execute("SELECT pg_sleep(1)")

        await asyncio.create_task(failing())
        assert await request() != first


def kept_sockets() -> list[int]:
    """Sockets of the connections kept for the next task."""
    return [
        face.sync_wrapper.connection.raw.pgconn.socket
        for face, _ in idle._kept("default").entries
        if face.sync_wrapper.connection is not None
    ]


def goodbye_arrived() -> bool:
    """Whether every kept connection's socket has something to read."""
    poller = select.poll()
    sockets = kept_sockets()
    for sock in sockets:
        poller.register(sock, select.POLLIN)
    return len(poller.poll(0)) == len(sockets)


async def settle(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` while letting the event loop run."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.mark.parametrize("health_checks", [False, True])
async def test_connection_terminated_while_parked(observer, health_checks):
    with persistent(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=health_checks):
        first = await request()
        parked = await settle(lambda: len(kept_sockets()) == 1)
        assert parked, "the first task's connection was not kept"
        observer.conn.execute("SELECT pg_terminate_backend(%s)", [first])
        await observer.settle(lambda o: first not in {b[0] for b in o.backends()})
        if not health_checks:
            # Only the server's goodbye tells; on a loaded machine it may
            # reach the client's socket a moment after the backend is gone.
            # (With health checks, Django's query finds out either way.)
            assert await settle(goodbye_arrived)
        # The next task gets a working connection, not an error.
        assert await request() != first


async def test_parked_connections_closed_with_their_loop(observer):
    with persistent(CONN_MAX_AGE=60):

        async def in_other_loop():
            return await request()

        pid = await asyncio.to_thread(asyncio.run, in_other_loop())
        assert await observer.settle(lambda o: pid not in {b[0] for b in o.backends()})


@contextmanager
def pooled(**options: Any) -> Iterator[None]:
    settings_dict = connections.settings["default"]
    settings_dict["OPTIONS"]["pool"] = options or True
    try:
        yield
    finally:
        del settings_dict["OPTIONS"]["pool"]


def pool_stats() -> dict[str, int]:
    return async_connections.pool("default").get_stats()


def kept_count() -> int:
    """Kept connections (objects kept without a connection don't count)."""
    return sum(
        1 for face, _ in idle._kept("default").entries if face.sync_wrapper.connection
    )


async def test_pooled_connection_handed_to_the_next_task_then_returned(observer):
    with pooled(min_size=1, max_size=4):
        first = await request()
        assert await request() == first  # no pool round trip in between
        await asyncio.sleep(0)
        assert kept_count() == 1
        stats = pool_stats()
        assert stats["pool_available"] < stats["pool_size"]
        # Within ASYNC_BACKEND_KEEP_CONNECTION_SECONDS (2 s) it goes back to
        # psycopg's pool, even with no further traffic.

        def all_back(_):
            stats = pool_stats()
            return kept_count() == 0 and stats["pool_available"] == stats["pool_size"]

        assert await observer.settle(all_back, timeout=5)
        await async_connections.close_pools()


async def test_keep_zero_returns_to_the_pool_at_task_end(observer):
    with (
        override_settings(ASYNC_BACKEND_KEEP_CONNECTION_SECONDS=0),
        pooled(min_size=1, max_size=2),
    ):
        await request()

        def all_back(_):
            stats = pool_stats()
            return stats["pool_available"] == stats["pool_size"]

        assert await observer.settle(all_back, timeout=1)
        assert kept_count() == 0
        await async_connections.close_pools()


async def test_kept_connection_is_health_checked_with_conn_health_checks(monkeypatch):
    checks = []
    original = DatabaseWrapper.is_usable

    def counting_is_usable(self):
        checks.append(self.alias)
        return original(self)

    monkeypatch.setattr(DatabaseWrapper, "is_usable", counting_is_usable)
    with pooled(min_size=1, max_size=2), persistent(CONN_HEALTH_CHECKS=True):
        first = await request()
        assert checks == []  # a fresh checkout is checked by the pool itself
        assert await request() == first
        assert checks == ["default"]  # the kept one is checked by Django's check
        await async_connections.close_pools()


async def test_dirty_connections_are_not_kept():
    with pooled(min_size=1, max_size=4):

        async def leaves_autocommit_off():
            await async_connections["default"].set_autocommit(False)
            async with async_connections["default"].cursor() as cursor:
                await cursor.execute("SELECT 1")  # opens a transaction

        await asyncio.create_task(leaves_autocommit_off())
        await asyncio.sleep(0)
        assert kept_count() == 0
        assert await request()  # the next task works on a clean connection
        await async_connections.close_pools()


async def test_tasks_queued_at_the_pool_are_served_before_newer_ones():
    # One pooled connection: ``first`` holds it and ``queued`` waits at the
    # pool. When ``first`` ends, its connection must go to ``queued`` (the
    # pool's first come, first served), not be kept for ``newer``, a task
    # started after ``queued`` (which would let new requests overtake
    # queued ones for as long as they keep coming).
    with pooled(min_size=1, max_size=1, timeout=10):
        finished: list[str] = []
        first_connected = asyncio.Event()
        release_first = asyncio.Event()

        async def first():
            async with async_connections["default"].cursor() as cursor:
                await cursor.execute("SELECT 1")
            first_connected.set()
            await release_first.wait()
            finished.append("first")

        async def query(name: str):
            async with async_connections["default"].cursor() as cursor:
                await cursor.execute("SELECT 1")
            finished.append(name)

        holder = asyncio.create_task(first())
        await first_connected.wait()
        queued = asyncio.create_task(query("queued"))
        while pool_stats().get("requests_waiting", 0) == 0:
            await asyncio.sleep(0.01)
        release_first.set()
        await holder
        newer = asyncio.create_task(query("newer"))
        await asyncio.gather(queued, newer)
        assert finished == ["first", "queued", "newer"]
        await async_connections.close_pools()
