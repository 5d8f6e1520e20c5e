"""OPTIONS["pool"]: psycopg_pool's AsyncConnectionPool, one per alias per loop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connections

from django_async_backend.db import async_connections
from django_async_backend.db.transaction import async_atomic

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]


@contextmanager
def pooled(pool: Any = True, **settings: Any) -> Iterator[None]:
    """Temporarily give the default alias a pool (and other settings)."""
    settings_dict = connections.settings["default"]
    saved_options = dict(settings_dict["OPTIONS"])
    saved = {key: settings_dict[key] for key in settings}
    settings_dict["OPTIONS"]["pool"] = pool
    settings_dict.update(settings)
    try:
        yield
    finally:
        settings_dict["OPTIONS"].clear()
        settings_dict["OPTIONS"].update(saved_options)
        settings_dict.update(saved)


async def query(sql: str = "SELECT pg_backend_pid()") -> Any:
    async with async_connections["default"].cursor() as cursor:
        await cursor.execute(sql)
        return (await cursor.fetchone())[0]


def current_pool() -> Any:
    return async_connections.pool("default")


async def test_connections_come_from_the_pool_and_go_back(observer):
    with pooled({"min_size": 1, "max_size": 2}):
        pids = set()
        for _ in range(6):
            pids.add(await asyncio.create_task(query()))
        assert len(pids) <= 2  # reused, not reopened
        pool = current_pool()

        def all_back(_):
            stats = pool.get_stats()
            return stats["pool_available"] == stats["pool_size"]

        assert await observer.settle(all_back)
        await async_connections.close_pools()


async def test_more_tasks_than_connections_all_complete(observer):
    with pooled({"min_size": 1, "max_size": 3}):
        before = {b[0] for b in observer.backends()}  # e.g. the test's own
        peak = 0

        async def watch():
            nonlocal peak
            for _ in range(30):
                peak = max(peak, len({b[0] for b in observer.backends()} - before))
                await asyncio.sleep(0.02)

        results, _ = await asyncio.gather(
            asyncio.gather(*(query("SELECT 1 FROM pg_sleep(0.05)") for _ in range(20))),
            watch(),
        )
        assert results == [1] * 20
        assert 1 <= peak <= 3
        await async_connections.close_pools()


async def test_exhaustion_raises_operational_error_after_the_timeout():
    with pooled({"min_size": 1, "max_size": 1, "timeout": 0.3}):
        holding, done = asyncio.Event(), asyncio.Event()

        async def hold():
            async with async_atomic():
                await query()
                holding.set()
                await done.wait()

        holder = asyncio.create_task(hold())
        await holding.wait()

        async def starved():
            return await query()

        with pytest.raises(OperationalError):
            await asyncio.create_task(starved())
        done.set()
        await holder
        assert await asyncio.create_task(starved())  # works again
        await async_connections.close_pools()


async def test_one_pool_per_event_loop():
    with pooled({"min_size": 1, "max_size": 1}):
        await query()
        here = current_pool()

        async def in_other_loop():
            await query()
            return current_pool()

        there = await asyncio.to_thread(asyncio.run, in_other_loop())
        assert there is not here
        assert there.closed  # closed with its loop (shutdown_asyncgens)
        assert not here.closed
        await async_connections.close_pools()
        assert here.closed


async def test_pools_are_closed_when_their_loop_shuts_down(observer):
    with pooled({"min_size": 2, "max_size": 2}):
        before = {b[0] for b in observer.backends()}

        async def in_other_loop():
            await query()
            await asyncio.sleep(0.2)  # let the pool open its min_size
            return {b[0] for b in observer.backends()} - before

        opened = await asyncio.to_thread(asyncio.run, in_other_loop())
        assert len(opened) == 2
        assert await observer.settle(
            lambda o: not opened & {b[0] for b in o.backends()}
        )


async def test_settings_change_gets_a_new_pool():
    with pooled({"min_size": 1, "max_size": 1}):
        await asyncio.create_task(query())
        first = current_pool()
    with pooled({"min_size": 1, "max_size": 2}):
        # A new task (a new request) uses the new settings' pool; the kept
        # connection from the old pool is let go.
        await asyncio.create_task(query())
        assert current_pool() is not first
        assert current_pool().max_size == 2
        await async_connections.close_pools()
    assert first.closed


@pytest.mark.parametrize(
    ("pool", "settings", "message"),
    [
        ({"max_sizee": 3}, {}, r"unknown key 'max_sizee'.*Valid keys:.*max_size"),
        ({"kwargs": {}}, {}, r"sets 'kwargs', which the backend sets itself"),
        ("yes", {}, r"must be True or a dict of psycopg_pool arguments"),
        (True, {"CONN_MAX_AGE": 60}, r"CONN_MAX_AGE=60.*Set CONN_MAX_AGE to 0"),
    ],
)
async def test_bad_pool_settings(pool, settings, message):
    with pooled(pool, **settings):
        with pytest.raises(ImproperlyConfigured, match=message):
            await query()


async def test_missing_psycopg_pool(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)  # as if not installed
    with pooled(True):
        with pytest.raises(
            ImproperlyConfigured, match=r"pip install 'psycopg\[pool\]'"
        ):
            await query()


async def test_sync_code_keeps_djangos_own_pool():
    from psycopg_pool import ConnectionPool

    def sync_side():
        connection = connections["default"]
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return type(connection.pool)
        finally:
            connection.close()
            connection.close_pool()

    with pooled({"min_size": 1, "max_size": 1}):
        assert await asyncio.to_thread(sync_side) is ConnectionPool
