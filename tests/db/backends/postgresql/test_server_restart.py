"""Server gone: Django's OperationalError; the next request after the server
is back works. Runs on a private cluster, never on the shared server."""

from __future__ import annotations

import asyncio

import pytest
from django.db import OperationalError

from django_async_backend.db import async_connections

pytestmark = [
    pytest.mark.requires_postgresql,
    pytest.mark.async_django_db(transaction=True),
]


async def request(alias: str) -> int:
    """One 'request': its own task, one query."""

    async def handle() -> int:
        async with async_connections[alias].cursor() as cursor:
            await cursor.execute("SELECT 41 + 1")
            return (await cursor.fetchone())[0]

    return await asyncio.create_task(handle())


@pytest.mark.parametrize(
    "options",
    [{}, {"pool": {"min_size": 2, "max_size": 4, "timeout": 2}}],
    ids=["unpooled", "pooled"],
)
async def test_server_restart(private_cluster, private_alias, options):
    alias = private_alias(OPTIONS=options)
    assert await request(alias) == 42

    private_cluster.stop()
    with pytest.raises(OperationalError):
        await request(alias)

    private_cluster.start()
    assert await request(alias) == 42
    assert await request(alias) == 42
    await async_connections.close_pools()


async def test_connection_dropped_under_a_live_task(private_cluster, private_alias):
    alias = private_alias()
    connection = async_connections[alias]
    async with connection.cursor() as cursor:
        await cursor.execute("SELECT 1")
    private_cluster.stop()
    private_cluster.start()
    with pytest.raises(OperationalError):
        async with connection.cursor() as cursor:
            await cursor.execute("SELECT 1")
    assert connection.errors_occurred
    # As in Django: once the broken connection is closed, it reconnects.
    await connection.close_if_unusable_or_obsolete()
    async with connection.cursor() as cursor:
        await cursor.execute("SELECT 2")
        assert await cursor.fetchone() == (2,)
