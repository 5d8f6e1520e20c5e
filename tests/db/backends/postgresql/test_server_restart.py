"""Server gone: Django's OperationalError; the next request after the server
is back works. Runs on a private cluster, never on the shared server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
from django.db import OperationalError
from django.test.utils import override_settings

from django_async_backend.db import async_connections

from .cluster import PrivateCluster

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


def client_backends(cluster: PrivateCluster) -> int:
    """Client connections the cluster has, seen from a connection of its own."""
    with psycopg.connect(**cluster.connect_kwargs()) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
            "'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0])


async def settled(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll ``predicate()``, letting the loop run (releases are callbacks)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


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


@pytest.mark.parametrize("health_checks", [False, True], ids=["poll", "health-checks"])
@pytest.mark.parametrize("keep", [0, 2.0], ids=["returned", "kept"])
async def test_an_idle_pool_after_a_restart_serves_the_first_request(
    private_cluster, private_alias, health_checks, keep
):
    # Ten connections idle in the pool when the server restarts: all stale.
    # psycopg_pool discards about three per checkout within its timeout
    # (checking again after 0, 1, 2 s); the first request must not pay that.
    size = 10
    alias = private_alias(
        OPTIONS={"pool": {"min_size": size, "max_size": size, "timeout": 3}},
        CONN_HEALTH_CHECKS=health_checks,
    )
    with override_settings(ASYNC_BACKEND_KEEP_CONNECTION_SECONDS=keep):
        try:
            await asyncio.gather(*(request(alias) for _ in range(size)))
            assert await settled(lambda: client_backends(private_cluster) == size)
            if not keep:  # all back in the pool, not kept for the next task
                pool = async_connections.pool(alias)
                assert await settled(lambda: pool.get_stats()["pool_available"] == size)

            private_cluster.stop("fast")
            private_cluster.start()

            assert await request(alias) == 42  # the first request after it
            answers = await asyncio.gather(*(request(alias) for _ in range(size)))
            assert answers == [42] * size
        finally:
            await async_connections.close_pools()
