"""async_connections: one connection per task and alias, released at task end."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.utils import ConnectionDoesNotExist
from django.test.utils import override_settings

from django_async_backend.db import async_connections
from django_async_backend.db.backends.base import idle
from django_async_backend.db.backends.base.wrapper import AsyncDatabaseWrapper

from ..conftest import requires_postgresql


async def backend_pid(alias: str = "default") -> int:
    async with async_connections[alias].cursor() as cursor:
        await cursor.execute("SELECT pg_backend_pid()")
        return (await cursor.fetchone())[0]


@pytest.mark.async_django_db(transaction=True)
async def test_same_connection_within_a_task_new_one_per_task():
    connection = async_connections["default"]
    assert isinstance(connection, AsyncDatabaseWrapper)
    assert async_connections["default"] is connection
    assert async_connections["other"] is not connection

    async def in_child():
        return async_connections["default"]

    child = await asyncio.create_task(in_child())
    assert child is not connection
    assert child.alias == "default"


@requires_postgresql
@pytest.mark.async_django_db(transaction=True)
async def test_gather_outside_a_transaction_runs_in_parallel(observer):
    seen_running = set()

    async def sleeper():
        async with async_connections["default"].cursor() as cursor:
            await cursor.execute("SELECT pg_backend_pid(), pg_sleep(0.5)")
            return (await cursor.fetchone())[0]

    async def watch():
        # The server itself shows the queries running at the same time.
        for _ in range(40):
            running = {
                pid
                for pid, state, query in observer.backends()
                if state == "active" and "pg_sleep" in query
            }
            seen_running.add(len(running))
            await asyncio.sleep(0.02)

    pids, _ = await asyncio.gather(
        asyncio.gather(*(sleeper() for _ in range(6))), watch()
    )
    assert len(set(pids)) == 6  # six connections
    assert max(seen_running) == 6  # all six queries were running at once


@requires_postgresql
@pytest.mark.async_django_db(transaction=True)
async def test_task_end_releases_its_connection(observer):
    async def work():
        return await backend_pid()

    pid = await asyncio.create_task(work())
    assert await observer.settle(lambda o: pid not in {b[0] for b in o.backends()})


@requires_postgresql
@pytest.mark.async_django_db(transaction=True)
async def test_close_then_reconnect_on_next_use(observer):
    connection = async_connections["default"]
    first = await backend_pid()
    await connection.close()
    assert connection.connection is None
    assert await observer.settle(lambda o: first not in {b[0] for b in o.backends()})
    assert await backend_pid() != first  # the wrapper stays usable


@pytest.mark.async_django_db(transaction=True)
async def test_close_all_closes_the_tasks_connections():
    await async_connections["default"].ensure_connection()
    await async_connections["other"].ensure_connection()
    await async_connections.close_all()
    assert async_connections["default"].connection is None
    assert async_connections["other"].connection is None


@pytest.mark.async_django_db(transaction=True)
async def test_all_lists_connections():
    assert async_connections.all(initialized_only=True) == []
    default = async_connections["default"]
    assert async_connections.all(initialized_only=True) == [default]
    assert {c.alias for c in async_connections.all()} == {"default", "other"}


@pytest.fixture
def stock_alias():
    """A database alias on Django's own (sync-only) sqlite3 ENGINE."""
    stock = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    configured = connections.configure_settings({"default": {}, "stock": stock})
    connections.settings["stock"] = configured["stock"]
    yield "stock"
    del connections.settings["stock"]


def test_errors_for_unknown_alias_and_non_async_engine(stock_alias):
    async def main():
        with pytest.raises(ConnectionDoesNotExist):
            async_connections["nope"]
        with pytest.raises(
            ImproperlyConfigured,
            match=r"DATABASES\['stock'\]\['ENGINE'\] is 'django.db.backends.sqlite3'",
        ):
            async_connections["stock"]

    asyncio.run(main())


def test_outside_an_event_loop_is_a_clear_error():
    with pytest.raises(RuntimeError, match="asyncio task"):
        async_connections["default"]


@pytest.mark.async_django_db(transaction=True)
async def test_connection_attributes_mirror_djangos_wrapper():
    connection = async_connections["default"]
    assert connection.vendor in ("postgresql", "sqlite")
    name = connection.settings_dict["NAME"]
    # libSQL: a namespace of the server (tests/settings.py).
    assert os.path.basename(name).startswith("test_") or "namespace=test_" in name
    assert connection.features is connection.sync_wrapper.features
    assert not connection.in_atomic_block
    await connection.ensure_connection()
    assert await connection.get_autocommit() is True
    assert await connection.is_usable()
    assert len(await connection.get_database_version()) >= 2
    assert "alias='default'" in repr(connection)


@contextmanager
def configured(**settings: Any) -> Iterator[dict[str, Any]]:
    """The default alias with some settings changed for a block."""
    settings_dict = connections.settings["default"]
    saved = {key: settings_dict[key] for key in settings}
    saved_options = dict(settings_dict["OPTIONS"])
    settings_dict.update(settings)
    try:
        yield settings_dict
    finally:
        settings_dict.update(saved)
        settings_dict["OPTIONS"] = saved_options


@pytest.mark.async_django_db(transaction=True)
@pytest.mark.parametrize(
    "pooled",
    [pytest.param(True, marks=requires_postgresql), False],
    ids=["pooled", "persistent"],
)
async def test_close_pools_leaves_nothing_connected(pooled):
    # Ten concurrent tasks, their connections kept for the next task (for
    # up to a minute): close_pools() closes those too, before it returns.
    if pooled:
        settings: dict[str, Any] = {
            "OPTIONS": {
                **connections.settings["default"]["OPTIONS"],
                "pool": {"min_size": 1, "max_size": 10},
            }
        }
    else:
        settings = {"CONN_MAX_AGE": 60}
    with (
        configured(**settings),
        override_settings(ASYNC_BACKEND_KEEP_CONNECTION_SECONDS=60),
    ):
        everyone_connected = asyncio.Barrier(10)
        raws = []

        async def request() -> None:
            connection = async_connections["default"]
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT 1")
            raws.append(connection.connection)
            await everyone_connected.wait()  # ten connections, not one reused

        await asyncio.gather(*(asyncio.create_task(request()) for _ in range(10)))
        assert len({id(raw) for raw in raws}) == 10

        def all_kept() -> bool:
            return len(idle._kept("default").entries) == 10

        for _ in range(100):
            if all_kept():
                break
            await asyncio.sleep(0.01)
        assert all_kept() and not any(raw.closed for raw in raws)

        await async_connections.close_pools()
        assert [raw for raw in raws if not raw.closed] == []
