"""CONN_MAX_AGE / CONN_HEALTH_CHECKS for async connections: a finished
task's healthy connection is kept for the next task, until it is too old."""

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


@pytest.mark.parametrize("health_checks", [False, True])
async def test_connection_terminated_while_parked(observer, health_checks):
    with persistent(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=health_checks):
        first = await request()
        observer.conn.execute("SELECT pg_terminate_backend(%s)", [first])
        await observer.settle(lambda o: first not in {b[0] for b in o.backends()})
        # The next task gets a working connection, not an error.
        assert await request() != first


async def test_parked_connections_closed_with_their_loop(observer):
    with persistent(CONN_MAX_AGE=60):

        async def in_other_loop():
            return await request()

        pid = await asyncio.to_thread(asyncio.run, in_other_loop())
        assert await observer.settle(lambda o: pid not in {b[0] for b in o.backends()})
